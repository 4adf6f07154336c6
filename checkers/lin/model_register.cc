// Models "register" (read/write) and "cas-register" (read/write/cas) over one value, nil at
// first. Jepsen's vocabulary: read returns the value (an invocation's value is ignored); write
// v; cas [from to] replaces from by to. A failed cas whose error says "mismatch" (Faultline's
// own clients write that) means the compare did not match: a no-op that needs state != from
// where it is linearized. A failed cas with no error is read the same way only under the
// checker option failed-cas=mismatch (Porcupine's etcd model, right for clients that fail a cas
// only on a mismatch); by default (Knossos, Jepsen) it did not happen and is dropped: a client
// may fail a cas for other reasons (MongoDB's Jepsen client did, on rollbacks), and reading it
// as a mismatch would invent anomalies. A failed cas with any other error, failed reads and
// writes are dropped. An info cas, if it took effect, matched.
#include <optional>

#include "checkers/lin/model.h"

namespace faultline::lin {
namespace {

enum : uint16_t { kRead, kWrite, kCas };

class RegisterModel : public Model {
 public:
  explicit RegisterModel(bool cas) : cas_(cas) {}
  std::string name() const override { return cas_ ? "cas-register" : "register"; }

  std::optional<Call> prepare(const Operation& op) override {
    Call c;
    const std::string& f = op.invoke->f;
    c.outcome = outcome_of(op);
    if (f == "read") {
      if (c.outcome != Outcome::kOk) return std::nullopt;
      c.f = kRead;
      c.a = values_.intern(op.complete->value);
      return c;
    }
    if (f == "write") {
      if (c.outcome == Outcome::kFail) return std::nullopt;
      c.f = kWrite;
      c.a = values_.intern(op.invoke->value);
      return c;
    }
    if (f == "cas" && cas_) {
      if (c.outcome == Outcome::kFail && !is_mismatch(op.complete->error)) return std::nullopt;
      const Json& v = op.invoke->value;
      if (!v.is_array() || v.size() != 2) bad_op(op, name(), "cas needs [from to]");
      c.f = kCas;
      c.a = values_.intern(v[0]);
      c.b = values_.intern(v[1]);
      return c;
    }
    bad_op(op, name(), cas_ ? "expected read, write or cas" : "expected read or write");
  }

  int64_t init() override { return 0; }  // nil

  int64_t step(int64_t state, const Call& c) override {
    switch (c.f) {
      case kRead:
        return state == c.a ? state : kIllegal;
      case kWrite:
        return c.a;
      case kCas:
        if (c.outcome == Outcome::kFail) return state != c.a ? state : kIllegal;
        return state == c.a ? c.b : kIllegal;
    }
    return kIllegal;
  }

  bool unconditional(const Call& c) const override { return c.f == kWrite; }
  bool overwrites(const Call& c) const override { return c.f == kWrite; }
  bool read_only(const Call& c) const override {
    return c.f == kRead || (c.f == kCas && c.outcome == Outcome::kFail);
  }
  SymbolicDomain symbolic_domain() const override { return SymbolicDomain::kInt; }
  Symbolic symbolic(const Call& c) const override {
    using G = Symbolic::Guard;
    using E = Symbolic::Effect;
    switch (c.f) {
      case kRead:
        return {G::kEq, E::kKeep, c.a, 0};
      case kWrite:
        return {G::kNone, E::kSet, 0, c.a};
      default:
        if (c.outcome == Outcome::kFail) return {G::kNe, E::kKeep, c.a, 0};
        return {G::kEq, E::kSet, c.a, c.b};
    }
  }

  std::string describe_state(int64_t state) const override {
    return describe_value(values_.text(state));
  }
  std::string describe_call(const Call& c) const override {
    switch (c.f) {
      case kRead:
        return "read " + describe_value(values_.text(c.a));
      case kWrite:
        return "write " + describe_value(values_.text(c.a));
      case kCas:
        return std::string(c.outcome == Outcome::kFail ? "failed " : "") + "cas " +
               describe_value(values_.text(c.a)) + " -> " + describe_value(values_.text(c.b));
    }
    return "?";
  }

  const ValueTable& values() const { return values_; }

 private:
  bool is_mismatch(const Json& error) const {
    if (error.is_null()) return failed_cas() == FailedCas::kMismatch;
    return error.is_string() &&
           error.get_ref<const std::string&>().find("mismatch") != std::string::npos;
  }

  bool cas_;
  ValueTable values_;
};

const bool registered_register =
    ModelRegistry::add("model", "register", "read/write register, nil at first",
                       [] { return std::make_unique<RegisterModel>(false); });
const bool registered_cas = ModelRegistry::add(
    "model", "cas-register",
    "read/write/cas register, nil at first; a failed cas whose error says mismatch did not "
    "match (-o failed-cas=mismatch: every failed cas with no error too)",
    [] { return std::make_unique<RegisterModel>(true); });

}  // namespace
}  // namespace faultline::lin
