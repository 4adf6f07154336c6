// The packet nemesis's directory (issue 14 item 7): the delayer is built and run as root, so it
// lives in a root-only directory made with fl_private_dir (never /tmp, never mkdir -p), and the
// delayer's pid file is believed only for a process running that very delayer. The stop command
// is replayed through the local shell with `kill` replaced by a recorder; nothing is signalled.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness/control/local_exec.h"
#include "harness/nemesis.h"
#include "tests/nemeses/nemesis_test_util.h"

using namespace faultline;
using namespace faultline::testing;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every script n1 ran (argv[2] of sh -c), with its arguments.
std::vector<Command> scripts(FakeRemote& r) {
  std::lock_guard<std::mutex> lock(r.script("n1").mu);
  return r.script("n1").commands;
}

}  // namespace

TEST_CASE("packet: the delayer is built in a root-only directory, not in /tmp",
          "[packet][regression]") {
  NemesisOptions o;
  o.nodes = {"n1"};
  o.options = {{"faults", {"delay"}}};
  auto remote = probing_remote(1);
  auto p = NemesisRegistry::get("nemesis", "packet")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  bool built = false;
  for (const auto& c : scripts(*remote)) {
    for (size_t i = 4; i < c.argv.size(); ++i) {
      INFO(command_line(c));
      CHECK(c.argv[i].rfind("/tmp", 0) == std::string::npos);
    }
    if (c.argv.size() > 4 && c.argv[2].find("gcc") != std::string::npos) {
      built = true;
      CHECK(c.argv[4] == "/var/lib/faultline/packet");
      CHECK_THAT(c.argv[2], Catch::Contains("fl_private_dir \"$1\" 755"));
      CHECK_THAT(c.argv[2], !Catch::Contains("mkdir -p"));
    }
  }
  CHECK(built);

  // A node whose directory fails the check: the error names it and the option.
  auto bad = probing_remote(1);
  bad->script("n1").fallback = [](const Command& c) {
    ExecResult r;
    std::string s = c.argv.size() > 2 ? c.argv[2] : "";
    if (s.find("SSH_CONNECTION") != std::string::npos) r.out = "10.0.0.1 1 10.0.0.11 22\n0\nb\n";
    if (s.find("gcc") != std::string::npos) {
      r.exit_status = 4;
      r.err = "unsafe directory: /var/lib/faultline is owned by uid 1000, not root";
    }
    return r;
  };
  auto p2 = NemesisRegistry::get("nemesis", "packet")(o);
  ctx.remote = bad.get();
  CHECK_THROWS_WITH(p2.nemesis->setup(ctx), Catch::Contains("owned by uid 1000") &&
                                                Catch::Contains("nemesis-options.packet.dir"));

  for (const char* dir : {"relative", "/x\ny", "/a/../b"}) {
    INFO(dir);
    o.options = {{"faults", {"delay"}}, {"dir", dir}};
    CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "packet")(o), Catch::Contains("/dir"));
  }
}

TEST_CASE("packet: the delayer's pid file is believed only for the delayer itself",
          "[packet][regression]") {
  fs::path dir = fs::temp_directory_path() / ("fl-packet-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  NemesisOptions o;
  o.nodes = {"n1"};
  o.options = {{"faults", {"loss"}}, {"dir", dir.string()}};
  auto remote = probing_remote(1);
  auto p = NemesisRegistry::get("nemesis", "packet")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);  // heals first: stops any delayer
  Command stop;
  for (const auto& c : scripts(*remote)) {
    if (c.argv.size() > 2 && c.argv[2].find("nfqdelay-$2.pid") != std::string::npos) stop = c;
  }
  REQUIRE(stop.argv.size() > 2);
  fs::path kills = dir / "kills";
  stop.argv[2] = "kill() { echo \"$*\" >> \"" + kills.string() + "\"; return 0; }\n" + stop.argv[2];

  std::vector<pid_t> children;
  auto spawn = [&](const std::string& argv0) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::execl("/bin/bash", "/bin/bash", "-c", "exec -a \"$0\" /bin/bash -c 'sleep 30; :'",
              argv0.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    children.push_back(pid);
    for (int i = 0; i < 200; ++i) {
      if (slurp("/proc/" + std::to_string(pid) + "/cmdline").rfind(argv0 + '\0', 0) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pid;
  };
  pid_t stranger = spawn("/usr/bin/not-the-nfqdelay-n1");
  pid_t delayer = spawn((dir / "nfqdelay-n1").string());
  auto local = control::make_local_session();
  for (const std::string& content : {std::string("-1"), std::string("0"), std::string("1"),
                                     std::string("x y"), std::to_string(stranger)}) {
    INFO("pid file: '" << content << "'");
    std::ofstream(dir / "nfqdelay-n1.pid", std::ios::trunc) << content << "\n";
    fs::remove(kills);
    CHECK(local->exec(stop).exit_status == 0);
    CHECK_FALSE(fs::exists(kills));
    CHECK_FALSE(fs::exists(dir / "nfqdelay-n1.pid"));
  }
  std::ofstream(dir / "nfqdelay-n1.pid", std::ios::trunc) << delayer << "\n";
  fs::remove(kills);
  CHECK(local->exec(stop).exit_status == 0);  // waits ~5 s: the recorded kill kills nothing
  CHECK(slurp(kills).rfind("-TERM " + std::to_string(delayer) + "\n", 0) == 0);
  for (pid_t c : children) {
    ::kill(c, SIGKILL);
    ::waitpid(c, nullptr, 0);
  }
  fs::remove_all(dir);
}
