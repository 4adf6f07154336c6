#include "clusters/etcd/etcd_db.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "clusters/common/checks.h"
#include "clusters/common/daemon.h"
#include "clusters/common/launch.h"
#include "clusters/common/lossyfs.h"
#include "clusters/common/nodes.h"
#include "clusters/common/wait.h"
#include "clusters/etcd/etcd_clients.h"
#include "clusters/etcd/etcd_http.h"
#include "clusters/etcd/etcd_proto.h"
#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/remote.h"
#include "harness/secure_dir.h"

namespace faultline {
namespace {

using Clock = std::chrono::steady_clock;
using clusters::log;

constexpr const char* kWhere = "db 'etcd'";
constexpr const char* kEtcdBinary = "/usr/bin/etcd";
constexpr int kPeerPort = 2380;
constexpr auto kSetupTimeout = std::chrono::seconds(60);
constexpr auto kCommandTimeout = std::chrono::seconds(60);

// Starts etcd in the background unless our etcd already runs; waits until the new process is
// etcd with our data dir (its pid goes to etcd.pid). After Daemon::script's $1-$3: $4 base dir
// (the `dir` option), $5 node dir, then the launch env words and etcd's argv. etcd runs as
// root: the base dir is made and checked with fl_private_dir (harness/secure_dir.h).
constexpr const char* kStartScript = R"sh(
pf=$1; bin=$2; mark=$3; base=$4; dir=$5; shift 5
[ -x "$bin" ] || { echo "no $bin on this node: install it (apt-get install etcd-server)" >&2; exit 127; }
fl_private_dir "$base" 755 || exit 3
mkdir -p "$dir/data" || exit 1
if old=$(fl_daemon_pid "$pf" "$bin" "$mark"); then echo "running $old"; exit 0; fi
pid=$(fl_daemon_launch "$dir/etcd.log" "" "$@")
echo "$pid" > "$pf"
i=0
while [ $i -lt 100 ]; do
  if fl_daemon_ours "$pid" "$bin" "$mark"; then echo "started $pid"; exit 0; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05; i=$((i+1))
done
echo "etcd (pid $pid) did not start; last lines of $dir/etcd.log:" >&2
tail -n 20 "$dir/etcd.log" >&2
exit 1
)sh";

// One member's status, or why there is none.
struct StatusProbe {
  bool ok = false;
  etcd::MemberStatus status;
  std::string error;
};

StatusProbe probe_status(const std::string& url, std::chrono::milliseconds timeout) {
  StatusProbe p;
  etcd::EtcdHttp http(url);
  etcd::HttpResult h = http.post("/v3/maintenance/status", "{}", timeout);
  if (h.kind != etcd::HttpResult::Kind::kAnswer) {
    p.error = url + ": " + h.error;
    return p;
  }
  if (auto e = etcd::parse_error(h.status, h.body)) {
    p.error = url + ": " + e->describe(h.status);
    return p;
  }
  try {
    p.status = etcd::parse_status(Json::parse(h.body));
    p.ok = true;
  } catch (const std::exception& e) {
    p.error = url + ": bad status answer: " + e.what();
  }
  return p;
}

}  // namespace

const OptionDecls kEtcdOptions = {
    {"serializable-reads", false, "reads may be served by any member (not linearizable)"},
    {"request-timeout-ms", 0, "client request timeout (0: the client default)"},
    {"dir", "/var/lib/faultline/etcd", "data and log directory on each node"},
    {"client-port", 2379, "client port (not 2380, the peer port)"},
    clusters::power_loss_fs_option(),
    clusters::install_option(),
};

EtcdOptions parse_etcd_options(const Json& options) {
  const Options opts(options, kEtcdOptions, kWhere);
  EtcdOptions o;
  o.serializable_reads = opts.flag("serializable-reads");
  o.request_timeout_ms = opts.integer("request-timeout-ms", 0);
  o.client_port = static_cast<int>(opts.integer("client-port", 1, 65535));
  if (o.client_port == kPeerPort)
    throw opts.error("client-port", "must not be 2380, the peer port");
  o.dir = opts.text("dir");
  check_dir_option(o.dir, std::string(kWhere) + ": option 'dir'");
  o.power_loss_fs = opts.flag("power-loss-fs");
  o.install =
      clusters::parse_install(opts.raw("install"), std::string(kWhere) + ": option 'install'");
  return o;
}

EtcdDb::EtcdDb(EtcdOptions options) : options_(std::move(options)), binary_(kEtcdBinary) {}

std::string EtcdDb::host_of(const DbContext& ctx, const std::string& node) {
  return clusters::host_of(ctx, node);
}

std::string EtcdDb::client_url(const DbContext& ctx, const std::string& node) const {
  return etcd_client_url(ctx, node, options_.client_port);
}

std::string EtcdDb::node_dir(const DbContext& ctx, const std::string& node) const {
  return clusters::node_dir(options_.dir, ctx, node);
}

std::string EtcdDb::data_dir(const DbContext& ctx, const std::string& node) const {
  const std::string dir = node_dir(ctx, node);
  return options_.power_loss_fs ? clusters::lossy_fs_under(dir).mount + "/data" : dir + "/data";
}

void EtcdDb::wipe_node(const DbContext& ctx, const std::string& node) const {
  auto s = ctx.remote->session(node);
  clusters::lossy_fs_under(node_dir(ctx, node)).unmount(*s, node);
  s->run_checked(Command{"rm", "-rf", "--", node_dir(ctx, node)}.with_timeout(kCommandTimeout));
}

void EtcdDb::empty_data_dir(const DbContext& ctx, const std::string& node) const {
  auto s = ctx.remote->session(node);
  s->run_checked(Command{"rm", "-rf", "--", data_dir(ctx, node)}.with_timeout(kCommandTimeout));
}

void EtcdDb::make_durable(const DbContext& ctx) {
  if (!options_.power_loss_fs) return;
  clusters::sync_lossy_fs(
      ctx, [&](const std::string& n) { return clusters::lossy_fs_under(node_dir(ctx, n)); });
}

Json EtcdDb::lose_unsynced(const DbContext& ctx, const std::string& node, const PowerLoss& how) {
  if (!options_.power_loss_fs) {
    throw ConfigError(std::string(kWhere) +
                      ": power loss needs db-options {\"power-loss-fs\": true}");
  }
  auto s = ctx.remote->session(node);
  return clusters::lossy_fs_under(node_dir(ctx, node)).drop(*s, node, how);
}

std::vector<std::string> EtcdDb::vocabularies() const { return etcd_vocabularies(); }

std::vector<NodeCheck> EtcdDb::node_checks() const {
  const clusters::Installer installer(options_.install);
  std::vector<NodeCheck> checks = installer.node_checks();
  // A tarball's etcd is there only after setup; apt installs a missing one.
  if (options_.install.method == "none") {
    checks.push_back(clusters::binary_check("etcd", kEtcdBinary, {"--version"},
                                            "install the etcd-server package, or give "
                                            "db-options install"));
  }
  checks.push_back(clusters::port_check(options_.client_port, "etcd", "etcd's client port"));
  checks.push_back(clusters::port_check(kPeerPort, "etcd", "etcd's peer port"));
  if (options_.power_loss_fs) {
    for (auto& c : clusters::lossyfs_node_checks()) checks.push_back(std::move(c));
  }
  return checks;
}

std::unique_ptr<Client> EtcdDb::new_client(const std::string& vocabulary) {
  EtcdClientOptions o;
  o.serializable_reads = options_.serializable_reads;
  o.request_timeout_ms = options_.request_timeout_ms;
  o.client_port = options_.client_port;
  return make_etcd_client(vocabulary, o);
}

Json EtcdDb::claims() const {
  Json c = {{"level",
             options_.serializable_reads ? "serializable reads" : "linearizable reads (default)"},
            {"model", "strict-serializable"},
            {"claim",
             "etcd's KV API is strictly serializable: a completed write is seen by every request "
             "that starts after it, and reads are linearizable unless a serializable read is "
             "asked for."},
            {"source", "https://etcd.io/docs/v3.4/learning/api_guarantees/"},
            {"by-design", Json::object()}};
  if (options_.serializable_reads) {
    c["by-design"]["linearizable/nonlinearizable"] =
        "serializable reads are served by the member asked, which may be behind the leader "
        "(documented)";
  }
  return c;
}

Json EtcdDb::node_settings(const DbContext& ctx, const std::string& node) {
  std::lock_guard<std::mutex> lock(mu_);
  auto j = joined_.find(node);
  const std::vector<std::string> argv =
      etcd_argv(ctx, node, token_, j == joined_.end() ? std::string() : j->second);
  Json out = Json::object();
  for (size_t i = 1; i + 1 < argv.size(); i += 2) {
    if (argv[i].rfind("--", 0) != 0) break;
    out[argv[i].substr(2)] = argv[i + 1];
  }
  if (!argv.empty() && argv.back().find('=') != std::string::npos) {
    const std::string& last = argv.back();  // "--pre-vote=true"
    auto eq = last.find('=');
    out[last.substr(2, eq - 2)] = last.substr(eq + 1);
  }
  return out;
}

std::string EtcdDb::peer_url(const DbContext& ctx, const std::string& node) const {
  return "http://" + host_of(ctx, node) + ":" + std::to_string(kPeerPort);
}

std::vector<std::string> EtcdDb::etcd_argv(const DbContext& ctx, const std::string& node,
                                           const std::string& token,
                                           const std::string& joined) const {
  std::string cluster = joined;
  if (joined.empty()) {
    for (const auto& n : ctx.nodes) {
      if (!cluster.empty()) cluster += ",";
      cluster += n + "=" + peer_url(ctx, n);
    }
  }
  std::string peer = peer_url(ctx, node);
  std::string client = client_url(ctx, node);
  return {binary_,
          "--name",
          node,
          "--data-dir",
          data_dir(ctx, node),
          "--listen-peer-urls",
          peer,
          "--initial-advertise-peer-urls",
          peer,
          "--listen-client-urls",
          client,
          "--advertise-client-urls",
          client,
          "--initial-cluster",
          cluster,
          "--initial-cluster-state",
          joined.empty() ? "new" : "existing",
          "--initial-cluster-token",
          token,
          "--pre-vote=true"};
}

// Our etcd on `node`: /usr/bin/etcd with this node's data dir; it writes no pid file of its
// own, so the start script does.
clusters::Daemon EtcdDb::daemon(const DbContext& ctx, const std::string& node) const {
  const std::string dir = node_dir(ctx, node);
  return {"etcd", binary_, data_dir(ctx, node), dir + "/etcd.pid", dir + "/etcd.log"};
}

void EtcdDb::start_node(const DbContext& ctx, const std::string& node, const std::string& token) {
  clusters::require_remote(ctx, kWhere);
  auto prepare = clusters::prepare_launch_command(ctx, node, kWhere);
  std::string joined;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto j = joined_.find(node); j != joined_.end()) joined = j->second;
  }
  std::vector<std::string> args = {options_.dir, node_dir(ctx, node)};
  for (auto& a : clusters::launch_env_argv(ctx, node)) args.push_back(std::move(a));
  for (auto& a : etcd_argv(ctx, node, token, joined)) args.push_back(std::move(a));
  auto session = ctx.remote->session(node);
  if (prepare) session->run_checked(prepare->with_timeout(kCommandTimeout));
  if (options_.power_loss_fs) {
    session->run_checked(Command::shell(
        std::string(kPrivateDirShell) + "fl_private_dir \"$1\" 755 || exit 3; mkdir -p \"$2\"",
        {options_.dir, node_dir(ctx, node)}));
    clusters::lossy_fs_under(node_dir(ctx, node)).mount_on(*session, node, "");
  }
  ExecResult r =
      session->exec(daemon(ctx, node).script(kStartScript, args).with_timeout(kCommandTimeout));
  if (!r.ok()) {
    throw std::runtime_error("node " + node + ": etcd did not start (exit " +
                             std::to_string(r.exit_status) + "): " + r.err + r.out + "; check " +
                             node_dir(ctx, node) + "/etcd.log on the node");
  }
}

bool EtcdDb::signal_node(const DbContext& ctx, const std::string& node, const std::string& signal,
                         bool wait) {
  clusters::require_remote(ctx, kWhere);
  auto session = ctx.remote->session(node);
  // SIGKILL after 10 s; "survived SIGKILL" (exit 4) after 20 s.
  const clusters::Daemon d = daemon(ctx, node);
  ExecResult r =
      session->exec(wait ? d.stop(signal, std::chrono::seconds(20), std::chrono::seconds(10))
                         : d.signal(signal).with_timeout(kCommandTimeout));
  if (!wait && r.exit_status == 3) return false;  // "none": no etcd of ours runs
  if (!r.ok()) {
    throw std::runtime_error("node " + node + ": SIG" + signal + " to etcd failed (exit " +
                             std::to_string(r.exit_status) + "): " + r.err + r.out +
                             "; look at the pid in " + node_dir(ctx, node) + "/etcd.pid");
  }
  return r.out.rfind("none", 0) != 0;
}

std::string EtcdDb::log_tail(const DbContext& ctx, const std::string& node) {
  try {
    auto session = ctx.remote->session(node);
    return clusters::log_tail(*session, daemon(ctx, node).log_file);
  } catch (const std::exception& e) {
    return std::string("(log unavailable: ") + e.what() + ")";
  }
}

void EtcdDb::setup(const DbContext& ctx) {
  clusters::require_remote(ctx, kWhere);
  auto t0 = Clock::now();
  std::string token;
  {
    std::random_device rd;
    std::ostringstream t;
    t << "fl-" << clusters::safe_name(ctx.test_name.empty() ? "etcd" : ctx.test_name) << "-"
      << std::hex << std::chrono::system_clock::now().time_since_epoch().count() << "-" << rd();
    token = t.str();
    std::lock_guard<std::mutex> lock(mu_);
    token_ = token;
    joined_.clear();
    removed_.clear();
  }
  binary_ = clusters::Installer(options_.install).install_all(ctx, "etcd", kEtcdBinary);
  // Leftovers of an earlier run (a crashed controller, --leave-db-running) go first: a data
  // dir of another cluster token would not join this cluster.
  for (const auto& node : ctx.nodes) {
    if (signal_node(ctx, node, "TERM", true))
      log(ctx, "etcd: " + node + ": stopped an etcd left running");
    wipe_node(ctx, node);
  }
  for (const auto& node : ctx.nodes) start_node(ctx, node, token);
  log(ctx, "etcd: started on " + std::to_string(ctx.nodes.size()) + " nodes (token " + token + ")");
  wait_healthy(ctx, kSetupTimeout);
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::ostringstream msg;
  msg << "etcd: healthy: " << ctx.nodes.size() << " members, one leader, after " << s << " s";
  log(ctx, msg.str());
}

void EtcdDb::wait_healthy(const DbContext& ctx, std::chrono::milliseconds timeout) {
  std::string why = "no answer yet";
  std::string bad_node = ctx.nodes.empty() ? "" : ctx.nodes.front();
  int rounds = 0;
  const bool healthy =
      clusters::poll_until(Clock::now() + timeout, std::chrono::milliseconds(100), [&] {
        bool ok = true;
        std::set<std::string> members, leaders;
        for (const auto& node : ctx.nodes) {
          StatusProbe p = probe_status(client_url(ctx, node), std::chrono::milliseconds(1000));
          if (!p.ok) {
            ok = false;
            why = p.error;
            bad_node = node;
            break;
          }
          members.insert(p.status.member_id);
          leaders.insert(p.status.leader);
          if (p.status.leader.empty()) {
            ok = false;
            why = "no leader";
            bad_node = node;
            break;
          }
        }
        if (ok && members.size() != ctx.nodes.size()) {
          ok = false;
          why = std::to_string(members.size()) + " distinct member ids for " +
                std::to_string(ctx.nodes.size()) + " nodes";
        } else if (ok && leaders.size() != 1) {
          ok = false;
          why = std::to_string(leaders.size()) + " different leaders named";
        } else if (ok && !members.count(*leaders.begin())) {
          ok = false;
          why = "the leader named (" + *leaders.begin() + ") is not one of the members";
        }
        if (!ok) ++rounds;
        return ok;
      });
  if (healthy) {
    if (rounds > 5) {
      log(ctx, "etcd: healthy after " + std::to_string(rounds) + " rounds of probes; the last " +
                   "unhealthy one said: node " + bad_node + ": " + why);
    }
    return;
  }
  throw std::runtime_error(
      "node " + bad_node + ": etcd not healthy after " +
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
      " s: " + why + "; last lines of " + node_dir(ctx, bad_node) + "/etcd.log:\n" +
      (ctx.remote ? log_tail(ctx, bad_node) : std::string()));
}

void EtcdDb::teardown(const DbContext& ctx) {
  if (!ctx.remote) return;
  // One node at a time, the leader first: a stopping etcd leader hands leadership over, which
  // takes ~0.1 s to a running follower but ~7 s when the followers are stopping at the same
  // time (measured). A zombie counts as stopped, so the whole teardown takes well under 1 s.
  std::vector<std::string> leaders;
  try {
    leaders = primaries(ctx);
  } catch (const std::exception&) {
  }
  auto is_leader = [&](size_t i) {
    return std::find(leaders.begin(), leaders.end(), ctx.nodes[i]) != leaders.end();
  };
  std::vector<size_t> order;
  for (size_t i = 0; i < ctx.nodes.size(); ++i) {
    if (is_leader(i))
      order.insert(order.begin(), i);
    else
      order.push_back(i);
  }
  std::vector<std::string> errors(ctx.nodes.size());
  std::vector<double> times(ctx.nodes.size());
  for (size_t i : order) {
    const std::string& node = ctx.nodes[i];
    try {
      auto t0 = Clock::now();
      signal_node(ctx, node, "TERM", true);
      times[i] = std::chrono::duration<double>(Clock::now() - t0).count();
      wipe_node(ctx, node);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  std::string all;
  for (const auto& e : errors) {
    if (!e.empty()) all += (all.empty() ? "" : "; ") + e;
  }
  if (!all.empty()) {
    throw std::runtime_error("etcd teardown incomplete: " + all +
                             " (stop the pid in etcd.pid and remove the node directory by hand)");
  }
  if (ctx.log) {
    std::ostringstream m;
    m << "etcd: stopped and removed on every node (stop took";
    for (size_t i = 0; i < ctx.nodes.size(); ++i) {
      m << (i ? ", " : " ") << ctx.nodes[i] << (is_leader(i) ? " (leader) " : " ") << times[i]
        << " s";
    }
    ctx.log(m.str() + ")");
  }
}

std::string EtcdDb::version(const DbContext& ctx) {
  if (!ctx.remote || ctx.nodes.empty()) return "unknown";
  try {
    ExecResult r = ctx.remote->session(ctx.nodes.front())
                       ->exec(Command{binary_, "--version"}.with_timeout(std::chrono::seconds(20)));
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      const std::string tag = "etcd Version: ";
      if (line.rfind(tag, 0) == 0) return "etcd " + line.substr(tag.size());
    }
  } catch (const std::exception&) {
  }
  return "unknown";
}

std::map<std::string, std::vector<std::string>> EtcdDb::log_files(const DbContext& ctx) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& node : ctx.nodes) out[node] = {node_dir(ctx, node) + "/etcd.log"};
  return out;
}

namespace {

// Puts every key of `kvs` in one txn through the first member that takes it, retrying for
// about 5 s (a member may still be settling right after setup).
void put_all(const EtcdDb& db, const DbContext& ctx,
             const std::vector<std::pair<std::string, std::string>>& kvs, const std::string& what) {
  std::vector<Json> puts;
  for (const auto& [k, v] : kvs) puts.push_back(etcd::txn_put_op(k, v));
  std::string body = etcd::txn_request({}, puts).dump();
  std::string last;
  for (int attempt = 0; attempt < 50; ++attempt) {
    for (const auto& node : ctx.nodes) {
      etcd::EtcdHttp http(db.client_url(ctx, node));
      auto h = http.post("/v3/kv/txn", body, std::chrono::milliseconds(2000));
      if (h.kind == etcd::HttpResult::Kind::kAnswer && !etcd::parse_error(h.status, h.body)) {
        return;
      }
      last = node + ": " + (h.kind == etcd::HttpResult::Kind::kAnswer ? h.body : h.error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("etcd prepare: cannot create " + what + ": " + last);
}

}  // namespace

void EtcdDb::prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) {
  if (ctx.nodes.empty()) return;
  if (vocabulary == "bank") {
    // Balances total / n each, the remainder on the first account (docs/workloads.md).
    Json accounts = params.is_object() ? params.value("accounts", Json::array()) : Json::array();
    int64_t total = params.is_object() ? params.value("total", int64_t{0}) : 0;
    if (!accounts.is_array() || accounts.empty()) {
      throw ConfigError("etcd prepare: bank params need a non-empty 'accounts' list");
    }
    int64_t n = static_cast<int64_t>(accounts.size());
    std::vector<std::pair<std::string, std::string>> kvs;
    for (int64_t i = 0; i < n; ++i) {
      int64_t balance = total / n + (i == 0 ? total % n : 0);
      kvs.emplace_back("bank/" + json_text(accounts[i]), std::to_string(balance));
    }
    put_all(*this, ctx, kvs, "the bank's accounts");
    return;
  }
  if (vocabulary != "counter") return;
  // Counters 0..keys-1 start at 0.
  int64_t keys = params.is_object() ? params.value("keys", int64_t{1}) : 1;
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int64_t k = 0; k < keys; ++k) kvs.emplace_back("counter/" + std::to_string(k), "0");
  put_all(*this, ctx, kvs, "the counters");
}

void EtcdDb::kill(const DbContext& ctx, const std::string& node) {
  signal_node(ctx, node, "KILL", true);
}

void EtcdDb::start(const DbContext& ctx, const std::string& node) {
  std::string token;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (removed_.count(node)) {
      log(ctx, "etcd: " + node + " not started: it is out of the cluster until it joins again");
      return;
    }
    token = token_;
  }
  // On an existing data dir etcd ignores the initial-cluster flags and rejoins.
  start_node(ctx, node, token.empty() ? "fl-etcd" : token);
}

void EtcdDb::pause(const DbContext& ctx, const std::string& node) {
  signal_node(ctx, node, "STOP", false);
}

void EtcdDb::resume(const DbContext& ctx, const std::string& node) {
  signal_node(ctx, node, "CONT", false);
}

Json EtcdDb::ask_other_member(const DbContext& ctx, const std::string& except,
                              const std::string& path, const std::string& body) {
  std::string last = "no other member";
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (true) {
    for (const auto& n : ctx.nodes) {
      if (n == except) continue;
      etcd::EtcdHttp http(client_url(ctx, n));
      etcd::HttpResult h = http.post(path, body, std::chrono::milliseconds(3000));
      if (h.kind != etcd::HttpResult::Kind::kAnswer) {
        last = n + ": " + h.error;
        continue;
      }
      if (auto e = etcd::parse_error(h.status, h.body)) {
        last = n + ": " + e->describe(h.status);
        continue;
      }
      Json j = Json::parse(h.body, nullptr, false);
      if (j.is_discarded()) {
        last = n + ": not JSON: " + h.body.substr(0, 200);
        continue;
      }
      return j;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  throw std::runtime_error(std::string(kWhere) + ": " + path +
                           " answered by no member in 20 s: " + last);
}

Json EtcdDb::leave(const DbContext& ctx, const std::string& node, const std::string& mode) {
  if (mode != "remove") {
    throw ConfigError(std::string(kWhere) + ": no membership mode '" + mode + "' (remove)");
  }
  clusters::require_remote(ctx, kWhere);
  auto t0 = Clock::now();
  const std::string peer = peer_url(ctx, node);
  std::string id;
  for (const auto& m :
       etcd::parse_members(ask_other_member(ctx, node, "/v3/cluster/member/list", "{}"))) {
    if (std::find(m.peer_urls.begin(), m.peer_urls.end(), peer) != m.peer_urls.end()) id = m.id;
  }
  if (id.empty()) {
    throw std::runtime_error("node " + node + ": no etcd member has peer URL " + peer +
                             " (is it out of the cluster already?)");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    removed_.insert(node);
  }
  ask_other_member(ctx, node, "/v3/cluster/member/remove", Json{{"ID", id}}.dump());
  const int64_t removed_ms = clusters::ms_count(t0);
  // A removed member stops by itself once it learns of its removal; this makes sure.
  signal_node(ctx, node, "TERM", true);
  empty_data_dir(ctx, node);
  log(ctx, "etcd: " + node + " (member " + id + ") removed from the cluster and wiped in " +
               clusters::ms_since(t0));
  return Json{{"member-id", id}, {"removed-ms", removed_ms}, {"wiped", data_dir(ctx, node)}};
}

Json EtcdDb::join(const DbContext& ctx, const std::string& node) {
  clusters::require_remote(ctx, kWhere);
  auto t0 = Clock::now();
  const std::string peer = peer_url(ctx, node);
  // A member with this peer URL that never started (an earlier join failed after its add)
  // is taken as it is; otherwise the node is added as a new member.
  std::vector<etcd::Member> members =
      etcd::parse_members(ask_other_member(ctx, node, "/v3/cluster/member/list", "{}"));
  std::string id;
  for (const auto& m : members) {
    if (std::find(m.peer_urls.begin(), m.peer_urls.end(), peer) == m.peer_urls.end()) continue;
    if (!m.name.empty()) {
      std::string what = "node " + node + ": member " + m.id;
      what += " (" + m.name + ") already has its peer URL " + peer;
      throw std::runtime_error(what);
    }
    id = m.id;
  }
  if (id.empty()) {
    Json added = ask_other_member(ctx, node, "/v3/cluster/member/add",
                                  Json{{"peerURLs", Json::array({peer})}}.dump());
    id = etcd::parse_added_member(added).id;
    members = etcd::parse_members(added);
  }
  std::string token;
  {
    std::lock_guard<std::mutex> lock(mu_);
    joined_[node] = etcd::initial_cluster(members, node);
    token = token_;
  }
  empty_data_dir(ctx, node);  // also after a leave that failed before its wipe
  start_node(ctx, node, token.empty() ? "fl-etcd" : token);
  {
    std::lock_guard<std::mutex> lock(mu_);
    removed_.erase(node);
  }
  wait_healthy(ctx, kSetupTimeout);
  log(ctx, "etcd: " + node + " joined again as member " + id + " in " + clusters::ms_since(t0));
  return Json{{"member-id", id}, {"joined-ms", clusters::ms_count(t0)}};
}

std::vector<std::string> EtcdDb::primaries(const DbContext& ctx) {
  std::vector<std::string> out;
  for (const auto& node : ctx.nodes) {
    StatusProbe p = probe_status(client_url(ctx, node), std::chrono::milliseconds(1000));
    if (p.ok && p.status.is_leader()) out.push_back(node);
  }
  return out;
}

namespace {

const bool registered = DbRegistry::add(
    "db", "etcd",
    "etcd 3.4 over SSH (v3 HTTP gateway client); strictly serializable: every workload must "
    "pass",
    [](const Json& options) -> std::unique_ptr<Db> {
      return std::make_unique<EtcdDb>(parse_etcd_options(options));
    },
    kEtcdOptions);

}  // namespace
}  // namespace faultline
