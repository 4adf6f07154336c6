// SQL databases share one implementation of the workload vocabularies (docs/workloads.md):
// each op is one transaction of plain SQL statements, written once here for every SQL system,
// with the few differences between MySQL-protocol (Galera, Percona XtraDB Cluster, Group
// Replication) and PostgreSQL-protocol systems (pglogical, CockroachDB, YugabyteDB YSQL) in a
// Dialect. A database supplies a Connection (libmariadb in clusters/galera, libpq in
// clusters/pglogical) and gets back Clients, plus the DDL and initial rows its prepare() runs.
//
// Outcomes: any error (server error, lost connection, timeout) before COMMIT was sent is `fail`
// (the transaction is rolled back); an error in answer to COMMIT is `info` for ops that write,
// except a server error whose code says the transaction was rolled back (MySQL 1213, SQLSTATE
// class 40 but 40003), which is `fail`; read-only ops never end in info. See
// docs/workloads.md.
//
// Thread safety: a Connection and a Client are used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/client.h"

namespace faultline::sql {

enum class Dialect { kMySql, kPostgres };

class SqlError : public std::runtime_error {
 public:
  enum class Kind {
    kServer,      // the server answered with an error; the connection is still usable
    kConnection,  // the connection is lost or could not be made (includes read timeouts)
  };
  SqlError(Kind kind, std::string code, const std::string& message)
      : std::runtime_error(code.empty() ? message : code + ": " + message),
        kind_(kind),
        code_(std::move(code)) {}
  Kind kind() const { return kind_; }
  // The server's error number (MySQL "1213") or SQLSTATE (PostgreSQL "40001"); "" when none.
  const std::string& code() const { return code_; }

 private:
  Kind kind_;
  std::string code_;
};

using Row = std::vector<std::optional<std::string>>;  // NULL is nullopt

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  // Runs one statement and returns its rows (none for statements without a result).
  // Throws SqlError.
  virtual std::vector<Row> query(const std::string& statement) = 0;
  // Rows MATCHED by the last UPDATE / INSERT / DELETE (MySQL: connect with CLIENT_FOUND_ROWS,
  // so an UPDATE writing the value already there counts its row).
  virtual int64_t affected_rows() const = 0;
  virtual void close() noexcept = 0;
};

// Makes a connection for a client (to ctx.node at ctx.db->hosts[ctx.node]), already set up for
// the test (database selected, isolation level set, timeouts from ctx.op_timeout).
// Throws SqlError (kConnection) when it cannot connect.
using Connector = std::function<std::unique_ptr<Connection>(const ClientContext& ctx)>;

struct ClientOptions {
  // Append " FOR UPDATE" to the reads of read-modify-write ops (counter, bank, cas).
  bool select_for_update = false;
  // SQLSTATE / error codes after which the whole transaction is retried (at most
  // retry_limit times) before answering fail, e.g. {"40001"} for CockroachDB. An error at
  // COMMIT is retried only when its code says the transaction was rolled back.
  std::vector<std::string> retry_codes;
  int retry_limit = 0;
  // Statement that starts a transaction.
  std::string begin = "BEGIN";
  // Run once before a final read (an op whose extra fields say "final": true), so it sees
  // everything the cluster committed, e.g. "SET SESSION wsrep_sync_wait = 1" (Galera).
  std::string before_final_read;
};

// The vocabularies served here, e.g. {"register", "bank", ...}.
std::vector<std::string> vocabularies();

// A fresh, unopened client for `vocabulary`, or nullptr when it is not one of vocabularies().
std::unique_ptr<Client> make_client(const std::string& vocabulary, Connector connect,
                                    ClientOptions options);

// Statements that create the tables of `vocabulary` (idempotent: IF NOT EXISTS) and those that
// insert its initial rows (bank accounts, counter keys) from the workload's params. A database
// runs the schema on every node whose schema is not replicated (pglogical) or on one node
// (Galera), and the rows on one node. unique-ids under PostgreSQL makes a per-node sequence
// range from params "node-index" (1-based) and "node-count", which the database adds per node.
std::vector<std::string> schema_statements(const std::string& vocabulary, Dialect dialect,
                                           const Json& params);
std::vector<std::string> initial_rows(const std::string& vocabulary, Dialect dialect,
                                      const Json& params);
// The tables of `vocabulary` (to add to replication sets, to wipe).
std::vector<std::string> tables(const std::string& vocabulary);

}  // namespace faultline::sql
