// The bank workload (Jepsen's bank test): transfers between a few accounts and reads of every
// balance; a snapshot-isolated (or stronger) database never shows a read whose balances do not
// sum to the total, nor (unless allowed) a negative balance.
//
// Vocabulary "bank":
//   transfer {"from": a, "to": b, "amount": x} -> ok; fail "insufficient-funds"
//   read     null                               -> ok {"0": balance, "1": balance, ...}
// Final generator: one read on every node after heal (threads 0..n-1, marked "final": true).
// Client params: {"accounts": [0..accounts-1], "total", "negative-balances", "retry"}.
// Checked by "bank" with the same accounts, total and negative-balances.
// Routing home-node: bank has no keys; every main-phase op goes through the first node.
//
// Options (workload-options), with defaults:
//   accounts           5      accounts 0..accounts-1 (at least 2)
//   total              100    the money in the bank, spread evenly at prepare
//   max-transfer       5      transfers move 1..max-transfer
//   negative-balances  false  whether a balance may go below zero
//   read-fraction      0.5    share of reads among the main-phase ops
#include <memory>

#include "harness/checker.h"
#include "harness/options.h"
#include "harness/workload.h"
#include "workloads/common.h"

namespace faultline {
namespace {

constexpr const char* kName = "bank";

struct BankOptions {
  int64_t accounts = 5;
  int64_t total = 100;
  int64_t max_transfer = 5;
  bool negative_balances = false;
  double read_fraction = 0.5;
};

class BankWorkload : public Workload {
 public:
  explicit BankWorkload(BankOptions o) : o_(o) {}
  std::string vocabulary() const override { return "bank"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    workloads::Routing routing(ctx);
    BankOptions o = o_;
    return workloads::routed(
        [routing](int t) { return routing.may_work_keyless(t); },
        [o](const GenContext& g, int) {
          Random& r = *g.random;
          if (r.chance(o.read_fraction)) return OpTemplate{"read", nullptr};
          int64_t from = r.uniform_in(0, o.accounts - 1);
          int64_t to = r.uniform_in(0, o.accounts - 2);
          if (to >= from) ++to;  // never to itself
          return OpTemplate{
              "transfer",
              {{"from", from}, {"to", to}, {"amount", r.uniform_in(1, o.max_transfer)}}};
        });
  }
  GenPtr final_generator(const WorkloadContext& ctx) override {
    return workloads::final_on_every_node(workloads::Routing(ctx).node_count(),
                                          OpTemplate{"read", nullptr});
  }
  std::vector<CheckerSpec> checkers(const WorkloadContext&) const override {
    return {{"bank", params(), "bank"}, workloads::stats_checker({"read"})};
  }
  Json client_params(const WorkloadContext& ctx) const override {
    Json p = params();
    p["retry"] = ctx.retry;
    return p;
  }

 private:
  Json params() const {
    Json accounts = Json::array();
    for (int64_t a = 0; a < o_.accounts; ++a) accounts.push_back(a);
    return {
        {"accounts", accounts}, {"total", o_.total}, {"negative-balances", o_.negative_balances}};
  }
  BankOptions o_;
};

const OptionDecls kOptions = {
    {"accounts", 5, "number of accounts (>= 2)"},
    {"total", 100, "the sum of all balances"},
    {"max-transfer", 5, "largest amount moved by one transfer"},
    {"negative-balances", false, "transfers may overdraw an account"},
    {"read-fraction", 0.5, "share of ops that read every balance"},
};

const bool registered = WorkloadRegistry::add(
    "workload", kName,
    "transfers between accounts and reads of every balance; checked by bank (sums, negatives)",
    [](const Json& options) -> std::unique_ptr<Workload> {
      const Options opts(options, kOptions, "workload 'bank'");
      BankOptions o;
      o.accounts = opts.integer("accounts", 2);
      o.total = opts.integer("total", 0);
      o.max_transfer = opts.integer("max-transfer", 1);
      o.negative_balances = opts.flag("negative-balances");
      o.read_fraction = opts.fraction("read-fraction");
      return std::make_unique<BankWorkload>(o);
    },
    kOptions);

}  // namespace
}  // namespace faultline
