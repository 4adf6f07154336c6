#include "clusters/sql/mariadb_connection.h"

#include <mysql.h>

#include <algorithm>
#include <mutex>

#include "harness/db.h"

namespace faultline::sql {
namespace {

using sql::SqlError;

class MariaDbConnection : public sql::Connection {
 public:
  MariaDbConnection(const std::string& host, const MariaDbOptions& o,
                    std::chrono::milliseconds timeout)
      : host_(host) {
    static std::once_flag init;
    std::call_once(init, [] { mysql_library_init(0, nullptr, nullptr); });
    mysql_ = mysql_init(nullptr);
    if (!mysql_) throw SqlError(SqlError::Kind::kConnection, "", "out of memory (mysql_init)");
    unsigned int secs = static_cast<unsigned int>(
        std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    mysql_optionsv(mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
    mysql_optionsv(mysql_, MYSQL_OPT_READ_TIMEOUT, &secs);
    mysql_optionsv(mysql_, MYSQL_OPT_WRITE_TIMEOUT, &secs);
    my_bool no = 0;
    mysql_optionsv(mysql_, MYSQL_OPT_RECONNECT, &no);
    if (o.tls) {
      my_bool on = 1;
      mysql_optionsv(mysql_, MYSQL_OPT_SSL_ENFORCE, &on);
    }
    if (!mysql_real_connect(mysql_, host.c_str(), o.user.c_str(), o.password.c_str(),
                            o.database.c_str(), static_cast<unsigned int>(o.port), nullptr,
                            CLIENT_FOUND_ROWS)) {
      std::string msg =
          "cannot connect to " + host + ":" + std::to_string(o.port) + ": " + mysql_error(mysql_);
      std::string code = std::to_string(mysql_errno(mysql_));
      mysql_close(mysql_);
      mysql_ = nullptr;
      throw SqlError(SqlError::Kind::kConnection, code, msg);
    }
    if (!o.isolation.empty()) {
      std::string level = o.isolation;
      std::replace(level.begin(), level.end(), '-', ' ');
      std::transform(level.begin(), level.end(), level.begin(), ::toupper);
      MariaDbConnection::query("SET SESSION TRANSACTION ISOLATION LEVEL " + level);
    }
    if (o.sync_wait >= 0) {
      MariaDbConnection::query("SET SESSION wsrep_sync_wait = " + std::to_string(o.sync_wait));
    }
  }
  ~MariaDbConnection() override { close(); }

  sql::Dialect dialect() const override { return sql::Dialect::kMySql; }

  std::vector<sql::Row> query(const std::string& statement) override {
    if (!mysql_)
      throw SqlError(SqlError::Kind::kConnection, "", "connection to " + host_ + " closed");
    if (mysql_real_query(mysql_, statement.data(), statement.size()) != 0) fail();
    std::vector<sql::Row> rows;
    MYSQL_RES* res = mysql_store_result(mysql_);
    if (!res) {
      if (mysql_field_count(mysql_) != 0) fail();  // a result was expected but not read
      affected_ = static_cast<int64_t>(mysql_affected_rows(mysql_));
      return rows;
    }
    unsigned int n = mysql_num_fields(res);
    while (MYSQL_ROW row = mysql_fetch_row(res)) {
      unsigned long* lengths = mysql_fetch_lengths(res);
      sql::Row r;
      r.reserve(n);
      for (unsigned int i = 0; i < n; ++i) {
        if (row[i])
          r.emplace_back(std::string(row[i], lengths[i]));
        else
          r.emplace_back(std::nullopt);
      }
      rows.push_back(std::move(r));
    }
    mysql_free_result(res);
    affected_ = static_cast<int64_t>(rows.size());
    return rows;
  }

  int64_t affected_rows() const override { return affected_; }

  void close() noexcept override {
    if (mysql_) mysql_close(mysql_);
    mysql_ = nullptr;
  }

 private:
  [[noreturn]] void fail() {
    unsigned int err = mysql_errno(mysql_);
    std::string msg = mysql_error(mysql_);
    // Client errors (CR_*, 2000-2999): the connection is gone or unusable.
    bool client = err >= 2000 && err < 3000;
    if (client) MariaDbConnection::close();
    throw SqlError(client ? SqlError::Kind::kConnection : SqlError::Kind::kServer,
                   std::to_string(err), msg);
  }

  std::string host_;
  MYSQL* mysql_ = nullptr;
  int64_t affected_ = 0;
};

}  // namespace

std::unique_ptr<sql::Connection> connect_mariadb(const std::string& host,
                                                 const MariaDbOptions& options,
                                                 std::chrono::milliseconds timeout) {
  return std::make_unique<MariaDbConnection>(host, options, timeout);
}

sql::Connector mariadb_connector(MariaDbOptions options) {
  return [options](const ClientContext& ctx) -> std::unique_ptr<sql::Connection> {
    std::string host = ctx.node;
    if (ctx.db) {
      auto it = ctx.db->hosts.find(ctx.node);
      if (it != ctx.db->hosts.end()) host = it->second;
    }
    return connect_mariadb(host, options,
                           std::chrono::duration_cast<std::chrono::milliseconds>(ctx.op_timeout));
  };
}

}  // namespace faultline::sql
