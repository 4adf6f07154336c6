// Linearizability as an SMT problem (Z3), for the same verdicts as the search with other
// strengths: minimal counterexamples (unsat cores), a fallback when the search runs out of
// budget, and differential testing of the search.
//
// Encoding, for ops with a symbolic model (Model::symbolic_domain() != kNone):
//   - each op i has an integer rank r_i, its position in the linearization, and a Boolean
//     e_i "took effect": true for ok and failed-with-meaning ops; an info or optional op
//     (LinOp::optional) may or may not take effect;
//   - real-time order: if i returned before j was invoked, e_i & e_j -> r_i < r_j, with only
//     the transitive reduction of that interval order among ops certain to take effect;
//   - ranks of effective ops that overlap in time are distinct (non-overlapping ones already
//     are), never one large Distinct;
//   - each effective op picks, with one Boolean selector, the op immediately before it, or the
//     initial state: r_i = r_j + 1 and the state before i is the state after j; the model's
//     guard must hold on the state before i, and its effect gives the state after. Distinct
//     ranks make the chain a total order with nothing in between. Candidates for j are pruned
//     to ops that may precede i and have no certainly-effective op forced between them;
//   - in core mode every certain op i has an assumption literal a_i -> e_i; an op whose
//     literal is left out is relaxed to "may or may not have taken effect, within its
//     interval", so an unsat core names the ops whose recorded outcomes cannot all hold
//     together, whatever the others did (deleting ops instead would make any lone read of a
//     written value a "counterexample"). Core mode uses no pruning (it is meant for small sets).
// Solver parameters: timeout from the deadline, random_seed from the seed; Z3's "unknown"
// becomes kUnknown with Z3's reason.
//
// Thread safety: each call builds its own z3::context.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "checkers/lin/linear_search.h"

namespace faultline::lin {

struct SmtOptions {
  bool core = false;  // assumption literal per op; result.core on unsat
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  uint64_t seed = 0;
  // The state before the first op is any value, not the model's initial state: for a window of
  // a longer history whose earlier ops all completed before any op of the window was invoked.
  bool free_init = false;
};

struct SmtResult {
  SearchVerdict verdict = SearchVerdict::kUnknown;
  std::string reason;         // for kUnknown (also "model has no symbolic form")
  std::vector<int32_t> core;  // indexes into ops of certain ops, ascending (core, kIllegal)
  size_t constraints = 0;     // assertions sent to Z3
};

bool smt_supports(const Model& model);
SmtResult smt_check(const std::vector<LinOp>& ops, const Model& model, const SmtOptions& options);

}  // namespace faultline::lin
