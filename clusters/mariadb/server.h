// One mariadbd per node, as the MariaDB adapters (galera, mariadb-async) run it over SSH: its own
// directory <dir>/<node>-<host>/ holding my.cnf, data/, the socket, the pid file and the logs
// (nodes of the local cluster share one filesystem), started as mysql in its own session,
// signalled and stopped only through a pid file that names this node's mariadbd
// (clusters/common/daemon.h), the local `mariadb` client through the node's socket.
//
// Thread safety: a Servers is immutable; its methods may run for many nodes at once (one
// Session each).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "clusters/common/daemon.h"
#include "clusters/common/lossyfs.h"
#include "harness/command.h"
#include "harness/db.h"
#include "harness/options.h"
#include "harness/remote.h"

namespace faultline::mariadb {

inline constexpr const char* kMariadbd = "/usr/sbin/mariadbd";
inline constexpr const char* kMysqld = "/usr/sbin/mysqld";

// Which server a Servers runs. MariaDB: mariadbd, its data directory made by mariadb-install-db,
// the `mariadb` client. MySQL and Percona (MySQL 8.x, Percona XtraDB Cluster 8.x): mysqld, made
// by `mysqld --initialize-insecure` (root@localhost without a password, through the socket),
// the `mysql` client. Both take the same my.cnf keys the adapters write, the same signals, and
// speak the same protocol to libmariadb.
struct Flavor {
  std::string name;    // "mariadb" | "mysql"
  std::string server;  // the binary, argv[0] of the process
  std::string client;  // the command-line client
};
Flavor mariadb_flavor();
Flavor mysql_flavor();

// The options every MariaDB adapter takes alike: isolation ("" = the server's),
// flush-log-at-trx-commit, select-for-update and power-loss-fs: their declarations, for the
// adapter's OptionDecls (as clusters::install_option()), and parse_session_options, which reads
// them.
struct SessionOptions {
  std::string isolation;  // "": the server's
  int flush_log = 1;
  bool select_for_update = false;
  bool power_loss_fs = false;  // power-loss-fs: data/ on clusters/common/lossyfs.h
};
OptionDecl isolation_option();
OptionDecl flush_log_option();
OptionDecl select_for_update_option();
SessionOptions parse_session_options(const faultline::Options& opts);
// "REPEATABLE READ (the server default)" or "READ COMMITTED", for failure reports.
std::string isolation_words(const SessionOptions& o);
// The product and version of `mariadbd --version` / `mysqld --version` output, as a reader
// names it: "MariaDB 10.11.19 (10.11.19-MariaDB-0+deb12u1)", "MySQL 8.0.36 (8.0.36)",
// "Percona XtraDB Cluster 8.0.35-27.1 (8.0.35-27.1)"; the text itself, trimmed, when it has
// no "Ver".
std::string server_version_words(const std::string& version_output);

struct Paths {
  std::string dir, cnf, data, tmp, socket, pid, error_log, stdout_log, recover_log;
};

// "name\tvalue" lines (SHOW STATUS through the mariadb client) as a map.
std::map<std::string, std::string> status_lines(const std::string& out);

// The last `n` characters of `s`, trimmed ("..." in front when cut).
std::string tail(const std::string& s, size_t n = 600);

class Servers {
 public:
  // `where` names the adapter in messages ("db 'galera'"); `dir` is the root of the nodes'
  // directories (root's alone); `port` is the TCP port a new mariadbd must find free (Galera's
  // 4567, MariaDB's 3306).
  Servers(std::string where, std::string dir, int port, Flavor flavor = mariadb_flavor());

  // Node names and hosts become directory names and my.cnf values: letters, digits, and ._:-
  // only (the inventory checks the same; this guards every other caller). Throws ConfigError.
  void check_name(const std::string& what, const std::string& v) const;

  // With the power-loss file system (db-options power-loss-fs), data/ is <dir>/lossy/data, on
  // the file system mounted at <dir>/lossy (clusters/common/lossyfs.h) when the node's
  // directory is made (write_file), unmounted before it is wiped (stop_node).
  void use_power_loss_fs(bool on) { lossy_ = on; }
  bool power_loss_fs() const { return lossy_; }
  clusters::LossyFs lossy_fs(const DbContext& ctx, const std::string& node) const;
  // The node's server is killed: drop what it had not fsynced (LosesPower).
  Json lose_unsynced(const DbContext& ctx, const std::string& node, const PowerLoss& how) const;
  // LosesPower::make_durable: sync on every node's file system.
  void make_durable(const DbContext& ctx) const;

  Paths paths(const DbContext& ctx, const std::string& node) const;
  clusters::Daemon daemon(const Paths& p) const;
  const Flavor& flavor() const { return flavor_; }
  // The server's name in messages: "mariadbd", "mysqld".
  std::string server_name() const { return flavor_.server.substr(flavor_.server.rfind('/') + 1); }

  // Makes the node's directory (the base is root's alone; the node's own becomes mysql's) and
  // writes `content` to `file` in it.
  void write_file(const DbContext& ctx, Session& s, const std::string& node,
                  const std::string& file, const std::string& content) const;
  // Makes the node's directory (the base is root's alone; the node's own becomes mysql's) and
  // writes `config` as its my.cnf; then what the launch env needs (libfaketime's files).
  void write_config(const DbContext& ctx, Session& s, const std::string& node,
                    const std::string& config) const;
  // mariadb-install-db (MySQL: mysqld --initialize-insecure) into the node's data directory
  // (root by password-less socket login). Once in ~6 runs here, MariaDB 10.11's bootstrap
  // server crashed (signal 11 in ha_maria::drop_table, freeing an Aria temporary table): after
  // a crash the data directory is emptied and it runs once more, logged.
  void install_db(const DbContext& ctx, Session& s, const std::string& node) const;

  // Starts mariadbd in the background (setsid, so it outlives the SSH channel), as mysql, under
  // the run's launch env (only mariadbd's clock is faked). Returns the new process's pid.
  std::string launch(const DbContext& ctx, Session& s, const std::string& node,
                     const std::vector<std::string>& extra) const;

  // launch(), then waits until the server answers `SELECT 1` through its socket; throws
  // RemoteError with its error log's tail when it dies or does not answer within `timeout`.
  void launch_and_answer(const DbContext& ctx, Session& s, const std::string& node,
                         const std::vector<std::string>& extra, std::chrono::seconds timeout) const;

  // `sql` through the node's socket as root (-N -B: tab-separated, no headers), 30 s timeout.
  Command cli(const DbContext& ctx, const std::string& node, const std::string& sql) const;
  // The running server's variables not at their compiled-in defaults (name in lower case ->
  // value): MariaDB's information_schema.SYSTEM_VARIABLES whose GLOBAL_VALUE_ORIGIN is
  // CONFIG, COMMAND-LINE or SQL; MySQL's performance_schema.variables_info whose source is not
  // COMPILED. Throws RemoteError when the server does not answer.
  Json settings(const DbContext& ctx, const std::string& node) const;

  // Whether a mariadbd of this node runs: the one of its pid file, or one that has not written
  // it yet.
  bool running(Session& s, const Paths& p) const;

  // Kills every mariadbd of this node that the pid file does not name and waits until each is
  // gone and nothing listens on the port any more, so that a launch can bind it.
  void clear_for_launch(Session& s, const std::string& node, const Paths& p) const;

  // kill -SIG to the pid file's mariadbd; throws RemoteError when it does not run.
  void signal_pid(Session& s, const std::string& node, const Paths& p,
                  const std::string& sig) const;
  // What the launch env made for process `pid`, which is gone (common/launch.h).
  static void remove_launch_leftovers(Session& s, const std::string& pid);
  // Sends `sig` to the pid file's process and waits until it is gone; removes the pid file. A
  // node that is not running is fine; a pid file that does not name this node's mariadbd is
  // removed and nothing is signalled.
  void signal_and_wait(Session& s, const std::string& node, const Paths& p, const std::string& sig,
                       std::chrono::seconds wait) const;
  // TERM (30 s), else KILL; then clear_for_launch; with `wipe`, the node's directory goes too.
  void stop_node(const DbContext& ctx, Session& s, const std::string& node, bool wipe) const;

  // The adapters' common operations, over ctx.remote:
  // teardown: stop_node(wipe) on every node at once.
  void stop_all(const DbContext& ctx) const;
  // Every node's error log and stdout log.
  std::map<std::string, std::vector<std::string>> log_files(const DbContext& ctx) const;
  // SIGKILL, wait until gone, then any mariadbd of this node without its pid file too.
  void kill(const DbContext& ctx, const std::string& node) const;
  // SIGSTOP; SIGCONT (a node whose server does not run has nothing to resume: idempotent).
  void pause(const DbContext& ctx, const std::string& node) const;
  void resume(const DbContext& ctx, const std::string& node) const;

  const std::string& where() const { return where_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string where_, dir_;
  int port_;
  Flavor flavor_;
  bool lossy_ = false;
};

}  // namespace faultline::mariadb
