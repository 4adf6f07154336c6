// The local cluster: N "hosts" on this machine, each a network namespace with its own UTS
// namespace (hostname nI), address and sshd, joined to one bridge. See docs/control-plane.md.
//
// Layout, for cluster NAME with subnet A.B.C.0/24 (host side A.B.C.1, node i at A.B.C.(10+i)):
//   namespaces NAME-n1..NAME-nN, veths NAME-v1..NAME-vN (node side is eth0), bridge NAME-br;
//   iptables: "-d A.B.C.0/24 ! -o NAME-br -j DROP" in OUTPUT and FORWARD (installed first,
//   removed last), so nothing addressed to the subnet ever leaves through another interface;
//   /etc/netns/NAME-nI/hosts naming every node; DIR/ssh/{id_ed25519,known_hosts,
//   authorized_keys}, DIR/inventory.json, DIR/nI/{sshd,data,logs}. DIR defaults to
//   /var/lib/faultline/clusters/NAME; it and every directory above it must be root's alone
//   (harness/secure_dir.h: the node sshds run as root with StrictModes yes and trust the keys
//   there), and `up` makes DIR itself, refusing one that exists.
//   State: /run/faultline/clusters/NAME.json records each thing before it is made, so `down`
//   removes everything even after a crash. Processes are stopped by pid only (the recorded
//   sshd pids and every process found in the cluster's namespaces), never by name.
//
// The provisioner is registered as Registry<LocalClusterFactory> "local" (see inventory.h).
//
// Thread safety: one provisioner call at a time per cluster name (not locked across processes).
#pragma once

#include <filesystem>
#include <string>

namespace faultline::control {

// Where the state file of cluster `name` lives.
std::filesystem::path state_path(const std::string& name);

// The default directory of cluster `name`: /var/lib/faultline/clusters/NAME.
std::filesystem::path default_dir(const std::string& name);

}  // namespace faultline::control
