// Checker "counter": lost updates against the final reads, P4 pairs, phantom increments,
// divergence, and what info and retried increments mean.
#include <catch2/catch.hpp>

#include "tests/checkers/op_history.h"

using namespace faultline;
using namespace faultline::testing;

namespace {
Json inc(int key, const std::string& id) { return {{"key", key}, {"id", id}}; }
Json done(int key, const std::string& id, int read) {
  return {{"key", key}, {"id", id}, {"read", read}, {"wrote", read + 1}};
}
}  // namespace

TEST_CASE("counter: final values matching the increments are valid", "[counter]") {
  OpHistory h;
  h.call(0, "increment", inc(0, "a"), done(0, "a", 0), "n1");
  h.call(1, "increment", inc(0, "b"), done(0, "b", 1), "n2");
  h.invoke(2, "increment", inc(0, "c"), "n2").info(2);  // may have applied
  h.call(3, "increment", inc(1, "d"),
         {{"key", 1}, {"id", "d"}, {"read", nullptr}, {"wrote", nullptr}, {"retried", true}}, "n3");
  h.invoke(4, "increment", inc(1, "e"), "n3").fail(4);
  h.call(5, "read", {{"key", 0}}, {{"key", 0}, {"value", 2}}, "n1");
  for (auto [p, node] : {std::pair{6, "n1"}, {7, "n2"}, {8, "n3"}}) {
    h.call(p, "read-all", nullptr, {{"0", 3}, {"1", 1}}, node);
  }
  auto r = check_with("counter", h.build());
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kValid);
  CHECK(r.details["keys"]["0"]["ok"] == 2);
  CHECK(r.details["keys"]["0"]["info"] == 1);
  CHECK(r.details["keys"]["1"]["retried"] == 1);
}

TEST_CASE("counter: lost updates and the P4 pair that lost them", "[counter]") {
  OpHistory h;
  h.invoke(0, "increment", inc(0, "a"), "n1");
  h.invoke(1, "increment", inc(0, "b"), "n2");
  h.ok(0, done(0, "a", 0));
  h.ok(1, done(0, "b", 0));  // both read 0, both wrote 1
  h.call(2, "read-all", nullptr, {{"0", 1}}, "n1");
  auto r = check_with("counter", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "lost-update-pair") == 1);
  CHECK(anomaly_count(r, "lost-updates") == 1);
  Json pair;
  for (const auto& a : r.details["anomalies"]) {
    if (a["type"] == "lost-update-pair") pair = a;
  }
  REQUIRE(pair["ops"].size() == 2);
  CHECK(pair["ops"][0]["index"] == 0);
  CHECK(pair["ops"][1]["index"] == 1);
  CHECK_THAT(r.details["explanation"].get<std::string>(), Catch::Contains("both wrote 1"));
}

TEST_CASE("counter: phantom increments and divergence", "[counter]") {
  OpHistory h;
  h.call(0, "increment", inc(0, "a"), done(0, "a", 0), "n1");
  h.call(1, "read-all", nullptr, {{"0", 1}}, "n1");
  h.call(2, "read-all", nullptr, {{"0", 3}}, "n2");
  auto r = check_with("counter", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(has_anomaly(r, "phantom-increments"));
  CHECK(has_anomaly(r, "divergence"));
  OpHistory none;
  none.call(0, "increment", inc(0, "a"), done(0, "a", 0), "n1");
  CHECK(check_with("counter", none.build()).validity == Validity::kUnknown);
}
