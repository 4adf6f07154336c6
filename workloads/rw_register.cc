// The rw-register workload (Elle, Kingsbury and Alvaro, VLDB 2020): transactions of blind
// writes and reads over a few hot keys, each written value unique per key.
//
// Vocabulary "rw-register":
//   txn [["w", k, x], ["r", k, null], ...] -> ok with each read filled in (null: never written)
// Checked by "rw-register" at --consistency-model (default strict-serializable, Elle's).
//
// Options (workload-options), with defaults (workloads/elle_txns.h):
//   key-count           3   hot keys at a time (per node under home-node routing)
//   min-txn-length      1   micro-ops per transaction, at least
//   max-txn-length      4   ... and at most
//   max-writes-per-key  32  writes to a key before it is replaced by a fresh one
#include <memory>

#include "harness/checker.h"
#include "harness/workload.h"
#include "workloads/common.h"
#include "workloads/elle_txns.h"

namespace faultline {
namespace {

class RwRegisterWorkload : public Workload {
 public:
  explicit RwRegisterWorkload(workloads::ElleTxnOptions o) : o_(o) {}
  std::string vocabulary() const override { return "rw-register"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    return workloads::elle_txns(o_, workloads::Routing(ctx), "w");
  }
  std::vector<CheckerSpec> checkers(const WorkloadContext& ctx) const override {
    return {{"rw-register", workloads::elle_checker_options(ctx), "rw-register"},
            workloads::stats_checker({"txn"})};
  }
  Json client_params(const WorkloadContext& ctx) const override { return {{"retry", ctx.retry}}; }

 private:
  workloads::ElleTxnOptions o_;
};

const bool registered = WorkloadRegistry::add(
    "workload", "rw-register",
    "Elle rw-register transactions (blind writes, reads) over a few hot "
    "keys; checked by rw-register",
    [](const Json& options) -> std::unique_ptr<Workload> {
      return std::make_unique<RwRegisterWorkload>(
          workloads::parse_elle_txn_options(options, "rw-register"));
    },
    workloads::elle_txn_options());

}  // namespace
}  // namespace faultline
