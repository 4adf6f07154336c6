// Results store: where a run's files go, and the checking step shared by `faultline run` and
// `faultline analyze`.
//
//   <results-dir>/<test-name>/<YYYYMMDDTHHMMSS>/   one run (UTC; "-2", "-3" appended when a
//                                                   second run starts within the same second)
//       test.json        the spec (every key, the seed), versions, nodes, start time
//       history.jsonl    streamed while running (HistoryRecorder)
//       history.edn      Jepsen-compatible copy, written after the run
//       results.json     verdict and each checker's details (deterministic: no timings)
//       controller.log   what the runner did, with times
//   <results-dir>/latest and <results-dir>/<test-name>/latest: relative symlinks to the newest
//   run.
//
// check_run() reads history.jsonl (skipping a torn last line, reported in results.json),
// runs the workload's checkers and returns results.json's content; the same history and spec
// give the same bytes.
//
// Thread safety: ControllerLog is thread-safe; the rest are free functions.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "harness/checker.h"
#include "harness/files.h"
#include "harness/op.h"
#include "harness/run_dir.h"
#include "harness/workload.h"

namespace faultline::run {

// "20261126T021500" for `when`, in UTC.
std::string run_timestamp(std::chrono::system_clock::time_point when);
// "2026-11-26T02:15:00.123456Z" for `when`.
std::string iso_time_us(std::chrono::system_clock::time_point when);

// Creates <root>/<test>/<timestamp>[-k]/ and points both latest links at it; the new entries
// are fsync'd, so the run directory survives a host crash.
std::filesystem::path make_run_dir(const std::filesystem::path& root, const std::string& test,
                                   std::chrono::system_clock::time_point when);

// A run directory given on the command line: the directory itself if it holds a test.json,
// else its `latest` link resolved (so `results`, `results/<test>` and a run dir all work).
// Throws std::invalid_argument when none is found.
std::filesystem::path resolve_run_dir(const std::filesystem::path& arg);

// The command line that heals the run in `run_dir` after a crashed controller or an unfinished
// teardown, naming that run (not `results/latest`, which may be another run when several share
// a results directory): "faultline heal /abs/results/test/20261126T021500" (shell-quoted).
std::string heal_command(const std::filesystem::path& run_dir);

class ControllerLog {
 public:
  ControllerLog() = default;
  // Appends to path; `echo` also prints each line to stderr. A failed write is said once on
  // stderr and ends writing to the file (the run goes on; the history is what must be whole).
  void open(const std::filesystem::path& path, bool echo);
  void log(const std::string& line);
  void close();

 private:
  std::mutex mu_;
  std::ofstream out_;
  std::filesystem::path path_;
  bool failed_ = false;  // a write failed: said once on stderr, nothing more written
  bool echo_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

struct CheckRunOptions {
  double checker_time_limit_s = 0;  // 0: none
  // Threads per checker; 0: all cores. Checkers promise results that do not depend on the
  // number of threads (the linearizable checker forgets keys after the first illegal one), so
  // results.json stays byte-identical when a stored run is analyzed again.
  int threads = 0;
  uint64_t seed = 0;
  std::function<void(const std::string&)> progress;
};

struct CheckRunResult {
  Validity validity = Validity::kValid;
  Json results;                                  // results.json
  std::map<std::string, std::string> artifacts;  // "<checker>/<name>" -> bytes
};

// Checks the history in `run_dir`/history.jsonl with `checkers` (read through run_dir.history(),
// so that the caller's later uses of it do not parse it again).
CheckRunResult check_run(const RunDir& run_dir, const std::vector<CheckerSpec>& checkers,
                         const CheckRunOptions& options);

// results.json text for a result: two-space indented JSON and a newline.
std::string results_text(const Json& results);

// One line per checker: "linearizable: invalid (3 keys of 40 not linearizable)", followed,
// for a checker that is not valid, by the first lines of its explanation, indented.
std::string summarise(const Json& results);

}  // namespace faultline::run
