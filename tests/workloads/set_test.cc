// The set workload: unique adds, final reads on every node, routing, and end to end ("memory-
// stale"'s last node drops elements from its reads: no convergence).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("set generator: unique adds, final reads, routing", "[set][workloads]") {
  auto w = make_workload("set", {{"read-fraction", 0.1}});
  CHECK(w->vocabulary() == "set");
  WorkloadContext ctx = three_nodes();
  CHECK(w->checkers(ctx).at(0).name == "set-full");
  uint64_t seed = 41;
  check_deterministic(*w, ctx, seed);
  std::set<int64_t> added;
  for (const auto& o : main_ops(*w, ctx, seed)) {
    if (o.f == "add") CHECK(added.insert(o.value.get<int64_t>()).second);
  }
  CHECK(added.size() > 200);
  check_final_reads(*w, "read");
  for (const auto& o : main_ops(*w, three_nodes("home-node"), seed)) CHECK(o.thread % 3 == 0);
  CHECK_THROWS_WITH(make_workload("set", {{"read-fraction", 2}}), Catch::Contains("[0, 1]"));
}

TEST_CASE("set end to end: memory valid, memory-stale invalid", "[set][e2e]") {
  expect_run("memory", "set", "set-full", Validity::kValid, 1);
  auto out = expect_run("memory-stale", "set", "set-full", Validity::kInvalid, 2);
  CHECK(out.results["checkers"]["set-full"]["converged"] == false);
}
