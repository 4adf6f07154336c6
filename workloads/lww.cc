// The lww workload (last-writer-wins conflicts): blind writes of unique values to a few keys
// from every node, then every key read on every node after heal. A database that resolves
// conflicting writes by the writers' clocks lets a write that came later in real time lose to
// an earlier one when the clocks disagree; the "lww" checker finds such inversions and names
// the clock offsets the clock nemesis recorded.
//
// Vocabulary "lww":
//   write    [k, x]  -> ok   (x unique per test: 0, 1, 2, ... in generator order)
//   read-all null    -> ok {"<k>": x, ...}   (final reads, one per node)
// Checked by "lww". Routing home-node: key k is written only through node k mod n (which
// removes the conflicts: a baseline to compare with).
//
// Options (workload-options), with defaults:
//   keys  3  keys 0..keys-1
#include <memory>

#include "harness/checker.h"
#include "harness/workload.h"
#include "workloads/common.h"

namespace faultline {
namespace {

class LwwWorkload : public Workload {
 public:
  explicit LwwWorkload(int64_t keys) : keys_(keys) {}
  std::string vocabulary() const override { return "lww"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    workloads::Routing routing(ctx);
    auto next = std::make_shared<int64_t>(0);
    int64_t keys = keys_;
    return workloads::routed(
        [routing, keys](int t) { return routing.may_work_keys(t, keys); },
        [routing, keys, next](const GenContext& g, int thread) {
          return OpTemplate{"write",
                            Json::array({routing.key_for(thread, keys, *g.random), (*next)++})};
        });
  }
  GenPtr final_generator(const WorkloadContext& ctx) override {
    return workloads::final_on_every_node(workloads::Routing(ctx).node_count(),
                                          OpTemplate{"read-all", nullptr});
  }
  std::vector<CheckerSpec> checkers(const WorkloadContext&) const override {
    return {{"lww", Json::object(), "lww"},
            workloads::stats_checker({"write", "read-all"})};
  }
  Json client_params(const WorkloadContext& ctx) const override { return {{"retry", ctx.retry}}; }

 private:
  int64_t keys_;
};

const bool registered = WorkloadRegistry::add(
    "workload", "lww",
    "blind writes to a few keys from every node, final reads on every node; checked by lww",
    [](const Json& options) -> std::unique_ptr<Workload> {
      reject_unknown_options(options, {"keys"}, "workload 'lww'");
      return std::make_unique<LwwWorkload>(workloads::int_option(options, "keys", 3, 1, "lww"));
    });

}  // namespace
}  // namespace faultline
