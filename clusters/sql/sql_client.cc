// The workload vocabularies over SQL (docs/workloads.md), once for every SQL database.
//
// Each op is one transaction: `begin`, the vocabulary's statements, COMMIT. Outcomes follow
// sql.h: any error before COMMIT was sent is `fail` (the transaction is rolled back, or dies
// with its connection); an error in answer to COMMIT is `info` for ops that write, unless the
// server's code says the transaction was rolled back (rolled_back_at_commit); a logical
// refusal (cas mismatch, insufficient funds) rolls back and is `fail` with its reason.
// Read-modify-write ops read first and write the value computed by the client (never
// `v = v + 1`), so a database that loses updates shows it in the history.
#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <thread>

#include "clusters/sql/sql.h"
#include "harness/db.h"
#include "harness/errors.h"

namespace faultline::sql {
namespace {

using Clock = std::chrono::steady_clock;

// A refusal decided by the client (cas mismatch, insufficient funds): roll back, answer fail.
struct Refused {
  std::string reason;
};

// Whether an error in answer to COMMIT means the transaction was rolled back (so a write is
// fail, and may be retried), per the server's documentation; any other error leaves the outcome
// unknown.
//   MySQL / MariaDB: 1213 ER_LOCK_DEADLOCK, which InnoDB answers after rolling back the whole
//     transaction, and Galera for a certification failure or a brute-force abort (certification
//     is deterministic: no node commits a write set that failed it); 3101
//     ER_TRANSACTION_ROLLBACK_DURING_COMMIT, MySQL Group Replication's certification failure
//     ("Plugin instructed the server to rollback the current transaction"). Not 3100
//     ER_RUN_HOOK_ERROR (a member that lost its majority while the transaction was being
//     delivered to the group). Not 1180
//     ER_ERROR_DURING_COMMIT (Galera: "Got error 6 during COMMIT", the node left the primary
//     component after sending the write set), 1047 (not primary), 1205 (a lock wait timeout
//     rolls back only the statement), 1317 (interrupted).
//   PostgreSQL: SQLSTATE class 40 "transaction rollback" (40000, 40001 serialization failure,
//     40002 integrity constraint violation, 40P01 deadlock), except 40003
//     statement_completion_unknown. Not 57014 (statement timeout), 57P01 (shutdown), ...
bool rolled_back_at_commit(Dialect dialect, const std::string& code) {
  if (dialect == Dialect::kMySql) return code == "1213" || code == "3101";
  return code == "40000" || code == "40001" || code == "40002" || code == "40P01";
}

int64_t integer(const Json& j, const char* what) {
  if (!j.is_number_integer()) {
    throw ConfigError(std::string("expected an integer ") + what + ", found " + j.dump());
  }
  return j.get<int64_t>();
}

std::string num(int64_t v) { return std::to_string(v); }

// Idempotency ids go into SQL text: letters, digits, '-', '_', '.', ':' only.
std::string safe_id(const Json& j) {
  std::string s = j.is_string() ? j.get<std::string>() : j.dump();
  if (s.empty() || s.size() > 64) throw ConfigError("bad op id " + s);
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == ':')) {
      throw ConfigError("op id " + s + " has characters other than [A-Za-z0-9._:-]");
    }
  }
  return s;
}

Json int_or_null(const std::optional<std::string>& cell) {
  if (!cell) return nullptr;
  return static_cast<int64_t>(std::stoll(*cell));
}

Json parse_list(const std::optional<std::string>& cell) {
  Json out = Json::array();
  if (!cell || cell->empty()) return out;
  std::stringstream ss(*cell);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(static_cast<int64_t>(std::stoll(item)));
  }
  return out;
}

class SqlClient : public Client {
 public:
  SqlClient(std::string vocabulary, Connector connect, ClientOptions options)
      : vocabulary_(std::move(vocabulary)),
        connect_(std::move(connect)),
        options_(std::move(options)) {}

  void open(const ClientContext& ctx) override {
    ctx_ = ctx;
    retry_ = ctx.params.value("retry", std::string("none")) == "idempotent";
    conn_ = connect_(ctx_);
  }

  void close() noexcept override {
    if (conn_) conn_->close();
    conn_.reset();
  }

  Completion invoke(const Op& op, Clock::time_point deadline) override {
    sent_ = Json::array();
    Completion c = invoke_op(op, deadline);
    if (!sent_.empty()) c.statements = std::move(sent_);
    return c;
  }

 private:
  Completion invoke_op(const Op& op, Clock::time_point deadline) {
    try {
      if (!options_.before_final_read.empty() && op.extra.is_object() &&
          op.extra.value("final", false)) {
        try {
          if (!conn_) reconnect();
          q(options_.before_final_read);
        } catch (const SqlError& e) {
          if (e.kind() == SqlError::Kind::kConnection && conn_) {
            conn_->close();
            conn_.reset();
          }
          return Completion::fail(e.what());
        }
      }
      return dispatch(op, deadline);
    } catch (const std::invalid_argument& e) {
      return Completion::fail(std::string("bad op: ") + e.what());
    } catch (const std::out_of_range& e) {
      return Completion::fail(std::string("bad op: ") + e.what());
    } catch (const Json::exception& e) {
      return Completion::fail(std::string("bad op: ") + e.what());
    }
  }

  Dialect dialect() const { return conn_ ? conn_->dialect() : dialect_; }

  // Runs a statement and records it for the op's completion ("sql"): at most kMaxStatements,
  // each cut at kMaxStatementChars; a failed one ends in " -- error: <what>".
  static constexpr size_t kMaxStatements = 64;
  static constexpr size_t kMaxStatementChars = 400;
  std::vector<Row> q(const std::string& statement) {
    const bool record = sent_.size() < kMaxStatements;
    if (record) {
      sent_.push_back(statement.size() > kMaxStatementChars
                          ? statement.substr(0, kMaxStatementChars) + "..."
                          : statement);
    }
    try {
      return conn_->query(statement);
    } catch (const SqlError& e) {
      if (record) {
        std::string last = sent_.back().get<std::string>();
        last += " -- error: ";
        last += e.what();
        sent_.back() = std::move(last);
      }
      throw;
    }
  }

  void reconnect() {
    if (conn_) conn_->close();
    conn_.reset();
    conn_ = connect_(ctx_);
    dialect_ = conn_->dialect();
  }

  // Runs body in one transaction. writes: whether an unknown COMMIT outcome is info (a
  // read-only op that did not complete is fail whatever happened).
  //
  // An error in answer to COMMIT leaves the outcome unknown unless the server says the
  // transaction was rolled back (rolled_back_at_commit): a lost connection, a timeout, and
  // also a server error such as Galera's 1180 "Got error 6 during COMMIT" (its write set may
  // already be delivered to, and committed by, the primary component). Before COMMIT any error
  // is fail: the open transaction is rolled back, explicitly or with its connection.
  Completion transaction(bool writes, const std::function<Json()>& body) {
    for (int attempt = 0;; ++attempt) {
      bool commit_sent = false;
      try {
        if (!conn_) reconnect();
        dialect_ = conn_->dialect();
        q(options_.begin);
        Json value = body();
        commit_sent = true;
        q("COMMIT");
        return Completion::ok(std::move(value));
      } catch (const Refused& r) {
        rollback();
        return Completion::fail(r.reason);
      } catch (const SqlError& e) {
        bool connection = e.kind() == SqlError::Kind::kConnection;
        bool rolled_back =
            !commit_sent || (!connection && rolled_back_at_commit(dialect(), e.code()));
        if (connection) {
          if (conn_) conn_->close();
          conn_.reset();
        } else {
          rollback();
        }
        if (!rolled_back) {
          if (writes) return Completion::info(e.what());
          return Completion::fail(e.what());
        }
        if (connection) return Completion::fail(e.what());
        bool retryable = std::find(options_.retry_codes.begin(), options_.retry_codes.end(),
                                   e.code()) != options_.retry_codes.end();
        if (retryable && attempt < options_.retry_limit) continue;
        return Completion::fail(e.what());
      } catch (...) {
        // A bad op or answer (std::invalid_argument, Json): never leave the transaction open
        // (MySQL's next BEGIN would commit it).
        rollback();
        throw;
      }
    }
  }

  // Ends the open transaction; when ROLLBACK itself fails, drops the connection instead, so
  // no later statement can commit what it left (MySQL's BEGIN commits an open transaction).
  void rollback() {
    if (!conn_) return;
    try {
      q("ROLLBACK");
    } catch (const SqlError&) {
      if (conn_) conn_->close();
      conn_.reset();
    }
  }

  std::string for_update() const { return options_.select_for_update ? " FOR UPDATE" : ""; }

  // INSERT ... (k, cols) VALUES (...), replacing the row's cols when k exists.
  std::string upsert_row(const std::string& table, const std::string& key_col,
                         const std::string& key,
                         const std::vector<std::pair<std::string, std::string>>& cols) {
    std::string names = key_col, values = key, sets;
    for (const auto& [c, v] : cols) {
      names += ", " + c;
      values += ", " + v;
      if (!sets.empty()) sets += ", ";
      sets += dialect() == Dialect::kMySql ? c + " = VALUES(" + c + ")" : c + " = EXCLUDED." + c;
    }
    std::string s = "INSERT INTO " + table + " (" + names + ") VALUES (" + values + ")";
    if (dialect() == Dialect::kMySql) return s + " ON DUPLICATE KEY UPDATE " + sets;
    return s + " ON CONFLICT (" + key_col + ") DO UPDATE SET " + sets;
  }

  std::optional<std::string> select_one(const std::string& statement) {
    auto rows = q(statement);
    if (rows.empty() || rows[0].empty()) return std::nullopt;
    return rows[0][0];
  }

  // A write whose COMMIT reply was lost, retried once when --retry idempotent (blind writes
  // are idempotent: writing the same value again changes nothing).
  Completion blind_write(const std::function<Json()>& body, Clock::time_point deadline) {
    Completion c = transaction(true, body);
    if (c.type == OpType::kInfo && retry_ && Clock::now() < deadline) {
      Completion again = transaction(true, body);
      if (again.type == OpType::kOk) {
        again.value = Json{{"value", again.value}, {"retried", true}};
        return again;
      }
      if (again.type == OpType::kFail) return c;  // the first may still have taken effect
      return again;
    }
    return c;
  }

  Completion dispatch(const Op& op, Clock::time_point deadline) {
    const std::string& f = op.f;
    const Json& v = op.value;
    if (vocabulary_ == "register") {
      int64_t k = integer(v.at(0), "key");
      if (f == "read") {
        return transaction(false, [&] {
          return Json::array(
              {k, int_or_null(select_one("SELECT v FROM fl_register WHERE k = " + num(k)))});
        });
      }
      if (f == "write") {
        int64_t x = integer(v.at(1), "value");
        auto body = [&] {
          q(upsert_row("fl_register", "k", num(k), {{"v", num(x)}}));
          return v;
        };
        Completion c = blind_write(body, deadline);
        if (c.type == OpType::kOk) c.value = v;
        return c;
      }
      if (f == "cas") {
        int64_t from = integer(v.at(1).at(0), "old value");
        int64_t to = integer(v.at(1).at(1), "new value");
        return transaction(true, [&]() -> Json {
          q("UPDATE fl_register SET v = " + num(to) + " WHERE k = " + num(k) +
            " AND v = " + num(from));
          if (conn_->affected_rows() != 1) throw Refused{"mismatch"};
          return v;
        });
      }
    } else if (vocabulary_ == "bank") {
      if (f == "read") {
        return transaction(false, [&] {
          Json out = Json::object();
          for (const auto& row : q("SELECT id, balance FROM fl_bank ORDER BY id")) {
            out[row.at(0).value_or("?")] = int_or_null(row.at(1));
          }
          return out;
        });
      }
      if (f == "transfer") {
        int64_t from = integer(v.at("from"), "from"), to = integer(v.at("to"), "to");
        int64_t amount = integer(v.at("amount"), "amount");
        bool negative = ctx_.params.value("negative-balances", false);
        return transaction(true, [&]() -> Json {
          auto a = select_one("SELECT balance FROM fl_bank WHERE id = " + num(from) + for_update());
          auto b = select_one("SELECT balance FROM fl_bank WHERE id = " + num(to) + for_update());
          if (!a || !b) throw Refused{"no such account"};
          int64_t ba = std::stoll(*a) - amount, bb = std::stoll(*b) + amount;
          if (ba < 0 && !negative) throw Refused{"insufficient-funds"};
          q("UPDATE fl_bank SET balance = " + num(ba) + " WHERE id = " + num(from));
          q("UPDATE fl_bank SET balance = " + num(bb) + " WHERE id = " + num(to));
          return v;
        });
      }
    } else if (vocabulary_ == "list-append" || vocabulary_ == "rw-register") {
      if (f == "txn") {
        bool append = vocabulary_ == "list-append";
        bool writes = false;
        for (const auto& m : v) writes = writes || m.at(0) != "r";
        return transaction(writes, [&] {
          Json out = Json::array();
          for (const auto& m : v) {
            std::string mf = m.at(0).get<std::string>();
            int64_t k = integer(m.at(1), "key");
            if (mf == "r") {
              auto cell = select_one(std::string("SELECT v FROM ") +
                                     (append ? "fl_append" : "fl_rw") + " WHERE k = " + num(k));
              out.push_back(Json::array({"r", k, append ? parse_list(cell) : int_or_null(cell)}));
            } else if (mf == "append" && append) {
              int64_t x = integer(m.at(2), "element");
              std::string s =
                  "INSERT INTO fl_append (k, v) VALUES (" + num(k) + ", '" + num(x) + "')";
              if (dialect() == Dialect::kMySql) {
                s += " ON DUPLICATE KEY UPDATE v = CONCAT(v, '," + num(x) + "')";
              } else {
                s += " ON CONFLICT (k) DO UPDATE SET v = fl_append.v || '," + num(x) + "'";
              }
              q(s);
              out.push_back(m);
            } else if (mf == "w" && !append) {
              q(upsert_row("fl_rw", "k", num(k), {{"v", num(integer(m.at(2), "value"))}}));
              out.push_back(m);
            } else {
              throw ConfigError("micro-op " + m.dump() + " is not part of " + vocabulary_);
            }
          }
          return out;
        });
      }
    } else if (vocabulary_ == "set") {
      if (f == "read") {
        return transaction(false, [&] {
          Json out = Json::array();
          for (const auto& row : q("SELECT v FROM fl_set ORDER BY v"))
            out.push_back(int_or_null(row.at(0)));
          return out;
        });
      }
      if (f == "add") {
        int64_t x = integer(v, "element");
        auto attempt = [&] {
          Completion c = transaction(true, [&] {
            q("INSERT INTO fl_set (v) VALUES (" + num(x) + ")");
            return v;
          });
          // A duplicate key means the element is there (a retried add): ok.
          if (c.type == OpType::kFail && is_duplicate(c)) return Completion::ok(v);
          return c;
        };
        Completion c = attempt();
        if (c.type == OpType::kInfo && retry_ && Clock::now() < deadline) {
          Completion again = attempt();
          if (again.type == OpType::kOk) return again;
        }
        return c;
      }
    } else if (vocabulary_ == "counter") {
      if (f == "read") {
        int64_t k = integer(v.at("key"), "key");
        return transaction(false, [&] {
          return Json{
              {"key", k},
              {"value", int_or_null(select_one("SELECT v FROM fl_counter WHERE k = " + num(k)))}};
        });
      }
      if (f == "read-all") {
        return transaction(false, [&] {
          Json out = Json::object();
          for (const auto& row : q("SELECT k, v FROM fl_counter ORDER BY k")) {
            out[row.at(0).value_or("?")] = int_or_null(row.at(1));
          }
          return out;
        });
      }
      if (f == "increment") return increment(v, deadline);
    } else if (vocabulary_ == "lww") {
      if (f == "write") {
        int64_t k = integer(v.at(0), "key"), x = integer(v.at(1), "value");
        auto body = [&] {
          q(upsert_row("fl_lww", "k", num(k),
                       {{"v", num(x)}, {"node", "'" + safe_id(ctx_.node) + "'"}}));
          return v;
        };
        Completion c = blind_write(body, deadline);
        if (c.type == OpType::kOk) c.value = v;
        return c;
      }
      if (f == "read") {
        int64_t k = integer(v.at(0), "key");
        return transaction(false, [&] {
          return Json::array(
              {k, int_or_null(select_one("SELECT v FROM fl_lww WHERE k = " + num(k)))});
        });
      }
      if (f == "read-all") {
        return transaction(false, [&] {
          Json out = Json::object();
          for (const auto& row : q("SELECT k, v FROM fl_lww ORDER BY k")) {
            out[row.at(0).value_or("?")] = int_or_null(row.at(1));
          }
          return out;
        });
      }
    } else if (vocabulary_ == "unique-ids") {
      if (f == "generate") {
        return transaction(true, [&]() -> Json {
          if (dialect() == Dialect::kMySql) {
            q("INSERT INTO fl_ids () VALUES ()");
            return int_or_null(select_one("SELECT LAST_INSERT_ID()"));
          }
          return int_or_null(select_one("INSERT INTO fl_ids DEFAULT VALUES RETURNING id"));
        });
      }
    }
    return Completion::fail("unknown op '" + f + "' for vocabulary " + vocabulary_);
  }

  Completion increment(const Json& v, Clock::time_point deadline) {
    int64_t k = integer(v.at("key"), "key");
    std::string id = retry_ ? safe_id(v.at("id")) : "";
    auto body = [&]() -> Json {
      auto r = select_one("SELECT v FROM fl_counter WHERE k = " + num(k) + for_update());
      if (!r) throw Refused{"no such key"};
      int64_t read = std::stoll(*r);
      q("UPDATE fl_counter SET v = " + num(read + 1) + " WHERE k = " + num(k));
      if (retry_) q("INSERT INTO fl_applied (id) VALUES ('" + id + "')");
      Json out = v;
      out["read"] = read;
      out["wrote"] = read + 1;
      return out;
    };
    Completion c = transaction(true, body);
    if (c.type != OpType::kInfo || !retry_) return c;
    // The reply to COMMIT was lost: did it commit? Look the id up, on a fresh connection,
    // until the op's deadline; run the increment once more only if it certainly did not.
    while (Clock::now() < deadline) {
      try {
        reconnect();
        auto seen = select_one("SELECT id FROM fl_applied WHERE id = '" + id + "'");
        if (seen) {
          Json out = v;
          out["read"] = nullptr;
          out["wrote"] = nullptr;
          out["retried"] = true;
          return Completion::ok(out);
        }
        Completion again = transaction(true, body);
        if (again.type == OpType::kOk) again.value["retried"] = true;
        if (again.type == OpType::kFail && is_duplicate(again)) {
          Json out = v;
          out["read"] = nullptr;
          out["wrote"] = nullptr;
          out["retried"] = true;
          return Completion::ok(out);
        }
        return again.type == OpType::kFail ? c : again;
      } catch (const SqlError& e) {
        if (conn_) conn_->close();
        conn_.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    return c;
  }

  // A fail whose error is a duplicate-key violation (MySQL 1062, PostgreSQL 23505).
  static bool is_duplicate(const Completion& c) {
    if (!c.error.is_string()) return false;
    const std::string e = c.error.get<std::string>();
    return e.rfind("1062:", 0) == 0 || e.rfind("23505:", 0) == 0;
  }

  std::string vocabulary_;
  Connector connect_;
  ClientOptions options_;
  ClientContext ctx_;
  bool retry_ = false;
  Dialect dialect_ = Dialect::kMySql;
  Json sent_ = Json::array();  // the statements of the op being run
  std::unique_ptr<Connection> conn_;
};

const std::vector<std::string> kVocabularies = {"register", "bank",    "list-append", "rw-register",
                                                "set",      "counter", "lww",         "unique-ids"};

}  // namespace

std::vector<std::string> vocabularies() { return kVocabularies; }

std::unique_ptr<Client> make_client(const std::string& vocabulary, Connector connect,
                                    ClientOptions options) {
  if (std::find(kVocabularies.begin(), kVocabularies.end(), vocabulary) == kVocabularies.end()) {
    return nullptr;
  }
  return std::make_unique<SqlClient>(vocabulary, std::move(connect), std::move(options));
}

std::vector<std::string> tables(const std::string& vocabulary) {
  static const std::map<std::string, std::vector<std::string>> t = {
      {"register", {"fl_register"}},
      {"bank", {"fl_bank"}},
      {"list-append", {"fl_append"}},
      {"rw-register", {"fl_rw"}},
      {"set", {"fl_set"}},
      {"counter", {"fl_counter", "fl_applied"}},
      {"lww", {"fl_lww"}},
      {"unique-ids", {"fl_ids"}}};
  auto it = t.find(vocabulary);
  return it == t.end() ? std::vector<std::string>{} : it->second;
}

std::vector<std::string> schema_statements(const std::string& vocabulary, Dialect dialect,
                                           const Json& params) {
  const std::string c = "CREATE TABLE IF NOT EXISTS ";
  if (vocabulary == "register") return {c + "fl_register (k BIGINT PRIMARY KEY, v BIGINT)"};
  if (vocabulary == "bank") return {c + "fl_bank (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)"};
  if (vocabulary == "list-append") return {c + "fl_append (k BIGINT PRIMARY KEY, v TEXT NOT NULL)"};
  if (vocabulary == "rw-register") return {c + "fl_rw (k BIGINT PRIMARY KEY, v BIGINT)"};
  if (vocabulary == "set") return {c + "fl_set (v BIGINT PRIMARY KEY)"};
  if (vocabulary == "counter") {
    return {c + "fl_counter (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)",
            c + "fl_applied (id VARCHAR(64) PRIMARY KEY)"};
  }
  if (vocabulary == "lww") return {c + "fl_lww (k BIGINT PRIMARY KEY, v BIGINT, node VARCHAR(64))"};
  if (vocabulary == "unique-ids") {
    if (dialect == Dialect::kMySql) return {c + "fl_ids (id BIGINT AUTO_INCREMENT PRIMARY KEY)"};
    int64_t index = params.value("node-index", int64_t{1});
    int64_t count = params.value("node-count", int64_t{1});
    return {"CREATE SEQUENCE IF NOT EXISTS fl_ids_seq START WITH " + num(index) + " INCREMENT BY " +
                num(count),
            c + "fl_ids (id BIGINT PRIMARY KEY DEFAULT nextval('fl_ids_seq'))"};
  }
  return {};
}

std::vector<std::string> initial_rows(const std::string& vocabulary, Dialect dialect,
                                      const Json& params) {
  auto upsert = [dialect](const std::string& table, const std::string& key, const std::string& col,
                          int64_t k, int64_t v) {
    std::string s = "INSERT INTO " + table + " (" + key + ", " + col + ") VALUES (" + num(k) +
                    ", " + num(v) + ")";
    if (dialect == Dialect::kMySql)
      return s + " ON DUPLICATE KEY UPDATE " + col + " = VALUES(" + col + ")";
    return s + " ON CONFLICT (" + key + ") DO UPDATE SET " + col + " = EXCLUDED." + col;
  };
  std::vector<std::string> out;
  if (vocabulary == "bank") {
    std::vector<int64_t> accounts = params.value("accounts", std::vector<int64_t>{});
    int64_t total = params.value("total", int64_t{0});
    if (accounts.empty()) return out;
    int64_t n = static_cast<int64_t>(accounts.size());
    for (size_t i = 0; i < accounts.size(); ++i) {
      int64_t b = total / n + (i == 0 ? total % n : 0);
      out.push_back(upsert("fl_bank", "id", "balance", accounts[i], b));
    }
  } else if (vocabulary == "counter") {
    int64_t keys = params.value("keys", int64_t{0});
    for (int64_t k = 0; k < keys; ++k) out.push_back(upsert("fl_counter", "k", "v", k, 0));
  }
  return out;
}

}  // namespace faultline::sql
