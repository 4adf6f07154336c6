// The unique-ids workload: every op asks the database for a new id (auto-increment, a
// sequence, an etcd revision); no two ok ops may get the same id, and with "monotonic" an id
// handed out after another completed must be larger.
//
// Vocabulary "unique-ids":
//   generate null -> ok id (an integer)
// Checked by "unique-ids" (with "monotonic" as given). No final generator. Routing home-node:
// no keys; every op goes through the first node.
//
// Options (workload-options), with defaults:
//   monotonic  false  also require ids to grow in real-time order (Galera's per-node
//                     auto-increment offsets and PostgreSQL's per-node ranges do not)
#include <memory>

#include "harness/checker.h"
#include "harness/options.h"
#include "harness/workload.h"
#include "workloads/common.h"

namespace faultline {
namespace {

class UniqueIdsWorkload : public Workload {
 public:
  explicit UniqueIdsWorkload(bool monotonic) : monotonic_(monotonic) {}
  std::string vocabulary() const override { return "unique-ids"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    workloads::Routing routing(ctx);
    return workloads::routed([routing](int t) { return routing.may_work_keyless(t); },
                             [](const GenContext&, int) {
                               return OpTemplate{"generate", nullptr};
                             });
  }
  std::vector<CheckerSpec> checkers(const WorkloadContext&) const override {
    return {{"unique-ids", {{"monotonic", monotonic_}}, "unique-ids"},
            workloads::stats_checker({"generate"})};
  }
  Json client_params(const WorkloadContext& ctx) const override { return {{"retry", ctx.retry}}; }

 private:
  bool monotonic_;
};

const OptionDecls kOptions = {
    {"monotonic", false, "the checker also demands ids that grow in real-time order"},
};

const bool registered = WorkloadRegistry::add(
    "workload", "unique-ids", "ids from the database; checked by unique-ids (duplicates, order)",
    [](const Json& options) -> std::unique_ptr<Workload> {
      const Options o(options, kOptions, "workload 'unique-ids'");
      return std::make_unique<UniqueIdsWorkload>(o.flag("monotonic"));
    },
    kOptions);

}  // namespace
}  // namespace faultline
