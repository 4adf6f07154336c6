// Checker "bank": one micro-history per anomaly, valid and invalid, and what info means.
#include <catch2/catch.hpp>

#include "tests/checkers/op_history.h"

using namespace faultline;
using namespace faultline::testing;

namespace {
const Json kOptions = {{"total", 10}, {"accounts", {0, 1}}, {"negative-balances", false}};
Json transfer(int from, int to, int amount) {
  return {{"from", from}, {"to", to}, {"amount", amount}};
}
}  // namespace

TEST_CASE("bank: reads that sum to the total are valid", "[bank]") {
  OpHistory h;
  h.call(0, "read", nullptr, {{"0", 5}, {"1", 5}});
  h.call(1, "transfer", transfer(0, 1, 3), transfer(0, 1, 3));
  h.invoke(2, "transfer", transfer(1, 0, 9)).fail(2);
  h.invoke(3, "transfer", transfer(1, 0, 1)).info(3);  // may or may not have happened
  h.call(0, "read", nullptr, {{"0", 3}, {"1", 7}});
  h.invoke(4, "read", nullptr).info(4);  // an info read constrains nothing
  auto r = check_with("bank", h.build(), kOptions);
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kValid);
  CHECK(r.details["ok-reads"] == 2);
  CHECK(r.details["transfers"]["ok"] == 1);
  CHECK(r.details["transfers"]["info"] == 1);
}

TEST_CASE("bank: a read with the wrong total is invalid and names the op", "[bank]") {
  OpHistory h;
  h.call(0, "read", nullptr, {{"0", 5}, {"1", 5}});
  h.call(1, "read", nullptr, {{"0", 2}, {"1", 5}});  // a transfer seen half done
  auto r = check_with("bank", h.build(), kOptions);
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "wrong-total") == 1);
  CHECK(r.details["bad-reads"] == 1);
  const Json& a = r.details["anomalies"][0];
  CHECK(a["ops"][0]["index"] == 2);
  CHECK_THAT(a["explanation"].get<std::string>(), Catch::Contains("sums to 7, not 10"));
  CHECK_THAT(r.details["explanation"].get<std::string>(), Catch::Contains("process 1"));
}

TEST_CASE("bank: negative balances unless allowed", "[bank]") {
  OpHistory h;
  h.call(0, "read", nullptr, {{"0", -2}, {"1", 12}});
  auto r = check_with("bank", h.build(), kOptions);
  CHECK(r.validity == Validity::kInvalid);
  CHECK(has_anomaly(r, "negative-balance"));
  Json allowed = kOptions;
  allowed["negative-balances"] = true;
  CHECK(check_with("bank", h.build(), allowed).validity == Validity::kValid);
}

TEST_CASE("bank: wrong accounts, malformed reads, inferred total, no reads", "[bank]") {
  OpHistory h;
  h.call(0, "read", nullptr, {{"0", 5}, {"2", 5}});
  CHECK(has_anomaly(check_with("bank", h.build(), kOptions), "wrong-accounts"));
  OpHistory m;
  m.call(0, "read", nullptr, Json::array({5, 5}));
  CHECK(has_anomaly(check_with("bank", m.build(), kOptions), "malformed-read"));
  // Without a total the first read's sum is the total.
  OpHistory t;
  t.call(0, "read", nullptr, {{"0", 4}, {"1", 4}});
  t.call(0, "read", nullptr, {{"0", 4}, {"1", 5}});
  auto r = check_with("bank", t.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(r.details["total-inferred"] == true);
  OpHistory none;
  none.call(0, "transfer", transfer(0, 1, 1), transfer(0, 1, 1));
  CHECK(check_with("bank", none.build(), kOptions).validity == Validity::kUnknown);
  CHECK_THROWS_WITH(check_with("bank", none.build(), {{"totl", 1}}),
                    Catch::Contains("unknown option 'totl'"));
}
