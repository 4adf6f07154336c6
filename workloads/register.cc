// The register workload (Jepsen's linearizable register over independent keys): reads, writes
// and compare-and-sets of small integers on many keys, each key worked by its own group of
// client threads for a bounded number of ops, so each key's history stays small enough for the
// linearizability search.
//
// Vocabulary "register"; op values carry the key (Jepsen's independent tuples):
//   read  [k, null] -> ok [k, v]   (v null when the key was never written)
//   write [k, v]    -> ok
//   cas   [k, [old, new]] -> ok if the value was old (now new), fail otherwise
// Checked by "linearizable" with the cas-register model, per key.
//
// Routing home-node: a group is made of threads of one node only, and its keys are ones whose
// home is that node (k mod n == the node's index), so each key is worked through its home node.
//
// Options (workload-options), with defaults:
//   ops-per-key      100  ops on a key before its group moves to a fresh key
//   threads-per-key  5    client threads sharing a key (the last group may be smaller)
//   values           5    written values are 0..values-1
#include <map>
#include <memory>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/workload.h"
#include "workloads/common.h"

namespace faultline {
namespace {

struct RegisterOptions {
  int64_t ops_per_key = 100;
  int64_t threads_per_key = 5;
  int64_t values = 5;
};

class RegisterGenerator : public Generator {
 public:
  RegisterGenerator(RegisterOptions o, workloads::Routing routing) : o_(o), routing_(routing) {}
  GenResult next(const GenContext& ctx) override {
    auto thread = ctx.next_thread();
    if (!thread) return GenResult::pending();
    // Under home-node routing the threads of node j are j, j + n, j + 2n, ...: the groups are
    // made among them, and their keys are j, j + n, ...
    const int64_t n = static_cast<int64_t>(routing_.node_count());
    const int64_t slot = static_cast<int64_t>(routing_.slot_of(*thread));
    const int64_t rank = routing_.home_node() ? *thread / n : *thread;
    const int64_t group = (rank / o_.threads_per_key) * n + slot;
    auto [it, fresh] = groups_.try_emplace(group);
    if (fresh || it->second.ops >= o_.ops_per_key) {
      it->second.key = routing_.home_node() ? slot + n * next_key_of_slot_[slot]++ : next_key_++;
      it->second.ops = 0;
    }
    ++it->second.ops;
    int64_t key = it->second.key;
    OpTemplate op;
    switch (ctx.random->uniform(3)) {
      case 0:
        op.f = "read";
        op.value = Json::array({key, nullptr});
        break;
      case 1:
        op.f = "write";
        op.value = Json::array({key, static_cast<int64_t>(ctx.random->uniform(o_.values))});
        break;
      default:
        op.f = "cas";
        op.value =
            Json::array({key, Json::array({static_cast<int64_t>(ctx.random->uniform(o_.values)),
                                           static_cast<int64_t>(ctx.random->uniform(o_.values))})});
        break;
    }
    return GenResult::of({*thread, std::move(op)});
  }

 private:
  struct Group {
    int64_t key = 0;
    int64_t ops = 0;
  };
  RegisterOptions o_;
  workloads::Routing routing_;
  std::map<int64_t, Group> groups_;
  int64_t next_key_ = 0;
  std::map<int64_t, int64_t> next_key_of_slot_;  // home-node: fresh keys handed out per node
};

class RegisterWorkload : public Workload {
 public:
  explicit RegisterWorkload(RegisterOptions o) : o_(o) {}
  std::string vocabulary() const override { return "register"; }
  GenPtr generator(const WorkloadContext& ctx) override {
    return std::make_unique<RegisterGenerator>(o_, workloads::Routing(ctx));
  }
  Json client_params(const WorkloadContext& ctx) const override { return {{"retry", ctx.retry}}; }
  std::vector<CheckerSpec> checkers(const WorkloadContext&) const override {
    return {{"linearizable", Json{{"model", "cas-register"}}, "linearizable"},
            workloads::stats_checker({"read", "write"})};
  }

 private:
  RegisterOptions o_;
};

const OptionDecls kOptions = {
    {"ops-per-key", 100, "operations on one key before its threads move to a new key"},
    {"threads-per-key", 5, "threads sharing one key"},
    {"values", 5, "distinct values written (small: more cas successes)"},
};

const bool registered = WorkloadRegistry::add(
    "workload", "register",
    "read/write/cas registers over independent keys; linearizable (cas-register)",
    [](const Json& options) -> std::unique_ptr<Workload> {
      const Options opts(options, kOptions, "workload 'register'");
      RegisterOptions o;
      o.ops_per_key = opts.integer("ops-per-key", 1);
      o.threads_per_key = opts.integer("threads-per-key", 1);
      o.values = opts.integer("values", 1);
      return std::make_unique<RegisterWorkload>(o);
    },
    kOptions);

}  // namespace
}  // namespace faultline
