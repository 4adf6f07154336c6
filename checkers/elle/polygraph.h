// Polygraphs: is there a choice of one side per constraint that keeps a graph acyclic?
// (Papadimitriou 1979; Cobra, OSDI 2020; PolySI, VLDB 2023; Viper, EuroSys 2023.)
//
// A Polygraph has known edges and choices; each choice has two sides, each a set of edges
// (for rw-register: "write w1 of key k precedes w2", with its ww edge and the rw edges from
// w1's readers to w2, or the other way round). Serializability and snapshot isolation both
// reduce to this question, over transactions or over begin/commit points of transactions.
//
// solve_polygraph prunes on the CPU first, then sends only the residue to Z3:
//   1. components of the union graph (known and every side's edges): an edge between two
//      components is never on a cycle, so it is dropped; independent components are solved
//      apart;
//   2. per component, bitset reachability over the known edges to a fixpoint: a side that
//      would close a cycle forces the other side (its edges become known), a side already
//      implied by reachability is chosen for free, a choice whose two sides both close a
//      cycle is a contradiction;
//   3. a witness attempt: every remaining choice takes the side that agrees with a topological
//      order of the known edges (ties broken by Polygraph::order_hint); acyclic means done;
//   4. otherwise the residue goes to z3_acyclic (checkers/elle/z3_polygraph.cc), encoded with Z3's
//      linear_order relation and one Boolean per choice.
// A cyclic answer comes with a core: known edges and choices whose constraints alone force a
// cycle (the forcing chain of pruning, or Z3's unsat core, shrunk by deletion when small).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/checker.h"

namespace faultline::elle {

struct PolyEdge {
  uint32_t from = 0, to = 0;
  uint32_t tag = 0;  // the caller's meaning (e.g. index into its evidence table)
};

struct PolyChoice {
  std::vector<PolyEdge> first, second;
  uint32_t tag = 0;
  // True when first[0] is a -> b and second[0] is b -> a: the choice is then the order of a
  // and b itself, and Z3 uses that order atom as the choice's Boolean.
  bool order_pair = false;
};

struct Polygraph {
  uint32_t nodes = 0;
  std::vector<PolyEdge> known;
  std::vector<PolyChoice> choices;
  // Optional, one per node: a guess of each node's place in an acyclic order (e.g. its
  // position in the history). Before Z3, the solver tries the choices that agree with a
  // topological order of the known edges broken by this guess; if the result is acyclic it
  // is a witness and no search is needed.
  std::vector<int64_t> order_hint;
  // When set, solve_polygraph never calls Z3: a residue that pruning and the witnesses leave
  // undecided is kUnknown. For cheap attempts whose only useful answer is a witness.
  bool witness_only = false;
};

enum class PolyStatus { kAcyclic, kCyclic, kUnknown };

struct PolySolution {
  PolyStatus status = PolyStatus::kUnknown;
  std::vector<size_t> core_known;    // indexes into Polygraph::known
  std::vector<size_t> core_choices;  // indexes into Polygraph::choices
  std::string reason;                // kUnknown: why
  Json stats = Json::object();
};

PolySolution solve_polygraph(const Polygraph& p, const CheckContext& ctx);

// The exact search: Z3, linear_order over the nodes, one Boolean per choice. Known edges and
// choices are assumptions so that an unsat answer names a core. Used by solve_polygraph on the
// residue; exposed for differential tests.
PolySolution z3_acyclic(const Polygraph& p, const CheckContext& ctx);

}  // namespace faultline::elle
