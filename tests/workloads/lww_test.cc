// The lww workload: unique blind writes, home-node routing, final read-alls, and end to end
// ("memory-stale"'s lagging nodes stamp writes one second behind: later writes lose).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("lww generator: unique writes, routing, final reads", "[lww][workloads]") {
  auto w = make_workload("lww", {{"keys", 4}});
  CHECK(w->vocabulary() == "lww");
  WorkloadContext ctx = three_nodes();
  CHECK(w->checkers(ctx).at(0).name == "lww");
  uint64_t seed = 61;
  check_deterministic(*w, ctx, seed);
  std::set<int64_t> values;
  for (const auto& o : main_ops(*w, ctx, seed)) {
    CHECK(o.f == "write");
    CHECK(o.value[0].get<int64_t>() < 4);
    CHECK(values.insert(o.value[1].get<int64_t>()).second);
  }
  for (const auto& o : main_ops(*w, three_nodes("home-node"), seed)) {
    CHECK(o.thread % 3 == o.value[0].get<int64_t>() % 3);
  }
  check_final_reads(*w, "read-all");
  CHECK_THROWS_WITH(make_workload("lww", {{"key", 4}}), Catch::Contains("unknown option 'key'"));
}

TEST_CASE("lww end to end: memory valid, memory-stale invalid", "[lww][e2e]") {
  expect_run("memory", "lww", "lww", Validity::kValid, 1);
  // A later write is seen lost only when it follows the survivor: a key whose last write came
  // from the first node (about 1 in 3) shows nothing, so 12 keys make a miss unlikely
  // (about 0.4^12).
  auto out = expect_run("memory-stale", "lww", "lww", Validity::kInvalid, 2, {{"keys", 12}});
  CHECK(out.results["checkers"]["lww"]["lost-later-writes"].get<int64_t>() > 0);
}
