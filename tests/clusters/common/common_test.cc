// The plumbing every adapter shares (clusters/common/): on_every_node runs in parallel and
// names each failure's node; the launch env becomes `env` words and launch files; a Daemon's
// commands, run here through the local shell against real processes and pid files holding what
// a database user could write there, believe a pid file only for the right command line.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "clusters/common/daemon.h"
#include "clusters/common/launch.h"
#include "clusters/common/nodes.h"
#include "harness/control/local_exec.h"
#include "harness/remote.h"

using namespace faultline;
using namespace faultline::clusters;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  fs::path path;
  explicit TempDir(fs::path p = fs::temp_directory_path() /
                                ("fl-common-" + std::to_string(::getpid())))
      : path(std::move(p)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Runs `c` through the local shell, with `kill` only recorded in `kills` when given.
ExecResult run_local(Command c, const fs::path& kills = {}) {
  if (!kills.empty()) {
    REQUIRE(c.argv.size() > 2);
    REQUIRE(c.argv[0] == "sh");
    c.argv[2] = "kill() { echo \"$*\" >> \"" + kills.string() + "\"; return 0; }\n" + c.argv[2];
  }
  return control::make_local_session()->exec(c);
}

// Children whose command line is argv (argv[0] as given), sleeping until killed.
struct Children {
  std::vector<pid_t> pids;
  pid_t spawn(const std::vector<std::string>& argv) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::vector<std::string> words = {"/bin/bash", "-c",
                                        "exec -a \"$0\" /bin/bash -c 'sleep 30; :' \"$@\""};
      words.insert(words.end(), argv.begin(), argv.end());
      std::vector<char*> cargv;
      for (auto& w : words) cargv.push_back(w.data());
      cargv.push_back(nullptr);
      ::execv("/bin/bash", cargv.data());
      ::_exit(127);
    }
    pids.push_back(pid);
    for (int i = 0; i < 200; ++i) {
      if (slurp("/proc/" + std::to_string(pid) + "/cmdline").rfind(argv[0] + '\0', 0) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pid;
  }
  ~Children() {
    for (pid_t c : pids) {
      ::kill(c, SIGKILL);
      ::waitpid(c, nullptr, 0);
    }
  }
};

}  // namespace

TEST_CASE("on_every_node runs every node at once and names each failure", "[clusters]") {
  const std::vector<std::string> nodes = {"n1", "n2", "n3"};
  // Each waits for all three to have started: only parallel runs finish.
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  std::vector<size_t> seen(3, 99);
  std::atomic<int> together{0};
  on_every_node(nodes, [&](const std::string& node, size_t i) {
    std::unique_lock<std::mutex> lk(mu);
    seen[i] = static_cast<size_t>(node[1] - '1');
    ++started;
    cv.notify_all();
    if (cv.wait_for(lk, std::chrono::seconds(10), [&] { return started == 3; })) ++together;
  });
  CHECK(together == 3);
  CHECK(seen == std::vector<size_t>{0, 1, 2});

  try {
    on_every_node(nodes, [&](const std::string& node, size_t) {
      if (node == "n3") throw RemoteError("n3", "boom");
      if (node == "n1") throw std::runtime_error("disk full");
    });
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "node n1: disk full; node n3: boom");
  }
  CHECK_NOTHROW(on_every_node({}, [](const std::string&, size_t) { FAIL("called"); }));
}

TEST_CASE("host_of: the inventory's host, else the node's name", "[clusters]") {
  DbContext ctx;
  ctx.hosts = {{"n1", "10.0.0.1"}, {"n2", ""}};
  CHECK(host_of(ctx, "n1") == "10.0.0.1");
  CHECK(host_of(ctx, "n2") == "n2");
  CHECK(host_of(ctx, "n3") == "n3");
}

TEST_CASE("launch env: nothing to do without one, env words and files per node", "[clusters]") {
  DbContext ctx;
  CHECK(launch_env_argv(ctx, "n1", {{"X", "1"}}).empty());  // extra only with an env
  CHECK_FALSE(prepare_launch_command(ctx, "n1", "db 'x'").has_value());

  // Under /run: fl_private_dir refuses any directory below a world-writable one like /tmp.
  TempDir t(fs::path("/run") / ("fl-common-launch-" + std::to_string(::getpid())));
  const std::string dir = (t.path / "launch").string();
  ctx.launch.env = {{"A", "a-{node}"}, {"B", "{node}/{node}.rc"}};
  ctx.launch.files = {{dir + "/{node}.rc", "+0.000\n"}};
  ctx.launch.why = "test";
  CHECK(launch_env_argv(ctx, "n2") == std::vector<std::string>{"env", "A=a-n2", "B=n2/n2.rc"});
  CHECK(launch_env_argv(ctx, "n2", {{"A", "mine"}, {"C", "c"}}) ==
        std::vector<std::string>{"env", "A=mine", "B=n2/n2.rc", "C=c"});

  auto c = prepare_launch_command(ctx, "n2", "db 'x'");
  REQUIRE(c.has_value());
  CHECK(c->idempotent);
  ExecResult r = run_local(*c);
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  CHECK(slurp(dir + "/n2.rc") == "+0.000\n");
  CHECK((fs::status(dir + "/n2.rc").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
         fs::perms::others_read));
  // An existing file (the nemesis's offset) is kept.
  std::ofstream(dir + "/n2.rc", std::ios::trunc) << "+5.000\n";
  REQUIRE(run_local(*c).exit_status == 0);
  CHECK(slurp(dir + "/n2.rc") == "+5.000\n");
  // A directory others may write is refused (fl_private_dir): they could swap the file.
  fs::permissions(dir, fs::perms::others_write, fs::perm_options::add);
  CHECK(run_local(*c).exit_status == 3);

  // Paths reach command lines: a newline or ".." is refused before anything runs.
  ctx.launch.files = {{"/run/x\ny/{node}.rc", ""}};
  CHECK_THROWS_WITH(prepare_launch_command(ctx, "n1", "db 'x'"), Catch::Contains("db 'x'"));
  ctx.launch.files = {{"/run/ft/{node}.rc", ""}};
  CHECK_THROWS_AS(prepare_launch_command(ctx, "../../etc/passwd", "db 'x'"), std::invalid_argument);
}

TEST_CASE("launch env: the clock hook fills the launch env, unless the clock is the system's",
          "[clusters][clock]") {
  DbContext ctx;
  DbContextHookRegistry::get("db-hook", "clock")({{"faketime-dir", "/run/ft"}}, ctx);
  const LaunchEnv& l = ctx.launch;
  CHECK(l.env.at("FAKETIME_TIMESTAMP_FILE") == "/run/ft/{node}.rc");
  CHECK(l.env.at("LD_PRELOAD").find("libfaketime") != std::string::npos);
  CHECK(l.files.count("/run/ft/{node}.rc") == 1);
  DbContext system;
  DbContextHookRegistry::get("db-hook", "clock")({{"mechanism", "system"}}, system);
  CHECK(system.launch.env.empty());
}

TEST_CASE("daemon: a pid file is believed only for the right binary and marker argument",
          "[clusters][regression]") {
  TempDir t;
  const fs::path pid_file = t.path / "d.pid", kills = t.path / "kills";
  const std::string marker = "--defaults-file=" + (t.path / "n1" / "my.cnf").string();
  Daemon d{"testd", "/usr/sbin/testd", marker, pid_file.string(), (t.path / "d.log").string()};
  Children ch;
  pid_t stranger = ch.spawn({"/usr/bin/sleep-not-testd", marker});
  pid_t other = ch.spawn({"/usr/sbin/testd", marker + ".other"});
  pid_t marker_first = ch.spawn({marker, "/usr/sbin/testd"});
  for (const std::string& content :
       {std::string("-1"), std::string("0"), std::string("1"), std::string("abc"),
        std::string("1 2"), std::string(""), std::string("-9999"), std::to_string(stranger),
        std::to_string(other), std::to_string(marker_first), std::string("99999999")}) {
    INFO("pid file: '" << content << "'");
    std::ofstream(pid_file, std::ios::trunc) << content << "\n";
    fs::remove(kills);
    ExecResult s = run_local(d.signal("STOP"), kills);
    CHECK(s.exit_status == 3);
    CHECK(s.out == "none\n");
    CHECK(run_local(d.running(), kills).exit_status != 0);
    ExecResult st = run_local(d.stop("TERM", std::chrono::seconds(1)), kills);
    CHECK(st.exit_status == 0);
    CHECK(st.out == "none\n");
    CHECK_FALSE(fs::exists(kills));
    CHECK_FALSE(fs::exists(pid_file));  // the stale file is removed
  }

  pid_t ours = ch.spawn({"/usr/sbin/testd", "--x", marker});
  // Running without a pid file (launched, not yet written): found by its command line.
  CHECK(run_local(d.running()).exit_status == 0);
  std::ofstream(pid_file, std::ios::trunc) << ours << "\n";
  fs::remove(kills);
  ExecResult s = run_local(d.signal("STOP"), kills);
  INFO(s.err);
  CHECK(s.exit_status == 0);
  CHECK(slurp(kills) == "-s STOP " + std::to_string(ours) + "\n");
  CHECK(run_local(d.running()).exit_status == 0);

  // stop, for real: SIGCONT and SIGTERM; a zombie (not yet reaped by us) counts as gone.
  auto t0 = std::chrono::steady_clock::now();
  ExecResult st = run_local(d.stop("TERM", std::chrono::seconds(10)));
  INFO(st.err);
  CHECK(st.exit_status == 0);
  CHECK(st.out == "gone\n");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK_FALSE(fs::exists(pid_file));
}

TEST_CASE("daemon: stop escalates to SIGKILL, and says when the process outlives the wait",
          "[clusters]") {
  TempDir t;
  const std::string marker = "fl-marker-" + std::to_string(::getpid());
  Daemon d{"testd", "/usr/sbin/testd", marker, (t.path / "d.pid").string(), ""};
  Children ch;
  pid_t ours = ch.spawn({"/usr/sbin/testd", marker});
  std::ofstream(d.pid_file) << ours << "\n";
  // SIGWINCH is ignored by default: the process outlives it.
  ExecResult r = run_local(d.stop("WINCH", std::chrono::milliseconds(500)));
  CHECK(r.exit_status == 4);  // still there after the wait, without SIGKILL
  CHECK(fs::exists(d.pid_file));
  r = run_local(d.stop("WINCH", std::chrono::seconds(10), std::chrono::milliseconds(300)));
  INFO(r.err);
  CHECK(r.exit_status == 0);
  CHECK(r.out == "gone\n");
  CHECK(d.stop("TERM", std::chrono::seconds(30)).timeout >= std::chrono::seconds(30));
}

TEST_CASE("daemon: launch starts it detached, logs its output, writes the pid file if asked",
          "[clusters]") {
  TempDir t;
  const std::string marker = "fl-launch-" + std::to_string(::getpid());
  Daemon d{"testd", "/bin/sh", marker, (t.path / "d.pid").string(), (t.path / "d.log").string()};
  ExecResult r = run_local(d.launch(
      {"env", "FL_X=1", "/bin/sh", "-c", "echo \"x=$FL_X\"; while :; do sleep 0.1; done", marker},
      "", true));
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  std::string pid = r.out.substr(0, r.out.find('\n'));
  CHECK(slurp(d.pid_file) == pid + "\n");
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    up = run_local(d.running()).exit_status == 0 && slurp(d.log_file) == "x=1\n";
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(up);
  ExecResult st = run_local(d.stop("TERM", std::chrono::seconds(10)));
  INFO(st.err);
  CHECK(st.out == "gone\n");
  CHECK(run_local(d.running()).exit_status != 0);
}

TEST_CASE("fl_launch_leftovers removes libfaketime's objects of gone pids only by number",
          "[clusters]") {
  Command c = Command::shell(std::string(kLaunchLeftoversShell) + "fl_launch_leftovers \"$@\"",
                             {"999999991", "../x", "", "999999992"});
  std::ofstream("/dev/shm/faketime_shm_999999991") << "x";
  std::ofstream("/dev/shm/sem.faketime_sem_999999992") << "x";
  CHECK(run_local(c).exit_status == 0);
  CHECK_FALSE(fs::exists("/dev/shm/faketime_shm_999999991"));
  CHECK_FALSE(fs::exists("/dev/shm/sem.faketime_sem_999999992"));
}
