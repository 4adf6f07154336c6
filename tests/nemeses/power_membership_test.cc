// The power and membership nemeses against fake databases: what they ask of the database, in
// which order, what they record, and that heal and teardown leave nothing out.
#include <catch2/catch.hpp>
#include <mutex>
#include <set>
#include <vector>

#include "harness/nemesis.h"
#include "tests/nemeses/nemesis_test_util.h"

using namespace faultline;
using namespace faultline::testing;

namespace {

// Records every call; kill/start/lose_unsynced/leave/join as "<call> <node>[ <mode>]".
class FakeDb : public Db, public Killable, public LosesPower, public ChangesMembership {
 public:
  explicit FakeDb(bool lossy) : lossy_(lossy) {}
  std::string name() const override { return "fake"; }
  void setup(const DbContext&) override {}
  void teardown(const DbContext&) override {}
  std::vector<std::string> vocabularies() const override { return {"register"}; }
  std::unique_ptr<Client> new_client(const std::string&) override { return nullptr; }

  void kill(const DbContext&, const std::string& node) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("kill " + node);
    dead.insert(node);
  }
  void start(const DbContext&, const std::string& node) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("start " + node);
    dead.erase(node);
  }
  bool on_power_loss_fs() const override { return lossy_; }
  Json lose_unsynced(const DbContext&, const std::string& node, const PowerLoss& how) override {
    std::lock_guard<std::mutex> lock(mu);
    // A drop happens only once every target is dead: the cut is one moment.
    calls.push_back("lose " + node + " dead=" + std::to_string(dead.size()) +
                    (how.torn ? " torn" : "") + (how.entries ? " entries" : ""));
    return Json{{"last-drop", {{"files", 2}}}};
  }
  void make_durable(const DbContext&) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("durable");
  }
  std::vector<std::string> leave_modes() const override { return {"leave", "wipe"}; }
  Json leave(const DbContext&, const std::string& node, const std::string& mode) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("leave " + node + " " + mode);
    if (fail_leave) throw std::runtime_error("no goodbye");
    return Json{{"ok", true}};
  }
  Json join(const DbContext&, const std::string& node) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("join " + node);
    return nullptr;
  }

  std::mutex mu;
  std::vector<std::string> calls;
  std::set<std::string> dead;
  bool fail_leave = false;

 private:
  bool lossy_;
};

class PlainDb : public Db, public Killable {
 public:
  std::string name() const override { return "plain"; }
  void setup(const DbContext&) override {}
  void teardown(const DbContext&) override {}
  std::vector<std::string> vocabularies() const override { return {"register"}; }
  std::unique_ptr<Client> new_client(const std::string&) override { return nullptr; }
  void kill(const DbContext&, const std::string&) override {}
  void start(const DbContext&, const std::string&) override {}
};

}  // namespace

TEST_CASE("power: refused without the file system, and for a database that cannot lose power",
          "[power]") {
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  PlainDb plain;
  o.db = &plain;
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "power")(o),
                    Catch::Contains("nemesis 'power' needs a database that can place its data "
                                    "directory on the power-loss file system"));
  FakeDb off(false);
  o.db = &off;
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "power")(o),
                    Catch::Contains("set db-options {\"power-loss-fs\": true}"));
  FakeDb on(true);
  o.db = &on;
  o.options = {{"torn", "yes"}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "power")(o), Catch::Contains("torn"));
}

TEST_CASE("power: setup makes durable, a cut kills every target before any drop, heal starts",
          "[power]") {
  FakeDb db(true);
  DbContext dctx;
  dctx.nodes = {"n1", "n2", "n3"};
  NemesisOptions o;
  o.nodes = dctx.nodes;
  o.db = &db;
  o.options = {{"targets", {"all"}}, {"torn", true}};
  auto p = NemesisRegistry::get("nemesis", "power")(o);
  NemesisContext ctx;
  ctx.db = &db;
  ctx.db_ctx = &dctx;
  ctx.nodes = dctx.nodes;
  p.nemesis->setup(ctx);
  Completion c = p.nemesis->invoke(ctx, nemesis_op("power-off", {{"target", "all"}}));
  INFO(c.value.dump());
  REQUIRE(db.calls.size() == 7);
  CHECK(db.calls[0] == "durable");
  std::multiset<std::string> kills(db.calls.begin() + 1, db.calls.begin() + 4);
  CHECK(kills == std::multiset<std::string>{"kill n1", "kill n2", "kill n3"});
  for (size_t i = 4; i < 7; ++i) {
    CHECK(db.calls[i].rfind("lose n", 0) == 0);
    CHECK(db.calls[i].find(" dead=3 torn") != std::string::npos);
  }
  CHECK(c.value["n2"]["power"] == "lost");
  CHECK(c.value["n2"]["fs"]["files"] == 2);
  CHECK(c.error.is_null());
  db.calls.clear();
  p.nemesis->teardown(ctx);
  std::multiset<std::string> starts(db.calls.begin(), db.calls.end());
  CHECK(starts == std::multiset<std::string>{"start n1", "start n2", "start n3"});
}

TEST_CASE("membership: one node out at a time, heal joins it, a failed leave still rejoins",
          "[membership]") {
  FakeDb db(false);
  DbContext dctx;
  dctx.nodes = {"n1", "n2", "n3"};
  NemesisOptions o;
  o.nodes = dctx.nodes;
  o.db = &db;
  o.options = {{"modes", {"gone"}}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "membership")(o),
                    Catch::Contains("'gone', which this database does not know (leave, wipe)"));
  o.options = {{"modes", {"wipe"}}, {"nodes", {"n3"}}};
  o.interval_ns = 1000;
  auto p = NemesisRegistry::get("nemesis", "membership")(o);
  auto ops = simulate(*p.generator, 1, 3, 0, 2);
  REQUIRE(ops.size() == 2);
  CHECK(ops[0].f == "leave");
  CHECK(ops[1].f == "join");
  CHECK_THROWS(p.check_op("leave", {{"node", "n9"}}));
  CHECK_THROWS(p.check_op("leave", {{"mode", "leave"}}));  // not among the modes chosen
  CHECK_NOTHROW(p.check_op("leave", {{"node", "n3"}, {"mode", "wipe"}}));

  NemesisContext ctx;
  ctx.db = &db;
  ctx.db_ctx = &dctx;
  ctx.nodes = dctx.nodes;
  Completion c = p.nemesis->invoke(ctx, nemesis_op("leave"));
  CHECK(c.value["node"] == "n3");
  CHECK(c.value["mode"] == "wipe");
  // A second leave while one node is out does nothing.
  Completion again = p.nemesis->invoke(ctx, nemesis_op("leave"));
  CHECK(again.type == OpType::kInfo);
  CHECK(db.calls == std::vector<std::string>{"leave n3 wipe"});
  Completion j = p.nemesis->invoke(ctx, nemesis_op("join"));
  CHECK(j.value == Json{{"n3", "joined"}});
  db.fail_leave = true;
  Completion failed = p.nemesis->invoke(ctx, nemesis_op("leave", {{"node", "n3"}}));
  CHECK(failed.error.dump().find("no goodbye") != std::string::npos);
  p.nemesis->teardown(ctx);  // the node that may be half out is joined again
  CHECK(db.calls.back() == "join n3");
}
