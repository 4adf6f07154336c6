// Nemeses against a real local cluster (needs root; skipped with a warning otherwise): real
// iptables partitions, libfaketime clock offsets, heal after an interrupted run and by
// `faultline heal`. Its own cluster name and subnet ("flnem", 10.77.203.0/24); the cluster is
// torn down in an RAII guard, so a failing assertion still leaves the machine clean.
#include "harness/nemesis.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "harness/control/inventory.h"
#include "harness/remote.h"
#include "harness/run/runner.h"
#include "harness/run/spec.h"
#include "nemeses/partition.h"
#include "tests/support/local_cluster.h"
#include "tests/support/paths.h"

using namespace faultline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kName = "flnem";
constexpr const char* kSubnet = "10.77.203.0/24";
constexpr const char* kFaketimeLib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

std::string addr(int i) { return "10.77.203." + std::to_string(10 + i); }

struct Cluster : testing::LocalTestCluster {
  Cluster() : LocalTestCluster(kName, kSubnet) {}
  // Rules of node i's netns mentioning FAULTLINE.
  std::string our_rules(int i) {
    auto r = testing::run_shell("ip netns exec " + std::string(kName) + "-n" + std::to_string(i) +
                                " iptables -w -S");
    std::string out;
    std::istringstream in(r.output);
    for (std::string l; std::getline(in, l);) {
      if (l.find("FAULTLINE") != std::string::npos) out += l + "\n";
    }
    return out;
  }
  // Whether node `from` can open a TCP connection to node `to`'s test port within 1 s.
  bool reaches(int from, int to) {
    auto s = remote->session("n" + std::to_string(from));
    ExecResult r = s->exec(Command::shell(
        "timeout 1 socat -u OPEN:/dev/null TCP:\"$1\":7777,connect-timeout=1", {addr(to)}));
    return r.exit_status == 0;
  }
  void listen_everywhere() {
    for (const auto& n : nodes) {
      auto s = remote->session(n);
      s->run_checked(Command::shell(
          "setsid nohup socat TCP-LISTEN:7777,fork,reuseaddr OPEN:/dev/null >/dev/null 2>&1 "
          "</dev/null &"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

Op op(const std::string& f, Json value = nullptr) {
  Op o;
  o.process = kNemesisProcess;
  o.f = f;
  o.value = std::move(value);
  return o;
}

// A database reached over SSH that does nothing: enough for the runner to run nemeses.
class NoopClient : public Client {
 public:
  void open(const ClientContext&) override {}
  Completion invoke(const Op&, std::chrono::steady_clock::time_point) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return Completion::fail("noop");
  }
};
class NoopSshDb : public Db {
 public:
  std::string name() const override { return "nemtest-noop"; }
  void setup(const DbContext&) override {}
  void teardown(const DbContext&) override {}
  std::vector<std::string> vocabularies() const override { return {"register"}; }
  std::unique_ptr<Client> new_client(const std::string&) override {
    return std::make_unique<NoopClient>();
  }
};
const bool registered_db = DbRegistry::add(
    "db", "nemtest-noop", "test only: a database over SSH that does nothing",
    [](const Json&) -> std::unique_ptr<Db> { return std::make_unique<NoopSshDb>(); });

}  // namespace

TEST_CASE("nemesis on the local cluster: partition, heal, clock, interrupted run, faultline heal",
          "[integration][nemesis]") {
  FAULTLINE_REQUIRE_ROOT();
  Cluster c;
  c.listen_everywhere();
  for (int a = 1; a <= 3; ++a) {
    for (int b = 1; b <= 3; ++b) {
      if (a != b) REQUIRE(c.reaches(a, b));
    }
  }
  NemesisContext ctx;
  ctx.remote = c.remote.get();
  ctx.nodes = c.nodes;

  SECTION("dc partition: 2 data centres (n1 n2 | n3): exactly the links between them are cut") {
    NemesisOptions o;
    o.nodes = c.nodes;
    o.dcs = {{"n1", "east"}, {"n2", "east"}, {"n3", "west"}};
    o.options = {{"shapes", {"dc"}}};
    auto p = NemesisRegistry::get("nemesis", "partition")(o);
    p.nemesis->setup(ctx);
    Completion done = p.nemesis->invoke(ctx, op("start-partition", {{"shape", "dc"}}));
    CHECK(done.value["grudge"] == Json{{"n1", {"n3"}}, {"n2", {"n3"}}, {"n3", {"n1", "n2"}}});
    CHECK(c.reaches(1, 2));
    CHECK(c.reaches(2, 1));
    for (auto [a, b] : {std::pair{1, 3}, {3, 1}, {2, 3}, {3, 2}}) {
      INFO(a << " -> " << b);
      CHECK_FALSE(c.reaches(a, b));
    }
    CHECK_THAT(c.our_rules(1), Catch::Contains("-s " + addr(3)) && !Catch::Contains(addr(2)));
    CHECK_THAT(c.our_rules(3), Catch::Contains("-s " + addr(1)) && Catch::Contains(addr(2)));
    p.nemesis->invoke(ctx, op("stop-partition"));
    for (auto [a, b] : {std::pair{1, 3}, {3, 1}, {2, 3}, {3, 2}}) CHECK(c.reaches(a, b));
    p.nemesis->teardown(ctx);
    for (int i = 1; i <= 3; ++i) CHECK(c.our_rules(i).empty());
  }

  SECTION("packet faults between data centres only: n1-n2 untouched, n1-n3 and n2-n3 lose all") {
    NemesisOptions o;
    o.nodes = c.nodes;
    o.dcs = {{"n1", "east"}, {"n2", "east"}, {"n3", "west"}};
    o.options = {{"faults", {"loss"}}, {"loss", 1.0}, {"between", "dcs"}};
    auto p = NemesisRegistry::get("nemesis", "packet")(o);
    p.nemesis->setup(ctx);
    Completion done =
        p.nemesis->invoke(ctx, op("start-packet", {{"fault", "loss"}, {"nodes", c.nodes}}));
    CHECK(done.value["between"] == "dcs");
    CHECK(c.reaches(1, 2));
    CHECK(c.reaches(2, 1));
    for (auto [a, b] : {std::pair{1, 3}, {3, 1}, {2, 3}, {3, 2}}) {
      INFO(a << " -> " << b);
      CHECK_FALSE(c.reaches(a, b));
    }
    p.nemesis->invoke(ctx, op("stop-packet"));
    for (auto [a, b] : {std::pair{1, 3}, {3, 1}, {2, 3}, {3, 2}}) CHECK(c.reaches(a, b));
    p.nemesis->teardown(ctx);
    for (int i = 1; i <= 3; ++i) CHECK(c.our_rules(i).empty());
  }

  SECTION("majority partition: the minority is cut off, the controller is not; heal restores") {
    NemesisOptions o;
    o.nodes = c.nodes;
    auto p = NemesisRegistry::get("nemesis", "partition")(o);
    p.nemesis->setup(ctx);
    Json grudge = {{"n1", {"n3"}}, {"n2", {"n3"}}, {"n3", {"n1", "n2"}}};
    auto t0 = Clock::now();
    p.nemesis->invoke(ctx, op("start-partition", {{"shape", "majority"}, {"grudge", grudge}}));
    double partition_ms = ms_since(t0);
    CHECK_FALSE(c.reaches(3, 1));
    CHECK_FALSE(c.reaches(3, 2));
    CHECK_FALSE(c.reaches(1, 3));
    CHECK(c.reaches(1, 2));
    CHECK(c.reaches(2, 1));
    for (const auto& n : c.nodes) CHECK(c.remote->session(n)->exec(Command{"true"}).ok());
    CHECK(testing::run_shell("ping -c1 -W1 " + addr(3)).status == 0);  // controller -> n3
    t0 = Clock::now();
    p.nemesis->invoke(ctx, op("stop-partition"));
    double heal_ms = ms_since(t0);
    for (int a = 1; a <= 3; ++a) {
      for (int b = 1; b <= 3; ++b) {
        if (a != b) CHECK(c.reaches(a, b));
      }
      CHECK(c.our_rules(a).empty());
    }
    std::cerr << "measured: partition 3 nodes " << partition_ms << " ms, heal " << heal_ms
              << " ms\n";
  }

  SECTION("clock bump shows in the time a faketime'd process on the node reads") {
    NemesisOptions o;
    o.nodes = c.nodes;
    std::string dir = "/var/lib/faultline/clusters/flnem/faketime";
    o.options = {{"faketime-dir", dir}};
    auto p = NemesisRegistry::get("nemesis", "clock")(o);
    p.nemesis->setup(ctx);
    auto skew_of = [&](const std::string& node) {
      auto s = c.remote->session(node);
      Command date{"date", "+%s.%N"};
      date.with_env("LD_PRELOAD", kFaketimeLib)
          .with_env("FAKETIME_TIMESTAMP_FILE", dir + "/" + node + ".rc")
          .with_env("FAKETIME_NO_CACHE", "1")
          .with_env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
      double before =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      ExecResult r = s->run_checked(date);
      return std::stod(r.out) - before;
    };
    Completion b = p.nemesis->invoke(ctx, op("bump-clock", {{"n2", 5000}}));
    CHECK(b.value["mechanism"] == "faketime");
    CHECK(b.value["offsets-ms"]["n2"] == 5000.0);
    double s2 = skew_of("n2"), s1 = skew_of("n1");
    CHECK(s2 > 4.8);
    CHECK(s2 < 5.5);
    CHECK(std::abs(s1) < 0.5);
    Completion chk = p.nemesis->invoke(ctx, op("check-clock-offsets"));
    CHECK(chk.value["offsets-ms"]["n2"] == 5000.0);
    p.nemesis->invoke(ctx, op("bump-clock", {{"n2", -7000}}));
    double back = skew_of("n2");
    CHECK(back < -1.8);
    CHECK(back > -2.5);
    p.nemesis->teardown(ctx);
    CHECK(std::abs(skew_of("n2")) < 0.5);
    std::cerr << "measured: n2 skew after +5000 ms bump: " << s2 << " s\n";
  }

  SECTION("packet loss and delay between nodes show in ping; heal removes them") {
    NemesisOptions o;
    o.nodes = c.nodes;
    o.options = {{"dir", "/var/lib/faultline/clusters/flnem/packet"}};
    auto p = NemesisRegistry::get("nemesis", "packet")(o);
    auto t0 = Clock::now();
    p.nemesis->setup(ctx);  // builds the delayer on every node
    double setup_ms = ms_since(t0);
    auto ping = [&](const std::string& from, int to, int count) {
      auto s = c.remote->session(from);
      return s
          ->exec(Command{"ping", "-q", "-n", "-c", std::to_string(count), "-i", "0.02", "-W", "1",
                         addr(to)})
          .out;
    };
    auto loss_pct = [](const std::string& out) {
      auto at = out.find("% packet loss");
      auto start = out.rfind(' ', at);
      return std::stod(out.substr(start + 1, at - start - 1));
    };
    auto avg_rtt = [](const std::string& out) {  // rtt min/avg/max/mdev = a/b/c/d ms
      auto eq = out.find("= ", out.find("rtt"));
      auto slash = out.find('/', eq);
      return std::stod(out.substr(slash + 1, out.find('/', slash + 1) - slash - 1));
    };
    std::string base = ping("n1", 2, 10);
    CHECK(loss_pct(base) == 0);
    double base_rtt = avg_rtt(base);
    p.nemesis->invoke(
        ctx, op("start-packet",
                {{"fault", "delay"}, {"nodes", c.nodes}, {"delay-ms", 50}, {"jitter-ms", 10}}));
    std::string delayed = ping("n1", 2, 10);
    double rtt = avg_rtt(delayed);
    CHECK(rtt > 80);
    CHECK(rtt < 140);
    CHECK(testing::run_shell("ping -c1 -W1 " + addr(2)).status == 0);  // controller unaffected
    p.nemesis->invoke(ctx,
                      op("start-packet", {{"fault", "loss"}, {"nodes", c.nodes}, {"loss", 0.3}}));
    std::string lossy = ping("n1", 2, 100);
    double lost = loss_pct(lossy);
    CHECK(lost > 20);
    CHECK(lost < 80);
    p.nemesis->invoke(ctx, op("stop-packet"));
    std::string healed = ping("n1", 2, 10);
    CHECK(loss_pct(healed) == 0);
    CHECK(avg_rtt(healed) < 20);
    for (int i = 1; i <= 3; ++i) CHECK(c.our_rules(i).empty());
    p.nemesis->teardown(ctx);
    std::cerr << "measured: packet setup (probe + build delayer on 3 nodes) " << setup_ms
              << " ms; ping n1->n2 RTT " << base_rtt << " ms, with 50+-10 ms delay " << rtt
              << " ms; loss 0.3 per direction: " << lost << "% of 100 pings lost\n";
  }

  SECTION("packet rate limits traffic between nodes, not to the controller; heal removes it") {
    NemesisOptions o;
    o.nodes = c.nodes;
    o.options = {{"faults", {"rate"}},
                 {"rate", "4mbit"},
                 {"dir", "/var/lib/faultline/clusters/flnem/packet"}};
    auto p = NemesisRegistry::get("nemesis", "packet")(o);
    p.nemesis->setup(ctx);
    // 2 MiB from n1 to n2's socat sink, timed on the sender: its socket buffer and the tbf
    // queue absorb a few hundred KB, the rest waits for the 4 Mbit/s limit (4 s for it all).
    auto send_s = [&](int to) {
      auto s = c.remote->session("n1");
      auto t = Clock::now();
      ExecResult r = s->exec(Command::shell(
          "head -c 2097152 /dev/zero | timeout 20 socat -u STDIN TCP:\"$1\":7777,connect-timeout=2",
          {addr(to)}));
      CHECK(r.exit_status == 0);
      return ms_since(t) / 1000;
    };
    c.listen_everywhere();
    double before = send_s(2);
    Completion done = p.nemesis->invoke(
        ctx, op("start-packet", {{"fault", "rate"}, {"nodes", c.nodes}, {"rate", "4mbit"}}));
    CHECK(done.value["mechanism"] == "tc-tbf");
    double limited = send_s(2);
    auto n1 = c.remote->session("n1");
    CHECK(
        n1->exec(Command{"tc", "qdisc", "show", "dev", "eth0"}).out.find("qdisc htb 1f00: root") !=
        std::string::npos);
    // The controller's own traffic is not limited: SSH stays fast.
    auto t = Clock::now();
    n1->run_checked(Command::shell("head -c 1048576 /dev/zero"));
    double ssh_s = ms_since(t) / 1000;
    p.nemesis->invoke(ctx, op("stop-packet"));
    double after = send_s(2);
    CHECK(limited > 1.5);  // 16 Mbit at 4 Mbit/s, less the ~4 Mbit the buffers hold
    CHECK(before < 1.0);
    CHECK(after < 1.0);
    CHECK(ssh_s < 1.0);
    CHECK(n1->exec(Command{"tc", "qdisc", "show", "dev", "eth0"}).out.find("1f00:") ==
          std::string::npos);
    p.nemesis->teardown(ctx);
    std::cerr << "measured: 2 MiB n1->n2: " << before << " s, with rate 4mbit " << limited
              << " s, after heal " << after << " s; 1 MiB over SSH while limited " << ssh_s
              << " s\n";
  }

  SECTION("an interrupted run heals its partition; faultline heal heals a crashed one") {
    fs::path results = fs::temp_directory_path() / ("flnem-results-" + std::to_string(::getpid()));
    run::TestSpec spec;
    spec.db = "nemtest-noop";
    spec.nodes_file = "/var/lib/faultline/clusters/flnem/inventory.json";
    spec.nemesis = {"partition"};
    spec.nemesis_options = {{"partition", {{"shapes", {"majority"}}}}};
    spec.nemesis_interval_s = 0.3;
    spec.time_limit_s = 30;
    spec.rate = 20;
    spec.recovery_wait_s = 0;
    spec.results_dir = results.string();
    spec.seed = 1;
    std::atomic<bool> cancel{false};
    run::RunOptions ro;
    ro.echo_log = false;
    ro.progress = false;
    ro.handle_signals = false;
    ro.cancel = &cancel;
    std::atomic<bool> seen{false};
    std::thread watch([&] {
      auto until = Clock::now() + std::chrono::seconds(20);
      while (Clock::now() < until && !seen.load()) {
        for (int i = 1; i <= 3; ++i) {
          if (!c.our_rules(i).empty()) seen.store(true);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      cancel.store(true);  // as SIGINT
    });
    run::RunOutcome out = run::run_test(spec, ro);
    watch.join();
    CHECK(seen.load());
    CHECK(out.interrupted);
    for (int i = 1; i <= 3; ++i) CHECK(c.our_rules(i).empty());

    // A controller that died mid-partition: apply one, then `faultline heal RUN_DIR`.
    NemesisOptions o;
    o.nodes = c.nodes;
    auto p = NemesisRegistry::get("nemesis", "partition")(o);
    p.nemesis->setup(ctx);
    p.nemesis->invoke(ctx, op("start-partition", {{"grudge", {{"n1", {"n2", "n3"}}}}}));
    REQUIRE_FALSE(c.our_rules(1).empty());
    CHECK_FALSE(c.reaches(1, 2));
    auto heal =
        testing::run_shell(testing::faultline_binary() + " heal " + out.dir.string() + " 2>&1");
    INFO(heal.output);
    CHECK(heal.status == 0);
    CHECK_THAT(heal.output, Catch::Contains("n1: partition rules removed"));
    for (int i = 1; i <= 3; ++i) CHECK(c.our_rules(i).empty());
    CHECK(c.reaches(1, 2));
    fs::remove_all(results);
  }
}
