// The bank workload: its ops, params and checker, routing, final reads, and end to end against
// the in-process databases ("memory-stale" shows transfers half done).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("bank generator: transfers and reads, params, checker", "[bank][workloads]") {
  auto w = make_workload("bank", {{"accounts", 3}, {"total", 30}, {"max-transfer", 2}});
  CHECK(w->vocabulary() == "bank");
  WorkloadContext ctx = three_nodes();
  ctx.retry = "idempotent";
  Json params = w->client_params(ctx);
  CHECK(params["accounts"] == Json::array({0, 1, 2}));
  CHECK(params["total"] == 30);
  CHECK(params["negative-balances"] == false);
  CHECK(params["retry"] == "idempotent");
  auto checkers = w->checkers(ctx);
  REQUIRE(checkers.size() == 2);
  // stats: a run where a needed f never succeeded is unknown, not valid.
  CHECK(checkers[1].name == "stats");
  CHECK(checkers[1].options["required"] == Json::array({"read"}));
  CHECK(checkers[0].name == "bank");
  CHECK(checkers[0].options["total"] == 30);
  uint64_t seed = 31;
  check_deterministic(*w, ctx, seed);
  int transfers = 0, reads = 0;
  for (const auto& o : main_ops(*w, ctx, seed)) {
    if (o.f == "read") {
      ++reads;
      continue;
    }
    REQUIRE(o.f == "transfer");
    ++transfers;
    CHECK(o.value["from"] != o.value["to"]);
    CHECK(o.value["amount"].get<int64_t>() >= 1);
    CHECK(o.value["amount"].get<int64_t>() <= 2);
  }
  CHECK(transfers > 50);
  CHECK(reads > 50);
  check_final_reads(*w, "read");
  // home-node: no keys, so everything goes through the first node's threads.
  for (const auto& o : main_ops(*w, three_nodes("home-node"), seed)) CHECK(o.thread % 3 == 0);
  CHECK_THROWS_WITH(make_workload("bank", {{"acounts", 3}}),
                    Catch::Contains("unknown option 'acounts'"));
  CHECK_THROWS_WITH(make_workload("bank", {{"accounts", 1}}), Catch::Contains(">= 2"));
}

TEST_CASE("bank end to end: memory valid, memory-stale invalid", "[bank][e2e]") {
  expect_run("memory", "bank", "bank", Validity::kValid, 1);
  auto out = expect_run("memory-stale", "bank", "bank", Validity::kInvalid, 2);
  CHECK(out.results["checkers"]["bank"]["anomaly-counts"].contains("wrong-total"));
}
