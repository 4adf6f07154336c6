// Per-node plumbing shared by the database adapters (clusters/<db>/): running one step on every
// node at once, the address a node is reached at and the one it has itself, its directory, the
// check that a database has nodes to run on, and the run's log.
//
// Thread safety: on_every_node runs fn on one thread per node; fn must be safe to run
// concurrently (open one Session per call: Sessions are not shared between threads). The
// other functions are safe to call from any thread (own_address uses only the Session given).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "harness/db.h"
#include "harness/remote.h"

namespace faultline::clusters {

// Runs fn(node, index of node in `nodes`) for every node, each on its own thread, and waits for
// all of them. When any threw, throws one std::runtime_error whose message is every failure's
// what(), in node order, joined by "; " (a failure that does not name its node, as RemoteError
// does, is prefixed "node <n>: ").
void on_every_node(const std::vector<std::string>& nodes,
                   const std::function<void(const std::string& node, size_t index)>& fn);

// The address the controller reaches `node` at: ctx.hosts[node], or the node's name when there
// is none (or it is empty).
std::string host_of(const DbContext& ctx, const std::string& node);

// `s` with every character but ASCII letters, digits and ._- replaced by '_' ("_" when empty):
// safe in a path, a command line or a config file, and never "." or "..".
std::string safe_name(const std::string& s);

// <base>/<node>-<host of node>, both through safe_name: the node's own directory, one plain
// component below `base` (nodes of the local cluster share one filesystem).
std::string node_dir(const std::string& base, const DbContext& ctx, const std::string& node);

// The address `node` has on its own end of the SSH connection `s` (the third word of
// $SSH_CONNECTION): what its peers reach it at too, on the local cluster and on ordinary hosts.
// host_of(ctx, node) when the session has no $SSH_CONNECTION (a local session). With
// `controller`, also the first word: the controller's address as the node sees it ("" when
// unknown). Throws what Session::run_checked throws.
std::string own_address(const DbContext& ctx, Session& s, const std::string& node,
                        std::string* controller = nullptr);

// Throws ConfigError "<where> needs nodes reached over SSH (...)" unless ctx has a Remote and
// at least one node (an adapter's setup, and any step that opens a session, start with it).
void require_remote(const DbContext& ctx, const std::string& where);

// ctx.log(line) when the runner gave a log; nothing otherwise.
void log(const DbContext& ctx, const std::string& line);

}  // namespace faultline::clusters
