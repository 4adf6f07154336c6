// MariaDB asynchronous multi-master replication on a real local cluster (3 namespaces, one
// mariadbd each): a ring replicates; auto-increment offsets keep ids apart; one key inserted on
// two masters while replication is stopped halts the channels (STRICT, error 1062) and the
// replication report says so; under IDEMPOTENT the same conflict halts nothing and the tables
// differ.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "clusters/mariadb/async_db.h"
#include "clusters/sql/mariadb_connection.h"
#include "clusters/sql/sql.h"
#include "harness/db.h"
#include "harness/remote.h"
#include "harness/run/runner.h"
#include "harness/run/spec.h"
#include "tests/support/local_cluster.h"
#include "tests/support/runs.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

constexpr const char* kName = "flasync";
constexpr const char* kSubnet = "10.77.217.0/24";
using Clock = std::chrono::steady_clock;

struct Cluster : testing::LocalTestCluster {
  DbContext ctx;
  Cluster() : LocalTestCluster(kName, kSubnet), ctx(db_context("mariadb-async-test")) {}
};

std::unique_ptr<sql::Connection> connect(const DbContext& ctx, const std::string& node) {
  return sql::connect_mariadb(ctx.hosts.at(node), sql::MariaDbOptions{}, std::chrono::seconds(10));
}

std::string one(sql::Connection& c, const std::string& q) {
  auto rows = c.query(q);
  return rows.empty() || rows[0].empty() ? "" : rows[0][0].value_or("NULL");
}

// Polls `q` on `node` until it answers `want` (10 s); returns what it last answered.
std::string wait_for(const DbContext& ctx, const std::string& node, const std::string& q,
                     const std::string& want) {
  auto c = connect(ctx, node);
  std::string got;
  for (auto until = Clock::now() + std::chrono::seconds(10); Clock::now() < until;) {
    got = one(*c, q);
    if (got == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return got;
}

}  // namespace

TEST_CASE("mariadb-async: a ring replicates, offsets keep ids apart, a duplicate key halts it",
          "[mariadb-async]") {
  FAULTLINE_REQUIRE_ROOT();
  Cluster c;
  auto db = DbRegistry::get("db", "mariadb-async")(Json::object());
  auto t0 = Clock::now();
  db->setup(c.ctx);
  testing::DbGuard guard{*db, c.ctx};
  std::cerr << "  mariadb-async: ring of 3 up in "
            << std::chrono::duration<double>(Clock::now() - t0).count() << " s\n";
  CHECK(db->version(c.ctx).find("MariaDB") != std::string::npos);

  // A write on n1 reaches n3 through n2 (log_slave_updates).
  db->prepare(c.ctx, "register", Json::object());
  connect(c.ctx, "n1")->query("INSERT INTO fl_register (k, v) VALUES (1, 7)");
  CHECK(wait_for(c.ctx, "n3", "SELECT v FROM fl_register WHERE k = 1", "7") == "7");

  // Each master hands out ids of its own residue modulo 3.
  db->prepare(c.ctx, "unique-ids", Json::object());
  std::set<int64_t> ids;
  for (int round = 0; round < 3; ++round) {
    for (int i = 1; i <= 3; ++i) {
      auto conn = connect(c.ctx, "n" + std::to_string(i));
      conn->query("INSERT INTO fl_ids () VALUES ()");
      int64_t id = std::stoll(one(*conn, "SELECT LAST_INSERT_ID()"));
      CHECK(((id - i) % 3 + 3) % 3 == 0);
      ids.insert(id);
    }
  }
  CHECK(ids.size() == 9);

  // Replication stopped on n2, the same key on n1 and n2: n2 halts on n1's row (1062), and n1
  // on n2's, which reaches it through n3.
  connect(c.ctx, "n2")->query("STOP ALL SLAVES");
  connect(c.ctx, "n1")->query("INSERT INTO fl_register (k, v) VALUES (9, 1)");
  connect(c.ctx, "n2")->query("INSERT INTO fl_register (k, v) VALUES (9, 2)");
  connect(c.ctx, "n2")->query("START ALL SLAVES");
  db->before_final_reads(c.ctx, "register", true);
  Json health = capability<ReportsReplication>(*db)->replication_health(c.ctx, "register");
  INFO(health.dump(2));
  CHECK_FALSE(health["caught-up"].get<bool>());
  REQUIRE(health["halted"].size() >= 1);
  CHECK_THAT(health["halted"].dump(), Catch::Contains("1062"));
  bool n2_halted = false;
  for (const auto& ch : health["nodes"]["n2"]["channels"]) {
    n2_halted = n2_halted ||
                (ch["from"] == "n1" && ch["sql-running"] == "No" && ch["last-sql-errno"] == 1062);
  }
  CHECK(n2_halted);
  CHECK(health["diverged"] == Json::array({"fl_register"}));
}

TEST_CASE("mariadb-async: under IDEMPOTENT a conflict halts nothing and the nodes diverge",
          "[mariadb-async]") {
  FAULTLINE_REQUIRE_ROOT();
  Cluster c;
  c.ctx.nodes = {"n1", "n2"};
  auto db = DbRegistry::get(
      "db", "mariadb-async")({{"topology", "master-master"}, {"slave-exec-mode", "IDEMPOTENT"}});
  db->setup(c.ctx);
  testing::DbGuard guard{*db, c.ctx};
  db->prepare(c.ctx, "register", Json::object());
  connect(c.ctx, "n2")->query("STOP ALL SLAVES");
  connect(c.ctx, "n1")->query("STOP ALL SLAVES");
  connect(c.ctx, "n1")->query("INSERT INTO fl_register (k, v) VALUES (9, 1)");
  connect(c.ctx, "n2")->query("INSERT INTO fl_register (k, v) VALUES (9, 2)");
  connect(c.ctx, "n1")->query("START ALL SLAVES");
  connect(c.ctx, "n2")->query("START ALL SLAVES");
  Json health = capability<ReportsReplication>(*db)->replication_health(c.ctx, "register");
  INFO(health.dump(2));
  CHECK(health["halted"].empty());
  CHECK(health["diverged"] == Json::array({"fl_register"}));
  std::string v1 = one(*connect(c.ctx, "n1"), "SELECT v FROM fl_register WHERE k = 9");
  std::string v2 = one(*connect(c.ctx, "n2"), "SELECT v FROM fl_register WHERE k = 9");
  std::cerr << "  mariadb-async IDEMPOTENT: k 9 is " << v1 << " on n1 and " << v2 << " on n2\n";
  CHECK(v1 != v2);
}

TEST_CASE("mariadb-async: through the runner, ids collide without offsets and replication halts",
          "[mariadb-async]") {
  FAULTLINE_REQUIRE_ROOT();
  Cluster c;
  fs::path results = fs::temp_directory_path() / ("flasync-results-" + std::to_string(::getpid()));
  for (const bool offsets : {true, false}) {
    DYNAMIC_SECTION("auto-increment " << (offsets ? "offsets" : "none")) {
      run::TestSpec spec;
      spec.db = "mariadb-async";
      spec.db_options = {{"auto-increment", offsets ? "offsets" : "none"}};
      // Semi-sync on the valid run: every commit waits for the next node in the ring.
      if (offsets) spec.db_options["semi-sync"] = "after-sync";
      spec.workload = "unique-ids";
      spec.nodes_file = std::string("/var/lib/faultline/clusters/") + kName + "/inventory.json";
      spec.time_limit_s = 4;
      spec.concurrency = "2n";
      spec.results_dir = results.string();
      spec.seed = 11;
      run::RunOptions ro;
      ro.echo_log = false;
      ro.progress = false;
      ro.handle_signals = false;
      run::RunOutcome out = run::run_test(spec, ro);
      INFO(out.summary);
      const Json& checkers = out.results["checkers"];
      REQUIRE(checkers.contains("replication"));
      const Json& repl = checkers["replication"];
      INFO(repl.dump(2));
      if (offsets) {
        CHECK(out.validity == Validity::kValid);
        CHECK(repl["valid"] == "valid");
        int64_t acknowledged = 0;
        for (const auto& n : {"n1", "n2", "n3"}) {
          INFO(n);
          REQUIRE(repl["semi-sync"].contains(n));
          CHECK(repl["semi-sync"][n]["master-status"] == "ON");
          acknowledged += repl["semi-sync"][n]["yes-tx"].get<int64_t>();
        }
        CHECK(acknowledged >= checkers["unique-ids"]["generates"]["ok"].get<int64_t>() / 2);
        std::cerr << "  mariadb-async unique-ids, offsets, semi-sync after-sync: "
                  << checkers["unique-ids"]["summary"].get<std::string>() << "; " << acknowledged
                  << " commits acknowledged by a replica\n";
      } else {
        // Every master starts at 1: the same ids on every node, each a duplicate key on the
        // others' replicas (1062), which halts their SQL threads.
        CHECK(out.validity == Validity::kInvalid);
        CHECK(checkers["unique-ids"]["valid"] == "invalid");
        CHECK(repl["valid"] == "invalid");
        CHECK(repl["anomaly-counts"]["replication-halted"].get<int64_t>() >= 1);
        CHECK_THAT(repl["explanation"].get<std::string>(), Catch::Contains("error 1062"));
        std::cerr << "  mariadb-async unique-ids without offsets: "
                  << checkers["unique-ids"]["summary"].get<std::string>() << "; "
                  << repl["summary"].get<std::string>() << "\n";
      }
      // The report is in the history, so analyze judges it again the same way.
      run::RunOutcome again = run::analyze_run(out.dir, false);
      CHECK(again.results["checkers"]["replication"]["valid"] == repl["valid"]);
    }
  }
  fs::remove_all(results);
}

// Issue 22: a master removed from the ring (clean shutdown; its successor replicates from its
// predecessor; the offsets of the two left rewritten to 2/1 and 2/2) and added back (the ring
// and 3/i again), while clients add to a set: the node catches up over GTID, nothing
// acknowledged is lost, every channel runs and the tables agree.
TEST_CASE("mariadb-async: a master removed from the ring and added back: nothing lost",
          "[mariadb-async][membership]") {
  FAULTLINE_REQUIRE_ROOT();
  Cluster c;
  fs::path results = fs::temp_directory_path() / ("flasync-member-" + std::to_string(::getpid()));
  run::TestSpec spec;
  spec.db = "mariadb-async";
  spec.workload = "set";
  spec.nodes_file = std::string("/var/lib/faultline/clusters/") + kName + "/inventory.json";
  spec.nemesis = {"membership"};
  spec.nemesis_schedule = Json::parse(R"([
      {"at": 1, "f": "leave", "value": {"node": "n2", "mode": "remove"}},
      {"at": 3, "f": "join"}])");
  spec.time_limit_s = 7;
  spec.concurrency = "2n";
  spec.rate = 100;
  spec.recovery_wait_s = 1;
  spec.results_dir = results.string();
  spec.seed = 29;
  auto t0 = Clock::now();
  run::RunOutcome out = testing::run_quietly(spec);
  INFO(out.summary);
  const testing::NemesisOps nem = testing::nemesis_ops(out.dir);
  const std::string& ops = nem.text;
  Json removed, back;
  for (const auto& o : nem.ops) {
    if (o.f == "leave" && o.value.contains("done")) removed = o.value["done"];
    if (o.f == "join" && o.value.is_object() && o.value.contains("n2")) back = o.value["n2"];
  }
  const Json& set = out.results["checkers"]["set-full"];
  std::cerr << "measured: mariadb-async set, n2 out of the ring and back: "
            << std::chrono::duration<double>(Clock::now() - t0).count() << " s, verdict "
            << to_string(out.validity) << "\n"
            << ops << out.summary << "\n";
  INFO(ops);
  REQUIRE(removed.is_object());
  CHECK(removed["channels"] == Json::parse(R"({"n1": ["n3"], "n3": ["n1"]})"));
  CHECK(removed["auto-increment"] == Json::parse(R"({"n1": "2/1", "n3": "2/2"})"));
  CHECK(removed["running"] == true);
  REQUIRE(back.is_object());
  CHECK(back["channels"] == Json::parse(R"({"n1": ["n3"], "n2": ["n1"], "n3": ["n2"]})"));
  CHECK(back["auto-increment"] == Json::parse(R"({"n1": "3/1", "n2": "3/2", "n3": "3/3"})"));
  CHECK(back["running"] == true);
  CHECK(out.validity == Validity::kValid);
  CHECK(out.results["checkers"]["replication"]["valid"] == "valid");
  CHECK(set.value("lost-count", -1) == 0);
  CHECK(set.value("acknowledged", 0) > 200);
  CHECK(set.value("converged", false));
  std::error_code ec;
  fs::remove_all(results, ec);
}
