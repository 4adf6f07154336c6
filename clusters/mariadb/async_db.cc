#include "clusters/mariadb/async_db.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>

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

namespace faultline::mariadb {

std::map<std::string, std::vector<std::string>> async_masters(
    const std::string& topology, const std::vector<std::string>& nodes) {
  const size_t n = nodes.size();
  std::map<std::string, std::vector<std::string>> out;
  if (topology == "master-master") {
    if (n != 2) {
      throw ConfigError("db 'mariadb-async': topology master-master takes exactly 2 nodes, not " +
                        std::to_string(n) + " (ring and multi-source take any number from 2)");
    }
    out[nodes[0]] = {nodes[1]};
    out[nodes[1]] = {nodes[0]};
    return out;
  }
  if (topology != "ring" && topology != "multi-source") {
    throw ConfigError(
        "db 'mariadb-async': option 'topology': one of master-master, ring, "
        "multi-source, not '" +
        topology + "'");
  }
  if (n < 2) {
    throw ConfigError("db 'mariadb-async': topology " + topology + " needs at least 2 nodes, not " +
                      std::to_string(n));
  }
  for (size_t i = 0; i < n; ++i) {
    if (topology == "ring") {
      out[nodes[i]] = {nodes[(i + n - 1) % n]};
    } else {
      for (size_t j = 0; j < n; ++j) {
        if (j != i) out[nodes[i]].push_back(nodes[j]);
      }
    }
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;
using clusters::log;
using clusters::ms_since;
using clusters::trim;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kWhere = "db 'mariadb-async'";

struct AsyncOptions {
  std::string topology = "ring";
  bool offsets = true;
  std::string slave_exec_mode = "STRICT";
  std::string binlog_format = "ROW";
  std::string semi_sync = "off";  // off | after-sync | after-commit
  int semi_sync_timeout_ms = 10000;
  SessionOptions session;  // isolation, flush-log-at-trx-commit, select-for-update
  int catch_up_timeout_s = 30;
  std::string dir;
  int start_timeout_s = 60;
  clusters::InstallSpec install;
};

// Rows of `mariadb -E` (vertical) output: "*** 1. row ***" starts a row, then "Name: value".
std::vector<std::map<std::string, std::string>> vertical_rows(const std::string& out) {
  std::vector<std::map<std::string, std::string>> rows;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("****", 0) == 0) {
      rows.emplace_back();
      continue;
    }
    auto colon = line.find(": ");
    if (rows.empty() || colon == std::string::npos) {
      // A value's later lines (errors may span lines) or a bare "Name:" for an empty value.
      if (!rows.empty() && !line.empty() && line.back() == ':' &&
          line.find(' ', line.find_first_not_of(' ')) == std::string::npos) {
        rows.back()[trim(line.substr(0, line.size() - 1))] = "";
      }
      continue;
    }
    rows.back()[trim(line.substr(0, colon))] = trim(line.substr(colon + 2));
  }
  return rows;
}

// One column of a SHOW ... STATUS row ("" when absent).
std::string field(const std::map<std::string, std::string>& row, const char* key) {
  auto it = row.find(key);
  return it == row.end() ? std::string() : it->second;
}

int64_t to_int(const std::string& s, int64_t fallback = -1) {
  try {
    return s.empty() ? fallback : std::stoll(s);
  } catch (const std::exception&) {
    return fallback;
  }
}

class AsyncDb : public Db,
                public Killable,
                public Pausable,
                public ReportsReplication,
                public LosesPower,
                public ChangesMembership {
 public:
  explicit AsyncDb(AsyncOptions o) : o_(std::move(o)), servers_(kWhere, o_.dir, /*port=*/3306) {
    servers_.use_power_loss_fs(o_.session.power_loss_fs);
  }

  bool on_power_loss_fs() const override { return servers_.power_loss_fs(); }
  void make_durable(const DbContext& ctx) override { servers_.make_durable(ctx); }
  Json lose_unsynced(const DbContext& ctx, const std::string& node, const PowerLoss& how) override {
    return servers_.lose_unsynced(ctx, node, how);
  }

  std::string name() const override { return "mariadb-async"; }

  Json claims() const override {
    Json c = {{"level", "asynchronous " + o_.topology + " replication; each node " +
                            isolation_words(o_.session)},
              {"model", "none"},
              {"claim",
               "MariaDB replication is asynchronous and detects no conflicts between masters: "
               "the application must keep writes on different masters off the same rows "
               "(auto_increment_increment and auto_increment_offset for generated keys); each "
               "node alone is an InnoDB server at its isolation level."},
              {"source",
               "https://mariadb.com/docs/server/ha-and-performance/standard-replication/"
               "replication-overview"},
              {"by-design", Json::object()}};
    if (o_.slave_exec_mode == "IDEMPOTENT") {
      c["by-design"]["divergence"] =
          "slave_exec_mode = IDEMPOTENT skips duplicate-key and missing-row errors: conflicting "
          "writes leave the nodes different without any error (documented)";
    }
    if (!o_.offsets) {
      c["by-design"]["unique-ids/duplicate-id"] =
          "auto-increment: none leaves auto_increment_offset the same on every master, so two "
          "masters hand out the same ids (documented: set increment and offset per master)";
    }
    return c;
  }

  Json node_settings(const DbContext& ctx, const std::string& node) override {
    return servers_.settings(ctx, node);
  }
  std::vector<std::string> vocabularies() const override { return sql::vocabularies(); }

  std::vector<NodeCheck> node_checks() const override {
    std::vector<NodeCheck> checks = clusters::Installer(o_.install).node_checks();
    if (o_.install.method == "none") {
      checks.push_back(clusters::binary_check("mariadbd", kMariadbd, {"--version"},
                                              "install the mariadb-server package"));
    }
    checks.push_back(clusters::port_check(3306, "mariadbd", "MariaDB's client port"));
    if (servers_.power_loss_fs()) {
      for (auto& c : clusters::lossyfs_node_checks()) checks.push_back(std::move(c));
    }
    return checks;
  }

  std::string version(const DbContext& ctx) override {
    if (ctx.nodes.empty() || !ctx.remote) return "unknown";
    try {
      auto s = ctx.remote->session(ctx.nodes.front());
      return mariadb::server_version_words(s->run_checked(Command{kMariadbd, "--version"}).out);
    } catch (const std::exception&) {
      return "unknown";
    }
  }

  void setup(const DbContext& ctx) override {
    clusters::require_remote(ctx, kWhere);
    const auto masters = async_masters(o_.topology, ctx.nodes);
    clusters::Installer(o_.install).install_all(ctx, "mariadbd", kMariadbd);
    const auto t0 = Clock::now();
    log(ctx, "mariadb-async: " + o_.topology + " of " + std::to_string(ctx.nodes.size()) +
                 " nodes; installing and starting every server");
    clusters::on_every_node(ctx.nodes, [&](const std::string& n, size_t i) {
      auto s = ctx.remote->session(n);
      servers_.stop_node(ctx, *s, n, /*wipe=*/true);
      const std::string address = clusters::own_address(ctx, *s, n);
      servers_.check_name("address of node " + n, address);
      servers_.write_config(ctx, *s, n, config(ctx, n, address, static_cast<int>(i) + 1));
      servers_.install_db(ctx, *s, n);
      start_and_wait(ctx, *s, n);
      // Each node makes its own user and database: not binlogged, so never replicated.
      s->run_checked(servers_.cli(
          ctx, n,
          "SET SESSION sql_log_bin = 0; CREATE USER IF NOT EXISTS 'faultline'@'%' IDENTIFIED BY "
          "'faultline'; GRANT ALL ON *.* TO 'faultline'@'%'; CREATE DATABASE IF NOT EXISTS "
          "faultline;"));
    });
    log(ctx, "mariadb-async: servers up in " + ms_since(t0));
    clusters::on_every_node(ctx.nodes, [&](const std::string& n, size_t) {
      auto s = ctx.remote->session(n);
      std::string sql;
      for (const auto& m : masters.at(n)) sql += start_channel_sql(ctx, m);
      s->run_checked(servers_.cli(ctx, n, sql));
    });
    std::string last;
    const bool running = channels_running(ctx, ctx.nodes, seconds(o_.start_timeout_s), &last);
    if (!running) {
      throw RemoteError(ctx.nodes.front(), "replication did not start within " +
                                               std::to_string(o_.start_timeout_s) + " s: " + last);
    }
    log(ctx, "mariadb-async: every channel running after " + ms_since(t0));
  }

  void prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) override {
    clusters::require_remote(ctx, kWhere);
    sql::MariaDbOptions mo = client_options();
    auto c = sql::connect_mariadb(clusters::host_of(ctx, ctx.nodes.front()), mo, seconds(30));
    for (const auto& st : sql::schema_statements(vocabulary, sql::Dialect::kMySql, params)) {
      c->query(st);
    }
    auto rows = sql::initial_rows(vocabulary, sql::Dialect::kMySql, params);
    for (const auto& st : rows) c->query(st);
    // Every node has the tables and the same rows (replication is asynchronous).
    const auto t0 = Clock::now();
    std::string last;
    bool same =
        clusters::poll_until(Clock::now() + seconds(o_.start_timeout_s), milliseconds(200), [&] {
          auto sums = checksums(ctx, vocabulary);
          last = sums.dump();
          return converged(sums, ctx.nodes.size());
        });
    if (!same) {
      throw RemoteError(ctx.nodes.front(),
                        "the tables of '" + vocabulary + "' did not reach every node within " +
                            std::to_string(o_.start_timeout_s) + " s (checksums: " + last + ")");
    }
    log(ctx, "mariadb-async: prepared '" + vocabulary + "' (" + std::to_string(rows.size()) +
                 " initial rows) on every node in " + ms_since(t0));
  }

  // Replication must catch up before the final reads judge the data.
  void before_final_reads(const DbContext& ctx, const std::string& vocabulary,
                          bool faults_ran) override {
    (void)vocabulary;
    (void)faults_ran;
    if (!ctx.remote) return;
    const auto t0 = Clock::now();
    Json health = wait_for_replication(ctx);
    log(ctx, std::string("mariadb-async: ") +
                 (health["caught-up"].get<bool>() ? "every node caught up"
                                                  : "replication did not catch up") +
                 " for the final reads after " + ms_since(t0));
  }

  // --- ReportsReplication -----------------------------------------------------------------
  Json replication_health(const DbContext& ctx, const std::string& vocabulary) override {
    clusters::require_remote(ctx, kWhere);
    const auto t0 = Clock::now();
    Json health = wait_for_replication(ctx);
    Json sums = checksums(ctx, vocabulary);
    health["checksums"] = sums;
    health["diverged"] = diverged_tables(sums);
    health["waited-ms"] = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
    log(ctx,
        std::string("mariadb-async: ") +
            (health["caught-up"].get<bool>() ? "every node caught up" : "nodes did not catch up") +
            " after " + ms_since(t0));
    for (const auto& h : health["halted"]) {
      log(ctx, "mariadb-async: halted: " + h.get<std::string>());
    }
    if (!health["diverged"].empty()) {
      log(ctx, "mariadb-async: tables differ between nodes: " + health["diverged"].dump());
    }
    return health;
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

  // --- Killable ---------------------------------------------------------------------------
  void kill(const DbContext& ctx, const std::string& node) override { servers_.kill(ctx, node); }

  void start(const DbContext& ctx, const std::string& node) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (out_.count(node)) {
        log(ctx, "mariadb-async: " + node +
                     " not started: it is out of the topology until it "
                     "joins again");
        return;
      }
    }
    auto s = ctx.remote->session(node);
    if (servers_.running(*s, servers_.paths(ctx, node))) return;
    start_and_wait(ctx, *s, node);
  }

  // --- ChangesMembership -------------------------------------------------------------------
  // "remove": the master is shut down cleanly (SIGTERM) and taken out of the topology: the
  // topology is built again over the other nodes (in a ring its successor now replicates from
  // its predecessor; multi-source drops the channels from it), and with auto-increment offsets
  // each remaining master gets SET GLOBAL auto_increment_increment = the masters left and
  // auto_increment_offset = its place among them (new sessions only: a client's open session
  // keeps the values it began with). join: the server starts again (its own channels resume
  // from mysql.gtid_slave_pos), the original topology and offsets come back. Both wait up to
  // 20 s for every channel to run and say whether they do; a channel that halts is the
  // replication checker's to judge.
  std::vector<std::string> leave_modes() const override { return {"remove"}; }

  Json leave(const DbContext& ctx, const std::string& node, const std::string& mode) override {
    if (mode != "remove") {
      throw ConfigError(std::string(kWhere) + ": no membership mode '" + mode + "' (remove)");
    }
    if (o_.topology == "master-master") {
      throw ConfigError(std::string(kWhere) +
                        ": membership needs topology ring or multi-source (master-master has "
                        "two nodes: one left would replicate from nobody)");
    }
    const auto t0 = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      out_.insert(node);
    }
    auto s = ctx.remote->session(node);
    servers_.signal_and_wait(*s, node, servers_.paths(ctx, node), "TERM", seconds(60));
    Json r = {{"shutdown-ms", clusters::ms_count(t0)}};
    r.update(rewire(ctx));
    log(ctx, "mariadb-async: " + node + " removed from the " + o_.topology + " in " + ms_since(t0) +
                 ": " + r.dump());
    return r;
  }

  Json join(const DbContext& ctx, const std::string& node) override {
    const auto t0 = Clock::now();
    auto s = ctx.remote->session(node);
    if (!servers_.running(*s, servers_.paths(ctx, node))) start_and_wait(ctx, *s, node);
    {
      std::lock_guard<std::mutex> lock(mu_);
      out_.erase(node);
    }
    Json r = rewire(ctx);
    r["joined-ms"] = clusters::ms_count(t0);
    log(ctx, "mariadb-async: " + node + " back in the " + o_.topology + " in " + ms_since(t0) +
                 ": " + r.dump());
    return r;
  }

  // --- Pausable ---------------------------------------------------------------------------
  void pause(const DbContext& ctx, const std::string& node) override { servers_.pause(ctx, node); }
  // Idempotent: a node whose server is not running has nothing to resume.
  void resume(const DbContext& ctx, const std::string& node) override {
    servers_.resume(ctx, node);
  }

 private:
  sql::MariaDbOptions client_options() const {
    sql::MariaDbOptions mo;
    mo.isolation = o_.session.isolation;
    return mo;
  }

  // CHANGE MASTER for the channel from `master` (named after it), and START SLAVE.
  static std::string start_channel_sql(const DbContext& ctx, const std::string& master) {
    std::string sql = "CHANGE MASTER '";
    sql += master;
    sql += "' TO MASTER_HOST='";
    sql += clusters::host_of(ctx, master);
    sql +=
        "', MASTER_PORT=3306, MASTER_USER='faultline', MASTER_PASSWORD='faultline', "
        "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE '";
    sql += master;
    sql += "'; ";
    return sql;
  }

  // Waits up to `timeout` until every channel of `nodes` runs (IO and SQL threads); false
  // then, with the last channel that did not in `last`.
  bool channels_running(const DbContext& ctx, const std::vector<std::string>& nodes,
                        seconds timeout, std::string* last) const {
    return clusters::poll_until(Clock::now() + timeout, milliseconds(250), [&] {
      for (const auto& n : nodes) {
        auto s = ctx.remote->session(n);
        for (const auto& ch : channels(ctx, *s, n)) {
          if (ch.at("Slave_IO_Running") != "Yes" || ch.at("Slave_SQL_Running") != "Yes") {
            *last = describe(n, ch);
            return false;
          }
        }
      }
      return true;
    });
  }

  // Makes the channels of every node in the topology (the nodes not out) what the topology
  // over them wants, and their auto-increment offsets; waits up to 20 s for every channel to
  // run. Returns {"channels": {node: [masters]}, "auto-increment": {node: "increment/offset"},
  // "running": bool, "not-running": "why"}.
  Json rewire(const DbContext& ctx) {
    std::vector<std::string> members;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& n : ctx.nodes) {
        if (!out_.count(n)) members.push_back(n);
      }
    }
    const auto want = async_masters(o_.topology, members);
    Json channels_of = Json::object();
    Json offsets = Json::object();
    for (size_t i = 0; i < members.size(); ++i) {
      const std::string& n = members[i];
      auto s = ctx.remote->session(n);
      std::set<std::string> have;
      for (const auto& ch : channels(ctx, *s, n)) have.insert(field(ch, "Connection_name"));
      const std::vector<std::string>& masters = want.at(n);
      std::string sql;
      for (const auto& h : have) {
        if (std::find(masters.begin(), masters.end(), h) != masters.end()) continue;
        sql.append("STOP SLAVE '").append(h).append("'; RESET SLAVE '").append(h).append("' ALL; ");
      }
      for (const auto& m : masters) {
        if (!have.count(m)) sql += start_channel_sql(ctx, m);
      }
      if (o_.offsets) {
        const std::string inc = std::to_string(members.size());
        const std::string off = std::to_string(i + 1);
        sql.append("SET GLOBAL auto_increment_increment = ").append(inc);
        sql.append(", auto_increment_offset = ").append(off).append("; ");
        offsets[n] = inc;
        offsets[n].get_ref<std::string&>().append("/").append(off);
      }
      if (!sql.empty()) s->run_checked(servers_.cli(ctx, n, sql));
      channels_of[n] = masters;
    }
    std::string last;
    const bool running = channels_running(ctx, members, seconds(20), &last);
    Json r = {{"channels", channels_of}, {"running", running}};
    if (o_.offsets) r["auto-increment"] = offsets;
    if (!running) r["not-running"] = last;
    return r;
  }

  std::string config(const DbContext& ctx, const std::string& node, const std::string& address,
                     int index) const {
    Paths p = servers_.paths(ctx, node);
    std::ostringstream c;
    // tmpdir per node: the local cluster's nodes share one /tmp.
    c << "[mysqld]\nuser=mysql\ndatadir=" << p.data << "\ntmpdir=" << p.tmp
      << "\nsocket=" << p.socket << "\npid-file=" << p.pid << "\nlog-error=" << p.error_log
      << "\nbind-address=" << address << "\nport=3306\nskip-name-resolve\nperformance_schema=OFF\n"
      << "default_storage_engine=InnoDB\ninnodb_buffer_pool_size=64M\n"
      << "innodb_log_file_size=32M\ninnodb_flush_log_at_trx_commit=" << o_.session.flush_log
      << "\nserver_id=" << index << "\ngtid_domain_id=" << index
      << "\nlog_bin=binlog\nlog_slave_updates=ON\nbinlog_format=" << o_.binlog_format
      << "\nrelay_log=relay\nslave_exec_mode=" << o_.slave_exec_mode
      << "\nslave_net_timeout=10\nreport_host=" << node << "\nmax_connections=500\n";
    if (o_.topology == "multi-source") c << "gtid_ignore_duplicates=ON\n";
    if (o_.semi_sync != "off") {
      // Built into MariaDB since 10.3: every node is a semi-sync master and replica. A commit
      // waits for one replica's acknowledgement, up to the timeout; then the master falls back
      // to asynchronous replication (Rpl_semi_sync_master_status OFF) until a replica catches up.
      c << "rpl_semi_sync_master_enabled=ON\nrpl_semi_sync_slave_enabled=ON\n"
        << "rpl_semi_sync_master_wait_point="
        << (o_.semi_sync == "after-sync" ? "AFTER_SYNC" : "AFTER_COMMIT")
        << "\nrpl_semi_sync_master_timeout=" << o_.semi_sync_timeout_ms << "\n";
    }
    if (o_.offsets) {
      c << "auto_increment_increment=" << ctx.nodes.size() << "\nauto_increment_offset=" << index
        << "\n";
    }
    c << "[client]\nsocket=" << p.socket << "\nuser=root\n";
    return c.str();
  }

  // Launches the node's mariadbd and waits until it answers; throws with its error log's tail
  // when it dies or does not answer within start-timeout-s.
  void start_and_wait(const DbContext& ctx, Session& s, const std::string& node) {
    servers_.launch_and_answer(ctx, s, node, {}, seconds(o_.start_timeout_s));
  }

  // SHOW ALL SLAVES STATUS of `node`, a map per channel ({} when it does not answer).
  std::vector<std::map<std::string, std::string>> channels(const DbContext& ctx, Session& s,
                                                           const std::string& node) const {
    Paths p = servers_.paths(ctx, node);
    Command c{"mariadb", "--defaults-file=" + p.cnf, "-E", "-e", "SHOW ALL SLAVES STATUS"};
    c.with_timeout(seconds(10));
    c.idempotent = true;
    ExecResult r = s.exec(c);
    if (!r.ok()) return {};
    auto rows = vertical_rows(r.out);
    for (auto& row : rows) {
      for (const char* k : {"Slave_IO_Running", "Slave_SQL_Running", "Connection_name"}) {
        row.emplace(k, "");
      }
    }
    return rows;
  }

  static std::string describe(const std::string& node,
                              const std::map<std::string, std::string>& ch) {
    auto get = [&](const char* k) { return field(ch, k); };
    std::string d = node + " from " + get("Connection_name") + ": IO " + get("Slave_IO_Running") +
                    ", SQL " + get("Slave_SQL_Running");
    if (to_int(get("Last_SQL_Errno"), 0) != 0) {
      d += "; SQL error " + get("Last_SQL_Errno") + ": " + get("Last_SQL_Error");
    }
    if (to_int(get("Last_IO_Errno"), 0) != 0) {
      d += "; IO error " + get("Last_IO_Errno") + ": " + get("Last_IO_Error");
    }
    return d;
  }

  // Waits (catch-up-timeout-s) until replication has caught up, or a channel has halted and
  // nothing moved for a second since (a stopped SQL thread does not start by itself; the other
  // channels have then caught up as far as they can, or halted too). Returns the last reading.
  Json wait_for_replication(const DbContext& ctx) const {
    Json health, before;
    int unchanged = 0;
    clusters::poll_until(Clock::now() + seconds(o_.catch_up_timeout_s), milliseconds(250), [&] {
      health = health_now(ctx);
      unchanged = health["nodes"] == before ? unchanged + 1 : 0;
      before = health["nodes"];
      return health["caught-up"].get<bool>() || (!health["halted"].empty() && unchanged >= 4);
    });
    return health;
  }

  // Per node: gtid_current_pos and every channel's state; "halted": channels whose SQL thread
  // stopped (it does not restart by itself); "caught-up": every channel runs and every node
  // shows the same gtid_current_pos.
  Json health_now(const DbContext& ctx) const {
    Json nodes = Json::object();
    Json halted = Json::array();
    std::set<std::string> positions;
    bool all_running = true;
    for (const auto& n : ctx.nodes) {
      Json node = Json::object();
      auto s = ctx.remote->session(n);
      ExecResult pos = s->exec(servers_.cli(ctx, n, "SELECT @@gtid_current_pos"));
      node["gtid-current-pos"] = pos.ok() ? Json(trim(pos.out)) : Json(nullptr);
      positions.insert(pos.ok() ? trim(pos.out) : "?unreachable " + n);
      Json chans = Json::array();
      for (const auto& ch : channels(ctx, *s, n)) {
        auto get = [&](const char* k) { return field(ch, k); };
        int64_t behind = to_int(get("Seconds_Behind_Master"));
        chans.push_back({{"from", get("Connection_name")},
                         {"io-running", get("Slave_IO_Running")},
                         {"sql-running", get("Slave_SQL_Running")},
                         {"last-sql-errno", to_int(get("Last_SQL_Errno"), 0)},
                         {"last-sql-error", get("Last_SQL_Error")},
                         {"last-io-errno", to_int(get("Last_IO_Errno"), 0)},
                         {"last-io-error", get("Last_IO_Error")},
                         {"seconds-behind-master", behind < 0 ? Json(nullptr) : Json(behind)},
                         {"gtid-io-pos", get("Gtid_IO_Pos")}});
        if (get("Slave_IO_Running") != "Yes" || get("Slave_SQL_Running") != "Yes") {
          all_running = false;
        }
        if (get("Slave_SQL_Running") == "No") halted.push_back(describe(n, ch));
      }
      if (!pos.ok()) all_running = false;
      node["channels"] = chans;
      if (o_.semi_sync != "off") node["semi-sync"] = semi_sync_status(ctx, *s, n);
      nodes[n] = node;
    }
    return {{"topology", o_.topology},
            {"nodes", nodes},
            {"halted", halted},
            {"caught-up", all_running && positions.size() == 1}};
  }

  // The node's semi-sync master counters: whether it still waits for acknowledgements
  // ("master-status": "ON"; "OFF" after a timeout: asynchronous until a replica catches up),
  // and how many commits a replica acknowledged ("yes-tx") or did not in time ("no-tx").
  Json semi_sync_status(const DbContext& ctx, Session& s, const std::string& node) const {
    Command read = servers_.cli(ctx, node,
                                "SHOW GLOBAL STATUS WHERE Variable_name IN "
                                "('Rpl_semi_sync_master_status', 'Rpl_semi_sync_master_yes_tx', "
                                "'Rpl_semi_sync_master_no_tx')");
    read.idempotent = true;
    ExecResult r = s.exec(read);
    if (!r.ok()) return nullptr;
    auto st = status_lines(r.out);
    return {{"master-status", st["Rpl_semi_sync_master_status"]},
            {"yes-tx", to_int(st["Rpl_semi_sync_master_yes_tx"], 0)},
            {"no-tx", to_int(st["Rpl_semi_sync_master_no_tx"], 0)}};
  }

  // CHECKSUM TABLE of the vocabulary's tables on every node: {table: {node: checksum}} (null
  // where the node did not answer).
  Json checksums(const DbContext& ctx, const std::string& vocabulary) const {
    Json out = Json::object();
    std::mutex mu;
    const auto tables = sql::tables(vocabulary);
    clusters::on_every_node(ctx.nodes, [&](const std::string& n, size_t) {
      auto s = ctx.remote->session(n);
      for (const auto& t : tables) {
        Command c = servers_.cli(ctx, n, "CHECKSUM TABLE faultline." + t);
        c.idempotent = true;
        ExecResult r = s->exec(c);
        Json v = nullptr;
        auto tab = r.out.find('\t');
        if (r.ok() && tab != std::string::npos) {
          std::string sum = trim(r.out.substr(tab + 1));
          if (sum != "NULL") v = sum;  // NULL: the table does not exist there
        }
        std::lock_guard<std::mutex> lk(mu);
        out[t][n] = v;
      }
    });
    return out;
  }

  static bool converged(const Json& sums, size_t nodes) {
    for (const auto& [t, per_node] : sums.items()) {
      std::set<std::string> seen;
      for (const auto& [n, v] : per_node.items()) {
        if (v.is_null()) return false;
        seen.insert(v.get<std::string>());
      }
      if (seen.size() != 1 || per_node.size() != nodes) return false;
    }
    return true;
  }

  // The tables whose checksums differ between nodes that answered.
  static Json diverged_tables(const Json& sums) {
    Json out = Json::array();
    for (const auto& [t, per_node] : sums.items()) {
      std::set<std::string> seen;
      for (const auto& [n, v] : per_node.items()) {
        if (!v.is_null()) seen.insert(v.get<std::string>());
      }
      if (seen.size() > 1) out.push_back(t);
    }
    return out;
  }

  AsyncOptions o_;
  std::mutex mu_;
  std::set<std::string> out_;  // nodes taken out of the topology (membership); guarded by mu_
  Servers servers_;
};

const OptionDecls kAsyncOptions = {
    {"topology", "ring", "master-master (2 nodes) | ring | multi-source"},
    {"auto-increment", "offsets",
     "offsets (auto_increment_increment = N, offset = the node's index) | none"},
    {"slave-exec-mode", "STRICT",
     "STRICT | IDEMPOTENT (skips duplicate-key and missing-row errors: diverges silently)"},
    {"binlog-format", "ROW", "ROW | STATEMENT | MIXED"},
    {"semi-sync", "off",
     "off | after-sync | after-commit: a commit waits for one replica's acknowledgement "
     "(rpl_semi_sync_master_wait_point), up to semi-sync-timeout-ms"},
    {"semi-sync-timeout-ms", 10000,
     "rpl_semi_sync_master_timeout: after it a master goes on asynchronously"},
    isolation_option(),
    flush_log_option(),
    select_for_update_option(),
    clusters::power_loss_fs_option(),
    {"catch-up-timeout-s", 30, "before the final reads, how long replication may take to catch up"},
    {"dir", "/var/lib/faultline/mariadb-async", "data directory root on each node"},
    {"start-timeout-s", 60, "how long a server may take to start, and replication to run"},
    clusters::install_option(),
};

AsyncOptions parse_options(const Json& j) {
  const faultline::Options opts(j, kAsyncOptions, kWhere);
  AsyncOptions o;
  o.topology = opts.text("topology", {"master-master", "ring", "multi-source"});
  o.offsets = opts.text("auto-increment", {"offsets", "none"}) == "offsets";
  o.slave_exec_mode = opts.text("slave-exec-mode", {"STRICT", "IDEMPOTENT"});
  o.binlog_format = opts.text("binlog-format", {"ROW", "STATEMENT", "MIXED"});
  o.semi_sync = opts.text("semi-sync", {"off", "after-sync", "after-commit"});
  o.semi_sync_timeout_ms =
      static_cast<int>(opts.integer("semi-sync-timeout-ms", 0, std::numeric_limits<int>::max()));
  o.session = parse_session_options(opts);
  o.catch_up_timeout_s = static_cast<int>(opts.integer("catch-up-timeout-s", 0, 3600));
  o.dir = opts.text("dir");
  check_dir_option(o.dir, std::string(kWhere) + ": option 'dir'");
  o.start_timeout_s =
      static_cast<int>(opts.integer("start-timeout-s", 1, std::numeric_limits<int>::max()));
  o.install = clusters::parse_package_install(opts.raw("install"),
                                              std::string(kWhere) + ": option 'install'");
  return o;
}

const bool registered = DbRegistry::add(
    "db", "mariadb-async",
    "MariaDB asynchronous multi-master replication (master-master, ring, multi-source; GTID, "
    "auto-increment offsets); libmariadb clients",
    [](const Json& options) -> std::unique_ptr<Db> {
      return std::make_unique<AsyncDb>(parse_options(options));
    },
    kAsyncOptions);

}  // namespace
}  // namespace faultline::mariadb
