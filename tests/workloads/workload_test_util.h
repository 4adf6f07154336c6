// Helpers for the workload tests: a short end-to-end run through the runner against an
// in-process database, and generator checks (determinism, home-node routing, final reads).
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "harness/checker.h"
#include "harness/generator.h"
#include "harness/recorder.h"
#include "harness/run/results.h"
#include "harness/run/runner.h"
#include "harness/workload.h"
#include "tests/support/fake_client.h"

namespace faultline::testing {

inline std::filesystem::path workload_temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path d =
      fs::temp_directory_path() / ("faultline-wl-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// One run of `workload` against `db` (1 s, 300 ops/s, 2 threads per node, 3 nodes); checks
// that checker `label` and the whole run have validity `expected`, and that analyze gives the
// same results.json. `inspect`, when given, looks at the recorded history.
inline run::RunOutcome expect_run(const std::string& db, const std::string& workload,
                                  const std::string& label, Validity expected, uint64_t seed,
                                  Json options = Json::object(),
                                  const std::string& routing = "random",
                                  std::function<void(const History&)> inspect = nullptr) {
  namespace fs = std::filesystem;
  announce_seed(workload + " e2e on " + db, seed);
  fs::path root = workload_temp_dir(workload + "-" + db);
  run::TestSpec s;
  s.db = db;
  s.workload = workload;
  s.workload_options = std::move(options);
  s.results_dir = root.string();
  s.time_limit_s = 1;
  s.rate = 300;
  s.concurrency = "2n";
  s.seed = seed;
  s.recovery_wait_s = 0;
  s.final_time_limit_s = 10;
  s.routing = routing;
  run::RunOptions o;
  o.echo_log = false;
  o.progress = false;
  o.handle_signals = false;
  run::RunOutcome out = run::run_test(s, o);
  INFO(workload << " on " << db << ", seed " << seed << "\n" << out.summary);
  CHECK(out.results["checkers"][label]["valid"] == std::string(to_string(expected)));
  CHECK(out.validity == expected);
  auto rec = load_recorded_history((out.dir / "history.jsonl").string());
  CHECK(rec.history.size() > 200);
  if (inspect) inspect(rec.history);
  std::string before = read_file(out.dir / "results.json");
  run::RunOutcome again = run::analyze_run(out.dir);
  CHECK(again.validity == expected);
  CHECK(read_file(out.dir / "results.json") == before);
  fs::remove_all(root);
  return out;
}

inline WorkloadContext three_nodes(const std::string& routing = "random", int concurrency = 6) {
  WorkloadContext ctx;
  ctx.concurrency = concurrency;
  ctx.nodes = {"n1", "n2", "n3"};
  ctx.routing = routing;
  return ctx;
}

inline std::unique_ptr<Workload> make_workload(const std::string& name,
                                               Json options = Json::object()) {
  return WorkloadRegistry::get("workload", name)(options);
}

// `n` ops of the workload's main generator with `ctx`'s concurrency (1 ms latency).
inline std::vector<SimulatedOp> main_ops(Workload& w, const WorkloadContext& ctx, uint64_t seed,
                                         int64_t n = 300) {
  auto g = clients(w.generator(ctx));
  return simulate(*g, ctx.concurrency, seed, 1'000'000, n);
}

// The final generator gives exactly one op per node, on threads 0..n-1, marked final.
inline void check_final_reads(Workload& w, const std::string& f) {
  WorkloadContext ctx = three_nodes();
  auto g = w.final_generator(ctx);
  REQUIRE(g);
  auto wrapped = clients(std::move(g));
  auto ops = simulate(*wrapped, ctx.concurrency, 1, 1'000'000, 100);
  REQUIRE(ops.size() == 3);
  std::set<int> threads;
  for (const auto& o : ops) {
    CHECK(o.f == f);
    threads.insert(o.thread);
  }
  CHECK(threads == std::set<int>{0, 1, 2});
}

// Same seed, same ops; another seed, other ops (when the generator is random at all).
inline void check_deterministic(Workload& w, const WorkloadContext& ctx, uint64_t seed) {
  announce_seed("generator determinism", seed);
  auto a = main_ops(w, ctx, seed);
  auto b = main_ops(w, ctx, seed);
  REQUIRE(a.size() == 300);
  CHECK(a == b);
}

// The Elle workloads' generator: txn lengths, unique values per key, key retirement,
// home-node routing, the consistency model passed to the checker, option checking.
inline void check_elle_txns(const std::string& workload, const std::string& write_f) {
  uint64_t seed = 81;
  announce_seed(workload + " generator", seed);
  auto w = make_workload(
      workload,
      {{"key-count", 2}, {"min-txn-length", 2}, {"max-txn-length", 3}, {"max-writes-per-key", 4}});
  CHECK(w->vocabulary() == workload);
  WorkloadContext ctx = three_nodes();
  auto checkers = w->checkers(ctx);
  REQUIRE(checkers.size() == 2);
  CHECK(checkers[0].name == workload);
  CHECK(checkers[1].name == "stats");
  CHECK(checkers[1].options["required"] == Json::array({"txn"}));
  CHECK(checkers[0].options == Json{{"consistency-model", "strict-serializable"}});
  ctx.consistency_model = "snapshot-isolation";
  CHECK(w->checkers(ctx)[0].options["consistency-model"] == "snapshot-isolation");
  check_deterministic(*w, ctx, seed);
  std::map<int64_t, std::set<int64_t>> written;  // key -> values
  std::map<int64_t, int64_t> writes;
  for (const auto& o : main_ops(*w, ctx, seed)) {
    CHECK(o.f == "txn");
    CHECK(o.value.size() >= 2);
    CHECK(o.value.size() <= 3);
    for (const auto& m : o.value) {
      if (m[0] == "r") {
        CHECK(m[2].is_null());
        continue;
      }
      CHECK(m[0] == write_f);
      int64_t key = m[1].get<int64_t>();
      CHECK(written[key].insert(m[2].get<int64_t>()).second);  // unique per key
      CHECK(++writes[key] <= 4);                               // then the key retires
    }
  }
  CHECK(written.size() > 10);
  // home-node: every key of a transaction is home to the thread's node.
  for (const auto& o : main_ops(*w, three_nodes("home-node"), seed)) {
    for (const auto& m : o.value) CHECK(m[1].get<int64_t>() % 3 == o.thread % 3);
  }
  CHECK_THROWS_WITH(make_workload(workload, {{"min-txn-length", 5}, {"max-txn-length", 2}}),
                    Catch::Contains("min-txn-length must be <= max-txn-length"));
  CHECK_THROWS_WITH(make_workload(workload, {{"keys", 5}}), Catch::Contains("unknown option"));
}

}  // namespace faultline::testing
