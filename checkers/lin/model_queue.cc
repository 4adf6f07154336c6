// Models "fifo-queue" and "unordered-queue": enqueue x; dequeue returns an element (the oldest
// for fifo-queue, any for unordered-queue) or nil when the queue is empty.
#include <algorithm>
#include <optional>

#include "checkers/lin/model.h"

namespace faultline::lin {
namespace {

enum : uint16_t { kEnqueue, kDequeue };

class QueueModel : public Model {
 public:
  explicit QueueModel(bool fifo) : fifo_(fifo) {}
  std::string name() const override { return fifo_ ? "fifo-queue" : "unordered-queue"; }
  std::optional<Call> prepare(const Operation& op) override {
    Call c;
    c.outcome = outcome_of(op);
    if (c.outcome == Outcome::kFail) return std::nullopt;
    if (op.invoke->f == "enqueue") {
      c.f = kEnqueue;
      c.a = values_.intern(op.invoke->value);
      return c;
    }
    if (op.invoke->f == "dequeue") {
      c.f = kDequeue;
      // An info dequeue may have removed some unknown element: it constrains what others see
      // only if we knew which. We drop it (like Knossos, which treats it as possibly never
      // happening); this can miss an anomaly but never invents one... except that a dropped
      // dequeue that did take effect leaves its element in the model, so a later "empty"
      // dequeue may look illegal. Keep such histories to ok dequeues.
      if (c.outcome != Outcome::kOk) return std::nullopt;
      c.a = values_.intern(op.complete->value);
      return c;
    }
    bad_op(op, name(), "expected enqueue or dequeue");
  }
  int64_t init() override { return queues_.intern({}); }
  int64_t step(int64_t state, const Call& c) override {
    const auto& q = queues_.get(state);
    if (c.f == kEnqueue) {
      std::vector<int64_t> next = q;
      if (fifo_) {
        next.push_back(c.a);
      } else {
        next.insert(std::upper_bound(next.begin(), next.end(), c.a), c.a);
      }
      return queues_.intern(next);
    }
    if (c.a == 0) return q.empty() ? state : kIllegal;  // dequeue returned nil
    if (fifo_) {
      if (q.empty() || q.front() != c.a) return kIllegal;
      return queues_.intern(std::vector<int64_t>(q.begin() + 1, q.end()));
    }
    auto pos = std::lower_bound(q.begin(), q.end(), c.a);
    if (pos == q.end() || *pos != c.a) return kIllegal;
    std::vector<int64_t> next = q;
    next.erase(next.begin() + (pos - q.begin()));
    return queues_.intern(next);
  }
  bool memoise_steps() const override { return true; }
  std::string describe_state(int64_t state) const override {
    const auto& q = queues_.get(state);
    std::string out = "[";
    for (size_t i = 0; i < q.size(); ++i) out += (i ? " " : "") + values_.text(q[i]);
    return out + "]";
  }
  std::string describe_call(const Call& c) const override {
    return (c.f == kEnqueue ? "enqueue " : "dequeue -> ") + describe_value(values_.text(c.a));
  }

 private:
  bool fifo_;
  ValueTable values_;
  VectorTable queues_;
};

const bool registered_fifo =
    ModelRegistry::add("model", "fifo-queue", "FIFO queue: enqueue x, dequeue the oldest or nil",
                       [] { return std::make_unique<QueueModel>(true); });
const bool registered_unordered = ModelRegistry::add(
    "model", "unordered-queue", "unordered queue: enqueue x, dequeue any element or nil",
    [] { return std::make_unique<QueueModel>(false); });

}  // namespace
}  // namespace faultline::lin
