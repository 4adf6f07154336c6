// The partition nemesis: the exact iptables invocations of a partition and of its heal (the
// scripts are run by a real sh against a recording stub iptables), the commands each node gets
// through a recording fake remote, refusal to cut off the controller, options.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/remote.h"
#include "nemeses/partition.h"
#include "tests/nemeses/nemesis_test_util.h"

using namespace faultline;
using namespace faultline::nemeses;
using namespace faultline::testing;
namespace fs = std::filesystem;

namespace {

// Runs `cmd` locally with a stub iptables that logs its arguments, one call a line; `-C` and
// `-S` fail (no hook, no chain) unless `chain_exists`, and `-D` succeeds `hooks` times.
std::vector<std::string> iptables_calls(Command cmd, bool chain_exists, int hooks = 0) {
  fs::path dir = fs::temp_directory_path() / ("fl-ipt-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "iptables") << "#!/bin/sh\n"
                                  << "echo \"$*\" >> " << (dir / "log").string() << "\n"
                                  << "case \"$2\" in\n"
                                  << "  -C) exit 1;;\n"
                                  << "  -S) " << (chain_exists ? "exit 0" : "exit 1") << ";;\n"
                                  << "  -D) n=$(cat " << (dir / "hooks").string()
                                  << "); [ \"$n\" -gt 0 ] || exit 1; echo $((n-1)) > "
                                  << (dir / "hooks").string() << ";;\n"
                                  << "esac\nexit 0\n";
  std::ofstream(dir / "hooks") << hooks << "\n";
  fs::permissions(dir / "iptables", fs::perms::owner_all);
  cmd.with_env("PATH", dir.string() + ":/usr/bin:/bin");
  auto s = make_local_session();
  ExecResult r = s->exec(cmd);
  REQUIRE(r.exit_status == 0);
  std::vector<std::string> out;
  std::ifstream in(dir / "log");
  for (std::string line; std::getline(in, line);) out.push_back(line);
  fs::remove_all(dir);
  return out;
}

}  // namespace

TEST_CASE("partition: drop and heal scripts issue exactly these iptables calls", "[partition]") {
  CHECK(iptables_calls(drop_command("FAULTLINE", "INPUT", {"10.0.0.12", "10.0.0.13"}), false) ==
        std::vector<std::string>{
            "-w -N FAULTLINE",
            "-w -C INPUT -j FAULTLINE",
            "-w -I INPUT 1 -j FAULTLINE",
            "-w -F FAULTLINE",
            "-w -A FAULTLINE -s 10.0.0.12 -j DROP",
            "-w -A FAULTLINE -s 10.0.0.13 -j DROP",
        });
  CHECK(iptables_calls(drop_command("FAULTLINE-OUT", "OUTPUT", {"10.0.0.12"}), false) ==
        std::vector<std::string>{
            "-w -N FAULTLINE-OUT",
            "-w -C OUTPUT -j FAULTLINE-OUT",
            "-w -I OUTPUT 1 -j FAULTLINE-OUT",
            "-w -F FAULTLINE-OUT",
            "-w -A FAULTLINE-OUT -d 10.0.0.12 -j DROP",
        });
  // Heal: every jump removed, then our chain flushed and deleted; nothing else.
  CHECK(iptables_calls(remove_chain_command("FAULTLINE", "INPUT"), true, 2) ==
        std::vector<std::string>{
            "-w -D INPUT -j FAULTLINE",
            "-w -D INPUT -j FAULTLINE",
            "-w -D INPUT -j FAULTLINE",
            "-w -S FAULTLINE",
            "-w -F FAULTLINE",
            "-w -X FAULTLINE",
        });
  // Heal with nothing to heal.
  CHECK(iptables_calls(remove_chain_command("FAULTLINE", "INPUT"), false) ==
        std::vector<std::string>{"-w -D INPUT -j FAULTLINE", "-w -S FAULTLINE"});
}

TEST_CASE("partition: each node drops exactly its grudge's peers, stop heals all", "[partition]") {
  auto remote = probing_remote(3);
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  const std::string heal = command_line(remove_chain_command("FAULTLINE", "INPUT"));
  for (const auto& n : ctx.nodes) CHECK(ran(*remote, n) == std::vector<std::string>{heal});
  forget(*remote, ctx.nodes);

  Json v = {{"shape", "majority"}, {"grudge", {{"n1", {"n3"}}, {"n2", {"n3"}}, {"n3", {"n1", "n2"}}}}};
  Completion c = p.nemesis->invoke(ctx, nemesis_op("start-partition", v));
  CHECK(c.value["grudge"] == v["grudge"]);
  CHECK(ran(*remote, "n1") ==
        std::vector<std::string>{command_line(drop_command("FAULTLINE", "INPUT", {"10.0.0.13"}))});
  CHECK(ran(*remote, "n2") ==
        std::vector<std::string>{command_line(drop_command("FAULTLINE", "INPUT", {"10.0.0.13"}))});
  CHECK(ran(*remote, "n3") ==
        std::vector<std::string>{
            command_line(drop_command("FAULTLINE", "INPUT", {"10.0.0.11", "10.0.0.12"}))});
  forget(*remote, ctx.nodes);

  // A node without a grudge in the next partition gets its old rules removed.
  p.nemesis->invoke(ctx, nemesis_op("start-partition", {{"grudge", {{"n1", {"n2"}}}}}));
  CHECK(ran(*remote, "n3") == std::vector<std::string>{heal});
  forget(*remote, ctx.nodes);

  p.nemesis->invoke(ctx, nemesis_op("stop-partition"));
  for (const auto& n : ctx.nodes) CHECK(ran(*remote, n) == std::vector<std::string>{heal});
  forget(*remote, ctx.nodes);
  p.nemesis->teardown(ctx);
  for (const auto& n : ctx.nodes) CHECK(ran(*remote, n) == std::vector<std::string>{heal});
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
  o.options = {{"addresses", {{"n1", "10.0.0.1"}}}};  // n1 "is" the controller's address
  auto p = NemesisRegistry::get("nemesis", "partition")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  CHECK_THAT(ran(*remote, "n2").at(0), Catch::StartsWith("sudo -n -- sh -c"));
  CHECK_THAT(ran(*remote, "n1").at(0), Catch::StartsWith("exec sh -c"));
  CHECK_THROWS_WITH(
      p.nemesis->invoke(ctx, nemesis_op("start-partition", {{"grudge", {{"n2", {"n1"}}}}})),
      Catch::Contains("is the controller's; refusing"));
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
