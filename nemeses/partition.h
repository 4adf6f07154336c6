// Partitions: the effector that applies a Grudge (grudge.h) with iptables on the nodes, and
// the "partition" nemesis package.
//
// Each node drops, in its INPUT path, packets whose source is the address of a node it holds a
// grudge against. The rules live in a chain of our own, FAULTLINE, jumped to from INPUT, so
// healing (unhooking, flushing and deleting that chain) never touches a rule we did not make.
// Only addresses of database nodes are ever dropped: a grudge naming the controller's address
// is refused, so SSH and client connections from the controller always get through.
//
// Addresses: each node's address is the one the controller reaches it at (the server side of
// $SSH_CONNECTION), probed at setup; the nemesis option "addresses" ({"n1": "10.0.0.1"})
// overrides it where nodes talk to each other on another network.
//
// Package "partition", options (nemesis-options.partition):
//   shapes   list of grudge shapes to choose from at random (default: one, majority,
//            majorities-ring, minority-third; those needing more nodes than the test has are
//            left out)
//   grudge   an explicit grudge {"n1": ["n2"], ...}: every start applies exactly it
//   addresses  node -> address override
// Ops: start-partition (value: {"shape", "grudge"}), stop-partition; the final generator stops.
//
// Thread safety: as Nemesis.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness/command.h"
#include "nemeses/grudge.h"

namespace faultline::nemeses {

inline constexpr const char* kPartitionChain = "FAULTLINE";

// The command that makes `chain` exist, empty, and hooked once at the top of `hook` (INPUT,
// OUTPUT), then appends one `-s ADDRESS -j DROP` rule per address (INPUT) or `-d` (OUTPUT).
Command drop_command(const std::string& chain, const std::string& hook,
                     const std::vector<std::string>& addresses);
// The command that unhooks `chain` from `hook` (every jump), flushes and deletes it; succeeds
// when there is no such chain.
Command remove_chain_command(const std::string& chain, const std::string& hook);

// node -> the addresses it must drop under `grudge`. Throws std::invalid_argument when a node
// has no known address or an address is the controller's.
std::map<std::string, std::vector<std::string>> grudge_addresses(
    const Grudge& grudge, const std::map<std::string, std::string>& address_of,
    const std::set<std::string>& controllers);

}  // namespace faultline::nemeses
