// The in-process databases: the semantics of every vocabulary, the stale twin's misbehaviour
// per vocabulary, kill and pause capabilities, option checking.
#include "clusters/memory/memory_db.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <thread>

using namespace faultline;

namespace {

Op make(const std::string& f, Json value) {
  Op op;
  op.f = f;
  op.value = std::move(value);
  return op;
}

auto soon() { return std::chrono::steady_clock::now() + std::chrono::milliseconds(200); }

struct Opened {
  DbContext ctx;
  std::unique_ptr<Db> db;
  Opened(const std::string& name, Json options = Json::object()) {
    ctx.nodes = {"n1", "n2", "n3"};
    db = DbRegistry::get("db", name)(options);
    db->setup(ctx);
  }
  std::unique_ptr<Client> client(const std::string& node, int64_t process,
                                 const std::string& vocabulary = "register",
                                 Json params = Json::object()) {
    auto c = db->new_client(vocabulary);
    ClientContext cc;
    cc.db = &ctx;
    cc.node = node;
    cc.process = process;
    cc.params = std::move(params);
    c->open(cc);
    return c;
  }
};

}  // namespace

TEST_CASE("memory: read, write, cas", "[memory]") {
  Opened m("memory");
  auto c = m.client("n2", 0);
  CHECK(c->invoke(make("read", {1, nullptr}), soon()).value == Json::array({1, nullptr}));
  CHECK(c->invoke(make("write", {1, 3}), soon()).type == OpType::kOk);
  CHECK(c->invoke(make("read", {1, nullptr}), soon()).value == Json::array({1, 3}));
  CHECK(c->invoke(make("cas", {1, {2, 4}}), soon()).type == OpType::kFail);
  CHECK(c->invoke(make("cas", {1, {3, 4}}), soon()).type == OpType::kOk);
  CHECK(c->invoke(make("read", {1, nullptr}), soon()).value == Json::array({1, 4}));
  CHECK(c->invoke(make("read", {2, nullptr}), soon()).value == Json::array({2, nullptr}));
  CHECK(m.db->new_client("bank") != nullptr);
  CHECK(m.db->new_client("no-such-vocabulary") == nullptr);
}

TEST_CASE("memory-stale serves stale reads on every node but the first", "[memory]") {
  Opened m("memory-stale");
  auto first = m.client("n1", 0);
  auto other = m.client("n2", 1);
  first->invoke(make("write", {7, 1}), soon());
  first->invoke(make("write", {7, 2}), soon());
  int stale = 0;
  for (int i = 0; i < 100; ++i) {
    CHECK(first->invoke(make("read", {7, nullptr}), soon()).value == Json::array({7, 2}));
    stale += other->invoke(make("read", {7, nullptr}), soon()).value == Json::array({7, 1});
  }
  CHECK(stale > 20);
  CHECK(stale < 80);
}

TEST_CASE("memory: killed nodes refuse, paused nodes time out as info", "[memory]") {
  Opened m("memory");
  auto& killable = require_capability<Killable>(*m.db, "nemesis 'kill'", "can be killed");
  auto& pausable = require_capability<Pausable>(*m.db, "nemesis 'pause'", "can be paused");
  CHECK(capability<HasPrimaries>(*m.db) == nullptr);
  CHECK_THROWS_WITH(
      require_capability<HasPrimaries>(*m.db, "nemesis 'kill-primaries'", "has primaries"),
      "nemesis 'kill-primaries' needs a database that has primaries; 'memory' cannot");
  auto c = m.client("n3", 0);
  killable.kill(m.ctx, "n3");
  auto r = c->invoke(make("write", {1, 1}), soon());
  CHECK(r.type == OpType::kFail);
  killable.start(m.ctx, "n3");
  CHECK(c->invoke(make("write", {1, 1}), soon()).type == OpType::kOk);

  pausable.pause(m.ctx, "n3");
  auto t0 = std::chrono::steady_clock::now();
  auto timed_out = c->invoke(make("read", {1, nullptr}),
                             std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
  CHECK(timed_out.type == OpType::kInfo);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(50));
  // Resumed while an op waits: it completes.
  std::thread resumer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    pausable.resume(m.ctx, "n3");
  });
  auto resumed = c->invoke(make("read", {1, nullptr}),
                           std::chrono::steady_clock::now() + std::chrono::seconds(5));
  resumer.join();
  CHECK(resumed.type == OpType::kOk);
  // Teardown heals both.
  killable.kill(m.ctx, "n1");
  pausable.pause(m.ctx, "n2");
  m.db->teardown(m.ctx);
  CHECK(m.client("n1", 5)->invoke(make("read", {1, nullptr}), soon()).type == OpType::kOk);
  CHECK(m.client("n2", 6)->invoke(make("read", {1, nullptr}), soon()).type == OpType::kOk);
}

TEST_CASE("memory: options are checked", "[memory]") {
  CHECK_THROWS_WITH(DbRegistry::get("db", "memory")(Json{{"latency", 1}}),
                    Catch::Contains("db 'memory': unknown option 'latency'"));
  CHECK_THROWS_WITH(DbRegistry::get("db", "memory-stale")(Json{{"latency-us", -1}}),
                    Catch::Contains("'latency-us' must be an integer >= 0"));
  CHECK(DbRegistry::get("db", "memory")(Json{{"latency-us", 10}})->name() == "memory");
}

TEST_CASE("memory: bank transfers, insufficient funds, reads", "[memory]") {
  for (const char* name : {"memory", "memory-stale"}) {
    INFO(name);
    Opened m(name);
    Json params = {{"accounts", {0, 1, 2}}, {"total", 10}, {"negative-balances", false}};
    m.db->prepare(m.ctx, "bank", params);
    for (const char* node : {"n1", "n2"}) {
      auto c = m.client(node, 0, "bank", params);
      CHECK(c->invoke(make("read", nullptr), soon()).value == Json{{"0", 4}, {"1", 3}, {"2", 3}});
      Json t = {{"from", 0}, {"to", 1}, {"amount", 2}};
      CHECK(c->invoke(make("transfer", t), soon()).value == t);
      auto refused = c->invoke(make("transfer", {{"from", 2}, {"to", 0}, {"amount", 9}}), soon());
      CHECK(refused.type == OpType::kFail);
      CHECK(refused.error == "insufficient-funds");
      CHECK(c->invoke(make("transfer", {{"from", 1}, {"to", 0}, {"amount", 2}}), soon()).type ==
            OpType::kOk);
    }
  }
}

TEST_CASE("memory-stale: a transfer on a lagging node is visible half done", "[memory]") {
  Opened m("memory-stale");
  Json params = {{"accounts", {0, 1}}, {"total", 10}};
  m.db->prepare(m.ctx, "bank", params);
  auto lagging = m.client("n2", 0, "bank", params);
  auto reader = m.client("n1", 1, "bank", params);
  std::atomic<bool> stop{false};
  int wrong = 0;
  std::thread t([&] {
    for (int i = 0; i < 200; ++i)
      lagging->invoke(make("transfer", {{"from", i % 2}, {"to", 1 - i % 2}, {"amount", 1}}),
                      soon());
    stop = true;
  });
  while (!stop) {
    Json v = reader->invoke(make("read", nullptr), soon()).value;
    wrong += v["0"].get<int64_t>() + v["1"].get<int64_t>() != 10;
  }
  t.join();
  CHECK(wrong > 0);
}

TEST_CASE("memory: list-append and rw-register transactions", "[memory]") {
  Opened m("memory");
  auto la = m.client("n2", 0, "list-append");
  auto r = la->invoke(make("txn", {{"append", 1, 5}, {"r", 1, nullptr}, {"append", 1, 6}}), soon());
  CHECK(r.value == Json{{"append", 1, 5}, {"r", 1, {5}}, {"append", 1, 6}});
  CHECK(la->invoke(make("txn", {{"r", 1, nullptr}, {"r", 2, nullptr}}), soon()).value ==
        Json{{"r", 1, {5, 6}}, {"r", 2, Json::array()}});
  auto rw = m.client("n3", 1, "rw-register");
  CHECK(
      rw->invoke(make("txn", {{"r", 1, nullptr}, {"w", 1, 3}, {"r", 1, nullptr}}), soon()).value ==
      Json{{"r", 1, nullptr}, {"w", 1, 3}, {"r", 1, 3}});
  CHECK(rw->invoke(make("txn", {{"x", 1, 3}}), soon()).type == OpType::kFail);
}

TEST_CASE("memory-stale: stale list reads on lagging nodes", "[memory]") {
  Opened m("memory-stale");
  auto first = m.client("n1", 0, "list-append");
  auto other = m.client("n3", 1, "list-append");
  first->invoke(make("txn", {{"append", 1, 1}, {"append", 1, 2}}), soon());
  int stale = 0;
  for (int i = 0; i < 100; ++i) {
    CHECK(first->invoke(make("txn", {{"r", 1, nullptr}}), soon()).value[0][2] == Json{1, 2});
    stale += other->invoke(make("txn", {{"r", 1, nullptr}}), soon()).value[0][2] == Json{1};
  }
  CHECK(stale > 20);
  CHECK(stale < 80);
}

TEST_CASE("memory: set adds and reads, the stale twin's last node drops elements", "[memory]") {
  for (const char* name : {"memory", "memory-stale"}) {
    Opened m(name);
    auto c = m.client("n1", 0, "set");
    for (int x : {9, 7, 14, 1}) CHECK(c->invoke(make("add", x), soon()).value == x);
    CHECK(c->invoke(make("read", nullptr), soon()).value == Json{1, 7, 9, 14});
    auto last = m.client("n3", 1, "set");
    Json expected = std::string(name) == "memory" ? Json{1, 7, 9, 14} : Json{1, 9};
    CHECK(last->invoke(make("read", nullptr), soon()).value == expected);
  }
}

TEST_CASE("memory: counter increments, reads, idempotent retries", "[memory]") {
  Opened m("memory");
  m.db->prepare(m.ctx, "counter", {{"keys", 2}});
  auto c = m.client("n2", 0, "counter", {{"keys", 2}, {"retry", "idempotent"}});
  CHECK(c->invoke(make("read-all", nullptr), soon()).value == Json{{"0", 0}, {"1", 0}});
  auto r = c->invoke(make("increment", {{"key", 1}, {"id", "a"}}), soon());
  CHECK(r.value == Json{{"key", 1}, {"id", "a"}, {"read", 0}, {"wrote", 1}});
  auto again = c->invoke(make("increment", {{"key", 1}, {"id", "a"}}), soon());
  CHECK(again.value["retried"] == true);
  CHECK(c->invoke(make("read", {{"key", 1}}), soon()).value == Json{{"key", 1}, {"value", 1}});
}

TEST_CASE("memory-stale: concurrent increments on lagging nodes lose updates", "[memory]") {
  Opened m("memory-stale");
  m.db->prepare(m.ctx, "counter", {{"keys", 1}});
  std::vector<std::thread> threads;
  for (int p = 0; p < 4; ++p) {
    threads.emplace_back([&m, p] {
      auto c = m.client(p % 2 ? "n2" : "n3", p, "counter");
      for (int i = 0; i < 50; ++i) c->invoke(make("increment", {{"key", 0}, {"id", "x"}}), soon());
    });
  }
  for (auto& t : threads) t.join();
  auto v = m.client("n1", 9, "counter")->invoke(make("read", {{"key", 0}}), soon()).value;
  CHECK(v["value"].get<int64_t>() < 200);
}

TEST_CASE("memory: lww keeps the last write, the stale twin's lagging clock loses it", "[memory]") {
  for (const char* name : {"memory", "memory-stale"}) {
    INFO(name);
    Opened m(name);
    auto first = m.client("n1", 0, "lww");
    auto other = m.client("n2", 1, "lww");
    CHECK(first->invoke(make("write", {1, 10}), soon()).type == OpType::kOk);
    CHECK(other->invoke(make("write", {1, 11}), soon()).type == OpType::kOk);
    Json expected = std::string(name) == "memory" ? Json{{"1", 11}} : Json{{"1", 10}};
    CHECK(first->invoke(make("read-all", nullptr), soon()).value == expected);
  }
}

TEST_CASE("memory: unique ids, the stale twin repeats some", "[memory]") {
  for (const char* name : {"memory", "memory-stale"}) {
    INFO(name);
    Opened m(name);
    auto c = m.client("n2", 0, "unique-ids");
    std::set<int64_t> ids;
    for (int i = 0; i < 200; ++i)
      ids.insert(c->invoke(make("generate", nullptr), soon()).value.get<int64_t>());
    if (std::string(name) == "memory") {
      CHECK(ids.size() == 200);
    } else {
      CHECK(ids.size() < 200);
    }
  }
}
