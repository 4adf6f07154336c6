// Db: the database under test, on every node of the cluster: install, configure and start it
// (setup), stop and wipe it (teardown), say where its logs are, and make clients for the
// workload vocabularies it speaks. Implemented in clusters/<db>/, one folder per system;
// registered by name ("memory", "galera", ...) with a factory taking the spec's "db-options".
//
// Optional capabilities are separate interfaces, found with capability<T>(db): Killable
// (SIGKILL and restart a node's processes), Pausable (SIGSTOP / SIGCONT), HasPrimaries (which
// nodes are primaries now), ClockSensitive (which clock offsets matter to it). A nemesis that needs
// one asks for it when the test is built and fails with require_capability's message when it is
// missing.
//
// Contract: setup() throws on failure (the runner then tears down whatever was set up);
// teardown() is idempotent and safe after a partial or failed setup; both act on every node of
// ctx.nodes.
//
// Thread safety: setup/teardown are called from the runner thread only; new_client() and the
// capabilities may be called from any thread concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/client.h"
#include "harness/errors.h"
#include "harness/op.h"
#include "harness/preflight.h"
#include "harness/registry.h"

namespace faultline {

class Remote;  // harness/remote.h: SSH sessions to nodes (null for in-process databases)

// How the database's processes must be launched so that a nemesis can act on them (today the
// clock nemesis: libfaketime). Filled before setup by the DbContextHooks of the run's nemeses;
// empty means: launch plainly. Adapters apply it with clusters/common/launch.h and never look
// inside; "{node}" in a value or path stands for the node's name.
struct LaunchEnv {
  std::map<std::string, std::string> env;    // environment of the database's processes
  std::map<std::string, std::string> files;  // path -> content, written before a launch when
                                             // missing; the directory is made root's alone
  std::string why;                           // for logs, e.g. "libfaketime (nemesis clock)"
  bool empty() const { return env.empty() && files.empty(); }
};

struct DbContext {
  std::string test_name;
  std::vector<std::string> nodes;  // node names, e.g. n1 n2 n3
  Remote* remote = nullptr;
  Json options = Json::object();                // the spec's "db-options"
  std::function<void(const std::string&)> log;  // controller.log; never null when set by the runner
  std::string run_dir;                          // results directory of the run ("" when none)
  // Node -> the address the controller reaches it at (the inventory's host); clients connect
  // there. Empty for in-process databases.
  std::map<std::string, std::string> hosts;
  // Node -> its role and its data centre, where the inventory gives them (absent otherwise).
  std::map<std::string, std::string> roles;
  std::map<std::string, std::string> dcs;
  // How to launch the database's processes (see LaunchEnv); filled by the nemeses' hooks.
  LaunchEnv launch;
};

// A nemesis whose faults need the database launched a certain way registers, under its own
// name and from its own file, a hook that fills `ctx` (today: ctx.launch) from its
// nemesis-options. The runner calls the hook of each nemesis of the run, in the spec's order,
// before setup; hooks add to what is there. Throws ConfigError for bad options.
using DbContextHook = std::function<void(const Json& nemesis_options, DbContext& ctx)>;
using DbContextHookRegistry = Registry<DbContextHook>;

class Db {
 public:
  virtual ~Db() = default;
  virtual std::string name() const = 0;
  // Version of the software on the nodes (after setup), for test.json.
  virtual std::string version(const DbContext& ctx) {
    (void)ctx;
    return "unknown";
  }
  virtual void setup(const DbContext& ctx) = 0;
  virtual void teardown(const DbContext& ctx) = 0;
  // Node -> paths of its log files (on the node), collected into nodes/<node>/.
  virtual std::map<std::string, std::vector<std::string>> log_files(const DbContext& ctx) {
    (void)ctx;
    return {};
  }
  // Nodes to use when the spec names none (in-process databases: n1 n2 n3); empty means the
  // spec must give nodes or a cluster.
  virtual std::vector<std::string> default_nodes() const { return {}; }
  // Of the run's `nodes` (with their inventory `roles`), those that serve clients and hold
  // data: the workload's clients and final reads go to these. Default: every node. A node
  // that only votes (Galera's arbitrator) is left out; it still takes faults. Throws
  // ConfigError when the options and roles leave no node to serve.
  virtual std::vector<std::string> client_nodes(
      const std::vector<std::string>& nodes,
      const std::map<std::string, std::string>& roles) const {
    (void)roles;
    return nodes;
  }
  // What the database claims to guarantee with its options, for failure reports
  // (harness/report/claims.h): {"level": the isolation level in effect, "model": the Elle
  // model it claims (e.g. "snapshot-isolation"; "none" for no guarantee across nodes),
  // "claim": one sentence, "source": where the claim is made (URL or document), "by-design":
  // {"<checker>/<anomaly type>" or "<anomaly type>": why the database accepts it}}; null when
  // nothing is known.
  virtual Json claims() const { return nullptr; }
  // The node's effective non-default settings (name -> value as text), read from the running
  // server after setup, for the failure report's environment; null when the database cannot
  // say. May throw (the runner logs it).
  virtual Json node_settings(const DbContext& ctx, const std::string& node) {
    (void)ctx;
    (void)node;
    return nullptr;
  }
  // Workload vocabularies this database has clients for, e.g. {"register"}.
  virtual std::vector<std::string> vocabularies() const = 0;
  // Called once after setup and before any client opens, for the test's vocabulary with the
  // workload's client_params(): create the tables / keys the vocabulary needs (e.g. bank's
  // accounts and their initial balances). Throws on failure (the run then tears down).
  virtual void prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) {
    (void)ctx;
    (void)vocabulary;
    (void)params;
  }
  // Called after heal and the recovery wait, before the final reads: bring replication back
  // where the database needs help (e.g. reconnect subscriptions after a partition when
  // `faults_ran`) and wait, bounded, for the nodes to converge, logging whether they did. Must
  // not hide real divergence (the final reads judge it); failures are logged, not fatal.
  virtual void before_final_reads(const DbContext& ctx, const std::string& vocabulary,
                                  bool faults_ran) {
    (void)ctx;
    (void)vocabulary;
    (void)faults_ran;
  }
  // What this database needs of each node before setup (its binaries and their version, its
  // ports free), checked by the preflight (harness/preflight.h). Default: nothing.
  virtual std::vector<NodeCheck> node_checks() const { return {}; }
  // A fresh, unopened client for `vocabulary`; nullptr when not supported.
  virtual std::unique_ptr<Client> new_client(const std::string& vocabulary) = 0;
};

class Killable {
 public:
  virtual ~Killable() = default;
  virtual void kill(const DbContext& ctx, const std::string& node) = 0;   // SIGKILL
  virtual void start(const DbContext& ctx, const std::string& node) = 0;  // restart after kill
};

class Pausable {
 public:
  virtual ~Pausable() = default;
  virtual void pause(const DbContext& ctx, const std::string& node) = 0;   // SIGSTOP
  virtual void resume(const DbContext& ctx, const std::string& node) = 0;  // SIGCONT
};

class HasPrimaries {
 public:
  virtual ~HasPrimaries() = default;
  virtual std::vector<std::string> primaries(const DbContext& ctx) = 0;
};

// Power loss (nemesis "power"): a database that can place its data directory on the
// power-loss file system (clusters/common/lossyfs.h; db-options power-loss-fs) loses, on a
// node whose database was killed (Killable), every write not made durable by fsync since the
// last drop, as a power cut would; Killable::start then lets it recover.
struct PowerLoss {
  bool torn = false;     // each 512-byte sector of an un-synced page old or new at random
  bool entries = false;  // also undo directory entries made without a directory fsync
  uint64_t seed = 1;     // of the torn sectors
};

class LosesPower {
 public:
  virtual ~LosesPower() = default;
  // Whether this run's data directories are on the power-loss file system.
  virtual bool on_power_loss_fs() const = 0;
  // Drops what `node` had not made durable (its database is killed). Returns the file
  // system's account of what was lost; throws RemoteError when it cannot.
  virtual Json lose_unsynced(const DbContext& ctx, const std::string& node,
                             const PowerLoss& how) = 0;
  // Makes everything written so far durable on every node, as a kernel's writeback would
  // within ~30 s: the power nemesis calls it at its setup, so a cut tests the run's writes, not
  // the setup's (an initdb --no-sync, an SST nobody fsynced).
  virtual void make_durable(const DbContext& ctx) = 0;
};

// Membership changes (nemesis "membership"): a node leaves the cluster the database's own way
// and joins it again. leave_modes() names the ways (the first is the default), e.g. Galera's
// "leave" (a clean shutdown: the node leaves the group; it rejoins by IST) and "wipe" (the
// same, and its data directory emptied: it rejoins as a new node, by SST). join() brings a node
// that left back into the cluster, with whatever state transfer that takes, and returns when
// it serves again. Both return what happened (for the history) and throw RemoteError when
// they cannot.
class ChangesMembership {
 public:
  virtual ~ChangesMembership() = default;
  virtual std::vector<std::string> leave_modes() const = 0;
  virtual Json leave(const DbContext& ctx, const std::string& node, const std::string& mode) = 0;
  virtual Json join(const DbContext& ctx, const std::string& node) = 0;
};

// The clock offsets that matter to a database, for the clock nemesis's defaults: bumps are
// drawn log-uniformly in [min_ms, max_ms] unless nemesis-options.clock sets min-ms / max-ms.
// `why` says what in the database reads the clock (for the docs and the test log).
struct ClockSkews {
  double min_ms = 10;
  double max_ms = 60000;
  std::string why;
};

class ClockSensitive {
 public:
  virtual ~ClockSensitive() = default;
  virtual ClockSkews clock_skews() const = 0;
};

// A database whose replication can fail where no client op shows it (a replica that stopped
// applying a master's changes; nodes whose tables no longer agree) reports on it at the end of
// a run. The runner calls replication_health once, after the final reads (or, for a workload
// without them, after heal and the recovery wait), records the report in the history as the
// nemesis-process op "replication-health" (invoke, then an info completion whose value is the
// report), and adds checker "replication" (checkers/replication.cc), which judges it. The call
// may wait, bounded, for replication to catch up; it must not throw for a node that does not
// answer (say so in the report). The report:
//   {"caught-up": bool,            every channel runs and every node is at the same position
//    "nodes": {node: {"channels": [{"from", "io-running", "sql-running" ("Yes"/"No"),
//                                    "last-sql-errno", "last-sql-error", "last-io-errno",
//                                    "last-io-error", "seconds-behind-master", "gtid-io-pos"}],
//                     ...}},
//    "checksums": {table: {node: checksum or null}}}
class ReportsReplication {
 public:
  virtual ~ReportsReplication() = default;
  virtual Json replication_health(const DbContext& ctx, const std::string& vocabulary) = 0;
};

template <typename Capability>
Capability* capability(Db& db) {
  return dynamic_cast<Capability*>(&db);
}

// capability<T>(db) or std::invalid_argument("<who> needs a database that <what>; '<db>'
// cannot"), e.g. require_capability<Killable>(db, "nemesis 'kill'", "can be killed").
template <typename Capability>
Capability& require_capability(Db& db, const std::string& who, const std::string& what) {
  if (auto* c = capability<Capability>(db)) return *c;
  throw ConfigError(who + " needs a database that " + what + "; '" + db.name() + "' cannot");
}

// Factories take the spec's "db-options" and read them with Options (harness/options.h), which
// rejects unknown keys.
using DbFactory = std::function<std::unique_ptr<Db>(const Json& options)>;
using DbRegistry = Registry<DbFactory>;

}  // namespace faultline
