#include "clusters/galera/galera_db.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "clusters/common/checks.h"
#include "clusters/common/daemon.h"
#include "clusters/common/install.h"
#include "clusters/common/launch.h"
#include "clusters/common/nodes.h"
#include "clusters/common/text.h"
#include "clusters/common/wait.h"
#include "clusters/galera/arbitrator.h"
#include "clusters/mariadb/server.h"
#include "clusters/sql/mariadb_connection.h"
#include "clusters/sql/sql.h"
#include "harness/checker.h"
#include "harness/db.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/remote.h"
#include "harness/secure_dir.h"

namespace faultline::galera {
namespace {

using Clock = std::chrono::steady_clock;
using clusters::log;
using clusters::ms_count;
using clusters::ms_since;
using clusters::trim;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kWhere = "db 'galera'";
constexpr const char* kProvider = "/usr/lib/galera/libgalera_smm.so";
// Percona XtraDB Cluster 8.x (Percona's apt repository, percona-xtradb-cluster): mysqld with its
// own Galera 4 build.
constexpr const char* kPxcProvider = "/usr/lib/galera4/libgalera_smm.so";

// The db-options, as parse_options read them (the defaults are kGaleraOptions').
struct Options {
  mariadb::SessionOptions session;  // isolation, flush-log-at-trx-commit, select-for-update
  int sync_wait = 0;
  std::string provider_options;
  bool fast_failure_detection = true;
  std::string dir;
  int start_timeout_s = 120;
  bool arbitrator = false;  // the last node runs garbd (arbitrator_nodes)
  bool pxc = false;         // flavor pxc: Percona XtraDB Cluster
  std::string pxc_strict_mode = "ENFORCING";
  clusters::InstallSpec install;  // none or apt (clusters/common/install.h)
};

class GaleraDb : public Db,
                 public Killable,
                 public Pausable,
                 public LosesPower,
                 public ChangesMembership {
 public:
  explicit GaleraDb(Options o)
      : o_(std::move(o)),
        servers_(kWhere, o_.dir, /*port=*/4567,
                 o_.pxc ? mariadb::mysql_flavor() : mariadb::mariadb_flavor()),
        arb_(servers_) {
    servers_.use_power_loss_fs(o_.session.power_loss_fs);
  }

  bool on_power_loss_fs() const override { return servers_.power_loss_fs(); }
  void make_durable(const DbContext& ctx) override { servers_.make_durable(ctx); }
  Json lose_unsynced(const DbContext& ctx, const std::string& node, const PowerLoss& how) override {
    if (is_arbitrator(ctx, node)) return Json{{"arbitrator", "garbd keeps no data"}};
    return servers_.lose_unsynced(ctx, node, how);
  }

  std::string name() const override { return "galera"; }
  std::vector<std::string> client_nodes(
      const std::vector<std::string>& nodes,
      const std::map<std::string, std::string>& roles) const override {
    return without(nodes, arbitrator_nodes(nodes, roles, o_.arbitrator));
  }
  std::vector<std::string> vocabularies() const override { return sql::vocabularies(); }
  std::vector<NodeCheck> node_checks() const override {
    std::vector<NodeCheck> checks = clusters::Installer(o_.install).node_checks();
    if (o_.install.method == "none") {  // apt brings what is missing
      if (o_.pxc) {
        checks.push_back(clusters::binary_check(
            "mysqld", mariadb::kMysqld, {"--version"},
            "install percona-xtradb-cluster-server from Percona's apt repository"));
        checks.push_back(clusters::file_check(
            "galera", kPxcProvider, "install percona-xtradb-cluster-server (it ships Galera 4)"));
      } else {
        checks.push_back(clusters::binary_check("mariadbd", mariadb::kMariadbd, {"--version"},
                                                "install the mariadb-server package"));
        checks.push_back(clusters::file_check("galera", kProvider, "install the galera-4 package"));
        checks.push_back(clusters::binary_check("rsync", "/usr/bin/rsync", {"--version"},
                                                "install rsync (Galera's state transfer uses it)"));
      }
      if (o_.arbitrator) {  // (an inventory role is not known here)
        checks.push_back(clusters::binary_check("garbd", kGarbd, {"--version"},
                                                "install the galera-arbitrator-4 package"));
      }
    }
    for (auto& c : std::vector<NodeCheck>{
             clusters::port_check(3306, servers_.server_name(), "the client port"),
             clusters::port_check(4567, servers_.server_name(), "Galera's group communication"),
             clusters::port_check(4568, servers_.server_name(),
                                  "Galera's incremental state transfer"),
             clusters::port_check(4444, servers_.server_name(), "Galera's state transfer")}) {
      checks.push_back(std::move(c));
    }
    if (servers_.power_loss_fs()) {
      for (auto& c : clusters::lossyfs_node_checks()) checks.push_back(std::move(c));
    }
    return checks;
  }

  Json claims() const override {
    const std::string& iso = o_.session.isolation;
    const std::string model = iso == "read-uncommitted" ? "read-uncommitted"
                              : iso == "read-committed" ? "read-committed"
                                                        : "snapshot-isolation";
    Json c = {
        {"level", mariadb::isolation_words(o_.session)},
        {"model", model},
        {"claim",
         std::string(o_.pxc ? "Percona XtraDB Cluster" : "MariaDB Galera Cluster") +
             " certifies each transaction's write set against those committed concurrently on "
             "any node (first committer wins); Codership documents the isolation between "
             "transactions on different nodes as snapshot isolation at REPEATABLE READ "
             "(SERIALIZABLE holds only among transactions of one node). MariaDB's Known "
             "Limitations page also warns of lost updates and stale reads."},
        {"source",
         "https://galeracluster.com/library/training/tutorials/"
         "supporting-transaction-isolation-levels.html; https://mariadb.com/docs/galera-cluster/"
         "reference/mariadb-galera-cluster-known-limitations"},
        {"by-design", Json::object()}};
    if (o_.sync_wait == 0) {
      c["by-design"]["linearizable/nonlinearizable"] =
          "wsrep_sync_wait = 0 (the default): a read does not wait for write sets certified on "
          "other nodes to be applied, so reads on one node may miss writes acknowledged on "
          "another (documented: set wsrep_sync_wait for causal reads)";
    }
    return c;
  }

  Json node_settings(const DbContext& ctx, const std::string& node) override {
    const std::vector<std::string> data = data_nodes(ctx);
    if (std::find(data.begin(), data.end(), node) == data.end()) return nullptr;  // garbd
    return servers_.settings(ctx, node);
  }

  std::string version(const DbContext& ctx) override {
    if (ctx.nodes.empty() || !ctx.remote) return "unknown";
    try {
      const std::string first = data_nodes(ctx).front();
      auto s = ctx.remote->session(first);
      std::string v = mariadb::server_version_words(
          s->run_checked(Command{servers_.flavor().server, "--version"}).out);
      ExecResult g = s->exec(servers_.cli(ctx, first, "SHOW STATUS LIKE 'wsrep_provider_version'"));
      if (g.ok()) {
        auto tab = g.out.find('\t');
        if (tab != std::string::npos) v += " + Galera " + trim(g.out.substr(tab + 1));
      }
      return v;
    } catch (const std::exception&) {
      return "unknown";
    }
  }

  void setup(const DbContext& ctx) override {
    clusters::require_remote(ctx, kWhere);
    clusters::Installer(o_.install)
        .install_all(ctx, servers_.server_name(), servers_.flavor().server);
    log(ctx, "galera: stopping leftovers and writing configuration on " +
                 std::to_string(ctx.nodes.size()) + " nodes");
    const std::vector<std::string> data = data_nodes(ctx);
    clusters::on_every_node(ctx.nodes, [&](const std::string& n, size_t) {
      auto s = ctx.remote->session(n);
      Arbitrator::stop(*s, n, arb_.paths(ctx, n), "TERM");
      servers_.stop_node(ctx, *s, n, /*wipe=*/true);
      if (is_arbitrator(ctx, n)) {
        const std::string address = clusters::own_address(ctx, *s, n);
        servers_.check_name("address of node " + n, address);
        arb_.write_config(
            ctx, *s, n,
            garbd_config(hosts(ctx), "faultline", provider_options(ctx, n, /*garbd=*/true),
                         arb_.paths(ctx, n).log));
      } else {
        write_config(ctx, *s, n);
      }
    });
    const std::string& first = data.front();
    auto t0 = Clock::now();
    {
      auto s = ctx.remote->session(first);
      servers_.install_db(ctx, *s, first);
      std::string pid = servers_.launch(ctx, *s, first, {"--wsrep-new-cluster"});
      wait_synced(ctx, *s, first, 0, pid);
      s->run_checked(servers_.cli(ctx, first,
                                  "CREATE USER IF NOT EXISTS 'faultline'@'%' IDENTIFIED BY "
                                  "'faultline'; GRANT ALL ON *.* TO 'faultline'@'%'; CREATE "
                                  "DATABASE IF NOT EXISTS faultline;"));
    }
    log(ctx, "galera: " + first + " bootstrapped in " + ms_since(t0));
    // The joiners start together: a donor serves one SST at a time and the others retry
    // their request every second, so the transfers still run one after another, but each
    // joiner's start-up and the next transfer's request overlap (3 nodes: 17 s serial, less
    // together).
    const std::vector<std::string> joiners(data.begin() + 1, data.end());
    clusters::on_every_node(joiners, [&](const std::string& n, size_t) {
      auto t = Clock::now();
      auto s = ctx.remote->session(n);
      launch_and_wait(ctx, *s, n, {});
      log(ctx, "galera: " + n + " joined (SST) in " + ms_since(t));
    });
    for (const auto& n : arbitrators(ctx)) {
      auto t = Clock::now();
      launch_arbitrator(ctx, n);
      log(ctx, "galera: " + n + " runs the arbitrator (garbd), joined in " + ms_since(t));
    }
    auto s = ctx.remote->session(first);
    wait_synced(ctx, *s, first, static_cast<int>(ctx.nodes.size()));
    log(ctx, "galera: " + std::to_string(ctx.nodes.size()) + " nodes synced in " + ms_since(t0));
  }

  void prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) override {
    clusters::require_remote(ctx, kWhere);
    sql::MariaDbOptions mo = client_options();
    const std::vector<std::string> data = data_nodes(ctx);
    auto c = connect_mariadb(host(ctx, data.front()), mo, seconds(30));
    for (const auto& st : sql::schema_statements(vocabulary, sql::Dialect::kMySql, params)) {
      c->query(st);
    }
    auto rows = sql::initial_rows(vocabulary, sql::Dialect::kMySql, params);
    for (const auto& st : rows) c->query(st);
    // Every node sees the tables and rows (causal read: waits for the node to apply them).
    mo.sync_wait = 1;
    for (const auto& n : data) {
      auto cn = connect_mariadb(host(ctx, n), mo, seconds(30));
      for (const auto& t : sql::tables(vocabulary)) {
        auto r = cn->query("SELECT COUNT(*) FROM " + t);
        (void)r;
      }
    }
    log(ctx,
        "galera: prepared '" + vocabulary + "' (" + std::to_string(rows.size()) + " initial rows)");
  }

  void teardown(const DbContext& ctx) override {
    if (!ctx.remote) return;
    clusters::on_every_node(arbitrators(ctx), [&](const std::string& n, size_t) {
      auto s = ctx.remote->session(n);
      Arbitrator::stop(*s, n, arb_.paths(ctx, n), "TERM");
    });
    servers_.stop_all(ctx);
  }

  std::map<std::string, std::vector<std::string>> log_files(const DbContext& ctx) override {
    auto out = servers_.log_files(ctx);
    for (const auto& n : arbitrators(ctx)) {
      const Arbitrator::Paths p = arb_.paths(ctx, n);
      out[n] = {p.log, p.stdout_log};
    }
    return out;
  }

  std::unique_ptr<Client> new_client(const std::string& vocabulary) override {
    sql::ClientOptions co;
    co.select_for_update = o_.session.select_for_update;
    co.before_final_read = "SET SESSION wsrep_sync_wait = 1";
    return sql::make_client(vocabulary, sql::mariadb_connector(client_options()), co);
  }

  // --- ChangesMembership -------------------------------------------------------------------
  // "leave": a clean shutdown (SIGTERM): the node says goodbye to the group, which shrinks to
  // the others; it comes back by IST from a donor's gcache. "wipe": the same, and its data
  // directory emptied (kept itself: with power-loss-fs it is a mount point): it comes back as
  // a new node, by SST. An arbitrator just stops and starts.
  std::vector<std::string> leave_modes() const override { return {"leave", "wipe"}; }

  Json leave(const DbContext& ctx, const std::string& node, const std::string& mode) override {
    auto s = ctx.remote->session(node);
    auto t0 = Clock::now();
    if (is_arbitrator(ctx, node)) {
      Arbitrator::stop(*s, node, arb_.paths(ctx, node), "TERM");
      return Json{{"arbitrator", "stopped"}};
    }
    const mariadb::Paths p = servers_.paths(ctx, node);
    servers_.signal_and_wait(*s, node, p, "TERM", seconds(60));
    Json r = {{"shutdown-ms", ms_count(t0)}};
    if (mode == "wipe") {
      s->run_checked(
          Command{"find", p.data, "-mindepth", "1", "-delete"}.with_timeout(seconds(60)));
      r["wiped"] = p.data;
    }
    log(ctx, "galera: " + node + " left the cluster (" + mode + ") in " + ms_since(t0));
    return r;
  }

  Json join(const DbContext& ctx, const std::string& node) override {
    auto t0 = Clock::now();
    start(ctx, node);
    log(ctx, "galera: " + node + " joined again in " + ms_since(t0));
    return Json{{"joined-ms", ms_count(t0)}};
  }

  // --- Killable ---------------------------------------------------------------------------
  void kill(const DbContext& ctx, const std::string& node) override {
    if (is_arbitrator(ctx, node)) {
      auto s = ctx.remote->session(node);
      Arbitrator::stop(*s, node, arb_.paths(ctx, node), "KILL");
      return;
    }
    servers_.kill(ctx, node);
  }

  void start(const DbContext& ctx, const std::string& node) override {
    std::lock_guard<std::mutex> lk(start_mu_);
    if (is_arbitrator(ctx, node)) {
      start_arbitrator(ctx, node);
      return;
    }
    start_data_node(ctx, node);
    // An arbitrator started while no data node ran could not join anything: it joins now.
    for (const auto& a : std::exchange(waiting_arbitrators_, {})) start_arbitrator(ctx, a);
  }

  // --- Pausable ---------------------------------------------------------------------------
  void pause(const DbContext& ctx, const std::string& node) override {
    if (is_arbitrator(ctx, node)) {
      auto s = ctx.remote->session(node);
      Arbitrator::signal(*s, node, arb_.paths(ctx, node), "STOP");
      return;
    }
    servers_.pause(ctx, node);
  }
  // Idempotent: a node whose server is not running has nothing to resume.
  void resume(const DbContext& ctx, const std::string& node) override {
    if (is_arbitrator(ctx, node)) {
      auto s = ctx.remote->session(node);
      const Arbitrator::Paths p = arb_.paths(ctx, node);
      if (Arbitrator::running(*s, p)) Arbitrator::signal(*s, node, p, "CONT");
      return;
    }
    servers_.resume(ctx, node);
  }

 private:
  static std::vector<std::string> without(const std::vector<std::string>& nodes,
                                          const std::vector<std::string>& drop) {
    std::vector<std::string> out;
    for (const auto& n : nodes) {
      if (std::find(drop.begin(), drop.end(), n) == drop.end()) out.push_back(n);
    }
    return out;
  }
  std::vector<std::string> arbitrators(const DbContext& ctx) const {
    return arbitrator_nodes(ctx.nodes, ctx.roles, o_.arbitrator);
  }
  bool is_arbitrator(const DbContext& ctx, const std::string& node) const {
    auto a = arbitrators(ctx);
    return std::find(a.begin(), a.end(), node) != a.end();
  }
  // The nodes that run mariadbd (never empty: arbitrator_nodes throws first).
  std::vector<std::string> data_nodes(const DbContext& ctx) const {
    return without(ctx.nodes, arbitrators(ctx));
  }
  static std::vector<std::string> hosts(const DbContext& ctx) {
    std::vector<std::string> out;
    for (const auto& n : ctx.nodes) out.push_back(host(ctx, n));
    return out;
  }

  // Launches garbd on `node` and waits until a data node in a primary component counts it
  // (wsrep_cluster_size reaches every running member). Throws with garbd's log when it dies
  // or is not counted within start-timeout-s.
  void launch_arbitrator(const DbContext& ctx, const std::string& node) {
    auto s = ctx.remote->session(node);
    const Arbitrator::Paths p = arb_.paths(ctx, node);
    const std::string pid = arb_.launch(ctx, *s, node);
    std::string last = "no data node answered";
    bool died = false;
    const bool joined =
        clusters::poll_until(Clock::now() + seconds(o_.start_timeout_s), milliseconds(250), [&] {
          if (!s->exec(Command{"kill", "-0", pid}).ok()) return died = true;
          int64_t members = 0;
          std::vector<std::map<std::string, std::string>> seen;
          for (const auto& n : ctx.nodes) {
            auto o = ctx.remote->session(n);
            if (is_arbitrator(ctx, n)) {
              members += Arbitrator::running(*o, arb_.paths(ctx, n)) ? 1 : 0;
            } else if (servers_.running(*o, servers_.paths(ctx, n))) {
              ++members;
              seen.push_back(status(ctx, *o, n));
            }
          }
          for (auto& st : seen) {
            if (st["wsrep_cluster_status"] != "Primary") continue;
            last = "a primary component of " + st["wsrep_cluster_size"] + " of " +
                   std::to_string(members) + " running members";
            if (st.count("wsrep_cluster_size") && std::stoll(st["wsrep_cluster_size"]) >= members)
              return true;
          }
          return false;
        });
    if (joined && !died) return;
    throw RemoteError(node, std::string(died ? "garbd exited" : "garbd was not counted") +
                                " within " + std::to_string(o_.start_timeout_s) + " s (last: " +
                                last + "); " + p.log + " ends:\n" + Arbitrator::log_tail(*s, p));
  }

  // Restart of an arbitrator: it can only join a primary component of data nodes; with none
  // (every data node down, or none primary yet), it waits for the next data node's start.
  void start_arbitrator(const DbContext& ctx, const std::string& node) {
    auto s = ctx.remote->session(node);
    if (Arbitrator::running(*s, arb_.paths(ctx, node))) return;
    bool primary = false;
    for (const auto& n : data_nodes(ctx)) {
      auto o = ctx.remote->session(n);
      if (!servers_.running(*o, servers_.paths(ctx, n))) continue;
      primary = primary || status(ctx, *o, n)["wsrep_cluster_status"] == "Primary";
    }
    if (!primary) {
      log(ctx, "galera: " + node +
                   ": no data node is in a primary component; the arbitrator starts after the "
                   "next data node does");
      if (std::find(waiting_arbitrators_.begin(), waiting_arbitrators_.end(), node) ==
          waiting_arbitrators_.end()) {
        waiting_arbitrators_.push_back(node);
      }
      return;
    }
    launch_arbitrator(ctx, node);
  }

  void start_data_node(const DbContext& ctx, const std::string& node) {
    const std::vector<std::string> data = data_nodes(ctx);
    auto s = ctx.remote->session(node);
    if (servers_.running(*s, servers_.paths(ctx, node))) return;
    // Which other nodes run, and whether they form a primary component. Right after a kill
    // the survivors still count the dead in their view until failure detection evicts them
    // (seconds): wait until no survivor's view is larger than the nodes that really run.
    std::vector<std::string> up;
    bool primary = false;
    clusters::poll_until(Clock::now() + seconds(30), milliseconds(500), [&] {
      up.clear();
      primary = false;
      std::vector<int64_t> primary_sizes;
      int64_t garbds = 0;  // running arbitrators count in a view too
      for (const auto& n : arbitrators(ctx)) {
        auto o = ctx.remote->session(n);
        garbds += Arbitrator::running(*o, arb_.paths(ctx, n)) ? 1 : 0;
      }
      for (const auto& n : data) {
        if (n == node) continue;
        auto o = ctx.remote->session(n);
        if (!servers_.running(*o, servers_.paths(ctx, n))) continue;
        up.push_back(n);
        auto st = status(ctx, *o, n);
        if (st["wsrep_cluster_status"] != "Primary") continue;
        primary = true;
        primary_sizes.push_back(
            st.count("wsrep_cluster_size") ? std::stoll(st["wsrep_cluster_size"]) : 0);
      }
      bool settled = true;
      for (int64_t size : primary_sizes) {
        if (size > static_cast<int64_t>(up.size()) + garbds) settled = false;
      }
      return settled;
    });
    if (primary) {
      // A primary component exists: join it (IST, or SST after a crash).
      launch_and_wait(ctx, *s, node, {});
      return;
    }
    if (up.empty()) {
      recover_whole_cluster(ctx, node);
      return;
    }
    // Nodes run but none is in a primary component (the survivors of a killed majority): this
    // node cannot join yet. Start it from its own recovered position and return; once every
    // node runs, restore a primary component.
    std::string pos = recovered_position(ctx, *s, node);
    servers_.launch(ctx, *s, node,
                    pos.empty() ? std::vector<std::string>{}
                                : std::vector<std::string>{"--wsrep-start-position=" + pos});
    if (up.size() + 1 == data.size()) restore_primary(ctx);
  }

  static std::string host(const DbContext& ctx, const std::string& node) {
    return clusters::host_of(ctx, node);
  }

  sql::MariaDbOptions client_options() const {
    sql::MariaDbOptions mo;
    mo.isolation = o_.session.isolation;
    mo.tls = o_.pxc;  // MySQL 8's caching_sha2_password
    return mo;
  }

  // wsrep_provider_options of `node` (garbd's take no gcache: it stores nothing).
  std::string provider_options(const DbContext& ctx, const std::string& node, bool garbd) const {
    std::string provider = garbd ? "" : "gcache.size=64M";
    if (o_.fast_failure_detection) {
      provider += garbd ? "" : ";";
      provider +=
          "evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.install_timeout=PT4S;"
          "evs.keepalive_period=PT0.5S;evs.inactive_check_period=PT0.5S";
    }
    if (o_.provider_options.find("gmcast.segment") == std::string::npos) {
      auto segments = galera_segments(ctx.nodes, ctx.dcs);
      if (auto it = segments.find(node); it != segments.end()) {
        provider += ";gmcast.segment=" + std::to_string(it->second);
      }
    }
    if (!o_.provider_options.empty())
      provider += (provider.empty() ? "" : ";") + o_.provider_options;
    return provider;
  }

  std::string config(const DbContext& ctx, const std::string& node, const std::string& address) {
    mariadb::Paths p = servers_.paths(ctx, node);
    std::string gcomm;
    for (const auto& n : ctx.nodes) gcomm += (gcomm.empty() ? "" : ",") + host(ctx, n);
    const std::string provider = provider_options(ctx, node, /*garbd=*/false);
    std::ostringstream c;
    c << "[mysqld]\nuser=mysql\ndatadir=" << p.data << "\nsocket=" << p.socket
      << "\npid-file=" << p.pid << "\nlog-error=" << p.error_log << "\nbind-address=" << address
      << "\nport=3306\nskip-name-resolve\nperformance_schema=OFF\nbinlog_format=ROW\n"
      << "default_storage_engine=InnoDB\ninnodb_autoinc_lock_mode=2\n"
      << "innodb_buffer_pool_size=64M\ninnodb_log_file_size=32M\n"
      << "innodb_flush_log_at_trx_commit=" << o_.session.flush_log
      << "\nwsrep_on=ON\nwsrep_provider=" << (o_.pxc ? kPxcProvider : kProvider)
      << "\nwsrep_cluster_name=faultline\nwsrep_cluster_address=gcomm://" << gcomm
      << "\nwsrep_node_address=" << address << "\nwsrep_node_name=" << node
      << "\nwsrep_sst_method=" << (o_.pxc ? "xtrabackup-v2" : "rsync")
      << "\nwsrep_sync_wait=" << o_.sync_wait << "\nwsrep_provider_options=\"" << provider
      << "\"\nmax_connections=500\n";
    if (o_.pxc) {
      // PXC 8 encrypts cluster traffic by default with certificates that must be the same on
      // every node; each node's --initialize makes its own, so it is off here (as Percona's
      // own quick start does). pxc_strict_mode refuses what Galera cannot replicate safely.
      c << "pxc_strict_mode=" << o_.pxc_strict_mode << "\npxc-encrypt-cluster-traffic=OFF\n";
    }
    c << "[client]\nsocket=" << p.socket << "\nuser=root\n";
    return c.str();
  }

  void write_config(const DbContext& ctx, Session& s, const std::string& node) {
    const std::string address = clusters::own_address(ctx, s, node);
    servers_.check_name("address of node " + node, address);
    servers_.write_config(ctx, s, node, config(ctx, node, address));
  }

  // Launches mariadbd on `node` (to join a primary component or bootstrap one) and waits until
  // it is Synced. A state transfer can fail for reasons outside the database's state (the
  // rsync SST script's checks of its daemon race on a loaded machine: "rsync daemon ...
  // terminated unexpectedly", "port has been taken"; seen once in CI): when the process dies
  // and its error log, since this launch, names a failed state transfer, the launch is tried
  // again, up to 3 times in all, each failure logged with its lines. Any other death, and a
  // node still starting at the deadline, throws at once.
  void launch_and_wait(const DbContext& ctx, Session& s, const std::string& node,
                       const std::vector<std::string>& extra) {
    mariadb::Paths p = servers_.paths(ctx, node);
    constexpr int kAttempts = 3;
    for (int attempt = 1;; ++attempt) {
      std::string offset = trim(
          s.exec(Command::shell("stat -c %s \"$1\" 2>/dev/null || echo 0", {p.error_log})).out);
      std::string pid = servers_.launch(ctx, s, node, extra);
      bool died = false;
      try {
        wait_synced(ctx, s, node, 0, pid, &died);
        return;
      } catch (const RemoteError&) {
        if (!died || attempt == kAttempts) throw;
        // The lines this launch wrote about the state transfer.
        ExecResult sst = s.exec(Command::shell(
            "tail -c +$(($2 + 1)) \"$1\" | grep -i -E 'sst|state transfer|address already in use' "
            "| tail -n 6",
            {p.error_log, offset.empty() ? "0" : offset}));
        if (trim(sst.out).empty()) throw;
        log(ctx, "galera: " + node + ": state transfer failed (attempt " + std::to_string(attempt) +
                     " of " + std::to_string(kAttempts) + "), starting it again; " + p.error_log +
                     ":\n" + trim(sst.out));
        // SIGKILLed or exited processes linger for up to ~2 s here; the next launch must not
        // find the old one's socket, pid file or SST daemon.
        servers_.signal_and_wait(s, node, p, "KILL", seconds(20));
        s.exec(Command::shell("pkill -KILL -f -- \"[r]sync --daemon.*$1\" || true", {p.data}));
        std::this_thread::sleep_for(seconds(1));
      }
    }
  }

  // Before final reads after faults: a node that was partitioned away or restarted rejoins
  // (IST/SST) for a while after heal and refuses reads ("1047: WSREP has not yet prepared node
  // for application use"), so its final read failed and it went unjudged. Wait, up to 30 s
  // and in parallel, until every node is Synced and ready; never throws (a node still not
  // ready is logged, its final read fails and the checkers list it).
  void before_final_reads(const DbContext& ctx, const std::string& vocabulary,
                          bool faults_ran) override {
    (void)vocabulary;
    if (!faults_ran || !ctx.remote) return;
    const auto t0 = Clock::now();
    const auto until = t0 + seconds(30);
    std::mutex mu;
    std::vector<std::string> late;
    clusters::on_every_node(data_nodes(ctx), [&](const std::string& n, size_t) {
      try {
        auto s = ctx.remote->session(n);
        if (clusters::poll_until(until, milliseconds(250), [&] {
              auto st = status(ctx, *s, n);
              return st["wsrep_ready"] == "ON" && st["wsrep_local_state_comment"] == "Synced";
            })) {
          return;
        }
      } catch (const std::exception&) {
      }
      std::lock_guard<std::mutex> lk(mu);
      late.push_back(n);
    });
    if (late.empty()) {
      log(ctx, "galera: every node Synced for the final reads after " + ms_since(t0));
    } else {
      std::string names;
      for (const auto& n : late) names += (names.empty() ? "" : ", ") + n;
      log(ctx, "galera: not Synced 30 s after heal: " + names + " (their final reads may fail)");
    }
  }

  // Waits until `node` answers wsrep_ready=ON and Synced (and, when cluster_size > 0, sees
  // that many nodes). Throws with the tail of its error log when it dies or times out.
  // `died`, when given, is set when the launched process was gone (rather than still starting
  // at the deadline).
  void wait_synced(const DbContext& ctx, Session& s, const std::string& node, int cluster_size,
                   const std::string& pid = "", bool* died = nullptr) {
    mariadb::Paths p = servers_.paths(ctx, node);
    std::string last;
    int dead_checks = 0;
    bool synced = false;
    clusters::poll_until(Clock::now() + seconds(o_.start_timeout_s), milliseconds(250), [&] {
      ExecResult r = s.exec(servers_.cli(ctx, node,
                                         "SHOW STATUS WHERE Variable_name IN ('wsrep_ready', "
                                         "'wsrep_local_state_comment', 'wsrep_cluster_size')"));
      if (r.ok()) {
        auto st = mariadb::status_lines(r.out);
        last = "ready=" + st["wsrep_ready"] + " state=" + st["wsrep_local_state_comment"] +
               " size=" + st["wsrep_cluster_size"];
        bool size_ok =
            cluster_size == 0 || st["wsrep_cluster_size"] == std::to_string(cluster_size);
        synced =
            st["wsrep_ready"] == "ON" && st["wsrep_local_state_comment"] == "Synced" && size_ok;
        return synced;
      }
      last = mariadb::tail(r.err, 200);
      // The process we launched is gone (or, without its pid, none runs for 5 s): it died.
      if (!pid.empty() ? !s.exec(Command{"kill", "-0", pid}).ok()
                       : (!servers_.running(s, p) && ++dead_checks > 20)) {
        if (died) *died = true;
        if (!pid.empty()) mariadb::Servers::remove_launch_leftovers(s, pid);
        return true;  // no use waiting longer
      }
      return false;
    });
    if (synced) return;
    throw RemoteError(
        node,
        "mariadbd did not become Synced" +
            std::string(cluster_size ? " with " + std::to_string(cluster_size) + " nodes" : "") +
            " (last: " + last + "); " + p.error_log + " ends:\n" +
            // Without the once-a-second reconnect attempts to down peers.
            clusters::log_tail(s, p.error_log, 15, "Failed to establish connection"));
  }

  // SHOW STATUS of the wsrep variables through the node's socket ({} when it does not answer).
  std::map<std::string, std::string> status(const DbContext& ctx, Session& s,
                                            const std::string& node) {
    Command read = servers_.cli(ctx, node, "SHOW STATUS LIKE 'wsrep_%'");
    read.idempotent = true;  // a read: retried after a dropped connection
    ExecResult r = s.exec(read);
    return r.ok() ? mariadb::status_lines(r.out) : std::map<std::string, std::string>{};
  }

  // The last committed position of a stopped node (mariadbd --wsrep-recover), "" if unknown.
  std::string recovered_position(const DbContext& ctx, Session& s, const std::string& node) {
    static const std::regex re(R"(Recovered position:\s*([0-9a-f-]+:-?\d+))");
    mariadb::Paths p = servers_.paths(ctx, node);
    // As mysql: the log is in mysql's directory (see launch).
    s.exec(Command::shell("rm -f \"$1\"; setpriv --reuid=mysql --regid=mysql --init-groups "
                          "\"$2\" --defaults-file=\"$3\" --wsrep-recover --log-error=\"$1\" > "
                          "/dev/null 2>&1",
                          {p.recover_log, servers_.flavor().server, p.cnf})
               .with_timeout(seconds(120)));
    std::string text = s.exec(Command{"cat", p.recover_log}).out;
    std::smatch m;
    return std::regex_search(text, m, re) ? m[1].str() : "";
  }

  // Every node runs and none is in a primary component. Galera restores the last one by itself
  // when all its members are back (pc.recovery); otherwise bootstrap one on the node with the
  // highest committed seqno (pc.bootstrap), so nothing acknowledged is dropped. Then wait
  // until every node is Synced.
  void restore_primary(const DbContext& ctx) {
    const std::vector<std::string> data = data_nodes(ctx);
    const bool primary = clusters::poll_until(Clock::now() + seconds(20), milliseconds(500), [&] {
      for (const auto& n : data) {
        auto o = ctx.remote->session(n);
        if (status(ctx, *o, n)["wsrep_cluster_status"] == "Primary") return true;
      }
      return false;
    });
    if (!primary) {
      std::string best;
      int64_t best_seqno = -2;
      for (const auto& n : data) {
        auto o = ctx.remote->session(n);
        auto st = status(ctx, *o, n);
        if (st.count("wsrep_last_committed") == 0) continue;
        int64_t seqno = std::stoll(st["wsrep_last_committed"]);
        if (seqno > best_seqno) best = n, best_seqno = seqno;
      }
      if (best.empty()) {
        throw RemoteError(data.front(),
                          "no primary component and no node answers: cannot restore the cluster");
      }
      log(ctx, "galera: no primary component; bootstrapping one on " + best + " (seqno " +
                   std::to_string(best_seqno) + ")");
      auto o = ctx.remote->session(best);
      o->run_checked(
          servers_.cli(ctx, best, "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'"));
    }
    for (const auto& n : data) {
      auto o = ctx.remote->session(n);
      wait_synced(ctx, *o, n, 0);
    }
  }

  // No node runs: recover every node's last position, bootstrap from the most advanced one,
  // then start `node` (the others are started by later start() calls).
  void recover_whole_cluster(const DbContext& ctx, const std::string& node) {
    std::map<std::string, std::pair<std::string, int64_t>> pos;  // node -> (uuid:seqno, seqno)
    std::mutex mu;
    clusters::on_every_node(data_nodes(ctx), [&](const std::string& n, size_t) {
      auto s = ctx.remote->session(n);
      std::string p = recovered_position(ctx, *s, n);
      if (p.empty()) return;
      std::lock_guard<std::mutex> lk(mu);
      pos[n] = {p, std::stoll(p.substr(p.rfind(':') + 1))};
    });
    if (pos.empty()) {
      throw RemoteError(node, "whole-cluster recovery: no node reported a recovered position");
    }
    std::string best = pos.begin()->first;
    for (const auto& [n, v] : pos) {
      if (v.second > pos[best].second) best = n;
    }
    log(ctx,
        "galera: whole-cluster recovery, bootstrapping from " + best + " at " + pos[best].first);
    {
      auto s = ctx.remote->session(best);
      mariadb::Paths p = servers_.paths(ctx, best);
      s->run_checked(Command{"sed", "-i", "s/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/",
                             p.data + "/grastate.dat"});
      // The saved view of the old primary component (pc.recovery) would make this node wait
      // for members that are down; the new component starts from the recovered position.
      s->run_checked(Command{"rm", "-f", p.data + "/gvwstate.dat"});
      std::string pid = servers_.launch(
          ctx, *s, best, {"--wsrep-new-cluster", "--wsrep-start-position=" + pos[best].first});
      wait_synced(ctx, *s, best, 0, pid);
    }
    if (node != best) {
      auto s = ctx.remote->session(node);
      s->run_checked(Command{"rm", "-f", servers_.paths(ctx, node).data + "/gvwstate.dat"});
      std::vector<std::string> extra;
      if (pos.count(node)) extra.push_back("--wsrep-start-position=" + pos[node].first);
      launch_and_wait(ctx, *s, node, extra);
    }
  }

  Options o_;
  mariadb::Servers servers_;
  Arbitrator arb_;  // refers to servers_
  std::mutex start_mu_;
  std::vector<std::string> waiting_arbitrators_;  // started with no primary to join (start_mu_)
};

const OptionDecls kGaleraOptions = {
    mariadb::isolation_option(),
    mariadb::flush_log_option(),
    {"sync-wait", 0, "wsrep_sync_wait bitmask 0-15 (1: causal reads)"},
    mariadb::select_for_update_option(),
    clusters::power_loss_fs_option(),
    {"provider-options", "", "extra wsrep_provider_options"},
    {"fast-failure-detection", true, "short evs timeouts, so partitions are noticed in seconds"},
    {"dir", "/var/lib/faultline/galera", "data directory root on each node"},
    {"start-timeout-s", 120, "how long a node may take to join"},
    {"flavor", "mariadb",
     "mariadb (Debian's mariadb-server + galera-4) | pxc (Percona XtraDB Cluster 8: mysqld, "
     "xtrabackup-v2 state transfers, pxc_strict_mode)"},
    {"pxc-strict-mode", "ENFORCING", "flavor pxc: DISABLED | PERMISSIVE | ENFORCING | MASTER"},
    {"arbitrator", false,
     "the last node runs garbd (votes, stores nothing, serves no client) instead of mariadbd; "
     "an inventory role \"arbitrator\" does the same for its node"},
    clusters::install_option(),
};

Options parse_options(const Json& j) {
  const faultline::Options opts(j, kGaleraOptions, kWhere);
  Options o;
  o.session = mariadb::parse_session_options(opts);
  o.sync_wait = static_cast<int>(opts.integer("sync-wait", 0, 15));
  o.provider_options = opts.text("provider-options");
  if (o.provider_options.find_first_of("\"\n") != std::string::npos) {
    throw opts.error("provider-options", "must be without quotes or newlines");
  }
  o.fast_failure_detection = opts.flag("fast-failure-detection");
  o.dir = opts.text("dir");
  // It goes into my.cnf: a newline would add configuration lines of the caller's choosing.
  check_dir_option(o.dir, std::string(kWhere) + ": option 'dir'");
  o.start_timeout_s =
      static_cast<int>(opts.integer("start-timeout-s", 1, std::numeric_limits<int>::max()));
  o.arbitrator = opts.flag("arbitrator");
  o.pxc = opts.text("flavor", {"mariadb", "pxc"}) == "pxc";
  o.pxc_strict_mode =
      opts.text("pxc-strict-mode", {"DISABLED", "PERMISSIVE", "ENFORCING", "MASTER"});
  if (!o.pxc && opts.has("pxc-strict-mode")) {
    throw opts.error("pxc-strict-mode", "applies only to flavor pxc");
  }
  o.install = clusters::parse_package_install(opts.raw("install"),
                                              std::string(kWhere) + ": option 'install'");
  return o;
}

}  // namespace

std::map<std::string, int> galera_segments(const std::vector<std::string>& nodes,
                                           const std::map<std::string, std::string>& dcs) {
  std::map<std::string, int> out;
  if (dcs.empty()) return out;
  auto dc_of = [&](const std::string& n) {
    auto it = dcs.find(n);
    return it == dcs.end() ? std::string() : it->second;
  };
  std::set<std::string> all;
  for (const auto& n : nodes) all.insert(dc_of(n));
  if (all.size() > 256) {
    throw ConfigError("galera: " + std::to_string(all.size()) +
                      " data centres in the inventory, but gmcast.segment is 0-255");
  }
  for (const auto& n : nodes) {
    out[n] = static_cast<int>(std::distance(all.begin(), all.find(dc_of(n))));
  }
  return out;
}

namespace {

const bool registered = DbRegistry::add(
    "db", "galera",
    "MariaDB Galera cluster (mariadb-server + galera-4), multi-master; libmariadb clients",
    [](const Json& options) -> std::unique_ptr<Db> {
      return std::make_unique<GaleraDb>(parse_options(options));
    },
    kGaleraOptions);

}  // namespace
}  // namespace faultline::galera
