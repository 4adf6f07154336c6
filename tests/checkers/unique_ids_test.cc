// Checker "unique-ids": duplicates, the monotonic option, info ops.
#include <catch2/catch.hpp>

#include "tests/checkers/op_history.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("unique-ids: distinct ids are valid, info and failed ops constrain nothing",
          "[unique-ids]") {
  OpHistory h;
  h.call(0, "generate", nullptr, 1, "n1");
  h.call(1, "generate", nullptr, 3, "n2");
  h.invoke(2, "generate", nullptr, "n3").info(2);
  h.invoke(3, "generate", nullptr, "n3").fail(3);
  h.call(4, "generate", nullptr, 2, "n3");  // after 3, smaller: only monotonic cares
  auto r = check_with("unique-ids", h.build());
  CHECK(r.validity == Validity::kValid);
  auto m = check_with("unique-ids", h.build(), {{"monotonic", true}});
  CHECK(m.validity == Validity::kInvalid);
  CHECK(anomaly_count(m, "non-monotonic") == 1);
  CHECK(m.details["anomalies"][0]["ops"][0]["index"] == 2);  // id 3
  CHECK(m.details["anomalies"][0]["ops"][1]["index"] == 8);  // id 2
}

TEST_CASE("unique-ids: a duplicate names every op that got it", "[unique-ids]") {
  OpHistory h;
  h.call(0, "generate", nullptr, 1, "n1");
  h.call(1, "generate", nullptr, 2, "n2");
  h.call(2, "generate", nullptr, 2, "n3");
  auto r = check_with("unique-ids", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "duplicate-id") == 1);
  CHECK(r.details["anomalies"][0]["ops"].size() == 2);
  CHECK_THAT(r.details["explanation"].get<std::string>(),
             Catch::Contains("id 2 was handed out 2 times"));
}

TEST_CASE("unique-ids: concurrent ops may get ids in any order", "[unique-ids]") {
  OpHistory h;
  h.invoke(0, "generate", nullptr, "n1");
  h.invoke(1, "generate", nullptr, "n2");
  h.ok(0, 5).ok(1, 4);
  CHECK(check_with("unique-ids", h.build(), {{"monotonic", true}}).validity == Validity::kValid);
  CHECK(check_with("unique-ids", OpHistory().build()).validity == Validity::kUnknown);
  CHECK_THROWS(check_with("unique-ids", h.build(), {{"monotonic", 1}}));
}
