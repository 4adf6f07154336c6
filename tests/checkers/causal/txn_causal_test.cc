// txn-causal: read committed, read atomic and transactional causal consistency (AWDIT-style
// saturation). Micro-histories (one per level, each with a valid twin) and generated causal
// executions with one injected anomaly per level.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>
#include <random>

#include "bench/causal_gen.h"
#include "tests/checkers/elle/test_util.h"

using namespace faultline;
using namespace faultline::testing;

namespace {

Json J(const char* text) { return Json::parse(text); }

CheckResult txn_causal(const History& h, const std::string& model) {
  return CheckerRegistry::get("checker", "txn-causal")(Json{{"consistency-model", model}})
      ->check(h, {});
}

struct LevelCase {
  const char* type;
  const char* weakest;  // the weakest level the bad history breaks
  std::vector<TxnSpec> bad;
  std::vector<TxnSpec> twin;  // valid at every level
};

// Process 0 writes a=1, then a=2 with b=1; other processes read.
std::vector<LevelCase> cases() {
  return {
      // T2 reads b from T3 = [a=2, b=1], then a=1 from T1, which T3 overwrote (T1 so T3).
      {"read-committed-violation",
       "read-committed",
       {{0, "ok", J(R"([["w","a",1]])")},
        {0, "ok", J(R"([["w","a",2],["w","b",1]])")},
        {1, "ok", J(R"([["r","b",1],["r","a",1]])")}},
       {{0, "ok", J(R"([["w","a",1]])")},
        {0, "ok", J(R"([["w","a",2],["w","b",1]])")},
        {1, "ok", J(R"([["r","b",1],["r","a",2]])")}}},
      // Fractured read: T2 reads y from the initial state, then x from T1, which wrote both.
      {"read-atomic-violation",
       "read-atomic",
       {{0, "ok", J(R"([["w","x",1],["w","y",2]])")},
        {1, "ok", J(R"([["r","y",null],["r","x",1]])")}},
       {{0, "ok", J(R"([["w","x",1],["w","y",2]])")},
        {1, "ok", J(R"([["r","y",2],["r","x",1]])")}}},
      // T3 = [a=2] is seen by T4, which T2 reads from; T2 still reads a=1 (T1 so T3).
      {"causal-violation",
       "causal",
       {{0, "ok", J(R"([["w","a",1]])")},
        {0, "ok", J(R"([["w","a",2]])")},
        {1, "ok", J(R"([["r","a",2],["w","c",1]])")},
        {2, "ok", J(R"([["r","c",1],["r","a",1]])")}},
       {{0, "ok", J(R"([["w","a",1]])")},
        {0, "ok", J(R"([["w","a",2]])")},
        {1, "ok", J(R"([["r","a",2],["w","c",1]])")},
        {2, "ok", J(R"([["r","c",1],["r","a",2]])")}}},
  };
}

int level_rank(const std::string& l) {
  return l == "read-committed" ? 0 : l == "read-atomic" ? 1 : 2;
}

uint64_t base_seed() {
  if (const char* s = std::getenv("FAULTLINE_SEED")) return std::strtoull(s, nullptr, 10);
  return 20251126;
}

}  // namespace

TEST_CASE("txn-causal: one micro-history per level, each with a valid twin", "[txn-causal]") {
  for (const auto& c : cases()) {
    SECTION(c.type) {
      for (const std::string model : {"read-committed", "read-atomic", "causal"}) {
        INFO("model " << model);
        CheckResult r = txn_causal(serial_history(c.bad), model);
        INFO(r.details.dump(2));
        const bool broken = level_rank(c.weakest) <= level_rank(model);
        CHECK(r.validity == (broken ? Validity::kInvalid : Validity::kValid));
        CHECK(has_type(r, c.type));
        CHECK(r.details["ruled-out"][0] == c.weakest);
        CheckResult t = txn_causal(serial_history(c.twin), model);
        INFO(t.details.dump(2));
        CHECK(t.validity == Validity::kValid);
        CHECK(anomaly_types(t).empty());
      }
    }
  }
}

TEST_CASE("txn-causal: the fractured read is explained in plain words", "[txn-causal]") {
  CheckResult r = txn_causal(serial_history(cases()[1].bad), "read-atomic");
  const std::string text = r.details["explanation"].get<std::string>();
  INFO(text);
  CHECK(text.find("T1 read \"y\" = nil from the initial state") != std::string::npos);
  CHECK(text.find("T2 also wrote \"y\" = 2") != std::string::npos);
  CHECK(text.find("observed T2 only in part (fractured read, forbidden by read atomic)") !=
        std::string::npos);
  CHECK(r.details["anomalies"][0]["ops"].size() == 2);
}

TEST_CASE("txn-causal: single-read anomalies and malformed histories", "[txn-causal]") {
  // Thin air, aborted, intermediate and internal reads are forbidden at every level.
  std::vector<TxnSpec> h = {{0, "ok", J(R"([["w","x",1],["w","x",2]])")},
                            {1, "fail", J(R"([["w","y",1]])")},
                            {2, "ok", J(R"([["r","x",1],["r","y",1],["r","z",7]])")},
                            {3, "ok", J(R"([["w","u",1],["r","u",null]])")}};
  CheckResult r = txn_causal(serial_history(h), "read-committed");
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(has_type(r, "intermediate-read"));
  CHECK(has_type(r, "aborted-read"));
  CHECK(has_type(r, "thin-air-read"));
  CHECK(has_type(r, "internal-read"));
  // A causality cycle.
  std::vector<TxnSpec> cyc = {{0, "ok", J(R"([["r","x",1],["w","y",1]])")},
                              {1, "ok", J(R"([["r","y",1],["w","x",1]])")}};
  CheckResult c = txn_causal(serial_history(cyc), "read-committed");
  CHECK(has_type(c, "cyclic-causality"));
  // Duplicate written values: unknown, saying so.
  std::vector<TxnSpec> dup = {{0, "ok", J(R"([["w","x",1]])")}, {1, "ok", J(R"([["w","x",1]])")}};
  CheckResult d = txn_causal(serial_history(dup), "causal");
  CHECK(d.validity == Validity::kUnknown);
  CHECK(d.details["summary"].get<std::string>().find("unique written values") != std::string::npos);
  CHECK_THROWS_AS(CheckerRegistry::get("checker", "txn-causal")(J(R"({"consistency-model":"si"})")),
                  std::invalid_argument);
}

TEST_CASE("txn-causal: list-append reads from the appender of the last element", "[txn-causal]") {
  std::vector<TxnSpec> ok = {{0, "ok", J(R"([["append","x",1],["append","y",1]])")},
                             {1, "ok", J(R"([["r","x",[1]],["r","y",[1]]])")}};
  CHECK(txn_causal(serial_history(ok), "causal").validity == Validity::kValid);
  std::vector<TxnSpec> bad = {{0, "ok", J(R"([["append","x",1],["append","y",1]])")},
                              {1, "ok", J(R"([["r","y",null],["r","x",[1]]])")}};
  CheckResult r = txn_causal(serial_history(bad), "causal");
  CHECK(r.validity == Validity::kInvalid);
  CHECK(has_type(r, "read-atomic-violation"));
}

TEST_CASE("txn-causal: generated causal executions are valid, injected anomalies are named",
          "[txn-causal][generated]") {
  const uint64_t seed0 = base_seed();
  std::cout << "txn-causal generated: seed " << seed0 << " (FAULTLINE_SEED to replay)\n";
  for (uint64_t i = 0; i < 20; ++i) {
    const uint64_t seed = seed0 + i;
    INFO("seed " << seed);
    bench::CausalGenOptions o;
    o.seed = seed;
    o.processes = 2 + static_cast<int>(i % 4);
    o.txns = 300;
    o.keys = 3 + static_cast<int>(i % 3);
    o.max_mops = 4;
    o.convergent = true;
    std::vector<Op> ops = bench::generate_causal_history(o);
    for (const std::string model : {"read-committed", "read-atomic", "causal"}) {
      CheckResult r = txn_causal(History::build_or_throw(ops, "gen"), model);
      INFO(r.details.dump(2).substr(0, 3000));
      REQUIRE(r.validity == Validity::kValid);
    }
    std::mt19937_64 rng(seed);
    for (const auto& c : cases()) {
      INFO("injected " << c.type);
      CheckResult r =
          txn_causal(History::build_or_throw(inject_txns(ops, c.bad, rng), "gen"), "causal");
      INFO(r.details.dump(2).substr(0, 3000));
      CHECK(r.validity == Validity::kInvalid);
      CHECK(anomaly_types(r) == std::vector<std::string>{c.type});
    }
  }
}
