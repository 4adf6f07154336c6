// Checker "bank": one micro-history per anomaly, valid and invalid, and what info means.
#include <catch2/catch.hpp>

#include "harness/random.h"
#include "tests/checkers/op_history.h"
#include "tests/support/fake_client.h"

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

TEST_CASE("bank: generated serializable histories are valid, one altered balance is caught",
          "[bank]") {
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    announce_seed("bank generated histories", seed);
    Random random(seed);
    std::map<int64_t, int64_t> balances = {{0, 4}, {1, 3}, {2, 3}};
    auto snapshot = [&] {
      Json out = Json::object();
      for (auto& [a, b] : balances) out[std::to_string(a)] = b;
      return out;
    };
    OpHistory h;
    std::map<int64_t, Json> open;  // process -> transfer (null: a read)
    for (int step = 0; step < 300; ++step) {
      const int64_t p = static_cast<int64_t>(random.uniform(4));
      if (!open.count(p)) {
        if (random.chance(0.5)) {
          h.invoke(p, "read", nullptr);
          open[p] = nullptr;
        } else {
          int64_t from = random.uniform_in(0, 2), to = (from + random.uniform_in(1, 2)) % 3;
          Json t = transfer(static_cast<int>(from), static_cast<int>(to),
                            static_cast<int>(random.uniform_in(1, 3)));
          h.invoke(p, "transfer", t);
          open[p] = t;
        }
        continue;
      }
      const Json t = open[p];
      open.erase(p);
      if (t.is_null()) {
        h.ok(p, snapshot());
        continue;
      }
      const int64_t from = t["from"].get<int64_t>(), to = t["to"].get<int64_t>();
      const int64_t amount = t["amount"].get<int64_t>();
      if (balances[from] < amount) {
        h.fail(p);
        continue;
      }
      balances[from] -= amount;
      balances[to] += amount;
      h.ok(p, t);
    }
    auto r = check_with("bank", h.build(), {{"total", 10}, {"accounts", {0, 1, 2}}});
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kValid);
    // The same history with one more read that saw a transfer half done.
    OpHistory bad = h;
    Json half = snapshot();
    half["0"] = half["0"].get<int64_t>() - 1;
    bad.call(9, "read", nullptr, half);
    auto b = check_with("bank", bad.build(), {{"total", 10}, {"accounts", {0, 1, 2}}});
    CHECK(b.validity == Validity::kInvalid);
    CHECK(anomaly_count(b, "wrong-total") == 1);
  }
}

// Issue #15: 6 to 19 drifts of the total gave ~2,800 "wrong-total" anomalies per run.
TEST_CASE("bank: consecutive reads with the same wrong total are one drift", "[bank]") {
  OpHistory h;
  h.call(0, "read", nullptr, {{"0", 5}, {"1", 5}});  // ops 0-1, total 10: the last good read
  h.call(1, "transfer", transfer(0, 1, 3), transfer(0, 1, 3));  // ops 2-3
  h.invoke(2, "transfer", transfer(1, 0, 1)).info(2);           // ops 4-5
  h.invoke(3, "transfer", transfer(1, 0, 2)).fail(3);           // ops 6-7: did not happen
  for (int i = 0; i < 30; ++i) h.call(0, "read", nullptr, {{"0", 2}, {"1", 9}});  // 11 from op 8
  h.call(1, "transfer", transfer(1, 0, 1), transfer(1, 0, 1));
  for (int i = 0; i < 5; ++i) h.call(0, "read", nullptr, {{"0", 3}, {"1", 9}});  // 12
  h.call(0, "read", nullptr, {{"0", 1}, {"1", 9}});  // 10 again: no anomaly
  h.call(0, "read", nullptr, {{"0", 4}, {"1", 9}});  // 13
  auto r = check_with("bank", h.build(), kOptions);
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  REQUIRE(anomaly_count(r, "wrong-total") == 3);
  CHECK(r.details["reads-with-wrong-total"] == 36);
  CHECK(r.details["bad-reads"] == 36);
  CHECK(r.details["total-drifts"] == 3);
  const Json& first = r.details["anomalies"][0];
  CHECK(first["type"] == "wrong-total");
  CHECK(first["total"] == 11);
  CHECK(first["previous-total"] == 10);
  CHECK(first["reads"] == 30);
  CHECK(first["first-bad-read"]["index"] == 8);
  CHECK(first["last-good-read"]["index"] == 0);
  CHECK(first["transfers-between-count"] == 2);  // the ok one and the info one
  CHECK(first["transfers-between"][0]["index"] == 2);
  CHECK(first["transfers-between"][1]["index"] == 4);
  CHECK_THAT(first["explanation"].get<std::string>(), Catch::Contains("the last good read"));
  const Json& second = r.details["anomalies"][1];
  CHECK(second["total"] == 12);
  CHECK(second["previous-total"] == 11);
  CHECK(second.contains("previous-read"));
  CHECK(second["reads"] == 5);
  CHECK(second["transfers-between-count"] == 1);
  CHECK(r.details["anomalies"][2]["total"] == 13);
}

TEST_CASE("bank: a negative balance seen by consecutive reads is one anomaly", "[bank]") {
  OpHistory h;
  for (int i = 0; i < 4; ++i) h.call(0, "read", nullptr, {{"0", -2}, {"1", 12}});
  h.call(0, "read", nullptr, {{"0", 2}, {"1", 8}});
  h.call(0, "read", nullptr, {{"0", -1}, {"1", 11}});  // a second episode
  auto r = check_with("bank", h.build(), kOptions);
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "negative-balance") == 2);
  CHECK(r.details["bad-reads"] == 5);
  CHECK(r.details["anomalies"][0]["reads"] == 4);
  CHECK(r.details["anomalies"][0]["account"] == "0");
}

// Issue #15: the explanation's line cap must not hide a type behind many of another.
TEST_CASE("bank: the explanation names every anomaly type", "[bank]") {
  OpHistory h;
  for (int i = 0; i < 15; ++i) h.call(0, "read", nullptr, {{"0", 5}, {"2", 5}});
  h.call(0, "read", nullptr, {{"0", -1}, {"1", 11}});
  auto r = check_with("bank", h.build(), kOptions);
  const std::string e = r.details["explanation"];
  INFO(e);
  CHECK(anomaly_count(r, "wrong-accounts") == 15);
  CHECK_THAT(e, Catch::Contains("negative balance"));
  CHECK_THAT(e, Catch::Contains("(4 more anomalies"));
}
