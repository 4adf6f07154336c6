// The register workload end to end against the in-process databases: "memory" must be found
// linearizable, "memory-stale" (stale reads) must not. Also its generator's key groups.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "harness/checker.h"
#include "harness/recorder.h"
#include "harness/run/results.h"
#include "harness/run/runner.h"
#include "harness/workload.h"
#include "tests/support/fake_client.h"

using namespace faultline;
using namespace faultline::testing;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("faultline-register-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

run::RunOutcome run_register(const std::string& db, uint64_t seed, const fs::path& root) {
  run::TestSpec s;
  s.db = db;
  s.workload = "register";
  s.results_dir = root.string();
  s.time_limit_s = 2;
  s.rate = 300;
  s.concurrency = "2n";
  s.seed = seed;
  run::RunOptions o;
  o.echo_log = false;
  o.progress = false;
  o.handle_signals = false;
  return run::run_test(s, o);
}

bool have_linearizable() { return CheckerRegistry::find("linearizable") != nullptr; }

}  // namespace

TEST_CASE("register on the in-process database is valid", "[register][e2e]") {
  fs::path root = temp_dir("valid");
  for (uint64_t seed : {1u, 2u, 3u}) {
    announce_seed("register e2e: memory valid", seed);
    run::RunOutcome out = run_register("memory", seed, root);
    INFO("seed " << seed << "\n" << out.summary);
    auto rec = load_recorded_history((out.dir / "history.jsonl").string());
    CHECK(rec.history.size() > 500);
    CHECK(!rec.torn_last_line);
    if (have_linearizable()) {
      CHECK(out.validity == Validity::kValid);
      CHECK(out.results["checkers"]["linearizable"]["valid"] == "valid");
    } else {
      WARN("checker 'linearizable' not registered: only the history is checked");
      CHECK(out.validity == Validity::kUnknown);
    }
  }
  fs::remove_all(root);
}

TEST_CASE("register on the stale twin is invalid", "[register][e2e]") {
  fs::path root = temp_dir("invalid");
  for (uint64_t seed : {1u, 2u, 3u}) {
    announce_seed("register e2e: memory-stale invalid", seed);
    run::RunOutcome out = run_register("memory-stale", seed, root);
    INFO("seed " << seed << "\n" << out.summary);
    auto rec = load_recorded_history((out.dir / "history.jsonl").string());
    CHECK(rec.history.size() > 500);
    if (have_linearizable()) {
      CHECK(out.validity == Validity::kInvalid);
      CHECK(out.results["checkers"]["linearizable"]["valid"] == "invalid");
      // And analyze agrees, byte for byte.
      std::string before = read_file(out.dir / "results.json");
      run::RunOutcome again = run::analyze_run(out.dir);
      CHECK(again.validity == Validity::kInvalid);
      CHECK(read_file(out.dir / "results.json") == before);
    } else {
      WARN("checker 'linearizable' not registered: only the history is checked");
    }
  }
  fs::remove_all(root);
}

TEST_CASE("register generator: key groups, values, checkers", "[register]") {
  uint64_t seed = 21;
  announce_seed("register generator", seed);
  auto w = WorkloadRegistry::get(
      "workload", "register")(Json{{"ops-per-key", 10}, {"threads-per-key", 2}, {"values", 3}});
  CHECK(w->vocabulary() == "register");
  WorkloadContext ctx;
  ctx.concurrency = 4;
  auto checkers = w->checkers(ctx);
  REQUIRE(checkers.size() == 2);
  // stats: a run where a needed f never succeeded is unknown, not valid.
  CHECK(checkers[1].name == "stats");
  CHECK(checkers[1].options["required"] == Json::array({"read", "write"}));
  CHECK(checkers[0].name == "linearizable");
  CHECK(checkers[0].options == Json{{"model", "cas-register"}});

  auto g = clients(w->generator(ctx));
  auto ops = simulate(*g, 4, seed, 1'000'000, 200);
  REQUIRE(ops.size() == 200);
  std::map<int64_t, std::set<int>> threads_of_key;
  std::map<int64_t, int> ops_of_key;
  for (const auto& o : ops) {
    int64_t key = o.value[0].get<int64_t>();
    threads_of_key[key].insert(o.thread / 2);  // the thread's group
    ++ops_of_key[key];
    if (o.f == "write") CHECK(o.value[1].get<int64_t>() < 3);
    if (o.f == "read") CHECK(o.value[1].is_null());
    if (o.f == "cas") CHECK(o.value[1].size() == 2);
  }
  for (const auto& [key, groups] : threads_of_key) {
    INFO("key " << key);
    CHECK(groups.size() == 1);     // one group per key
    CHECK(ops_of_key[key] <= 10);  // at most ops-per-key
  }
  CHECK(threads_of_key.size() >= 20);
  // Same seed, same ops.
  auto again = simulate(*clients(w->generator(ctx)), 4, seed, 1'000'000, 200);
  CHECK(again == ops);

  CHECK_THROWS_WITH(WorkloadRegistry::get("workload", "register")(Json{{"keys", 1}}),
                    Catch::Contains("unknown option 'keys'"));
}

TEST_CASE("register generator: home-node routing keeps each key on its home node", "[register]") {
  uint64_t seed = 22;
  announce_seed("register generator home-node", seed);
  auto w = WorkloadRegistry::get("workload",
                                 "register")(Json{{"ops-per-key", 10}, {"threads-per-key", 2}});
  WorkloadContext ctx;
  ctx.concurrency = 6;
  ctx.nodes = {"n1", "n2", "n3"};
  ctx.routing = "home-node";
  CHECK(w->client_params(ctx) == Json{{"retry", "none"}});
  auto ops = simulate(*clients(w->generator(ctx)), 6, seed, 1'000'000, 300);
  REQUIRE(ops.size() == 300);
  std::map<int64_t, std::set<int>> threads_of_key;
  for (const auto& o : ops) {
    int64_t key = o.value[0].get<int64_t>();
    CHECK(home_node(key, 3) == static_cast<size_t>(o.thread % 3));
    threads_of_key[key].insert(o.thread);
  }
  for (const auto& [key, threads] : threads_of_key) {
    INFO("key " << key);
    CHECK(threads.size() <= 2);  // one group of threads-per-key threads of one node
  }
  CHECK(threads_of_key.size() >= 20);
}

TEST_CASE("register end to end with home-node routing", "[register][e2e]") {
  fs::path root = temp_dir("home");
  uint64_t seed = 4;
  announce_seed("register e2e: home-node", seed);
  run::TestSpec s;
  s.db = "memory";
  s.workload = "register";
  s.results_dir = root.string();
  s.time_limit_s = 1;
  s.rate = 300;
  s.concurrency = "2n";
  s.seed = seed;
  s.routing = "home-node";
  run::RunOptions o;
  o.echo_log = false;
  o.progress = false;
  o.handle_signals = false;
  run::RunOutcome out = run::run_test(s, o);
  INFO(out.summary);
  auto rec = load_recorded_history((out.dir / "history.jsonl").string());
  for (const Op& op : rec.history) {
    if (op.is_nemesis() || !op.is_invoke()) continue;
    int64_t key = op.value[0].get<int64_t>();
    CHECK(op.node == std::vector<std::string>{"n1", "n2", "n3"}[home_node(key, 3)]);
  }
  if (CheckerRegistry::find("linearizable")) CHECK(out.validity == Validity::kValid);
  fs::remove_all(root);
}
