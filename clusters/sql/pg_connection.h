// A sql::Connection over libpq (Dialect kPostgres), for every PostgreSQL-protocol system under
// test: pglogical here, CockroachDB and YugabyteDB YSQL later. libpq is included only by
// pg_connection.cc.
//
// Contract:
//   - A connection goes to ctx.db->hosts[ctx.node] (the node name when there is no such entry),
//     port `port`, as `user` to `dbname`, with no password (the test clusters trust their
//     subnet).
//   - Nothing waits longer than ctx.op_timeout: connecting and every statement run on a
//     non-blocking socket polled against that deadline, so a partitioned or frozen (SIGSTOP)
//     server cannot hang a client. A statement past its deadline abandons the connection and
//     throws SqlError kConnection "timeout" (whether it took effect is unknown). The server also
//     gets statement_timeout = op_timeout (SQLSTATE 57014, kServer) for lock waits, and TCP
//     keepalives / tcp_user_timeout notice a dead peer.
//   - Errors: SqlError kServer with the SQLSTATE when the server answered and the connection is
//     still usable; kConnection (code "" or the SQLSTATE the server sent before it went away,
//     e.g. 57P01) when the connection could not be made, broke, or timed out. Once a
//     kConnection error was thrown the connection is closed, and every later query throws
//     kConnection at once.
//
// Thread safety: a connection is used by one thread at a time; the connector is thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "clusters/sql/sql.h"

namespace faultline::sql {

struct PgConnectOptions {
  int port = 5432;
  std::string user = "postgres";
  std::string dbname = "postgres";
  // default_transaction_isolation of every session: "read committed", "repeatable read" or
  // "serializable"; empty: the server's default.
  std::string isolation;
  // Statements run once after connecting (e.g. "SET synchronous_commit = off").
  std::vector<std::string> session_statements;
  // Upper bound on connecting, on top of ctx.op_timeout (the smaller wins).
  std::chrono::milliseconds connect_timeout{10000};
};

// Connects now (throws SqlError kConnection naming the node and address on failure).
std::unique_ptr<Connection> connect_pg(const ClientContext& ctx, const PgConnectOptions& options);

// A Connector that calls connect_pg with `options`.
Connector make_pg_connector(PgConnectOptions options);

}  // namespace faultline::sql
