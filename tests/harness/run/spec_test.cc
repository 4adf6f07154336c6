// TestSpec: every key, validation with JSON paths, concurrency and nemesis lists.
#include "harness/run/spec.h"

#include <catch2/catch.hpp>

#include "harness/errors.h"

using namespace faultline;

namespace {

void expect_error(const Json& j, const std::string& fragment) {
  try {
    run::parse_spec(j, "spec.json");
    FAIL("expected a ConfigError for " << j.dump());
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains(fragment));
  }
}

}  // namespace

TEST_CASE("spec defaults and every key round-trip", "[spec]") {
  run::TestSpec d = run::parse_spec(Json::object());
  CHECK(d.db == "memory");
  CHECK(d.workload == "register");
  CHECK(d.time_limit_s == 60);
  CHECK(d.concurrency == "3n");  // docs/detection.md
  CHECK(d.rate == 1000);
  CHECK(d.nemesis.empty());
  CHECK(!d.seed);
  CHECK(d.test_name() == "memory-register");

  Json full = {{"name", "t"},
               {"db", "galera"},
               {"db-options", {{"isolation", "serializable"}}},
               {"workload", "bank"},
               {"workload-options", {{"accounts", 5}}},
               {"nemesis", {"partition", "kill"}},
               {"nemesis-options", {{"partition", {{"shape", "majority"}}}}},
               {"nemesis-interval", 5},
               {"time-limit", 30},
               {"concurrency", "2n"},
               {"rate", 50},
               {"op-timeout", 3},
               {"recovery-wait", 1},
               {"final-time-limit", 20},
               {"checker-time-limit", 100},
               {"test-count", 3},
               {"seed", 42},
               {"nodes", {"n1", "n2"}},
               {"ssh", {{"username", "root"}, {"port", 2222}}},
               {"leave-db-running", true},
               {"consistency-model", "serializable"},
               {"results-dir", "/tmp/r"}};
  run::TestSpec s = run::parse_spec(full);
  CHECK(s.seed == 42u);
  CHECK(s.nemesis == std::vector<std::string>{"partition", "kill"});
  CHECK(s.test_name() == "t");
  // to_json gives back every key, and parsing it again gives the same spec.
  Json again = s.to_json();
  for (const auto& [k, v] : full.items()) {
    INFO(k);
    CHECK(again.contains(k));
  }
  CHECK(run::parse_spec(again).to_json() == again);
}

TEST_CASE("unknown keys are rejected with their JSON path", "[spec]") {
  expect_error({{"time-limt", 5}}, "spec.json: /time-limt: unknown key");
  expect_error({{"ssh", {{"user", "x"}}}}, "spec.json: /ssh/user: unknown key");
  expect_error({{"nemesis-options", {{"partition", 5}}}},
               "/nemesis-options/partition: expected an object");
  expect_error({{"nodes", {"n1", 3}}}, "/nodes/1: expected a non-empty string");
}

TEST_CASE("spec values are type- and range-checked", "[spec]") {
  expect_error({{"time-limit", "60"}}, "/time-limit: expected a number, found a string");
  expect_error({{"time-limit", -1}}, "/time-limit: expected a number > 0");
  expect_error({{"nemesis-interval", 0}}, "/nemesis-interval: expected a number > 0");
  expect_error({{"test-count", 0}}, "/test-count: expected an integer >= 1");
  expect_error({{"seed", -3}}, "/seed: expected an integer >= 0");
  expect_error({{"concurrency", "x5"}}, "/concurrency");
  expect_error({{"leave-db-running", "yes"}}, "/leave-db-running: expected true or false");
  expect_error({{"nodes", {"n1"}}, {"local", 3}}, "at most one of nodes, nodes-file and local");
  expect_error(Json::array(), "/: expected an object");
}

TEST_CASE("concurrency N and Nn", "[spec]") {
  CHECK(run::resolve_concurrency("5", 3) == 5);
  CHECK(run::resolve_concurrency("2n", 3) == 6);
  CHECK(run::resolve_concurrency("1n", 5) == 5);
  CHECK_THROWS_AS(run::resolve_concurrency("0", 3), ConfigError);
  CHECK_THROWS_AS(run::resolve_concurrency("n", 3), ConfigError);
  CHECK_THROWS_AS(run::resolve_concurrency("3x", 3), ConfigError);
  CHECK(run::parse_spec({{"concurrency", 10}}).concurrency == "10");
}

TEST_CASE("nemesis lists: none, all, comma-separated", "[spec]") {
  CHECK(run::split_nemesis_list("none").empty());
  CHECK(run::split_nemesis_list("").empty());
  CHECK(run::split_nemesis_list("partition, kill,partition") ==
        std::vector<std::string>{"partition", "kill"});
  CHECK(run::parse_spec({{"nemesis", "all"}}).nemesis == std::vector<std::string>{"all"});
  CHECK(run::parse_spec({{"nemesis", {"a,b", "c"}}}).nemesis ==
        std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("a zero or absurd time is refused when the spec is read", "[spec][regression]") {
  // A 0 s main phase recorded nothing, and the empty history passed; a huge one overflowed.
  expect_error({{"time-limit", 0}}, "/time-limit");
  expect_error({{"time-limit", 1e300}}, "at most 1000000");
  expect_error({{"op-timeout", 1e12}}, "/op-timeout");
  expect_error({{"nemesis-schedule", {{{"at", 1e300}, {"f", "kill"}}}}}, "/nemesis-schedule/0/at");
  CHECK(run::parse_spec({{"time-limit", 0.5}}).time_limit_s == 0.5);
}
