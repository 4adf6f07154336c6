// The partition nemesis: the commands each node gets through a recording fake remote (the
// iptables calls of those commands are in net_test.cc), refusal to cut off the controller,
// IPv6 peers through ip6tables, options.
#include "nemeses/partition.h"

#include <catch2/catch.hpp>

#include "harness/control/retry.h"
#include "harness/remote.h"
#include "nemeses/net.h"
#include "tests/nemeses/nemesis_test_util.h"

using namespace faultline;
using namespace faultline::nemeses;
using namespace faultline::testing;

namespace {

NetChain chain(const std::string& tool = "iptables") { return {kPartitionChain, "INPUT", tool}; }

// What a partition runs on a node that drops `peers`.
Command drop(const std::vector<std::string>& peers, const std::string& tool = "iptables") {
  return chain(tool).apply(chain(tool).peer_rules(peers, {"-j", "DROP"}));
}

}  // namespace

TEST_CASE("partition: each node drops exactly its grudge's peers, stop heals all", "[partition]") {
  auto remote = probing_remote(3);
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  const std::string heal = command_line(chain().heal());
  // Each family's chain healed, then probed (heal_verified: a heal is checked, not assumed).
  const std::vector<std::string> heal_both = {heal, command_line(chain().probe()),
                                              command_line(chain("ip6tables").heal()),
                                              command_line(chain("ip6tables").probe())};
  for (const auto& n : ctx.nodes) CHECK(ran(*remote, n) == heal_both);
  forget(*remote, ctx.nodes);

  Json v = {{"shape", "majority"},
            {"grudge", {{"n1", {"n3"}}, {"n2", {"n3"}}, {"n3", {"n1", "n2"}}}}};
  Completion c = p.nemesis->invoke(ctx, nemesis_op("start-partition", v));
  CHECK(c.value["grudge"] == v["grudge"]);
  CHECK(ran(*remote, "n1") == std::vector<std::string>{command_line(drop({"10.0.0.13"}))});
  CHECK(ran(*remote, "n2") == std::vector<std::string>{command_line(drop({"10.0.0.13"}))});
  CHECK(ran(*remote, "n3") ==
        std::vector<std::string>{command_line(drop({"10.0.0.11", "10.0.0.12"}))});
  forget(*remote, ctx.nodes);

  // A node without a grudge in the next partition gets its old rules removed.
  p.nemesis->invoke(ctx, nemesis_op("start-partition", {{"grudge", {{"n1", {"n2"}}}}}));
  CHECK(ran(*remote, "n3") == std::vector<std::string>{heal});
  forget(*remote, ctx.nodes);

  p.nemesis->invoke(ctx, nemesis_op("stop-partition"));
  for (const auto& n : ctx.nodes) CHECK(ran(*remote, n) == heal_both);
  forget(*remote, ctx.nodes);
  p.nemesis->teardown(ctx);
  for (const auto& n : ctx.nodes) CHECK(ran(*remote, n) == heal_both);
}

TEST_CASE("partition: non-root nodes get sudo, the controller is never cut off", "[partition]") {
  auto remote = probing_remote(2);
  remote->script("n2").fallback = [](const Command& c) {
    ExecResult r;
    if (c.argv.size() > 2 && c.argv[2].find("SSH_CONNECTION") != std::string::npos) {
      r.out = "10.0.0.1 40000 10.0.0.12 22\n1000\nb\n";
    }
    return r;
  };
  NemesisOptions o;
  o.nodes = {"n1", "n2"};
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  CHECK_THAT(ran(*remote, "n2").at(0), Catch::StartsWith("sudo -n -- sh -c"));
  CHECK_THAT(ran(*remote, "n1").at(0), Catch::StartsWith("exec sh -c"));
  o.options = {{"addresses", {{"n1", "10.0.0.1"}}}};  // n1 "is" the controller's address
  auto q = NemesisRegistry::get("nemesis", "partition")(o);
  CHECK_THROWS_WITH(q.nemesis->setup(ctx),
                    Catch::Contains("is the controller's (10.0.0.1); refusing"));
  CHECK_THROWS_WITH(
      q.nemesis->invoke(ctx, nemesis_op("start-partition", {{"grudge", {{"n2", {"n1"}}}}})),
      Catch::Contains("the controller's (10.0.0.1); refusing"));
}

TEST_CASE("partition: addresses compare as addresses, not strings", "[partition]") {
  auto p = [](const std::string& t) {
    auto r = parse_ip_prefix(t);
    REQUIRE(r);
    return *r;
  };
  CHECK(p("10.0.0.1").text() == "10.0.0.1");
  CHECK(p("::ffff:10.0.0.1") == p("10.0.0.1"));  // what a dual-stack sshd may show
  CHECK(p("fd00:0:0::1") == p("fd00::1"));
  CHECK(p("[fd00::1]").text() == "fd00::1");
  CHECK(p("10.77.7.9/24").text() == "10.77.7.0/24");
  CHECK(p("10.77.7.0/24").contains(p("10.77.7.1")));
  CHECK_FALSE(p("10.77.7.0/24").contains(p("10.77.8.1")));
  CHECK(p("0.0.0.0/0").contains(p("192.168.1.1")));
  CHECK(p("fd00::/64").contains(p("fd00::1")));
  CHECK_FALSE(p("fd00::/64").contains(p("10.0.0.1")));
  CHECK_FALSE(p("10.0.0.1").contains(p("10.0.0.0/24")));
  for (const char* bad : {"", "n1", "db.example.com", "10.0.0.1/33", "fd00::1/129", "10.0.0.1/",
                          "fe80::1%eth0", "10.0.0", "10.0.0.1/-1"}) {
    CHECK_FALSE(parse_ip_prefix(bad));
  }
  // The controller seen as ::ffff:10.0.0.1 is still 10.0.0.1.
  Grudge g = {{"n2", {"n1"}}};
  CHECK_THROWS_WITH(
      grudge_addresses(g, {{"n1", "10.0.0.1"}, {"n2", "10.0.0.12"}}, {"::ffff:10.0.0.1"}),
      Catch::Contains("refusing to cut the controller off"));
  CHECK_THROWS_WITH(grudge_addresses(g, {{"n1", "n1.example.com"}}, {"10.0.0.1"}),
                    Catch::Contains("not an IP address or prefix"));
  auto d = grudge_addresses({{"n1", {"n2", "n3"}}}, {{"n2", "10.0.0.12"}, {"n3", "fd00::13"}},
                            {"10.0.0.1", "fd00::1"});
  CHECK(d["n1"].ipv4 == std::vector<std::string>{"10.0.0.12"});
  CHECK(d["n1"].ipv6 == std::vector<std::string>{"fd00::13"});
}

// Issue 14 item 11: an "addresses" override of 10.77.7.0/24 passed the string comparison with
// the controller's 10.77.7.1 and cut the controller off for good.
TEST_CASE("partition: an address prefix that holds the controller is refused at setup",
          "[partition]") {
  auto remote = probing_remote(3);
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  o.options = {{"addresses", {{"n1", "10.0.0.0/24"}}}};
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  CHECK_THROWS_WITH(p.nemesis->setup(ctx),
                    Catch::Contains("n1's address 10.0.0.0/24 contains the controller's "
                                    "(10.0.0.1); refusing to cut the controller off"));
  CHECK_THROWS_WITH(
      p.nemesis->invoke(ctx, nemesis_op("start-partition", {{"grudge", {{"n2", {"n1"}}}}})),
      Catch::Contains("refusing to cut the controller off"));
  for (const auto& n : o.nodes) {
    for (const auto& line : ran(*remote, n)) CHECK(line.find("DROP") == std::string::npos);
  }
  // Host names are refused when the test is built.
  o.options = {{"addresses", {{"n1", "n1.example.com"}}}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "partition")(o),
                    Catch::Contains("addresses/n1: 'n1.example.com' is not an IP address"));
  o.options = {{"addresses", {{"n7", "10.0.0.7"}}}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "partition")(o),
                    Catch::Contains("addresses/n7: not a node of the test"));
}

// Issue 14 item 11: a node reached over IPv6 was given `iptables -s <IPv6 address>` rules (or
// none): IPv6 peers are dropped with ip6tables.
TEST_CASE("partition: IPv6 peers are dropped with ip6tables", "[partition]") {
  auto remote = std::make_unique<FakeRemote>(std::vector<std::string>{"n1", "n2", "n3"});
  for (int i = 1; i <= 3; ++i) {
    std::string addr = "fd00::1" + std::to_string(i);
    remote->script("n" + std::to_string(i)).fallback = [addr](const Command& c) {
      ExecResult res;
      if (c.argv.size() > 2 && c.argv[2].find("SSH_CONNECTION") != std::string::npos) {
        res.out = "fd00::1 40000 " + addr + " 22\n0\nb\n";
      }
      return res;
    };
  }
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  forget(*remote, ctx.nodes);
  p.nemesis->invoke(ctx, nemesis_op("start-partition", {{"grudge", {{"n3", {"n1", "n2"}}}}}));
  CHECK(ran(*remote, "n3") ==
        std::vector<std::string>{command_line(chain("iptables").heal()),
                                 command_line(drop({"fd00::11", "fd00::12"}, "ip6tables"))});
  CHECK(iptables_calls(drop({"fd00::11"}, "ip6tables"), false, 0, "ip6tables") ==
        std::vector<std::string>{
            "-w -N FAULTLINE",
            "-w -C INPUT -j FAULTLINE",
            "-w -I INPUT 1 -j FAULTLINE",
            "-w -F FAULTLINE",
            "-w -A FAULTLINE -s fd00::11 -j DROP",
        });
}

TEST_CASE("partition: options, generator values, in-process databases", "[partition]") {
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  o.options = {{"shapes", {"triangle"}}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "partition")(o),
                    Catch::Contains("unknown partition shape 'triangle'"));
  o.options = {{"colour", "red"}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "partition")(o), Catch::Contains("colour"));
  o.options = {{"grudge", {{"n9", {"n1"}}}}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "partition")(o), Catch::Contains("n9"));
  o.options = {{"shapes", {"bridge"}}};
  o.interval_ns = 1'000'000;
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  auto ops = simulate(*p.generator, 1, 7, 0, 4);
  REQUIRE(ops.size() == 4);
  CHECK(ops[0].f == "start-partition");
  CHECK(ops[0].value["shape"] == "bridge");
  CHECK(ops[0].time_ns == 1'000'000);
  CHECK(ops[1].f == "stop-partition");
  CHECK(ops[1].time_ns == 2'000'000);
  NemesisContext ctx;
  ctx.nodes = o.nodes;
  CHECK_THROWS_WITH(p.nemesis->setup(ctx), Catch::Contains("needs nodes reached over SSH"));
  CHECK_NOTHROW(p.nemesis->teardown(ctx));
}

// A 2-node run (Galera with pc.ignore_sb) drew "majority", whose grudge on 2 nodes drops
// nothing: the op acted on no node and the verdict was unknown.
TEST_CASE("partition: on 2 nodes the default shapes all cut the link", "[partition]") {
  NemesisOptions o;
  o.nodes = {"n1", "n2"};
  o.interval_ns = 1'000'000;
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  auto ops = simulate(*p.generator, 1, 11, 0, 40);
  int starts = 0;
  for (const auto& op : ops) {
    if (op.f != "start-partition") continue;
    ++starts;
    INFO(op.value.dump());
    CHECK(op.value["grudge"] == Json{{"n1", {"n2"}}, {"n2", {"n1"}}});
  }
  CHECK(starts == 20);
}

// Issue 14 item 5: partition commands were not marked idempotent, so through the retrying
// remote a connection lost while one ran failed the op (and could leave rules behind at heal).
TEST_CASE("partition: a connection lost mid-command is retried through the retrying remote",
          "[partition][retry]") {
  std::shared_ptr<FakeRemote> fake = probing_remote(3);
  control::RetryPolicy policy;
  policy.sleep = [](std::chrono::milliseconds) {};
  auto remote = control::make_retrying_remote(fake, policy);
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  forget(*fake, ctx.nodes);
  fake->script("n3").then_drop_while_running("n3");
  CHECK_NOTHROW(
      p.nemesis->invoke(ctx, nemesis_op("start-partition", {{"grudge", {{"n3", {"n1", "n2"}}}}})));
  const std::string line = command_line(drop({"10.0.0.11", "10.0.0.12"}));
  CHECK(ran(*fake, "n3") == std::vector<std::string>{line, line});
  forget(*fake, ctx.nodes);
  fake->script("n1").then_drop_while_running("n1");
  CHECK_NOTHROW(p.nemesis->teardown(ctx));
  // iptables heal twice (dropped, retried), its probe, ip6tables heal and probe
  CHECK(ran(*fake, "n1").size() == 5);
}

TEST_CASE("partition: a scheduled shape is planned, a grudge that drops nothing says so",
          "[partition][regression]") {
  // Issue 14 item 6: {"f": "start-partition"} with no grudge cut nothing and was recorded as a
  // partition.
  auto remote = probing_remote(3);
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  forget(*remote, ctx.nodes);
  Completion none = p.nemesis->invoke(ctx, nemesis_op("start-partition"));
  REQUIRE(none.error.is_string());
  CHECK_THAT(none.error.get<std::string>(), Catch::Contains("acted on no node"));
  for (const auto& n : ctx.nodes) CHECK(ran(*remote, n).empty());
  Completion shaped = p.nemesis->invoke(ctx, nemesis_op("start-partition", {{"shape", "one"}}));
  CHECK(shaped.error.is_null());
  CHECK(shaped.value["shape"] == "one");
  CHECK(shaped.value["grudge"].size() == 3);
  REQUIRE(p.check_op);
  CHECK_NOTHROW(p.check_op("start-partition", {{"shape", "majority"}}));
  CHECK_NOTHROW(p.check_op("start-partition", {{"grudge", {{"n1", {"n2"}}}}}));
  CHECK_NOTHROW(p.check_op("stop-partition", nullptr));
  CHECK_THROWS_WITH(p.check_op("start-partition", nullptr), Catch::Contains("needs {\"grudge\""));
  CHECK_THROWS_WITH(p.check_op("start-partition", {{"grudge", {{"n1", Json::array()}}}}),
                    Catch::Contains("drops nothing"));
  CHECK_THROWS(p.check_op("start-partition", {{"shape", "pentagon"}}));
}
