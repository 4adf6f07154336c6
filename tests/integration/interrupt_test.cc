// The controller interrupted for real, on a real local cluster with a partition active: the
// `faultline` binary is started as a child process running MariaDB Galera under partitions,
// and is sent SIGINT (it must heal, tear down and keep its history) or SIGKILL (its history
// must still load; `faultline heal RUN_DIR` must remove the partition it left). Needs root;
// its own cluster "flint" on 10.77.214.0/24, torn down by an RAII guard.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
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
#include "tests/support/local_cluster.h"
#include "tests/support/paths.h"

extern char** environ;

using namespace faultline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kName = "flint";
constexpr const char* kInventory = "/var/lib/faultline/clusters/flint/inventory.json";
constexpr const char* kSubnet = "10.77.214.0/24";

struct Cluster {
  // Removes the Galera data directories of this cluster once it is down (members are
  // destroyed in reverse order: `cluster` first, then this).
  struct RemoveData {
    ~RemoveData() {
      std::error_code ec;
      for (int i = 1; i <= 3; ++i) {
        fs::remove_all("/var/lib/faultline/galera/n" + std::to_string(i) + "-10.77.214." +
                           std::to_string(10 + i),
                       ec);
      }
    }
  } remove_data;
  testing::LocalTestCluster cluster{kName, kSubnet};
  // Lines of node i's iptables rules that mention our chain.
  static std::string rules(int i) {
    auto r = testing::run_shell("ip netns exec " + std::string(kName) + "-n" + std::to_string(i) +
                                " iptables -w -S 2>/dev/null | grep FAULTLINE");
    return r.output;
  }
  static bool any_rules() {
    for (int i = 1; i <= 3; ++i) {
      if (!rules(i).empty()) return true;
    }
    return false;
  }
};

// A `faultline run` in the background.
struct Controller {
  pid_t pid = -1;
  fs::path results;
  Controller(const fs::path& results_dir, const fs::path& log) : results(results_dir) {
    fs::path spec = results_dir / "spec.json";
    fs::create_directories(results_dir);
    std::ofstream(spec) << R"({"nemesis-options": {"partition": {"shapes": ["majority"]}}})";
    std::vector<std::string> args = {testing::faultline_binary(),
                                     "run",
                                     "--spec",
                                     spec.string(),
                                     "--db",
                                     "galera",
                                     "--workload",
                                     "register",
                                     "--nemesis",
                                     "partition",
                                     "--nemesis-interval",
                                     "2",
                                     "--time-limit",
                                     "300",
                                     "--rate",
                                     "50",
                                     "--nodes-file",
                                     kInventory,
                                     "--results-dir",
                                     results_dir.string(),
                                     "--no-progress"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    REQUIRE(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Controller() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // Waits up to `limit` for the process to exit; its exit code, or -1.
  int wait(std::chrono::seconds limit) {
    auto until = Clock::now() + limit;
    while (Clock::now() < until) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }
  // The run directory (results/<test>/<stamp>), once it exists.
  fs::path run_dir() const {
    for (const auto& test : fs::directory_iterator(results)) {
      if (!test.is_directory()) continue;
      for (const auto& run : fs::directory_iterator(test.path())) {
        if (run.is_directory() && !fs::is_symlink(run.path()) &&
            fs::exists(run.path() / "history.jsonl")) {
          return run.path();
        }
      }
    }
    return {};
  }
};

// Waits until a partition is active (our chain on some node), up to `limit`.
bool wait_for_partition(std::chrono::seconds limit) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (Cluster::any_rules()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("interrupt: SIGINT mid-run heals, tears down and keeps the history", "[interrupt]") {
  FAULTLINE_REQUIRE_ROOT();
  Cluster c;
  fs::path results = fs::temp_directory_path() / ("flint-int-" + std::to_string(::getpid()));
  fs::remove_all(results);
  fs::path log = fs::temp_directory_path() / ("flint-int-" + std::to_string(::getpid()) + ".log");
  Controller run(results, log);
  REQUIRE(wait_for_partition(std::chrono::seconds(180)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(run.pid, SIGINT);
  int rc = run.wait(std::chrono::seconds(180));
  INFO(read_text(log));
  CHECK(rc != -1);
  CHECK_FALSE(Cluster::any_rules());  // healed
  fs::path dir = run.run_dir();
  REQUIRE(!dir.empty());
  LoadedHistory h = load_history_file((dir / "history.jsonl").string());
  CHECK(h.history.ops().size() > 10);
  // Torn down: no mariadbd of this cluster left.
  auto ps = testing::run_shell("ls /var/lib/faultline/galera/ | grep -c 10.77.214 || true");
  CHECK(ps.output.find('0') == 0);
  fs::remove_all(results);
  fs::remove(log);
}

TEST_CASE("interrupt: SIGKILL mid-run keeps a loadable history, faultline heal heals",
          "[interrupt]") {
  FAULTLINE_REQUIRE_ROOT();
  Cluster c;
  fs::path results = fs::temp_directory_path() / ("flint-kill-" + std::to_string(::getpid()));
  fs::remove_all(results);
  fs::path log = fs::temp_directory_path() / ("flint-kill-" + std::to_string(::getpid()) + ".log");
  Controller run(results, log);
  REQUIRE(wait_for_partition(std::chrono::seconds(180)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(run.pid, SIGKILL);
  CHECK(run.wait(std::chrono::seconds(30)) == 128 + SIGKILL);
  CHECK(Cluster::any_rules());  // the partition outlives its controller
  fs::path dir = run.run_dir();
  REQUIRE(!dir.empty());
  // At most a torn last line, reported and skipped (as `faultline analyze` does).
  RecoveredHistory h = load_recorded_history((dir / "history.jsonl").string());
  CHECK(h.history.ops().size() > 10);
  auto heal = testing::run_shell(testing::faultline_binary() + " heal " + dir.string() + " 2>&1");
  INFO(heal.output);
  CHECK(heal.status == 0);
  CHECK_FALSE(Cluster::any_rules());
  fs::remove_all(results);
  fs::remove(log);
}
