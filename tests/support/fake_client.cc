#include "tests/support/fake_client.h"

#include <iostream>
#include <stdexcept>
#include <thread>

#include "harness/checker.h"
#include "harness/db.h"
#include "harness/options.h"

namespace faultline::testing {

void ScriptedClient::open(const ClientContext&) {
  if (stats_->failing_opens.fetch_sub(1) > 0) throw std::runtime_error("2002: cannot connect");
  stats_->opened.fetch_add(1);
}

Completion ScriptedClient::invoke(const Op& op, std::chrono::steady_clock::time_point) {
  stats_->invoked.fetch_add(1);
  if (op.f == "ok" || op.f == "noop") return Completion::ok(op.value);
  if (op.f == "fail") return Completion::fail("scripted");
  if (op.f == "info") return Completion::info("scripted");
  if (op.f == "throw") throw std::runtime_error("scripted exception");
  if (op.f == "hang") {
    std::this_thread::sleep_for(std::chrono::milliseconds(op.value.get<int64_t>()));
    return Completion::ok(op.value);
  }
  return Completion::fail("unknown f");
}

void ScriptedClient::close() noexcept { stats_->closed.fetch_add(1); }

void RecordingNemesis::setup(const NemesisContext&) {
  std::lock_guard<std::mutex> lock(log_->mu);
  ++log_->setups;
}

Completion RecordingNemesis::invoke(const NemesisContext&, const Op& op) {
  if (op.value.is_object() && op.value.contains("sleep-ms")) {
    // A slow fault (a restart waiting for its node): holds the op, not the log.
    std::this_thread::sleep_for(std::chrono::milliseconds(op.value["sleep-ms"].get<int64_t>()));
  }
  if (op.value.is_object() && op.value.value("throw", false)) {
    throw std::runtime_error("fake nemesis: failed as asked");
  }
  std::lock_guard<std::mutex> lock(log_->mu);
  log_->ops.push_back(op.f);
  return Completion::ok(Json{{"did", op.f}});
}

void RecordingNemesis::teardown(const NemesisContext&) {
  std::lock_guard<std::mutex> lock(log_->mu);
  ++log_->teardowns;
}

std::shared_ptr<RecordingNemesis::Log> fake_nemesis_log() {
  static auto log = std::make_shared<RecordingNemesis::Log>();
  return log;
}

void announce_seed(const std::string& test, uint64_t seed) {
  std::cerr << "seed " << seed << " (" << test << ")\n";
}

namespace {

const bool fake_registered =
    NemesisRegistry::add("nemesis", "fake",
                         "test double: records start/stop ops; option start-ms makes each start "
                         "take that long (tests only)",
                         [](const NemesisOptions& o) {
                           NemesisPackage p;
                           p.name = "fake";
                           p.nemesis = std::make_unique<RecordingNemesis>(fake_nemesis_log());
                           Json start_value = "n1";
                           if (o.options.contains("start-ms")) {
                             start_value = {{"sleep-ms", o.options["start-ms"]}};
                           }
                           if (o.options.value("start-throws", false)) {
                             start_value = {{"throw", true}};
                           }
                           p.generator = start_stop_cycle(
                               o.interval_ns,
                               [start_value](const GenContext&) {
                                 return OpTemplate{"start", start_value};
                               },
                               [](const GenContext&) {
                                 return OpTemplate{"stop", nullptr};
                               });
                           p.final_generator = once({"stop", nullptr});
                           p.colour = "#ff0000";
                           return p;
                         });

class BrokenDb : public Db {
 public:
  explicit BrokenDb(std::string fail_in) : fail_in_(std::move(fail_in)) {}
  std::string name() const override { return "fake-broken"; }
  void setup(const DbContext&) override {
    broken_db_log().setups.fetch_add(1);
    if (fail_in_ == "setup") throw std::runtime_error("fake-broken: setup failed as asked");
  }
  void teardown(const DbContext&) override {
    broken_db_log().teardowns.fetch_add(1);
    if (fail_in_ == "teardown") throw std::runtime_error("fake-broken: teardown failed");
  }
  std::vector<std::string> default_nodes() const override { return {"n1"}; }
  std::vector<std::string> vocabularies() const override { return {"register"}; }
  std::unique_ptr<Client> new_client(const std::string&) override {
    return std::make_unique<ScriptedClient>(std::make_shared<ClientStats>());
  }

 private:
  std::string fail_in_;
};

const bool broken_registered = DbRegistry::add(
    "db", "fake-broken", "test double: a database whose setup or teardown throws (tests only)",
    [](const Json& options) -> std::unique_ptr<Db> {
      const Options o(options, {{"fail-in", nullptr, "which phase fails"}}, "db 'fake-broken'");
      return std::make_unique<BrokenDb>(options.value("fail-in", std::string()));
    });

// Three in-process nodes of which the last only votes (like Galera's arbitrator): clients and
// final reads go to n1 and n2 alone.
class VoterDb : public Db {
 public:
  std::string name() const override { return "fake-voter"; }
  void setup(const DbContext&) override {}
  void teardown(const DbContext&) override {}
  std::vector<std::string> default_nodes() const override { return {"n1", "n2", "n3"}; }
  std::vector<std::string> client_nodes(const std::vector<std::string>& nodes,
                                        const std::map<std::string, std::string>&) const override {
    std::vector<std::string> out;
    for (const auto& n : nodes) {
      if (n != "n3") out.push_back(n);
    }
    return out;
  }
  std::vector<std::string> vocabularies() const override { return {"register"}; }
  std::unique_ptr<Client> new_client(const std::string&) override {
    return std::make_unique<ScriptedClient>(std::make_shared<ClientStats>());
  }
};

const bool voter_registered =
    DbRegistry::add("db", "fake-voter", "test double: n3 votes and serves no client (tests only)",
                    [](const Json& options) -> std::unique_ptr<Db> {
                      const Options o(options, {}, "db 'fake-voter'");
                      return std::make_unique<VoterDb>();
                    });

class RemoteDb : public Db {
 public:
  std::string name() const override { return kFakeRemoteDb; }
  void setup(const DbContext& ctx) override {
    if (!ctx.remote) throw std::runtime_error("fake-remote: no remote");
  }
  void teardown(const DbContext&) override {}
  std::vector<std::string> vocabularies() const override { return {"register"}; }
  std::unique_ptr<Client> new_client(const std::string&) override {
    return std::make_unique<ScriptedClient>(std::make_shared<ClientStats>());
  }
};

const bool remote_registered = DbRegistry::add(
    "db", kFakeRemoteDb, "test double: a database that needs nodes over SSH (tests only)",
    [](const Json& options) -> std::unique_ptr<Db> {
      const Options o(options, {}, "db 'fake-remote'");
      return std::make_unique<RemoteDb>();
    });

}  // namespace

BrokenDbLog& broken_db_log() {
  static BrokenDbLog log;
  return log;
}

}  // namespace faultline::testing
