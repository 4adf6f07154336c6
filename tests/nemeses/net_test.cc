// The network effector (nemeses/net.h): the exact iptables calls of apply, heal and probe (the
// scripts are run by a real sh against a recording stub iptables), rules of any length reaching
// iptables word for word, a node without the tool.
#include "nemeses/net.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/control/local_exec.h"
#include "tests/nemeses/nemesis_test_util.h"

using namespace faultline;
using namespace faultline::nemeses;
using namespace faultline::testing;
namespace fs = std::filesystem;

TEST_CASE("net: apply and heal issue exactly these iptables calls", "[net]") {
  NetChain in{"FAULTLINE", "INPUT"};
  CHECK(iptables_calls(in.apply(in.peer_rules({"10.0.0.12", "10.0.0.13"}, {"-j", "DROP"})),
                       false) == std::vector<std::string>{
                                     "-w -N FAULTLINE",
                                     "-w -C INPUT -j FAULTLINE",
                                     "-w -I INPUT 1 -j FAULTLINE",
                                     "-w -F FAULTLINE",
                                     "-w -A FAULTLINE -s 10.0.0.12 -j DROP",
                                     "-w -A FAULTLINE -s 10.0.0.13 -j DROP",
                                 });
  NetChain out{"FAULTLINE-OUT", "OUTPUT"};
  CHECK(iptables_calls(out.apply(out.peer_rules({"10.0.0.12"}, {"-j", "DROP"})), false) ==
        std::vector<std::string>{
            "-w -N FAULTLINE-OUT",
            "-w -C OUTPUT -j FAULTLINE-OUT",
            "-w -I OUTPUT 1 -j FAULTLINE-OUT",
            "-w -F FAULTLINE-OUT",
            "-w -A FAULTLINE-OUT -d 10.0.0.12 -j DROP",
        });
  NetChain v6{"FAULTLINE", "INPUT", "ip6tables"};
  CHECK(iptables_calls(v6.apply(v6.peer_rules({"fd00::11"}, {"-j", "DROP"})), false, 0,
                       "ip6tables") == std::vector<std::string>{
                                           "-w -N FAULTLINE",
                                           "-w -C INPUT -j FAULTLINE",
                                           "-w -I INPUT 1 -j FAULTLINE",
                                           "-w -F FAULTLINE",
                                           "-w -A FAULTLINE -s fd00::11 -j DROP",
                                       });
  // Heal: every jump removed, then our chain flushed and deleted; nothing else.
  CHECK(iptables_calls(in.heal(), true, 2) == std::vector<std::string>{
                                                  "-w -D INPUT -j FAULTLINE",
                                                  "-w -D INPUT -j FAULTLINE",
                                                  "-w -D INPUT -j FAULTLINE",
                                                  "-w -S FAULTLINE",
                                                  "-w -F FAULTLINE",
                                                  "-w -X FAULTLINE",
                                              });
  // Heal with nothing to heal.
  CHECK(iptables_calls(in.heal(), false) ==
        std::vector<std::string>{"-w -D INPUT -j FAULTLINE", "-w -S FAULTLINE"});
  // No rules: the chain is healed, not left hooked and empty.
  CHECK(command_line(in.apply({})) == command_line(in.heal()));
  CHECK(in.apply({{"-j", "DROP"}}).idempotent);
  CHECK(in.heal().idempotent);
}

TEST_CASE("net: rules of any length reach iptables word for word, never as shell", "[net]") {
  NetChain c{"FAULTLINE-LOSS", "INPUT"};
  std::vector<NetRule> rules = c.peer_rules(
      {"10.0.0.12", "10.0.0.13"},
      {"-m", "statistic", "--mode", "random", "--probability", "0.2000", "-j", "DROP"});
  rules.push_back({"-j", "RETURN"});
  rules.push_back({"-m", "comment", "--comment", "$(touch /tmp/fl-net-pwned); *", "-j", "DROP"});
  rules.push_back({"-d", "10.0.0.14", "-j", "NFQUEUE", "--queue-num", "7", "--queue-bypass"});
  CHECK(iptables_calls(c.apply(rules), true) ==
        std::vector<std::string>{
            "-w -N FAULTLINE-LOSS",
            "-w -C INPUT -j FAULTLINE-LOSS",
            "-w -I INPUT 1 -j FAULTLINE-LOSS",
            "-w -F FAULTLINE-LOSS",
            "-w -A FAULTLINE-LOSS -s 10.0.0.12 -m statistic --mode random --probability 0.2000 "
            "-j DROP",
            "-w -A FAULTLINE-LOSS -s 10.0.0.13 -m statistic --mode random --probability 0.2000 "
            "-j DROP",
            "-w -A FAULTLINE-LOSS -j RETURN",
            "-w -A FAULTLINE-LOSS -m comment --comment $(touch /tmp/fl-net-pwned); * -j DROP",
            "-w -A FAULTLINE-LOSS -d 10.0.0.14 -j NFQUEUE --queue-num 7 --queue-bypass",
        });
  CHECK_FALSE(fs::exists("/tmp/fl-net-pwned"));
}

TEST_CASE("net: a node without the tool fails apply with a message, heal and probe succeed",
          "[net]") {
  NetChain c{"FAULTLINE", "INPUT", "ip6tables"};
  fs::path empty = fs::temp_directory_path() / ("fl-net-empty-" + std::to_string(::getpid()));
  fs::create_directories(empty);
  auto local = control::make_local_session();
  auto run = [&](Command cmd) {
    // sh and the tools the scripts use, but no ip6tables.
    cmd.with_env("PATH", empty.string());
    cmd.argv[0] = "/bin/sh";
    return local->exec(cmd);
  };
  ExecResult r = run(c.apply(c.peer_rules({"fd00::11"}, {"-j", "DROP"})));
  CHECK(r.exit_status == 3);
  CHECK_THAT(r.err, Catch::Contains("ip6tables not found on this node"));
  CHECK(run(c.heal()).exit_status == 0);
  r = run(c.probe());
  CHECK(r.exit_status == 0);
  CHECK(r.out.empty());
  fs::remove_all(empty);
}

TEST_CASE("net: probe prints our jumps and our chain, nothing of anyone else's", "[net]") {
  fs::path dir = fs::temp_directory_path() / ("fl-net-probe-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "iptables") << "#!/bin/sh\n"
                                  << "case \"$3\" in\n"
                                  << "  INPUT) printf '%s\\n' '-P INPUT ACCEPT' "
                                     "'-A INPUT -j FAULTLINE' '-A INPUT -j FAULTLINE-LOSS' "
                                     "'-A INPUT -s 10.9.9.9/32 -j DROP';;\n"
                                  << "  FAULTLINE) printf '%s\\n' '-N FAULTLINE' "
                                     "'-A FAULTLINE -s 10.0.0.12/32 -j DROP';;\n"
                                  << "  *) exit 1;;\n"
                                  << "esac\n";
  fs::permissions(dir / "iptables", fs::perms::owner_all);
  auto local = control::make_local_session();
  auto probe = [&](const NetChain& c) {
    Command cmd = c.probe();
    cmd.with_env("PATH", dir.string() + ":/usr/bin:/bin");
    ExecResult r = local->exec(cmd);
    CHECK(r.exit_status == 0);
    return r.out;
  };
  CHECK(probe({"FAULTLINE", "INPUT"}) ==
        "-A INPUT -j FAULTLINE\n-N FAULTLINE\n-A FAULTLINE -s 10.0.0.12/32 -j DROP\n");
  CHECK(probe({"FAULTLINE-DELAY", "OUTPUT"}).empty());  // healed
  fs::remove_all(dir);
}

TEST_CASE("net: heal_verified heals, probes, and refuses a chain still there", "[net]") {
  NetChain in{"FAULTLINE", "INPUT"};
  auto script = std::make_shared<FakeScript>();
  FakeSession s("n2", script);
  // Healed: heal then probe, both as root (no sudo), nothing printed by the probe.
  CHECK_NOTHROW(heal_verified(s, in, true));
  REQUIRE(script->commands.size() == 2);
  CHECK(command_line(script->commands[0]) == command_line(in.heal()));
  CHECK(command_line(script->commands[1]) == command_line(in.probe()));
  // A jump the heal did not remove: the probe prints it and the heal is an error naming it.
  script->commands.clear();
  script->then_return(0);
  script->then_return(0, "-A INPUT -j FAULTLINE\n");
  CHECK_THROWS_WITH(heal_verified(s, in, true),
                    Catch::Contains("n2") &&
                        Catch::Contains("iptables chain FAULTLINE still "
                                        "installed after its heal") &&
                        Catch::Contains("-A INPUT -j FAULTLINE"));
}
