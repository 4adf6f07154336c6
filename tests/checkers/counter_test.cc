// Checker "counter": lost updates against the final reads, P4 pairs, phantom increments,
// divergence, and what info and retried increments mean.
#include <catch2/catch.hpp>

#include "harness/random.h"
#include "tests/checkers/op_history.h"
#include "tests/support/fake_client.h"

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
  // The final value one short is what the pair lost: data of both anomalies.
  CHECK(anomaly_count(r, "lost-updates") == 1);
  REQUIRE(r.details["anomalies"].size() == 2);
  const Json& pair = r.details["anomalies"][0];
  CHECK(r.details["anomalies"][1]["explained-by-lost-update-pairs"] == true);
  REQUIRE(pair["ops"].size() == 3);  // the two increments, then the final read
  CHECK(pair["ops"][0]["index"] == 0);
  CHECK(pair["ops"][1]["index"] == 1);
  CHECK(pair["explains-lost"] == 1);
  CHECK(pair["final"]["n1"] == 1);
  CHECK_THAT(r.details["explanation"].get<std::string>(), Catch::Contains("both wrote 1"));
  CHECK(r.details["lost-update-pairs"] == 1);
}

TEST_CASE("counter: a shortfall larger than the P4 pairs lost is its own anomaly", "[counter]") {
  OpHistory h;
  h.invoke(0, "increment", inc(0, "a"), "n1");
  h.invoke(1, "increment", inc(0, "b"), "n2");
  h.ok(0, done(0, "a", 0));
  h.ok(1, done(0, "b", 0));
  h.call(2, "increment", inc(0, "c"), done(0, "c", 1), "n1");
  h.call(3, "read-all", nullptr, {{"0", 1}}, "n1");  // 3 ok, the pair explains 1 of 2 lost
  auto r = check_with("counter", h.build());
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "lost-update-pair") == 1);
  CHECK(anomaly_count(r, "lost-updates") == 1);
}

// Issue #15: one misrecorded increment gave one anomaly per node's final read.
TEST_CASE("counter: one misrecorded op is one anomaly", "[counter]") {
  OpHistory h;
  h.call(0, "increment", inc(0, "a"), done(0, "a", 0), "n1");
  h.call(1, "increment", inc(0, "b"), done(0, "b", 1), "n2");
  SECTION("an increment recorded ok that did not apply") {
    h.call(2, "increment", inc(0, "c"), done(0, "c", 2), "n3");
    for (auto [p, node] : {std::pair{6, "n1"}, {7, "n2"}, {8, "n3"}}) {
      h.call(p, "read-all", nullptr, {{"0", 2}}, node);
    }
    auto r = check_with("counter", h.build());
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kInvalid);
    REQUIRE(r.details["anomalies"].size() == 1);
    const Json& a = r.details["anomalies"][0];
    CHECK(a["type"] == "lost-updates");
    CHECK(a["nodes"] == Json::array({"n1", "n2", "n3"}));
    CHECK(a["lost"] == 1);
    CHECK(a["ops"].size() == 3);
  }
  SECTION("an increment whose wrote duplicates another's") {
    h.call(2, "increment", inc(0, "c"), done(0, "c", 1), "n3");  // really read 2, wrote 3
    for (auto [p, node] : {std::pair{6, "n1"}, {7, "n2"}, {8, "n3"}}) {
      h.call(p, "read-all", nullptr, {{"0", 3}}, node);
    }
    auto r = check_with("counter", h.build());
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kInvalid);
    REQUIRE(r.details["anomalies"].size() == 1);
    CHECK(r.details["anomalies"][0]["type"] == "lost-update-pair");
  }
  SECTION("one node's final read short: lost updates, the divergence as its data") {
    h.call(2, "increment", inc(0, "c"), done(0, "c", 2), "n3");
    h.call(6, "read-all", nullptr, {{"0", 3}}, "n1");
    h.call(7, "read-all", nullptr, {{"0", 3}}, "n2");
    h.call(8, "read-all", nullptr, {{"0", 2}}, "n3");
    auto r = check_with("counter", h.build());
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kInvalid);
    REQUIRE(r.details["anomalies"].size() == 1);
    const Json& a = r.details["anomalies"][0];
    CHECK(a["type"] == "lost-updates");
    CHECK(a["nodes"] == Json::array({"n3"}));
    CHECK(a["diverged"] == true);
    CHECK_THAT(a["explanation"].get<std::string>(), Catch::Contains("disagree"));
  }
}

TEST_CASE("counter: phantom increments and divergence", "[counter]") {
  OpHistory h;
  h.call(0, "increment", inc(0, "a"), done(0, "a", 0), "n1");
  h.call(1, "read-all", nullptr, {{"0", 1}}, "n1");
  h.call(2, "read-all", nullptr, {{"0", 3}}, "n2");
  auto r = check_with("counter", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "phantom-increments") == 1);
  // The disagreement is data of the phantom increments, which caused it.
  CHECK(!has_anomaly(r, "divergence"));
  CHECK(r.details["anomalies"][0]["diverged"] == true);
  OpHistory apart;  // within [ok, ok + info] on each node, but different
  apart.call(0, "increment", inc(0, "a"), done(0, "a", 0), "n1");
  apart.invoke(1, "increment", inc(0, "b"), "n1").info(1);
  apart.call(2, "read-all", nullptr, {{"0", 1}}, "n1");
  apart.call(3, "read-all", nullptr, {{"0", 2}}, "n2");
  auto d = check_with("counter", apart.build());
  CHECK(d.validity == Validity::kInvalid);
  CHECK(anomaly_count(d, "divergence") == 1);
  OpHistory none;
  none.call(0, "increment", inc(0, "a"), done(0, "a", 0), "n1");
  CHECK(check_with("counter", none.build()).validity == Validity::kUnknown);
}

TEST_CASE("counter: generated linearizable histories are valid, one lost update is caught",
          "[counter]") {
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    announce_seed("counter generated histories", seed);
    Random random(seed);
    OpHistory h;
    std::map<int64_t, int64_t> counters;  // the linearizable state
    std::map<int64_t, Json> open;         // process -> invocation value
    int64_t next_id = 0;
    for (int step = 0; step < 400; ++step) {
      const int64_t p = static_cast<int64_t>(random.uniform(4));
      if (!open.count(p)) {
        Json v = {{"key", random.uniform(2)}, {"id", "i" + std::to_string(next_id++)}};
        h.invoke(p, "increment", v, "n" + std::to_string(p % 3 + 1));
        open[p] = v;
        continue;
      }
      // Completes: takes effect now (its linearization point).
      const int64_t key = open[p]["key"].get<int64_t>();
      const int64_t read = counters[key]++;
      Json done = {{"key", key}, {"id", open[p]["id"]}, {"read", read}, {"wrote", read + 1}};
      h.ok(p, done);
      open.erase(p);
    }
    for (auto& [p, v] : open) {
      const int64_t key = v["key"].get<int64_t>();
      const int64_t read = counters[key]++;
      h.ok(p, {{"key", key}, {"id", v["id"]}, {"read", read}, {"wrote", read + 1}});
    }
    Json finals = Json::object();
    for (auto& [k, v] : counters) finals[std::to_string(k)] = v;
    OpHistory valid = h;
    for (int node = 1; node <= 3; ++node) {
      valid.call(10 + node, "read-all", nullptr, finals, "n" + std::to_string(node));
    }
    auto r = check_with("counter", valid.build());
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kValid);
    // One lost update: the final value one short on every node.
    Json short_by_one = finals;
    short_by_one["0"] = finals["0"].get<int64_t>() - 1;
    OpHistory lost = h;
    for (int node = 1; node <= 3; ++node) {
      lost.call(10 + node, "read-all", nullptr, short_by_one, "n" + std::to_string(node));
    }
    auto bad = check_with("counter", lost.build());
    CHECK(bad.validity == Validity::kInvalid);
    CHECK(anomaly_count(bad, "lost-updates") == 1);  // one for the key, naming the 3 nodes
    CHECK(bad.details["anomalies"][0]["nodes"].size() == 3);
  }
}
