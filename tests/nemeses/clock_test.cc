// The clock nemesis: mechanism choice by boot id, the exact offset-file writes of bump, reset
// and teardown, the system-clock step command, options.
#include "nemeses/clock.h"

#include <catch2/catch.hpp>

#include "harness/remote.h"
#include "nemeses/programs.h"
#include "tests/nemeses/nemesis_test_util.h"
#include "tests/support/fake_client.h"

using namespace faultline;
using namespace faultline::nemeses;
using namespace faultline::testing;
namespace fs = std::filesystem;

TEST_CASE("clock: offset text and commands", "[clock]") {
  CHECK(faketime_offset_text(0) == "+0.000");
  CHECK(faketime_offset_text(-11) == "-0.011");
  CHECK(faketime_offset_text(288000) == "+288.000");
  Command w = write_faketime_command("/d/n1.rc", 1500);
  REQUIRE(w.argv.size() == 6);
  CHECK(w.argv[0] == "sh");
  // The directory is made and checked as root's alone, never with mkdir -p (issue 14 item 7).
  CHECK_THAT(w.argv[2], Catch::Contains("fl_private_dir \"$(dirname \"$2\")\" 755 && printf"));
  CHECK_THAT(w.argv[2], !Catch::Contains("mkdir -p"));
  CHECK(std::vector<std::string>(w.argv.begin() + 3, w.argv.end()) ==
        std::vector<std::string>{"sh", "+1.500", "/d/n1.rc"});
  Command step = step_clock_command(-250);
  CHECK(step.argv.back() == "-250.000");
}

TEST_CASE("clock: faketime on shared-kernel nodes: bump, check, reset", "[clock]") {
  auto remote = probing_remote(3, "same-boot");
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  o.options = {{"faketime-dir", "/ft"}};
  auto p = NemesisRegistry::get("nemesis", "clock")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  for (const auto& n : ctx.nodes) {
    CHECK(ran(*remote, n) ==
          std::vector<std::string>{command_line(write_faketime_command("/ft/" + n + ".rc", 0))});
  }
  forget(*remote, ctx.nodes);
  Completion c = p.nemesis->invoke(ctx, nemesis_op("bump-clock", {{"n2", 1500}}));
  CHECK(c.value["mechanism"] == "faketime");
  CHECK(c.value["offsets-ms"] == Json({{"n1", 0.0}, {"n2", 1500.0}, {"n3", 0.0}}));
  CHECK(ran(*remote, "n1").empty());
  CHECK(ran(*remote, "n2") ==
        std::vector<std::string>{command_line(write_faketime_command("/ft/n2.rc", 1500))});
  p.nemesis->invoke(ctx, nemesis_op("bump-clock", {{"n2", -1511}}));
  CHECK(ran(*remote, "n2").back() == command_line(write_faketime_command("/ft/n2.rc", -11)));
  forget(*remote, ctx.nodes);
  p.nemesis->teardown(ctx);
  for (const auto& n : ctx.nodes) {
    CHECK(ran(*remote, n) ==
          std::vector<std::string>{command_line(write_faketime_command("/ft/" + n + ".rc", 0))});
  }
}

TEST_CASE("clock: separate hosts use the system clock, options are checked", "[clock]") {
  auto remote = probing_remote(1, "other-boot-id");
  NemesisOptions o;
  o.nodes = {"n1"};
  auto p = NemesisRegistry::get("nemesis", "clock")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  // clockstep is built from the embedded source; nothing to reset at offset 0; the NTP daemons
  // are stopped.
  CHECK(ran(*remote, "n1") ==
        std::vector<std::string>{command_line(build_clockstep_command("/var/lib/faultline/clock")),
                                 command_line(stop_ntp_command())});
  {
    std::lock_guard<std::mutex> lock(remote->script("n1").mu);
    CHECK(remote->script("n1").commands.back().stdin_data.empty());
    bool uploaded = false;
    for (const auto& c : remote->script("n1").commands) {
      uploaded = uploaded || c.stdin_data == clockstep_source();
    }
    CHECK(uploaded);
  }
  forget(*remote, ctx.nodes);
  const std::string dir = "/var/lib/faultline/clock";
  const std::string helper = clockstep_path(dir);
  CHECK_THAT(helper, Catch::StartsWith("/var/lib/faultline/clock/clockstep-"));
  Completion c = p.nemesis->invoke(ctx, nemesis_op("bump-clock", {{"n1", -250}}));
  CHECK(c.value["mechanism"] == "system");
  CHECK(ran(*remote, "n1") ==
        std::vector<std::string>{command_line(clockstep_bump_command(dir, -250))});
  forget(*remote, ctx.nodes);
  // A strobe runs on the node, ends where it began, and may take longer than the default
  // timeout.
  c = p.nemesis->invoke(
      ctx, nemesis_op(
               "strobe-clock",
               {{"nodes", {"n1"}}, {"delta-ms", 200}, {"period-ms", 20}, {"duration-ms", 60000}}));
  CHECK(c.value["offsets-ms"] == Json({{"n1", -250.0}}));
  CHECK(ran(*remote, "n1") ==
        std::vector<std::string>{"exec " + helper + " strobe 200.000 20 60000"});
  {
    std::lock_guard<std::mutex> lock(remote->script("n1").mu);
    CHECK(remote->script("n1").commands.back().timeout == std::chrono::milliseconds(90000));
  }
  forget(*remote, ctx.nodes);
  p.nemesis->teardown(ctx);
  // The clock stepped back, then the NTP daemons setup stopped started again.
  CHECK(ran(*remote, "n1") == std::vector<std::string>{"exec " + helper + " bump 250.000",
                                                       command_line(restore_ntp_command())});

  o.options = {{"helper-dir", "tmp/x"}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "clock")(o), Catch::Contains("helper-dir"));
  o.options = {{"mechanism", "ntp"}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "clock")(o), Catch::Contains("mechanism"));
  o.options = {{"min-ms", 10}, {"max-ms", 5}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "clock")(o), Catch::Contains("min-ms"));
  o.options = {{"max-ms", 1000}};
  o.interval_ns = 1000;
  auto q = NemesisRegistry::get("nemesis", "clock")(o);
  for (const auto& op : simulate(*q.generator, 1, 5, 0, 40)) {
    if (op.f == "bump-clock") {
      for (const auto& [n, d] : op.value.items()) CHECK(std::abs(d.get<double>()) <= 1000);
    } else {
      CHECK((op.f == "strobe-clock" || op.f == "reset-clock"));
    }
  }
}

namespace {
// A database that says which clock offsets matter to it.
class SkewDb : public Db, public ClockSensitive {
 public:
  std::string name() const override { return "skew"; }
  void setup(const DbContext&) override {}
  void teardown(const DbContext&) override {}
  std::vector<std::string> vocabularies() const override { return {}; }
  std::unique_ptr<Client> new_client(const std::string&) override { return nullptr; }
  ClockSkews clock_skews() const override { return {100, 400, "test"}; }
};
}  // namespace

TEST_CASE("clock: changes hold until the next, stay within max-ms, and follow the database",
          "[clock]") {
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  o.interval_ns = 1000;
  o.options = {{"max-ms", 30000}};
  uint64_t seed = 7;
  announce_seed("clock generator", seed);
  auto p = NemesisRegistry::get("nemesis", "clock")(o);
  std::map<std::string, double> offset;
  int bumps = 0, held = 0, resets = 0, strobes = 0;
  std::string previous;
  for (const auto& op : simulate(*p.generator, 1, seed, 0, 400)) {
    if (op.f == "bump-clock") {
      ++bumps;
      if (previous == "bump-clock") ++held;  // a bump followed by another: offsets add up
      for (const auto& [n, d] : op.value.items()) {
        offset[n] += d.get<double>();
        CHECK(std::abs(offset[n]) <= 30000);
      }
    } else if (op.f == "reset-clock") {
      ++resets;
      offset.clear();
    } else {
      CHECK(op.f == "strobe-clock");
      ++strobes;
    }
    previous = op.f;
  }
  INFO(bumps << " bumps, " << held << " after a bump, " << strobes << " strobes, " << resets
             << " resets");
  CHECK(bumps > 150);
  CHECK(held > 50);
  CHECK(strobes > 40);
  CHECK(resets > 40);
  CHECK(resets < bumps);

  // A ClockSensitive database sets the range; the options still win.
  SkewDb db;
  o.db = &db;
  o.options = Json::object();
  auto q = NemesisRegistry::get("nemesis", "clock")(o);
  for (const auto& op : simulate(*q.generator, 1, seed, 0, 100)) {
    if (op.f != "bump-clock") continue;
    for (const auto& [n, d] : op.value.items()) {
      CHECK(std::abs(d.get<double>()) >= 100);
      CHECK(std::abs(d.get<double>()) <= 400);
    }
  }
  o.options = {{"min-ms", 1}, {"max-ms", 2}};
  auto r = NemesisRegistry::get("nemesis", "clock")(o);
  for (const auto& op : simulate(*r.generator, 1, seed, 0, 50)) {
    if (op.f == "bump-clock") {
      for (const auto& [n, d] : op.value.items()) CHECK(std::abs(d.get<double>()) <= 2);
    }
  }
  o.options = {{"bump-share", 0.9}, {"strobe-share", 0.2}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "clock")(o), Catch::Contains("bump-share"));
}

// The runner knows no clock option: the clock's DbContextHook fills the database's launch env.
TEST_CASE("clock: its db hook launches the database under libfaketime unless system", "[clock]") {
  const auto& hook = DbContextHookRegistry::get("db-hook", "clock");
  DbContext ctx;
  hook(Json::object(), ctx);  // mechanism auto, the default dir
  CHECK(ctx.launch.env == faketime_launch_env("/run/faultline/faketime").env);
  CHECK(ctx.launch.env.at("FAKETIME_TIMESTAMP_FILE") == "/run/faultline/faketime/{node}.rc");
  CHECK(ctx.launch.env.at("LD_PRELOAD") == "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1");
  CHECK(ctx.launch.env.at("FAKETIME_NO_CACHE") == "1");
  CHECK(ctx.launch.env.at("FAKETIME_DONT_FAKE_MONOTONIC") == "1");
  CHECK(ctx.launch.files ==
        std::map<std::string, std::string>{{"/run/faultline/faketime/{node}.rc", "+0.000\n"}});

  DbContext f;
  hook({{"mechanism", "faketime"}, {"faketime-dir", "/ft"}}, f);
  CHECK(f.launch.env.at("FAKETIME_TIMESTAMP_FILE") == "/ft/{node}.rc");
  CHECK_THAT(f.launch.why, Catch::Contains("libfaketime"));

  DbContext s;
  hook({{"mechanism", "system"}, {"faketime-dir", "/ft"}}, s);
  CHECK(s.launch.empty());
  CHECK_THROWS_AS(hook({{"faketime-dir", 3}}, s), ConfigError);
}

TEST_CASE("clock: NTP daemons stopped for a system-clock test are started again, once", "[clock]") {
  // A stand-in systemctl: chrony and ntpsec are active; stop and start are logged.
  fs::path dir = fs::temp_directory_path() / ("fl-ntp-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path log = dir / "calls";
  {
    std::ofstream f(dir / "systemctl");
    f << "#!/bin/sh\ncase \"$1\" in\n"
      << "  is-active) [ \"$3\" = chrony ] || [ \"$3\" = ntpsec ] ;;\n"
      << "  *) echo \"$1 $2\" >> " << log.string() << " ;;\nesac\n";
  }
  fs::permissions(dir / "systemctl", fs::perms::owner_all);
  auto session = control::make_local_session("here", std::chrono::milliseconds(10000));
  auto run = [&](Command c) {
    c.env["PATH"] = dir.string() + ":/usr/bin:/bin";
    return session->exec(c);
  };
  fs::remove(kNtpStoppedFile);
  ExecResult stop = run(stop_ntp_command());
  REQUIRE(stop.exit_status == 0);
  CHECK(stop.out == "stopped: chrony ntpsec\n");
  ExecResult start = run(restore_ntp_command());
  REQUIRE(start.exit_status == 0);
  CHECK(start.out == "started: chrony ntpsec\n");
  CHECK_FALSE(fs::exists(kNtpStoppedFile));
  ExecResult again = run(restore_ntp_command());  // nothing left to start
  CHECK(again.exit_status == 0);
  CHECK(again.out.empty());
  std::ifstream in(log);
  std::string calls((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(calls == "stop chrony\nstop ntpsec\nstart chrony\nstart ntpsec\n");
  fs::remove_all(dir);
}
