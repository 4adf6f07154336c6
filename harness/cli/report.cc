// `faultline report [RUN_DIR] [--format md|html] [--bundle FILE.tar.gz] [--runs]`: the failure
// report of a stored run (harness/report/failure.h). Writes FAILURE-REPORT.md and repro.json
// into the run directory (md, the default) and also rewrites report.html with the report at
// its top (html); --bundle packs the run's files for a vendor. With --runs, RUN_DIR is a
// directory of many runs (a test's, a matrix's): the fraction of runs showing each anomaly
// type is printed and written to HOW-OFTEN.md there.
//
// Exit 0 when the report was written, 254 for a RUN_DIR without a finished run, 255 when a
// file could not be written.
#include "harness/report/report.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <memory>

#include "harness/cli/cli.h"
#include "harness/errors.h"
#include "harness/files.h"
#include "harness/report/failure.h"
#include "harness/run/baseline.h"
#include "harness/run/results.h"
#include "harness/run_dir.h"

namespace faultline::cli {

namespace fs = std::filesystem;

namespace {

struct ReportFlags {
  std::string dir = "results";
  std::string format = "md";
  std::string bundle;
  bool runs = false;
};

// The checkers' .dot files under the run directory, as write_report takes them.
std::map<std::string, std::string> dot_artifacts(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& sub : fs::directory_iterator(dir, ec)) {
    if (!sub.is_directory() || sub.path().filename() == "nodes" || sub.path().filename() == "plots")
      continue;
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      if (f.is_regular_file() && f.path().extension() == ".dot") {
        out[sub.path().filename().string() + "/" + f.path().filename().string()] =
            read_file(f.path());
      }
    }
  }
  return out;
}

int how_often_command(const ReportFlags& f) {
  const std::vector<fs::path> runs = run::find_runs(f.dir);
  if (runs.empty()) throw ConfigError("report --runs: no finished run under " + f.dir);
  const std::string md = report::how_often_markdown(f.dir, runs);
  write_file_atomic(fs::path(f.dir) / "HOW-OFTEN.md", md);
  std::cout << md << "written: " << (fs::path(f.dir) / "HOW-OFTEN.md").string() << "\n";
  return kExitValid;
}

int report_command(const ReportFlags& f) {
  if (f.format != "md" && f.format != "html") {
    throw ConfigError("report: --format must be md or html, not '" + f.format + "'");
  }
  if (f.runs) return how_often_command(f);
  fs::path dir;
  try {
    dir = run::resolve_run_dir(f.dir);
  } catch (const std::exception& e) {
    throw ConfigError(std::string("report: ") + e.what());
  }
  const RunDir run(dir);
  if (!run.finished()) {
    throw ConfigError("report: " + dir.string() + " has no results.json: run `faultline analyze " +
                      dir.string() + "` first");
  }
  Json results;
  try {
    results = Json::parse(read_file(run.results_json()));
  } catch (const std::exception& e) {
    throw ConfigError("report: " + run.results_json().string() + ": " + e.what());
  }
  Json model = report::write_failure_report(run, results);
  std::cout << "summary: " << model["summary"].get<std::string>() << "\n"
            << "report: " << (dir / "FAILURE-REPORT.md").string() << "\n";
  if (f.format == "html") {
    report::ReportOptions ro;
    ro.failure = &model;
    report::write_report(run, results, dot_artifacts(dir), ro);
    std::cout << "report: " << run.report_html().string() << "\n";
  }
  if (!f.bundle.empty()) {
    report::write_bundle(run, f.bundle);
    std::cout << "bundle: " << f.bundle << "\n";
  }
  return kExitValid;
}

const bool registered = register_command(
    {"report",
     "Write a run's failure report (FAILURE-REPORT.md, repro.json; --format html: also "
     "report.html) and, with --bundle, a tar.gz for a vendor",
     [](CLI::App& app) {
       auto f = std::make_shared<ReportFlags>();
       app.add_option("run_dir", f->dir,
                      "Run directory, or a directory with a latest link (default results)");
       app.add_option("--format", f->format, "md (FAILURE-REPORT.md) or html (also report.html)");
       app.add_option("--bundle", f->bundle,
                      "Also pack history.edn, the reports, graphs, node logs and repro.json "
                      "into this .tar.gz");
       app.add_flag("--runs", f->runs,
                    "RUN_DIR holds many runs: print how often each anomaly type showed");
       return [f] { return report_command(*f); };
     }});

}  // namespace
}  // namespace faultline::cli
