// Checker "set-full": lost, unexpected, duplicate, failed adds present, recovered info adds,
// convergence of the final reads, and how final reads are told apart.
#include <catch2/catch.hpp>

#include "tests/checkers/op_history.h"

using namespace faultline;
using namespace faultline::testing;

namespace {
const Json kFinal = {{"final", true}};

// Adds 0..n-1 (ok) on process 0.
OpHistory adds(int n) {
  OpHistory h;
  for (int x = 0; x < n; ++x) h.call(0, "add", x, x, "n1");
  return h;
}
}  // namespace

TEST_CASE("set-full: every acknowledged add in equal final reads is valid", "[set-full]") {
  OpHistory h = adds(3);
  h.invoke(1, "add", 3, "n2").info(1);  // unknown: absent is fine
  h.invoke(2, "add", 4, "n2").info(2);  // unknown: present is "recovered"
  h.invoke(3, "add", 5, "n2").fail(3);
  h.call(4, "read", nullptr, {0, 1}, "n1");  // a non-final read
  for (auto [p, node] : {std::pair{5, "n1"}, {6, "n2"}, {7, "n3"}}) {
    h.call(p, "read", nullptr, {0, 1, 2, 4}, node, kFinal);
  }
  auto r = check_with("set-full", h.build());
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kValid);
  CHECK(r.details["recovered"] == Json::array({4}));
  CHECK(r.details["info-absent-count"] == 1);
  CHECK(r.details["converged"] == true);
  CHECK(r.details["final-reads"] == 3);
}

TEST_CASE("set-full: a lost acknowledged add", "[set-full]") {
  OpHistory h = adds(3);
  h.call(5, "read", nullptr, {0, 2}, "n1", kFinal);
  h.call(6, "read", nullptr, {0, 2}, "n2", kFinal);
  auto r = check_with("set-full", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(has_anomaly(r, "lost"));
  CHECK(r.details["lost"] == Json::array({1}));
  CHECK(r.details["anomalies"][0]["ops"][0]["index"] == 2);  // the add of 1
}

TEST_CASE("set-full: final reads that differ between nodes do not converge", "[set-full]") {
  OpHistory h = adds(3);
  h.call(5, "read", nullptr, {0, 1, 2}, "n1", kFinal);
  h.call(6, "read", nullptr, {0, 2}, "n2", kFinal);
  auto r = check_with("set-full", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(!has_anomaly(r, "lost"));  // n1 still has 1
  CHECK(anomaly_count(r, "divergence") == 1);
  CHECK(r.details["converged"] == false);
  CHECK(r.details["nodes"]["n2"]["missing"] == Json::array({1}));
  CHECK_THAT(r.details["explanation"].get<std::string>(), Catch::Contains("n2"));
}

TEST_CASE("set-full: unexpected, duplicate and failed-add-present elements", "[set-full]") {
  OpHistory h = adds(2);
  h.invoke(1, "add", 7, "n1").fail(1);
  h.call(5, "read", nullptr, {0, 1, 1, 7, 9}, "n1", kFinal);
  auto r = check_with("set-full", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(has_anomaly(r, "unexpected"));
  CHECK(has_anomaly(r, "duplicate"));
  CHECK(has_anomaly(r, "failed-add-present"));
}

TEST_CASE("set-full: without marks the reads after the last add are final", "[set-full]") {
  OpHistory h = adds(2);
  h.call(5, "read", nullptr, {0}, "n1");  // before the last add: not final
  h.call(0, "add", 2, 2, "n1");
  h.call(6, "read", nullptr, {0, 1, 2}, "n1");
  auto r = check_with("set-full", h.build());
  CHECK(r.validity == Validity::kValid);
  CHECK(r.details["final-reads-marked"] == false);
  OpHistory none = adds(2);
  CHECK(check_with("set-full", none.build()).validity == Validity::kUnknown);
}

TEST_CASE("set-full: a node without a final read is listed, not judged", "[set-full]") {
  OpHistory h = adds(2);
  h.call(1, "add", 2, 2, "n3");
  h.call(5, "read", nullptr, {0, 1, 2}, "n1", kFinal);
  h.invoke(6, "read", nullptr, "n3", kFinal).fail(6);
  auto r = check_with("set-full", h.build());
  CHECK(r.validity == Validity::kValid);
  CHECK(r.details["nodes-without-final-read"] == Json::array({"n3"}));
  CHECK_THAT(r.details["summary"].get<std::string>(), Catch::Contains("no final read from"));
}

namespace {
// Adds 0..2 on n1, then on each of n1..n3 a read and a final read, every one holding `read`.
History six_reads(OpHistory h, const Json& read) {
  int p = 10;
  for (const char* node : {"n1", "n2", "n3"}) h.call(p++, "read", nullptr, read, node);
  for (const char* node : {"n1", "n2", "n3"}) h.call(p++, "read", nullptr, read, node, kFinal);
  return h.build();
}
}  // namespace

// Issue #15: one misrecorded op produced 6 set anomalies, one per read that showed it.
TEST_CASE("set-full: one misrecorded op is one anomaly", "[set-full]") {
  SECTION("an add recorded as failed that did apply") {
    OpHistory h = adds(3);
    h.invoke(1, "add", 7, "n1").fail(1);
    auto r = check_with("set-full", six_reads(h, {0, 1, 2, 7}));
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kInvalid);
    REQUIRE(r.details["anomalies"].size() == 1);
    const Json& a = r.details["anomalies"][0];
    CHECK(a["type"] == "failed-add-present");
    CHECK(a["reads"] == 6);
    CHECK(a["elements"] == Json::array({7}));
    CHECK(anomaly_count(r, "failed-add-present") == 1);
  }
  SECTION("an add that was never recorded: its element is unexpected in every read") {
    auto r = check_with("set-full", six_reads(adds(3), {0, 1, 2, 9}));
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kInvalid);
    REQUIRE(r.details["anomalies"].size() == 1);
    CHECK(r.details["anomalies"][0]["type"] == "unexpected");
    CHECK(r.details["anomalies"][0]["reads"] == 6);
  }
  SECTION("an add applied twice: a duplicate in every read") {
    auto r = check_with("set-full", six_reads(adds(3), {0, 1, 2, 2}));
    INFO(r.details.dump(2));
    REQUIRE(r.details["anomalies"].size() == 1);
    CHECK(r.details["anomalies"][0]["type"] == "duplicate");
  }
  SECTION("an acknowledged add that only one node's final read holds") {
    OpHistory h = adds(3);
    h.call(5, "read", nullptr, {0, 1, 2}, "n1", kFinal);
    h.call(6, "read", nullptr, {0, 1}, "n2", kFinal);
    h.call(7, "read", nullptr, {0, 1}, "n3", kFinal);
    auto r = check_with("set-full", h.build());
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kInvalid);
    REQUIRE(r.details["anomalies"].size() == 1);
    CHECK(r.details["anomalies"][0]["type"] == "divergence");
    CHECK(r.details["anomalies"][0]["nodes"] == Json::array({"n2", "n3"}));
    CHECK(r.details["converged"] == false);
  }
  SECTION("two misrecorded ops seen by different reads stay two anomalies") {
    OpHistory h = adds(3);
    h.call(10, "read", nullptr, {0, 8}, "n1");
    h.call(11, "read", nullptr, {0, 1, 2, 8, 9}, "n1", kFinal);
    auto r = check_with("set-full", h.build());
    INFO(r.details.dump(2));
    CHECK(anomaly_count(r, "unexpected") == 2);
  }
}
