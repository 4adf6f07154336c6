// Partitions: the effector that applies a Grudge (grudge.h) with iptables on the nodes, and
// the "partition" nemesis package.
//
// Each node drops, in its INPUT path, packets whose source is the address of a node it holds a
// grudge against. The rules live in a chain of our own, FAULTLINE, jumped to from INPUT (a
// NetChain, net.h), so healing (unhooking, flushing and deleting that chain) never touches a
// rule we did not make.
// Only addresses of database nodes are ever dropped: a grudge naming the controller's address
// is refused, so SSH and client connections from the controller always get through.
//
// Addresses: each node's address is the one the controller reaches it at (the server side of
// $SSH_CONNECTION), probed at setup; the nemesis option "addresses" ({"n1": "10.0.0.1"})
// overrides it where nodes talk to each other on another network. Addresses are compared as
// addresses, never as strings: an override may be an IPv4 or IPv6 address or prefix
// ("10.0.1.0/24", "fd00::/64"); one that contains the controller's address as any node sees
// it is refused, as is anything that is not an address (a host name could resolve to anything).
// IPv4 peers are dropped with iptables, IPv6 peers with ip6tables (in a FAULTLINE chain of its
// own); a node without ip6tables refuses an IPv6 partition with a message saying so.
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

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nemeses/grudge.h"

namespace faultline::nemeses {

inline constexpr const char* kPartitionChain = "FAULTLINE";

// An IP address or prefix, as written in an option or seen in $SSH_CONNECTION.
struct IpPrefix {
  int family = 4;                   // 4 or 6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 in the first 4 bytes
  int bits = 32;                    // prefix length: 32 / 128 for one address
  // Canonical text: "10.0.0.1", "10.77.7.0/24", "fd00::1", "fd00::/64".
  std::string text() const;
  // `other` (an address or a prefix) lies entirely inside this prefix.
  bool contains(const IpPrefix& other) const;
  bool operator==(const IpPrefix&) const = default;
};
// Parses "10.0.0.1", "10.0.0.0/24", "fd00::1", "[fd00::1]", "fd00::/64"; an IPv4-mapped IPv6
// address ("::ffff:10.0.0.1") is the IPv4 address. Host bits below the prefix are cleared.
// nullopt for anything else: host names, zone ids ("fe80::1%eth0"), bad prefix lengths.
std::optional<IpPrefix> parse_ip_prefix(const std::string& text);

// What one node must drop under a grudge, by family (canonical texts).
struct NodeDrops {
  std::vector<std::string> ipv4, ipv6;
};
// node -> the addresses it must drop under `grudge`. Throws std::invalid_argument when a node
// has no known address, an address is not an IP address or prefix, a controller address cannot
// be read, or an address (or prefix) contains one of the controller's addresses.
std::map<std::string, NodeDrops> grudge_addresses(
    const Grudge& grudge, const std::map<std::string, std::string>& address_of,
    const std::set<std::string>& controllers);

}  // namespace faultline::nemeses
