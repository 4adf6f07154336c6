// The preflight (harness/control/preflight.h): the commands it sends through a recording fake
// session, how answers become ok / warning / problem lines, sudo and unreachable nodes, and its
// check runner run by a real sh (argument splitting, exit statuses, details).
#include "harness/control/preflight.h"

#include <catch2/catch.hpp>
#include <chrono>

#include "harness/control/local_exec.h"
#include "tests/support/fake_session.h"

using namespace faultline;
using namespace faultline::control;
using namespace faultline::testing;

namespace {

std::string now_text() {
  auto t = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration<double>(t).count());
}

const CheckOutcome* find(const PreflightResult& r, const std::string& node,
                         const std::string& check) {
  for (const auto& o : r.outcomes) {
    if (o.node == node && o.check == check) return &o;
  }
  return nullptr;
}

// Every node is this machine, reached by a local session (for the real sh runner).
class LocalRemote : public Remote {
 public:
  explicit LocalRemote(std::vector<std::string> nodes) : nodes_(std::move(nodes)) {}
  std::vector<std::string> nodes() const override { return nodes_; }
  std::unique_ptr<Session> session(const std::string& node) override {
    return make_local_session(node, std::chrono::milliseconds(30000));
  }

 private:
  std::vector<std::string> nodes_;
};

}  // namespace

TEST_CASE("preflight: two commands per node as root, answers become ok, warning, problem",
          "[preflight]") {
  FakeRemote remote({"n1"});
  size_t base = base_checks().size();
  std::vector<NodeCheck> checks = {
      {"iptables", "iptables --version", {}, "install iptables", true},
      {"netem", "exit 1", {}, "leave duplicate out", true},
      {"ip6tables", "exit 1", {}, "install ip6tables", false},
      {"port 2379", "ss ... \"$1\"", {"2379"}, "stop it", true},
  };
  remote.script("n1").then_return(0, "0\n" + now_text() + "\n");
  std::string answers;
  for (size_t i = 0; i < base; ++i) answers += "@@" + std::to_string(i) + " 0 base fine\n";
  answers += "@@" + std::to_string(base) + " 0 iptables v1.8.9\n";
  answers += "@@" + std::to_string(base + 1) + " 1 kernel 6.1 has no sch_netem\n";
  answers += "@@" + std::to_string(base + 2) + " 1 no ip6tables on the node\n";
  // No answer for the port check: the runner died.
  remote.script("n1").then_return(1, answers, "sh: killed");
  PreflightResult r = run_preflight(remote, {"n1"}, checks);

  const auto& cmds = remote.script("n1").commands;
  REQUIRE(cmds.size() == 2);
  CHECK_FALSE(cmds[1].sudo);  // root: no sudo
  // The checks travel as data: script then its arguments joined by \037.
  std::vector<std::string> args(cmds[1].argv.end() - 2 * static_cast<long>(checks.size()),
                                cmds[1].argv.end());
  CHECK(args[0] == "iptables --version");
  CHECK(args[6] == "ss ... \"$1\"");
  CHECK(args[7] == "2379");

  REQUIRE(find(r, "n1", "clock") != nullptr);
  CHECK(find(r, "n1", "clock")->status == CheckStatus::kOk);
  CHECK(find(r, "n1", "iptables")->status == CheckStatus::kOk);
  CHECK(find(r, "n1", "iptables")->detail == "iptables v1.8.9");
  CHECK(find(r, "n1", "netem")->status == CheckStatus::kProblem);
  CHECK(find(r, "n1", "ip6tables")->status == CheckStatus::kWarning);
  CHECK(find(r, "n1", "port 2379")->status == CheckStatus::kProblem);
  CHECK_THAT(find(r, "n1", "port 2379")->detail, Catch::Contains("no answer"));
  CHECK(r.problems() == 2);
  CHECK(r.warnings() == 1);
  std::string text = r.text(false);
  CHECK_THAT(text, Catch::Contains("problem n1: netem: kernel 6.1 has no sch_netem; fix: leave "
                                   "duplicate out\n"));
  CHECK_THAT(text, Catch::Contains("warning n1: ip6tables: no ip6tables on the node"));
  CHECK_THAT(text, !Catch::Contains("ok      n1: iptables"));
  CHECK_THAT(r.text(true), Catch::Contains("ok      n1: iptables: iptables v1.8.9\n"));
  CHECK_THAT(text, Catch::Contains("2 problems, 1 warning"));
}

TEST_CASE("preflight: a user without passwordless sudo is one problem, the rest skipped",
          "[preflight]") {
  FakeRemote remote({"n1", "n2"});
  remote.script("n1").then_return(0, "1000\n" + now_text() + "\n");
  remote.script("n1").then_return(1, "sudo: a password is required\n");
  remote.script("n2").then_return(0, "1000\n" + now_text() + "\n");
  remote.script("n2").then_return(0, "");
  remote.script("n2").then_return(0, "@@0 0 Debian\n");
  PreflightResult r = run_preflight(remote, {"n1", "n2"}, {});
  CHECK(remote.script("n1").commands.size() == 2);
  REQUIRE(find(r, "n1", "sudo -n") != nullptr);
  CHECK(find(r, "n1", "sudo -n")->status == CheckStatus::kProblem);
  CHECK_THAT(find(r, "n1", "sudo -n")->detail, Catch::Contains("a password is required"));
  CHECK(find(r, "n1", "disk") == nullptr);
  // n2 has sudo: its checks go through sudo -n.
  REQUIRE(remote.script("n2").commands.size() == 3);
  CHECK(remote.script("n2").commands[2].sudo);
  CHECK(find(r, "n2", "sudo -n")->status == CheckStatus::kOk);
}

TEST_CASE("preflight: an unreachable node is one ssh problem", "[preflight]") {
  FakeRemote remote({"n1"});
  remote.script("n1").then_drop_before_start("n1");
  PreflightResult r = run_preflight(remote, {"n1"}, {});
  REQUIRE(r.outcomes.size() == 1);
  CHECK(r.outcomes[0].check == "ssh");
  CHECK(r.outcomes[0].status == CheckStatus::kProblem);
  CHECK_THAT(r.outcomes[0].fix, Catch::Contains("sshd"));
}

TEST_CASE("preflight: the check runner under a real sh", "[preflight]") {
  LocalRemote remote({"here"});
  std::vector<NodeCheck> checks = {
      {"args", "echo \"$#:$1|$2\"", {"two words", "*"}, "", true},
      {"none", "echo \"$#\"", {}, "", true},
      {"warn", "echo 'almost'; exit 3", {}, "look", true},
      {"fails", "echo; echo 'second line says why' >&2; exit 7", {}, "fix it", true},
      {"optional", "exit 1", {}, "", false},
  };
  PreflightResult r = run_preflight(remote, {"here"}, checks);
  INFO(r.text(true));
  REQUIRE(find(r, "here", "args") != nullptr);
  CHECK(find(r, "here", "args")->detail == "2:two words|*");  // no splitting, no globbing
  CHECK(find(r, "here", "none")->detail == "0");
  CHECK(find(r, "here", "warn")->status == CheckStatus::kWarning);
  CHECK(find(r, "here", "warn")->detail == "almost");
  CHECK(find(r, "here", "fails")->status == CheckStatus::kProblem);
  CHECK(find(r, "here", "fails")->detail == "second line says why");
  CHECK(find(r, "here", "optional")->status == CheckStatus::kWarning);
  CHECK(find(r, "here", "disk")->status != CheckStatus::kProblem);
  CHECK(find(r, "here", "clock")->status == CheckStatus::kOk);
}
