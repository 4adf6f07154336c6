#include <catch2/catch.hpp>

#include "tests/support/paths.h"

using faultline::testing::faultline_binary;
using faultline::testing::run_shell;

TEST_CASE("cluster CLI: bad arguments exit 254 with one clear line", "[cli-cluster]") {
  auto too_many = run_shell(faultline_binary() + " cluster up --nodes 12 --name fltestcli");
  CHECK(too_many.status == 254);
  auto bad_name = run_shell(faultline_binary() + " cluster status --name 'Bad!'");
  CHECK(bad_name.status == 254);
  CHECK_THAT(bad_name.output, Catch::Contains("cluster name"));
  auto unknown = run_shell(faultline_binary() + " cluster exec --nodes a,b c -- true");
  CHECK(unknown.status == 254);
  CHECK_THAT(unknown.output, Catch::Contains("unknown node 'c'") && Catch::Contains("a, b"));
  auto not_up = run_shell(faultline_binary() + " cluster exec --name flnosuch n1 -- true");
  CHECK(not_up.status == 254);
  CHECK_THAT(not_up.output, Catch::Contains("not up"));
}

TEST_CASE("cluster CLI: status of a cluster that is not up exits 1", "[cli-cluster]") {
  auto r = run_shell(faultline_binary() + " cluster status --name flnosuch");
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("not up"));
}
