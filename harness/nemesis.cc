#include "harness/nemesis.h"

#include <map>
#include <stdexcept>

namespace faultline {
namespace {

class Composed : public Nemesis {
 public:
  explicit Composed(std::vector<std::unique_ptr<Nemesis>> ns) : ns_(std::move(ns)) {
    for (size_t i = 0; i < ns_.size(); ++i) {
      for (const auto& f : ns_[i]->fs()) {
        if (!by_f_.emplace(f, i).second) {
          throw std::invalid_argument("two nemeses handle the op '" + f + "'");
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
    return ns_[it->second]->invoke(ctx, op);
  }
  void teardown(const NemesisContext& ctx) override {
    std::exception_ptr first;
    for (auto& n : ns_) {
      try {
        n->teardown(ctx);
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
  std::map<std::string, size_t> by_f_;
};

}  // namespace

std::unique_ptr<Nemesis> compose_nemeses(std::vector<std::unique_ptr<Nemesis>> nemeses) {
  return std::make_unique<Composed>(std::move(nemeses));
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
