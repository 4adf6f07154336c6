// The SQL vocabularies against a scripted connection: which statements each op sends, and how
// server errors, lost connections and refusals become ok / fail / info (docs/workloads.md).
#include <algorithm>
#include <catch2/catch.hpp>
#include <deque>
#include <functional>

#include "clusters/sql/sql.h"

using namespace faultline;
using namespace faultline::sql;

namespace {

// Answers each statement with the first matching rule (substring -> rows or error); records
// every statement. Statements without a rule return no rows, affected rows 1.
struct Script {
  struct Rule {
    std::string contains;
    std::vector<Row> rows;
    std::optional<SqlError> error;
    int64_t affected = 1;
    int times = -1;  // -1: always
    Rule(std::string c, std::vector<Row> r = {}, std::optional<SqlError> e = std::nullopt,
         int64_t a = 1, int t = -1)
        : contains(std::move(c)), rows(std::move(r)), error(std::move(e)), affected(a), times(t) {}
  };
  std::vector<Rule> rules;
  std::vector<std::string> sent;
  Dialect dialect = Dialect::kMySql;
  int connects = 0;
};

class FakeConnection : public Connection {
 public:
  explicit FakeConnection(Script& s) : s_(s) {}
  Dialect dialect() const override { return s_.dialect; }
  std::vector<Row> query(const std::string& st) override {
    s_.sent.push_back(st);
    for (auto& r : s_.rules) {
      if (r.times == 0 || st.find(r.contains) == std::string::npos) continue;
      if (r.times > 0) --r.times;
      affected_ = r.affected;
      if (r.error) throw *r.error;
      return r.rows;
    }
    affected_ = 1;
    return {};
  }
  int64_t affected_rows() const override { return affected_; }
  void close() noexcept override {}

 private:
  Script& s_;
  int64_t affected_ = 0;
};

std::unique_ptr<Client> client(Script& s, const std::string& vocabulary,
                               Json params = Json::object(), ClientOptions o = {}) {
  auto c = make_client(
      vocabulary,
      [&s](const ClientContext&) -> std::unique_ptr<Connection> {
        ++s.connects;
        return std::make_unique<FakeConnection>(s);
      },
      o);
  REQUIRE(c);
  ClientContext ctx;
  ctx.node = "n1";
  ctx.params = std::move(params);
  c->open(ctx);
  return c;
}

Op op(const std::string& f, Json value) {
  Op o;
  o.f = f;
  o.value = std::move(value);
  return o;
}

auto far() { return std::chrono::steady_clock::now() + std::chrono::seconds(10); }

SqlError server(const std::string& code) {
  return SqlError(SqlError::Kind::kServer, code, "refused");
}
SqlError lost() { return SqlError(SqlError::Kind::kConnection, "2013", "Lost connection"); }

}  // namespace

TEST_CASE("sql: register read, write and cas send one transaction each", "[sql]") {
  Script s;
  s.rules.push_back({"SELECT v FROM fl_register WHERE k = 3", {Row{std::string("4")}}});
  auto c = client(s, "register");
  Completion r = c->invoke(op("read", Json::array({3, nullptr})), far());
  CHECK(r.type == OpType::kOk);
  CHECK(r.value == Json::array({3, 4}));
  CHECK(s.sent ==
        std::vector<std::string>{"BEGIN", "SELECT v FROM fl_register WHERE k = 3", "COMMIT"});

  s.sent.clear();
  Completion w = c->invoke(op("write", Json::array({3, 5})), far());
  CHECK(w.type == OpType::kOk);
  REQUIRE(s.sent.size() == 3);
  CHECK(s.sent[1] ==
        "INSERT INTO fl_register (k, v) VALUES (3, 5) ON DUPLICATE KEY UPDATE v = VALUES(v)");

  s.rules.push_back({"UPDATE fl_register", {}, std::nullopt, 0});
  s.sent.clear();
  Completion cas = c->invoke(op("cas", Json::array({3, Json::array({1, 2})})), far());
  CHECK(cas.type == OpType::kFail);
  CHECK(cas.error == "mismatch");
  CHECK(s.sent.back() == "ROLLBACK");
}

TEST_CASE("sql: PostgreSQL dialect upserts with ON CONFLICT", "[sql]") {
  Script s;
  s.dialect = Dialect::kPostgres;
  auto c = client(s, "list-append");
  Completion t = c->invoke(op("txn", Json::parse(R"([["append", 1, 7], ["r", 1, null]])")), far());
  CHECK(t.type == OpType::kOk);
  CHECK(s.sent[1] ==
        "INSERT INTO fl_append (k, v) VALUES (1, '7') ON CONFLICT (k) DO UPDATE SET v = "
        "fl_append.v || ',7'");
}

TEST_CASE("sql: list-append reads parse the stored list", "[sql]") {
  Script s;
  s.rules.push_back({"SELECT v FROM fl_append WHERE k = 2", {Row{std::string("1,5,9")}}});
  auto c = client(s, "list-append");
  Completion t = c->invoke(op("txn", Json::parse(R"([["r", 2, null], ["r", 3, null]])")), far());
  REQUIRE(t.type == OpType::kOk);
  CHECK(t.value == Json::parse(R"([["r", 2, [1, 5, 9]], ["r", 3, []]])"));
}

TEST_CASE("sql: outcomes of server errors and lost connections", "[sql]") {
  SECTION("a certification failure at COMMIT is fail") {
    Script s;
    s.rules.push_back({"COMMIT", {}, server("1213")});
    auto c = client(s, "rw-register");
    Completion t = c->invoke(op("txn", Json::parse(R"([["w", 1, 1]])")), far());
    CHECK(t.type == OpType::kFail);
    CHECK(t.error.get<std::string>().rfind("1213", 0) == 0);
  }
  SECTION("a lost connection during COMMIT of a write is info") {
    Script s;
    s.rules.push_back({"COMMIT", {}, lost()});
    auto c = client(s, "rw-register");
    Completion t = c->invoke(op("txn", Json::parse(R"([["w", 1, 1]])")), far());
    CHECK(t.type == OpType::kInfo);
  }
  SECTION("a lost connection before COMMIT is fail, and the next op reconnects") {
    Script s;
    s.rules.push_back({"INSERT", {}, lost(), 1, 1});
    auto c = client(s, "rw-register");
    Completion t = c->invoke(op("txn", Json::parse(R"([["w", 1, 1]])")), far());
    CHECK(t.type == OpType::kFail);
    CHECK(s.connects == 1);
    Completion again = c->invoke(op("txn", Json::parse(R"([["w", 1, 2]])")), far());
    CHECK(again.type == OpType::kOk);
    CHECK(s.connects == 2);
  }
  SECTION("a read-only op losing COMMIT is fail, never info") {
    Script s;
    s.rules.push_back({"COMMIT", {}, lost()});
    auto c = client(s, "set");
    CHECK(c->invoke(op("read", nullptr), far()).type == OpType::kFail);
  }
  SECTION("retry codes rerun the transaction") {
    Script s;
    s.dialect = Dialect::kPostgres;
    s.rules.push_back({"COMMIT", {}, server("40001"), 1, 2});
    ClientOptions o;
    o.retry_codes = {"40001"};
    o.retry_limit = 3;
    auto c = client(s, "register", Json::object(), o);
    CHECK(c->invoke(op("write", Json::array({1, 1})), far()).type == OpType::kOk);
  }
}

// Issue 13 item 7: on Galera under partition + kill, a transaction whose COMMIT got 1180 ("Got
// error 6 during COMMIT": the node left the primary component after sending the write set) was
// recorded fail while other nodes showed its append; Faultline reported G1a and dirty updates
// Galera did not commit.
TEST_CASE("sql: an error in answer to COMMIT is info unless the server says it rolled back",
          "[sql][regression]") {
  auto txn = [](Client& c) {
    return c.invoke(op("txn", Json::parse(R"([["append", 1, 7]])")), far());
  };
  SECTION("Galera 1180 at COMMIT of a write is info") {
    Script s;
    s.rules.push_back({"COMMIT", {}, server("1180")});
    auto c = client(s, "list-append");
    Completion t = txn(*c);
    CHECK(t.type == OpType::kInfo);
    CHECK(t.error.get<std::string>().rfind("1180", 0) == 0);
  }
  SECTION("MySQL codes at COMMIT: 1213 and 3101 are fail; 1047, 1205, 1317, 3100 are info") {
    for (const char* code : {"1213", "3101", "1047", "1205", "1317", "3100"}) {
      INFO(code);
      Script s;
      s.rules.push_back({"COMMIT", {}, server(code)});
      auto c = client(s, "list-append");
      const bool rolled_back = std::string(code) == "1213" || std::string(code) == "3101";
      CHECK(txn(*c).type == (rolled_back ? OpType::kFail : OpType::kInfo));
    }
  }
  SECTION("PostgreSQL codes at COMMIT: class 40 is fail, except 40003; others are info") {
    for (const char* code : {"40001", "40P01", "40000", "40002", "40003", "57014", "57P01", ""}) {
      Script s;
      s.dialect = Dialect::kPostgres;
      s.rules.push_back({"COMMIT", {}, server(code)});
      auto c = client(s, "rw-register");
      std::string k = code;
      bool rolled_back = k == "40001" || k == "40P01" || k == "40000" || k == "40002";
      Completion t = c->invoke(op("txn", Json::parse(R"([["w", 1, 1]])")), far());
      CHECK(t.type == (rolled_back ? OpType::kFail : OpType::kInfo));
    }
  }
  SECTION("a server error before COMMIT is fail (1047, 1180 alike): it rolls back") {
    for (const char* code : {"1047", "1180"}) {
      Script s;
      s.rules.push_back({"INSERT", {}, server(code)});
      auto c = client(s, "list-append");
      CHECK(txn(*c).type == OpType::kFail);
      CHECK(s.sent.back() == "ROLLBACK");
    }
  }
  SECTION("a read-only op with a server error at COMMIT is fail") {
    Script s;
    s.rules.push_back({"COMMIT", {}, server("1180")});
    auto c = client(s, "set");
    CHECK(c->invoke(op("read", nullptr), far()).type == OpType::kFail);
  }
  SECTION("every write vocabulary: 1180 at COMMIT is info") {
    std::vector<std::pair<std::string, Op>> ops = {
        {"register", op("write", Json::array({1, 2}))},
        {"register", op("cas", Json::array({1, Json::array({1, 2})}))},
        {"bank", op("transfer", Json{{"from", 0}, {"to", 1}, {"amount", 1}})},
        {"rw-register", op("txn", Json::parse(R"([["r", 1, null], ["w", 1, 3]])"))},
        {"set", op("add", 5)},
        {"counter", op("increment", Json{{"key", 0}, {"id", "x"}})},
        {"lww", op("write", Json::array({1, 2}))},
        {"unique-ids", op("generate", nullptr)}};
    for (const auto& [vocabulary, o] : ops) {
      Script s;
      s.rules.push_back({"COMMIT", {}, server("1180")});
      s.rules.push_back({"SELECT", {Row{std::string("5")}}});
      auto c = client(s, vocabulary, Json{{"negative-balances", true}});
      INFO(vocabulary << " " << o.f);
      CHECK(c->invoke(o, far()).type == OpType::kInfo);
    }
  }
  SECTION("a retry code at COMMIT is retried only when it rolled back") {
    Script s;
    s.rules.push_back({"COMMIT", {}, server("1180"), 1, 1});
    ClientOptions o;
    o.retry_codes = {"1180", "1213"};
    o.retry_limit = 3;
    auto c = client(s, "register", Json::object(), o);
    CHECK(c->invoke(op("write", Json::array({1, 1})), far()).type == OpType::kInfo);
    CHECK(std::count(s.sent.begin(), s.sent.end(), "COMMIT") == 1);
    s.rules.push_back({"COMMIT", {}, server("1213"), 1, 1});
    CHECK(c->invoke(op("write", Json::array({1, 1})), far()).type == OpType::kOk);
    CHECK(std::count(s.sent.begin(), s.sent.end(), "COMMIT") == 3);
  }
  SECTION("with retry idempotent, a rolled-back second attempt keeps the first's info") {
    Script s;
    s.rules.push_back({"COMMIT", {}, server("1180"), 1, 1});
    s.rules.push_back({"COMMIT", {}, server("1213"), 1, 1});
    auto c = client(s, "register", Json{{"retry", "idempotent"}});
    Completion w = c->invoke(op("write", Json::array({1, 1})), far());
    CHECK(w.type == OpType::kInfo);
    CHECK(w.error.get<std::string>().rfind("1180", 0) == 0);
  }
}

TEST_CASE("sql: no transaction is left open for a later BEGIN to commit", "[sql]") {
  SECTION("a failed ROLLBACK drops the connection") {
    Script s;
    s.rules.push_back({"INSERT", {}, server("1047"), 1, 1});
    s.rules.push_back({"ROLLBACK", {}, server("1047"), 1, 1});
    auto c = client(s, "list-append");
    CHECK(c->invoke(op("txn", Json::parse(R"([["append", 1, 7]])")), far()).type == OpType::kFail);
    CHECK(s.connects == 1);
    CHECK(c->invoke(op("txn", Json::parse(R"([["append", 1, 8]])")), far()).type == OpType::kOk);
    CHECK(s.connects == 2);
  }
  SECTION("a bad micro-op after a write rolls the write back") {
    Script s;
    auto c = client(s, "list-append");
    Completion t = c->invoke(op("txn", Json::parse(R"([["append", 1, 7], ["w", 1, 2]])")), far());
    CHECK(t.type == OpType::kFail);
    CHECK(s.sent.back() == "ROLLBACK");
  }
}

TEST_CASE("sql: set add treats a duplicate key as present", "[sql]") {
  Script s;
  s.rules.push_back({"INSERT INTO fl_set", {}, server("1062")});
  auto c = client(s, "set");
  Completion a = c->invoke(op("add", 5), far());
  CHECK(a.type == OpType::kOk);
}

TEST_CASE("sql: bank transfer reads, refuses overdrafts, writes computed balances", "[sql]") {
  Script s;
  s.rules.push_back({"WHERE id = 0", {Row{std::string("10")}}});
  s.rules.push_back({"WHERE id = 1", {Row{std::string("3")}}});
  auto c = client(s, "bank", Json{{"negative-balances", false}});
  Completion ok = c->invoke(op("transfer", Json{{"from", 0}, {"to", 1}, {"amount", 4}}), far());
  CHECK(ok.type == OpType::kOk);
  CHECK(std::find(s.sent.begin(), s.sent.end(), "UPDATE fl_bank SET balance = 6 WHERE id = 0") !=
        s.sent.end());
  CHECK(std::find(s.sent.begin(), s.sent.end(), "UPDATE fl_bank SET balance = 7 WHERE id = 1") !=
        s.sent.end());
  Completion over = c->invoke(op("transfer", Json{{"from", 1}, {"to", 0}, {"amount", 5}}), far());
  CHECK(over.type == OpType::kFail);
  CHECK(over.error == "insufficient-funds");
}

TEST_CASE("sql: counter increments read-modify-write and retry idempotently", "[sql]") {
  SECTION("plain increment writes read + 1") {
    Script s;
    s.rules.push_back({"SELECT v FROM fl_counter WHERE k = 0", {Row{std::string("41")}}});
    auto c = client(s, "counter", Json::object(), ClientOptions{true, {}, 0, "BEGIN", ""});
    Completion i = c->invoke(op("increment", Json{{"key", 0}, {"id", "p1-7"}}), far());
    REQUIRE(i.type == OpType::kOk);
    CHECK(i.value["read"] == 41);
    CHECK(i.value["wrote"] == 42);
    CHECK(s.sent[1] == "SELECT v FROM fl_counter WHERE k = 0 FOR UPDATE");
    CHECK(s.sent[2] == "UPDATE fl_counter SET v = 42 WHERE k = 0");
  }
  SECTION("a lost COMMIT with retry idempotent finds its id and answers ok") {
    Script s;
    s.rules.push_back({"SELECT v FROM fl_counter", {Row{std::string("1")}}});
    s.rules.push_back({"COMMIT", {}, lost(), 1, 1});
    s.rules.push_back({"SELECT id FROM fl_applied", {Row{std::string("p1-8")}}});
    auto c = client(s, "counter", Json{{"retry", "idempotent"}});
    Completion i = c->invoke(op("increment", Json{{"key", 0}, {"id", "p1-8"}}), far());
    REQUIRE(i.type == OpType::kOk);
    CHECK(i.value["retried"] == true);
    CHECK(std::find(s.sent.begin(), s.sent.end(), "INSERT INTO fl_applied (id) VALUES ('p1-8')") !=
          s.sent.end());
  }
  SECTION("without retry a lost COMMIT is info") {
    Script s;
    s.rules.push_back({"SELECT v FROM fl_counter", {Row{std::string("1")}}});
    s.rules.push_back({"COMMIT", {}, lost()});
    auto c = client(s, "counter");
    CHECK(c->invoke(op("increment", Json{{"key", 0}, {"id", "x"}}), far()).type == OpType::kInfo);
  }
}

TEST_CASE("sql: schema and initial rows", "[sql]") {
  auto bank =
      initial_rows("bank", Dialect::kPostgres, Json{{"accounts", {0, 1, 2}}, {"total", 10}});
  REQUIRE(bank.size() == 3);
  CHECK(bank[0].find("VALUES (0, 4)") != std::string::npos);  // 3 + remainder 1
  CHECK(bank[1].find("VALUES (1, 3)") != std::string::npos);
  auto seq = schema_statements("unique-ids", Dialect::kPostgres,
                               Json{{"node-index", 2}, {"node-count", 3}});
  CHECK(seq[0] == "CREATE SEQUENCE IF NOT EXISTS fl_ids_seq START WITH 2 INCREMENT BY 3");
  CHECK(make_client("no-such", nullptr, {}) == nullptr);
  for (const auto& v : vocabularies()) CHECK_FALSE(tables(v).empty());
}
