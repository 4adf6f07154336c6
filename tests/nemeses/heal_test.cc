// `faultline heal` after a crashed controller (issue 14 item 4), over fake nodes: the clock
// offsets a run left on real hosts (read from its history) are stepped back, once; the run's
// own faketime-dir and packet dir are healed; paused processes that cannot be resumed are said
// and fail the heal; the run is chosen by name, never a stranger's `latest`.
#include "harness/run/heal.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/formats.h"
#include "harness/run/results.h"
#include "nemeses/clock.h"
#include "tests/nemeses/nemesis_test_util.h"

using namespace faultline;
using namespace faultline::nemeses;
using namespace faultline::testing;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("fl-heal-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Op nemesis_info(const std::string& f, Json value) {
  Op op = nemesis_op(f, std::move(value));
  op.type = OpType::kInfo;
  return op;
}

// A run directory with test.json and a history of `ops`.
void write_run(const fs::path& dir, const Json& test, const std::vector<Op>& ops) {
  fs::create_directories(dir);
  std::ofstream(dir / "test.json") << test.dump(2) << "\n";
  std::ofstream h(dir / "history.jsonl");
  int64_t i = 0;
  for (Op op : ops) {
    op.index = i++;
    op.time_ns = op.index * 1000;
    h << op_to_jsonl(op) << "\n";
  }
}

// A real host n1 whose system clock is `offset_ms` off true time: it answers the probe (not
// this machine's boot id), `date +%s.%N`, and the clock nemesis's steps.
struct FakeHostClock {
  std::shared_ptr<double> offset_ms = std::make_shared<double>(0);
  void attach(FakeRemote& remote, const std::string& node) {
    auto off = offset_ms;
    remote.script(node).fallback = [off](const Command& c) {
      ExecResult r;
      std::string script = c.argv.size() > 2 ? c.argv[2] : "";
      if (script.find("SSH_CONNECTION") != std::string::npos) {
        r.out = "10.0.0.1 40000 10.0.0.11 22\n0\nanother-kernel\n";
      } else if (c.argv.size() == 2 && c.argv[0] == "date") {
        double now =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        char b[64];
        std::snprintf(b, sizeof b, "%.9f\n", now + *off / 1000);
        r.out = b;
      } else if (script.find("date -s") != std::string::npos) {
        *off += std::stod(c.argv.back());
      } else if (!c.argv.empty() && c.argv[0] == "test") {
        r.exit_status = 1;  // no faketime file
      }
      return r;
    };
  }
};

Json test_json(const std::vector<std::string>& nemeses, Json nemesis_options = Json::object(),
               const std::string& db = "no-such-db") {
  return {{"nodes", {"n1"}},
          {"nemeses", nemeses},
          {"spec", {{"db", db}, {"nemesis-options", nemesis_options}}}};
}

}  // namespace

TEST_CASE("heal: clock offsets from the history, completed or cut off", "[heal]") {
  std::vector<Op> h = {
      nemesis_info("bump-clock", {{"n1", 5000}}),
      nemesis_info("bump-clock",
                   {{"mechanism", "system"}, {"offsets-ms", {{"n1", 5000}, {"n2", 0}}}}),
  };
  ClockHealPlan p = clock_heal_plan(h);
  CHECK(p.mechanism == "system");
  CHECK(p.offsets_ms == std::map<std::string, std::set<double>>{{"n1", {5000}}});
  // The controller died during the next bump: n2 may be at 0 or -300, n1 at 5000 or 5100.
  h.push_back(nemesis_info("bump-clock", {{"n1", 100}, {"n2", -300}}));
  p = clock_heal_plan(h);
  CHECK(p.offsets_ms ==
        std::map<std::string, std::set<double>>{{"n1", {5000, 5100}}, {"n2", {-300, 0}}});
  // A reset that failed part-way (no offsets in its completion) leaves each at either.
  h.push_back(nemesis_info("bump-clock", Json{{"error", "n2: connection reset"}}));
  h.push_back(nemesis_info("reset-clock", nullptr));
  h.push_back(nemesis_info("reset-clock", nullptr));
  p = clock_heal_plan(h);
  CHECK(p.offsets_ms.at("n1") == std::set<double>{0, 5000, 5100});
  // A completed reset: nothing left.
  h.push_back(nemesis_info("reset-clock", nullptr));
  h.push_back(nemesis_info("reset-clock",
                           {{"mechanism", "system"}, {"offsets-ms", {{"n1", 0}, {"n2", 0}}}}));
  p = clock_heal_plan(h);
  CHECK(p.offsets_ms.empty());
  CHECK(p.any_clock_op);
  CHECK_FALSE(clock_heal_plan({}).any_clock_op);
}

// Issue 14 item 4: `faultline heal` only reset libfaketime files; a real host's system clock
// stayed off by what the crashed run had set.
TEST_CASE("heal: a real host's system clock is stepped back by the run's offset, once", "[heal]") {
  fs::path d = temp_dir("clock");
  fs::path run = d / "t" / "20260101T000000";
  write_run(run, test_json({"clock"}),
            {nemesis_info("bump-clock", {{"n1", 5000}}),
             nemesis_info("bump-clock", {{"mechanism", "system"}, {"offsets-ms", {{"n1", 5000}}}}),
             nemesis_info("bump-clock", {{"n1", -2000}})});  // cut off: at 5000 or 3000
  FakeRemote remote({"n1"});
  FakeHostClock clock;
  clock.attach(remote, "n1");
  *clock.offset_ms = 3000;  // the last bump landed
  std::ostringstream out;
  CHECK(run::heal_run(run, remote, out) == 0);
  INFO(out.str());
  CHECK(std::abs(*clock.offset_ms) < 1e-6);
  CHECK_THAT(out.str(), Catch::Contains("n1: system clock stepped back by 3000.000 ms"));
  // Healing again changes nothing (a relative step must never be applied twice).
  forget(remote, {"n1"});
  std::ostringstream again;
  CHECK(run::heal_run(run, remote, again) == 0);
  CHECK(std::abs(*clock.offset_ms) < 1e-6);
  for (const auto& line : ran(remote, "n1")) CHECK(line.find("date -s") == std::string::npos);
  // A clock off by something the run did not set is left alone, and the heal fails.
  *clock.offset_ms = -42000;
  std::ostringstream odd;
  CHECK(run::heal_run(run, remote, odd) == 255);
  CHECK(*clock.offset_ms == -42000);
  CHECK_THAT(odd.str(), Catch::Contains("not an offset this run left") &&
                            Catch::Contains("n1: NOT healed") &&
                            Catch::Contains("faultline heal " + run.string()));
  fs::remove_all(d);
}

// Issue 14 item 4: the healers used the default faketime-dir and packet dir, not the run's.
TEST_CASE("heal: the run's own faketime-dir and packet dir are healed", "[heal]") {
  fs::path d = temp_dir("dirs");
  fs::path run = d / "t" / "20260101T000000";
  write_run(run,
            test_json({"clock", "packet"}, {{"clock", {{"faketime-dir", "/custom/ft"}}},
                                            {"packet", {{"dir", "/custom/pk"}}}}),
            {});
  auto remote = probing_remote(1);
  std::ostringstream out;
  CHECK(run::heal_run(run, *remote, out) == 0);
  INFO(out.str());
  auto lines = ran(*remote, "n1");
  auto has = [&](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  CHECK(has(command_line(write_faketime_command("/custom/ft/n1.rc", 0))));
  bool custom_delayer = false;
  for (const auto& l : lines) {
    if (l.find("nfqdelay") != std::string::npos && l.find("/custom/pk") != std::string::npos) {
      custom_delayer = true;
    }
  }
  CHECK(custom_delayer);
  fs::remove_all(d);
}

// Issue 14 item 4: when the database could not be rebuilt, paused processes were left stopped
// and heal still said "every node healed" with exit 0.
TEST_CASE("heal: paused processes that cannot be resumed are said, and the heal fails", "[heal]") {
  fs::path d = temp_dir("pause");
  fs::path run = d / "t" / "20260101T000000";
  write_run(run, test_json({"pause", "partition"}), {});
  auto remote = probing_remote(1);
  std::ostringstream out;
  CHECK(run::heal_run(run, *remote, out) == 255);
  CHECK_THAT(out.str(), Catch::Contains("n1: database processes the run paused (SIGSTOP) may "
                                        "still be stopped: cannot rebuild database "
                                        "'no-such-db'") &&
                            Catch::Contains("n1: NOT healed") &&
                            Catch::Contains("n1: partition rules removed"));
  fs::remove_all(d);
}

// Issue 14 item 4: with several runs in one results directory, `faultline heal results` healed
// `latest`, which may be another run than the crashed one.
TEST_CASE("heal: the run is named, never a stranger's latest", "[heal]") {
  fs::path d = temp_dir("choose");
  auto now = std::chrono::system_clock::now();
  fs::path crashed = run::make_run_dir(d, "a", now);
  std::ofstream(crashed / "test.json") << "{}\n";
  fs::path done = run::make_run_dir(d, "b", now);  // latest, finished
  std::ofstream(done / "test.json") << "{}\n";
  std::ofstream(done / "results.json") << "{}\n";
  CHECK(run::run_to_heal(d) == crashed);
  CHECK(run::run_to_heal(done) == done);
  fs::path other = run::make_run_dir(d, "c", now);  // a second unfinished run
  std::ofstream(other / "test.json") << "{}\n";
  CHECK_THROWS_WITH(run::run_to_heal(d), Catch::Contains("2 runs without results.json") &&
                                             Catch::Contains(run::heal_command(crashed)) &&
                                             Catch::Contains(run::heal_command(other)));
  CHECK(run::run_to_heal(d / "a") == crashed);
  CHECK(run::heal_command(crashed) == "faultline heal " + fs::absolute(crashed).string());
  fs::remove_all(d);
}
