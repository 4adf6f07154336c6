// Per-node plumbing shared by the database adapters (clusters/<db>/): running one step on every
// node at once, and the address a node is reached at.
//
// Thread safety: on_every_node runs fn on one thread per node; fn must be safe to run
// concurrently (open one Session per call: Sessions are not shared between threads).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "harness/db.h"

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

}  // namespace faultline::clusters
