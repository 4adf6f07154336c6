// MariaDB Galera (Debian mariadb-server 10.11 + galera-4 26.4), registered as database
// "galera": one mariadbd per node, started over SSH (so it lands in the node's namespace on the
// local cluster), with its own directory <dir>/<node>-<host>/ holding my.cnf, data/, the
// socket, the pid file and the logs (nodes of the local cluster share one filesystem).
//
// Setup: stop whatever an earlier run left in those directories (by pid file), wipe them,
// mariadb-install-db on the first node, bootstrap it (--wsrep-new-cluster), create the
// `faultline` user and database, then start the joiners one at a time (each does a full rsync
// SST; joins are serial in Galera anyway) and wait until every node is Synced with
// wsrep_cluster_size = N. prepare() creates the vocabulary's tables through the first node
// (DDL replicates as TOI) and checks with wsrep_sync_wait that every node sees the rows.
//
// Capabilities: Killable (SIGKILL by pid, waits until the process is gone; start: plain start
// when another node runs, it rejoins by IST or SST; when no node runs, the whole-cluster
// recovery: --wsrep-recover on every node, bootstrap from the most advanced position with
// safe_to_bootstrap and --wsrep-start-position, then join the others), Pausable (SIGSTOP /
// SIGCONT by pid). Under the clock nemesis (ctx.launch), mariadbd runs under libfaketime.
//
// Options (db-options), with defaults:
//   isolation                ""      session isolation: read-committed, repeatable-read,
//                                    serializable, read-uncommitted ("": server default)
//   flush-log-at-trx-commit  1       innodb_flush_log_at_trx_commit (0 loses acknowledged
//                                    writes when every node crashes: a finding, not a default)
//   sync-wait                0       wsrep_sync_wait (1: causal reads)
//   select-for-update        false   read-modify-write ops read with SELECT ... FOR UPDATE
//   provider-options         ""      appended to wsrep_provider_options (pc.ignore_sb=true,
//                                    pc.weight=2, evs.*, gcache.size=...)
//   fast-failure-detection   true    evs suspect 2 s / inactive 4 s (defaults 5 s / 15 s)
//   dir                      "/var/lib/faultline/galera"
//   start-timeout-s          120     per node, to Synced
//
//   arbitrator               false   the last node runs garbd instead of mariadbd
//   flavor                   mariadb mariadb | pxc: Percona XtraDB Cluster 8 (mysqld from
//                                    Percona's packages, --initialize-insecure, Galera at
//                                    /usr/lib/galera4, xtrabackup-v2 SST, the mysql client,
//                                    TLS clients for caching_sha2_password)
//   pxc-strict-mode          ENFORCING  flavor pxc's pxc_strict_mode
//
// Arbitrator (clusters/galera/arbitrator.h): nodes whose inventory role is "arbitrator" (else,
// with option arbitrator, the last node) run garbd, which votes but stores nothing. It starts
// after the data nodes and counts in wsrep_cluster_size; clients and final reads go only to
// the data nodes (client_nodes); kill/start/pause/resume act on its garbd. A restarted garbd
// joins the primary component; with none, it waits for the next data node's start.
//
// Data centres: when the inventory gives nodes a `dc`, each node's wsrep_provider_options get
// gmcast.segment = the index of its dc among the run's dcs in sorted order (a node without one
// counts as dc ""), so Galera relays writesets once per segment and picks donors within it,
// as a multi-DC deployment is configured; a gmcast.segment in provider-options overrides it.
//
// Thread safety: setup/teardown/prepare from the runner thread; kill/start/pause/resume and
// new_client from any thread (start serialises on a mutex).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace faultline::galera {

// Node -> gmcast.segment for `nodes` placed in data centres `dcs` (node -> dc; absent: ""):
// the index of each node's dc in the sorted set of theirs. Empty when `dcs` is. Throws
// ConfigError above 256 data centres (a segment is 0-255).
std::map<std::string, int> galera_segments(const std::vector<std::string>& nodes,
                                           const std::map<std::string, std::string>& dcs);

}  // namespace faultline::galera
