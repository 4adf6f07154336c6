// Z3 encoding of polygraph acyclicity (see checkers/elle/polygraph.h).
//
// Encoding: one constant per node of an uninterpreted sort and Z3's linear_order relation R
// (a total order handled by a dedicated theory, no quantified transitivity, no Distinct). An
// edge u -> v is asserted as not R(v, u): by totality that means u strictly before v, so a
// set of edges is satisfiable exactly when it has no cycle. Each choice is one Boolean b with
// b => (first side) and not b => (second side) (one Boolean instead of an OR of the sides: the
// issue's measurements found this 14-25x faster); when a choice is the order of two nodes
// (PolyChoice::order_pair), the order atom itself is that Boolean (with the second side's
// first edge kept: constants of the sort may be equal, so not R(a, b) alone is not strict).
// The default solver is used on purpose: a solver created for logic QF_UF is fast but does
// not load the special-relations theory, so it treats linear_order as an uninterpreted
// predicate and answers sat for cyclic graphs (a regression test in
// elle_rw_register_test.cc, "polygraph: ...", catches that).
//
// The first solve has no assumptions. When it is unsat, a second solve puts every known edge
// and every choice behind an assumption literal and asks for the unsat core, which is then
// shrunk by deletion (when at most kMinimizeLimit items) to a minimal one.
#include <z3++.h>

#include <chrono>
#include <string>

#include "checkers/elle/polygraph.h"

namespace faultline::elle {
namespace {

constexpr size_t kMinimizeLimit = 64;

unsigned timeout_ms(const CheckContext& ctx) {
  if (ctx.deadline == std::chrono::steady_clock::time_point::max()) return 0;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  ctx.deadline - std::chrono::steady_clock::now())
                  .count();
  return left <= 0 ? 1u : static_cast<unsigned>(std::min<int64_t>(left, 1u << 30));
}

class Encoder {
 public:
  Encoder(const Polygraph& p, const CheckContext& ctx)
      : p_(p), sort_(c_.uninterpreted_sort("T")), order_(z3::linear_order(sort_, 0)) {
    nodes_.reserve(p.nodes);
    for (uint32_t i = 0; i < p.nodes; ++i) {
      nodes_.push_back(c_.constant(("t" + std::to_string(i)).c_str(), sort_));
    }
    params_ = std::make_unique<z3::params>(c_);
    const unsigned t = timeout_ms(ctx);
    if (t) params_->set("timeout", t);
    params_->set("random_seed", static_cast<unsigned>(ctx.seed & 0x7fffffff));
  }

  z3::expr before(const PolyEdge& e) { return !order_(nodes_[e.to], nodes_[e.from]); }
  z3::expr side(const std::vector<PolyEdge>& edges) {
    z3::expr_vector v(c_);
    for (const auto& e : edges) v.push_back(before(e));
    return v.empty() ? c_.bool_val(true) : z3::mk_and(v);
  }
  z3::expr choice_constraint(size_t i) {
    const PolyChoice& c = p_.choices[i];
    if (c.order_pair) {
      // The order atom itself is the choice. Its negation, R(b, a), only says b <= a: two
      // constants may be equal, and a model that merged a and b would satisfy both sides'
      // "neither strictly before" and hide a cycle. So the second side keeps its first edge
      // (b strictly before a); the first side's is b itself.
      z3::expr b = before(c.first[0]);
      std::vector<PolyEdge> rest1(c.first.begin() + 1, c.first.end());
      return z3::implies(b, side(rest1)) && z3::implies(!b, side(c.second));
    }
    z3::expr b = c_.bool_const(("c" + std::to_string(i)).c_str());
    return z3::implies(b, side(c.first)) && z3::implies(!b, side(c.second));
  }

  z3::check_result plain() {
    z3::solver s(c_);
    s.set(*params_);
    for (const auto& e : p_.known) s.add(before(e));
    for (size_t i = 0; i < p_.choices.size(); ++i) s.add(choice_constraint(i));
    return s.check();
  }

  // Unsat core over known edges ("k<i>") and choices ("q<i>"); false when not unsat.
  bool core(std::vector<size_t>* known, std::vector<size_t>* choices) {
    z3::solver s(c_);
    s.set(*params_);
    std::vector<z3::expr> lits;
    std::vector<std::pair<bool, size_t>> meaning;
    for (size_t i = 0; i < p_.known.size(); ++i) {
      z3::expr l = c_.bool_const(("k" + std::to_string(i)).c_str());
      s.add(z3::implies(l, before(p_.known[i])));
      lits.push_back(l);
      meaning.push_back({false, i});
    }
    for (size_t i = 0; i < p_.choices.size(); ++i) {
      z3::expr l = c_.bool_const(("q" + std::to_string(i)).c_str());
      s.add(z3::implies(l, choice_constraint(i)));
      lits.push_back(l);
      meaning.push_back({true, i});
    }
    std::vector<size_t> active(lits.size());
    for (size_t i = 0; i < active.size(); ++i) active[i] = i;
    auto check = [&](const std::vector<size_t>& set, std::vector<size_t>* out_core) {
      z3::expr_vector a(c_);
      for (size_t i : set) a.push_back(lits[i]);
      if (s.check(a) != z3::unsat) return false;
      if (out_core) {
        out_core->clear();
        z3::expr_vector cv = s.unsat_core();
        for (unsigned j = 0; j < cv.size(); ++j) {
          const std::string name = cv[j].decl().name().str();
          const size_t idx = std::stoul(name.substr(1));
          out_core->push_back(name[0] == 'k' ? idx : p_.known.size() + idx);
        }
        std::sort(out_core->begin(), out_core->end());
      }
      return true;
    };
    std::vector<size_t> cur;
    if (!check(active, &cur)) return false;
    if (cur.size() <= kMinimizeLimit) {
      for (size_t i = 0; i < cur.size();) {
        std::vector<size_t> without = cur;
        without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
        std::vector<size_t> smaller;
        if (check(without, &smaller)) {
          cur = smaller;  // keeps order; positions before i stay necessary
          if (i > cur.size()) i = cur.size();
        } else {
          ++i;
        }
      }
    }
    for (size_t x : cur) {
      if (x < p_.known.size()) {
        known->push_back(x);
      } else {
        choices->push_back(x - p_.known.size());
      }
    }
    return true;
  }

 private:
  const Polygraph& p_;
  z3::context c_;
  z3::sort sort_;
  z3::func_decl order_;
  std::vector<z3::expr> nodes_;
  std::unique_ptr<z3::params> params_;
};

}  // namespace

PolySolution z3_acyclic(const Polygraph& p, const CheckContext& ctx) {
  PolySolution out;
  try {
    Encoder enc(p, ctx);
    switch (enc.plain()) {
      case z3::sat:
        out.status = PolyStatus::kAcyclic;
        return out;
      case z3::unknown:
        out.status = PolyStatus::kUnknown;
        out.reason = "z3 returned unknown (timeout or resource limit)";
        return out;
      case z3::unsat:
        break;
    }
    out.status = PolyStatus::kCyclic;
    if (!enc.core(&out.core_known, &out.core_choices)) {
      out.reason = "z3 could not reproduce the unsat answer with assumptions";
    }
  } catch (const z3::exception& e) {
    out.status = PolyStatus::kUnknown;
    out.reason = std::string("z3 error: ") + e.msg();
  }
  return out;
}

}  // namespace faultline::elle
