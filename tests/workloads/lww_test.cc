// The lww workload: unique blind writes, home-node routing, final read-alls, and end to end
// ("memory-stale"'s lagging nodes stamp writes one second behind: later writes lose).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("lww generator: unique writes, rotating keys, reads, routing, final reads",
          "[lww][workloads]") {
  auto w = make_workload("lww", {{"keys", 4}, {"writes-per-key", 5}});
  CHECK(w->vocabulary() == "lww");
  WorkloadContext ctx = three_nodes();
  CHECK(w->checkers(ctx).at(0).name == "lww");
  uint64_t seed = 61;
  check_deterministic(*w, ctx, seed);
  std::set<int64_t> values;
  std::map<int64_t, int> writes_per_key;
  std::set<int64_t> hot;  // keys written so far and not yet retired
  int reads = 0;
  for (const auto& o : main_ops(*w, ctx, seed)) {
    const int64_t k = o.value[0].get<int64_t>();
    if (o.f == "read") {
      ++reads;
      CHECK(o.value[1].is_null());
      continue;
    }
    CHECK(o.f == "write");
    CHECK(values.insert(o.value[1].get<int64_t>()).second);
    CHECK(++writes_per_key[k] <= 5);  // retired after 5 writes, never written again
    hot.insert(k);
    if (writes_per_key[k] == 5) hot.erase(k);
    CHECK(hot.size() <= 4);
  }
  CHECK(reads > 0);
  CHECK(writes_per_key.size() > 4);  // keys rotated
  for (const auto& o : main_ops(*w, three_nodes("home-node"), seed)) {
    CHECK(o.thread % 3 == o.value[0].get<int64_t>() % 3);
  }
  check_final_reads(*w, "read-all");
  CHECK_THROWS_WITH(make_workload("lww", {{"key", 4}}), Catch::Contains("unknown option 'key'"));
  CHECK_THROWS(make_workload("lww", {{"read-fraction", 2}}));
  auto only_writes = make_workload("lww", {{"read-fraction", 0}});
  for (const auto& o : main_ops(*only_writes, ctx, seed)) CHECK(o.f == "write");
}

TEST_CASE("lww end to end: memory valid, memory-stale invalid", "[lww][e2e]") {
  expect_run("memory", "lww", "lww", Validity::kValid, 1);
  // A later write is seen lost only when it follows the survivor: a key whose last write came
  // from the first node (about 1 in 3) shows nothing; rotating keys (8 writes each) give many
  // keys, which makes a miss unlikely.
  auto out = expect_run("memory-stale", "lww", "lww", Validity::kInvalid, 2,
                        {{"keys", 3}, {"writes-per-key", 8}});
  CHECK(out.results["checkers"]["lww"]["lost-later-writes"].get<int64_t>() > 0);
}
