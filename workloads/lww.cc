// The lww workload (last-writer-wins conflicts): blind writes of unique values to a few hot
// keys from every node, reads of them while the test runs, and every key read on every node
// after heal. A database that resolves conflicting writes by the writers' clocks lets a write
// that came later in real time lose to an earlier one when the clocks disagree; the "lww"
// checker finds such inversions and names the clock offsets the clock nemesis recorded.
//
// Keys rotate: after writes-per-key writes a key is retired (never written again) and a fresh
// one takes its place, so every key's outcome is fixed by the writes of a short window (under
// the clock offsets of that moment), and the final reads judge every key the test wrote, not
// only the last few.
//
// Vocabulary "lww":
//   write    [k, x]     -> ok   (x unique per test: 0, 1, 2, ... in generator order)
//   read     [k, null]  -> ok [k, x]  (x null when never written)
//   read-all null       -> ok {"<k>": x, ...}   (final reads, one per node)
// Checked by "lww". Routing home-node: key k is written only through node k mod n (which
// removes the conflicts: a baseline to compare with).
//
// Options (workload-options), with defaults:
//   keys             3    hot keys at a time (per node under home-node routing)
//   writes-per-key   32   writes to a key before it is retired
//   read-fraction    0.2  the share of ops that read a hot key
#include <memory>
#include <vector>

#include "harness/checker.h"
#include "harness/options.h"
#include "harness/workload.h"
#include "workloads/common.h"

namespace faultline {
namespace {

struct LwwOptions {
  int64_t keys = 3;
  int64_t writes_per_key = 32;
  double read_fraction = 0.2;
};

class LwwOps : public Generator {
 public:
  LwwOps(LwwOptions o, workloads::Routing routing)
      : o_(o), keys_(o.keys, o.writes_per_key, routing) {}

  GenResult next(const GenContext& ctx) override {
    auto thread = ctx.next_thread();
    if (!thread) return GenResult::pending();
    Random& r = *ctx.random;
    size_t at = 0;
    const int64_t key = keys_.pick(*thread, r, &at);
    if (r.unit() < o_.read_fraction) {
      return GenResult::of({*thread, OpTemplate{"read", Json::array({key, nullptr})}});
    }
    keys_.write(*thread, at);
    return GenResult::of({*thread, OpTemplate{"write", Json::array({key, next_value_++})}});
  }

 private:
  LwwOptions o_;
  workloads::HotKeys keys_;
  int64_t next_value_ = 0;
};

class LwwWorkload : public Workload {
 public:
  explicit LwwWorkload(LwwOptions o) : o_(o) {}
  std::string vocabulary() const override { return "lww"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    return std::make_unique<LwwOps>(o_, workloads::Routing(ctx));
  }
  GenPtr final_generator(const WorkloadContext& ctx) override {
    return workloads::final_on_every_node(workloads::Routing(ctx).node_count(),
                                          OpTemplate{"read-all", nullptr});
  }
  std::vector<CheckerSpec> checkers(const WorkloadContext&) const override {
    return {{"lww", Json::object(), "lww"}, workloads::stats_checker({"write", "read-all"})};
  }
  Json client_params(const WorkloadContext& ctx) const override { return {{"retry", ctx.retry}}; }

 private:
  LwwOptions o_;
};

const OptionDecls kOptions = {
    {"keys", 3, "keys written at once (the pool rotates)"},
    {"writes-per-key", 32, "writes to a key before it is retired for a fresh one"},
    {"read-fraction", 0.2, "share of ops that read"},
};

const bool registered = WorkloadRegistry::add(
    "workload", "lww",
    "blind writes to a few keys from every node, final reads on every node; checked by lww",
    [](const Json& options) -> std::unique_ptr<Workload> {
      const Options opts(options, kOptions, "workload 'lww'");
      LwwOptions o;
      o.keys = opts.integer("keys", 1);
      o.writes_per_key = opts.integer("writes-per-key", 1);
      o.read_fraction = opts.fraction("read-fraction");
      return std::make_unique<LwwWorkload>(o);
    },
    kOptions);

}  // namespace
}  // namespace faultline
