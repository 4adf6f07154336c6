// `faultline baseline write RESULTS_DIR [-o baseline.json] [--policy all|most|any]`,
// `faultline baseline check RESULTS_DIR --baseline baseline.json [--junit FILE]` and
// `faultline compare A B [--html FILE]` (harness/run/baseline.h). `run --baseline` is in
// run.cc and shares judge_and_report().
#include "harness/cli/baseline.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "harness/cli/cli.h"
#include "harness/errors.h"
#include "harness/files.h"
#include "harness/run/baseline.h"
#include "harness/run/spec.h"

namespace faultline::cli {

namespace fs = std::filesystem;

namespace {

std::vector<run::RunMetrics> metrics_under(const std::string& dir) {
  if (!fs::exists(dir)) throw ConfigError(dir + ": no such directory");
  std::vector<std::string> skipped;
  std::vector<run::RunMetrics> out = run::read_runs(dir, &skipped);
  for (const auto& s : skipped) std::cerr << "faultline: skipped " << s << "\n";
  if (out.empty()) throw ConfigError(dir + ": no finished run under it (results.json)");
  return out;
}

Json load_baseline(const std::string& path) {
  Json b = run::load_spec_file(path);  // ConfigError naming the file and offset
  return b;
}

}  // namespace

int judge_and_report(const std::string& baseline_path,
                     const std::vector<std::filesystem::path>& run_dirs,
                     const std::filesystem::path& junit_out) {
  Json baseline = load_baseline(baseline_path);
  std::vector<run::RunMetrics> runs;
  runs.reserve(run_dirs.size());
  for (const auto& d : run_dirs) runs.push_back(run::read_run_metrics(d));
  Json j;
  try {
    j = run::judge_runs(baseline, runs);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(baseline_path + ": " + e.what());
  }
  std::cout << run::judgement_text(j) << std::flush;
  if (!junit_out.empty()) {
    write_file_atomic(junit_out, run::judgement_junit(j));
    write_file_atomic(fs::path(junit_out).replace_extension(".json"), j.dump(2) + "\n");
    std::cout << "baseline junit: " << junit_out.string() << "\n";
  }
  return j["pass"].get<bool>() ? kExitValid : kExitInvalid;
}

namespace {

struct BaselineFlags {
  std::string dir = "results", out = "baseline.json", policy = "all", baseline, junit;
  std::vector<std::string> cell_keys, pool;
};

const bool baseline_registered = register_command(
    {"baseline",
     "Regression baselines: bless runs as expected (write), judge runs against them (check)",
     [](CLI::App& app) {
       auto f = std::make_shared<BaselineFlags>();
       app.require_subcommand(1);
       CLI::App* write = app.add_subcommand(
           "write", "Write baseline.json from the finished runs under RESULTS_DIR (run or matrix)");
       write->add_option("results_dir", f->dir, "Runs to bless (default results)");
       write->add_option("-o,--output", f->out, "Baseline file (default baseline.json)");
       write
           ->add_option("--policy", f->policy,
                        "How many of a cell's runs must pass: all, most or any (default all)")
           ->check(CLI::IsMember({"all", "most", "any"}));
       write
           ->add_option("--cell-keys", f->cell_keys,
                        "Spec keys that define a cell, comma-separated (default db, workload, "
                        "nemesis, db-options, workload-options, consistency-model; a matrix's "
                        "keys are always added)")
           ->delimiter(',');
       write
           ->add_option("--pool", f->pool,
                        "Cell keys to pool by, comma-separated (e.g. workload): cells that agree "
                        "on them allow every verdict and anomaly type any of them showed (rare "
                        "types come and go from run to run)")
           ->delimiter(',');
       CLI::App* check = app.add_subcommand(
           "check", "Judge the finished runs under RESULTS_DIR against a baseline; exit 0 or 1");
       check->add_option("results_dir", f->dir, "Runs to judge (default results)");
       check->add_option("--baseline", f->baseline, "baseline.json")->required();
       check->add_option("--junit", f->junit, "Also write the judgement as JUnit XML (and .json)");
       return [f, write, check]() -> int {
         if (write->parsed()) {
           auto runs = metrics_under(f->dir);
           run::BlessOptions o;
           o.policy = f->policy;
           o.cell_keys = f->cell_keys;
           o.pool = f->pool;
           if (!o.cell_keys.empty()) run::rekey(&runs, o.cell_keys);
           Json b = run::write_baseline(runs, fs::absolute(f->dir).string(), o);
           write_file_atomic(f->out, b.dump(2) + "\n");
           std::cout << "baseline: " << b["cells"].size() << " cells from " << runs.size()
                     << " runs written to " << f->out << "\n";
           for (const auto& [label, c] : b["cells"].items()) {
             const Json& v = c["verdict"];
             std::cout << "  " << label << ": " << (v.is_string() ? v.get<std::string>() : v.dump())
                       << ", " << c["anomalies"].size() << " anomaly types allowed\n";
           }
           return kExitValid;
         }
         std::vector<fs::path> dirs;
         if (!fs::exists(f->dir)) throw ConfigError(f->dir + ": no such directory");
         dirs = run::find_runs(f->dir);
         if (dirs.empty()) throw ConfigError(f->dir + ": no finished run under it (results.json)");
         return judge_and_report(f->baseline, dirs, f->junit);
       };
     }});

struct CompareFlags {
  std::string a, b, html;
  std::vector<std::string> cell_keys;
  bool json = false;
};

const bool compare_registered = register_command(
    {"compare",
     "Compare two runs or two sets of runs (matrices) cell by cell: verdicts, anomalies, "
     "throughput, latency, availability, versions",
     [](CLI::App& app) {
       auto f = std::make_shared<CompareFlags>();
       app.add_option("a", f->a, "A: a run, a test's directory or a results directory")->required();
       app.add_option("b", f->b, "B: likewise")->required();
       app.add_option("--html", f->html, "Also write the comparison as a page (compare.html)");
       app.add_flag("--json", f->json, "Print JSON");
       app.add_option("--cell-keys", f->cell_keys,
                      "Spec keys that define a cell, comma-separated (as baseline write; e.g. "
                      "db,workload,nemesis to compare across db-options)")
           ->delimiter(',');
       return [f]() -> int {
         auto a = metrics_under(f->a), b = metrics_under(f->b);
         if (!f->cell_keys.empty()) {
           run::rekey(&a, f->cell_keys);
           run::rekey(&b, f->cell_keys);
         }
         Json c = run::compare_runs(a, b);
         c["a-path"] = f->a;
         c["b-path"] = f->b;
         if (f->json) {
           std::cout << c.dump(2) << "\n";
         } else {
           std::cout << run::compare_text(c);
         }
         if (!f->html.empty()) {
           write_file_atomic(f->html, run::compare_html(c));
           std::cout << "compare: " << f->html << "\n";
         }
         return kExitValid;
       };
     }});

}  // namespace
}  // namespace faultline::cli
