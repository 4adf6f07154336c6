#include "workloads/common.h"

#include <algorithm>
#include <stdexcept>

namespace faultline::workloads {

namespace {

class Routed : public Generator {
 public:
  Routed(std::function<bool(int)> allowed, std::function<OpTemplate(const GenContext&, int)> make)
      : allowed_(std::move(allowed)), make_(std::move(make)) {}
  GenResult next(const GenContext& ctx) override {
    GenContext scope = ctx.restricted([this](int t) { return t >= 0 && allowed_(t); });
    auto thread = scope.next_thread();
    if (!thread) return GenResult::pending();
    return GenResult::of({*thread, make_(ctx, *thread)});
  }

 private:
  std::function<bool(int)> allowed_;
  std::function<OpTemplate(const GenContext&, int)> make_;
};

}  // namespace

Routing::Routing(const WorkloadContext& ctx)
    : home_(ctx.routing == "home-node"), n_(std::max<size_t>(1, ctx.nodes.size())) {}

bool Routing::may_work_keys(int thread, int64_t key_count) const {
  if (thread < 0) return false;
  return !home_ || static_cast<int64_t>(slot_of(thread)) < key_count;
}

int64_t Routing::key_for(int thread, int64_t key_count, Random& random) const {
  if (!home_) return static_cast<int64_t>(random.uniform(static_cast<uint64_t>(key_count)));
  // Keys j, j + n, j + 2n, ... below key_count have home node j.
  const int64_t j = static_cast<int64_t>(slot_of(thread));
  const int64_t n = static_cast<int64_t>(n_);
  const int64_t count = (key_count - j + n - 1) / n;
  return j + n * static_cast<int64_t>(random.uniform(static_cast<uint64_t>(count)));
}

bool Routing::may_work_keyless(int thread) const {
  return thread >= 0 && (!home_ || slot_of(thread) == 0);
}

size_t Routing::slot_of(int thread) const { return home_ ? static_cast<size_t>(thread) % n_ : 0; }

HotKeys::HotKeys(int64_t count, int64_t writes_per_key, Routing routing)
    : count_(count), writes_per_key_(writes_per_key), routing_(routing) {}

std::vector<int64_t>& HotKeys::pool(size_t slot) {
  std::vector<int64_t>& p = pools_[slot];
  while (static_cast<int64_t>(p.size()) < count_) p.push_back(fresh_key(slot));
  return p;
}

int64_t HotKeys::pick(int thread, Random& random, size_t* at) {
  std::vector<int64_t>& p = pool(routing_.slot_of(thread));
  *at = static_cast<size_t>(random.uniform(p.size()));
  return p[*at];
}

int64_t HotKeys::write(int thread, size_t at) {
  const size_t slot = routing_.slot_of(thread);
  std::vector<int64_t>& p = pool(slot);
  const int64_t key = p.at(at);
  const int64_t n = ++writes_[key];
  if (n >= writes_per_key_) {
    writes_.erase(key);
    p[at] = fresh_key(slot);  // retired: never written again
  }
  return n;
}

int64_t HotKeys::fresh_key(size_t slot) {
  if (!routing_.home_node()) return next_key_[0]++;
  const int64_t n = static_cast<int64_t>(routing_.node_count());
  return static_cast<int64_t>(slot) + n * next_key_[slot]++;
}

GenPtr routed(std::function<bool(int)> allowed,
              std::function<OpTemplate(const GenContext&, int)> make) {
  return std::make_unique<Routed>(std::move(allowed), std::move(make));
}

GenPtr final_on_every_node(size_t node_count, OpTemplate op) {
  op.extra["final"] = true;
  return each_thread([node_count, op](int thread) -> GenPtr {
    if (thread < 0 || static_cast<size_t>(thread) >= node_count) return nothing();
    return once(op);
  });
}

CheckerSpec stats_checker(std::vector<std::string> required) {
  return {"stats", {{"required", std::move(required)}}, "stats"};
}

}  // namespace faultline::workloads
