// The counter workload (lost updates): read-modify-write increments of a few hot counters, each
// increment a transaction that reads v and writes v + 1; then the counters are read on every
// node after heal. Concurrent increments that both read v lose one update, unless the database
// serialises them (or SELECT ... FOR UPDATE does).
//
// Vocabulary "counter":
//   increment {"key": k, "id": "<unique>"} -> ok {"key", "id", "read": r, "wrote": r + 1}
//   read      {"key": k}                   -> ok {"key", "value"}
//   read-all  null                         -> ok {"0": v, ...}   (final reads, one per node)
// Ids are "i0", "i1", ... in the order the generator makes them.
// Client params: {"keys", "select-for-update", "retry"} (rows 0..keys-1 at 0).
// Checked by "counter". Routing home-node: key k's ops go through node k mod n only.
//
// Options (workload-options), with defaults:
//   keys               2      counters 0..keys-1
//   read-fraction      0.1    share of single-counter reads among the main-phase ops
//   select-for-update  false  increments lock the row they read (SQL clients)
#include <memory>

#include "harness/checker.h"
#include "harness/options.h"
#include "harness/workload.h"
#include "workloads/common.h"

namespace faultline {
namespace {

constexpr const char* kName = "counter";

struct CounterOptions {
  int64_t keys = 2;
  double read_fraction = 0.1;
  bool select_for_update = false;
};

class CounterWorkload : public Workload {
 public:
  explicit CounterWorkload(CounterOptions o) : o_(o) {}
  std::string vocabulary() const override { return "counter"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    workloads::Routing routing(ctx);
    auto next_id = std::make_shared<int64_t>(0);
    CounterOptions o = o_;
    return workloads::routed([routing, o](int t) { return routing.may_work_keys(t, o.keys); },
                             [routing, o, next_id](const GenContext& g, int thread) {
                               const int64_t key = routing.key_for(thread, o.keys, *g.random);
                               if (g.random->chance(o.read_fraction))
                                 return OpTemplate{"read", {{"key", key}}};
                               return OpTemplate{
                                   "increment",
                                   {{"key", key}, {"id", "i" + std::to_string((*next_id)++)}}};
                             });
  }
  GenPtr final_generator(const WorkloadContext& ctx) override {
    return workloads::final_on_every_node(workloads::Routing(ctx).node_count(),
                                          OpTemplate{"read-all", nullptr});
  }
  std::vector<CheckerSpec> checkers(const WorkloadContext&) const override {
    return {{"counter", Json::object(), "counter"},
            workloads::stats_checker({"increment", "read-all"})};
  }
  Json client_params(const WorkloadContext& ctx) const override {
    return {{"keys", o_.keys}, {"select-for-update", o_.select_for_update}, {"retry", ctx.retry}};
  }

 private:
  CounterOptions o_;
};

const OptionDecls kOptions = {
    {"keys", 2, "hot counters"},
    {"read-fraction", 0.1, "share of ops that only read"},
    {"select-for-update", false, "read with SELECT ... FOR UPDATE (no lost update expected)"},
};

const bool registered = WorkloadRegistry::add(
    "workload", kName,
    "read-modify-write increments of hot counters, final reads on every node; checked by counter",
    [](const Json& options) -> std::unique_ptr<Workload> {
      const Options opts(options, kOptions, "workload 'counter'");
      CounterOptions o;
      o.keys = opts.integer("keys", 1);
      o.read_fraction = opts.fraction("read-fraction");
      o.select_for_update = opts.flag("select-for-update");
      return std::make_unique<CounterWorkload>(o);
    },
    kOptions);

}  // namespace
}  // namespace faultline
