// The list-append workload (Elle, Kingsbury and Alvaro, VLDB 2020): transactions of appends
// and whole-list reads over a few hot keys, each appended value unique per key.
//
// Vocabulary "list-append":
//   txn [["append", k, x], ["r", k, null], ...] -> ok with each read's list filled in
// Checked by "list-append" at --consistency-model (default strict-serializable, Elle's).
//
// Options (workload-options), with defaults (workloads/elle_txns.h):
//   key-count           3   hot keys at a time (per node under home-node routing)
//   min-txn-length      1   micro-ops per transaction, at least
//   max-txn-length      4   ... and at most
//   max-writes-per-key  32  appends to a key before it is replaced by a fresh one
#include <memory>

#include "harness/checker.h"
#include "harness/workload.h"
#include "workloads/common.h"
#include "workloads/elle_txns.h"

namespace faultline {
namespace {

class ListAppendWorkload : public Workload {
 public:
  explicit ListAppendWorkload(workloads::ElleTxnOptions o) : o_(o) {}
  std::string vocabulary() const override { return "list-append"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    return workloads::elle_txns(o_, workloads::Routing(ctx), "append");
  }
  std::vector<CheckerSpec> checkers(const WorkloadContext& ctx) const override {
    return {{"list-append", workloads::elle_checker_options(ctx), "list-append"},
            workloads::stats_checker({"txn"})};
  }
  Json client_params(const WorkloadContext& ctx) const override { return {{"retry", ctx.retry}}; }

 private:
  workloads::ElleTxnOptions o_;
};

const bool registered = WorkloadRegistry::add(
    "workload", "list-append",
    "Elle list-append transactions over a few hot keys; checked by list-append",
    [](const Json& options) -> std::unique_ptr<Workload> {
      return std::make_unique<ListAppendWorkload>(
          workloads::parse_elle_txn_options(options, "list-append"));
    },
    workloads::elle_txn_options());

}  // namespace
}  // namespace faultline
