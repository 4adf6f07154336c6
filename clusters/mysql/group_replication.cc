#include "clusters/mysql/group_replication.h"

#include <cctype>
#include <chrono>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "clusters/common/checks.h"
#include "clusters/common/install.h"
#include "clusters/common/nodes.h"
#include "clusters/common/text.h"
#include "clusters/common/wait.h"
#include "clusters/mariadb/server.h"
#include "clusters/sql/mariadb_connection.h"
#include "clusters/sql/sql.h"
#include "harness/db.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/remote.h"
#include "harness/secure_dir.h"

namespace faultline::mysql {

std::vector<GroupMember> parse_group_members(const std::string& out) {
  std::vector<GroupMember> members;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream cells(line);
    for (std::string c; std::getline(cells, c, '\t');) f.push_back(clusters::trim(c));
    if (f.size() < 4) continue;
    members.push_back({f[0], f[1], f[2] == "NULL" ? "" : f[2], f[3] == "1"});
  }
  return members;
}

int64_t gtid_count(const std::string& gtid_set) {
  std::string s;
  for (size_t i = 0; i < gtid_set.size(); ++i) {
    // mysql -B prints the newlines of a long set as "\n".
    if (gtid_set[i] == '\\' && i + 1 < gtid_set.size() && gtid_set[i + 1] == 'n') {
      ++i;
      continue;
    }
    if (!std::isspace(static_cast<unsigned char>(gtid_set[i]))) s += gtid_set[i];
  }
  int64_t total = 0;
  std::istringstream sets(s);
  for (std::string one; std::getline(sets, one, ',');) {
    if (one.empty()) continue;
    std::istringstream parts(one);
    std::string uuid;
    std::getline(parts, uuid, ':');
    if (uuid.size() != 36) throw std::invalid_argument("not a GTID set: '" + gtid_set + "'");
    for (std::string range; std::getline(parts, range, ':');) {
      if (range.empty() || range.find_first_not_of("0123456789-") != std::string::npos) {
        // 8.3+ tagged GTIDs (uuid:tag:1-5): a tag names transactions, it counts none.
        if (range.find_first_of("0123456789") == 0) {
          throw std::invalid_argument("not a GTID set: '" + gtid_set + "'");
        }
        continue;
      }
      const auto dash = range.find('-');
      const int64_t lo = std::stoll(range.substr(0, dash));
      const int64_t hi = dash == std::string::npos ? lo : std::stoll(range.substr(dash + 1));
      if (hi < lo) throw std::invalid_argument("not a GTID set: '" + gtid_set + "'");
      total += hi - lo + 1;
    }
  }
  return total;
}

namespace {

using Clock = std::chrono::steady_clock;
using clusters::log;
using clusters::ms_since;
using clusters::trim;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kWhere = "db 'mysql-gr'";
// Every run's group has this name: a group is the nodes of one run (each run wipes them).
constexpr const char* kGroupName = "5a3b5e7c-1f2d-4c6b-9e8f-0f4a17ce5a11";
constexpr const char* kPlugin = "/usr/lib/mysql/plugin/group_replication.so";
constexpr int kGroupPort = 33061;
constexpr const char* kMembersSql =
    "SELECT MEMBER_HOST, MEMBER_STATE, MEMBER_ROLE, MEMBER_ID = @@server_uuid FROM "
    "performance_schema.replication_group_members";

struct GrOptions {
  bool single_primary = true;
  std::string consistency = "BEFORE_ON_PRIMARY_FAILOVER";
  mariadb::SessionOptions session;
  std::string dir;
  int start_timeout_s = 120;
  clusters::InstallSpec install;
};

class GroupReplicationDb : public Db, public Killable, public Pausable, public LosesPower {
 public:
  explicit GroupReplicationDb(GrOptions o)
      : o_(std::move(o)), servers_(kWhere, o_.dir, /*port=*/3306, mariadb::mysql_flavor()) {
    servers_.use_power_loss_fs(o_.session.power_loss_fs);
  }

  bool on_power_loss_fs() const override { return servers_.power_loss_fs(); }
  void make_durable(const DbContext& ctx) override { servers_.make_durable(ctx); }
  Json lose_unsynced(const DbContext& ctx, const std::string& node, const PowerLoss& how) override {
    return servers_.lose_unsynced(ctx, node, how);
  }

  std::string name() const override { return "mysql-gr"; }

  Json claims() const override {
    const bool fresh = o_.consistency == "BEFORE" || o_.consistency == "AFTER" ||
                       o_.consistency == "BEFORE_AND_AFTER";
    return {
        {"level", mariadb::isolation_words(o_.session) + ", group_replication_consistency " +
                      o_.consistency +
                      (o_.single_primary ? ", single-primary" : ", multi-primary")},
        {"model", fresh ? "strong-snapshot-isolation" : "snapshot-isolation"},
        {"claim",
         "Group Replication certifies each transaction against those committed concurrently "
         "on other members (first committer wins), so conflicting writes are rolled back; "
         "with consistency BEFORE, AFTER or BEFORE_AND_AFTER a transaction also sees every "
         "transaction committed before it began, on any member."},
        {"source",
         "https://dev.mysql.com/doc/refman/8.4/en/group-replication-consistency-guarantees.html"}};
  }

  Json node_settings(const DbContext& ctx, const std::string& node) override {
    return servers_.settings(ctx, node);
  }
  std::vector<std::string> vocabularies() const override { return sql::vocabularies(); }

  std::vector<NodeCheck> node_checks() const override {
    std::vector<NodeCheck> checks = clusters::Installer(o_.install).node_checks();
    if (o_.install.method == "none") {
      checks.push_back(clusters::binary_check(
          "mysqld", mariadb::kMysqld, {"--version"},
          "install mysql-server 8.4 from Oracle's apt repository (repo.mysql.com)"));
      checks.push_back(clusters::file_check("group replication plugin", kPlugin,
                                            "install mysql-server 8.4 (it ships the plugin)"));
    }
    checks.push_back(clusters::port_check(3306, "mysqld", "MySQL's client port"));
    checks.push_back(clusters::port_check(kGroupPort, "mysqld", "Group Replication's port"));
    if (servers_.power_loss_fs()) {
      for (auto& c : clusters::lossyfs_node_checks()) checks.push_back(std::move(c));
    }
    return checks;
  }

  std::string version(const DbContext& ctx) override {
    if (ctx.nodes.empty() || !ctx.remote) return "unknown";
    try {
      auto s = ctx.remote->session(ctx.nodes.front());
      return mariadb::server_version_words(
          s->run_checked(Command{mariadb::kMysqld, "--version"}).out);
    } catch (const std::exception&) {
      return "unknown";
    }
  }

  void setup(const DbContext& ctx) override {
    clusters::require_remote(ctx, kWhere);
    clusters::Installer(o_.install).install_all(ctx, "mysqld", mariadb::kMysqld);
    const auto t0 = Clock::now();
    log(ctx, std::string("mysql-gr: ") + (o_.single_primary ? "single" : "multi") +
                 "-primary group of " + std::to_string(ctx.nodes.size()) +
                 " nodes; initializing and starting every server");
    clusters::on_every_node(ctx.nodes, [&](const std::string& n, size_t i) {
      auto s = ctx.remote->session(n);
      servers_.stop_node(ctx, *s, n, /*wipe=*/true);
      const std::string address = clusters::own_address(ctx, *s, n);
      servers_.check_name("address of node " + n, address);
      servers_.write_config(ctx, *s, n, config(ctx, n, address, static_cast<int>(i) + 1));
      servers_.install_db(ctx, *s, n);
      servers_.launch_and_answer(ctx, *s, n, {}, seconds(o_.start_timeout_s));
      // Users of each server's own, never binlogged (the group's members must start with the
      // same transactions: none).
      s->run_checked(servers_.cli(
          ctx, n,
          "SET SQL_LOG_BIN = 0; CREATE USER 'repl'@'%' IDENTIFIED BY 'repl'; GRANT REPLICATION "
          "SLAVE, CONNECTION_ADMIN, BACKUP_ADMIN, GROUP_REPLICATION_STREAM ON *.* TO "
          "'repl'@'%'; CREATE USER 'faultline'@'%' IDENTIFIED BY 'faultline'; GRANT ALL ON *.* "
          "TO 'faultline'@'%'; SET SQL_LOG_BIN = 1; CHANGE REPLICATION SOURCE TO "
          "SOURCE_USER = 'repl', SOURCE_PASSWORD = 'repl' FOR CHANNEL "
          "'group_replication_recovery';"));
    });
    log(ctx, "mysql-gr: servers up in " + ms_since(t0));
    const std::string& first = ctx.nodes.front();
    bootstrap(ctx, first);
    {
      auto s = ctx.remote->session(first);
      s->run_checked(servers_.cli(ctx, first, "CREATE DATABASE IF NOT EXISTS faultline"));
    }
    for (size_t i = 1; i < ctx.nodes.size(); ++i) join(ctx, ctx.nodes[i]);
    log(ctx,
        "mysql-gr: " + std::to_string(ctx.nodes.size()) + " members ONLINE after " + ms_since(t0));
  }

  void prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) override {
    clusters::require_remote(ctx, kWhere);
    const std::string writer = writable_node(ctx).value_or(ctx.nodes.front());
    auto c = sql::connect_mariadb(clusters::host_of(ctx, writer), client_options(), seconds(30));
    for (const auto& st : sql::schema_statements(vocabulary, sql::Dialect::kMySql, params)) {
      c->query(st);
    }
    auto rows = sql::initial_rows(vocabulary, sql::Dialect::kMySql, params);
    for (const auto& st : rows) c->query(st);
    // Every member has applied them: the tables answer everywhere.
    for (const auto& n : ctx.nodes) {
      auto s = ctx.remote->session(n);
      std::string last;
      const bool seen = clusters::poll_until(Clock::now() + seconds(30), milliseconds(250), [&] {
        for (const auto& t : sql::tables(vocabulary)) {
          ExecResult r = s->exec(servers_.cli(ctx, n, "SELECT COUNT(*) FROM faultline." + t));
          if (!r.ok()) {
            last = mariadb::tail(r.err, 200);
            return false;
          }
        }
        return true;
      });
      if (!seen) throw RemoteError(n, "the workload's tables did not reach it: " + last);
    }
    log(ctx, "mysql-gr: prepared '" + vocabulary + "' through " + writer + " (" +
                 std::to_string(rows.size()) + " initial rows)");
  }

  void teardown(const DbContext& ctx) override { servers_.stop_all(ctx); }

  std::map<std::string, std::vector<std::string>> log_files(const DbContext& ctx) override {
    return servers_.log_files(ctx);
  }

  std::unique_ptr<Client> new_client(const std::string& vocabulary) override {
    sql::ClientOptions co;
    co.select_for_update = o_.session.select_for_update;
    return sql::make_client(vocabulary, sql::mariadb_connector(client_options()), co);
  }

  // After heal: a member expelled while cut off (and out of auto-rejoin attempts) stays out of
  // the group; put it back, bounded, so its final read is of the group's data. Never throws.
  void before_final_reads(const DbContext& ctx, const std::string& vocabulary,
                          bool faults_ran) override {
    (void)vocabulary;
    if (!faults_ran || !ctx.remote) return;
    std::lock_guard<std::mutex> lk(start_mu_);
    for (const auto& n : ctx.nodes) {
      try {
        auto s = ctx.remote->session(n);
        if (!servers_.running(*s, servers_.paths(ctx, n))) continue;
        if (self_state(ctx, *s, n) == "ONLINE") continue;
        if (!majority_member(ctx, n)) continue;
        log(ctx, "mysql-gr: " + n + " is not ONLINE after heal; rejoining the group");
        s->exec(servers_.cli(ctx, n, "STOP GROUP_REPLICATION"));
        join(ctx, n);
      } catch (const std::exception& e) {
        log(ctx, "mysql-gr: " + n + " did not rejoin before the final reads: " + e.what());
      }
    }
  }

  // --- Killable ---------------------------------------------------------------------------
  void kill(const DbContext& ctx, const std::string& node) override { servers_.kill(ctx, node); }

  void start(const DbContext& ctx, const std::string& node) override {
    std::lock_guard<std::mutex> lk(start_mu_);
    auto s = ctx.remote->session(node);
    if (servers_.running(*s, servers_.paths(ctx, node))) return;
    servers_.launch_and_answer(ctx, *s, node, {}, seconds(o_.start_timeout_s));
    if (majority_member(ctx, node)) {
      join(ctx, node);
      return;
    }
    // No member sees a majority: the group is gone (a killed majority, every server killed).
    // Once every server runs, the one with the most transactions bootstraps it again.
    for (const auto& n : ctx.nodes) {
      auto o = ctx.remote->session(n);
      if (!servers_.running(*o, servers_.paths(ctx, n))) {
        std::string line = "mysql-gr: " + node;
        line += " started; no group has a majority and ";
        line += n;
        line += " is down: the group is restored once every server runs";
        log(ctx, line);
        return;
      }
    }
    restore_group(ctx);
  }

  // --- Pausable ---------------------------------------------------------------------------
  void pause(const DbContext& ctx, const std::string& node) override { servers_.pause(ctx, node); }
  void resume(const DbContext& ctx, const std::string& node) override {
    servers_.resume(ctx, node);
  }

 private:
  sql::MariaDbOptions client_options() const {
    sql::MariaDbOptions mo;
    mo.isolation = o_.session.isolation;
    mo.tls = true;  // caching_sha2_password
    return mo;
  }

  std::string config(const DbContext& ctx, const std::string& node, const std::string& address,
                     int index) const {
    const mariadb::Paths p = servers_.paths(ctx, node);
    std::string seeds;
    for (const auto& n : ctx.nodes) {
      seeds +=
          (seeds.empty() ? "" : ",") + clusters::host_of(ctx, n) + ":" + std::to_string(kGroupPort);
    }
    std::string allow;
    for (const auto& n : ctx.nodes) allow += (allow.empty() ? "" : ",") + clusters::host_of(ctx, n);
    std::ostringstream c;
    c << "[mysqld]\nuser=mysql\ndatadir=" << p.data << "\ntmpdir=" << p.tmp
      << "\nsocket=" << p.socket << "\npid-file=" << p.pid << "\nlog-error=" << p.error_log
      << "\nbind-address=" << address << "\nport=3306\nmysqlx=OFF\nskip-name-resolve\n"
      << "report_host=" << address << "\nserver_id=" << index
      << "\ngtid_mode=ON\nenforce_gtid_consistency=ON\nlog_bin=binlog\n"
      << "disabled_storage_engines=\"MyISAM,BLACKHOLE,FEDERATED,ARCHIVE,MEMORY\"\n"
      << "innodb_buffer_pool_size=128M\ninnodb_flush_log_at_trx_commit=" << o_.session.flush_log
      << "\nmax_connections=500\nplugin_load_add=group_replication.so\n"
      << "group_replication_group_name=\"" << kGroupName << "\"\n"
      << "group_replication_start_on_boot=OFF\n"
      << "group_replication_local_address=\"" << address << ":" << kGroupPort << "\"\n"
      << "group_replication_group_seeds=\"" << seeds << "\"\n"
      << "group_replication_ip_allowlist=\"" << allow << "\"\n"
      << "group_replication_single_primary_mode=" << (o_.single_primary ? "ON" : "OFF") << "\n"
      << "group_replication_enforce_update_everywhere_checks=" << (o_.single_primary ? "OFF" : "ON")
      << "\n"
      << "group_replication_consistency=" << o_.consistency << "\n"
      << "group_replication_recovery_get_public_key=ON\n"
      << "[client]\nsocket=" << p.socket << "\nuser=root\n";
    return c.str();
  }

  // performance_schema.replication_group_members as `node` sees it ({} when it does not answer).
  std::vector<GroupMember> members(const DbContext& ctx, Session& s,
                                   const std::string& node) const {
    Command read = servers_.cli(ctx, node, kMembersSql);
    read.idempotent = true;
    ExecResult r = s.exec(read);
    return r.ok() ? parse_group_members(r.out) : std::vector<GroupMember>{};
  }

  std::string self_state(const DbContext& ctx, Session& s, const std::string& node) const {
    for (const auto& m : members(ctx, s, node)) {
      if (m.self) return m.state;
    }
    return "";
  }

  // A node other than `except` that is ONLINE in a group whose ONLINE members are a majority
  // of the run's nodes.
  std::optional<std::string> majority_member(const DbContext& ctx, const std::string& except) {
    for (const auto& n : ctx.nodes) {
      if (n == except) continue;
      auto s = ctx.remote->session(n);
      if (!servers_.running(*s, servers_.paths(ctx, n))) continue;
      size_t online = 0;
      bool self_online = false;
      for (const auto& m : members(ctx, *s, n)) {
        online += m.state == "ONLINE" ? 1 : 0;
        self_online = self_online || (m.self && m.state == "ONLINE");
      }
      if (self_online && online * 2 > ctx.nodes.size()) return n;
    }
    return std::nullopt;
  }

  // The node clients should write through: the primary in single-primary mode (by its
  // report_host), else the first ONLINE member.
  std::optional<std::string> writable_node(const DbContext& ctx) {
    for (const auto& n : ctx.nodes) {
      auto s = ctx.remote->session(n);
      for (const auto& m : members(ctx, *s, n)) {
        if (m.state != "ONLINE") continue;
        if (o_.single_primary && m.role != "PRIMARY") continue;
        for (const auto& w : ctx.nodes) {
          if (clusters::host_of(ctx, w) == m.host) return w;
        }
        if (m.self) return n;
      }
    }
    return std::nullopt;
  }

  void bootstrap(const DbContext& ctx, const std::string& node) {
    auto s = ctx.remote->session(node);
    s->run_checked(servers_
                       .cli(ctx, node,
                            "SET GLOBAL group_replication_bootstrap_group = ON; START "
                            "GROUP_REPLICATION; SET GLOBAL group_replication_bootstrap_group "
                            "= OFF;")
                       .with_timeout(seconds(o_.start_timeout_s)));
    wait_online(ctx, *s, node);
    log(ctx, "mysql-gr: group bootstrapped on " + node);
  }

  // START GROUP_REPLICATION (distributed recovery from a donor), then wait until ONLINE.
  void join(const DbContext& ctx, const std::string& node) {
    const auto t0 = Clock::now();
    auto s = ctx.remote->session(node);
    s->run_checked(servers_.cli(ctx, node, "START GROUP_REPLICATION")
                       .with_timeout(seconds(o_.start_timeout_s)));
    wait_online(ctx, *s, node);
    log(ctx, "mysql-gr: " + node + " joined the group in " + ms_since(t0));
  }

  void wait_online(const DbContext& ctx, Session& s, const std::string& node) {
    std::string last;
    const bool online =
        clusters::poll_until(Clock::now() + seconds(o_.start_timeout_s), milliseconds(250), [&] {
          last = self_state(ctx, s, node);
          return last == "ONLINE";
        });
    if (online) return;
    const mariadb::Paths p = servers_.paths(ctx, node);
    throw RemoteError(node, "not ONLINE in the group within " + std::to_string(o_.start_timeout_s) +
                                " s (last state: " + (last.empty() ? "none" : last) + "); " +
                                p.error_log + " ends:\n" + clusters::log_tail(s, p.error_log, 15));
  }

  // Every server runs and no group has a majority: every member leaves what is left of the
  // old group, the one with the most transactions bootstraps a new one (nothing it
  // acknowledged is lost; what only the others had is), and the others join it.
  void restore_group(const DbContext& ctx) {
    std::string best;
    int64_t best_count = -1;
    for (const auto& n : ctx.nodes) {
      auto s = ctx.remote->session(n);
      s->exec(servers_.cli(ctx, n, "STOP GROUP_REPLICATION"));
      ExecResult r = s->exec(servers_.cli(ctx, n, "SELECT @@GLOBAL.gtid_executed"));
      if (!r.ok()) continue;
      int64_t count = 0;
      try {
        count = gtid_count(trim(r.out));
      } catch (const std::invalid_argument&) {
        continue;
      }
      if (count > best_count) best = n, best_count = count;
    }
    if (best.empty()) {
      throw RemoteError(ctx.nodes.front(),
                        "no group has a majority and no server reported gtid_executed: cannot "
                        "restore the group");
    }
    log(ctx, "mysql-gr: no group has a majority; bootstrapping it again on " + best + " (" +
                 std::to_string(best_count) + " transactions)");
    bootstrap(ctx, best);
    for (const auto& n : ctx.nodes) {
      if (n != best) join(ctx, n);
    }
  }

  GrOptions o_;
  mariadb::Servers servers_;
  std::mutex start_mu_;
};

const OptionDecls kGrOptions = {
    {"mode", "single-primary", "single-primary | multi-primary"},
    {"consistency", "BEFORE_ON_PRIMARY_FAILOVER",
     "group_replication_consistency: EVENTUAL | BEFORE_ON_PRIMARY_FAILOVER | BEFORE | AFTER | "
     "BEFORE_AND_AFTER"},
    mariadb::isolation_option(),
    mariadb::flush_log_option(),
    mariadb::select_for_update_option(),
    clusters::power_loss_fs_option(),
    {"dir", "/var/lib/faultline/mysql-gr", "data directory root on each node"},
    {"start-timeout-s", 120, "how long a server may take to start, and a member to be ONLINE"},
    clusters::install_option(),
};

GrOptions parse_options(const Json& j) {
  const faultline::Options opts(j, kGrOptions, kWhere);
  GrOptions o;
  o.single_primary = opts.text("mode", {"single-primary", "multi-primary"}) == "single-primary";
  o.consistency = opts.text("consistency", {"EVENTUAL", "BEFORE_ON_PRIMARY_FAILOVER", "BEFORE",
                                            "AFTER", "BEFORE_AND_AFTER"});
  o.session = mariadb::parse_session_options(opts);
  o.dir = opts.text("dir");
  check_dir_option(o.dir, std::string(kWhere) + ": option 'dir'");
  o.start_timeout_s =
      static_cast<int>(opts.integer("start-timeout-s", 1, std::numeric_limits<int>::max()));
  o.install = clusters::parse_package_install(opts.raw("install"),
                                              std::string(kWhere) + ": option 'install'");
  return o;
}

const bool registered = DbRegistry::add(
    "db", "mysql-gr",
    "MySQL 8.4 Group Replication (single- or multi-primary; Oracle's packages, real hosts); "
    "libmariadb clients over TLS",
    [](const Json& options) -> std::unique_ptr<Db> {
      return std::make_unique<GroupReplicationDb>(parse_options(options));
    },
    kGrOptions);

}  // namespace
}  // namespace faultline::mysql
