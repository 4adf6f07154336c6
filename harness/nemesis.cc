#include "harness/nemesis.h"

#include <map>
#include <mutex>
#include <stdexcept>

#include "harness/errors.h"

namespace faultline {
namespace {

class Composed : public Nemesis {
 public:
  Composed(std::vector<std::unique_ptr<Nemesis>> ns, std::chrono::milliseconds busy_wait)
      : ns_(std::move(ns)), busy_wait_(busy_wait) {
    for (size_t i = 0; i < ns_.size(); ++i) {
      mus_.push_back(std::make_unique<std::timed_mutex>());
      for (const auto& f : ns_[i]->fs()) {
        if (!by_f_.emplace(f, i).second) {
          throw ConfigError("two nemeses handle the op '" + f + "'");
        }
      }
    }
  }
  void setup(const NemesisContext& ctx) override {
    for (auto& n : ns_) n->setup(ctx);
  }
  Completion invoke(const NemesisContext& ctx, const Op& op) override {
    auto it = by_f_.find(op.f);
    if (it == by_f_.end()) return Completion::info("no nemesis handles '" + op.f + "'");
    // An op abandoned by the interpreter's watchdog may still run: the next op of the same
    // nemesis waits for it (another nemesis's ops go ahead).
    std::lock_guard<std::timed_mutex> lock(*mus_[it->second]);
    return ns_[it->second]->invoke(ctx, op);
  }
  void teardown(const NemesisContext& ctx) override {
    std::exception_ptr first;
    for (size_t i = 0; i < ns_.size(); ++i) {
      try {
        std::unique_lock<std::timed_mutex> lock(*mus_[i], std::defer_lock);
        if (!lock.try_lock_for(busy_wait_)) {
          auto fs = ns_[i]->fs();
          throw std::runtime_error("the nemesis of " +
                                   (fs.empty() ? std::string("?") : *fs.begin()) +
                                   " is still running an op after " +
                                   std::to_string(busy_wait_.count() / 1000) + " s: not healed");
        }
        ns_[i]->teardown(ctx);
      } catch (...) {
        if (!first) first = std::current_exception();
      }
    }
    if (first) std::rethrow_exception(first);
  }
  std::set<std::string> fs() const override {
    std::set<std::string> out;
    for (const auto& [f, i] : by_f_) out.insert(f);
    return out;
  }

 private:
  std::vector<std::unique_ptr<Nemesis>> ns_;
  std::vector<std::unique_ptr<std::timed_mutex>> mus_;  // one per nemesis: its ops, one at a time
  std::chrono::milliseconds busy_wait_;
  std::map<std::string, size_t> by_f_;
};

}  // namespace

std::unique_ptr<Nemesis> compose_nemeses(std::vector<std::unique_ptr<Nemesis>> nemeses,
                                         std::chrono::milliseconds busy_wait) {
  return std::make_unique<Composed>(std::move(nemeses), busy_wait);
}

GenPtr start_stop_cycle(int64_t interval_ns, std::function<OpTemplate(const GenContext&)> start,
                        std::function<OpTemplate(const GenContext&)> stop) {
  return cycle([=] {
    std::vector<GenPtr> steps;
    steps.push_back(sleep(interval_ns));
    steps.push_back(limit(1, repeat_fn(start)));
    steps.push_back(sleep(interval_ns));
    steps.push_back(limit(1, repeat_fn(stop)));
    return phases(std::move(steps));
  });
}

}  // namespace faultline
