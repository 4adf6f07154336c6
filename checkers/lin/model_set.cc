// Model "set": add x, and read returning every element (in any order). Knossos's set model.
#include <algorithm>
#include <optional>

#include "checkers/lin/model.h"

namespace faultline::lin {
namespace {

enum : uint16_t { kAdd, kRead };

class SetModel : public Model {
 public:
  std::string name() const override { return "set"; }
  std::optional<Call> prepare(const Operation& op) override {
    Call c;
    c.outcome = outcome_of(op);
    if (c.outcome == Outcome::kFail) return std::nullopt;
    if (op.invoke->f == "add") {
      c.f = kAdd;
      c.a = values_.intern(op.invoke->value);
      return c;
    }
    if (op.invoke->f == "read") {
      if (c.outcome != Outcome::kOk) return std::nullopt;
      const Json& v = op.complete->value;
      if (!v.is_array()) bad_op(op, name(), "a read returns an array of elements");
      std::vector<int64_t> elems;
      for (const auto& e : v) elems.push_back(values_.intern(e));
      std::sort(elems.begin(), elems.end());
      elems.erase(std::unique(elems.begin(), elems.end()), elems.end());
      c.f = kRead;
      c.a = sets_.intern(elems);
      return c;
    }
    bad_op(op, name(), "expected add or read");
  }
  int64_t init() override { return sets_.intern({}); }
  bool read_only(const Call& c) const override { return c.f == kRead; }
  bool monotone(const Call& c) const override {
    (void)c;
    return true;
  }  // adds only grow it
  bool unconditional(const Call& c) const override { return c.f == kAdd; }
  bool reachable(int64_t state, const Call& read) override {
    const auto& s = sets_.get(state);
    const auto& want = sets_.get(read.a);
    return std::includes(want.begin(), want.end(), s.begin(), s.end());
  }
  int64_t step(int64_t state, const Call& c) override {
    if (c.f == kRead) return state == c.a ? state : kIllegal;
    const auto& s = sets_.get(state);
    auto pos = std::lower_bound(s.begin(), s.end(), c.a);
    if (pos != s.end() && *pos == c.a) return state;
    std::vector<int64_t> next = s;
    next.insert(next.begin() + (pos - s.begin()), c.a);
    return sets_.intern(next);
  }
  bool memoise_steps() const override { return true; }
  std::string describe_state(int64_t state) const override { return text(sets_.get(state)); }
  std::string describe_call(const Call& c) const override {
    if (c.f == kAdd) return "add " + values_.text(c.a);
    return "read " + text(sets_.get(c.a));
  }

 private:
  std::string text(const std::vector<int64_t>& s) const {
    std::string out = "#{";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? " " : "") + values_.text(s[i]);
    return out + "}";
  }
  ValueTable values_;
  VectorTable sets_;
};

const bool registered = ModelRegistry::add("model", "set", "set: add x, read all elements",
                                           [] { return std::make_unique<SetModel>(); });

}  // namespace
}  // namespace faultline::lin
