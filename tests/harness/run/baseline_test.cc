// Regression baselines (issue 20) on the in-process databases: a baseline from `memory` flags
// memory-stale's anomalies as new; one from memory-stale passes it; a rate bound and a guard
// fail when broken; `compare` shows the difference; a flaky cell follows its policy.
#include "harness/run/baseline.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/files.h"
#include "tests/support/paths.h"

using namespace faultline;
using namespace faultline::testing;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("faultline-baseline-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

CommandResult fl(const std::string& args) {
  return run_shell(faultline_binary() + " " + args + " 2>&1");
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

run::RunMetrics metrics(const std::string& verdict, std::map<std::string, int64_t> anomalies) {
  run::RunMetrics m;
  m.key = {{"db", "d"}, {"workload", "w"}};
  m.label = run::cell_label(m.key);
  m.verdict = verdict;
  m.anomalies = std::move(anomalies);
  m.ok_ops = 1000;
  m.client_ops = 1000;
  m.throughput = 100;
  m.p99_ms = 10;
  return m;
}

}  // namespace

TEST_CASE("baseline: a flaky cell passes or fails by its policy", "[baseline]") {
  // Blessed from one invalid run with G-single; then 3 runs, one of which shows a new type.
  Json b = run::write_baseline({metrics("invalid", {{"elle/G-single", 5}})}, "here");
  const std::string label = run::cell_label({{"db", "d"}, {"workload", "w"}});
  REQUIRE(b["cells"].contains(label));
  CHECK(b["cells"][label]["verdict"] == "invalid");
  CHECK(b["cells"][label]["anomalies"]["elle/G-single"]["max-per-1000-ops"] == 10.0);
  std::vector<run::RunMetrics> one_bad = {metrics("invalid", {{"elle/G-single", 4}}),
                                          metrics("invalid", {{"elle/G1c", 1}}),
                                          metrics("invalid", {{"elle/G-single", 6}})};
  std::vector<run::RunMetrics> two_bad = {metrics("invalid", {{"elle/G-single", 4}}),
                                          metrics("invalid", {{"elle/G1c", 1}}),
                                          metrics("valid", {})};
  auto judge = [&](const std::string& policy, const std::vector<run::RunMetrics>& runs) {
    Json bb = b;
    bb["cells"][label]["policy"] = policy;
    Json j = run::judge_runs(bb, runs);
    INFO(run::judgement_text(j));
    return j["pass"].get<bool>();
  };
  CHECK_FALSE(judge("all", one_bad));
  CHECK(judge("most", one_bad));
  CHECK(judge("any", one_bad));
  CHECK_FALSE(judge("all", two_bad));
  CHECK_FALSE(judge("most", two_bad));
  CHECK(judge("any", two_bad));
  Json j = run::judge_runs(b, one_bad);
  const std::string text = run::judgement_text(j);
  CHECK(has(text, "FAIL " + label + ": 2 of 3 runs pass (policy all)"));
  CHECK(has(text, "new anomaly type elle/G1c (1, 1.00 per 1,000 ok ops)"));
  CHECK(has(text, "elle/G-single in 2/3 runs"));
  CHECK(has(text, "elle/G-single in 2 of 3 runs (expected)"));
  // The valid run of two_bad is a verdict flip.
  CHECK(has(run::judgement_text(run::judge_runs(b, two_bad)), "verdict valid, baseline invalid"));
  // Blessed from runs that differed: either verdict is expected, and the types seen in any.
  Json flaky = run::write_baseline(
      {metrics("valid", {}), metrics("invalid", {{"lin/nonlinearizable", 1}})}, "here");
  CHECK(flaky["cells"][label]["verdict"] == Json::array({"invalid", "valid"}));
  CHECK(run::judge_runs(flaky, {metrics("valid", {})})["pass"] == true);
  CHECK(run::judge_runs(flaky, {metrics("invalid", {{"lin/nonlinearizable", 1}})})["pass"] == true);
  CHECK(run::judge_runs(flaky, {metrics("unknown", {})})["pass"] == false);
  // A malformed baseline names the path.
  Json bad = b;
  bad["cells"][label]["policy"] = "some";
  CHECK_THROWS_WITH(run::judge_runs(bad, one_bad),
                    Catch::Contains("/policy: expected all, most or any, not 'some'"));
}

TEST_CASE("baseline: cells pooled by workload allow each other's types and verdicts",
          "[baseline]") {
  auto cell = [](const std::string& nemesis, const std::string& workload,
                 const std::string& verdict, std::map<std::string, int64_t> anomalies) {
    run::RunMetrics m = metrics(verdict, std::move(anomalies));
    m.key = {{"db", "d"}, {"nemesis", {nemesis}}, {"workload", workload}};
    m.label = run::cell_label(m.key);
    return m;
  };
  std::vector<run::RunMetrics> runs = {
      cell("kill", "append", "invalid", {{"elle/G-single", 5}}),
      cell("pause", "append", "invalid", {{"elle/G-single", 2}, {"elle/G-nonadjacent", 1}}),
      cell("kill", "register", "valid", {}),
      cell("pause", "register", "invalid", {{"lin/nonlinearizable", 1}})};
  run::BlessOptions o;
  o.pool = {"workload"};
  Json b = run::write_baseline(runs, "here", o);
  const Json& kill_append = b["cells"][runs[0].label];
  CHECK(kill_append["anomalies"]["elle/G-nonadjacent"]["max-per-1000-ops"] == 2.0);
  CHECK(kill_append["anomalies"]["elle/G-single"]["max-per-1000-ops"] == 10.0);
  CHECK(kill_append["verdict"] == "invalid");
  CHECK(has(kill_append["note"].get<std::string>(), "pooled by workload with 1 other cells"));
  CHECK(has(kill_append["note"].get<std::string>(), "(added: elle/G-nonadjacent)"));
  // The pause cell had G-single at a lower rate: it gets the pool's highest bound.
  CHECK(b["cells"][runs[1].label]["anomalies"]["elle/G-single"]["max-per-1000-ops"] == 10.0);
  const Json& kill_register = b["cells"][runs[2].label];
  CHECK(kill_register["verdict"] == Json::array({"invalid", "valid"}));
  CHECK(kill_register["anomalies"].contains("lin/nonlinearizable"));
  CHECK(has(kill_register["note"].get<std::string>(), "either verdict"));
  // A stale read in the kill/register cell now passes; a new type in it still fails.
  std::vector<run::RunMetrics> again = {
      cell("kill", "register", "invalid", {{"lin/nonlinearizable", 1}})};
  CHECK(run::judge_runs(b, again)["pass"] == true);
  again[0].anomalies = {{"elle/G-single", 1}};
  CHECK(run::judge_runs(b, again)["pass"] == false);
  // Without pooling, the same runs keep each cell to its own.
  Json own = run::write_baseline(runs, "here");
  CHECK_FALSE(own["cells"][runs[0].label]["anomalies"].contains("elle/G-nonadjacent"));
  CHECK(own["cells"][runs[2].label]["verdict"] == "valid");
  // Through the CLI: --pool is a write flag.
  CHECK(has(fl("baseline write --help").output, "--pool"));
}

TEST_CASE("baseline: write, check, bounds, guards and compare on the in-process databases",
          "[baseline][cli]") {
  fs::path d = scratch("cli");
  const std::string common =
      " --workload register --time-limit 0.5 --quiet --seed 4 --results-dir ";
  REQUIRE(fl("run --db memory" + common + (d / "mem").string()).status == 0);
  REQUIRE(fl("run --db memory-stale" + common + (d / "stale").string()).status == 1);

  // Blessed from memory (keyed by workload and nemesis, so the two databases are one cell,
  // as two builds of one would be): memory-stale's anomaly is new, and its verdict flipped.
  const std::string mem_b = (d / "mem.json").string(), stale_b = (d / "stale.json").string();
  REQUIRE(fl("baseline write " + (d / "mem").string() + " -o " + mem_b +
             " --cell-keys workload,nemesis")
              .status == 0);
  CommandResult c1 = fl("baseline check " + (d / "stale").string() + " --baseline " + mem_b +
                        " --junit " + (d / "j1.xml").string());
  INFO(c1.output);
  CHECK(c1.status == 1);
  CHECK(has(c1.output, "FAIL nemesis=[] workload=register"));
  CHECK(has(c1.output, "new anomaly type linearizable/nonlinearizable"));
  CHECK(has(c1.output, "verdict invalid, baseline valid"));
  const std::string j1 = read_file(d / "j1.xml");
  CHECK(has(j1, "name=\"anomaly linearizable/nonlinearizable\"><failure"));

  // Blessed from memory-stale: the same run passes, its anomaly an expected, passing testcase.
  REQUIRE(fl("baseline write " + (d / "stale").string() + " -o " + stale_b).status == 0);
  CommandResult c2 = fl("baseline check " + (d / "stale").string() + " --baseline " + stale_b +
                        " --junit " + (d / "j2.xml").string());
  INFO(c2.output);
  CHECK(c2.status == 0);
  CHECK(has(c2.output, "baseline: PASS"));
  const std::string j2 = read_file(d / "j2.xml");
  CHECK(has(j2, "<property name=\"expected-anomaly\" value=\"linearizable/nonlinearizable\"/>"));
  CHECK(has(j2, "name=\"anomaly linearizable/nonlinearizable\"/>"));
  CHECK(has(j2, "failures=\"0\""));

  // A rate bound broken, then a guard broken.
  Json b = Json::parse(read_file(stale_b));
  const std::string label = b["cells"].begin().key();
  Json tight = b;
  tight["cells"][label]["anomalies"]["linearizable/nonlinearizable"]["max-per-1000-ops"] = 0.0001;
  write_file_atomic(d / "tight.json", tight.dump());
  CommandResult c3 =
      fl("baseline check " + (d / "stale").string() + " --baseline " + (d / "tight.json").string());
  INFO(c3.output);
  CHECK(c3.status == 1);
  CHECK(has(c3.output, "above its bound 0.00"));
  Json slow = b;
  slow["cells"][label]["guards"]["throughput-min"] = 1e9;
  write_file_atomic(d / "slow.json", slow.dump());
  CommandResult c4 =
      fl("baseline check " + (d / "stale").string() + " --baseline " + (d / "slow.json").string());
  INFO(c4.output);
  CHECK(c4.status == 1);
  CHECK(has(c4.output, "below its floor 1000000000.0"));

  // run --baseline: the exit code is the judgement's, not the verdict's.
  CommandResult r =
      fl("run --db memory-stale" + common + (d / "again").string() + " --baseline " + stale_b);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(fs::exists(d / "again" / "baseline-junit.xml"));
  CHECK(fl("run --db memory" + common + (d / "again2").string() + " --baseline " + mem_b).status ==
        0);
  CHECK(fl("run --db memory" + common + (d / "x").string() + " --baseline " +
           (d / "nope.json").string())
            .status == 254);

  // compare: two runs, one cell each but not the same one (the database differs), are
  // compared with each other, the differing key said first; the new anomaly is named.
  CommandResult cmp = fl("compare " + (d / "mem").string() + " " + (d / "stale").string() +
                         " --html " + (d / "compare.html").string());
  INFO(cmp.output);
  CHECK(cmp.status == 0);
  CHECK(has(cmp.output, "\nnemesis=[] workload=register\n"));
  CHECK(has(cmp.output, "  * db \"memory\" -> \"memory-stale\"\n"));
  CHECK(has(cmp.output, "new in B: linearizable/nonlinearizable"));
  CHECK_FALSE(has(cmp.output, "only in"));
  // Two sets of cells that do not match (mem + stale against again2 alone): cell by cell.
  fs::create_directories(d / "both");
  fs::copy(d / "mem", d / "both" / "mem",
           fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  fs::copy(d / "stale", d / "both" / "stale",
           fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  CommandResult sides = fl("compare " + (d / "both").string() + " " + (d / "stale").string());
  INFO(sides.output);
  CHECK(has(sides.output, "db=memory "));
  CHECK(has(sides.output, "only in A"));
  // --cell-keys: keyed by the workload only, mem and stale on each side are one cell.
  CommandResult keyed = fl("compare " + (d / "both").string() + " " + (d / "both").string() +
                           " --cell-keys workload");
  INFO(keyed.output);
  CHECK(has(keyed.output, "\nworkload=register\n"));
  CHECK(has(keyed.output, "A: 2 runs"));
  // Compared as one cell (the workload), B's new anomaly and flipped verdict are named.
  Json mem = Json::array(), stale = Json::array();
  std::vector<run::RunMetrics> a = {
      run::read_run_metrics(run::find_runs(d / "mem").at(0), {"workload", "nemesis"})};
  std::vector<run::RunMetrics> bb = {
      run::read_run_metrics(run::find_runs(d / "stale").at(0), {"workload", "nemesis"})};
  Json c = run::compare_runs(a, bb);
  const std::string text = run::compare_text(c);
  INFO(text);
  CHECK(has(text, "new in B: linearizable/nonlinearizable"));
  CHECK(has(text, "verdicts {\"valid\":1} -> {\"invalid\":1}"));
  CHECK(has(text, "change: throughput "));
  CHECK(has(read_file(d / "compare.html"), "<table>"));
  fs::remove_all(d);
}

TEST_CASE("bisect: the first value of an axis showing an anomaly, in the fewest cells",
          "[baseline][cli]") {
  fs::path d = scratch("bisect");
  const std::string common = " --workload register --time-limit 0.3 --quiet --seed 2 ";
  CommandResult r = fl("bisect" + common + "--results-dir " + (d / "a").string() +
                       " --axis db --values memory,memory,memory,memory-stale,memory-stale"
                       " --until nonlinearizable");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(has(r.output,
            "== bisect: 2 cells run; first value of db where nonlinearizable shows: "
            "\"memory-stale\" (the one before, \"memory\", did not)"));
  Json j = Json::parse(read_file(d / "a" / "bisect.json"));
  CHECK(j["first"] == "memory-stale");
  CHECK(j["probes"].size() == 2);
  CommandResult g = fl("bisect" + common + "--results-dir " + (d / "b").string() +
                       " --axis db --values memory-stale,memory-stale,memory"
                       " --until-gone linearizable/nonlinearizable");
  INFO(g.output);
  CHECK(g.status == 0);
  CHECK(has(g.output, "is gone: \"memory\" (the one before, \"memory-stale\", still showed it)"));
  // Nothing shows it: exit 1, said.
  CommandResult n = fl("bisect" + common + "--results-dir " + (d / "c").string() +
                       " --axis db --values memory,memory --until nonlinearizable");
  INFO(n.output);
  CHECK(n.status == 1);
  CHECK(has(n.output, "no value of db shows nonlinearizable"));
  CHECK(fl("bisect" + common + "--axis db --values memory").status == 254);  // no --until
  fs::remove_all(d);
}
