#include <catch2/catch.hpp>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "bench/causal_gen.h"
#include "bench/elle_gen.h"
#include "tests/checkers/elle/test_util.h"

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
      {"CyclicCO",
       "CC",
       {{0, "ok", J(R"([["r","x",1],["w","y",1]])")}, {1, "ok", J(R"([["r","y",1],["w","x",1]])")}},
       {{0, "ok", J(R"([["r","x",null],["w","y",1]])")},
        {1, "ok", J(R"([["r","y",1],["w","x",1]])")}}},
      {"ThinAirRead",
       "CC",
       {{0, "ok", J(R"([["r","x",5]])")}},
       {{0, "ok", J(R"([["r","x",null]])")}}},
      {"WriteCOInitRead",
       "CC",
       {{0, "ok", J(R"([["w","x",1],["r","x",null]])")}},
       {{0, "ok", J(R"([["r","x",null],["w","x",1]])")}}},
      {"WriteCORead",
       "CC",
       {{0, "ok", J(R"([["w","x",1],["w","x",2]])")}, {1, "ok", J(R"([["r","x",2],["r","x",1]])")}},
       {{0, "ok", J(R"([["w","x",1],["w","x",2]])")},
        {1, "ok", J(R"([["r","x",1],["r","x",2]])")}}},
      {"CyclicCF",
       "CCv",
       {{0, "ok", J(R"([["w","x",1],["r","x",2]])")}, {1, "ok", J(R"([["w","x",2],["r","x",1]])")}},
       {{0, "ok", J(R"([["w","x",1],["r","x",2]])")},
        {1, "ok", J(R"([["w","x",2],["r","x",2]])")}}},
      // Process 2's view must put w(x,1) after r(x,nil), but r(y,2) (after r(u,1), which
      // follows w(y,1)) orders w(y,1) before w(y,2), which precedes r(z,1) and so r(x,nil).
      {"WriteHBInitRead",
       "CM",
       {{0, "ok", J(R"([["w","x",1],["w","y",1],["w","u",1]])")},
        {1, "ok", J(R"([["w","y",2],["w","z",1]])")},
        {2, "ok", J(R"([["r","z",1],["r","x",null],["r","u",1],["r","y",2]])")}},
       {{0, "ok", J(R"([["w","x",1],["w","y",1],["w","u",1]])")},
        {1, "ok", J(R"([["w","y",2],["w","z",1]])")},
        {2, "ok", J(R"([["r","z",1],["r","x",null],["r","u",1],["r","y",1]])")}}},
      // Process 2 sees x = 1, then 2, then 1 again: its view needs 1 < 2 and 2 < 1.
      {"CyclicHB",
       "CM",
       {{0, "ok", J(R"([["w","x",1]])")},
        {1, "ok", J(R"([["w","x",2]])")},
        {2, "ok", J(R"([["r","x",1],["r","x",2],["r","x",1]])")}},
       {{0, "ok", J(R"([["w","x",1]])")},
        {1, "ok", J(R"([["w","x",2]])")},
        {2, "ok", J(R"([["r","x",1],["r","x",2],["r","x",2]])")}}},
  };
}

CheckResult causal(const History& h, const std::string& model) {
  return CheckerRegistry::get("checker", "causal")(Json{{"consistency-model", model}})
      ->check(h, {});
}

CausalCase find_case(const std::string& pattern) {
  for (const auto& c : cases()) {
    if (pattern == c.pattern) return c;
  }
  throw std::logic_error("no case " + pattern);
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

TEST_CASE("causal: CC, CCv and CM are decided and told apart", "[causal]") {
  History cf = by_process(find_case("CyclicCF").bad);
  CHECK(causal(cf, "CC").validity == Validity::kValid);
  CHECK(causal(cf, "CCv").validity == Validity::kInvalid);
  CHECK(causal(cf, "CM").validity == Validity::kValid);  // each process has its own view
  // WriteHBInitRead's history is CC and CCv: only one view for all of process 2's reads fails.
  History hbi = by_process(find_case("WriteHBInitRead").bad);
  CHECK(causal(hbi, "CC").validity == Validity::kValid);
  CHECK(causal(hbi, "CCv").validity == Validity::kValid);
  CheckResult r = causal(hbi, "CM");
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(r.details["ruled-out"] == Json{"CM"});
  CHECK(r.details["explanation"].get<std::string>().find("view of process 2") != std::string::npos);
  // CyclicHB's history is CC but neither CCv nor CM.
  History hb = by_process(find_case("CyclicHB").bad);
  CHECK(causal(hb, "CC").validity == Validity::kValid);
  CHECK(causal(hb, "CCv").validity == Validity::kInvalid);
  CHECK(causal(hb, "CM").validity == Validity::kInvalid);
  // A CC pattern rules out all three.
  History thin = by_process(find_case("ThinAirRead").bad);
  CHECK(causal(thin, "CM").validity == Validity::kInvalid);
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
    // Strict serializable, so also causal memory.
    CheckResult m = causal(History::build_or_throw(ops, "gen"), "CM");
    INFO(m.details.dump(2).substr(0, 3000));
    REQUIRE(m.validity == Validity::kValid);
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

TEST_CASE("causal: simulated causal replicas are CC and CM, or CC and CCv", "[causal][generated]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::cout << "causal simulated seed " << seed << std::endl;
    INFO("seed " << seed);
    bench::CausalGenOptions o;
    o.seed = seed;
    o.processes = 3 + static_cast<int>(seed % 3);
    o.txns = 300;
    o.keys = 3;
    o.max_mops = 3;
    o.convergent = seed % 2 == 0;
    History h = History::build_or_throw(bench::generate_causal_history(o), "gen");
    for (const std::string model : {"CC", o.convergent ? "CCv" : "CM"}) {
      CheckResult r = causal(h, model);
      INFO(model << ": " << r.details.dump(2).substr(0, 3000));
      CHECK(r.validity == Validity::kValid);
    }
  }
}

TEST_CASE("causal: each bad pattern injected into a simulated causal history is found and named",
          "[causal][generated]") {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    std::cout << "causal injected seed " << seed << std::endl;
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    for (const auto& c : cases()) {
      const std::string model = c.model;
      bench::CausalGenOptions o;
      o.seed = seed;
      o.processes = 4;
      o.txns = 200;
      o.keys = 3;
      o.convergent = model != "CM";  // last writer wins is CCv; last applied is CM
      std::vector<Op> ops = bench::generate_causal_history(o);
      INFO("injected " << c.pattern << ", model " << model);
      CheckResult r = causal(History::build_or_throw(inject_txns(ops, c.bad, rng), "gen"), model);
      INFO(r.details.dump(2).substr(0, 3000));
      CHECK(r.validity == Validity::kInvalid);
      CHECK(anomaly_types(r) == std::vector<std::string>{c.pattern});
      CheckResult t = causal(History::build_or_throw(inject_txns(ops, c.twin, rng), "gen"), model);
      INFO(t.details.dump(2).substr(0, 3000));
      CHECK(t.validity == Validity::kValid);
    }
  }
}
