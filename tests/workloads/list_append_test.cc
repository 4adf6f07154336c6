// The Elle workloads (list-append, rw-register): transactions over hot keys, unique values per
// key, key retirement, home-node routing, the consistency model passed to the checker, and end
// to end ("memory-stale" serves stale reads on its lagging nodes).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

namespace {

void check_txns(const std::string& workload, const std::string& write_f) {
  uint64_t seed = 81;
  announce_seed(workload + " generator", seed);
  auto w = make_workload(
      workload,
      {{"key-count", 2}, {"min-txn-length", 2}, {"max-txn-length", 3}, {"max-writes-per-key", 4}});
  CHECK(w->vocabulary() == workload);
  WorkloadContext ctx = three_nodes();
  auto checkers = w->checkers(ctx);
  REQUIRE(checkers.size() == 1);
  CHECK(checkers[0].name == workload);
  CHECK(checkers[0].options == Json{{"consistency-model", "strict-serializable"}});
  ctx.consistency_model = "snapshot-isolation";
  CHECK(w->checkers(ctx)[0].options["consistency-model"] == "snapshot-isolation");
  check_deterministic(*w, ctx, seed);
  std::map<int64_t, std::set<int64_t>> written;  // key -> values
  std::map<int64_t, int64_t> writes;
  for (const auto& o : main_ops(*w, ctx, seed)) {
    CHECK(o.f == "txn");
    CHECK(o.value.size() >= 2);
    CHECK(o.value.size() <= 3);
    for (const auto& m : o.value) {
      if (m[0] == "r") {
        CHECK(m[2].is_null());
        continue;
      }
      CHECK(m[0] == write_f);
      int64_t key = m[1].get<int64_t>();
      CHECK(written[key].insert(m[2].get<int64_t>()).second);  // unique per key
      CHECK(++writes[key] <= 4);                               // then the key retires
    }
  }
  CHECK(written.size() > 10);
  // home-node: every key of a transaction is home to the thread's node.
  for (const auto& o : main_ops(*w, three_nodes("home-node"), seed)) {
    for (const auto& m : o.value) CHECK(m[1].get<int64_t>() % 3 == o.thread % 3);
  }
  CHECK_THROWS_WITH(make_workload(workload, {{"min-txn-length", 5}, {"max-txn-length", 2}}),
                    Catch::Contains("min-txn-length must be <= max-txn-length"));
  CHECK_THROWS_WITH(make_workload(workload, {{"keys", 5}}), Catch::Contains("unknown option"));
}

}  // namespace

TEST_CASE("list-append generator", "[list-append][workloads]") {
  check_txns("list-append", "append");
}

TEST_CASE("rw-register generator", "[rw-register][workloads]") { check_txns("rw-register", "w"); }

TEST_CASE("list-append end to end: memory valid, memory-stale invalid", "[list-append][e2e]") {
  expect_run("memory", "list-append", "list-append", Validity::kValid, 1);
  expect_run("memory-stale", "list-append", "list-append", Validity::kInvalid, 2);
}

TEST_CASE("rw-register end to end: memory valid, memory-stale invalid", "[rw-register][e2e]") {
  expect_run("memory", "rw-register", "rw-register", Validity::kValid, 1);
  expect_run("memory-stale", "rw-register", "rw-register", Validity::kInvalid, 2);
}
