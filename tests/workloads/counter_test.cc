// The counter workload: increments with unique ids over a few keys, params, home-node routing,
// final read-alls on every node, and end to end ("memory-stale" loses updates).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("counter generator: increments, ids, params", "[counter][workloads]") {
  auto w = make_workload("counter", {{"keys", 4}, {"select-for-update", true}});
  CHECK(w->vocabulary() == "counter");
  WorkloadContext ctx = three_nodes();
  Json params = w->client_params(ctx);
  CHECK(params == Json{{"keys", 4}, {"select-for-update", true}, {"retry", "none"}});
  CHECK(w->checkers(ctx).at(0).name == "counter");
  uint64_t seed = 51;
  check_deterministic(*w, ctx, seed);
  std::set<std::string> ids;
  std::set<int64_t> keys;
  for (const auto& o : main_ops(*w, ctx, seed)) {
    keys.insert(o.value["key"].get<int64_t>());
    if (o.f == "increment") CHECK(ids.insert(o.value["id"].get<std::string>()).second);
  }
  CHECK(keys == std::set<int64_t>{0, 1, 2, 3});
  check_final_reads(*w, "read-all");
  CHECK_THROWS_WITH(make_workload("counter", {{"keys", 0}}), Catch::Contains(">= 1"));
}

TEST_CASE("counter routing home-node: each key on its home node's threads",
          "[counter][workloads]") {
  uint64_t seed = 52;
  announce_seed("counter home-node", seed);
  auto w = make_workload("counter", {{"keys", 5}});
  std::set<int64_t> keys;
  for (const auto& o : main_ops(*w, three_nodes("home-node"), seed)) {
    int64_t key = o.value["key"].get<int64_t>();
    keys.insert(key);
    CHECK(o.thread % 3 == key % 3);
  }
  CHECK(keys.size() == 5);
  // Fewer keys than nodes: the third node's threads have no key and stay idle.
  auto few = make_workload("counter", {{"keys", 2}});
  for (const auto& o : main_ops(*few, three_nodes("home-node"), seed)) {
    CHECK(o.thread % 3 == o.value["key"].get<int64_t>());
  }
}

TEST_CASE("counter end to end: memory valid, memory-stale invalid", "[counter][e2e]") {
  expect_run("memory", "counter", "counter", Validity::kValid, 1);
  auto out = expect_run("memory-stale", "counter", "counter", Validity::kInvalid, 2);
  CHECK(out.results["checkers"]["counter"]["anomaly-counts"].contains("lost-updates"));
}

TEST_CASE("counter end to end with home-node routing: keys stay on their home nodes",
          "[counter][e2e]") {
  const std::vector<std::string> nodes = {"n1", "n2", "n3"};
  int64_t keyed = 0;
  expect_run("memory", "counter", "counter", Validity::kValid, 3, {{"keys", 6}}, "home-node",
             [&](const History& h) {
               for (const Op& op : h) {
                 if (!op.is_invoke() || op.f == "read-all") continue;
                 ++keyed;
                 CHECK(op.node == nodes[home_node(op.value["key"].get<int64_t>(), 3)]);
               }
             });
  CHECK(keyed > 200);
}
