// Workload: what a test does and how its history is judged. Implemented in workloads/, one
// file per workload, registered by name with a factory taking the spec's "workload-options".
//
// A workload names its client vocabulary (the Db makes a Client for it), makes the generator of
// the main phase and, where it has them, the final generator (e.g. final reads on every node
// after heal), and lists the checkers (by registered name, with options) that judge its
// history. Checker choices may depend only on the spec, so `faultline analyze` rebuilds them.
//
// Thread safety: called from the runner thread only; generators are then owned by the
// interpreter.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/generator.h"
#include "harness/random.h"
#include "harness/registry.h"

namespace faultline {

struct WorkloadContext {
  int concurrency = 5;
  std::vector<std::string> nodes;
  std::string consistency_model;  // --consistency-model ("" when not given)
  // --routing: "random" (a thread works any key) or "home-node" (key k is written only by
  // threads of node home_node(k, nodes.size()); workloads without keys send every write
  // through the first node).
  std::string routing = "random";
  // --retry: "none" or "idempotent" (clients retry a write whose reply was lost, carrying an
  // idempotency key; given to clients as client_params()["retry"]).
  std::string retry = "none";
  Random random{0};  // forked for the workload
};

struct CheckerSpec {
  std::string name;               // CheckerRegistry name, e.g. "linearizable"
  Json options = Json::object();  // e.g. {"model": "cas-register"}
  std::string label;              // key in results.json ("" = name)
};

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::string vocabulary() const = 0;
  virtual GenPtr generator(const WorkloadContext& ctx) = 0;
  // Ops after heal and recovery (final reads); null when the workload has none.
  virtual GenPtr final_generator(const WorkloadContext& ctx) {
    (void)ctx;
    return nullptr;
  }
  virtual std::vector<CheckerSpec> checkers(const WorkloadContext& ctx) const = 0;
  // Parameters of the vocabulary the database needs to prepare and serve it (e.g. bank's
  // {"accounts": [...], "total": 100}); given to Db::prepare and to every client's open().
  virtual Json client_params(const WorkloadContext& ctx) const {
    (void)ctx;
    return Json::object();
  }
};

// The home node index of key `key` among `node_count` nodes (routing home-node): key mod count.
inline size_t home_node(int64_t key, size_t node_count) {
  return static_cast<size_t>(((key % static_cast<int64_t>(node_count)) + node_count) % node_count);
}

// Factories take the spec's "workload-options" and reject unknown keys.
using WorkloadFactory = std::function<std::unique_ptr<Workload>(const Json& options)>;
using WorkloadRegistry = Registry<WorkloadFactory>;

}  // namespace faultline
