// Failure reports: FAILURE-REPORT.md (and the same content at the top of report.html) that a
// database engineer can read in five minutes and reproduce with one command, and a bundle to
// hand to a vendor. `faultline report RUN_DIR` writes them; `faultline run` and `analyze`
// write FAILURE-REPORT.md with every report.html.
//
// Built from a run directory alone (test.json, results.json, history.jsonl, environment.json,
// nodes/<node>/ logs), so a stored run can be reported on again:
//   1. summary: the database, its version and isolation level, what it claims (Db::claims(),
//      with the source) beside what was observed, each anomaly type judged against the claim
//      (harness/report/claims.h: contradicts / by design / not claimed);
//   2. environment: per node OS, kernel and the database's effective non-default settings;
//   3. rerun: repro.json (the spec with its seed) and the command line;
//   4. per anomaly type, the smallest witness: its operations in time order (process, node,
//      invoke and complete times, outcome, value, the statements each sent, the node's clock
//      offset when a clock nemesis ran), then how many witnesses of that type there are;
//   5. context: the nemesis faults overlapping the witness's time window and the lines of each
//      node's database log within a few seconds of it, aligned to the history's clock (log
//      times are read as UTC; a node's clock-nemesis offset is taken off its log's times);
//   6. how often: for a directory of several runs, the fraction showing each anomaly type.
//
// Thread safety: free functions.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/op.h"
#include "harness/run_dir.h"

namespace faultline::report {

struct FailureOptions {
  double log_window_s = 3;    // node log lines this long before and after a witness
  size_t max_log_lines = 12;  // per node and witness
};

// The report's content as data (see above); `results` is results.json's content. Throws
// ConfigError when test.json is unreadable; a missing history, environment or log is said in
// the report's "notes".
Json failure_model(const RunDir& run, const Json& results, const FailureOptions& options = {});

// FAILURE-REPORT.md's text.
std::string failure_markdown(const Json& model);
// The same content as an HTML fragment (for the top of report.html); op indexes link to
// "#op-<index>" in the page's timeline.
std::string failure_html(const Json& model);

// repro.json's content: the run's spec with its seed (and nodes as the run had them).
Json repro_spec(const Json& test);
// The one command that reruns it: "faultline run --spec repro.json".
std::string rerun_command(const Json& test);

// Writes <run>/FAILURE-REPORT.md and <run>/repro.json; returns the model.
Json write_failure_report(const RunDir& run, const Json& results,
                          const FailureOptions& options = {});

// Packs the run's history.edn, history.jsonl, test.json, results.json, environment.json,
// repro.json, FAILURE-REPORT.md, report.html, junit.xml, controller.log, the checkers'
// cycle graphs and nodes/ (logs) into `out` (a .tar.gz) with tar, under a top directory named
// after the test and run. Throws RemoteError (tar's message) when tar fails.
void write_bundle(const RunDir& run, const std::filesystem::path& out);

// The anomalies of a results.json, "<checker>/<type>" -> count: anomaly-counts where a checker
// gives them, else 1 per listed anomaly type; a linearizable checker with counterexamples
// counts "nonlinearizable" once per illegal key (at least once).
std::map<std::string, int64_t> anomaly_counts(const Json& results);

// For a directory holding several finished runs (a test's or a matrix's): per anomaly type,
// in how many runs it showed. {"runs": n, "types": {"<checker>/<type>": runs}, "verdicts":
// {verdict: runs}}.
Json how_often(const std::vector<std::filesystem::path>& runs);
// HOW-OFTEN.md for those runs: the verdicts, and per anomaly type the runs showing it and the
// fraction; `title` names what the runs are (a directory, "5 runs of <test>").
std::string how_often_markdown(const std::string& title,
                               const std::vector<std::filesystem::path>& runs);

}  // namespace faultline::report
