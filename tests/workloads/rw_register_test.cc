// The rw-register workload: Elle transactions over hot keys (tests/workloads/
// workload_test_util.h, check_elle_txns), and end to end ("memory-stale" serves stale reads on
// its lagging nodes).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("rw-register generator", "[rw-register][workloads]") {
  check_elle_txns("rw-register", "w");
}

TEST_CASE("rw-register end to end: memory valid, memory-stale invalid", "[rw-register][e2e]") {
  expect_run("memory", "rw-register", "rw-register", Validity::kValid, 1);
  expect_run("memory-stale", "rw-register", "rw-register", Validity::kInvalid, 2);
}
