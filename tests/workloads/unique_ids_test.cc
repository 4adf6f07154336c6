// The unique-ids workload: generate ops, routing, the monotonic option, and end to end
// ("memory-stale" hands out an id twice now and then).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("unique-ids generator: generate ops, checker options, routing",
          "[unique-ids][workloads]") {
  auto w = make_workload("unique-ids", {{"monotonic", true}});
  CHECK(w->vocabulary() == "unique-ids");
  WorkloadContext ctx = three_nodes();
  auto checkers = w->checkers(ctx);
  CHECK(checkers.at(0).name == "unique-ids");
  CHECK(checkers.at(0).options == Json{{"monotonic", true}});
  check_deterministic(*w, ctx, 71);
  for (const auto& o : main_ops(*w, three_nodes("home-node"), 71)) {
    CHECK(o.f == "generate");
    CHECK(o.thread % 3 == 0);
  }
  CHECK(w->final_generator(ctx) == nullptr);
  CHECK_THROWS_WITH(make_workload("unique-ids", {{"monotonic", "yes"}}),
                    Catch::Contains("true or false"));
}

TEST_CASE("unique-ids end to end: memory valid, memory-stale invalid", "[unique-ids][e2e]") {
  expect_run("memory", "unique-ids", "unique-ids", Validity::kValid, 1, {{"monotonic", true}});
  expect_run("memory-stale", "unique-ids", "unique-ids", Validity::kInvalid, 2);
}
