// Controller safety on a real local cluster (issue 14 items 4 and 11; needs root, skipped with a
// warning otherwise): a partition whose address prefix holds the controller is refused before
// any rule is made; IPv6 peers are really cut off with ip6tables and healed; `faultline heal`
// of a crashed run removes its rules of both families and fails, saying why, when the run
// paused processes it cannot resume. Its own cluster ("flheal", 10.77.216.0/24, IPv6
// fd77:216::/64 added on the nodes), torn down in an RAII guard however the test ends.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness/nemesis.h"
#include "harness/remote.h"
#include "nemeses/partition.h"
#include "tests/support/local_cluster.h"
#include "tests/support/paths.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

constexpr const char* kName = "flheal";
constexpr const char* kSubnet = "10.77.216.0/24";

std::string v6(int i) { return "fd77:216::" + std::to_string(10 + i); }

struct Cluster : testing::LocalTestCluster {
  Cluster() : LocalTestCluster(kName, kSubnet) {}
  std::string netns(int i) const { return std::string(kName) + "-n" + std::to_string(i); }
  // Lines of node i's `<tool> -S` that mention FAULTLINE.
  std::string our_rules(int i, const std::string& tool) {
    auto r = testing::run_shell("ip netns exec " + netns(i) + " " + tool + " -w -S 2>/dev/null");
    std::string out;
    std::istringstream in(r.output);
    for (std::string l; std::getline(in, l);) {
      if (l.find("FAULTLINE") != std::string::npos) out += l + "\n";
    }
    return out;
  }
  // Node `from` opens a TCP connection to `address` port 7777 within 1 s.
  bool reaches(int from, const std::string& address) {
    auto s = remote->session("n" + std::to_string(from));
    ExecResult r = s->exec(
        Command::shell("timeout 2 socat -u OPEN:/dev/null \"TCP:$1:7777,connect-timeout=1\"",
                       {address.find(':') != std::string::npos ? "[" + address + "]" : address}));
    return r.exit_status == 0;
  }
};

Op op(const std::string& f, Json value = nullptr) {
  Op o;
  o.process = kNemesisProcess;
  o.f = f;
  o.value = std::move(value);
  return o;
}

}  // namespace

TEST_CASE("heal on the local cluster: controller never cut off, IPv6 partitioned and healed",
          "[integration][heal]") {
  FAULTLINE_REQUIRE_ROOT();
  if (testing::run_shell("command -v ip6tables socat").status != 0) {
    WARN("SKIPPED: ip6tables or socat missing");
    return;
  }
  Cluster c;
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(testing::run_shell("ip -n " + c.netns(i) + " addr add " + v6(i) + "/64 dev eth0 nodad")
                .status == 0);
    auto s = c.remote->session("n" + std::to_string(i));
    s->run_checked(Command::shell(
        "setsid nohup socat TCP6-LISTEN:7777,fork,reuseaddr,ipv6only=0 OPEN:/dev/null "
        ">/dev/null 2>&1 </dev/null &"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  NemesisContext ctx;
  ctx.remote = c.remote.get();
  ctx.nodes = c.nodes;

  // The subnet as n1's address holds the controller (10.77.216.1): refused, no rule made.
  NemesisOptions o;
  o.nodes = c.nodes;
  o.options = {{"addresses", {{"n1", kSubnet}}}};
  auto bad = NemesisRegistry::get("nemesis", "partition")(o);
  CHECK_THROWS_WITH(bad.nemesis->setup(ctx), Catch::Contains("refusing to cut the controller off"));
  for (int i = 1; i <= 3; ++i) CHECK(c.our_rules(i, "iptables").empty());
  CHECK(c.remote->session("n1")->exec(Command{"true"}).ok());

  // Nodes that talk over IPv6: n3 cut off from n1 and n2 by ip6tables, the controller not.
  o.options = {{"addresses", {{"n1", v6(1)}, {"n2", v6(2)}, {"n3", v6(3)}}}};
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  p.nemesis->setup(ctx);
  REQUIRE(c.reaches(1, v6(3)));
  p.nemesis->invoke(ctx, op("start-partition", {{"grudge", {{"n3", {"n1", "n2"}}}}}));
  CHECK_THAT(c.our_rules(3, "ip6tables"), Catch::Contains("-A FAULTLINE -s " + v6(1)));
  CHECK_FALSE(c.reaches(1, v6(3)));  // n3 drops n1's packets
  CHECK(c.reaches(1, v6(2)));
  CHECK(c.remote->session("n3")->exec(Command{"true"}).ok());  // the controller still gets in

  // The controller "dies" here; `faultline heal RUN_DIR` removes the rules. The run paused
  // processes of a database this build does not have: said, and the heal fails.
  fs::path run = fs::temp_directory_path() / ("flheal-run-" + std::to_string(::getpid()));
  fs::create_directories(run);
  Json test = {{"nodes", c.nodes},
               {"nemeses", {"partition", "pause"}},
               {"inventory", c.inv.to_json()},
               {"spec", {{"db", "no-such-db"}}}};
  std::ofstream(run / "test.json") << test.dump(2) << "\n";
  std::ofstream(run / "history.jsonl");
  auto heal = testing::run_shell(testing::faultline_binary() + " heal " + run.string() + " 2>&1");
  INFO(heal.output);
  CHECK(heal.status == 255);
  CHECK_THAT(heal.output, Catch::Contains("n3: partition rules removed") &&
                              Catch::Contains("may still be stopped") &&
                              Catch::Contains("faultline heal " + run.string()));
  for (int i = 1; i <= 3; ++i) {
    CHECK(c.our_rules(i, "iptables").empty());
    CHECK(c.our_rules(i, "ip6tables").empty());
  }
  CHECK(c.reaches(1, v6(3)));
  fs::remove_all(run);
}
