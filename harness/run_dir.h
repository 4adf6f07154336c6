// RunDir: one run's directory and the names of the files in it, for everything that reads or
// writes a run (the runner, `faultline analyze`, the report, `faultline heal`, `faultline
// serve`). The layout (harness/run/results.h has the whole story):
//
//   test.json        spec, seed, versions, nodes, start time
//   history.jsonl    streamed while running (HistoryRecorder)
//   history.edn      Jepsen-compatible copy
//   results.json     verdict and each checker's details
//   report.html, junit.xml, plots/, controller.log, nodes/<node>/ (logs)
//
// history() parses history.jsonl once and keeps it, so the checkers, the report and the EDN
// copy of one run share one parse. Call it only once the history is complete (the recorder
// closed): what it read is not re-read.
//
// Thread safety: one thread at a time (history() fills a cache).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "harness/op.h"
#include "harness/recorder.h"

namespace faultline {

class RunDir {
 public:
  // Implicit, so that a path can be passed where a RunDir is read once (tests, analyze).
  RunDir(std::filesystem::path dir)
      : dir_(std::move(dir)) {}  // NOLINT(google-explicit-constructor)

  const std::filesystem::path& path() const { return dir_; }
  std::filesystem::path test_json() const { return dir_ / "test.json"; }
  std::filesystem::path history_jsonl() const { return dir_ / "history.jsonl"; }
  std::filesystem::path history_edn() const { return dir_ / "history.edn"; }
  std::filesystem::path results_json() const { return dir_ / "results.json"; }
  std::filesystem::path report_html() const { return dir_ / "report.html"; }
  std::filesystem::path junit_xml() const { return dir_ / "junit.xml"; }
  std::filesystem::path controller_log() const { return dir_ / "controller.log"; }
  std::filesystem::path plots() const { return dir_ / "plots"; }
  std::filesystem::path node_dir(const std::string& node) const { return dir_ / "nodes" / node; }

  // A run directory: it holds a test.json or a history.jsonl.
  static bool is_run(const std::filesystem::path& dir);
  // A finished run: it holds a results.json.
  bool finished() const;

  // test.json parsed; ConfigError naming the file when it is missing or not JSON.
  Json test() const;
  // history.jsonl, read once (load_recorded_history, named "history.jsonl" in warnings so that
  // results do not depend on where the run is); throws as that does, every time it is asked.
  const RecoveredHistory& history() const;

 private:
  std::filesystem::path dir_;
  mutable std::optional<RecoveredHistory> history_;
};

}  // namespace faultline
