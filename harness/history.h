// History: the ordered ops of one test run, validated and paired.
//
// `History::build` checks the structural rules every checker relies on and pairs each
// invocation with its completion:
//   - a completion needs an open invocation on its process, with the same `f`;
//   - a process never has two ops open at once;
//   - a process whose op ended in info never issues another op;
//   - the nemesis (process kNemesisProcess) records info ops; an invocation-like info and the
//     next info with the same f are paired, unpaired ones stand alone.
// A history of completions only (no client invocation at all: Elle's tests and several tools
// write them) gets an invocation made up for each completion, just before it, with the same
// process, f and value; invocations_known() is then false, and checkers must not derive a
// real-time order from those made-up times (Elle derives no real-time edge into such ops; the
// linearizability checker refuses such a history).
// Each violation is a HistoryProblem naming the source line and a one-line reason; a history
// with problems is never silently repaired.
//
// Projections used by checkers (per key, by type, operation pairs) are free functions below.
//
// Thread safety: immutable after build; safe to read from many threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "harness/op.h"

namespace faultline {

struct HistoryProblem {
  int64_t line = 0;    // 1-based source line, 0 when unknown
  int64_t index = -1;  // op index, -1 when the problem is not tied to one op
  std::string reason;  // one line, no trailing period
};

// Thrown by loaders and History::build_or_throw; what() is "<source>:<line>: <reason>" for the
// first problem, and problems() has all of them (at most kMaxProblems).
class HistoryError : public ConfigError {
 public:
  HistoryError(std::string source, std::vector<HistoryProblem> problems);
  const std::string& source() const { return source_; }
  const std::vector<HistoryProblem>& problems() const { return problems_; }
  static constexpr size_t kMaxProblems = 20;

 private:
  std::string source_;
  std::vector<HistoryProblem> problems_;
};

class History {
 public:
  History() = default;

  // Re-indexes ops densely in order, validates and pairs them. Problems are appended to
  // `problems` (at most HistoryError::kMaxProblems); the history is still built, with the
  // offending ops left unpaired.
  static History build(std::vector<Op> ops, std::vector<HistoryProblem>* problems);
  // As build, but throws HistoryError naming `source` if there is any problem.
  static History build_or_throw(std::vector<Op> ops, const std::string& source);

  const std::vector<Op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  const Op& operator[](size_t i) const { return ops_[i]; }
  auto begin() const { return ops_.begin(); }
  auto end() const { return ops_.end(); }

  // Index of the matching completion of an invocation, or of the invocation of a completion;
  // -1 when there is none (an invocation that never completed, or a lone nemesis op).
  int64_t pair_of(size_t index) const { return pair_[index]; }

  // Convenience counts for summaries.
  struct Counts {
    int64_t invoke = 0, ok = 0, fail = 0, info = 0, nemesis = 0, open = 0;
  };
  Counts counts() const;

  // False when the invocations were made up for a history of completions only.
  bool invocations_known() const { return invocations_known_; }

 private:
  std::vector<Op> ops_;
  std::vector<int64_t> pair_;
  bool invocations_known_ = true;
};

// One client operation: its invocation and completion. `complete` is nullptr when the
// operation never completed (it counts as info). The effective type is the completion's type,
// or kInfo when there is no completion.
struct Operation {
  const Op* invoke = nullptr;
  const Op* complete = nullptr;

  OpType type() const { return complete ? complete->type : OpType::kInfo; }
  // The completion's value for ok, the invocation's otherwise (an info completion carries an
  // error, not the argument).
  const Json& value() const {
    return complete && complete->type == OpType::kOk ? complete->value : invoke->value;
  }
  // Positions in the history; `complete_index` is +infinity (INT64_MAX) when open.
  int64_t invoke_index() const { return invoke->index; }
  int64_t complete_index() const;
};

// Client operations (nemesis excluded), in invocation order.
std::vector<Operation> client_operations(const History& history);

// The key of an op: the "key" field of a record (extra["key"]) if present, else the first
// element of a two-element array value ([key, v], Jepsen's independent keys); null when none.
Json op_key(const Op& op);

// Splits a history into one sub-history per key (see op_key). Values of the form [key, v] are
// replaced by v. Ops without a key are dropped. Nemesis ops are dropped. Keys are in JSON's
// order (numbers by value before strings), so iteration is deterministic.
struct KeyedHistory {
  Json key;
  History history;
};
std::vector<KeyedHistory> split_by_key(const History& history);

// A fault interval: a nemesis op that starts a fault ("start-x", "kill-x", "pause-x") to the
// one that ends it ("stop-x", "restart-x", "resume-x", "heal-x"), matched by the part after the
// first '-' (an f without one is its own key). A fault never ended lasts to the end of the
// history. Times in ns since the test started.
struct NemesisInterval {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  std::string name;  // the key, e.g. "partition"
  bool ended = true;
};
std::vector<NemesisInterval> nemesis_intervals(const History& history);

// Each node's clock offset from true time as steps (ns since the test started, ms), in history
// order, from every nemesis completion with a known time carrying {"offsets-ms": {node: ms}}
// (the clock nemesis). nullopt when no such op is in the history.
using ClockOffsetSteps = std::map<std::string, std::vector<std::pair<int64_t, double>>>;
std::optional<ClockOffsetSteps> clock_offset_steps(const History& history);

}  // namespace faultline
