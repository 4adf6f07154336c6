// The set workload (Jepsen's set): unique integers added, then read back from every node after
// heal; an acknowledged add must be in the final reads, and every node must read the same set.
//
// Vocabulary "set":
//   add  x     -> ok (x unique: 0, 1, 2, ... in the order the generator makes them)
//   read null  -> ok sorted list of every element
// Final generator: one read on every node after heal (threads 0..n-1), each marked with the
// extra field "final": true, which is how the "set-full" checker tells final reads apart.
// Routing home-node: set has no keys; every main-phase op goes through the first node.
//
// Options (workload-options), with defaults:
//   read-fraction  0.05  share of (non-final) reads among the main-phase ops
#include <memory>

#include "harness/checker.h"
#include "harness/options.h"
#include "harness/workload.h"
#include "workloads/common.h"

namespace faultline {
namespace {

class SetWorkload : public Workload {
 public:
  explicit SetWorkload(double read_fraction) : read_fraction_(read_fraction) {}
  std::string vocabulary() const override { return "set"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    workloads::Routing routing(ctx);
    auto next = std::make_shared<int64_t>(0);
    double reads = read_fraction_;
    return workloads::routed([routing](int t) { return routing.may_work_keyless(t); },
                             [next, reads](const GenContext& g, int) {
                               if (g.random->chance(reads)) return OpTemplate{"read", nullptr};
                               return OpTemplate{"add", (*next)++};
                             });
  }
  GenPtr final_generator(const WorkloadContext& ctx) override {
    return workloads::final_on_every_node(workloads::Routing(ctx).node_count(),
                                          OpTemplate{"read", nullptr});
  }
  std::vector<CheckerSpec> checkers(const WorkloadContext&) const override {
    return {{"set-full", Json::object(), "set-full"}, workloads::stats_checker({"add", "read"})};
  }
  Json client_params(const WorkloadContext& ctx) const override { return {{"retry", ctx.retry}}; }

 private:
  double read_fraction_;
};

const OptionDecls kOptions = {
    {"read-fraction", 0.05, "share of ops that read the whole set"},
};

const bool registered = WorkloadRegistry::add(
    "workload", "set",
    "unique adds, final reads on every node; checked by set-full (lost, unexpected, convergence)",
    [](const Json& options) -> std::unique_ptr<Workload> {
      const Options o(options, kOptions, "workload 'set'");
      return std::make_unique<SetWorkload>(o.fraction("read-fraction"));
    },
    kOptions);

}  // namespace
}  // namespace faultline
