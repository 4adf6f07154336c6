// Waiting for a database on the nodes to be ready, and saying why it is not: the polling loop
// of the adapters' readiness waits (a node Synced, a cluster with one leader, subscriptions
// replicating, nodes converged) and the tail of a node's log that their errors end with.
//
// Thread safety: poll_until runs `ready` on the calling thread only; log_tail uses only the
// Session given.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "harness/remote.h"

namespace faultline::clusters {

// "1234 ms": the time since `t`, for log lines.
std::string ms_since(std::chrono::steady_clock::time_point t);
// The milliseconds since `t`, for a nemesis's completion.
int64_t ms_count(std::chrono::steady_clock::time_point t);

// Calls `ready` until it returns true, sleeping `interval` between calls, and then returns
// true; returns false when a call returned false at or after `deadline` (the last call may end
// up to one `interval` plus one call after it). `ready` runs at least once, even when the
// deadline has passed; what it throws propagates.

bool poll_until(std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds interval,
                const std::function<bool()>& ready);

// The last `lines` lines of `file` on the node, trimmed, for an error message; with `drop`,
// without the lines that contain it (e.g. a server's once-a-second reconnect attempts). Never
// throws: "(log unavailable: <why>)" when the file cannot be read.
std::string log_tail(Session& s, const std::string& file, int lines = 15,
                     const std::string& drop = "");

}  // namespace faultline::clusters
