// Model: the sequential specification a linearizability check compares a history against.
//
// A model is a small pure state machine (init, step, describe), written once per data type in
// its own file (checkers/model_*.cc) and registered by name in ModelRegistry. One Model object
// serves one check of one key (or one unsplit history): it may intern its states and values in
// tables of its own, so states are plain 64-bit handles and stepping never compares JSON.
//
// Semantics of outcomes (the checker's header comment has the whole story):
//   kOk    the operation took effect exactly once, with the recorded result;
//   kFail  it never took effect: prepare() drops it, unless the model gives a failed outcome a
//          meaning (cas-register: the compare did not match, a no-op that still must be
//          linearizable at some point);
//   kInfo  unknown (also an invocation that never completed): it may take effect at any time
//          after its invocation, or never; its result is unknown. An info read constrains
//          nothing and is dropped by prepare().
//
// Thread safety: a Model object is used by one thread; factories may be called from any.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "harness/history.h"
#include "harness/registry.h"

namespace faultline::lin {

enum class Outcome : uint8_t { kOk, kFail, kInfo };

// One operation, prepared for the search: a small operation code and up to three interned
// arguments, whose meaning belongs to the model.
struct Call {
  uint16_t f = 0;
  Outcome outcome = Outcome::kOk;
  int64_t a = 0, b = 0, c = 0;
};

inline constexpr int64_t kIllegal = INT64_MIN;

// Interns JSON values to dense ids (null is always 0). Ids follow first appearance.
class ValueTable {
 public:
  ValueTable();
  int64_t intern(const Json& value);
  int64_t intern_text(const std::string& text);  // already-serialised JSON
  const std::string& text(int64_t id) const { return texts_[static_cast<size_t>(id)]; }
  size_t size() const { return texts_.size(); }

 private:
  std::unordered_map<std::string, int64_t> ids_;
  std::vector<std::string> texts_;
};

// Interns vectors of int64 (e.g. a set's sorted elements) to dense ids.
class VectorTable {
 public:
  int64_t intern(const std::vector<int64_t>& v);
  const std::vector<int64_t>& get(int64_t id) const { return vecs_[static_cast<size_t>(id)]; }

 private:
  struct Hash {
    size_t operator()(const std::vector<int64_t>& v) const;
  };
  std::unordered_map<std::vector<int64_t>, int64_t, Hash> ids_;
  std::vector<std::vector<int64_t>> vecs_;
};

// A step in symbolic form, for the SMT engine: a guard on the state before the op and its
// effect on it. Values are the model's interned ids (kInt: compared as integers; kString: the
// strings symbolic_string() gives).
struct Symbolic {
  enum class Guard : uint8_t { kNone, kEq, kNe };
  enum class Effect : uint8_t { kKeep, kSet, kAdd, kConcat };
  Guard guard = Guard::kNone;
  Effect effect = Effect::kKeep;
  int64_t guard_value = 0;
  int64_t effect_value = 0;
};
enum class SymbolicDomain { kNone, kInt, kString };

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string name() const = 0;

  // The call for one operation, or nullopt to drop it (it constrains nothing). Throws
  // std::invalid_argument naming the op when its f or value does not fit the model.
  virtual std::optional<Call> prepare(const Operation& op) = 0;

  // Whether the model is a product of independent per-key objects, each op touching exactly
  // the one key it names (a "key" field, or [key value]). Then, by locality (Herlihy and Wing
  // 1990; Horn and Kroening's P-compositionality), a history is linearizable exactly when each
  // key's subhistory is, and the checker decides an unsplit history key by key.
  virtual bool local_by_key() const { return false; }

  // How a failed operation whose failure the history does not explain is read. kUnknown
  // (Jepsen's and Knossos's convention: a failed op did not happen) drops it; kMismatch reads
  // a failed cas with no error as "the compare did not match" (Porcupine's etcd model). A
  // failure whose error says "mismatch" is a mismatch under both. Set before prepare().
  enum class FailedCas : uint8_t { kUnknown, kMismatch };
  void set_failed_cas(FailedCas f) { failed_cas_ = f; }
  FailedCas failed_cas() const { return failed_cas_; }
  virtual int64_t init() = 0;
  // The state after `call` from `state`, or kIllegal.
  virtual int64_t step(int64_t state, const Call& call) = 0;

  // True when `call` never changes the state where it is legal (a read, a failed cas). The
  // search linearizes such a call as soon as it is legal, without trying alternatives: any
  // linearization that places it later can place it there instead (see linear_search.h).
  virtual bool read_only(const Call& call) const {
    (void)call;
    return false;
  }

  // Monotone calls only move the state up in an order of the model's own (a kv append, a set
  // add, a counter add of a non-negative amount); read-only calls are monotone. Every other
  // call may reset the state. With reachable(), this lets the search drop a configuration when
  // a read that must come before every pending reset can no longer be satisfied.
  virtual bool monotone(const Call& call) const { return read_only(call); }
  // Whether monotone calls alone can take `state` to one where the read-only `read` is legal.
  // Must never answer false when they can (true is always safe).
  virtual bool reachable(int64_t state, const Call& read) { return step(state, read) != kIllegal; }

  // Unconditional calls are legal in every state (a write, a put, an append, a set add). The
  // rest (reads, cas, dequeue, acquire) depend on the state. Overwriting calls leave a state
  // that does not depend on the one before (a write, a put on the model's only key). When an
  // overwrite must come, in real time, before every pending state-dependent call, the current
  // state cannot matter to the rest of the search, and configurations that differ only in it
  // are one (the many orders of appends that a later put erases). false is always safe.
  virtual bool unconditional(const Call& call) const {
    (void)call;
    return false;
  }
  virtual bool overwrites(const Call& call) const {
    (void)call;
    return false;
  }

  // True when states are interned composites, so the search should memoise step().
  virtual bool memoise_steps() const { return false; }

  // The SMT engine's view of the model; kNone when it has no symbolic form (the SMT engine
  // then refuses it).
  virtual SymbolicDomain symbolic_domain() const { return SymbolicDomain::kNone; }
  virtual Symbolic symbolic(const Call& call) const {
    (void)call;
    return {};
  }
  virtual int64_t symbolic_init() const { return 0; }
  virtual std::string symbolic_string(int64_t id) const {
    (void)id;
    return "";
  }

  virtual std::string describe_state(int64_t state) const = 0;
  virtual std::string describe_call(const Call& call) const = 0;

 private:
  FailedCas failed_cas_ = FailedCas::kUnknown;
};

// Builds a model for one check. Options are model-specific (none so far).
using ModelFactory = std::function<std::unique_ptr<Model>()>;
using ModelRegistry = Registry<ModelFactory>;

// Guesses a model from the operation names of a history ("cas-register" for read/write/cas,
// "kv" for get/put/append, ...); empty when nothing fits.
std::string guess_model(const History& history);

// Helpers for model files.
// The outcome of an operation: ok, fail, or info (also for one that never completed).
Outcome outcome_of(const Operation& op);
[[noreturn]] void bad_op(const Operation& op, const std::string& model, const std::string& why);
std::string describe_value(const std::string& json_text);

}  // namespace faultline::lin
