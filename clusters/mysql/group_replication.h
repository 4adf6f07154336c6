// MySQL Group Replication (MySQL 8.4 from Oracle's apt repository, mysql-server; not in
// Debian 12), registered as database "mysql-gr": one mysqld per node (clusters/mariadb/server.h
// with the mysql flavor: `mysqld --initialize-insecure`, the `mysql` client), GTIDs on, the
// group_replication plugin loaded, group_replication_start_on_boot off so that Faultline
// decides who bootstraps.
//
// Setup: stop what an earlier run left, wipe, initialize and start every server at once; on
// each, without binlogging, the recovery user `repl` (REPLICATION SLAVE, CONNECTION_ADMIN,
// BACKUP_ADMIN, GROUP_REPLICATION_STREAM) set as the group_replication_recovery channel's
// credentials, and the `faultline` user. Then bootstrap the group on the first node
// (group_replication_bootstrap_group ON, START GROUP_REPLICATION, OFF), create the database
// there, and START GROUP_REPLICATION on the others one at a time (distributed recovery), each
// waited for until ONLINE. Both users authenticate with MySQL 8's caching_sha2_password: the
// recovery channel asks the donor for its public key (group_replication_recovery_get_public_key)
// and the workload's clients connect over TLS (MySQL makes its certificates at initialize).
//
// Modes: single-primary (the default: one writable primary, elected; writes through the others
// fail with 1290, super_read_only) or multi-primary (every member writable, conflicts fail
// certification at commit). group_replication_consistency is an option.
//
// Errors (clusters/sql): 3101 at COMMIT (certification failed: "Plugin instructed the server to
// rollback the current transaction") is fail; a lost COMMIT reply is info; 3100 (a replication
// hook failed: the member lost its majority mid-commit) is info, since the transaction may have
// been delivered to the group.
//
// Capabilities: Killable (SIGKILL; start relaunches mysqld and, when a member still sees a
// majority ONLINE, rejoins it with START GROUP_REPLICATION; when no member does and every
// server runs again, bootstraps the group on the server with the most transactions in
// gtid_executed, then rejoins the others, as Jepsen's recovery of a killed majority does),
// Pausable (SIGSTOP/SIGCONT). Before the final reads, members that left the group (expelled
// after a partition, auto-rejoin exhausted) are restarted into it, bounded.
//
// Options (db-options), with defaults:
//   mode                     "single-primary"  | "multi-primary"
//   consistency              "BEFORE_ON_PRIMARY_FAILOVER"  group_replication_consistency:
//                            EVENTUAL | BEFORE_ON_PRIMARY_FAILOVER | BEFORE | AFTER |
//                            BEFORE_AND_AFTER
//   isolation, flush-log-at-trx-commit, select-for-update   as Galera's
//   dir                      "/var/lib/faultline/mysql-gr"
//   start-timeout-s          120   per server to answer, per member to be ONLINE
//   install                  none | apt (packages from Oracle's repository)
//
// Thread safety: setup/teardown/prepare from the runner thread; kill/start/pause/resume and
// new_client from any thread (start serialises on a mutex).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace faultline::mysql {

// One row of performance_schema.replication_group_members as the adapter reads it.
struct GroupMember {
  std::string host;   // MEMBER_HOST (report_host: the node's address)
  std::string state;  // ONLINE, RECOVERING, UNREACHABLE, ERROR, OFFLINE
  std::string role;   // PRIMARY, SECONDARY, "" when not in a group
  bool self = false;  // the member answering
};

// Rows of "host\tstate\trole\tself(0|1)" (mysql -N -B), as the adapter queries them.
std::vector<GroupMember> parse_group_members(const std::string& out);

// How many transactions a gtid_executed set holds: "uuid:1-100:200,uuid2:1-5" is 106. Throws
// std::invalid_argument for text that is not a GTID set.
int64_t gtid_count(const std::string& gtid_set);

}  // namespace faultline::mysql
