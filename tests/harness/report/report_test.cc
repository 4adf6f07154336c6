// report.html: verdict, explanations, timeline data, plots and cycle graphs; a missing
// gnuplot or graphviz is said on the page and the rest is still there.
#include "harness/report/report.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/formats.h"
#include "harness/recorder.h"
#include "harness/report/plot.h"
#include "harness/run/results.h"
#include "harness/run/runner.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("faultline-report-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A small run directory: two processes, a partition from 10 ms to 30 ms, one hostile value.
fs::path synthetic_run(const std::string& name) {
  fs::path dir = temp_dir(name) / "t" / "20260101T000000";
  fs::create_directories(dir);
  std::ofstream h(dir / "history.jsonl");
  h << R"({"index":0,"time":1000000,"process":0,"type":"invoke","f":"write","value":1})"
       "\n"
    << R"({"index":1,"time":2000000,"process":0,"type":"ok","f":"write","value":1})"
       "\n"
    << R"({"index":2,"time":10000000,"process":"nemesis","type":"info","f":"start-partition","value":null})"
       "\n"
    << R"({"index":3,"time":10500000,"process":"nemesis","type":"info","f":"start-partition","value":"majorities"})"
       "\n"
    << R"({"index":4,"time":12000000,"process":1,"type":"invoke","f":"read","value":null})"
       "\n"
    << R"({"index":5,"time":15000000,"process":1,"type":"ok","f":"read","value":"</script><script>alert(1)</script>"})"
       "\n"
    << R"({"index":6,"time":30000000,"process":"nemesis","type":"info","f":"stop-partition","value":null})"
       "\n"
    << R"({"index":7,"time":30500000,"process":"nemesis","type":"info","f":"stop-partition","value":"healed"})"
       "\n"
    << R"({"index":8,"time":31000000,"process":0,"type":"invoke","f":"write","value":2})"
       "\n";
  h.close();
  std::ofstream(dir / "test.json")
      << R"({"name":"t","spec":{"db":"memory","workload":"register"}})";
  return dir;
}

Json invalid_results() {
  return Json::parse(R"({"valid":"invalid","history":{"ops":9,"ok":2},"checkers":{
    "linearizable":{"valid":"invalid","summary":"1 illegal",
      "explanation":"Not linearizable: process 1 read (invoked line 5, completed line 6) <bad>\n",
      "counterexamples":[{"ops":[{"index":4,"complete_index":5,"process":1,"f":"read","type":"ok"}]}]},
    "stats":{"valid":"valid","summary":"fine"}}})");
}

}  // namespace

TEST_CASE("report: timeline data has columns, ops, and nemesis intervals") {
  fs::path dir = synthetic_run("timeline");
  RecoveredHistory rec = load_recorded_history((dir / "history.jsonl").string());
  Json t = report::timeline_data(rec.history);
  CHECK(t["procs"] == Json::array({"nemesis", "p0", "p1"}));
  // write, read, the open write, and two nemesis pairs.
  REQUIRE(t["ops"].size() == 5);
  REQUIRE(t["nem"].size() == 1);
  CHECK(t["nem"][0][0] == 10500);  // µs: the second op of the start pair
  CHECK(t["nem"][0][1] == 30500);
  CHECK(t["nem"][0][2] == "partition");
  Json open = t["ops"][4];
  CHECK(open[2] == -1);
  CHECK(open[3] == 4);
}

TEST_CASE("report: verdict, explanation with op links, ops involved, escaped data") {
  fs::path dir = synthetic_run("verdict");
  report::ReportOptions o;
  o.gnuplot = "/nonexistent/gnuplot";
  report::ReportOutput out = report::write_report(dir, invalid_results(), {}, o);
  std::string html = read_file(dir / "report.html");
  CHECK(out.bytes == html.size());
  CHECK(contains(html, "Verdict: invalid"));
  CHECK(contains(html, "Not linearizable: process 1 read"));
  CHECK(contains(html, "&lt;bad&gt;"));
  // "line 5" is op 4 of the history.
  CHECK(contains(html, "<a href=\"#op-4\">line 5</a>"));
  CHECK(contains(html, "<a href=\"#op-4\">op 4</a>"));
  CHECK(contains(html, "id=\"tl-data\""));
  CHECK(contains(html, "\"procs\":[\"nemesis\",\"p0\",\"p1\"]"));
  // The hostile value cannot close the data element.
  CHECK_FALSE(contains(html, "</script><script>alert(1)"));
  // gnuplot missing: said, and no plot images.
  CHECK(contains(html, "gnuplot not found"));
  CHECK_FALSE(contains(html, "data:image/"));
  CHECK(!fs::exists(dir / "plots" / "rate.svg"));
}

TEST_CASE("report: plots drawn by gnuplot and cycle graphs by dot, when present") {
  if (!report::find_program("gnuplot") || !report::find_program("dot")) {
    WARN("gnuplot or dot not installed: skipped");
    return;
  }
  fs::path dir = synthetic_run("plots");
  std::map<std::string, std::string> artifacts = {
      {"linearizable/cycle-1.dot", "digraph G { a -> b [label=\"wr\"]; b -> a [label=\"rw\"]; }"}};
  report::ReportOutput out = report::write_report(dir, invalid_results(), artifacts);
  INFO(Json(out.notes).dump());
  CHECK(out.notes.empty());
  std::string html = read_file(dir / "report.html");
  CHECK(fs::file_size(dir / "plots" / "rate.svg") > 0);
  CHECK(fs::file_size(dir / "plots" / "latency-raw.svg") > 0);
  CHECK(fs::file_size(dir / "plots" / "latency-quantiles.svg") > 0);
  CHECK(contains(read_file(dir / "plots" / "rate.gp"), "set object 1 rect from 0.0105"));
  CHECK(contains(html, "<img class=\"plot\""));
  CHECK(contains(html, "data:image/svg+xml;base64,"));
  CHECK(fs::exists(dir / "linearizable" / "cycle-1.svg"));
  CHECK(contains(html, "<img class=\"graph\""));
}

TEST_CASE("report: graphviz missing shows the dot source") {
  fs::path dir = synthetic_run("nodot");
  report::ReportOptions o;
  o.dot = "/nonexistent/dot";
  o.plots = false;
  report::write_report(dir, invalid_results(),
                       {{"linearizable/cycle-1.dot", "digraph G { a -> b; }"}}, o);
  std::string html = read_file(dir / "report.html");
  CHECK(contains(html, "graphviz (dot) not found"));
  CHECK(contains(html, "digraph G { a -&gt; b; }"));
  CHECK(contains(html, "Verdict: invalid"));
}

TEST_CASE("report: a run writes report.html and junit.xml next to results.json") {
  fs::path root = temp_dir("run");
  run::TestSpec s;
  s.results_dir = root.string();
  s.db = "memory-stale";
  s.workload = "register";
  s.time_limit_s = 1;
  s.rate = 500;
  s.concurrency = "2n";
  s.seed = 7;
  s.recovery_wait_s = 0;
  run::RunOptions ro;
  ro.echo_log = false;
  ro.progress = false;
  ro.handle_signals = false;
  run::RunOutcome out = run::run_test(s, ro);
  REQUIRE(fs::exists(out.dir / "report.html"));
  REQUIRE(fs::exists(out.dir / "junit.xml"));
  std::string html = read_file(out.dir / "report.html");
  CHECK(contains(html, "Verdict: " + std::string(to_string(out.validity))));
  CHECK(contains(html, "id=\"tl-data\""));
  CHECK(contains(out.summary, "report: "));
  if (out.validity == Validity::kInvalid) CHECK(contains(html, "Not linearizable"));
  if (report::find_program("gnuplot")) CHECK(contains(html, "<img class=\"plot\""));
  CHECK(contains(read_file(out.dir / "junit.xml"), "<testcase"));
}

TEST_CASE("report: the clock-offset plot appears when the clock nemesis ran") {
  if (!report::find_program("gnuplot")) {
    WARN("gnuplot not installed: skipped");
    return;
  }
  fs::path dir = temp_dir("clock");
  std::ofstream h(dir / "history.jsonl");
  h << R"({"index":0,"time":1000000,"process":0,"type":"invoke","f":"write","value":1})"
       "\n"
    << R"({"index":1,"time":2000000,"process":0,"type":"ok","f":"write","value":1})"
       "\n"
    << R"({"index":2,"time":3000000,"process":"nemesis","type":"info","f":"bump-clock","value":{"n2":250}})"
       "\n"
    << R"({"index":3,"time":4000000,"process":"nemesis","type":"info","f":"bump-clock","value":{"mechanism":"faketime","offsets-ms":{"n1":0,"n2":250}}})"
       "\n"
    << R"({"index":4,"time":9000000,"process":"nemesis","type":"info","f":"reset-clock","value":null})"
       "\n"
    << R"({"index":5,"time":9500000,"process":"nemesis","type":"info","f":"reset-clock","value":{"mechanism":"faketime","offsets-ms":{"n1":0,"n2":0}}})"
       "\n";
  h.close();
  History history = load_history_file((dir / "history.jsonl").string()).history;
  report::PlotOutput out = report::plot_run(history, dir / "plots");
  INFO(Json(out.notes).dump());
  bool listed = false;
  for (const auto& [file, title] : out.files) listed = listed || file == "clock.svg";
  CHECK(listed);
  CHECK(fs::file_size(dir / "plots" / "clock.svg") > 0);
  CHECK(contains(read_file(dir / "plots" / "clock-1.dat"), "0.004 250"));
  report::PlotOutput none = report::plot_run(
      load_history_file((synthetic_run("noclock") / "history.jsonl").string()).history,
      dir / "plots2");
  for (const auto& [file, title] : none.files) CHECK(file != "clock.svg");
}

TEST_CASE("report: time axes start at the main phase, the setup is one band") {
  fs::path dir = synthetic_run("axis");
  // The history's time 0 is before the setup; the main phase began at 0.9 ms.
  std::ofstream(dir / "test.json")
      << R"({"name":"t","main-start-ns":900000,"spec":{"db":"memory","workload":"register"}})";
  RecoveredHistory rec = load_recorded_history((dir / "history.jsonl").string());
  report::TimeAxis axis = report::time_axis(RunDir(dir).test(), rec.history);
  CHECK(axis.origin_ns == 900000);
  CHECK(axis.setup_ns == 900000);
  Json t = report::timeline_data(rec.history, axis);
  CHECK(t["setup"] == 900);
  CHECK(t["ops"][0][1] == 100);  // the first write, 1 ms - 0.9 ms
  CHECK(t["nem"][0][0] == 10500 - 900);
  // Without main-start-ns the history's own times are kept.
  report::TimeAxis foreign = report::time_axis(Json::object(), rec.history);
  CHECK(foreign.origin_ns == 0);
  CHECK(foreign.setup_ns == -1);
  CHECK(report::timeline_data(rec.history, foreign)["setup"] == -1);
  // An op before the main phase's start moves the origin back to it.
  report::TimeAxis early = report::time_axis(Json{{"main-start-ns", 5000000}}, rec.history);
  CHECK(early.origin_ns == 1000000);
  if (!report::find_program("gnuplot")) {
    WARN("gnuplot not installed: plot axis not checked");
    return;
  }
  report::PlotOptions po;
  po.origin_ns = axis.origin_ns;
  po.setup_ns = axis.setup_ns;
  report::PlotOutput out = report::plot_run(rec.history, dir / "plots", po);
  INFO(Json(out.notes).dump());
  std::string gp = read_file(dir / "plots" / "rate.gp");
  CHECK(contains(gp, "rect from 0.0096, graph 0"));  // the partition, 10.5 ms - 0.9 ms
  CHECK(contains(gp, "set label \"setup\""));
  CHECK(contains(gp, "setup (grey) took 0.0 s"));
  CHECK(contains(read_file(dir / "plots" / "latency-ok.dat"), "0.0001 1"));
}
