// Shared plumbing of the nemeses that act on nodes over SSH: what a node says about itself
// (its address as the controller reaches it, the controller's address as the node sees it,
// whether we are root there, its kernel's boot id), privileged commands, and running one action
// on many nodes in parallel.
//
// Thread safety: pure helpers; for_each_node opens one session per node and thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "harness/command.h"
#include "harness/remote.h"

namespace faultline::nemeses {

struct NodeFacts {
  std::string node;
  std::string address;     // the node's address on the connection from the controller
  std::string controller;  // the controller's address as the node sees it
  bool root = true;        // the SSH user is root (else commands go through sudo -n)
  std::string boot_id;     // /proc/sys/kernel/random/boot_id: equal ids share one clock
};

// One command: `$SSH_CONNECTION`, `id -u`, the boot id. Throws RemoteError (CommandFailed
// when the node's answer cannot be read).
NodeFacts probe_node(Session& session);

// `command` as root: through `sudo -n` unless the facts say we are root already.
Command privileged(Command command, bool root);

// Runs fn(session) for every node, each on its own thread and session, and waits for all.
// Returns node -> error message for the nodes where fn threw (empty: all succeeded).
std::map<std::string, std::string> for_each_node(Remote& remote,
                                                 const std::vector<std::string>& nodes,
                                                 const std::function<void(Session&)>& fn);

// "n1: error; n2: error" of a for_each_node result.
std::string describe_errors(const std::map<std::string, std::string>& errors);

// This machine's boot id ("" when unreadable).
std::string local_boot_id();

}  // namespace faultline::nemeses

namespace faultline {
struct NemesisOptions;
}

namespace faultline::nemeses {

// Throws std::invalid_argument("nemesis '<name>' needs nodes reached over SSH; database '<db>'
// runs in-process") when the test's database has default nodes (runs in-process), so such a
// test is refused when it is built rather than when the nemesis starts.
void require_remote_db(const NemesisOptions& options, const std::string& name);

}  // namespace faultline::nemeses
