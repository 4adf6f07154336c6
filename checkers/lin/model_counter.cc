// Model "counter": add n (integer, may be negative) and read returning the sum, 0 at first.
#include <optional>

#include "checkers/lin/model.h"

namespace faultline::lin {
namespace {

enum : uint16_t { kAdd, kRead };

class CounterModel : public Model {
 public:
  std::string name() const override { return "counter"; }
  std::optional<Call> prepare(const Operation& op) override {
    Call c;
    c.outcome = outcome_of(op);
    if (c.outcome == Outcome::kFail) return std::nullopt;
    if (op.invoke->f == "add" || op.invoke->f == "increment") {
      const Json& v = op.invoke->value;
      if (!v.is_null() && !v.is_number_integer()) bad_op(op, name(), "add takes an integer");
      c.f = kAdd;
      c.a = v.is_null() ? 1 : v.get<int64_t>();
      return c;
    }
    if (op.invoke->f == "read") {
      if (c.outcome != Outcome::kOk) return std::nullopt;
      if (!op.complete->value.is_number_integer()) bad_op(op, name(), "read returns an integer");
      c.f = kRead;
      c.a = op.complete->value.get<int64_t>();
      return c;
    }
    bad_op(op, name(), "expected add or read");
  }
  int64_t init() override { return 0; }
  bool read_only(const Call& c) const override { return c.f == kRead; }
  bool monotone(const Call& c) const override { return c.f == kRead || c.a >= 0; }
  bool unconditional(const Call& c) const override { return c.f == kAdd; }
  bool reachable(int64_t state, const Call& read) override { return read.a >= state; }
  int64_t step(int64_t state, const Call& c) override {
    if (c.f == kRead) return state == c.a ? state : kIllegal;
    return state + c.a;
  }
  SymbolicDomain symbolic_domain() const override { return SymbolicDomain::kInt; }
  Symbolic symbolic(const Call& c) const override {
    if (c.f == kRead) return {Symbolic::Guard::kEq, Symbolic::Effect::kKeep, c.a, 0};
    return {Symbolic::Guard::kNone, Symbolic::Effect::kAdd, 0, c.a};
  }
  std::string describe_state(int64_t state) const override { return std::to_string(state); }
  std::string describe_call(const Call& c) const override {
    return (c.f == kAdd ? "add " : "read ") + std::to_string(c.a);
  }
};

const bool registered = ModelRegistry::add("model", "counter", "counter: add n, read the sum",
                                           [] { return std::make_unique<CounterModel>(); });

}  // namespace
}  // namespace faultline::lin
