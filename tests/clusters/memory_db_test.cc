// The in-process databases: register semantics, the stale twin's stale reads, kill and pause
// capabilities, option checking.
#include "clusters/memory/memory_db.h"

#include <catch2/catch.hpp>
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
  std::unique_ptr<Client> client(const std::string& node, int64_t process) {
    auto c = db->new_client("register");
    ClientContext cc;
    cc.db = &ctx;
    cc.node = node;
    cc.process = process;
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
  CHECK(m.db->new_client("bank") == nullptr);
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
                    Catch::Contains("latency-us must be an integer >= 0"));
  CHECK(DbRegistry::get("db", "memory")(Json{{"latency-us", 10}})->name() == "memory");
}
