// The list-append workload: Elle transactions over hot keys (tests/workloads/
// workload_test_util.h, check_elle_txns), and end to end ("memory-stale" serves stale reads on
// its lagging nodes).
#include "tests/workloads/workload_test_util.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("list-append generator", "[list-append][workloads]") {
  check_elle_txns("list-append", "append");
}

TEST_CASE("list-append end to end: memory valid, memory-stale invalid", "[list-append][e2e]") {
  expect_run("memory", "list-append", "list-append", Validity::kValid, 1);
  expect_run("memory-stale", "list-append", "list-append", Validity::kInvalid, 2);
}
