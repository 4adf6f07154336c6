// Z3 encoding of causal consistency for register histories without unique values
// (see checkers/causal/z3_causal.h); definitions of Bouajjani et al., POPL 2017 (as
// checkers/causal/causal.cc).
//
// Read-from selectors: each read r(x, v) of a non-initial value has one Boolean per candidate
// write (a write of x with the same value, other than r itself), at least one of them true;
// a read of nil reads the initial state. (At least one, not exactly one: a second selected
// source only adds constraints, so a model with several can drop all but one.)
//
// Causal order CO = (PO u WR)+ without transitivity axioms: CO-predecessor sets are prefixes
// of each process (CO contains PO), so CO is represented by integer ranks c[u][q] = how many
// of process q's operations are CO-before-or-equal u, i.e. a vector clock. c[u][proc(u)] is
// the constant seq(u); every edge a -> b asserts c[b][q] >= c[a][q] for q != proc(b) and
// c[a][proc(b)] < seq(b) (b is not already CO-before a), so a CO cycle is unsatisfiable. The
// constraints only bound the clocks from below and every bad pattern below only gets easier
// to avoid with smaller clocks, so if any clocks work, the least ones (the true closure of
// the selected PO u WR) work: the encoding is exact, no Distinct, no quantifiers.
//
// a ->CO b is then "c[b][proc(a)] >= seq(a)". For each read r(x) with selected source w and
// each other write w' of x:
//   CC  (WriteCORead)      not (w ->CO w' and w' ->CO r)
//   CC  (WriteCOInitRead)  for a read of nil: not w' ->CO r
//   CCv (CyclicCF)         an arbitration rank a[u] per operation, a[a] < a[b] for each edge
//                          of PO and selected WR, and w' ->CO r implies a[w'] < a[w]: the
//                          source is the arbitration-last write of x in r's causal past.
// ThinAirRead is a read with no candidate: unsatisfiable at once.
//
// Solver: Z3's default solver (integers and Booleans), random_seed from the context's seed,
// timeout from its deadline (60 s when there is none); Z3's unknown is our unknown, with its
// reason.
#include "checkers/causal/z3_causal.h"

#include <z3++.h>

#include <algorithm>
#include <chrono>
#include <map>

namespace faultline::causal {
namespace {

constexpr uint32_t kNil = UINT32_MAX;

// Without a deadline Z3 still gets a budget: the encoding grows with reads x writes per key,
// and a fallback must not hang a check (the verdict is then unknown, saying so).
constexpr unsigned kDefaultTimeoutMs = 60'000;

unsigned timeout_ms(const CheckContext& ctx) {
  if (ctx.deadline == std::chrono::steady_clock::time_point::max()) return kDefaultTimeoutMs;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  ctx.deadline - std::chrono::steady_clock::now())
                  .count();
  return left <= 0 ? 1u : static_cast<unsigned>(std::min<int64_t>(left, 1u << 30));
}

}  // namespace

SmtResult smt_causal(const std::vector<SmtOp>& ops, uint32_t processes, bool convergent,
                     const CheckContext& ctx) {
  SmtResult out;
  const uint32_t n = static_cast<uint32_t>(ops.size());
  const uint32_t P = processes;
  z3::context c;
  z3::solver s(c);
  z3::params params(c);
  params.set("timeout", timeout_ms(ctx));
  params.set("random_seed", static_cast<unsigned>(ctx.seed & 0x7fffffff));
  s.set(params);
  // Clock entries: a constant for the op's own process, an integer variable otherwise.
  std::vector<z3::expr> clock;
  clock.reserve(static_cast<size_t>(n) * P);
  for (uint32_t u = 0; u < n; ++u) {
    for (uint32_t q = 0; q < P; ++q) {
      if (q == ops[u].proc) {
        clock.push_back(c.int_val(ops[u].seq));
      } else {
        clock.push_back(c.int_const(("c" + std::to_string(u) + "_" + std::to_string(q)).c_str()));
      }
    }
  }
  auto at = [&](uint32_t u, uint32_t q) -> z3::expr& {
    return clock[static_cast<size_t>(u) * P + q];
  };
  std::vector<z3::expr> rank;
  if (convergent) {
    for (uint32_t u = 0; u < n; ++u) rank.push_back(c.int_const(("a" + std::to_string(u)).c_str()));
  }
  auto add = [&](const z3::expr& e) {
    s.add(e);
    ++out.constraints;
  };
  // a -> b as an edge of CO (and of the arbitration for CCv).
  auto edge = [&](uint32_t a, uint32_t b) {
    z3::expr_vector v(c);
    for (uint32_t q = 0; q < P; ++q) {
      if (q != ops[b].proc) v.push_back(at(b, q) >= at(a, q));
    }
    v.push_back(at(a, ops[b].proc) < static_cast<int>(ops[b].seq));
    if (convergent) v.push_back(rank[a] < rank[b]);
    return z3::mk_and(v);
  };
  auto co_before = [&](uint32_t a, uint32_t b) {  // a ->CO b
    return at(b, ops[a].proc) >= static_cast<int>(ops[a].seq);
  };
  // Program order: consecutive ops of each process.
  std::vector<uint32_t> last(P, kNil);
  std::vector<uint32_t> by_seq(n);
  for (uint32_t u = 0; u < n; ++u) by_seq[u] = u;
  std::sort(by_seq.begin(), by_seq.end(), [&](uint32_t a, uint32_t b) {
    return ops[a].proc != ops[b].proc ? ops[a].proc < ops[b].proc : ops[a].seq < ops[b].seq;
  });
  for (uint32_t u : by_seq) {
    const uint32_t p = ops[u].proc;
    if (last[p] != kNil) {
      add(edge(last[p], u));
    } else {
      for (uint32_t q = 0; q < P; ++q) {
        if (q != p) add(at(u, q) >= 0);
      }
    }
    last[p] = u;
  }
  std::map<uint32_t, std::vector<uint32_t>> writes_of_key, writes_of_kv;
  for (uint32_t u = 0; u < n; ++u) {
    if (!ops[u].write) continue;
    writes_of_key[ops[u].key].push_back(u);
    writes_of_kv[ops[u].kv].push_back(u);
  }
  for (uint32_t r = 0; r < n; ++r) {
    if (ctx.expired()) {
      out.reason = "deadline while encoding";
      return out;
    }
    const SmtOp& x = ops[r];
    if (x.write) continue;
    const auto& others = writes_of_key[x.key];
    if (x.kv == kNil) {
      for (uint32_t w : others) add(!co_before(w, r));
      continue;
    }
    auto cands = writes_of_kv.find(x.kv);
    if (cands == writes_of_kv.end()) {
      out.verdict = Validity::kInvalid;
      out.reason = "a read of a value no write wrote (ThinAirRead)";
      return out;
    }
    z3::expr_vector any(c);
    size_t i = 0;
    for (uint32_t w : cands->second) {
      z3::expr sel = c.bool_const(("s" + std::to_string(r) + "_" + std::to_string(i++)).c_str());
      any.push_back(sel);
      add(z3::implies(sel, edge(w, r)));
      for (uint32_t w2 : others) {
        if (w2 == w) continue;
        add(z3::implies(sel, !(co_before(w, w2) && co_before(w2, r))));
        if (convergent) add(z3::implies(sel && co_before(w2, r), rank[w2] < rank[w]));
      }
    }
    add(z3::mk_or(any));
  }
  switch (s.check()) {
    case z3::sat:
      out.verdict = Validity::kValid;
      break;
    case z3::unsat:
      out.verdict = Validity::kInvalid;
      out.reason = std::string(
                       "no choice of read-from (each read from one write of its key and "
                       "value, or the initial state) is ") +
                   (convergent ? "CCv" : "CC");
      break;
    default:
      out.verdict = Validity::kUnknown;
      out.reason = "z3: " + s.reason_unknown();
      break;
  }
  return out;
}

}  // namespace faultline::causal
