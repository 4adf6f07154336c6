// An exact, O(n log n) linearizability check of one register key whose written values are all
// distinct: each read then names the one write it saw (Gibbons and Korach, "Testing shared
// memories", SIAM J. Computing 26(4), 1997: with such a read-mapping the register problem is
// polynomial, while it is NP-complete in general).
//
// A write and the reads that saw it form a cluster. Its zone runs from f, the earliest return
// of the cluster's ops, to s, the latest invocation: when f < s every linearization must keep
// the register at that write for the whole of (f, s) (a forward zone); otherwise the cluster can
// be linearized at one point inside (s, f) (a backward zone). The history is linearizable iff
// no read returns before its write is invoked, no two forward zones overlap, and no backward
// zone lies inside a forward zone. The initial value is a cluster whose write precedes
// everything.
//
// It applies to models whose symbolic form (Model::symbolic) has only reads (guard ==, no
// effect) and writes (no guard, set): register, and kv keys with only gets and puts. It
// declines (nullopt) on anything else: a cas, a failed cas read as a mismatch, appends, a
// written value written twice or equal to the initial one; the search decides those. Info
// and optional (LinOp::optional) reads, and such writes nobody read, are dropped (they may
// never have happened); such a write somebody read took effect within its interval.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "checkers/lin/linear_search.h"
#include "checkers/lin/model.h"

namespace faultline::lin {

struct UniqueValuesResult {
  SearchVerdict verdict = SearchVerdict::kLinearizable;
  // For an illegal key: the rule broken, in words, naming the ops by their invocation index.
  std::string why;
  size_t clusters = 0;
};

// The verdict of the zone check, or nullopt when the key is not of that form.
std::optional<UniqueValuesResult> check_unique_values(const std::vector<LinOp>& ops,
                                                      const Model& model);

}  // namespace faultline::lin
