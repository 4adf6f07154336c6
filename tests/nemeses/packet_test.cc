// The packet nemesis's iptables faults: the exact iptables calls of loss and delay on a node
// (the commands it ran, replayed by a real sh against a recording stub iptables), and heal.
#include <catch2/catch.hpp>

#include "harness/nemesis.h"
#include "tests/nemeses/nemesis_test_util.h"

using namespace faultline;
using namespace faultline::testing;

namespace {

// The one command n1 ran whose arguments name `chain` and that appends rules to it.
Command chain_command(FakeRemote& r, const std::string& chain) {
  std::lock_guard<std::mutex> lock(r.script("n1").mu);
  std::vector<Command> found;
  for (const auto& c : r.script("n1").commands) {
    if (std::find(c.argv.begin(), c.argv.end(), chain) != c.argv.end() && c.argv.size() > 2 &&
        c.argv[2].find(" -A ") != std::string::npos) {
      found.push_back(c);
    }
  }
  REQUIRE(found.size() == 1);
  return found[0];
}

}  // namespace

TEST_CASE("packet: between dcs, only the links between data centres are faulted", "[packet]") {
  auto remote = probing_remote(3);
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  o.options = {{"faults", {"loss"}}, {"between", "dcs"}};
  CHECK_THROWS_WITH(NemesisRegistry::get("nemesis", "packet")(o),
                    Catch::Contains("/between: dcs needs the data centre of every node") &&
                        Catch::Contains("n1 has none"));
  o.dcs = {{"n1", "east"}, {"n2", "east"}, {"n3", "west"}};
  auto p = NemesisRegistry::get("nemesis", "packet")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  forget(*remote, ctx.nodes);
  p.nemesis->invoke(ctx, nemesis_op("start-packet", {{"fault", "loss"}, {"loss", 0.5}}));
  // n1 (east) drops only from n3 (west), not from n2 (east).
  const std::string only_n3 =
      "-w -A FAULTLINE-LOSS -s 10.0.0.13 -m statistic --mode random --probability 0.5000 -j DROP";
  CHECK(iptables_calls(chain_command(*remote, "FAULTLINE-LOSS"), false) ==
        std::vector<std::string>{"-w -N FAULTLINE-LOSS", "-w -C INPUT -j FAULTLINE-LOSS",
                                 "-w -I INPUT 1 -j FAULTLINE-LOSS", "-w -F FAULTLINE-LOSS",
                                 only_n3});
}

TEST_CASE("packet: loss and delay issue exactly these iptables calls", "[packet]") {
  auto remote = probing_remote(3);
  NemesisOptions o;
  o.nodes = {"n1", "n2", "n3"};
  auto p = NemesisRegistry::get("nemesis", "packet")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  forget(*remote, ctx.nodes);

  p.nemesis->invoke(ctx, nemesis_op("start-packet", {{"fault", "loss"}, {"loss", 0.2}}));
  CHECK(iptables_calls(chain_command(*remote, "FAULTLINE-LOSS"), false) ==
        std::vector<std::string>{
            "-w -N FAULTLINE-LOSS",
            "-w -C INPUT -j FAULTLINE-LOSS",
            "-w -I INPUT 1 -j FAULTLINE-LOSS",
            "-w -F FAULTLINE-LOSS",
            "-w -A FAULTLINE-LOSS -s 10.0.0.12 -m statistic --mode random --probability 0.2000 "
            "-j DROP",
            "-w -A FAULTLINE-LOSS -s 10.0.0.13 -m statistic --mode random --probability 0.2000 "
            "-j DROP",
        });
  forget(*remote, ctx.nodes);

  p.nemesis->invoke(ctx, nemesis_op("start-packet", {{"fault", "delay"}}));
  CHECK(iptables_calls(chain_command(*remote, "FAULTLINE-DELAY"), false) ==
        std::vector<std::string>{
            "-w -N FAULTLINE-DELAY",
            "-w -C OUTPUT -j FAULTLINE-DELAY",
            "-w -I OUTPUT 1 -j FAULTLINE-DELAY",
            "-w -F FAULTLINE-DELAY",
            "-w -A FAULTLINE-DELAY -d 10.0.0.12 -j NFQUEUE --queue-num 7 --queue-bypass",
            "-w -A FAULTLINE-DELAY -d 10.0.0.13 -j NFQUEUE --queue-num 7 --queue-bypass",
        });
  forget(*remote, ctx.nodes);

  // Stop: both chains healed and probed (with iptables), and every command may be retried.
  p.nemesis->invoke(ctx, nemesis_op("stop-packet"));
  std::lock_guard<std::mutex> lock(remote->script("n1").mu);
  int chains = 0;
  for (const auto& c : remote->script("n1").commands) {
    CHECK(c.idempotent);
    bool loss = std::find(c.argv.begin(), c.argv.end(), "FAULTLINE-LOSS") != c.argv.end();
    bool delay = std::find(c.argv.begin(), c.argv.end(), "FAULTLINE-DELAY") != c.argv.end();
    if (loss || delay) {
      ++chains;
      CHECK(c.argv.back() == "iptables");
    }
  }
  CHECK(chains == 4);  // each chain healed, then probed (heal_verified)
}
