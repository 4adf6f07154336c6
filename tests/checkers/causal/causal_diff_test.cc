// causal: the Z3 encoding (checkers/causal/z3_causal.cc) against the bad-pattern search on
// generated histories with unique values, and the Z3 fallback on histories whose values repeat.
// FAULTLINE_SEED to replay.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>

#include "bench/causal_gen.h"
#include "tests/checkers/elle/test_util.h"
#include "tests/support/paths.h"

using namespace faultline;
using namespace faultline::testing;

namespace {

Json J(const char* text) { return Json::parse(text); }

CheckResult causal(const History& h, const std::string& model, const std::string& engine) {
  return CheckerRegistry::get("checker",
                              "causal")(Json{{"consistency-model", model}, {"engine", engine}})
      ->check(h, {});
}

uint64_t base_seed() {
  if (const char* s = std::getenv("FAULTLINE_SEED")) return std::strtoull(s, nullptr, 10);
  return 4242;
}

// One random mutation: a read returns another value of its key (or nil), a write writes a
// fresh value, or two adjacent mops of one transaction swap.
std::vector<Op> mutate(std::vector<Op> ops, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  std::vector<size_t> oks;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].type == OpType::kOk) oks.push_back(i);
  }
  std::map<Json, std::vector<Json>> values;  // key -> written values
  for (size_t i : oks) {
    for (const auto& m : ops[i].value) {
      if (m[0] == "w") values[m[1]].push_back(m[2]);
    }
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    Op& op = ops[oks[pick(oks.size())]];
    Json& m = op.value[pick(op.value.size())];
    const int kind = static_cast<int>(pick(3));
    if (kind == 0 && m[0] == "r") {
      const auto& vs = values[m[1]];
      Json v = vs.empty() || pick(4) == 0 ? Json() : vs[pick(vs.size())];
      if (v == m[2]) continue;
      m[2] = v;
      return ops;
    }
    if (kind == 1 && m[0] == "w") {
      m[2] = 100000 + static_cast<int64_t>(pick(1000));
      return ops;
    }
    if (kind == 2 && op.value.size() >= 2) {
      const size_t a = pick(op.value.size() - 1);
      if (op.value[a] == op.value[a + 1]) continue;
      std::swap(op.value[a], op.value[a + 1]);
      return ops;
    }
  }
  return ops;
}

}  // namespace

TEST_CASE("causal: Z3 encoding and bad patterns agree on generated histories",
          "[causal][z3][differential]") {
  const uint64_t seed0 = base_seed();
  std::cout << "causal differential test: seed " << seed0 << " (FAULTLINE_SEED to replay)\n";
  std::mt19937_64 rng(seed0);
  int invalid_cc = 0, invalid_ccv = 0, histories = 0;
  const int count = testing::test_size(300, 1000);  // full: ./test.sh -L slow
  for (int i = 0; i < count; ++i) {
    bench::CausalGenOptions o;
    o.seed = seed0 * 1000 + static_cast<uint64_t>(i);
    o.processes = 2 + i % 3;
    o.txns = 3 + i % 6;
    o.keys = 2 + i % 2;
    o.max_mops = 3;
    o.convergent = i % 2 == 0;
    std::vector<Op> ops = bench::generate_causal_history(o);
    for (int mutated = 0; mutated < 2; ++mutated) {
      if (mutated) ops = mutate(ops, rng);
      History h = History::build_or_throw(ops, "gen");
      ++histories;
      for (const std::string model : {"CC", "CCv"}) {
        CheckResult p = causal(h, model, "patterns");
        CheckResult z = causal(h, model, "z3");
        INFO("history " << i << " (generator seed " << o.seed << "), mutated " << mutated
                        << ", model " << model << "\n"
                        << p.details.dump(2) << "\n"
                        << z.details.dump(2));
        REQUIRE(p.validity != Validity::kUnknown);
        REQUIRE(z.validity == p.validity);
        if (!mutated) {
          // The convergent simulation is CCv; the other is CC (and CM), not always CCv.
          CHECK((model == "CC" || o.convergent ? p.validity == Validity::kValid : true));
        }
        if (p.validity == Validity::kInvalid) ++(model == "CC" ? invalid_cc : invalid_ccv);
      }
    }
  }
  std::cout << "causal differential test: " << histories << " histories, " << invalid_cc
            << " not CC, " << invalid_ccv << " not CCv\n";
  CHECK(invalid_cc > count / 20);
}

TEST_CASE("causal: repeated values fall back to Z3", "[causal][z3]") {
  // x = 1 is written twice; either way process 2's read of nil follows a write of x.
  std::vector<TxnSpec> bad = {{0, "ok", J(R"([["w","x",1]])")},
                              {1, "ok", J(R"([["w","x",1]])")},
                              {2, "ok", J(R"([["r","x",1],["r","x",null]])")}};
  std::vector<TxnSpec> twin = {{0, "ok", J(R"([["w","x",1]])")},
                               {1, "ok", J(R"([["w","x",1]])")},
                               {2, "ok", J(R"([["r","x",null],["r","x",1]])")}};
  for (const std::string model : {"CC", "CCv"}) {
    CheckResult r = causal(concurrent_history(bad), model, "auto");
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kInvalid);
    CHECK(r.details["engine"] == "z3");
    CHECK(r.details["summary"].get<std::string>().find("not unique") != std::string::npos);
    CHECK(causal(concurrent_history(twin), model, "auto").validity == Validity::kValid);
  }
  // Only some choice of read-from is causal: r(x,1) must read process 1's write, not the one
  // that process 0 overwrote before process 2 saw y.
  std::vector<TxnSpec> choose = {{0, "ok", J(R"([["w","x",1],["w","x",2],["w","y",1]])")},
                                 {1, "ok", J(R"([["w","x",1]])")},
                                 {2, "ok", J(R"([["r","y",1],["r","x",1]])")}};
  CHECK(causal(concurrent_history(choose), "CC", "auto").validity == Validity::kValid);
  CHECK(causal(concurrent_history(choose), "CM", "auto").validity == Validity::kUnknown);
  CHECK(causal(concurrent_history(bad), "CC", "patterns").validity == Validity::kUnknown);
}

TEST_CASE("causal: Z3 past its deadline is unknown, never a verdict", "[causal][z3]") {
  std::vector<TxnSpec> h = {{0, "ok", J(R"([["w","x",1]])")},
                            {1, "ok", J(R"([["w","x",1]])")},
                            {2, "ok", J(R"([["r","x",1],["r","x",null]])")}};
  CheckContext ctx;
  ctx.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  CheckResult r = CheckerRegistry::get("checker", "causal")(Json{{"consistency-model", "CC"}})
                      ->check(concurrent_history(h), ctx);
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kUnknown);
}
