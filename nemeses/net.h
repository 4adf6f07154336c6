// The network effector of the nemeses that filter packets on the nodes (partition, packet):
// one iptables (or ip6tables) chain of ours, jumped to from INPUT or OUTPUT.
//
// Our mark is the chain's name: apply makes the chain exist, hooks it once at the top of its
// hook chain, flushes it and appends our rules; heal unhooks it (every jump), flushes and
// deletes it. Rules we did not make (other chains, other jumps) are never touched. Every
// command here is idempotent (apply flushes and refills; heal of a healed node does nothing),
// so a retrying remote may re-run it after a connection died mid-command.
//
// The functions only build commands; run them on a node as root (privileged(), node.h).
//
// Thread safety: plain value type; the functions are pure.
#pragma once

#include <string>
#include <vector>

#include "harness/command.h"
#include "harness/preflight.h"
#include "harness/remote.h"

namespace faultline::nemeses {

// One rule: the words after `iptables -A CHAIN` ({"-s", "10.0.0.12", "-j", "DROP"}).
using NetRule = std::vector<std::string>;

struct NetChain {
  std::string name;               // ours alone: FAULTLINE, FAULTLINE-LOSS, ...
  std::string hook;               // the built-in chain that jumps to it: INPUT or OUTPUT
  std::string tool = "iptables";  // iptables (IPv4 rules) or ip6tables (IPv6)

  // One rule per peer address: `-s PEER` when hooked from INPUT (packets from the peer), `-d
  // PEER` from OUTPUT (packets to it), then `action` ({"-j", "DROP"}).
  std::vector<NetRule> peer_rules(const std::vector<std::string>& peers,
                                  const std::vector<std::string>& action) const;

  // Makes the chain exist, hooked once at the top of `hook`, and hold exactly `rules`, in
  // order. A node without `tool` fails it (status 3) with a message saying so; a rule iptables
  // refuses fails it (status 1), with the rules before it in place. No rules: heal().
  Command apply(const std::vector<NetRule>& rules) const;
  // Removes every jump from `hook` to the chain, flushes and deletes it; succeeds when there is
  // no such chain, and when the node has no `tool`.
  Command heal() const;
  // Prints what is installed, in `tool -S` form: the jumps from `hook` to the chain, then the
  // chain and its rules. Prints nothing when the chain is healed (or the node has no `tool`).
  Command probe() const;
};

// The preflight check (harness/preflight.h) that `tool` (iptables or ip6tables) works on a
// node: present, and able to read the filter table; its detail is the tool's version. `why`
// ends the fix ("install the iptables package; " + why).
NodeCheck tool_check(const std::string& tool, const std::string& why, bool required = true);

// Heals `chain` on the node behind `session` (as root through `sudo -n` unless `root`), then
// probes it: throws RemoteError naming the node, the chain and what is still installed when the
// heal left anything of it (a heal is verified, never assumed). Transport errors propagate.
void heal_verified(Session& session, const NetChain& chain, bool root);

}  // namespace faultline::nemeses
