// Model "mutex": acquire succeeds only when free, release only when held. Failed acquires and
// releases never happened.
#include <optional>

#include "checkers/lin/model.h"

namespace faultline::lin {
namespace {

enum : uint16_t { kAcquire, kRelease };

class MutexModel : public Model {
 public:
  std::string name() const override { return "mutex"; }
  std::optional<Call> prepare(const Operation& op) override {
    Call c;
    c.outcome = outcome_of(op);
    if (c.outcome == Outcome::kFail) return std::nullopt;
    if (op.invoke->f == "acquire") {
      c.f = kAcquire;
    } else if (op.invoke->f == "release") {
      c.f = kRelease;
    } else {
      bad_op(op, name(), "expected acquire or release");
    }
    return c;
  }
  int64_t init() override { return 0; }
  int64_t step(int64_t state, const Call& c) override {
    if (c.f == kAcquire) return state == 0 ? 1 : kIllegal;
    return state == 1 ? 0 : kIllegal;
  }
  SymbolicDomain symbolic_domain() const override { return SymbolicDomain::kInt; }
  Symbolic symbolic(const Call& c) const override {
    if (c.f == kAcquire) return {Symbolic::Guard::kEq, Symbolic::Effect::kSet, 0, 1};
    return {Symbolic::Guard::kEq, Symbolic::Effect::kSet, 1, 0};
  }
  std::string describe_state(int64_t state) const override { return state ? "held" : "free"; }
  std::string describe_call(const Call& c) const override {
    return c.f == kAcquire ? "acquire" : "release";
  }
};

const bool registered = ModelRegistry::add("model", "mutex", "mutex: acquire, release",
                                           [] { return std::make_unique<MutexModel>(); });

}  // namespace
}  // namespace faultline::lin
