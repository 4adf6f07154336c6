// MySQL Group Replication is not in Debian 12: the adapter's command sequences (setup, kill,
// rejoin, a group restored after every server was killed) are checked against a recording fake
// that answers as a group would (issue 18 part 3). The SQL its clients send is the MariaDB
// adapters' (clusters/sql), tested against real MariaDB.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <mutex>

#include "clusters/mysql/group_replication.h"
#include "harness/db.h"
#include "harness/errors.h"
#include "tests/support/fake_session.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

// A group as the adapter sees it through mysqld processes and the mysql client.
struct FakeGroup {
  std::mutex mu;
  std::map<std::string, std::string> hosts;  // node -> address
  std::map<std::string, bool> up, in_group;
  std::map<std::string, int> gtids;  // transactions each node has
  std::string primary;

  ExecResult answer(const std::string& node, const Command& c) {
    std::lock_guard<std::mutex> lk(mu);
    std::string all;
    for (const auto& a : c.argv) all += a + "\n";
    auto has = [&](const std::string& x) { return all.find(x) != std::string::npos; };
    if (has("pid=$(fl_daemon_launch")) {
      up[node] = true;
      return {0, "4242\n", ""};
    }
    if (has("kill -s CONT \"$p\"")) {
      up[node] = in_group[node] = false;
      return {0, "gone\n", ""};
    }
    if (has("fl_daemon_pid \"$1\" \"$2\" \"$3\" > /dev/null ||")) return {up[node] ? 0 : 1, "", ""};
    if (c.argv.size() == 3 && c.argv[0] == "kill" && c.argv[1] == "-0") {
      return {up[node] ? 0 : 1, "", ""};
    }
    if (c.argv.empty() || c.argv[0] != "mysql") return {0, "", ""};
    if (!up[node]) return {1, "", "ERROR 2002 (HY000): Can't connect through socket"};
    const std::string& sql = c.argv.back();
    if (sql.find("bootstrap_group = ON") != std::string::npos) {
      in_group[node] = true;
      primary = node;
      return {0, "", ""};
    }
    if (sql == "START GROUP_REPLICATION") {
      bool group = false;
      for (const auto& [n, g] : in_group) group = group || (g && n != node);
      if (!group) return {1, "", "ERROR 3092 (HY000): The server is not configured properly"};
      in_group[node] = true;
      return {0, "", ""};
    }
    if (sql == "STOP GROUP_REPLICATION") {
      in_group[node] = false;
      return {0, "", ""};
    }
    if (sql.find("replication_group_members") != std::string::npos) {
      if (!in_group[node]) return {0, hosts[node] + "\tOFFLINE\t\t1\n", ""};
      std::string out;
      for (const auto& [n, g] : in_group) {
        if (!g) continue;
        out += hosts[n] + "\tONLINE\t" + (n == primary ? "PRIMARY" : "SECONDARY") + "\t" +
               (n == node ? "1" : "0") + "\n";
      }
      return {0, out, ""};
    }
    if (sql.find("gtid_executed") != std::string::npos) {
      return {0, "5a3b5e7c-1f2d-4c6b-9e8f-0f4a17ce5a11:1-" + std::to_string(gtids[node]) + "\n",
              ""};
    }
    return {0, "", ""};
  }
};

struct Fixture {
  fs::path base = fs::temp_directory_path() / ("fl-mysql-gr-" + std::to_string(::getpid()));
  std::vector<std::string> nodes = {"n1", "n2", "n3"};
  testing::FakeRemote remote{nodes};
  FakeGroup group;
  DbContext ctx;

  Fixture() {
    ctx.nodes = nodes;
    ctx.remote = &remote;
    for (int i = 1; i <= 3; ++i) {
      const std::string n = "n" + std::to_string(i);
      ctx.hosts[n] = group.hosts[n] = "10.0.0." + std::to_string(i);
      remote.script(n).fallback = [this, n](const Command& c) { return group.answer(n, c); };
    }
  }
  ~Fixture() { fs::remove_all(base); }

  std::unique_ptr<Db> make(Json options = Json::object()) {
    options["dir"] = base.string();
    return DbRegistry::get("db", "mysql-gr")(options);
  }
  // The SQL statements sent to `node` through the mysql client, in order.
  std::vector<std::string> sql(const std::string& node) {
    std::vector<std::string> out;
    for (const auto& c : remote.script(node).commands) {
      if (!c.argv.empty() && c.argv[0] == "mysql") out.push_back(c.argv.back());
    }
    return out;
  }
  size_t count(const std::string& node, const std::string& statement) {
    auto s = sql(node);
    return static_cast<size_t>(std::count(s.begin(), s.end(), statement));
  }
  size_t launches(const std::string& node) {
    size_t k = 0;
    for (const auto& c : remote.script(node).commands) {
      k += c.argv.size() > 2 && c.argv[2].find("pid=$(fl_daemon_launch") != std::string::npos &&
           std::find(c.argv.begin(), c.argv.end(), "/usr/sbin/mysqld") != c.argv.end();
    }
    return k;
  }
  std::string config(const std::string& node) {
    std::string out;
    for (const auto& c : remote.script(node).commands) {
      if (c.stdin_data.find("[mysqld]") != std::string::npos) out = c.stdin_data;
    }
    return out;
  }
};

const std::string kBootstrap =
    "SET GLOBAL group_replication_bootstrap_group = ON; START GROUP_REPLICATION; SET GLOBAL "
    "group_replication_bootstrap_group = OFF;";

}  // namespace

TEST_CASE("mysql-gr: member rows and GTID set sizes", "[mysql-gr]") {
  auto m = mysql::parse_group_members(
      "10.0.0.1\tONLINE\tPRIMARY\t1\n10.0.0.2\tRECOVERING\tSECONDARY\t0\n"
      "10.0.0.3\tOFFLINE\tNULL\t0\nshort\tline\n");
  REQUIRE(m.size() == 3);
  CHECK(m[0].self);
  CHECK(m[0].role == "PRIMARY");
  CHECK(m[1].state == "RECOVERING");
  CHECK(m[2].role.empty());
  CHECK(mysql::gtid_count("") == 0);
  CHECK(mysql::gtid_count("5a3b5e7c-1f2d-4c6b-9e8f-0f4a17ce5a11:1-100:200") == 101);
  CHECK(mysql::gtid_count("5a3b5e7c-1f2d-4c6b-9e8f-0f4a17ce5a11:1-100:200,\\n"
                          "6b3b5e7c-1f2d-4c6b-9e8f-0f4a17ce5a11:1-5") == 106);
  CHECK(mysql::gtid_count("5a3b5e7c-1f2d-4c6b-9e8f-0f4a17ce5a11:tag:1-3") == 3);
  CHECK_THROWS_AS(mysql::gtid_count("not-a-set:1-3"), std::invalid_argument);
  CHECK_THROWS_AS(mysql::gtid_count("5a3b5e7c-1f2d-4c6b-9e8f-0f4a17ce5a11:9-3"),
                  std::invalid_argument);
}

TEST_CASE("mysql-gr: setup initializes and bootstraps on the first node and joins the others",
          "[mysql-gr]") {
  Fixture f;
  auto db = f.make();
  db->setup(f.ctx);
  for (const auto& n : f.nodes) {
    INFO(n);
    const std::string cnf = f.config(n);
    const std::string index = n.substr(1);
    CHECK_THAT(
        cnf,
        Catch::Contains("server_id=" + index + "\n") &&
            Catch::Contains("gtid_mode=ON\nenforce_gtid_consistency=ON\n") &&
            Catch::Contains("plugin_load_add=group_replication.so\n") &&
            Catch::Contains("group_replication_start_on_boot=OFF\n") &&
            Catch::Contains("group_replication_local_address=\"10.0.0." + index + ":33061\"\n") &&
            Catch::Contains("group_replication_group_seeds=\"10.0.0.1:33061,10.0.0.2:"
                            "33061,10.0.0.3:33061\"\n") &&
            Catch::Contains("group_replication_single_primary_mode=ON\n") &&
            Catch::Contains("group_replication_consistency=BEFORE_ON_PRIMARY_FAILOVER\n") &&
            Catch::Contains("group_replication_recovery_get_public_key=ON\n") &&
            Catch::Contains("report_host=10.0.0." + index + "\n"));
    // Initialized by mysqld itself, started once, users made without binlogging, the recovery
    // channel's credentials set.
    bool initialized = false;
    for (const auto& c : f.remote.script(n).commands) {
      initialized =
          initialized || (c.argv.size() == 4 && c.argv[0] == "/usr/sbin/mysqld" &&
                          c.argv[2] == "--initialize-insecure" && c.argv[3] == "--user=mysql");
    }
    CHECK(initialized);
    CHECK(f.launches(n) == 1);
    const auto statements = f.sql(n);
    REQUIRE(!statements.empty());
    bool users = false;
    for (const auto& s : statements) {
      users = users || (s.rfind("SET SQL_LOG_BIN = 0; CREATE USER 'repl'@'%'", 0) == 0 &&
                        s.find("GROUP_REPLICATION_STREAM") != std::string::npos &&
                        s.find("FOR CHANNEL 'group_replication_recovery'") != std::string::npos);
    }
    CHECK(users);
  }
  CHECK(f.count("n1", kBootstrap) == 1);
  CHECK(f.count("n1", "CREATE DATABASE IF NOT EXISTS faultline") == 1);
  CHECK(f.count("n1", "START GROUP_REPLICATION") == 0);
  for (const auto& n : {"n2", "n3"}) {
    CHECK(f.count(n, kBootstrap) == 0);
    CHECK(f.count(n, "START GROUP_REPLICATION") == 1);
  }

  auto multi = Fixture();
  auto mdb = multi.make({{"mode", "multi-primary"}, {"consistency", "BEFORE"}});
  mdb->setup(multi.ctx);
  CHECK_THAT(multi.config("n2"),
             Catch::Contains("group_replication_single_primary_mode=OFF\n") &&
                 Catch::Contains("group_replication_enforce_update_everywhere_checks=ON\n") &&
                 Catch::Contains("group_replication_consistency=BEFORE\n"));
  CHECK_THROWS_AS(multi.make({{"mode", "primary-backup"}}), ConfigError);
}

TEST_CASE(
    "mysql-gr: a killed member rejoins and a group without majority is bootstrapped "
    "again from the most advanced server",
    "[mysql-gr]") {
  Fixture f;
  auto db = f.make();
  db->setup(f.ctx);
  auto* killable = capability<Killable>(*db);
  REQUIRE(killable != nullptr);

  killable->kill(f.ctx, "n2");
  killable->start(f.ctx, "n2");  // n1 and n3 are a majority: n2 rejoins
  CHECK(f.launches("n2") == 2);
  CHECK(f.count("n2", "START GROUP_REPLICATION") == 2);
  CHECK(f.count("n2", kBootstrap) == 0);

  // Every server killed; n3 has the most transactions.
  f.group.gtids = {{"n1", 10}, {"n2", 20}, {"n3", 50}};
  for (const auto& n : f.nodes) killable->kill(f.ctx, n);
  killable->start(f.ctx, "n1");  // the others are down: nothing to join, nothing bootstrapped
  killable->start(f.ctx, "n2");
  CHECK(f.count("n1", kBootstrap) == 1);  // (setup's)
  CHECK(f.count("n2", kBootstrap) == 0);
  killable->start(f.ctx, "n3");  // every server runs: restore
  CHECK(f.count("n3", kBootstrap) == 1);
  CHECK(f.count("n1", kBootstrap) == 1);
  for (const auto& n : {"n1", "n2", "n3"}) {
    INFO(n);
    CHECK(f.count(n, "STOP GROUP_REPLICATION") == 1);
  }
  CHECK(f.count("n1", "START GROUP_REPLICATION") == 1);
  CHECK(f.count("n2", "START GROUP_REPLICATION") == 3);
  for (const auto& n : f.nodes) CHECK(f.group.in_group[n]);
  CHECK(f.group.primary == "n3");

  // Pause and resume signal mysqld (the pid file of this node's mysqld).
  auto* pausable = capability<Pausable>(*db);
  REQUIRE(pausable != nullptr);
  pausable->pause(f.ctx, "n1");
  const Command& sent = f.remote.script("n1").commands.back();
  CHECK(std::find(sent.argv.begin(), sent.argv.end(), "STOP") != sent.argv.end());
  CHECK(std::find(sent.argv.begin(), sent.argv.end(), "/usr/sbin/mysqld") != sent.argv.end());
}
