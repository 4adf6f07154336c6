// The database "etcd" (Debian etcd-server 3.4): the control system, a linearizable key-value
// store that every test must find valid.
//
// Nodes: one etcd per node, started over SSH (`setsid nohup /usr/bin/etcd ... &`, so on the
// local cluster it runs inside the node's network namespace), listening and advertising on the
// node's address (DbContext::hosts; the node name when there is none): clients on :2379, peers
// on :2380, --pre-vote=true (without it a healed partition leaves etcd 3.4 leaderless for up to
// 13 s), an --initial-cluster of every node and a cluster token unique to each setup. Each node
// has its own directory <dir>/<node>-<host>/ (data/, etcd.log, etcd.pid), because the local
// cluster's nodes share one filesystem. Launched under DbContext::launch
// (clusters/common/launch.h). Note: etcd is a Go binary; Go reads the clock through the vDSO, not
// libc, so libfaketime does not skew etcd's own clock (it only needs monotonic time anyway).
//
// setup: stops an etcd an earlier run left running and wipes its node directory (a data dir of
// another cluster token would not join), starts every node, waits
// until every member answers /v3/maintenance/status and all name the same leader, which is a
// member (timeout 60 s; the error names the node and shows the tail of its log).
// teardown: one node at a time, the leader first (a stopping leader hands over: 0.1 s to a
// running follower, ~7 s when all stop at once): SIGTERM by pid (and SIGCONT, in case it is
// paused), SIGKILL after 10 s, then the node directory is removed; idempotent, and safe after a
// partial setup. "Gone" includes a zombie (it holds no port, file or lock any more; this
// machine's PID 1 takes 1-2 s to reap orphans). What the launch env leaves for the pid
// (libfaketime's /dev/shm objects: Go exits without running its destructor) is removed once it
// is gone (clusters/common/daemon.h).
// Capabilities: Killable (SIGKILL by pid, wait until gone; start = the same command on the
// existing data dir, a no-op when running), Pausable (SIGSTOP / SIGCONT by pid), HasPrimaries
// (members whose status says leader == member id). A pid is only signalled after checking
// that /proc/<pid>/cmdline is our etcd with our data dir.
//
// Vocabularies (docs/workloads.md), over the v3 HTTP/JSON gateway (etcd_clients.cc): register,
// set, unique-ids, counter, lww, list-append, rw-register, bank. prepare() creates the
// counters (counter) and the accounts with their balances (bank).
//
// Options (db-options):
//   serializable-reads  bool  false  reads are served by the member alone (may be stale)
//                                    instead of linearizable (a quorum round, ReadIndex)
//   request-timeout-ms  int   0      timeout of each HTTP request; 0: the run's op-timeout
//   dir                 str   "/var/lib/faultline/etcd"  parent of the node directories; it
//                                    and every directory above it must be root's alone
//   client-port         int   2379   the members' client (and gateway) port; peers use 2380
//
// Thread safety: setup/teardown from one thread; new_client, the capabilities, version and
// log_files from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "clusters/common/daemon.h"
#include "clusters/common/install.h"
#include "clusters/etcd/etcd_clients.h"
#include "harness/db.h"

namespace faultline {

struct EtcdOptions {
  bool serializable_reads = false;
  int64_t request_timeout_ms = 0;
  std::string dir = "/var/lib/faultline/etcd";
  int client_port = 2379;
  bool power_loss_fs = false;     // data dir on clusters/common/lossyfs.h (nemesis power)
  clusters::InstallSpec install;  // db-options "install" (clusters/common/install.h)
};

// Reads db-options through faultline::Options (kEtcdOptions: unknown keys rejected, types and
// ranges checked); throws ConfigError naming "db 'etcd'" and the key.
EtcdOptions parse_etcd_options(const Json& options);

class EtcdDb : public Db,
               public Killable,
               public Pausable,
               public HasPrimaries,
               public LosesPower,
               public ChangesMembership {
 public:
  explicit EtcdDb(EtcdOptions options);
  bool on_power_loss_fs() const override { return options_.power_loss_fs; }
  void make_durable(const DbContext& ctx) override;
  Json lose_unsynced(const DbContext& ctx, const std::string& node, const PowerLoss& how) override;
  std::string name() const override { return "etcd"; }
  Json claims() const override;
  // The flags this run started the node's etcd with (name -> value).
  Json node_settings(const DbContext& ctx, const std::string& node) override;
  std::string version(const DbContext& ctx) override;
  void setup(const DbContext& ctx) override;
  void teardown(const DbContext& ctx) override;
  std::map<std::string, std::vector<std::string>> log_files(const DbContext& ctx) override;
  std::vector<std::string> vocabularies() const override;
  std::vector<NodeCheck> node_checks() const override;
  void prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) override;
  std::unique_ptr<Client> new_client(const std::string& vocabulary) override;

  void kill(const DbContext& ctx, const std::string& node) override;
  void start(const DbContext& ctx, const std::string& node) override;
  void pause(const DbContext& ctx, const std::string& node) override;
  void resume(const DbContext& ctx, const std::string& node) override;
  std::vector<std::string> primaries(const DbContext& ctx) override;
  // Membership (nemesis membership), mode "remove": the member is removed through another
  // member (/v3/cluster/member/remove; retried for up to 20 s while etcd's strict reconfig
  // check refuses, e.g. within 5 s of a join), its etcd stopped and its data dir emptied.
  // join: the node is added again as a new member (/v3/cluster/member/add through another
  // member) and started on an empty data dir with --initial-cluster-state existing and the
  // members the add answered; then every node must be healthy (60 s). A removed node is not
  // started by start() (the kill nemesis): it would form a cluster of its own.
  std::vector<std::string> leave_modes() const override { return {"remove"}; }
  Json leave(const DbContext& ctx, const std::string& node, const std::string& mode) override;
  Json join(const DbContext& ctx, const std::string& node) override;

  // Waits until every node of ctx answers and all agree on one leader; throws
  // std::runtime_error naming the first node that did not, with the tail of its log.
  void wait_healthy(const DbContext& ctx, std::chrono::milliseconds timeout);

  // The node's directory, address and client URL.
  std::string node_dir(const DbContext& ctx, const std::string& node) const;
  // <node dir>/data, or <node dir>/lossy/data on the power-loss file system.
  std::string data_dir(const DbContext& ctx, const std::string& node) const;
  // Unmounts a power-loss file system left under the node's directory and removes it.
  void wipe_node(const DbContext& ctx, const std::string& node) const;
  // Removes the node's data dir only (a power-loss mount stays): a member removed, or about to
  // join as a new one.
  void empty_data_dir(const DbContext& ctx, const std::string& node) const;
  static std::string host_of(const DbContext& ctx, const std::string& node);
  std::string client_url(const DbContext& ctx, const std::string& node) const;

 private:
  // etcd's command line; `joined`: the --initial-cluster of a node added to a running cluster
  // (state existing), "" for a node of the first cluster (every node, state new).
  std::vector<std::string> etcd_argv(const DbContext& ctx, const std::string& node,
                                     const std::string& token, const std::string& joined) const;
  void start_node(const DbContext& ctx, const std::string& node, const std::string& token);
  std::string peer_url(const DbContext& ctx, const std::string& node) const;
  // POSTs `body` to `path` on the first member other than `except` that takes it, retrying
  // for up to 20 s; returns the answer; throws naming the last error.
  Json ask_other_member(const DbContext& ctx, const std::string& except, const std::string& path,
                        const std::string& body);
  // Sends `signal` to the node's etcd; with wait, waits until it is gone (SIGKILL after
  // wait_ms). Returns false when no etcd of ours was running.
  bool signal_node(const DbContext& ctx, const std::string& node, const std::string& signal,
                   bool wait);
  std::string log_tail(const DbContext& ctx, const std::string& node);
  clusters::Daemon daemon(const DbContext& ctx, const std::string& node) const;

  EtcdOptions options_;
  // The etcd binary: /usr/bin/etcd, or where install put it (set by setup, before any other
  // call uses it).
  std::string binary_;
  std::mutex mu_;
  std::string token_;                          // this setup's --initial-cluster-token
  std::map<std::string, std::string> joined_;  // node -> its --initial-cluster when it joined
  std::set<std::string> removed_;              // nodes out of the cluster (membership)
};

}  // namespace faultline
