#include "nemeses/net.h"

#include "nemeses/node.h"

namespace faultline::nemeses {

std::vector<NetRule> NetChain::peer_rules(const std::vector<std::string>& peers,
                                          const std::vector<std::string>& action) const {
  std::vector<NetRule> rules;
  for (const auto& peer : peers) {
    NetRule r = {hook == "OUTPUT" ? "-d" : "-s", peer};
    r.insert(r.end(), action.begin(), action.end());
    rules.push_back(std::move(r));
  }
  return rules;
}

Command NetChain::apply(const std::vector<NetRule>& rules) const {
  if (rules.empty()) return heal();
  // Each rule goes as its word count, then its words. add() keeps the first N of its arguments
  // (rotating each word through the end of "$@"), so a rule reaches iptables as separate
  // words without ever being spliced into the script.
  std::vector<std::string> args = {tool, name, hook};
  for (const auto& r : rules) {
    args.push_back(std::to_string(r.size()));
    args.insert(args.end(), r.begin(), r.end());
  }
  Command c = Command::shell(
      "t=$1; c=$2; h=$3; shift 3; "
      "command -v \"$t\" >/dev/null || { echo \"$t not found on this node: cannot install "
      "our chain $c; install it (package iptables) or give the nodes addresses it can "
      "drop\" >&2; exit 3; }; "
      "\"$t\" -w -N \"$c\" 2>/dev/null; "
      "\"$t\" -w -C \"$h\" -j \"$c\" 2>/dev/null || \"$t\" -w -I \"$h\" 1 -j \"$c\" || exit 1; "
      "\"$t\" -w -F \"$c\" || exit 1; "
      "add() { n=$1; shift; m=$#; i=0; while [ $i -lt $m ]; do w=$1; shift; "
      "[ $i -ge $n ] || set -- \"$@\" \"$w\"; i=$((i+1)); done; \"$t\" -w -A \"$c\" \"$@\"; }; "
      "while [ $# -gt 0 ]; do add \"$@\" || exit 1; shift $(($1 + 1)); done",
      args);
  c.idempotent = true;  // the chain is flushed and refilled: running it twice is running it once
  return c;
}

Command NetChain::heal() const {
  Command c = Command::shell(
      "command -v \"$3\" >/dev/null || exit 0; "
      "while \"$3\" -w -D \"$2\" -j \"$1\" 2>/dev/null; do :; done; "
      "if \"$3\" -w -S \"$1\" >/dev/null 2>&1; then "
      "\"$3\" -w -F \"$1\" && \"$3\" -w -X \"$1\"; fi",
      {name, hook, tool});
  c.idempotent = true;
  return c;
}

Command NetChain::probe() const {
  Command c = Command::shell(
      "command -v \"$3\" >/dev/null || exit 0; "
      "\"$3\" -w -S \"$2\" 2>/dev/null | grep -F -x -e \"-A $2 -j $1\"; "
      "\"$3\" -w -S \"$1\" 2>/dev/null; exit 0",
      {name, hook, tool});
  c.idempotent = true;
  return c;
}

NodeCheck tool_check(const std::string& tool, const std::string& why, bool required) {
  NodeCheck c;
  c.name = tool;
  c.script =
      "command -v \"$1\" >/dev/null || { echo \"no $1 on the node\"; exit 1; }; "
      "\"$1\" -w -S INPUT >/dev/null 2>&1 || { echo \"$1 cannot read the filter table "
      "(kernel support, or not root?)\"; exit 1; }; \"$1\" --version";
  c.args = {tool};
  c.fix = "install the " + tool + " package; " + why;
  c.required = required;
  return c;
}

void heal_verified(Session& session, const NetChain& chain, bool root) {
  session.run_checked(privileged(chain.heal(), root));
  ExecResult left = session.run_checked(privileged(chain.probe(), root));
  if (left.out.find_first_not_of(" \t\r\n") != std::string::npos) {
    throw RemoteError(session.node(), chain.tool + " chain " + chain.name +
                                          " still installed after its heal:\n" + left.out);
  }
}

}  // namespace faultline::nemeses
