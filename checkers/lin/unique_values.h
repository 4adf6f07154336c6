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
// Successful cas ops (compare-and-set a -> b) are reads of a's cluster and the write of b's:
// with distinct values the cluster of b must come right after a's, so cas ops chain clusters
// into runs that are linearized back to back. Two cas ops that both saw a, or a cycle of cas
// ops, are illegal. A run is placed like one cluster: with t the point of its first write, the
// k-th write goes at max(t, K_k) (K_k: the latest invocation among the writes up to k and the
// reads of the clusters before k), so the run needs K_k < U_k (U_k: the earliest return among
// cluster k's write and reads) for every k, and then occupies [t, max(t, s)] for t below
// f = min U_k, with s the latest invocation of the run's writes and of its last cluster's
// reads: the shape of one cluster with that f and s, and the zone rules above apply to runs.
//
// It applies to models whose symbolic form (Model::symbolic) has only reads (guard ==, no
// effect), writes (no guard, set) and cas (guard ==, set): register, cas-register, and kv keys
// with only gets and puts. It declines (nullopt) on anything else: a failed cas read as a
// mismatch, appends, a cas whose new value is its compare value, a written value written
// twice or equal to the initial one; the search decides those. Info and optional
// (LinOp::optional) reads, and such writes and cas ops whose value nobody saw, are dropped (they
// may never have happened); one whose value somebody saw took effect within its interval.
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
};

// The verdict of the zone check, or nullopt when the key is not of that form.
std::optional<UniqueValuesResult> check_unique_values(const std::vector<LinOp>& ops,
                                                      const Model& model);

}  // namespace faultline::lin
