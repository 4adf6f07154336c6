// Kill and pause through the database's capabilities (the in-process memory database), targets,
// and the build-time capability check.
#include <algorithm>
#include <catch2/catch.hpp>

#include "clusters/memory/memory_db.h"
#include "harness/nemesis.h"
#include "tests/nemeses/nemesis_test_util.h"

using namespace faultline;
using namespace faultline::testing;

namespace {

// A database with no capabilities at all.
class PlainDb : public Db {
 public:
  std::string name() const override { return "plain"; }
  void setup(const DbContext&) override {}
  void teardown(const DbContext&) override {}
  std::vector<std::string> vocabularies() const override { return {"register"}; }
  std::unique_ptr<Client> new_client(const std::string&) override { return nullptr; }
};

}  // namespace

TEST_CASE("kill/pause: a database without the capability is refused at build", "[process]") {
  PlainDb db;
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  o.db = &db;
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "kill")(o),
                    "nemesis 'kill' needs a database that can be killed and restarted; 'plain' "
                    "cannot");
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "pause")(o),
                    Catch::Contains("nemesis 'pause' needs a database that can be paused"));
}

TEST_CASE("kill/pause: targets, stop undoes, teardown heals everything", "[process]") {
  DbContext dctx;
  dctx.nodes = {"n1", "n2", "n3", "n4", "n5"};
  auto db = DbRegistry::get("db", "memory")(Json::object());
  db->setup(dctx);
  auto* mem = dynamic_cast<MemoryDb*>(db.get());
  REQUIRE(mem);
  NemesisOptions o;
  o.nodes = dctx.nodes;
  o.db = db.get();
  o.options = {{"targets", {"primaries"}}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "kill")(o),
                    Catch::Contains("needs a database that knows its primaries"));
  o.options = {{"targets", {"majority"}}};
  o.interval_ns = 1000;
  auto kill = NemesisRegistry::get("nemesis", "kill")(o);
  auto ops = simulate(*kill.generator, 1, 3, 0, 2);
  REQUIRE(ops.size() == 2);
  CHECK(ops[0].f == "kill");
  CHECK(ops[0].value["target"] == "majority");
  CHECK(ops[0].value["nodes"].size() == 3);
  CHECK(ops[1].f == "start");

  NemesisContext ctx;
  ctx.db = db.get();
  ctx.db_ctx = &dctx;
  ctx.nodes = dctx.nodes;
  Completion c = kill.nemesis->invoke(ctx, nemesis_op("kill", ops[0].value));
  CHECK(c.value.size() == 3);
  CHECK(mem->store().killed.size() == 3);
  kill.nemesis->invoke(ctx, nemesis_op("start"));
  CHECK(mem->store().killed.empty());
  kill.nemesis->invoke(ctx, nemesis_op("kill", {{"target", {"n2"}}, {"nodes", {"n2"}}}));
  CHECK(mem->store().killed == std::set<std::string>{"n2"});
  kill.nemesis->teardown(ctx);
  CHECK(mem->store().killed.empty());

  o.options = Json::object();
  auto pause = NemesisRegistry::get("nemesis", "pause")(o);
  pause.nemesis->invoke(ctx, nemesis_op("pause", {{"target", "all"}, {"nodes", dctx.nodes}}));
  CHECK(mem->store().paused.size() == 5);
  pause.nemesis->teardown(ctx);
  CHECK(mem->store().paused.empty());
}

TEST_CASE("kill/pause: a {role} target is the inventory's nodes of that role", "[process]") {
  DbContext dctx;
  dctx.nodes = {"n1", "n2", "n3"};
  auto db = DbRegistry::get("db", "memory")(Json::object());
  db->setup(dctx);
  auto* mem = dynamic_cast<MemoryDb*>(db.get());
  REQUIRE(mem);
  NemesisOptions o;
  o.nodes = dctx.nodes;
  o.db = db.get();
  o.interval_ns = 1000;
  o.roles = {{"n1", "arbitrator"}, {"n2", "master"}, {"n3", "master"}};
  o.options = {{"targets", {{{"role", "master"}}}}};
  auto kill = NemesisRegistry::get("nemesis", "kill")(o);
  auto ops = simulate(*kill.generator, 1, 3, 0, 2);
  REQUIRE(ops.size() == 2);
  CHECK(ops[0].value["nodes"] == Json{"n2", "n3"});
  NemesisContext ctx;
  ctx.db = db.get();
  ctx.db_ctx = &dctx;
  ctx.nodes = dctx.nodes;
  kill.nemesis->invoke(ctx, nemesis_op("kill", ops[0].value));
  CHECK(mem->store().killed == std::set<std::string>{"n2", "n3"});
  kill.nemesis->teardown(ctx);
  o.options = {{"targets", {{{"role", "router"}}}}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "pause")(o),
                    Catch::Contains("/targets: no node has role 'router' in the inventory"));
}

TEST_CASE("packet: faults no mechanism can produce are refused with a clear message", "[packet]") {
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  o.options = {{"faults", {"loss", "corrupt"}}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "packet")(o),
                    Catch::Contains("unknown fault 'corrupt'"));
  o.options = {{"faults", {"rate"}}, {"rate", "fast"}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "packet")(o), Catch::Contains("/rate"));
  {
    // duplicate needs netem: refused at setup on a node whose kernel has only tbf.
    NemesisOptions d;
    d.nodes = {"n1"};
    d.options = {{"faults", {"duplicate"}}};
    auto remote = probing_remote(1);
    std::vector<std::string> seen;
    remote->script("n1").fallback = [&seen](const Command& c) {
      ExecResult r;
      std::string script = c.argv.size() > 2 ? c.argv[2] : "";
      seen.push_back(script);
      if (script.find("SSH_CONNECTION") != std::string::npos)
        r.out = "10.0.0.1 1 10.0.0.11 22\n0\nb\n";
      if (script.find("1f01: netem") != std::string::npos) r.out = "tbf\n";
      return r;
    };
    auto p = NemesisRegistry::get("nemesis", "packet")(d);
    NemesisContext ctx;
    ctx.remote = remote.get();
    ctx.nodes = d.nodes;
    CHECK_THROWS_WITH(p.nemesis->setup(ctx), Catch::Contains("node n1's kernel has no sch_netem"));
    // Setup healed first, and heal removes only our root qdisc (handle 1f00:).
    bool healed_tc = false;
    for (const auto& sc : seen) {
      healed_tc = healed_tc || sc.find("grep -q '^qdisc htb 1f00: root'") != std::string::npos;
    }
    CHECK(healed_tc);
  }
  o.options = {{"loss", 1.5}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "packet")(o), Catch::Contains("loss"));
  o.options = {{"faults", {"delay"}}, {"dir", "/d"}};
  auto remote = probing_remote(1);
  remote->script("n1").fallback = [](const Command& c) {
    ExecResult r;
    if (c.argv.size() > 2 && c.argv[2].find("SSH_CONNECTION") != std::string::npos) {
      r.out = "10.0.0.1 1 10.0.0.11 22\n0\nb\n";
    } else if (c.argv.size() > 2 && c.argv[2].find("gcc") != std::string::npos) {
      r.exit_status = 3;
      r.err = "no libnetfilter-queue-dev";
    }
    return r;
  };
  o.nodes = {"n1"};
  auto p = NemesisRegistry::get("nemesis", "packet")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  CHECK_THROWS_WITH(p.nemesis->setup(ctx),
                    Catch::Contains("node n1 has no tc netem and cannot build the NFQUEUE "
                                    "delayer (no libnetfilter-queue-dev"));
}

TEST_CASE(
    "kill/pause: a scheduled op's target is resolved, an op with none acts on no node and "
    "says so",
    "[process][regression]") {
  // Issue 14 item 6: the documented schedule entry {"f": "kill", "value": {"target": "one"}}
  // killed nothing (only the generator turned targets into nodes), and {"f": "kill"} with no
  // value was recorded without error: the run passed as if a node had been killed.
  DbContext dctx;
  dctx.nodes = {"n1", "n2", "n3"};
  auto db = DbRegistry::get("db", "memory")(Json::object());
  db->setup(dctx);
  auto* mem = dynamic_cast<MemoryDb*>(db.get());
  REQUIRE(mem);
  NemesisOptions o;
  o.nodes = dctx.nodes;
  o.db = db.get();
  auto kill = NemesisRegistry::get("nemesis", "kill")(o);
  NemesisContext ctx;
  ctx.db = db.get();
  ctx.db_ctx = &dctx;
  ctx.nodes = dctx.nodes;
  Completion c = kill.nemesis->invoke(ctx, nemesis_op("kill", {{"target", "one"}}));
  CHECK(c.error.is_null());
  CHECK(mem->store().killed.size() == 1);
  kill.nemesis->invoke(ctx, nemesis_op("start"));
  Completion none = kill.nemesis->invoke(ctx, nemesis_op("kill"));
  REQUIRE(none.error.is_string());
  CHECK_THAT(none.error.get<std::string>(), Catch::Contains("acted on no node"));
  CHECK(mem->store().killed.empty());
  // The schedule's values are checked when the test is built.
  REQUIRE(kill.check_op);
  CHECK_NOTHROW(kill.check_op("kill", {{"target", "one"}}));
  CHECK_NOTHROW(kill.check_op("kill", {{"nodes", {"n2"}}}));
  CHECK_NOTHROW(kill.check_op("start", nullptr));
  CHECK_THROWS_WITH(kill.check_op("kill", nullptr), Catch::Contains("needs {\"target\""));
  CHECK_THROWS_WITH(kill.check_op("kill", {{"target", "some"}}), Catch::Contains("unknown target"));
  CHECK_THROWS_WITH(kill.check_op("kill", {{"nodes", {"n9"}}}),
                    Catch::Contains("\"n9\" is not a node"));
  CHECK_THROWS_WITH(kill.check_op("kill", {{"target", "primaries"}}),
                    Catch::Contains("does not know its primaries"));
}

TEST_CASE("crash: every node at once, half an interval out of step with partitions", "[process]") {
  DbContext dctx;
  dctx.nodes = {"n1", "n2", "n3"};
  auto db = DbRegistry::get("db", "memory")(Json::object());
  db->setup(dctx);
  auto* mem = dynamic_cast<MemoryDb*>(db.get());
  REQUIRE(mem);
  NemesisOptions o;
  o.nodes = dctx.nodes;
  o.db = db.get();
  o.interval_ns = 10'000'000'000;
  auto crash = NemesisRegistry::get("nemesis", "crash")(o);
  NemesisOptions po = o;
  po.db = nullptr;  // partitions need nodes over SSH; only their generator matters here
  auto partition = NemesisRegistry::get("nemesis", "partition")(po);
  const int64_t horizon = 60'000'000'000;
  auto ops = simulate(*crash.generator, 1, 5, 0, 100, horizon);
  auto parts = simulate(*partition.generator, 1, 5, 0, 100, horizon);
  REQUIRE(ops.size() >= 3);
  CHECK(ops[0].f == "crash");
  CHECK(ops[0].time_ns == 15'000'000'000);
  CHECK(ops[0].value["target"] == "all");
  CHECK(ops[0].value["nodes"].size() == 3);
  CHECK(ops[1].f == "restart");
  CHECK(ops[1].time_ns == 25'000'000'000);
  CHECK(ops[2].f == "crash");
  CHECK(ops[2].time_ns == 55'000'000'000);
  // Every crash lands while a partition stands.
  for (const auto& c : ops) {
    if (c.f != "crash") continue;
    bool partitioned = false;
    for (const auto& p : parts) {
      if (p.time_ns > c.time_ns) break;
      partitioned = p.f == "start-partition";
    }
    CHECK(partitioned);
  }
  NemesisContext ctx;
  ctx.db = db.get();
  ctx.db_ctx = &dctx;
  ctx.nodes = dctx.nodes;
  crash.nemesis->invoke(ctx, nemesis_op("crash", ops[0].value));
  CHECK(mem->store().killed.size() == 3);
  crash.nemesis->invoke(ctx, nemesis_op("restart"));
  CHECK(mem->store().killed.empty());
  crash.nemesis->invoke(ctx, nemesis_op("crash", {{"target", "all"}}));
  crash.nemesis->teardown(ctx);
  CHECK(mem->store().killed.empty());
  auto names = NemesisRegistry::names();  // so `--nemesis all` has it
  CHECK(std::find(names.begin(), names.end(), "crash") != names.end());
}
