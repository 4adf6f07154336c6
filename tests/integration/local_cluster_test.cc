// The control plane against a real local cluster (needs root; skipped with a warning
// otherwise). Uses its own cluster name and subnet ("flit", 10.77.201.0/24) so that it never
// touches a user's cluster. Every test tears its cluster down in an RAII guard, so a failing
// assertion still leaves the machine clean.
#include "tests/support/local_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>
#include <thread>

#include "harness/control/inventory.h"
#include "harness/control/retry.h"
#include "harness/control/ssh.h"
#include "harness/errors.h"
#include "harness/remote.h"
#include "tests/support/paths.h"

using namespace faultline;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr const char* kName = "flit";
constexpr const char* kSubnet = "10.77.201.0/24";

struct ClusterGuard {
  std::unique_ptr<control::LocalClusterProvisioner> p = control::make_local_cluster_provisioner();
  ~ClusterGuard() {
    try {
      std::ostringstream log;
      p->down(kName, log);
    } catch (const std::exception& e) {
      std::cerr << "cluster guard: down failed: " << e.what() << "\n";
    }
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Everything that would show the cluster is still (partly) there; empty when it is gone.
std::vector<std::string> leftovers(const std::vector<int>& pids) {
  std::vector<std::string> out;
  for (const auto& dir : {"/run/netns", "/sys/class/net", "/etc/netns"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      std::string n = e.path().filename().string();
      if (n.rfind(std::string(kName) + "-", 0) == 0) out.push_back(e.path().string());
    }
  }
  for (const auto& p : {fs::path("/var/lib/faultline/clusters") / kName,
                        fs::path("/run/faultline/clusters") / (std::string(kName) + ".json")}) {
    if (fs::exists(p)) out.push_back(p.string());
  }
  for (int pid : pids) {
    if (::kill(pid, 0) == 0) out.push_back("process " + std::to_string(pid));
  }
  auto rules = testing::run_shell("iptables -w -S");
  if (rules.output.find("faultline cluster " + std::string(kName)) != std::string::npos) {
    out.push_back("iptables rule");
  }
  for (const auto& p : testing::processes()) {
    if (p.cmdline.find("/var/lib/faultline/clusters/" + std::string(kName) + "/") !=
        std::string::npos) {
      out.push_back("process " + std::to_string(p.pid) + " using the cluster dir");
    }
  }
  return out;
}

std::vector<int> sshd_pids(control::LocalClusterProvisioner& p) {
  std::vector<int> out;
  auto s = p.status(kName);
  for (const auto& n : s.value("nodes", nlohmann::json::array())) {
    out.push_back(n.value("sshd_pid", 0));
  }
  return out;
}

control::LocalClusterOptions options(int nodes) {
  control::LocalClusterOptions o;
  o.name = kName;
  o.subnet = kSubnet;
  o.nodes = nodes;
  return o;
}

}  // namespace

TEST_CASE("local cluster: exec, transfers, parallel channels, host keys, sshd loss, down",
          "[integration][local-cluster]") {
  FAULTLINE_REQUIRE_ROOT();
  ClusterGuard guard;
  auto t0 = std::chrono::steady_clock::now();
  control::Inventory inv = guard.p->up(options(3), std::cout);
  std::cout << "cluster up: "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
            << " s\n";
  REQUIRE(inv.nodes.size() == 3);
  CHECK(guard.p->status(kName).value("up", false));
  auto remote = control::make_ssh_remote(inv);
  // A second cluster on the same subnet is refused, naming the bridge in the way.
  {
    control::LocalClusterOptions other = options(1);
    other.name = "flit2";
    CHECK_THROWS_WITH(guard.p->up(other, std::cout),
                      Catch::Contains("routes on flit-br overlap 10.77.201.0/24"));
    CHECK_FALSE(fs::exists("/run/faultline/clusters/flit2.json"));
  }
  // The safety net is in place, and node addresses route through the bridge.
  auto rules = testing::run_shell("iptables -w -S OUTPUT; iptables -w -S FORWARD");
  CHECK_THAT(rules.output, Catch::Contains("-A OUTPUT -d 10.77.201.0/24 ! -o flit-br") &&
                               Catch::Contains("-A FORWARD -d 10.77.201.0/24 ! -o flit-br"));
  CHECK_THAT(testing::run_shell("ip route get 10.77.201.12").output,
             Catch::Contains("dev flit-br"));
  CHECK(testing::run_shell("ip netns exec flit-n1 ip route").output.find("default") ==
        std::string::npos);

  // exec on each node over SSH returns the node's own hostname and address.
  for (int i = 1; i <= 3; ++i) {
    std::string node = "n" + std::to_string(i);
    auto s = remote->session(node);
    CHECK(s->exec(Command{"hostname"}).out == node + "\n");
    ExecResult addr = s->run_checked(Command{"ip", "-4", "-o", "addr", "show", "dev", "eth0"});
    CHECK_THAT(addr.out, Catch::Contains("10.77.201." + std::to_string(10 + i) + "/24"));
    ExecResult fail = s->exec(Command::shell("echo out; echo err >&2; exit 42"));
    CHECK(fail.exit_status == 42);
    CHECK(fail.out == "out\n");
    CHECK(fail.err == "err\n");
  }
  {
    auto s = remote->session("n1");
    // Quoting survives a real remote shell, stdin is delivered, cwd and env apply.
    std::vector<std::string> nasty = {"a b", "it's", "$HOME", "`id`", "new\nline", "é日本"};
    Command printf_cmd{"printf", "%s|"};
    for (const auto& w : nasty) printf_cmd.argv.push_back(w);
    CHECK(s->exec(printf_cmd).out == "a b|it's|$HOME|`id`|new\nline|é日本|");
    CHECK(s->exec(Command{"cat"}.with_stdin("to stdin\n")).out == "to stdin\n");
    CHECK(s->exec(Command{"pwd"}.in("/tmp")).out == "/tmp\n");
    CHECK_THROWS_AS(s->run_checked(Command{"false"}), CommandFailed);
    CHECK_THROWS_AS(s->exec(Command{"sleep", "17.25"}.with_timeout(milliseconds(300))),
                    CommandTimeoutError);
    CHECK(s->exec(Command{"true"}).ok());  // the connection survives a timed-out channel
    // (The timed-out `sleep` itself keeps running: OpenSSH refuses signal requests for root
    // sessions, which run without privilege separation. `down` stops it with the node.)
  }

  // Upload/download round trip of a file and a directory, with permissions.
  {
    fs::path local = fs::temp_directory_path() / ("flit-transfer-" + std::to_string(::getpid()));
    fs::remove_all(local);
    fs::create_directories(local / "tree" / "sub");
    std::string blob;
    for (int i = 0; i < 200000; ++i) blob += static_cast<char>(i * 7 % 251);
    std::ofstream(local / "file.bin", std::ios::binary) << blob;
    std::ofstream(local / "tree" / "run.sh") << "#!/bin/sh\necho ran\n";
    std::ofstream(local / "tree" / "sub" / "secret") << "s3cret";
    fs::permissions(local / "tree" / "run.sh", fs::perms(0755));
    fs::permissions(local / "tree" / "sub" / "secret", fs::perms(0600));
    fs::permissions(local / "tree" / "sub", fs::perms(0750));
    auto s = remote->session("n2");
    std::string rdir = "/var/lib/faultline/clusters/flit/n2/data";
    s->upload(local / "file.bin", rdir + "/file.bin");
    s->upload(local / "tree", rdir + "/tree");
    CHECK(s->exec(Command{rdir + "/tree/run.sh"}).out == "ran\n");
    CHECK(s->exec(Command{"stat", "-c", "%a", rdir + "/tree/sub/secret", rdir + "/tree/sub"}).out ==
          "600\n750\n");
    s->download(rdir + "/file.bin", local / "file.back");
    s->download(rdir + "/tree", local / "tree.back");
    CHECK(slurp(local / "file.back") == blob);
    CHECK(slurp(local / "tree.back" / "sub" / "secret") == "s3cret");
    CHECK((fs::status(local / "tree.back" / "run.sh").permissions() & fs::perms::all) ==
          fs::perms(0755));
    CHECK((fs::status(local / "tree.back" / "sub").permissions() & fs::perms::all) ==
          fs::perms(0750));
    CHECK_THROWS_AS(s->download(rdir + "/missing", local / "missing"), TransferError);
    fs::remove_all(local);
  }

  // Parallel commands on one node: 12 sessions share one connection, 6 channels at a time.
  {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::future<std::string>> results;
    for (int i = 0; i < 12; ++i) {
      results.push_back(std::async(std::launch::async, [&remote, i] {
        auto s = remote->session("n3");
        return s->run_checked(Command::shell("sleep 0.3; echo \"$1\"", {std::to_string(i)})).out;
      }));
    }
    for (int i = 0; i < 12; ++i) CHECK(results[i].get() == std::to_string(i) + "\n");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "12 x sleep 0.3 on one node: " << secs << " s\n";
    CHECK(secs < 2.5);  // serial would be 3.6 s; two waves of 6 are about 0.6 s
  }

  // RSA keys, and ssh-agent when no key is given.
  {
    fs::path d = fs::temp_directory_path() / ("flit-keys-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    std::string rsa = (d / "id_rsa").string();
    REQUIRE(testing::run_shell("ssh-keygen -q -t rsa -b 2048 -N '' -f " + rsa).status == 0);
    std::string auth = (fs::path(inv.nodes[0].key).parent_path() / "authorized_keys").string();
    REQUIRE(testing::run_shell("cat " + rsa + ".pub >> " + auth).status == 0);
    control::Inventory with_rsa = inv;
    for (auto& n : with_rsa.nodes) n.key = rsa;
    CHECK(control::make_ssh_remote(with_rsa)->session("n1")->exec(Command{"hostname"}).out ==
          "n1\n");

    std::string sock = (d / "agent.sock").string();
    auto agent = testing::run_shell("ssh-agent -a " + sock + " -s");
    REQUIRE(agent.status == 0);
    std::string pid_text = agent.output.substr(agent.output.find("SSH_AGENT_PID=") + 14);
    int agent_pid = std::atoi(pid_text.c_str());
    REQUIRE(
        testing::run_shell("SSH_AUTH_SOCK=" + sock + " ssh-add -q " + inv.nodes[0].key).status ==
        0);
    const char* old_sock = std::getenv("SSH_AUTH_SOCK");
    std::string saved = old_sock != nullptr ? old_sock : "";
    ::setenv("SSH_AUTH_SOCK", sock.c_str(), 1);
    control::Inventory with_agent = inv;
    for (auto& n : with_agent.nodes) n.key.clear();
    ExecResult r;
    CHECK_NOTHROW(
        r = control::make_ssh_remote(with_agent)->session("n3")->exec(Command{"hostname"}));
    CHECK(r.out == "n3\n");
    if (saved.empty()) {
      ::unsetenv("SSH_AUTH_SOCK");
    } else {
      ::setenv("SSH_AUTH_SOCK", saved.c_str(), 1);
    }
    if (agent_pid > 0) {
      ::kill(agent_pid, SIGTERM);
      for (int i = 0; i < 100 && ::kill(agent_pid, 0) == 0; ++i) {
        std::this_thread::sleep_for(milliseconds(20));  // it removes its socket as it exits
      }
    }
    std::error_code ec;
    fs::remove_all(d, ec);
  }

  // With all 6 channels busy, a 7th command waits for one, but not past its own timeout.
  {
    std::vector<std::future<ExecResult>> busy;
    for (int i = 0; i < 6; ++i) {
      busy.push_back(std::async(std::launch::async, [&remote] {
        return remote->session("n3")->exec(Command{"sleep", "1"});
      }));
    }
    std::this_thread::sleep_for(milliseconds(200));
    try {
      remote->session("n3")->exec(Command{"true"}.with_timeout(milliseconds(200)));
      FAIL("expected TransportError");
    } catch (const TransportError& e) {
      CHECK_FALSE(e.may_have_run());
      CHECK_THAT(e.what(), Catch::Contains("channels stayed busy"));
    }
    CHECK(remote->session("n3")->exec(Command{"true"}).ok());  // waits for a free channel
    for (auto& b : busy) CHECK(b.get().ok());
  }

  // A wrong host key is refused; so is a host missing from known_hosts.
  {
    fs::path kh = fs::temp_directory_path() / ("flit-known-" + std::to_string(::getpid()));
    std::string lines = slurp(inv.nodes[0].known_hosts);
    std::istringstream in(lines);
    std::string l1, l2;
    std::getline(in, l1);
    std::getline(in, l2);
    // n1's address with n2's key.
    std::ofstream(kh) << "10.77.201.11" << l2.substr(l2.find(' ')) << "\n";
    control::Inventory wrong = inv;
    for (auto& n : wrong.nodes) n.known_hosts = kh.string();
    auto bad = control::make_ssh_remote(wrong);
    try {
      bad->session("n1")->exec(Command{"true"});
      FAIL("expected HostKeyError");
    } catch (const HostKeyError& e) {
      CHECK(e.node() == "n1");
      CHECK_THAT(e.what(), Catch::Contains("does not match"));
    }
    try {
      bad->session("n3")->exec(Command{"true"});
      FAIL("expected HostKeyError");
    } catch (const HostKeyError& e) {
      CHECK_THAT(e.what(), Catch::Contains("is not in known_hosts"));
    }
    fs::remove(kh);
  }

  // Killing a node's sshd mid-session: a clean error; after a restart, the retry succeeds.
  {
    control::RetryPolicy policy;
    policy.max_tries = 3;
    policy.initial_backoff = milliseconds(50);
    policy.max_backoff = milliseconds(200);
    policy.seed = static_cast<uint64_t>(::getpid());
    std::cout << "retry seed: " << policy.seed << "\n";
    auto retrying = control::make_retrying_remote(control::make_ssh_remote(inv), policy);
    auto s = retrying->session("n2");
    CHECK(s->exec(Command{"hostname"}).out == "n2\n");
    auto running = std::async(std::launch::async, [&retrying] {
      return retrying->session("n2")->exec(Command{"sleep", "20"});
    });
    std::this_thread::sleep_for(milliseconds(300));
    guard.p->kill_sshd(kName, "n2");
    try {
      running.get();
      FAIL("expected TransportError");
    } catch (const TransportError& e) {
      CHECK(e.node() == "n2");
      CHECK(e.may_have_run());  // it was running: never re-run blindly
    }
    try {
      s->exec(Command{"hostname"});
      FAIL("expected RetriesExhausted");
    } catch (const control::RetriesExhausted& e) {
      CHECK(e.node() == "n2");
      CHECK(e.tries() == 3);
      CHECK_THAT(e.what(), Catch::Contains("node n2") && Catch::Contains("`hostname`"));
    }
    guard.p->start_sshd(kName, "n2");
    CHECK(s->exec(Command{"hostname"}).out == "n2\n");
  }

  // The CLI talks to the same cluster.
  auto cli =
      testing::run_shell(testing::faultline_binary() + " cluster exec --name flit n3 -- hostname");
  CHECK(cli.status == 0);
  CHECK(cli.output == "n3\n");

  // Down leaves nothing behind.
  std::vector<int> pids = sshd_pids(*guard.p);
  t0 = std::chrono::steady_clock::now();
  std::ostringstream log;
  guard.p->down(kName, log);
  std::cout << "cluster down: "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
            << " s\n";
  CHECK(leftovers(pids).empty());
  CHECK_FALSE(guard.p->inventory(kName).has_value());
}

TEST_CASE("local cluster: crash mid-up is cleaned by down, leftovers and intruders",
          "[integration][local-cluster]") {
  FAULTLINE_REQUIRE_ROOT();
  ClusterGuard guard;
  std::string bin = testing::faultline_binary();
  // A `cluster up` killed at some point during its run.
  auto crashed = testing::run_shell("timeout -s KILL 0.15 " + bin +
                                    " cluster up --name flit --subnet 10.77.201.0/24");
  std::cout << "cluster up killed after 0.15 s: exit " << crashed.status << "\n";
  auto down = testing::run_shell(bin + " cluster down --name flit");
  INFO(down.output);
  CHECK(down.status == 0);
  CHECK(leftovers({}).empty());

  // Up over a healthy cluster of the same name refuses; over a broken one, cleans it first.
  guard.p->up(options(1), std::cout);
  CHECK_THROWS_WITH(guard.p->up(options(2), std::cout), Catch::Contains("already up"));
  std::vector<int> old_pids = sshd_pids(*guard.p);
  guard.p->kill_sshd(kName, "n1");
  CHECK_FALSE(guard.p->status(kName).value("up", true));
  control::Inventory inv = guard.p->up(options(2), std::cout);
  CHECK(inv.nodes.size() == 2);
  for (int pid : old_pids) CHECK(::kill(pid, 0) != 0);
  CHECK(control::make_ssh_remote(inv)->session("n2")->exec(Command{"hostname"}).out == "n2\n");
  std::ostringstream log;
  guard.p->down(kName, log);

  // Something that is not ours in the way is named, and nothing is touched.
  REQUIRE(testing::run_shell("ip netns add flit-n2").status == 0);
  try {
    guard.p->up(options(3), std::cout);
    FAIL("expected ConfigError");
  } catch (const std::exception& e) {
    CHECK_THAT(e.what(), Catch::Contains("network namespace flit-n2"));
  }
  CHECK(fs::exists("/run/netns/flit-n2"));
  CHECK_FALSE(fs::exists("/run/faultline/clusters/flit.json"));
  testing::run_shell("ip netns del flit-n2");
  CHECK(leftovers({}).empty());

  // Without root: exit 254 and one line.
  auto nonroot = testing::run_shell("setpriv --reuid=65534 --regid=65534 --clear-groups " + bin +
                                    " cluster up --name flit 2>&1");
  CHECK(nonroot.status == 254);
  CHECK(std::count(nonroot.output.begin(), nonroot.output.end(), '\n') == 1);
  CHECK_THAT(nonroot.output, Catch::Contains("needs root"));
}
