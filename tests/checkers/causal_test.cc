#include <iostream>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "bench/elle_gen.h"
#include "tests/checkers/elle_test_util.h"

using namespace faultline;
using namespace faultline::testing;

namespace {

Json J(const char* text) { return Json::parse(text); }

struct CausalCase {
  const char* pattern;
  const char* model;
  std::vector<TxnSpec> bad;
  std::vector<TxnSpec> twin;
};

// Each process's transactions run in order; transactions of different processes are
// concurrent (causal checks do not use real time).
History by_process(const std::vector<TxnSpec>& txns) { return concurrent_history(txns); }

std::vector<CausalCase> cases() {
  return {
      {"CyclicCO", "CC",
       {{0, "ok", J(R"([["r","x",1],["w","y",1]])")}, {1, "ok", J(R"([["r","y",1],["w","x",1]])")}},
       {{0, "ok", J(R"([["r","x",null],["w","y",1]])")}, {1, "ok", J(R"([["r","y",1],["w","x",1]])")}}},
      {"ThinAirRead", "CC",
       {{0, "ok", J(R"([["r","x",5]])")}},
       {{0, "ok", J(R"([["r","x",null]])")}}},
      {"WriteCOInitRead", "CC",
       {{0, "ok", J(R"([["w","x",1],["r","x",null]])")}},
       {{0, "ok", J(R"([["r","x",null],["w","x",1]])")}}},
      {"WriteCORead", "CC",
       {{0, "ok", J(R"([["w","x",1],["w","x",2]])")}, {1, "ok", J(R"([["r","x",2],["r","x",1]])")}},
       {{0, "ok", J(R"([["w","x",1],["w","x",2]])")}, {1, "ok", J(R"([["r","x",1],["r","x",2]])")}}},
      {"CyclicCF", "CCv",
       {{0, "ok", J(R"([["w","x",1],["r","x",2]])")}, {1, "ok", J(R"([["w","x",2],["r","x",1]])")}},
       {{0, "ok", J(R"([["w","x",1],["r","x",2]])")}, {1, "ok", J(R"([["w","x",2],["r","x",2]])")}}},
  };
}

CheckResult causal(const History& h, const std::string& model) {
  return CheckerRegistry::get("checker", "causal")(Json{{"consistency-model", model}})
      ->check(h, {});
}

}  // namespace

TEST_CASE("causal: one micro-history per bad pattern, each with a valid twin", "[causal]") {
  for (const auto& c : cases()) {
    SECTION(c.pattern) {
      CheckResult r = causal(by_process(c.bad), c.model);
      INFO(r.details.dump(2));
      CHECK(r.validity == Validity::kInvalid);
      CHECK(has_type(r, c.pattern));
      CheckResult t = causal(by_process(c.twin), c.model);
      INFO(t.details.dump(2));
      CHECK(t.validity == Validity::kValid);
      CHECK(anomaly_types(t).empty());
    }
  }
}

TEST_CASE("causal: CyclicCF is allowed by CC, not by CCv, CM is never claimed", "[causal]") {
  History h = by_process(cases().back().bad);
  CHECK(causal(h, "CC").validity == Validity::kValid);
  CHECK(causal(h, "CCv").validity == Validity::kInvalid);
  CHECK(causal(h, "CM").validity == Validity::kUnknown);
  CHECK_THROWS_AS(CheckerRegistry::get("checker", "causal")(J(R"({"consistency-model":"x"})")),
                  std::invalid_argument);
}

TEST_CASE("causal: generated histories are causal, an injected stale read is found",
          "[causal][generated]") {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    std::cout << "causal generated seed " << seed << std::endl;
    INFO("seed " << seed);
    bench::TxnGenOptions o;
    o.workload = "rw-register";
    o.seed = seed;
    o.txns = 400;
    o.processes = 5;
    o.active_keys = 3;
    o.max_writes_per_key = 20;
    o.min_mops = 1;
    o.max_mops = 2;
    o.fail_fraction = 0.05;
    std::vector<Op> ops = bench::generate_txn_history(o);
    CheckResult r = causal(History::build_or_throw(ops, "gen"), "CCv");
    INFO(r.details.dump(2).substr(0, 3000));
    REQUIRE(r.validity == Validity::kValid);
    // A read after the same process wrote its key now returns the initial state.
    std::map<int64_t, std::set<Json>> written;  // process -> keys written by ok txns
    bool injected = false;
    for (auto& op : ops) {
      if (op.type != OpType::kOk || injected) continue;
      for (auto& m : op.value) {
        if (m[0] == "r" && written[op.process].count(m[1]) && !m[2].is_null()) {
          m[2] = nullptr;
          injected = true;
          break;
        }
        if (m[0] == "w") written[op.process].insert(m[1]);
      }
    }
    REQUIRE(injected);
    CheckResult b = causal(History::build_or_throw(ops, "gen"), "CC");
    INFO(b.details.dump(2).substr(0, 3000));
    CHECK(b.validity == Validity::kInvalid);
    CHECK(has_type(b, "WriteCOInitRead"));
  }
}
