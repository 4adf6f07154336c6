// Runner: one test run from a TestSpec, phase by phase, and the re-check of a stored run.
//
//   setup     database on every node, then the nemeses
//   main      workload generator (rate-limited) beside every nemesis package's generator,
//             for time-limit seconds
//   heal      every package's final generator, then every nemesis's teardown (heals all)
//   recovery  recovery-wait seconds, when a nemesis ran
//   final     the workload's final generator (final reads), bounded by final-time-limit
//   teardown  clients closed, database torn down (unless leave-db-running)
//   check     history.jsonl read back from disk, history.edn written, checkers run,
//             results.json written
// history.jsonl is synced at every phase change. Heal and teardown run whatever happened
// before them: an exception in setup or main, or SIGINT/SIGTERM (which ends the main and final
// phases early). A second SIGINT/SIGTERM aborts the teardown at once: the runner prints what
// it left behind (faults not healed, database still running) and exits 130.
//
// Thread safety: run_test and analyze_run are called from the main thread; they install the
// signal watcher for their duration.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "harness/checker.h"
#include "harness/control/preflight.h"
#include "harness/errors.h"
#include "harness/run/spec.h"

namespace faultline::run {

struct RunOptions {
  bool echo_log = true;  // controller.log lines also on stderr
  bool progress = true;  // progress line (a live line on a terminal, periodic otherwise)
  bool handle_signals = true;
  // When it becomes true, the run behaves as after a first SIGINT (for embedding and tests).
  const std::atomic<bool>* cancel = nullptr;
  // Called when the run directory exists (tests use it to find the run while it is going).
  std::function<void(const std::filesystem::path&)> on_run_dir;
  // Starts the interpreter's threads (tests make it fail, as at a thread limit); empty:
  // std::thread.
  std::function<std::thread(std::function<void()>)> start_thread;
};

struct RunOutcome {
  Validity validity = Validity::kUnknown;
  std::filesystem::path dir;
  Json results;  // results.json
  bool interrupted = false;
  std::string summary;  // printable lines
};

// One run of `spec` (spec.test_count is the caller's business). Throws ConfigError /
// std::invalid_argument for a bad spec before anything is created, and rethrows a plumbing
// failure of setup or the main phase (or of the history on disk) after heal and teardown have
// run. A heal, final read or teardown that fails does not cost the verdict: the history is
// checked, and the failures are in RunOutcome.summary and in results.json's "controller"
// ("problems", and "heal-command" when something may be left on the nodes).
RunOutcome run_test(const TestSpec& spec, const RunOptions& options = {});

// The preflight of `spec` (harness/control/preflight.h): its database's and nemeses' node
// checks on its nodes, as run_test runs them before setup (and refuses on a problem). Builds
// the run's plan first, so a bad spec throws ConfigError as run_test would; `result` is empty
// for an in-process database.
struct PreflightCheck {
  std::vector<std::string> nodes;
  std::optional<control::PreflightResult> result;
};
PreflightCheck preflight_test(const TestSpec& spec);

// Re-runs the checkers of a stored run on its history.jsonl and rewrites results.json (the
// same bytes for the same history and spec).
RunOutcome analyze_run(const std::filesystem::path& run_dir, bool progress = false);

}  // namespace faultline::run
