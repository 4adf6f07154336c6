// Linearizability search for one key (or one unsplit history): Wing and Gong's algorithm with
// Lowe's just-in-time linearization and state caching ("Testing for linearizability", Lowe,
// CCPE 2017), as in Horn and Kroening (FORTE 2015) and Porcupine.
//
// The history is a list of call and return entries in real-time order. The search walks the
// list from its head: a call may be linearized (lifted out of the list with its return) when
// the model allows it from the current state; reaching a return entry of an op not yet
// linearized means backtracking. An info op has no return entry: it may be linearized at any
// point after its call, or never; the search succeeds once every op with a return is
// linearized. At each point, calls of ops that have returns are tried before calls of info
// ops. An optional op (LinOp::optional) whose return entry is reached unlinearized may
// instead be skipped: it never took effect.
//
// Cache of visited configurations. Lowe's cache key is (set of linearized ops, state). Let p be
// the first return entry still in the list: every op whose return precedes p is linearized, no
// op whose call follows p can be, so the set of linearized ops is determined by p and by U, the
// unlinearized calls before p, which the search walks over anyway to find p. The key is
// therefore (p, U, state), whose size is bounded by the concurrency (plus pending info ops),
// not by the length of the history: a long history costs no more per entry than a short one.
//
// Reductions (each exact: it drops only configurations that cannot lead to a linearization
// the search would otherwise find; the differential test checks them against the plain search):
//   - forced reads: a read-only call (Model::read_only: a read, a failed cas) that is legal on
//     entering a configuration is linearized at once, with no alternative tried there;
//   - pending reads: after a move that changed the state, a pending read that must come before
//     every pending reset (it returns before the first non-monotone call is invoked) and that
//     the state can no longer reach by monotone calls (Model::reachable: a kv string that is no
//     longer a prefix of what the get returned) ends the configuration;
//   - irrelevant state: when a pending overwrite (a put, a write) must come before every pending
//     state-dependent call, the state is left out of the cache key, so the orders of appends
//     that a later put erases are explored once.
//
// Bounds: a deadline and a memory bound (cache plus memo bytes) end the search with kUnknown
// and the reason; never a wrong answer.
//
// Thread safety: search() is reentrant; one call per thread per Model object.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "checkers/lin/model.h"

namespace faultline::lin {

// One operation of the key's history, prepared.
struct LinOp {
  Call call;
  int64_t call_pos = 0;          // position of the invocation in the (key's) history
  int64_t ret_pos = INT64_MAX;   // position of the completion; INT64_MAX for info
  const Op* invoke = nullptr;    // into the original history
  const Op* complete = nullptr;  // nullptr when it never completed
  // Outcome unknown but timing known: the op may not have taken effect at all; if it did, it
  // was between call_pos and ret_pos. Used to relax ops when shrinking counterexamples.
  bool optional = false;
};

// Prepares every client operation of `history` with `model` (dropping what the model drops),
// in invocation order. Throws std::invalid_argument on an op the model cannot read.
std::vector<LinOp> prepare_ops(const History& history, Model& model);
// The same for operations already gathered (e.g. one key's, pointing into a whole history).
std::vector<LinOp> prepare_ops(const std::vector<Operation>& operations, Model& model);

enum class SearchVerdict { kLinearizable, kIllegal, kUnknown };

struct SearchLimits {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  size_t memory_limit_bytes = 0;  // 0: none
  const std::atomic<bool>* cancel = nullptr;
  uint64_t max_steps = 0;  // 0: none; a deterministic budget (reason "step budget")
  const std::atomic<bool>* stop = nullptr;  // a second cancel flag (reason "stopped")
  // Forced reads, pending-read pruning and state-irrelevance (see search()); off only for
  // differential tests of them.
  bool reductions = true;
};

struct SearchResult {
  SearchVerdict verdict = SearchVerdict::kLinearizable;
  std::string unknown_reason;  // for kUnknown
  bool out_of_steps = false;   // kUnknown because SearchLimits::max_steps was reached
  // The longest sequence of ops (indexes into the LinOp vector) the search linearized, in
  // linearization order, and the op it could not linearize next (-1 when none).
  std::vector<int32_t> longest_prefix;
  int32_t blocked_op = -1;
  // Counters.
  uint64_t steps = 0;
  uint64_t cache_entries = 0;
  uint64_t cache_hits = 0;
  uint64_t pruned = 0;  // configurations dropped by the pending-read check
  size_t peak_bytes = 0;
};

SearchResult search(const std::vector<LinOp>& ops, Model& model, const SearchLimits& limits);

}  // namespace faultline::lin
