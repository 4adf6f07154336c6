// `faultline run` (a test from flags and/or a spec file) and `faultline analyze` (re-check a
// stored run). Flags are Jepsen's; each one is also a spec key (spec.h), and a flag given on
// the command line overrides the same key of --spec.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "harness/cli/baseline.h"
#include "harness/cli/cli.h"
#include "harness/errors.h"
#include "harness/files.h"
#include "harness/report/failure.h"
#include "harness/run/matrix.h"
#include "harness/run/results.h"
#include "harness/run/runner.h"
#include "harness/run/spec.h"

namespace faultline::cli {
namespace {

struct RunFlags {
  std::string spec_file, db, workload, nemesis, concurrency, nodes, nodes_file, consistency_model;
  std::string routing, retry;
  std::string results_dir, name, ssh_user, ssh_key, ssh_known_hosts, ssh_strict;
  std::string baseline;  // run --baseline: judge the runs against it (exit 0 / 1)
  double nemesis_interval = 0, time_limit = 0, rate = 0, op_timeout = 0, recovery_wait = 0;
  double checker_time_limit = 0;
  int64_t test_count = 1, local = 0, ssh_port = 22;
  uint64_t seed = 0;
  bool leave_db_running = false, quiet = false, no_progress = false, no_preflight = false;
  bool verbose = false;
};

// A spec with a "matrix" key (matrix.h): every combination, test-count runs each, then
// matrix.json and matrix.html in the results directory. Every combination's spec is validated
// before the first run; a run that fails (not a bad spec) is an "error" row and the matrix
// goes on.
int run_matrix(const Json& j, const std::string& source, const run::RunOptions& ro,
               const std::string& baseline) {
  std::vector<run::MatrixCombination> combos;
  try {
    combos = run::expand_matrix(j);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(source + ": " + e.what());
  }
  std::vector<run::TestSpec> specs;
  for (const auto& c : combos) specs.push_back(run::parse_spec(c.spec, source));
  std::filesystem::path root = specs.front().results_dir;
  std::vector<run::MatrixRun> runs;
  std::vector<std::filesystem::path> dirs;
  Validity overall = Validity::kValid;
  bool interrupted = false;
  for (size_t ci = 0; ci < specs.size() && !interrupted; ++ci) {
    for (int64_t i = 0; i < specs[ci].test_count && !interrupted; ++i) {
      run::TestSpec one = specs[ci];
      one.matrix_cell = combos[ci].values;
      if (one.seed && i > 0) one.seed = *one.seed + static_cast<uint64_t>(i);
      std::cout << "== " << json_text(combos[ci].values) << " run " << (i + 1) << " of "
                << one.test_count << "\n"
                << std::flush;
      run::MatrixRun mr;
      mr.values = combos[ci].values;
      mr.run = static_cast<int>(i + 1);
      try {
        run::RunOutcome out = run::run_test(one, ro);
        std::cout << out.summary << std::flush;
        mr.verdict = std::string(to_string(out.validity));
        mr.dir = std::filesystem::relative(out.dir, root).string();
        dirs.push_back(out.dir);
        mr.checkers = Json::object();
        const Json checkers = out.results.value("checkers", Json::object());
        for (const auto& [label, rj] : checkers.items()) {
          mr.checkers[label] = {{"valid", rj.value("valid", std::string("unknown"))},
                                {"summary", rj.value("summary", std::string())}};
        }
        overall = merge(overall, out.validity);
        interrupted = out.interrupted;
      } catch (const ConfigError&) {
        throw;
      } catch (const std::exception& e) {
        mr.verdict = "error";
        mr.error = e.what();
        overall = merge(overall, Validity::kUnknown);
        std::cout << "error: " << e.what() << "\n";
      }
      runs.push_back(mr);
    }
  }
  Json m = run::matrix_json(runs);
  std::filesystem::create_directories(root);
  write_file_atomic(root / "matrix.json", m.dump(2) + "\n");
  write_file_atomic(root / "matrix.html", run::matrix_html(m));
  std::cout << "== matrix: " << runs.size() << " runs;";
  for (const auto& [v, n] : m["tally"].items()) std::cout << " " << v << " " << n.get<int>();
  std::cout << "; overall " << to_string(overall) << "\n"
            << "matrix: " << (root / "matrix.html").string() << "\n";
  if (!baseline.empty() && !dirs.empty()) {
    return judge_and_report(baseline, dirs, root / "baseline-junit.xml");
  }
  return exit_code_of(overall);
}

// The spec of the flags: --spec's file, each flag given overriding its key.
Json spec_json(const CLI::App& app, const RunFlags& f) {
  Json j = f.spec_file.empty() ? Json::object() : run::load_spec_file(f.spec_file);
  if (!j.is_object()) throw ConfigError(f.spec_file + ": /: expected an object");
  auto given = [&](const char* flag) { return app.count(flag) > 0; };
  if (given("--db")) j["db"] = f.db;
  if (given("--workload")) j["workload"] = f.workload;
  if (given("--nemesis")) j["nemesis"] = f.nemesis;
  if (given("--nemesis-interval")) j["nemesis-interval"] = f.nemesis_interval;
  if (given("--time-limit")) j["time-limit"] = f.time_limit;
  if (given("--concurrency")) j["concurrency"] = f.concurrency;
  if (given("--rate")) j["rate"] = f.rate;
  if (given("--op-timeout")) j["op-timeout"] = f.op_timeout;
  if (given("--recovery-wait")) j["recovery-wait"] = f.recovery_wait;
  if (given("--checker-time-limit")) j["checker-time-limit"] = f.checker_time_limit;
  if (given("--test-count")) j["test-count"] = f.test_count;
  if (given("--seed")) j["seed"] = f.seed;
  if (given("--nodes")) j["nodes"] = split_commas(f.nodes);
  if (given("--nodes-file")) j["nodes-file"] = f.nodes_file;
  if (given("--local")) j["local"] = f.local;
  if (given("--leave-db-running")) j["leave-db-running"] = f.leave_db_running;
  if (given("--consistency-model")) j["consistency-model"] = f.consistency_model;
  if (given("--routing")) j["routing"] = f.routing;
  if (given("--retry")) j["retry"] = f.retry;
  if (given("--results-dir")) j["results-dir"] = f.results_dir;
  if (given("--name")) j["name"] = f.name;
  if (given("--ssh-user")) j["ssh"]["username"] = f.ssh_user;
  if (given("--ssh-private-key")) j["ssh"]["private-key-path"] = f.ssh_key;
  if (given("--ssh-known-hosts")) j["ssh"]["known-hosts"] = f.ssh_known_hosts;
  if (given("--ssh-strict-host-key-checking")) {
    if (f.ssh_strict != "yes" && f.ssh_strict != "no") {
      throw ConfigError("--ssh-strict-host-key-checking must be yes or no");
    }
    j["ssh"]["strict-host-key-checking"] = f.ssh_strict == "yes";
  }
  if (given("--ssh-port")) j["ssh"]["port"] = f.ssh_port;
  if (given("--no-preflight")) j["preflight"] = !f.no_preflight;
  return j;
}

int run_command(const CLI::App& app, const RunFlags& f) {
  Json j = spec_json(app, f);
  run::RunOptions ro;
  ro.echo_log = !f.quiet;
  ro.progress = !f.quiet && !f.no_progress;
  if (!f.baseline.empty() && !std::filesystem::exists(f.baseline)) {
    throw ConfigError(f.baseline + ": no such baseline file (faultline baseline write)");
  }
  if (j.contains("matrix")) {
    return run_matrix(j, f.spec_file.empty() ? "flags" : f.spec_file, ro, f.baseline);
  }
  run::TestSpec spec = run::parse_spec(j, f.spec_file.empty() ? "flags" : f.spec_file);

  Validity overall = Validity::kValid;
  std::map<std::string, int> tally;
  std::vector<std::filesystem::path> dirs;
  for (int64_t i = 0; i < spec.test_count; ++i) {
    run::TestSpec one = spec;
    // Run k of a series gets seed + k, so every run differs and each is reproducible alone.
    if (one.seed && i > 0) one.seed = *one.seed + static_cast<uint64_t>(i);
    if (spec.test_count > 1) {
      std::cout << "== run " << (i + 1) << " of " << spec.test_count << "\n" << std::flush;
    }
    run::RunOutcome out = run::run_test(one, ro);
    std::cout << out.summary << std::flush;
    overall = merge(overall, out.validity);
    ++tally[std::string(to_string(out.validity))];
    dirs.push_back(out.dir);
    if (out.interrupted) break;
  }
  if (spec.test_count > 1) {
    std::cout << "== " << spec.test_count << " runs:";
    for (const auto& [v, n] : tally) std::cout << " " << v << " " << n;
    std::cout << "; overall " << to_string(overall) << "\n";
    // How often each anomaly type showed in this series, beside the runs (the test's
    // directory); a failure to write it is said, never changes the verdict.
    try {
      const std::filesystem::path at = dirs.back().parent_path() / "HOW-OFTEN.md";
      const std::string md = report::how_often_markdown(
          std::to_string(dirs.size()) + " runs of " + at.parent_path().filename().string() + " (" +
              dirs.front().filename().string() + " to " + dirs.back().filename().string() + ")",
          dirs);
      write_file_atomic(at, md);
      std::cout << md << "written: " << at.string() << "\n";
    } catch (const std::exception& e) {
      std::cout << "HOW-OFTEN.md not written: " << e.what() << "\n";
    }
  }
  if (!f.baseline.empty() && !dirs.empty()) {
    return judge_and_report(f.baseline, dirs,
                            std::filesystem::path(spec.results_dir) / "baseline-junit.xml");
  }
  return exit_code_of(overall);
}

// The flags that define a test (each one a spec key, spec.h), for `run` and `nodes check`.
void add_test_flags(CLI::App& app, RunFlags& f) {
  app.add_option("--spec", f.spec_file, "Test spec (JSON; flags override its keys)");
  app.add_option("--db", f.db, "Database (see `faultline list`; default memory)");
  app.add_option("--workload", f.workload, "Workload (default register)");
  app.add_option("--nemesis", f.nemesis, "Nemeses: a,b | none | all (default none)");
  app.add_option("--nemesis-interval", f.nemesis_interval,
                 "Seconds between a fault's start and stop (default 10)");
  app.add_option("--time-limit", f.time_limit, "Seconds of the main phase (default 60)");
  app.add_option("--concurrency", f.concurrency,
                 "Client threads: N, or Nn for N per node (default 3n)");
  app.add_option("--rate", f.rate, "Ops/s over all clients; 0 unlimited (default 1000)");
  app.add_option("--op-timeout", f.op_timeout, "Seconds before a client op is info (default 10)");
  app.add_option("--recovery-wait", f.recovery_wait,
                 "Seconds to wait after heal when a nemesis ran (default 5)");
  app.add_option("--checker-time-limit", f.checker_time_limit,
                 "Seconds per checker before its verdict is unknown (default 0: none)");
  app.add_option("--test-count", f.test_count, "Runs of the test (default 1)");
  app.add_option("--seed", f.seed, "Seed (default random; recorded in test.json)");
  app.add_option("--nodes", f.nodes, "Nodes, comma-separated");
  app.add_option("--nodes-file", f.nodes_file, "File with one node per line");
  app.add_option("--local", f.local,
                 "Use the local cluster with N nodes (brought up if it is not)");
  app.add_option("--ssh-user", f.ssh_user, "SSH user name");
  app.add_option("--ssh-private-key,--ssh-key", f.ssh_key, "SSH private key file");
  app.add_option("--ssh-known-hosts", f.ssh_known_hosts, "known_hosts file");
  app.add_option("--ssh-strict-host-key-checking", f.ssh_strict, "yes (default) or no");
  app.add_option("--ssh-port", f.ssh_port, "SSH port");
  app.add_flag("--leave-db-running", f.leave_db_running,
               "Do not tear the database down at the end");
  app.add_option("--consistency-model", f.consistency_model,
                 "For transactional checkers: the model to check against");
  app.add_option("--routing", f.routing,
                 "random (default) or home-node: each key written only through its home "
                 "node");
  app.add_option("--retry", f.retry,
                 "none (default) or idempotent: retry writes whose reply was lost, with an "
                 "idempotency key");
  app.add_option("--results-dir", f.results_dir, "Results directory (default results)");
  app.add_option("--name", f.name, "Test name (default <db>-<workload>[-<nemeses>])");
  app.add_flag("--no-preflight", f.no_preflight,
               "Skip the node checks before setup (spec key preflight: false)");
}

const bool run_registered = register_command(
    {"run", "Run a test: set up the database, run the workload and nemeses, heal, check",
     [](CLI::App& app) {
       auto f = std::make_shared<RunFlags>();
       add_test_flags(app, *f);
       app.add_flag("--quiet,-q", f->quiet, "Only the summary on stdout");
       app.add_option("--baseline", f->baseline,
                      "Judge the runs against this baseline.json (faultline baseline write): "
                      "exit 0 when only expected anomalies within their bounds appear, 1 on a "
                      "new anomaly type, a verdict flip, a rate above its bound or a guard "
                      "broken; baseline-junit.xml in the results directory");
       app.add_flag("--no-progress", f->no_progress, "No progress line");
       return [f, &app] { return run_command(app, *f); };
     }});

// `faultline bisect --axis KEY --values v1,...,vN --until ANOMALY` (with run's flags): the
// first value of an ordered axis whose runs show ANOMALY (or, with --until-gone, no longer
// show it), by binary search over the values, assuming the answer is monotone along them
// (as `git bisect` does): ceil(log2(N + 1)) cells, each test-count runs; a cell shows the
// anomaly when any of its runs does. KEY is a spec key or a dotted path into one
// ("db-options.sync-wait"); a value is read as JSON when it parses, else as a string.
// ANOMALY is "<checker>/<type>", a bare type ("G-single", "nonlinearizable") or "invalid".
// bisect.json in the results directory records every probe. Exit 0 when found, 1 when no
// value shows it.
struct BisectFlags {
  std::string axis, values, until, until_gone;
};

// Whether a finished run shows `what`.
bool run_shows(const run::RunOutcome& out, const std::string& what) {
  if (what == "invalid") return out.validity == Validity::kInvalid;
  for (const auto& [key, n] : report::anomaly_counts(out.results)) {
    if (key == what || key.substr(key.find('/') + 1) == what) return true;
  }
  return false;
}

// Sets a dotted path ("db-options.sync-wait") of a spec to `value`.
void set_path(Json* spec, const std::string& path, const Json& value) {
  Json* at = spec;
  std::string rest = path;
  for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1)) {
    const std::string part = rest.substr(0, dot);
    if (!at->contains(part) || !(*at)[part].is_object()) (*at)[part] = Json::object();
    at = &(*at)[part];
  }
  (*at)[rest] = value;
}

int bisect_command(const CLI::App& app, const RunFlags& f, const BisectFlags& b) {
  if (b.until.empty() == b.until_gone.empty()) {
    throw ConfigError("bisect: give one of --until ANOMALY or --until-gone ANOMALY");
  }
  const bool gone = !b.until_gone.empty();
  const std::string what = gone ? b.until_gone : b.until;
  std::vector<Json> values;
  for (const auto& v : split_commas(b.values)) {
    try {
      values.push_back(Json::parse(v));
    } catch (const Json::parse_error&) {
      values.emplace_back(v);
    }
  }
  if (values.empty()) throw ConfigError("bisect: --values needs at least one value");
  Json base = spec_json(app, f);
  if (base.contains("matrix")) throw ConfigError("bisect: give one test, not a matrix");
  run::RunOptions ro;
  ro.echo_log = !f.quiet;
  ro.progress = false;
  // Each value's spec is validated before the first run.
  std::vector<run::TestSpec> specs;
  for (const auto& v : values) {
    Json j = base;
    set_path(&j, b.axis, v);
    specs.push_back(run::parse_spec(j, "bisect " + b.axis + "=" + v.dump()));
    const std::string top = b.axis.substr(0, b.axis.find('.'));  // the spec key of the axis
    specs.back().matrix_cell = {{top, j[top]}};
  }
  Json probes = Json::array();
  auto probe = [&](size_t i) {
    bool shows = false;
    Json runs = Json::array();
    for (int64_t k = 0; k < specs[i].test_count; ++k) {
      run::TestSpec one = specs[i];
      if (one.seed && k > 0) one.seed = *one.seed + static_cast<uint64_t>(k);
      std::cout << "== bisect: " << b.axis << " = " << values[i].dump() << ", run " << (k + 1)
                << " of " << one.test_count << "\n"
                << std::flush;
      run::RunOutcome out = run::run_test(one, ro);
      const bool s = run_shows(out, what);
      shows = shows || s;
      runs.push_back({{"dir", out.dir.string()},
                      {"verdict", std::string(to_string(out.validity))},
                      {"shows", s}});
      if (out.interrupted) throw ConfigError("bisect: interrupted");
    }
    std::cout << "== bisect: " << b.axis << " = " << values[i].dump() << ": "
              << (shows ? "shows " : "does not show ") << what << "\n"
              << std::flush;
    probes.push_back({{"value", values[i]}, {"shows", shows}, {"runs", runs}});
    return gone ? !shows : shows;
  };
  // lo: a value known not to answer (or before the first); hi: one known to (or past the last).
  int64_t lo = -1, hi = static_cast<int64_t>(values.size());
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (probe(static_cast<size_t>(mid))) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  const bool found = hi < static_cast<int64_t>(values.size());
  Json result = {{"axis", b.axis},
                 {"values", values},
                 {gone ? "until-gone" : "until", what},
                 {"probes", probes},
                 {"found", found}};
  std::string answer;
  if (found) {
    result["first"] = values[static_cast<size_t>(hi)];
    answer = "first value of " + b.axis + " where " + what + (gone ? " is gone: " : " shows: ") +
             values[static_cast<size_t>(hi)].dump();
    if (hi > 0) {
      answer += " (the one before, " + values[static_cast<size_t>(hi - 1)].dump() +
                (gone ? ", still showed it)" : ", did not)");
    }
  } else {
    answer = "no value of " + b.axis + (gone ? " is free of " : " shows ") + what + " (the last, " +
             values.back().dump() + ", was run)";
  }
  result["answer"] = answer;
  const std::filesystem::path out =
      std::filesystem::path(specs.front().results_dir) / "bisect.json";
  std::filesystem::create_directories(out.parent_path());
  write_file_atomic(out, result.dump(2) + "\n");
  std::cout << "== bisect: " << probes.size() << " cells run; " << answer
            << "\nbisect: " << out.string() << "\n";
  return found ? kExitValid : kExitInvalid;
}

const bool bisect_registered = register_command(
    {"bisect",
     "Find the first value of an axis (a spec key) where an anomaly shows (or is gone), by "
     "binary search over the values",
     [](CLI::App& app) {
       auto f = std::make_shared<RunFlags>();
       auto b = std::make_shared<BisectFlags>();
       add_test_flags(app, *f);
       app.add_flag("--quiet,-q", f->quiet, "Only the bisection on stdout");
       app.add_option("--axis", b->axis, "Spec key or dotted path, e.g. db-options.sync-wait")
           ->required();
       app.add_option("--values", b->values, "The axis's values in order, comma-separated")
           ->required();
       app.add_option("--until", b->until,
                      "The anomaly to find the first value showing: <checker>/<type>, a bare "
                      "type, or invalid");
       app.add_option("--until-gone", b->until_gone,
                      "The anomaly to find the first value no longer showing");
       return [f, b, &app] { return bisect_command(app, *f, *b); };
     }});

// `faultline nodes check`: the preflight of the test the flags describe (its database's and
// nemeses' node checks, and those every test has), one line per problem and warning (every
// line with --verbose). Exit 0 when the test can run, 1 when a node has a problem.
int nodes_check_command(const CLI::App& app, const RunFlags& f) {
  Json j = spec_json(app, f);
  if (j.contains("matrix")) throw ConfigError("nodes check: give one test, not a matrix");
  run::TestSpec spec = run::parse_spec(j, f.spec_file.empty() ? "flags" : f.spec_file);
  run::PreflightCheck pre = run::preflight_test(spec);
  if (!pre.result) {
    std::cout << "nodes check: database '" << spec.db
              << "' runs in-process: there are no nodes to check\n";
    return 0;
  }
  std::cout << pre.result->text(f.verbose) << std::flush;
  return pre.result->problems() > 0 ? 1 : 0;
}

const bool nodes_registered = register_command(
    {"nodes", "Check the nodes a test would run on (nodes check, with run's flags)",
     [](CLI::App& app) {
       auto f = std::make_shared<RunFlags>();
       app.require_subcommand(1);
       CLI::App* check = app.add_subcommand(
           "check",
           "Check that the nodes can run the test the flags describe: SSH, sudo, disk, clock, "
           "and what its database and nemeses need; exit 1 on a problem");
       add_test_flags(*check, *f);
       check->add_flag("--verbose,-v", f->verbose, "Print every check, not only problems");
       return [f, check] { return nodes_check_command(*check, *f); };
     }});

struct AnalyzeFlags {
  std::string dir;
  bool progress = false;
};

const bool analyze_registered = register_command(
    {"analyze", "Re-run the checkers on a stored run's history (default: results/latest)",
     [](CLI::App& app) {
       auto f = std::make_shared<AnalyzeFlags>();
       app.add_option("run_dir", f->dir,
                      "Run directory, or a directory with a latest link (default results)");
       app.add_flag("--progress", f->progress, "Print checker progress on stderr");
       return [f] {
         run::RunOutcome out = run::analyze_run(f->dir.empty() ? "results" : f->dir, f->progress);
         std::cout << out.summary << std::flush;
         return exit_code_of(out.validity);
       };
     }});

}  // namespace
}  // namespace faultline::cli
