// Model "multi-register": several registers read and written together. write {k: v, ...} sets
// each named register; read returns {k: v, ...} for the registers it names (nil at first).
// Knossos's multi-register.
#include <optional>

#include "checkers/lin/model.h"

namespace faultline::lin {
namespace {

enum : uint16_t { kRead, kWrite };

class MultiRegisterModel : public Model {
 public:
  std::string name() const override { return "multi-register"; }
  std::optional<Call> prepare(const Operation& op) override {
    Call c;
    c.outcome = outcome_of(op);
    if (c.outcome == Outcome::kFail) return std::nullopt;
    const Json* v;
    if (op.invoke->f == "write") {
      c.f = kWrite;
      v = &op.invoke->value;
    } else if (op.invoke->f == "read") {
      if (c.outcome != Outcome::kOk) return std::nullopt;
      c.f = kRead;
      v = &op.complete->value;
    } else {
      bad_op(op, name(), "expected read or write");
    }
    if (!v->is_object()) bad_op(op, name(), "the value is a map {register: value}");
    std::vector<int64_t> pairs;  // sorted by register id
    for (const auto& [k, x] : v->items()) {
      int64_t kid = keys_.intern_text(k), vid = values_.intern(x);
      auto pos = pairs.begin();
      while (pos != pairs.end() && *pos < kid) pos += 2;
      pos = pairs.insert(pos, vid);
      pairs.insert(pos, kid);
    }
    c.a = maps_.intern(pairs);
    return c;
  }
  int64_t init() override { return maps_.intern({}); }
  bool read_only(const Call& c) const override { return c.f == kRead; }
  bool unconditional(const Call& c) const override { return c.f == kWrite; }
  int64_t step(int64_t state, const Call& c) override {
    const auto& s = maps_.get(state);
    const auto& m = maps_.get(c.a);
    auto lookup = [&](int64_t k) -> int64_t {
      for (size_t i = 0; i < s.size(); i += 2) {
        if (s[i] == k) return s[i + 1];
      }
      return 0;  // nil
    };
    if (c.f == kRead) {
      for (size_t i = 0; i < m.size(); i += 2) {
        if (lookup(m[i]) != m[i + 1]) return kIllegal;
      }
      return state;
    }
    std::vector<int64_t> next = s;
    for (size_t i = 0; i < m.size(); i += 2) {
      bool found = false;
      for (size_t j = 0; j < next.size(); j += 2) {
        if (next[j] == m[i]) {
          next[j + 1] = m[i + 1];
          found = true;
          break;
        }
      }
      if (!found) {
        auto pos = next.begin();
        while (pos != next.end() && *pos < m[i]) pos += 2;
        pos = next.insert(pos, m[i + 1]);
        next.insert(pos, m[i]);
      }
    }
    return maps_.intern(next);
  }
  bool memoise_steps() const override { return true; }
  std::string describe_state(int64_t state) const override { return text(maps_.get(state)); }
  std::string describe_call(const Call& c) const override {
    return (c.f == kRead ? "read " : "write ") + text(maps_.get(c.a));
  }

 private:
  std::string text(const std::vector<int64_t>& m) const {
    std::string out = "{";
    for (size_t i = 0; i < m.size(); i += 2) {
      out += (i ? ", " : "") + keys_.text(m[i]) + " " + describe_value(values_.text(m[i + 1]));
    }
    return out + "}";
  }
  ValueTable keys_, values_;
  VectorTable maps_;
};

const bool registered =
    ModelRegistry::add("model", "multi-register", "several registers read/written together",
                       [] { return std::make_unique<MultiRegisterModel>(); });

}  // namespace
}  // namespace faultline::lin
