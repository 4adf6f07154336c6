// report.html: one self-contained page per run (no external resources), written after the
// checkers by `faultline run` and `faultline analyze`.
//
//   - the verdict at the top, the test's options and the history's counts;
//   - per checker: its verdict, summary, the explanation of each anomaly in plain words (with
//     "line N" references linked into the timeline), the ops involved (links into the
//     timeline), cycle graphs rendered from the checker's .dot artifacts with graphviz, and its
//     details as JSON;
//   - latency (raw points and quantiles) and throughput plots with nemesis regions (gnuplot,
//     see plot.h), embedded as data: URIs;
//   - a timeline of ops per process (Jepsen's timeline.html) with nemesis intervals shaded. The
//     ops are embedded as JSON and drawn lazily by a small inline script (only the part of the
//     timeline near the scroll position is turned into elements), so 100k ops stay usable.
// A missing gnuplot or graphviz is said on the page; everything else is still there.
//
// Thread safety: free functions.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/history.h"
#include "harness/run_dir.h"

namespace faultline::report {

struct ReportOptions {
  std::string gnuplot = "gnuplot";  // program name or path; a missing one only drops the plots
  std::string dot = "dot";          // likewise for cycle graphs
  bool plots = true;
  // The failure report's content (failure.h failure_model), shown at the top of the page;
  // null: none.
  const Json* failure = nullptr;
};

struct ReportOutput {
  std::filesystem::path html;      // <run_dir>/report.html
  std::vector<std::string> notes;  // what is missing and why (also on the page)
  size_t bytes = 0;                // size of report.html
};

// Where the report's time axes start: the main phase (test.json "main-start-ns", or the first
// timed op when earlier), so that plots and the timeline open on operations, not on the
// setup's blank; and how long the run spent before it (setup), shown as one band. A history
// without "main-start-ns" (another tool's) keeps its own times.
struct TimeAxis {
  int64_t origin_ns = 0;  // history time shown as 0
  int64_t setup_ns = -1;  // history time 0 to the main phase; -1 when unknown (foreign history)
};
TimeAxis time_axis(const Json& test, const History& history);

// The timeline's data: {"procs": [column names], "end": µs, "setup": µs (-1 unknown), "ops":
// [[column, start µs, end µs (-1 when open), kind (0 ok, 1 fail, 2 info, 3 nemesis, 4 open), f,
// value text, invocation index, completion index (-1)], ...], "nem": [[start µs, end µs, name,
// colour], ...]}; times are since axis.origin_ns.
Json timeline_data(const History& history, const TimeAxis& axis = {});

// Writes <run_dir>/report.html (and plots/ with gnuplot's files, and <checker>/<name>.svg for
// each .dot artifact). `results` is results.json's content; `artifacts` the checkers' files
// ("<checker>/<name>" -> bytes). Reads test.json and the history through run_dir (parsed once
// per RunDir); a history that cannot be read gives a report without timeline and plots (said
// on the page).
ReportOutput write_report(const RunDir& run_dir, const Json& results,
                          const std::map<std::string, std::string>& artifacts,
                          const ReportOptions& options = {});

// At most n bytes of s, never half a UTF-8 character, "…" appended when cut.
std::string cut_text(std::string s, size_t n);

// HTML text with &, <, >, " and ' escaped (and the control characters XML drops, dropped).
std::string html_escape(std::string_view text);

}  // namespace faultline::report
