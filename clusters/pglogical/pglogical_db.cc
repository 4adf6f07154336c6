#include "clusters/pglogical/pglogical_db.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>
#include <sstream>
#include <stdexcept>

#include "clusters/common/checks.h"
#include "clusters/common/launch.h"
#include "clusters/common/lossyfs.h"
#include "clusters/common/nodes.h"
#include "clusters/common/text.h"
#include "clusters/common/wait.h"
#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/remote.h"
#include "harness/secure_dir.h"

namespace faultline {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kWhere = "db 'pglogical'";
constexpr int kPort = 5432;

// --- shell scripts (constants; data only in "$1", "$2", ...) -------------------------------

// Shared helpers. ours DATA: every pid whose cwd is DATA (postgres processes chdir to their
// data dir; zombies have no cwd). cgroup NAME [mount]: the path of freezer cgroup NAME under
// the cgroup v1 freezer hierarchy, "" when there is none; inside `ip netns exec` (the local
// cluster) /sys is remounted without cgroups, so with "mount" the same hierarchy is mounted at
// /run/faultline/cgroup-freezer (visible only in that mount namespace, gone with it).
// stop_all DATA CG: SIGSTOP the postmaster (no more forks), SIGKILL it and every process of
// the instance, thaw their freezer cgroup so the signals land, and wait until each pid is
// reaped (a zombie postmaster still holds postmaster.pid); a pid file left by a postmaster that
// stays a zombie for 20 s is removed.
constexpr const char* kHelpers = R"SH(
ours() {
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/cwd" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
  done
}
postmaster() {
  pm=""
  [ -f "$1/postmaster.pid" ] && pm=$(head -n 1 "$1/postmaster.pid")
  if [ -n "$pm" ] && [ "$(readlink "/proc/$pm/cwd" 2>/dev/null)" = "$1" ]; then echo "$pm"; fi
}
cgroup() {
  for r in /sys/fs/cgroup/freezer /run/faultline/cgroup-freezer; do
    if [ -f "$r/cgroup.procs" ]; then echo "$r/$1"; return 0; fi
  done
  r=/run/faultline/cgroup-freezer
  if [ "$2" = mount ] && fl_private_dir "$r" 755 &&
      mount -t cgroup -o freezer faultline-freezer "$r" 2>/dev/null; then
    echo "$r/$1"
  fi
}
stop_all() {
  pm=$(postmaster "$1")
  [ -n "$pm" ] && kill -STOP "$pm" 2>/dev/null
  pids="$pm $(ours "$1")"
  pids=$(echo $pids | tr ' ' '\n' | sort -u | tr '\n' ' ')
  [ -z "$(echo $pids)" ] && return 0
  kill -KILL $pids 2>/dev/null
  echo "pids" $pids
  [ -n "$2" ] && [ -f "$2/freezer.state" ] && echo THAWED > "$2/freezer.state"
  i=0
  while :; do
    alive=""; running=""
    for q in $pids; do
      if [ -e "/proc/$q" ]; then
        alive="$alive $q"
        grep -q '^State:.*Z' "/proc/$q/status" 2>/dev/null || running="$running $q"
      fi
    done
    [ -z "$alive" ] && return 0
    i=$((i + 1))
    if [ $i -ge 200 ]; then
      if [ -z "$running" ]; then
        rm -f "$1/postmaster.pid"
        echo "zombies not reaped after 20 s:$alive; removed postmaster.pid" >&2
        return 0
      fi
      echo "still running 20 s after SIGKILL:$running" >&2
      return 1
    fi
    sleep 0.1
  done
}
)SH";

// $1 node dir, $2 bin dir, $3 postgresql.conf lines, $4 pg_hba.conf lines, $5 "" | "prepare"
// (make the node dir only) | "lossy" (data/ is the power-loss file system's mount point).
constexpr const char* kInitScript = R"SH(
set -e
# The node directory's parents are root's alone; the node directory itself is postgres's, so
# nothing is written in it as root (postgres could have put a symlink there).
fl_private_dir "$(dirname "$1")" 755
if [ -L "$1" ]; then echo "$1 is a symbolic link: refusing it" >&2; exit 3; fi
mkdir -p "$1"
chown postgres:postgres "$1"
chmod 700 "$1"
[ "$5" = prepare ] && exit 0
cd /tmp
# With "lossy", data/ is the power-loss file system's mount point (mounted by now; initdb sees
# it empty: its control file is not listed) and must be postgres's alone, as initdb makes it.
[ "$5" = lossy ] && chmod 700 "$1/data"
if ! out=$(runuser -u postgres -- "$2/initdb" -D "$1/data" -U postgres -A trust --no-sync \
    -E UTF8 --locale=C.UTF-8 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi
printf '%s\n' "$out" | runuser -u postgres -- tee "$1/initdb.log" > /dev/null
printf '%s\n' "$3" | runuser -u postgres -- tee -a "$1/data/postgresql.conf" > /dev/null
printf '%s\n' "$4" | runuser -u postgres -- tee -a "$1/data/pg_hba.conf" > /dev/null
)SH";

// $1 node dir, $2 bin dir, then the launch env words (clusters/common/launch.h), if any.
constexpr const char* kStartScript = R"SH(
cd /tmp
if [ -n "$(postmaster "$1/data")" ]; then echo "already running"; exit 0; fi
dir=$1; bin=$2; shift 2
exec runuser -u postgres -- "$@" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 start
)SH";

// $1 node dir, $2 freezer cgroup name.
constexpr const char* kKillScript = R"SH(
[ -d "$1/data" ] || exit 0
stop_all "$1/data" "$(cgroup "$2")"
)SH";

// $1 node dir, $2 freezer cgroup name.
constexpr const char* kPauseScript = R"SH(
pm=$(postmaster "$1/data")
if [ -z "$pm" ]; then echo "postgres is not running in $1/data" >&2; exit 2; fi
cg=$(cgroup "$2" mount)
if [ -n "$cg" ] && mkdir -p "$cg" 2>/dev/null && [ -f "$cg/freezer.state" ]; then
  echo "$pm" > "$cg/cgroup.procs" || exit 3
  for p in $(ours "$1/data"); do echo "$p" > "$cg/cgroup.procs" 2>/dev/null; done
  echo FROZEN > "$cg/freezer.state"
  i=0
  while [ "$(cat "$cg/freezer.state")" != FROZEN ] && [ $i -lt 100 ]; do
    sleep 0.05; i=$((i + 1))
  done
  echo "freezer $cg $(cat "$cg/freezer.state")"
else
  kill -STOP "$pm"
  for p in $(ours "$1/data"); do kill -STOP "$p" 2>/dev/null; done
  echo sigstop
fi
)SH";

// $1 node dir, $2 freezer cgroup name.
constexpr const char* kResumeScript = R"SH(
cg=$(cgroup "$2")
[ -n "$cg" ] && [ -f "$cg/freezer.state" ] && echo THAWED > "$cg/freezer.state"
pm=$(postmaster "$1/data")
for p in $(ours "$1/data"); do kill -CONT "$p" 2>/dev/null; done
[ -n "$pm" ] && kill -CONT "$pm" 2>/dev/null
exit 0
)SH";

// $1 node dir, $2 bin dir, $3 freezer cgroup name.
constexpr const char* kTeardownScript = R"SH(
cg=$(cgroup "$3")
[ -n "$cg" ] && [ -f "$cg/freezer.state" ] && echo THAWED > "$cg/freezer.state"
if [ -d "$1/data" ]; then
  pm=$(postmaster "$1/data")
  if [ -n "$pm" ]; then
    for p in $(ours "$1/data"); do kill -CONT "$p" 2>/dev/null; done
    kill -CONT "$pm" 2>/dev/null
    (cd /tmp && timeout 40 runuser -u postgres -- "$2/pg_ctl" -D "$1/data" -m fast -w -t 30 \
      stop) > /dev/null 2>&1
  fi
  stop_all "$1/data" "$cg" || exit 1
  if [ -f "$1/data/postmaster.pid" ]; then
    id=$(sed -n 7p "$1/data/postmaster.pid" | awk '{print $2}')
    if [ -n "$id" ] && ipcs -m | awk -v id="$id" '$2 == id && $6 == 0 { f = 1 } END { exit !f }'
    then
      ipcrm -m "$id" 2>/dev/null
    fi
  fi
fi
[ -n "$cg" ] && [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
# The power-loss file system (db-options power-loss-fs) exits when unmounted.
if grep -qs " $1/data fuse" /proc/self/mounts; then umount "$1/data" 2>/dev/null || umount -l "$1/data"; fi
rm -rf "$1"
[ ! -e "$1" ]
)SH";

Command script(const char* body, std::vector<std::string> args) {
  return Command::shell(std::string(kPrivateDirShell) + kHelpers + body, std::move(args));
}

std::string sql_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string seconds_since(Clock::time_point t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", std::chrono::duration<double>(Clock::now() - t).count());
  return buf;
}

void log(const DbContext& ctx, const std::string& line) {
  clusters::log(ctx, "pglogical: " + line);
}

using clusters::host_of;
using clusters::trim;

// clusters::safe_name in lower case: pglogical's names of nodes and subscriptions.
std::string lower_name(const std::string& s) {
  std::string out = clusters::safe_name(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string freezer_cgroup(const DbContext& ctx, const std::string& node) {
  return "faultline-pg-" + clusters::safe_name(node) + "-" +
         clusters::safe_name(host_of(ctx, node));
}

std::unique_ptr<Session> open_session(const DbContext& ctx, const std::string& node) {
  clusters::require_remote(ctx, kWhere);
  return ctx.remote->session(node);
}

// Runs `command` on `node` and throws a RemoteError naming the node and `what` unless it
// exits 0. Returns stdout.
std::string run(Session& s, const Command& command, const std::string& what) {
  ExecResult r = s.exec(command);
  if (!r.ok()) {
    throw RemoteError(s.node(), std::string(kWhere) + ": " + what + " failed (exit " +
                                    std::to_string(r.exit_status) + "): " + trim(r.err) +
                                    (trim(r.out).empty() ? "" : " / " + trim(r.out)));
  }
  return r.out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) {
    l = trim(l);
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

std::string join_statements(const std::vector<std::string>& statements) {
  std::string out;
  for (std::string s : statements) {
    s = trim(s);
    while (!s.empty() && s.back() == ';') s.pop_back();
    if (!s.empty()) out += s + ";\n";
  }
  return out;
}

// The lines appended to a node's postgresql.conf. Workers, slots and senders grow with the
// node count (n - 1 apply workers and walsenders per node, plus the manager and sync workers).
std::string postgresql_conf(const std::string& address, const std::string& dir, size_t nodes,
                            const PglogicalOptions& o) {
  std::ostringstream c;
  c << "\n# faultline pglogical\n"
    << "listen_addresses = " << sql_literal(address) << "\n"
    << "port = " << kPort << "\n"
    << "unix_socket_directories = " << sql_literal(dir) << "\n"  // per node: nodes share /tmp
    << "wal_level = logical\n"
    << "track_commit_timestamp = on\n"  // last_update_wins compares commit timestamps
    << "shared_preload_libraries = 'pglogical'\n"
    << "max_worker_processes = " << std::max<size_t>(16, 2 * nodes + 8) << "\n"
    << "max_replication_slots = " << std::max<size_t>(10, 2 * nodes + 4) << "\n"
    << "max_wal_senders = " << std::max<size_t>(10, 2 * nodes + 4)
    << "\n"
    // Clock jumps of the clock nemesis must not kill walsenders (measured on the wall clock).
    << "wal_sender_timeout = 300s\n"
    << "wal_receiver_timeout = 300s\n"
    << "pglogical.conflict_resolution = " << sql_literal(o.conflict_resolution) << "\n"
    << "pglogical.conflict_log_level = LOG\n"
    << "synchronous_commit = " << o.synchronous_commit
    << "\n"
    // Dynamic shared memory in the data dir: a SIGKILLed node leaves nothing in /dev/shm.
    << "dynamic_shared_memory_type = mmap\n"
    << "shared_buffers = 32MB\n"
    << "max_connections = 200\n"
    << "log_line_prefix = '%m [%p] %q%a '\n"
    << "log_min_messages = warning\n";
  return c.str();
}

}  // namespace

const OptionDecls kPglogicalOptions = {
    {"conflict-resolution", "last_update_wins",
     "last_update_wins | first_update_wins | apply_remote | keep_local | error"},
    {"isolation", "read-committed", "read-committed | repeatable-read | serializable"},
    {"synchronous-commit", "on", "on | off | local | remote_write | remote_apply, or a boolean"},
    {"select-for-update", false, "read-modify-writes read with SELECT ... FOR UPDATE"},
    {"retry-codes", nullptr, "SQLSTATEs a client retries (default: none)"},
    {"retry-limit", nullptr,
     "how many times a client retries one of them (default: 3 with retry-codes, else 0)"},
    clusters::power_loss_fs_option(),
    clusters::install_option(),
};

PglogicalOptions PglogicalOptions::parse(const Json& options) {
  const Options opts(options, kPglogicalOptions, kWhere);
  PglogicalOptions o;
  // pglogical's names, also in kebab-case (first-update-wins).
  o.conflict_resolution = opts.text("conflict-resolution");
  std::replace(o.conflict_resolution.begin(), o.conflict_resolution.end(), '-', '_');
  static const std::set<std::string> kResolutions = {"error", "apply_remote", "keep_local",
                                                     "last_update_wins", "first_update_wins"};
  if (!kResolutions.count(o.conflict_resolution)) {
    throw opts.error("conflict-resolution",
                     "must be one of last_update_wins, first_update_wins, apply_remote, "
                     "keep_local, error, not " +
                         opts.raw("conflict-resolution").dump());
  }
  // As PostgreSQL spells it: "read committed".
  o.isolation = opts.text("isolation", {"read-committed", "repeatable-read", "serializable"});
  std::replace(o.isolation.begin(), o.isolation.end(), '-', ' ');
  const Json& sync = opts.raw("synchronous-commit");
  o.synchronous_commit =
      sync.is_boolean()
          ? (sync.get<bool>() ? "on" : "off")
          : opts.text("synchronous-commit", {"on", "off", "local", "remote_write", "remote_apply"});
  o.select_for_update = opts.flag("select-for-update");
  o.power_loss_fs = opts.flag("power-loss-fs");
  if (opts.has("retry-codes")) {
    o.retry_codes = opts.texts("retry-codes");
    for (const auto& c : o.retry_codes) {
      if (c.size() != 5) {
        throw opts.error("retry-codes", "must hold 5-character SQLSTATEs (e.g. [\"40001\"]), not " +
                                            opts.raw("retry-codes").dump());
      }
    }
    o.retry_limit = o.retry_codes.empty() ? 0 : 3;
  }
  if (opts.has("retry-limit"))
    o.retry_limit = static_cast<int>(opts.integer("retry-limit", 0, 1000));
  o.install = clusters::parse_package_install(opts.raw("install"),
                                              std::string(kWhere) + ": option 'install'");
  return o;
}

std::string pglogical_node_dir(const DbContext& ctx, const std::string& node) {
  return clusters::node_dir(kPgBaseDir, ctx, node);
}

std::string pglogical_node_name(const std::string& node) { return lower_name(node); }

std::string pglogical_subscription_name(const std::string& subscriber,
                                        const std::string& provider) {
  std::string s = "fl_" + lower_name(subscriber) + "_from_" + lower_name(provider);
  std::replace(s.begin(), s.end(), '.', '_');
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

PglogicalDb::PglogicalDb(PglogicalOptions options) : options_(std::move(options)) {}

std::string PglogicalDb::own_address(const DbContext& ctx, const std::string& node) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = addresses_.find(node);
    if (it != addresses_.end()) return it->second;
  }
  auto s = open_session(ctx, node);
  std::string client;
  const std::string address = clusters::own_address(ctx, *s, node, &client);
  std::lock_guard<std::mutex> lock(mu_);
  addresses_[node] = address;
  if (!client.empty()) controllers_.insert(client);
  return address;
}

std::string PglogicalDb::psql(const DbContext& ctx, const std::string& node, const std::string& sql,
                              milliseconds timeout) {
  auto s = open_session(ctx, node);
  const std::string dir = pglogical_node_dir(ctx, node);
  Command c{std::string(kPgBinDir) + "/psql",
            "-h",
            dir,
            "-p",
            std::to_string(kPort),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            "-"};
  const int64_t connect_s = std::clamp<int64_t>(timeout.count() / 2000, 2, 10);
  c.with_stdin(sql).with_env("PGCONNECT_TIMEOUT", std::to_string(connect_s)).with_timeout(timeout);
  ExecResult r = s->exec(c);
  if (!r.ok()) {
    throw RemoteError(node, std::string(kWhere) + ": SQL failed (exit " +
                                std::to_string(r.exit_status) + "): " + trim(r.err) +
                                "; statements: " + sql.substr(0, 300) + "; server log: " + dir +
                                "/server.log");
  }
  return r.out;
}

void PglogicalDb::start_postgres(const DbContext& ctx, const std::string& node) {
  auto s = open_session(ctx, node);
  const std::string dir = pglogical_node_dir(ctx, node);
  if (auto prepare = clusters::prepare_launch_command(ctx, node, kWhere)) {
    run(*s, *prepare, "preparing the launch files of " + ctx.launch.why);
  }
  std::vector<std::string> args = {dir, kPgBinDir};
  for (auto& w : clusters::launch_env_argv(ctx, node)) args.push_back(std::move(w));
  Command c = script(kStartScript, std::move(args));
  c.with_timeout(milliseconds(150000));
  ExecResult r = s->exec(c);
  if (!r.ok()) {
    // The log's tail says why (port in use, bad config, lock file).
    throw RemoteError(node, std::string(kWhere) + ": pg_ctl start failed (exit " +
                                std::to_string(r.exit_status) + "): " + trim(r.err) + " " +
                                trim(r.out) + "; tail of " + dir + "/server.log:\n" +
                                clusters::log_tail(*s, dir + "/server.log"));
  }
}

void PglogicalDb::setup(const DbContext& ctx) {
  const auto t0 = Clock::now();
  clusters::require_remote(ctx, kWhere);
  clusters::Installer(options_.install)
      .install_all(ctx, "postgres", std::string(kPgBinDir) + "/postgres");
  // Addresses first: every node's pg_hba trusts the others.
  clusters::on_every_node(ctx.nodes,
                          [&](const std::string& node, size_t) { own_address(ctx, node); });
  std::set<std::string> controllers;
  std::vector<std::string> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    controllers = controllers_;
    for (const auto& n : ctx.nodes) peers.push_back(addresses_[n]);
  }
  auto cidr = [](const std::string& a) {
    return a + (a.find(':') != std::string::npos ? "/128" : "/32");
  };
  std::string hba =
      "host all all samenet trust\n"
      "host replication all samenet trust\n";
  std::set<std::string> trusted(peers.begin(), peers.end());
  trusted.insert(controllers.begin(), controllers.end());
  for (const auto& a : trusted) {
    hba += "host all all " + cidr(a) + " trust\nhost replication all " + cidr(a) + " trust\n";
  }

  clusters::on_every_node(ctx.nodes, [&](const std::string& node, size_t) {
    auto s = open_session(ctx, node);
    const std::string dir = pglogical_node_dir(ctx, node);
    // A crashed earlier run may have left this node's postgres: stop it, wipe its dir.
    run(*s, script(kTeardownScript, {dir, kPgBinDir, freezer_cgroup(ctx, node)}),
        "cleaning " + dir);
    const std::string address = own_address(ctx, node);
    const std::string conf = postgresql_conf(address, dir, ctx.nodes.size(), options_);
    if (options_.power_loss_fs) {
      run(*s, script(kInitScript, {dir, kPgBinDir, conf, hba, "prepare"}), "making " + dir);
      clusters::lossy_fs_under(dir, "data").mount_on(*s, node, "postgres:postgres");
    }
    run(*s,
        script(kInitScript, {dir, kPgBinDir, conf, hba, options_.power_loss_fs ? "lossy" : ""})
            .with_timeout(milliseconds(120000)),
        "initdb in " + dir);
    start_postgres(ctx, node);
    psql(ctx, node,
         "CREATE EXTENSION IF NOT EXISTS pglogical;\n"
         "SELECT pglogical.create_node(node_name := " +
             sql_literal(pglogical_node_name(node)) + ", dsn := " +
             sql_literal("host=" + address + " port=" + std::to_string(kPort) +
                         " dbname=postgres user=postgres") +
             ") WHERE NOT EXISTS (SELECT 1 FROM pglogical.node WHERE node_name = " +
             sql_literal(pglogical_node_name(node)) + ");\n");
  });
  log(ctx, "setup: " + std::to_string(ctx.nodes.size()) + " nodes started (conflict resolution " +
               options_.conflict_resolution +
               (ctx.launch.empty() ? "" : ", under " + ctx.launch.why) + ") in " +
               seconds_since(t0));
}

bool PglogicalDb::wait_replicating(const DbContext& ctx,
                                   const std::vector<std::string>& subscribers,
                                   const std::vector<std::string>& providers,
                                   std::chrono::milliseconds timeout, std::string* why) {
  std::string last;
  const bool replicating = clusters::poll_until(Clock::now() + timeout, milliseconds(200), [&] {
    bool all = true;
    last.clear();
    for (const auto& sub : subscribers) {
      std::map<std::string, std::string> status;
      try {
        for (const auto& line : split_lines(
                 psql(ctx, sub,
                      "SELECT subscription_name, status FROM pglogical.show_subscription_status();",
                      milliseconds(10000)))) {
          auto bar = line.find('|');
          if (bar != std::string::npos) status[line.substr(0, bar)] = line.substr(bar + 1);
        }
      } catch (const std::exception& e) {
        all = false;
        last += " " + sub + ": " + e.what() + ";";
        continue;
      }
      for (const auto& prov : providers) {
        if (prov == sub) continue;
        const std::string name = pglogical_subscription_name(sub, prov);
        auto it = status.find(name);
        std::string st = it == status.end() ? "missing" : it->second;
        if (st != "replicating") {
          all = false;
          last.append(" ").append(name).append("=").append(st);
        }
      }
    }
    return all;
  });
  if (!replicating && why) *why = last;
  return replicating;
}

std::string PglogicalDb::subscribe_sql(const DbContext& ctx, const std::string& subscriber,
                                       const std::vector<std::string>& providers) {
  std::string sql;
  for (const auto& prov : providers) {
    if (prov == subscriber) continue;
    const std::string name = pglogical_subscription_name(subscriber, prov);
    const std::string dsn = "host=" + own_address(ctx, prov) + " port=" + std::to_string(kPort) +
                            " dbname=postgres user=postgres connect_timeout=5";
    sql += "SELECT pglogical.create_subscription(subscription_name := " + sql_literal(name) +
           ", provider_dsn := " + sql_literal(dsn) +
           ", replication_sets := ARRAY['default', 'default_insert_only', 'ddl_sql'], "
           "synchronize_structure := false, synchronize_data := false, forward_origins := "
           "'{}') WHERE NOT EXISTS (SELECT 1 FROM pglogical.subscription WHERE sub_name = " +
           sql_literal(name) + ");\n";
  }
  return sql;
}

void PglogicalDb::prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) {
  const auto t0 = Clock::now();
  const auto vocs = sql::vocabularies();
  if (std::find(vocs.begin(), vocs.end(), vocabulary) == vocs.end()) {
    throw ConfigError(std::string(kWhere) + ": no client for vocabulary '" + vocabulary + "'");
  }
  const size_t n = ctx.nodes.size();
  const auto tables = sql::tables(vocabulary);
  // Schema and replication set, on every node (pglogical does not replicate DDL here).
  clusters::on_every_node(ctx.nodes, [&](const std::string& node, size_t i) {
    Json p = params.is_object() ? params : Json::object();
    p["node-index"] = static_cast<int64_t>(i + 1);
    p["node-count"] = static_cast<int64_t>(n);
    std::string sql =
        join_statements(sql::schema_statements(vocabulary, sql::Dialect::kPostgres, p));
    for (const auto& t : tables) {
      sql += "SELECT pglogical.replication_set_add_table('default', " + sql_literal(t) +
             "::regclass, false) WHERE NOT EXISTS (SELECT 1 FROM pglogical.replication_set_table "
             "rt JOIN pglogical.replication_set rs ON rs.set_id = rt.set_id WHERE rs.set_name = "
             "'default' AND rt.set_reloid = " +
             sql_literal(t) + "::regclass);\n";
    }
    psql(ctx, node, sql);
  });
  // The mesh: node i subscribes to every other node j.
  clusters::on_every_node(ctx.nodes, [&](const std::string& node, size_t) {
    const std::string sql = subscribe_sql(ctx, node, ctx.nodes);
    if (!sql.empty()) psql(ctx, node, sql);
  });
  std::string why;
  if (!wait_replicating(ctx, ctx.nodes, ctx.nodes, milliseconds(60000), &why)) {
    throw std::runtime_error(std::string(kWhere) + ": subscriptions not replicating after 60 s:" +
                             why + " (see each node's server.log)");
  }
  const auto t_mesh = Clock::now();
  // Initial rows on the first node, then wait until every node has the same rows.
  const std::string rows =
      join_statements(sql::initial_rows(vocabulary, sql::Dialect::kPostgres, params));
  if (!rows.empty()) {
    psql(ctx, ctx.nodes.front(), rows);
    std::string why;
    if (!converge(ctx, vocabulary, milliseconds(60000), &why)) {
      throw std::runtime_error(std::string(kWhere) + ": initial rows from " + ctx.nodes.front() +
                               " not on every node after 60 s:" + why +
                               " (see the nodes' server.log)");
    }
  }
  log(ctx, "prepare " + vocabulary + ": schema + " + std::to_string(n * (n - 1)) +
               " subscriptions replicating in " +
               std::to_string(std::chrono::duration<double>(t_mesh - t0).count()).substr(0, 5) +
               " s, initial rows everywhere after " + seconds_since(t0));
}

bool PglogicalDb::converge(const DbContext& ctx, const std::string& vocabulary,
                           milliseconds timeout, std::string* why, milliseconds settled) {
  std::string digest_sql;
  for (const auto& t : sql::tables(vocabulary)) {
    digest_sql += "SELECT " + sql_literal(t) +
                  ", md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM " + t +
                  " x;\n";
  }
  if (digest_sql.empty() || ctx.nodes.size() < 2) return true;
  std::map<std::string, std::vector<std::string>> by_digest, before;
  std::string errors;
  auto unchanged_since = Clock::now();
  bool same = false, stuck = false;
  clusters::poll_until(Clock::now() + timeout, milliseconds(100), [&] {
    before.swap(by_digest);
    by_digest.clear();
    errors.clear();
    for (const auto& n : ctx.nodes) {
      try {
        by_digest[psql(ctx, n, digest_sql, milliseconds(10000))].push_back(n);
      } catch (const std::exception& e) {
        errors += std::string(" ") + e.what();
      }
    }
    same = errors.empty() && by_digest.size() == 1;
    if (same || settled.count() == 0) return same;
    if (!errors.empty() || by_digest != before) {
      unchanged_since = Clock::now();
      return false;
    }
    // No node's rows changed for `settled` while every subscription replicates: nothing is
    // left in flight, so waiting longer changes nothing.
    if (Clock::now() - unchanged_since < settled) return false;
    stuck = wait_replicating(ctx, ctx.nodes, ctx.nodes, milliseconds(0));
    if (!stuck) unchanged_since = Clock::now();
    return stuck;
  });
  if (!same && why) {
    *why = errors;
    if (stuck) {
      *why += " no change in " + std::to_string(settled.count() / 1000) +
              " s with every subscription replicating;";
    }
    if (by_digest.size() > 1) {
      *why += " " + std::to_string(by_digest.size()) + " different states:";
      for (const auto& [d, nodes] : by_digest) {
        *why += " {";
        for (const auto& n : nodes) *why += " " + n;
        *why += " }";
      }
    }
  }
  return same;
}

void PglogicalDb::teardown(const DbContext& ctx) {
  const auto t0 = Clock::now();
  if (ctx.remote == nullptr) return;
  clusters::on_every_node(ctx.nodes, [&](const std::string& node, size_t) {
    auto s = open_session(ctx, node);
    const std::string dir = pglogical_node_dir(ctx, node);
    run(*s,
        script(kTeardownScript, {dir, kPgBinDir, freezer_cgroup(ctx, node)})
            .with_timeout(milliseconds(120000)),
        "stopping postgres and removing " + dir + " (stop it by the pid in " + dir +
            "/data/postmaster.pid)");
  });
  log(ctx, "teardown: stopped and removed on " + std::to_string(ctx.nodes.size()) + " nodes in " +
               seconds_since(t0));
}

std::map<std::string, std::vector<std::string>> PglogicalDb::log_files(const DbContext& ctx) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& n : ctx.nodes) out[n] = {pglogical_node_dir(ctx, n) + "/server.log"};
  return out;
}

std::string PglogicalDb::version(const DbContext& ctx) {
  if (ctx.nodes.empty() || ctx.remote == nullptr) return "unknown";
  try {
    auto s = open_session(ctx, ctx.nodes.front());
    std::string pg = trim(
        run(*s, Command{std::string(kPgBinDir) + "/postgres", "--version"}, "postgres --version"));
    std::string ext = trim(psql(ctx, ctx.nodes.front(),
                                "SELECT extversion FROM pg_extension WHERE extname = "
                                "'pglogical';"));
    return pg + ", pglogical " + ext;
  } catch (const std::exception& e) {
    return std::string("unknown (") + e.what() + ")";
  }
}

std::vector<std::string> PglogicalDb::vocabularies() const { return sql::vocabularies(); }

// The data directory itself is the mount point (see kInitScript).
void PglogicalDb::make_durable(const DbContext& ctx) {
  if (!options_.power_loss_fs) return;
  clusters::sync_lossy_fs(ctx, [&](const std::string& n) {
    return clusters::lossy_fs_under(pglogical_node_dir(ctx, n), "data");
  });
}

Json PglogicalDb::lose_unsynced(const DbContext& ctx, const std::string& node,
                                const PowerLoss& how) {
  if (!options_.power_loss_fs) {
    throw ConfigError(std::string(kWhere) +
                      ": power loss needs db-options {\"power-loss-fs\": true}");
  }
  auto s = open_session(ctx, node);
  return clusters::lossy_fs_under(pglogical_node_dir(ctx, node), "data").drop(*s, node, how);
}

std::vector<NodeCheck> PglogicalDb::node_checks() const {
  std::vector<NodeCheck> checks = clusters::Installer(options_.install).node_checks();
  if (options_.install.method == "none") {  // apt brings what is missing
    checks.push_back(clusters::binary_check("postgres", std::string(kPgBinDir) + "/postgres",
                                            {"--version"}, "install the postgresql-15 package"));
    checks.push_back(clusters::file_check("pglogical",
                                          "/usr/share/postgresql/15/extension/pglogical.control",
                                          "install the postgresql-15-pglogical package"));
  }
  checks.push_back(clusters::port_check(kPort, "postgres", "PostgreSQL's port"));
  if (options_.power_loss_fs) {
    for (auto& c : clusters::lossyfs_node_checks()) checks.push_back(std::move(c));
  }
  return checks;
}

std::unique_ptr<Client> PglogicalDb::new_client(const std::string& vocabulary) {
  sql::PgConnectOptions co;
  co.port = kPort;
  co.isolation = options_.isolation;
  sql::ClientOptions cl;
  cl.select_for_update = options_.select_for_update;
  cl.retry_codes = options_.retry_codes;
  cl.retry_limit = options_.retry_limit;
  return sql::make_client(vocabulary, sql::make_pg_connector(std::move(co)), std::move(cl));
}

Json PglogicalDb::claims() const {
  std::string level = options_.isolation;
  for (auto& c : level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Json c = {{"level", level + " on each node; asynchronous replication, conflict resolution " +
                          options_.conflict_resolution},
            {"model", "none"},
            {"claim",
             "pglogical replicates asynchronously between nodes and resolves a conflicting update "
             "of a row by its conflict_resolution setting (last_update_wins: the row with the "
             "latest commit timestamp, from the committing node's clock, survives); each node "
             "alone is a PostgreSQL server at its isolation level. Replicas converge once "
             "replication catches up."},
            {"source", "https://github.com/2ndQuadrant/pglogical (README, Conflicts)"},
            {"by-design", Json::object()}};
  if (options_.conflict_resolution == "last_update_wins") {
    c["by-design"]["lww/lost-later-write"] =
        "last_update_wins compares commit timestamps taken from the nodes' own clocks: a write "
        "committed on a node whose clock runs behind loses to an earlier write from a node whose "
        "clock runs ahead";
    c["by-design"]["lost-update"] =
        "two nodes updating one row concurrently is a conflict, and last_update_wins keeps one "
        "of the two updates";
    c["by-design"]["counter/lost-update-pair"] = c["by-design"]["lost-update"];
  }
  return c;
}

Json PglogicalDb::node_settings(const DbContext& ctx, const std::string& node) {
  const std::string out = psql(ctx, node,
                               "SELECT name, setting FROM pg_settings WHERE source NOT IN "
                               "('default', 'override') ORDER BY name;\n",
                               std::chrono::milliseconds(30000));
  Json settings = Json::object();
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    auto bar = line.find('|');
    if (bar != std::string::npos) settings[line.substr(0, bar)] = line.substr(bar + 1);
  }
  return settings;
}

ClockSkews PglogicalDb::clock_skews() const {
  return {5, 30000,
          "pglogical's last_update_wins and first_update_wins compare the writers' commit "
          "timestamps (track_commit_timestamp): an offset larger than the gap between two "
          "conflicting writes, milliseconds at the default rate, reorders them"};
}

void PglogicalDb::kill(const DbContext& ctx, const std::string& node) {
  const auto t0 = Clock::now();
  auto s = open_session(ctx, node);
  const std::string dir = pglogical_node_dir(ctx, node);
  std::string out = trim(run(
      *s, script(kKillScript, {dir, freezer_cgroup(ctx, node)}).with_timeout(milliseconds(60000)),
      "SIGKILL of postgres in " + dir));
  log(ctx, node + ": killed (" + (out.empty() ? std::string("nothing ran") : out) +
               "; every pid gone after " + seconds_since(t0) + ")");
}

std::vector<std::string> PglogicalDb::kick_subscriptions(const DbContext& ctx,
                                                         const std::string& node, bool own) {
  // pglogical's manager retries a lost provider only after a back-off of up to 180 s;
  // disable + enable (separate statements: immediate := true refuses a transaction block)
  // restarts the apply worker now. On the peers that takes ~40 ms. On `node` itself (with
  // `own`) a kick waits ~1 s per subscription for the worker to stop, and a fresh manager
  // starts its workers anyway, so there only the subscriptions not 'replicating' are kicked.
  // A peer that is down, paused or cut off is skipped (10 s at most); it kicks its own
  // subscriptions when it is started or resumed.
  auto kick = [](const std::string& name) {
    return "SELECT pglogical.alter_subscription_disable(" + sql_literal(name) +
           ", true);\nSELECT pglogical.alter_subscription_enable(" + sql_literal(name) +
           ", true);\n";
  };
  std::mutex mu;
  std::vector<std::string> live;
  std::string errors;
  try {
    clusters::on_every_node(ctx.nodes, [&](const std::string& other, size_t) {
      std::string sql;
      if (other == node) {
        if (!own) return;
        std::set<std::string> replicating;
        for (const auto& line :
             split_lines(psql(ctx, node,
                              "SELECT subscription_name FROM pglogical.show_subscription_status() "
                              "WHERE status = 'replicating';",
                              milliseconds(10000)))) {
          replicating.insert(line);
        }
        for (const auto& prov : ctx.nodes) {
          const std::string name = pglogical_subscription_name(node, prov);
          if (prov != node && !replicating.count(name)) sql += kick(name);
        }
      } else {
        sql = kick(pglogical_subscription_name(other, node));
      }
      if (!sql.empty()) psql(ctx, other, sql, milliseconds(other == node ? 30000 : 10000));
      if (other != node) {
        std::lock_guard<std::mutex> lock(mu);
        live.push_back(other);
      }
    });
  } catch (const std::exception& e) {
    log(ctx, node + ": restarting subscriptions: " + e.what());
  }
  std::sort(live.begin(), live.end());
  return live;
}

std::vector<std::string> PglogicalDb::recover(const DbContext& ctx) {
  std::mutex mu;
  std::vector<std::string> live;
  try {
    clusters::on_every_node(ctx.nodes, [&](const std::string& node, size_t) {
      std::string sql;
      for (const auto& line : split_lines(psql(
               ctx, node, "SELECT subscription_name FROM pglogical.show_subscription_status();",
               milliseconds(10000)))) {
        sql += "SELECT pglogical.alter_subscription_disable(" + sql_literal(line) +
               ", true);\nSELECT pglogical.alter_subscription_enable(" + sql_literal(line) +
               ", true);\n";
      }
      if (!sql.empty()) psql(ctx, node, sql, milliseconds(30000));
      std::lock_guard<std::mutex> lock(mu);
      live.push_back(node);
    });
  } catch (const std::exception& e) {
    log(ctx, std::string("recover: ") + e.what());
  }
  std::sort(live.begin(), live.end());
  return live;
}

void PglogicalDb::start(const DbContext& ctx, const std::string& node) {
  const auto t0 = Clock::now();
  start_postgres(ctx, node);
  const std::string started = seconds_since(t0);
  std::string why;
  // The peers' subscriptions from `node` first; the node's own come up by themselves in a
  // fresh postmaster, and are kicked only if they have not after 2 s. Only peers that answer
  // are waited for (a killed or paused peer catches up when it is started or resumed).
  bool ok = false;
  std::vector<std::string> live;
  for (int attempt = 0; attempt < 2 && !ok; ++attempt) {
    live = kick_subscriptions(ctx, node, attempt > 0);
    std::vector<std::string> with_node = live;
    with_node.push_back(node);
    ok =
        wait_replicating(ctx, {node}, with_node, milliseconds(attempt == 0 ? 2000 : 10000), &why) &&
        wait_replicating(ctx, live, {node}, milliseconds(attempt == 0 ? 2000 : 10000), &why);
  }
  std::string peers;
  for (const auto& p : live) peers += " " + p;
  log(ctx, node + ": started (postgres up after " + started + ", " +
               (ok ? "replicating both ways with" + peers + " after " + seconds_since(t0)
                   : "NOT replicating after " + seconds_since(t0) + ":" + why) +
               ")");
}

Json PglogicalDb::leave(const DbContext& ctx, const std::string& node, const std::string& mode) {
  if (mode != "detach") {
    throw ConfigError(std::string(kWhere) + ": no membership mode '" + mode + "' (detach)");
  }
  const auto t0 = Clock::now();
  // The node's own subscriptions and every peer's subscription to it, each on its subscriber,
  // all nodes at once (a drop waits ~1 s for its worker to stop; drop_subscription also drops
  // the slot on the provider when it answers).
  Json dropped = Json::array();
  std::string errors;
  std::mutex mu;
  clusters::on_every_node(ctx.nodes, [&](const std::string& subscriber, size_t) {
    std::vector<std::string> names;
    for (const auto& other : ctx.nodes) {
      if (other == node) continue;
      if (subscriber == node) names.push_back(pglogical_subscription_name(node, other));
      if (subscriber == other) names.push_back(pglogical_subscription_name(other, node));
    }
    std::string sql;
    for (const auto& name : names) {
      sql += "SELECT pglogical.drop_subscription(" + sql_literal(name) + ", true);\n";
    }
    try {
      if (!sql.empty()) psql(ctx, subscriber, sql);
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& name : names) dropped.push_back(name);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu);
      errors += std::string(errors.empty() ? "" : "; ") + e.what();
    }
  });
  if (!errors.empty()) throw std::runtime_error("detaching " + node + ": " + errors);
  log(ctx, node + ": detached (" + std::to_string(dropped.size()) + " subscriptions dropped) in " +
               seconds_since(t0));
  return Json{{"dropped", dropped}};
}

Json PglogicalDb::join(const DbContext& ctx, const std::string& node) {
  const auto t0 = Clock::now();
  std::vector<std::string> others;
  for (const auto& n : ctx.nodes) {
    if (n != node) others.push_back(n);
  }
  // The node subscribes to every peer and each peer to the node, all nodes at once, as the
  // detach dropped them (subscribe_sql leaves a node's subscription to itself out).
  clusters::on_every_node(ctx.nodes, [&](const std::string& n, size_t) {
    psql(ctx, n, subscribe_sql(ctx, n, n == node ? ctx.nodes : std::vector<std::string>{node}));
  });
  std::string why;
  const bool ok = wait_replicating(ctx, {node}, ctx.nodes, milliseconds(60000), &why) &&
                  wait_replicating(ctx, others, {node}, milliseconds(60000), &why);
  if (!ok) {
    throw std::runtime_error(node + ": subscriptions re-created but not replicating after 60 s:" +
                             why + " (see the nodes' server.log)");
  }
  log(ctx, node + ": attached again (" + std::to_string(2 * others.size()) +
               " subscriptions, no data copied) in " + seconds_since(t0));
  return Json{{"subscriptions", static_cast<int64_t>(2 * others.size())},
              {"joined-ms", clusters::ms_count(t0)}};
}

void PglogicalDb::pause(const DbContext& ctx, const std::string& node) {
  auto s = open_session(ctx, node);
  const std::string dir = pglogical_node_dir(ctx, node);
  std::string how = trim(run(
      *s, script(kPauseScript, {dir, freezer_cgroup(ctx, node)}).with_timeout(milliseconds(30000)),
      "pausing postgres in " + dir));
  log(ctx, node + ": paused (" + how + ")");
}

void PglogicalDb::resume(const DbContext& ctx, const std::string& node) {
  auto s = open_session(ctx, node);
  const std::string dir = pglogical_node_dir(ctx, node);
  run(*s, script(kResumeScript, {dir, freezer_cgroup(ctx, node)}), "resuming postgres in " + dir);
  kick_subscriptions(ctx, node, true);
  log(ctx, node + ": resumed");
}

namespace {

const bool registered = DbRegistry::add(
    "db", "pglogical",
    "PostgreSQL 15 + pglogical 2, bidirectional mesh, last-update-wins (open BDR / PGD stand-in)",
    [](const Json& options) -> std::unique_ptr<Db> {
      return std::make_unique<PglogicalDb>(PglogicalOptions::parse(options));
    },
    kPglogicalOptions);

}  // namespace
}  // namespace faultline

namespace faultline {

void PglogicalDb::before_final_reads(const DbContext& ctx, const std::string& vocabulary,
                                     bool faults_ran) {
  auto t0 = std::chrono::steady_clock::now();
  if (faults_ran) {
    auto nodes = recover(ctx);
    log(ctx, "subscriptions restarted on " + std::to_string(nodes.size()) + " nodes");
  }
  std::string why;
  bool same = converge(ctx, vocabulary, std::chrono::seconds(15), &why, std::chrono::seconds(4));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log(ctx, same ? "nodes converged before the final reads (" + std::to_string(s) + " s)"
                : "nodes still differ after " + std::to_string(s) + " s (" + why +
                      "); the final reads will show it");
}

}  // namespace faultline
