// How a run reaches its nodes: the spec's nodes (nodes, nodes-file, ssh) or the local cluster.
//
// Thread safety: call from one thread; the Remote it returns is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/db.h"
#include "harness/op.h"
#include "harness/remote.h"
#include "harness/run/spec.h"

namespace faultline::run {

// How the run reaches its nodes. In-process databases (those with default nodes) need no
// cluster: their nodes are names. Any other database gets an SSH Remote to the nodes of the
// spec (nodes, nodes-file, ssh), or of the local cluster: `local` N, or, with no nodes given
// at all, the running local cluster "fl", brought up with 3 nodes when there is none (and
// says so).
struct ClusterAccess {
  std::vector<std::string> nodes;
  std::shared_ptr<Remote> remote;
  Json inventory;  // null for in-process databases
  // Node -> its address, and its role and data centre where the inventory gives them (all
  // empty for in-process databases).
  std::map<std::string, std::string> hosts, roles, dcs;
};

// Throws ConfigError for an unreadable nodes file, a database that needs no cluster given one,
// or SSH credentials the nodes refuse.
ClusterAccess connect_cluster(const TestSpec& spec, const Db& db);

// The hosts of a nodes file: one per line, '#' starts a comment, blank lines skipped.
// Throws ConfigError naming the file when it cannot be read or names no node.
std::vector<std::string> read_nodes_file(const std::string& path);

}  // namespace faultline::run
