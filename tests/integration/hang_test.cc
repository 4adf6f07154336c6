// A node that stops answering in the middle of a run: its sshd (master and per-connection
// processes) is frozen with SIGSTOP, so TCP still answers but no command does — the case of a
// hung host that sends no reset. Issue 14 item 3: the nemesis op blocked for ever, the main
// phase waited for it, heal never started. Now:
//   - frozen for a while mid-run: the run ends on time, records the stuck nemesis work, heals
//     every fault once the node answers again, keeps its history and gives its verdict;
//   - frozen until the end: the run still ends within its bounds, gives its verdict, and says
//     what it could not heal with the command that heals it, which works once the node thaws.
// Needs root; its own cluster "flhang" on 10.77.218.0/24 running etcd, torn down by RAII.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "harness/control/inventory.h"
#include "harness/formats.h"
#include "harness/recorder.h"
#include "harness/run/runner.h"
#include "harness/run/spec.h"
#include "tests/support/local_cluster.h"
#include "tests/support/paths.h"

using namespace faultline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kName = "flhang";
constexpr const char* kSubnet = "10.77.218.0/24";

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Lines of node i's iptables rules that mention our chain.
std::string rules(int i) {
  return testing::run_shell("ip netns exec " + std::string(kName) + "-n" + std::to_string(i) +
                            " iptables -w -S 2>/dev/null | grep FAULTLINE")
      .output;
}

// The pids of the sshd processes in node i's namespace.
std::vector<pid_t> sshd_pids(int i) {
  auto r = testing::run_shell("ip netns pids " + std::string(kName) + "-n" + std::to_string(i));
  std::vector<pid_t> out;
  std::istringstream in(r.output);
  for (std::string pid; in >> pid;) {
    std::string comm = read_text("/proc/" + pid + "/comm");
    if (comm.rfind("sshd", 0) == 0) out.push_back(static_cast<pid_t>(std::stol(pid)));
  }
  return out;
}

// Freezes node i's sshd (every one of its processes, again every 200 ms, so the processes it
// forks for new connections freeze too) until thaw() or destruction.
class Freezer {
 public:
  explicit Freezer(int node) : node_(node) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        for (pid_t p : sshd_pids(node_)) ::kill(p, SIGSTOP);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }
  void thaw() {
    if (stop_.exchange(true)) return;
    thread_.join();
    for (pid_t p : sshd_pids(node_)) ::kill(p, SIGCONT);
  }
  ~Freezer() { thaw(); }

 private:
  int node_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Waits until the run's history records a completed start-partition (or `limit` passes).
bool wait_for_partition(const std::function<fs::path()>& dir, std::chrono::seconds limit) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    fs::path d = dir();
    if (!d.empty()) {
      std::string h = read_text(d / "history.jsonl");
      size_t first = h.find("\"start-partition\"");
      if (first != std::string::npos &&
          h.find("\"start-partition\"", first + 1) != std::string::npos) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

run::TestSpec hang_spec(const fs::path& nodes_file, const fs::path& results, uint64_t seed) {
  run::TestSpec spec;
  spec.db = "etcd";
  spec.workload = "register";
  spec.nodes_file = nodes_file.string();
  spec.nemesis = {"partition"};
  spec.nemesis_interval_s = 2;
  spec.time_limit_s = 20;
  spec.concurrency = "3";
  spec.rate = 20;
  spec.op_timeout_s = 3;
  spec.recovery_wait_s = 1;
  spec.final_time_limit_s = 15;
  spec.nemesis_command_timeout_s = 4;
  spec.nemesis_op_timeout_s = 10;
  spec.results_dir = results.string();
  spec.seed = seed;
  return spec;
}

run::RunOptions quiet_run(fs::path* dir, std::mutex* mu) {
  run::RunOptions ro;
  ro.echo_log = false;
  ro.progress = false;
  ro.handle_signals = false;
  ro.on_run_dir = [dir, mu](const fs::path& d) {
    std::lock_guard<std::mutex> lock(*mu);
    *dir = d;
  };
  return ro;
}

}  // namespace

TEST_CASE(
    "hang: a node whose sshd freezes mid-run: the run ends on time and every fault is "
    "healed",
    "[integration][hang]") {
  FAULTLINE_REQUIRE_ROOT();
  testing::LocalTestCluster cluster(kName, kSubnet);
  fs::path work = fs::temp_directory_path() / ("flhang-" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  fs::path nodes_file = work / "inventory.json";
  std::ofstream(nodes_file) << cluster.inv.to_json().dump(2);

  // A node that freezes for 8 s in the main phase and answers again before the heal.
  {
    fs::path dir;
    std::mutex mu;
    auto current = [&] {
      std::lock_guard<std::mutex> lock(mu);
      return dir;
    };
    run::TestSpec spec = hang_spec(nodes_file, work / "a", 41);
    std::unique_ptr<Freezer> freezer;
    std::thread driver([&] {
      if (!wait_for_partition(current, std::chrono::seconds(120))) return;
      freezer = std::make_unique<Freezer>(2);
      std::this_thread::sleep_for(std::chrono::seconds(8));
      freezer->thaw();
    });
    auto t0 = Clock::now();
    run::RunOutcome out;
    try {
      out = run::run_test(spec, quiet_run(&dir, &mu));
    } catch (...) {
      driver.join();
      throw;
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    driver.join();
    INFO(out.summary);
    INFO(read_text(out.dir / "controller.log"));
    std::cerr << "measured: hang (8 s freeze) run " << secs << " s\n" << out.summary;
    REQUIRE(freezer);  // the freeze happened
    CHECK(fs::exists(out.dir / "results.json"));
    CHECK(out.summary.find("left behind") == std::string::npos);
    for (int i = 1; i <= 3; ++i) CHECK(rules(i).empty());
    CHECK_NOTHROW(load_recorded_history((out.dir / "history.jsonl").string()));
  }

  // A node frozen until the run has ended: the run still ends, says what is left and how to
  // heal it, and that command heals it once the node answers.
  {
    fs::path dir;
    std::mutex mu;
    auto current = [&] {
      std::lock_guard<std::mutex> lock(mu);
      return dir;
    };
    run::TestSpec spec = hang_spec(nodes_file, work / "b", 42);
    std::unique_ptr<Freezer> freezer;
    std::thread driver([&] {
      if (wait_for_partition(current, std::chrono::seconds(120))) {
        freezer = std::make_unique<Freezer>(2);
      }
    });
    auto t0 = Clock::now();
    run::RunOutcome out;
    try {
      out = run::run_test(spec, quiet_run(&dir, &mu));
    } catch (...) {
      driver.join();
      if (freezer) freezer->thaw();
      throw;
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    driver.join();
    REQUIRE(freezer);
    INFO(out.summary);
    INFO(read_text(out.dir / "controller.log"));
    std::cerr << "measured: hang (frozen to the end) run " << secs << " s\n" << out.summary;
    CHECK(fs::exists(out.dir / "results.json"));
    CHECK_THAT(out.summary, Catch::Contains("faultline heal " + out.dir.string()));
    CHECK(rules(1).empty());
    CHECK(rules(3).empty());
    freezer->thaw();
    auto heal =
        testing::run_shell(testing::faultline_binary() + " heal " + out.dir.string() + " 2>&1");
    INFO(heal.output);
    CHECK(heal.status == 0);
    for (int i = 1; i <= 3; ++i) CHECK(rules(i).empty());
    CHECK_NOTHROW(load_recorded_history((out.dir / "history.jsonl").string()));
    // The database the frozen node kept: torn down now that it answers.
    auto db = DbRegistry::get("db", "etcd")(Json::object());
    DbContext ctx = cluster.db_context(spec.test_name());
    try {
      db->teardown(ctx);
    } catch (const std::exception& e) {
      WARN("etcd teardown after the thaw: " << e.what());
    }
  }
  fs::remove_all(work);
}
