// Checker: decides whether a history is consistent. Implemented in checkers/ (and composed by
// workloads); the runner and `faultline check` call them.
//
// Checkers are pure: a History in, a CheckResult out; they never write files (the runner writes
// their artifacts). A deadline or a memory bound that is hit gives kUnknown with the reason,
// never a wrong answer. Results compose: invalid ranks above unknown above valid (Jepsen).
//
// Thread safety: check() may be called from any thread; one Checker object is used by one
// call at a time. A checker may use up to CheckContext::threads threads of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/history.h"
#include "harness/registry.h"

namespace faultline {

enum class Validity { kValid, kInvalid, kUnknown };

std::string_view to_string(Validity v);
// Jepsen's merge: invalid > unknown > valid.
Validity merge(Validity a, Validity b);
// 0 valid, 1 invalid, 2 unknown.
int exit_code_of(Validity v);

struct CheckContext {
  // No deadline by default.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Bound on the memory a checker may use for its search state, in bytes (0: no bound).
  size_t memory_limit_bytes = 0;
  // Threads the checker may use (>= 1).
  int threads = 1;
  // Seed for anything randomised (e.g. solver seeds); results must not depend on it otherwise.
  uint64_t seed = 0;
  // Set by someone else to ask the checker to stop early (its verdict is then unknown).
  const std::atomic<bool>* cancel = nullptr;
  // Progress lines for long checks ("linearizable: key 17/100"); may be empty.
  std::function<void(const std::string&)> progress;

  bool expired() const {
    return (cancel && cancel->load(std::memory_order_relaxed)) ||
           std::chrono::steady_clock::now() >= deadline;
  }
};

struct CheckResult {
  Validity validity = Validity::kValid;
  Json details = Json::object();                 // checker-specific, deterministic
  std::map<std::string, std::string> artifacts;  // file name -> bytes (e.g. "cycle-1.dot")
  // Wall-clock figures (seconds per phase, ...): not deterministic, so kept apart from details,
  // which must be byte-identical when a stored history is checked again.
  Json timing = Json::object();
};

class Checker {
 public:
  virtual ~Checker() = default;
  virtual CheckResult check(const History& history, const CheckContext& context) = 0;
};

// A checker is built by name from its options (JSON object; unknown keys are rejected with
// std::invalid_argument naming the key).
using CheckerFactory = std::function<std::unique_ptr<Checker>(const Json& options)>;
using CheckerRegistry = Registry<CheckerFactory>;

// Which of a list of anomalies (their types, in order) a capped explanation or summary shows:
// the first of each distinct non-empty type, then the others in order while fewer than `cap`
// are shown, at most `per_type` of one type. Every type is shown even when there are more
// types than `cap`, so no type (lost-update, say) hides behind a run of another.
std::vector<bool> first_of_each_type(const std::vector<std::string>& types, size_t cap,
                                     size_t per_type = SIZE_MAX);

}  // namespace faultline
