// Nemesis: injects faults into the cluster. Implemented in nemeses/, one file per fault, each
// registering a NemesisPackage factory by name ("partition", "kill", ...).
//
// A nemesis op is invoked on the interpreter's nemesis thread and recorded as two info ops on
// process "nemesis": the request (f, value) and what was done (value: which nodes, how).
// invoke() returns that completion; it may throw (plumbing failed), which is recorded as info
// with the error and does not stop the test. teardown() heals everything this nemesis may have
// done (it runs in the runner's scope guard, also after exceptions and on SIGINT) and must be
// idempotent.
//
// A package bundles the nemesis with its generator (start/stop at the spec's
// nemesis-interval), its final generator (the healing ops of the heal phase) and the colour it
// gets in plots. Several packages compose into one nemesis that routes each op by its f.
//
// Thread safety: setup/teardown from the runner thread; invoke from the nemesis thread, one at
// a time.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "harness/client.h"
#include "harness/db.h"
#include "harness/generator.h"
#include "harness/random.h"
#include "harness/registry.h"

namespace faultline {

class Session;  // harness/remote.h

struct NemesisContext {
  const DbContext* db_ctx = nullptr;
  Db* db = nullptr;
  Remote* remote = nullptr;
  std::vector<std::string> nodes;
};

class Nemesis {
 public:
  virtual ~Nemesis() = default;
  virtual void setup(const NemesisContext& ctx) { (void)ctx; }
  virtual Completion invoke(const NemesisContext& ctx, const Op& op) = 0;
  virtual void teardown(const NemesisContext& ctx) = 0;
  // The op names this nemesis handles (e.g. {"start-partition", "stop-partition"}).
  virtual std::set<std::string> fs() const = 0;
};

struct NemesisPackage {
  std::string name;
  std::unique_ptr<Nemesis> nemesis;
  GenPtr generator;                // ops during the main phase (may be null: none)
  GenPtr final_generator;          // healing ops for the heal phase (may be null: teardown heals)
  std::string colour = "#cccccc";  // plots
  // What the nemesis needs of each node (tools, kernel features), checked by the preflight
  // (harness/preflight.h) before setup.
  std::vector<NodeCheck> node_checks;
  // Checks the value of an op given in the spec's nemesis-schedule, when the test is built;
  // throws std::invalid_argument saying what the op needs. Empty: any value is taken.
  std::function<void(const std::string& f, const Json& value)> check_op;
};

struct NemesisOptions {
  int64_t interval_ns = 10'000'000'000;  // --nemesis-interval
  Json options = Json::object();         // the spec's "nemesis-options"[name]
  std::vector<std::string> nodes;
  Db* db = nullptr;  // for capability checks
  Random random{0};  // forked for this package
  // Node -> its role and data centre, where the inventory gives them (absent otherwise).
  std::map<std::string, std::string> roles;
  std::map<std::string, std::string> dcs;
};

// Throws std::invalid_argument for bad options or a missing database capability.
using NemesisFactory = std::function<NemesisPackage(const NemesisOptions& options)>;
using NemesisRegistry = Registry<NemesisFactory>;

// Healing without the run (`faultline heal`, after a crashed controller): each fault file
// registers, under its nemesis name, a function that undoes on one node whatever that nemesis
// may have left there (rules, qdiscs, helper processes, clock offsets), idempotently and
// without any state of the run. It returns a short description of what it did ("" for
// nothing) and throws RemoteError when the node cannot be healed (or std::runtime_error when
// a fault may remain that it cannot undo, saying what to do by hand).
struct NodeHealContext {
  // The run's nemesis-options for this healer's nemesis (an empty object when none), so a
  // custom directory or mechanism of the run is healed, not only the default one.
  Json options = Json::object();
  // The run's recorded history (null when it could not be read): what the nemesis did, e.g.
  // the clock offsets it set on real hosts.
  const std::vector<Op>* history = nullptr;
  // Whether the run used this nemesis (test.json "nemeses").
  bool in_run = false;
};
using NodeHealer = std::function<std::string(Session& session, const NodeHealContext& ctx)>;
using NodeHealerRegistry = Registry<NodeHealer>;

// One nemesis over several: setup/teardown all (teardown of each is attempted even when
// another throws; the first error is rethrown), invoke routed by f (an unknown f completes
// info with an error). Throws std::invalid_argument if two handle the same f.
// The ops of each part run one at a time even when the interpreter has abandoned one that is
// still running (an op of another part goes ahead); teardown of a part waits for its op at
// most `busy_wait`, then reports that part not healed.
std::unique_ptr<Nemesis> compose_nemeses(
    std::vector<std::unique_ptr<Nemesis>> nemeses,
    std::chrono::milliseconds busy_wait = std::chrono::minutes(5));

// The nemesis cycle of Jepsen's packages: sleep interval, start op, sleep interval, stop op,
// repeated; `start` and `stop` make the op each time (randomness from ctx).
GenPtr start_stop_cycle(int64_t interval_ns, std::function<OpTemplate(const GenContext&)> start,
                        std::function<OpTemplate(const GenContext&)> stop);

}  // namespace faultline
