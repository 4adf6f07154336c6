// Regression suites: what a run or a matrix showed, blessed as a baseline, and later runs
// judged against it cell by cell (issue 20).
//
// A *cell* is what the spec keys that define a test say: db, workload, nemesis, db-options,
// workload-options, consistency-model, and the keys a matrix varied (test.json "matrix-cell").
// Its label is those keys as `key=value` words in key order, e.g.
//   "db=galera db-options={\"sync-wait\":1} nemesis=[\"partition\"] workload=list-append".
//
// baseline.json:
//   {"faultline-version": "...", "written-from": "results/", "cell-keys": ["db", ...],
//    "cells": {"<label>": {
//        "key": {...},                       the cell's defining keys
//        "runs": 3,                          runs it was blessed from
//        "policy": "all",                    all | most | any: how many of a cell's runs must pass
//        "verdict": "invalid",               expected verdict of each run (or a list: a
//                                            flaky cell blessed from runs that differed)
//        "anomalies": {"list-append/G-single": {"max-per-1000-ops": 40.0, "runs": 3}, ...},
//        "guards": {"throughput-min": 120.0, "p99-ms-max": 250.0, "recovery-s-max": 12.0,
//                   "availability-min": {"all": 0.6, "partition": 0.3, "none": 0.9}}}}}
//
// A run fails its cell on: a verdict other than the expected one (a flip either way, or
// unknown), an anomaly type the baseline does not list (new), a rate above its bound
// ("max-per-1000-ops" over ok ops; "max-per-run" over the count), or a guard broken. The
// cell passes when all (most: more than half; any: at least one) of its runs pass. A cell
// with runs and no baseline fails; a baseline cell without runs is only said.
//
// Thread safety: pure functions over files read once.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/op.h"

namespace faultline::run {

// What one finished run showed, read from its test.json, results.json and history.
struct RunMetrics {
  std::filesystem::path dir;
  Json test;          // test.json (null when the metrics were made, not read)
  Json key;           // the cell's defining keys
  std::string label;  // cell_label(key)
  std::string verdict;
  std::string db_version;
  std::map<std::string, int64_t> anomalies;  // "<checker>/<type>" -> count
  int64_t ok_ops = 0;                        // client ops that completed ok
  int64_t client_ops = 0;                    // client ops invoked
  double duration_s = 0;                     // main phase start to the last client completion
  double throughput = 0;                     // ok ops per second of the main phase
  double p50_ms = 0, p99_ms = 0;             // latency of ok ops
  double availability = 1;                   // ok / invoked client ops
  // Per fault name (nemesis_intervals) the availability of the ops invoked during it, and
  // "none" for the ops invoked outside every fault.
  std::map<std::string, double> availability_under;
  double recovery_s = -1;  // longest wait from a heal to the next ok op; -1: no heal
};

// The cell's defining keys of a test.json: `keys` (default: the list above) and the keys its
// matrix varied. A baseline written with other keys ("cell-keys", e.g. workload and nemesis
// only, to compare two databases or builds as one cell) keys the runs it judges by them.
Json cell_key(const Json& test, const std::vector<std::string>& keys = {});
std::vector<std::string> default_cell_keys();
std::string cell_label(const Json& key);

// Reads a finished run (a directory with results.json), its cell keyed by `keys` (default:
// default_cell_keys()). Throws std::runtime_error naming the file when it cannot.
RunMetrics read_run_metrics(const std::filesystem::path& dir,
                            const std::vector<std::string>& keys = {});
// The runs re-keyed by `keys`.
void rekey(std::vector<RunMetrics>* runs, const std::vector<std::string>& keys);

// Every finished run under `dir` (itself, a test's directory, a results directory or a
// matrix's), sorted, `latest` links skipped.
std::vector<std::filesystem::path> find_runs(const std::filesystem::path& dir);

// read_run_metrics of every run find_runs finds; a run that cannot be read throws, or, with
// `skipped`, is skipped and its error appended there.
std::vector<RunMetrics> read_runs(const std::filesystem::path& dir,
                                  std::vector<std::string>* skipped = nullptr);

struct BlessOptions {
  std::string policy = "all";
  std::vector<std::string> cell_keys;  // empty: default_cell_keys(); written as "cell-keys"
  // Bounds from what was seen: rates x rate_margin (at least +1 per 1,000 ok ops),
  // throughput x throughput_margin, p99 x latency_margin (+5 ms), recovery x 2 (+5 s),
  // availability - availability_slack.
  double rate_margin = 2.0, throughput_margin = 0.5, latency_margin = 3.0;
  double availability_slack = 0.2;
  // Cell keys to pool by (e.g. {"workload"}): the cells that agree on them allow every
  // verdict and anomaly type any of them showed, at the highest bound seen, since rare types
  // (G-nonadjacent, a stale read in a short register run) come and go from run to run.
  std::vector<std::string> pool;
};

// baseline.json from runs (grouped by cell).
Json write_baseline(const std::vector<RunMetrics>& runs, const std::string& written_from,
                    const BlessOptions& options = {});

// The judgement of runs against a baseline:
//   {"pass": bool, "cells": [{"label", "pass", "policy", "runs", "passed-runs",
//     "problems": ["new anomaly type list-append/G1c in 2 of 3 runs", ...],
//     "expected": ["list-append/G-single in 3 of 3 runs (max 12.1 per 1,000 ok ops, bound 40)"],
//     "frequency": {"<type>": runs}, "spread": {"throughput": [min, median, max], "p99-ms": [...]},
//     "run-problems": [[...], ...]}], "missing": ["<label>", ...]}
// Throws std::invalid_argument for a baseline that is not of the form above (naming the path).
Json judge_runs(const Json& baseline, const std::vector<RunMetrics>& runs);

// The judgement as text, cell by cell (what the CLI prints).
std::string judgement_text(const Json& judgement);
// JUnit XML of the judgement: a testsuite per cell; a testcase for the verdict, each anomaly
// type seen (an expected one passes with a property naming it, a new one fails) and each guard.
std::string judgement_junit(const Json& judgement);

// Two sets of runs side by side, cell by cell: verdicts, anomaly types and counts, throughput,
// p99 and availability with their change, versions. {"cells": [{"label", "a": {...}, "b":
// {...}, "changes": [...]}], "a": path, "b": path}.
Json compare_runs(const std::vector<RunMetrics>& a, const std::vector<RunMetrics>& b);
std::string compare_text(const Json& comparison);
std::string compare_html(const Json& comparison);

}  // namespace faultline::run
