// A sql::Connection over libmariadb (the MySQL protocol): serves MariaDB Galera, and equally
// Percona XtraDB Cluster and MySQL Group Replication nodes.
//
// Errors: client-side errors (CR_*: 2000-2999, e.g. 2013 "Lost connection", 2006 "server has
// gone away", 2003 "Can't connect") are SqlError kConnection; everything the server answers
// (1213 deadlock / certification failure, 1047 "WSREP has not yet prepared node", ...) is
// kServer with the error number as code. Read and write timeouts come from the client's op
// timeout, so a partitioned or paused server cannot hang a client past it.
//
// Thread safety: one connection per thread; mysql_library_init runs once (std::call_once).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "clusters/sql/sql.h"

namespace faultline::sql {

struct MariaDbOptions {
  std::string user = "faultline";
  std::string password = "faultline";
  std::string database = "faultline";
  int port = 3306;
  std::string isolation;  // "" (server default) or read-uncommitted | read-committed |
                          // repeatable-read | serializable
  int sync_wait = -1;     // wsrep_sync_wait for the session; -1: leave the server's
  // TLS, without verifying the server's certificate (MYSQL_OPT_SSL_ENFORCE): MySQL 8's default
  // authentication, caching_sha2_password, sends the password only over TLS (or RSA-encrypted
  // with the server's key), and MySQL makes its own certificates at --initialize.
  bool tls = false;
};

// Connects to host:port; timeouts from `timeout` (connect, read and write, at least 1 s).
// Throws SqlError (kConnection) naming the host.
std::unique_ptr<sql::Connection> connect_mariadb(const std::string& host,
                                                 const MariaDbOptions& options,
                                                 std::chrono::milliseconds timeout);

// A connector for clients: the node's host from ctx.db->hosts, timeouts from ctx.op_timeout.
sql::Connector mariadb_connector(MariaDbOptions options);

}  // namespace faultline::sql
