#include "clusters/sql/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

#include "clusters/common/text.h"
#include "harness/db.h"

namespace faultline::sql {
namespace {

using Clock = std::chrono::steady_clock;
using clusters::trim;
using std::chrono::milliseconds;

// Waits until the socket is ready for `events` or the deadline passes. Returns false on
// timeout; true when ready (or on a poll error, which the next libpq call reports).
bool wait_socket(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, int64_t{1000} * 1000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;
  }
}

// Escapes a value for libpq's "options" (-c name=value): spaces and backslashes get a
// backslash.
std::string options_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == ' ' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

class PgConnection final : public Connection {
 public:
  PgConnection(PGconn* conn, std::string where, milliseconds timeout)
      : conn_(conn), where_(std::move(where)), timeout_(timeout) {}
  ~PgConnection() override { finish(); }

  Dialect dialect() const override { return Dialect::kPostgres; }

  std::vector<Row> query(const std::string& statement) override {
    if (conn_ == nullptr) {
      throw SqlError(SqlError::Kind::kConnection, "", where_ + ": connection closed");
    }
    const auto deadline = Clock::now() + timeout_;
    affected_ = 0;
    if (PQsendQuery(conn_, statement.c_str()) == 0) broken("", "sending the statement");
    // Flush what libpq buffered (non-blocking mode), reading meanwhile so the server never
    // blocks on a full socket.
    for (;;) {
      int r = PQflush(conn_);
      if (r == 0) break;
      if (r < 0) broken("", "sending the statement");
      if (!wait_socket(PQsocket(conn_), POLLIN | POLLOUT, deadline)) timed_out();
      if (PQconsumeInput(conn_) == 0) broken("", "reading the reply");
    }
    std::vector<Row> rows;
    std::string error_code, error_message;
    bool have_error = false;
    for (;;) {
      while (PQisBusy(conn_)) {
        if (!wait_socket(PQsocket(conn_), POLLIN, deadline)) timed_out();
        if (PQconsumeInput(conn_) == 0) broken(error_code, "reading the reply");
      }
      PGresult* res = PQgetResult(conn_);
      if (res == nullptr) break;
      switch (PQresultStatus(res)) {
        case PGRES_TUPLES_OK:
        case PGRES_SINGLE_TUPLE: {
          rows.clear();
          const int n = PQntuples(res), m = PQnfields(res);
          rows.reserve(n);
          for (int i = 0; i < n; ++i) {
            Row row;
            row.reserve(m);
            for (int j = 0; j < m; ++j) {
              if (PQgetisnull(res, i, j)) {
                row.emplace_back(std::nullopt);
              } else {
                row.emplace_back(std::string(PQgetvalue(res, i, j), PQgetlength(res, i, j)));
              }
            }
            rows.push_back(std::move(row));
          }
          affected_ = n;
          break;
        }
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY: {
          const char* t = PQcmdTuples(res);
          affected_ = (t && *t) ? std::strtoll(t, nullptr, 10) : 0;
          break;
        }
        default: {
          if (!have_error) {
            have_error = true;
            const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            const char* msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            error_code = code ? code : "";
            error_message = msg ? msg : trim(PQresultErrorMessage(res));
            if (error_message.empty()) error_message = PQresStatus(PQresultStatus(res));
          }
          break;
        }
      }
      PQclear(res);
    }
    if (PQstatus(conn_) == CONNECTION_BAD) {
      broken(error_code, have_error ? error_message : std::string("connection lost"));
    }
    if (have_error) throw SqlError(SqlError::Kind::kServer, error_code, error_message);
    return rows;
  }

  int64_t affected_rows() const override { return affected_; }

  void close() noexcept override { finish(); }

 private:
  void finish() noexcept {
    if (conn_ != nullptr) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
  }
  [[noreturn]] void broken(const std::string& code, const std::string& what) {
    std::string msg = conn_ ? trim(PQerrorMessage(conn_)) : "";
    close();
    throw SqlError(SqlError::Kind::kConnection, code,
                   where_ + ": connection lost (" + what + (msg.empty() ? "" : ": " + msg) + ")");
  }
  [[noreturn]] void timed_out() {
    close();
    throw SqlError(SqlError::Kind::kConnection, "",
                   where_ + ": timeout after " + std::to_string(timeout_.count()) +
                       " ms (connection abandoned)");
  }

  PGconn* conn_;
  std::string where_;
  milliseconds timeout_;
  int64_t affected_ = 0;
};

}  // namespace

std::unique_ptr<Connection> connect_pg(const ClientContext& ctx, const PgConnectOptions& options) {
  std::string host = ctx.node;
  if (ctx.db != nullptr) {
    auto it = ctx.db->hosts.find(ctx.node);
    if (it != ctx.db->hosts.end() && !it->second.empty()) host = it->second;
  }
  const std::string where =
      "node " + ctx.node + " (postgres at " + host + ":" + std::to_string(options.port) + ")";
  auto op_timeout = std::chrono::duration_cast<milliseconds>(ctx.op_timeout);
  if (op_timeout.count() <= 0) op_timeout = milliseconds(10000);
  const milliseconds connect_timeout = std::min(op_timeout, options.connect_timeout);

  const std::string port = std::to_string(options.port);
  const std::string connect_s =
      std::to_string(std::max<int64_t>(2, (connect_timeout.count() + 999) / 1000));
  const std::string user_timeout = std::to_string(op_timeout.count());
  const std::string app = "faultline-p" + std::to_string(ctx.process);
  std::string opts = "-c statement_timeout=" + std::to_string(op_timeout.count());
  if (!options.isolation.empty()) {
    opts += " -c default_transaction_isolation=" + options_value(options.isolation);
  }
  // Keepalives and tcp_user_timeout make the kernel drop a connection to a vanished peer; the
  // poll deadlines below bound everything else (a frozen server still ACKs at the TCP level).
  const std::vector<std::pair<const char*, std::string>> params = {
      {"host", host},
      {"port", port},
      {"user", options.user},
      {"dbname", options.dbname},
      {"connect_timeout", connect_s},
      {"keepalives", "1"},
      {"keepalives_idle", "2"},
      {"keepalives_interval", "1"},
      {"keepalives_count", "3"},
      {"tcp_user_timeout", user_timeout},
      {"application_name", app},
      {"options", opts}};
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : params) {
    keys.push_back(k);
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectStartParams(keys.data(), values.data(), 0);
  if (conn == nullptr) {
    throw SqlError(SqlError::Kind::kConnection, "", where + ": libpq could not allocate");
  }
  auto fail = [&](const std::string& why) {
    std::string msg = trim(PQerrorMessage(conn));
    PQfinish(conn);
    throw SqlError(SqlError::Kind::kConnection, "",
                   where + ": cannot connect: " + why + (msg.empty() ? "" : ": " + msg) +
                       " (is the database running on the node and the port reachable?)");
  };
  if (PQstatus(conn) == CONNECTION_BAD) fail("bad parameters");
  const auto deadline = Clock::now() + connect_timeout;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) fail("failed");
    short events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!wait_socket(PQsocket(conn), events, deadline)) {
      fail("timeout after " + std::to_string(connect_timeout.count()) + " ms");
    }
    st = PQconnectPoll(conn);
  }
  if (PQsetnonblocking(conn, 1) != 0) fail("cannot make the socket non-blocking");
  auto c = std::make_unique<PgConnection>(conn, where, op_timeout);
  for (const auto& s : options.session_statements) c->query(s);
  return c;
}

Connector make_pg_connector(PgConnectOptions options) {
  return
      [options = std::move(options)](const ClientContext& ctx) { return connect_pg(ctx, options); };
}

}  // namespace faultline::sql
