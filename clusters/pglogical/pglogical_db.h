// The database "pglogical": PostgreSQL 15 with pglogical 2 in a bidirectional full mesh (every
// node subscribes to every other, forward_origins '{}'), resolving conflicting updates by
// commit timestamp (last_update_wins by default): the open stand-in for BDR / EDB PGD.
//
// Everything happens over SSH sessions (ctx.remote), so on the local cluster each postgres runs
// in its node's network namespace. Nodes share a filesystem there, so every path is per node:
//   /var/lib/faultline/pglogical/<node>-<host>/  the socket dir too (unix_socket_directories);
//                                                owned by postgres
//       data/         PGDATA (postmaster.pid; pg_dynshmem, so no /dev/shm leftovers)
//       server.log    the server log (log_files(); pglogical's CONFLICT lines)
// postgres starts under DbContext::launch (clusters/common/launch.h): under the clock
// nemesis, libfaketime; client backends follow its offset file at once (FAKETIME_NO_CACHE), so
// their commit timestamps - which last_update_wins compares - are skewed.
//
// Lifecycle:
//   setup     per node, in parallel: stop and wipe leftovers, initdb, configure, start, CREATE
//             EXTENSION pglogical, pglogical.create_node. No subscriptions yet.
//   prepare   per node: the vocabulary's schema (sql::schema_statements, with node-index /
//             node-count), its tables added to the 'default' replication set; then the mesh
//             (node i subscribes to every j: n*(n-1) subscriptions, no structure or data sync),
//             waits until all are 'replicating', then inserts sql::initial_rows on the first
//             node and waits until every node holds the same rows. Safe to call again.
//   kill      SIGSTOP the postmaster, SIGKILL it and every process whose cwd is its data dir,
//             wait until they are all gone (reaped).
//   start     pg_ctl start (crash recovery), then disable+enable, immediately, the peers'
//             subscriptions from the node (pglogical's manager otherwise retries a lost
//             provider after up to 180 s); waits for every subscription to and from the node to
//             be 'replicating': 2 s, then kicks the node's own ones that are not and waits 10 s
//             more (the outcome is logged, not thrown: a peer may be paused or cut off).
//   pause     cgroup v1 freezer (faultline-pg-<node>-<host>; inside `ip netns exec`, where /sys
//             has no cgroups, the hierarchy is mounted at /run/faultline/cgroup-freezer), else
//             SIGSTOP postmaster first, then its children; resume thaws / SIGCONTs and kicks the
//             subscriptions like start. sshd is never touched.
//   teardown  thaw, pg_ctl stop -m fast, SIGKILL by pid what is left, remove the node dir and
//             the freezer cgroup. Idempotent; safe after a partial setup.
// Processes are only ever signalled by pid (the postmaster from postmaster.pid, and every
// process whose /proc/<pid>/cwd is the data dir), never by name. Clients: pg_connection.h.
//
// db-options (unknown keys rejected):
//   conflict-resolution  "last_update_wins"  | first_update_wins | apply_remote | keep_local |
//                        error (kebab-case accepted)
//   isolation            "read-committed"    | repeatable-read | serializable (every session)
//   synchronous-commit   "on"                | off | local | remote_write | remote_apply
//   select-for-update    false               reads of read-modify-write ops lock (sql.h)
//   retry-codes          []                  SQLSTATEs after which a transaction is retried
//   retry-limit          3 with retry-codes, else 0
//
// Thread safety: setup/prepare/teardown from one thread; new_client, kill, start, pause and
// resume from any thread, concurrently (each opens its own sessions).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "clusters/common/install.h"
#include "clusters/sql/pg_connection.h"
#include "harness/db.h"

namespace faultline {

inline constexpr const char* kPgBaseDir = "/var/lib/faultline/pglogical";
inline constexpr const char* kPgBinDir = "/usr/lib/postgresql/15/bin";

struct PglogicalOptions {
  std::string conflict_resolution = "last_update_wins";
  std::string isolation = "read committed";  // as PostgreSQL spells it
  std::string synchronous_commit = "on";
  bool select_for_update = false;
  std::vector<std::string> retry_codes;
  int retry_limit = 0;
  bool power_loss_fs = false;     // data/ -> lossy/data on clusters/common/lossyfs.h
  clusters::InstallSpec install;  // none or apt (clusters/common/install.h)

  // Reads db-options through faultline::Options (kPglogicalOptions); throws ConfigError naming
  // "db 'pglogical'" and the key.
  static PglogicalOptions parse(const Json& options);
};

// The node's directory (see above): <kPgBaseDir>/<node>-<host>.
std::string pglogical_node_dir(const DbContext& ctx, const std::string& node);
// pglogical's name for a node and for the subscription of `subscriber` to `provider`.
std::string pglogical_node_name(const std::string& node);
std::string pglogical_subscription_name(const std::string& subscriber, const std::string& provider);

class PglogicalDb : public Db,
                    public Killable,
                    public Pausable,
                    public ClockSensitive,
                    public LosesPower,
                    public ChangesMembership {
 public:
  explicit PglogicalDb(PglogicalOptions options);
  bool on_power_loss_fs() const override { return options_.power_loss_fs; }
  void make_durable(const DbContext& ctx) override;
  Json lose_unsynced(const DbContext& ctx, const std::string& node, const PowerLoss& how) override;
  std::string name() const override { return "pglogical"; }
  Json claims() const override;
  // pg_settings whose source is neither default nor override (name -> setting).
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
  // Membership (nemesis membership), mode "detach": every subscription from and to the node
  // dropped; it keeps running and serving its clients, alone. join: the subscriptions created
  // again both ways, without copying data (synchronize_data false: pglogical's initial copy
  // into tables that have rows fails on duplicate keys), and waited for until replicating
  // (60 s). What either side wrote while detached never reaches the other: the checkers find
  // it as lost or diverged.
  std::vector<std::string> leave_modes() const override { return {"detach"}; }
  Json leave(const DbContext& ctx, const std::string& node, const std::string& mode) override;
  Json join(const DbContext& ctx, const std::string& node) override;
  void pause(const DbContext& ctx, const std::string& node) override;
  void resume(const DbContext& ctx, const std::string& node) override;
  // last_update_wins compares commit timestamps: an offset above the gap between two
  // conflicting writes (milliseconds at the default rate) reorders them.
  ClockSkews clock_skews() const override;

  // Runs `sql` (a script; each statement in its own transaction) with psql over SSH on `node`
  // and returns stdout (rows as `a|b` lines). Throws RemoteError naming the node (also when
  // `timeout` passed: a frozen server).
  std::string psql(const DbContext& ctx, const std::string& node, const std::string& sql,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));
  // Waits until every node holds the same rows in the tables of `vocabulary` (digests
  // compared); false after `timeout`, with `why` naming the groups of nodes that agree. For
  // before final reads: replication is asynchronous, so right after the last write the nodes
  // differ for a while (and for good when last_update_wins met skewed clocks). The runner calls it
  // through before_final_reads().
  // With `settled` > 0 it also stops, false, once no node's rows changed for that long while
  // every subscription is 'replicating' (nothing left in flight: a divergence that stays).
  bool converge(const DbContext& ctx, const std::string& vocabulary,
                std::chrono::milliseconds timeout, std::string* why = nullptr,
                std::chrono::milliseconds settled = std::chrono::milliseconds(0));
  // Restarts every subscription on every node that answers (in parallel; ~1 s per
  // subscription) and returns those nodes. For after a partition heals: a subscription still
  // says 'replicating' over a connection whose packets were dropped, and catches up only when
  // TCP retransmits (measured: 6.5 s after a 20 s partition, 47 s after a 60 s one), or, once
  // the connection broke, when pglogical's manager retries (after up to 180 s). With
  // recover(): caught up ~1 s after heal. before_final_reads() calls it.
  std::vector<std::string> recover(const DbContext& ctx);
  // Before final reads: recover() when faults ran, then converge() for up to 15 s (settled
  // after 4 s without change), logged.
  void before_final_reads(const DbContext& ctx, const std::string& vocabulary,
                          bool faults_ran) override;
  // Waits until every subscription of `subscribers` whose provider is in `providers` is
  // 'replicating'; returns false after `timeout` (then `why` holds the statuses).
  bool wait_replicating(const DbContext& ctx, const std::vector<std::string>& subscribers,
                        const std::vector<std::string>& providers,
                        std::chrono::milliseconds timeout, std::string* why = nullptr);

 private:
  // The node's address on its own interface (from $SSH_CONNECTION), probed once.
  std::string own_address(const DbContext& ctx, const std::string& node);
  void start_postgres(const DbContext& ctx, const std::string& node);
  // The statements that make `subscriber` subscribe to each of `providers` (itself left out;
  // an existing subscription kept), without copying data.
  std::string subscribe_sql(const DbContext& ctx, const std::string& subscriber,
                            const std::vector<std::string>& providers);
  // Kicks the peers' subscriptions from `node` (and, with `own`, node's own ones that are not
  // replicating). Returns the peers that answered.
  std::vector<std::string> kick_subscriptions(const DbContext& ctx, const std::string& node,
                                              bool own);

  PglogicalOptions options_;
  std::mutex mu_;
  std::map<std::string, std::string> addresses_;  // node -> own address; guarded by mu_
  std::set<std::string> controllers_;  // our address as each node sees it; guarded by mu_
};

}  // namespace faultline
