// MariaDB asynchronous multi-master replication (Debian mariadb-server 10.11), registered as
// database "mariadb-async": one mariadbd per node (clusters/mariadb/server.h), each a master
// with its own binlog, server_id and gtid_domain_id (its 1-based index), log_slave_updates on,
// replicating from its masters over GTID (MASTER_USE_GTID=slave_pos), one named connection per
// master (the master's node name):
//   master-master  2 nodes, each replicates from the other
//   ring           N >= 2 nodes, node i replicates from node i-1 (n1 from the last)
//   multi-source   N >= 2 nodes, each replicates from every other (gtid_ignore_duplicates: an
//                  event reaching a node by two paths is applied once)
// With auto-increment "offsets" (the default), auto_increment_increment = N and
// auto_increment_offset = i: each master hands out its own keys ("sequences without global
// locks"); with "none" they collide.
//
// Setup: stop whatever an earlier run left, wipe, mariadb-install-db and start every node at
// once, create the `faultline` user and database on each (not binlogged: each node makes its
// own), then CHANGE MASTER and START SLAVE per channel and wait until every channel's IO and
// SQL threads run. prepare() creates the tables through the first node and waits until every
// node has them with the same rows.
//
// Before the final reads: wait (bounded, catch-up-timeout-s) until every channel runs and every
// node shows the same gtid_current_pos. At the end of the run (ReportsReplication, harness/db.h)
// the same wait, then the report the runner records in the history and checker "replication"
// judges: per node and channel Slave_IO_Running, Slave_SQL_Running, Last_SQL_Errno/Error,
// Last_IO_Errno/Error, Seconds_Behind_Master, Gtid_IO_Pos, and CHECKSUM TABLE of the
// vocabulary's tables on every node. A halted channel (error 1062, a duplicate key; 1032, a
// missing row) and tables that differ between nodes are what async replication does wrong.
//
// Capabilities: Killable (SIGKILL; start relaunches, and replication resumes from the
// crash-safe mysql.gtid_slave_pos), Pausable (SIGSTOP/SIGCONT). Under the clock nemesis
// mariadbd runs under libfaketime.
//
// Options (db-options), with defaults:
//   topology                 "ring"     master-master | ring | multi-source
//   auto-increment           "offsets"  offsets | none
//   slave-exec-mode          "STRICT"   STRICT | IDEMPOTENT (IDEMPOTENT skips 1062 and 1032:
//                                       replication goes on, the data may diverge silently)
//   binlog-format            "ROW"      ROW | STATEMENT | MIXED
//   semi-sync                "off"      off | after-sync | after-commit (every node a semi-sync
//                                       master and replica; the report adds each node's
//                                       Rpl_semi_sync_master_status, yes_tx, no_tx)
//   semi-sync-timeout-ms     10000      after it a commit goes on without an acknowledgement
//   isolation                ""         as Galera's
//   flush-log-at-trx-commit  1
//   select-for-update        false
//   catch-up-timeout-s       30
//   dir                      "/var/lib/faultline/mariadb-async"
//   start-timeout-s          60
//   install                  none | apt (clusters/common/install.h)
//
// Thread safety: as Galera's.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace faultline::mariadb {

// Node -> the nodes it replicates from, for `topology` over `nodes` (in order). Throws
// ConfigError for an unknown topology or a node count it cannot take.
std::map<std::string, std::vector<std::string>> async_masters(
    const std::string& topology, const std::vector<std::string>& nodes);

}  // namespace faultline::mariadb
