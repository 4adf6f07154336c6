// What a test needs of each node, checked before anything is set up: `faultline nodes check`
// prints it, and `faultline run` refuses early, with the same lines, when a required check
// fails (harness/control/preflight.h runs them).
//
// A database (Db::node_checks) and each nemesis package (NemesisPackage::node_checks) say what
// they need; the preflight adds the checks every test needs (sudo, disk, clock, NTP, OS).
//
// Thread safety: plain values.
#pragma once

#include <string>
#include <vector>

namespace faultline {

// The NTP daemons a node may run (systemd unit names, space-separated): what the preflight
// reports and what a system-clock test stops and starts again (nemeses/clock.h). Scripts get it
// as an argument and split it (`for s in $1`).
inline constexpr const char* kNtpDaemons =
    "systemd-timesyncd chrony chronyd ntp ntpd ntpsec openntpd";

struct NodeCheck {
  std::string name;  // shown: "iptables", "port 2379", "etcd"
  // A POSIX sh script, a constant of the source (data goes in `args`, read as "$1", ...), run
  // on the node as root (through sudo -n where the SSH user is not root), stdin closed, for at
  // most 20 s. Exit 0: ok; 3: a warning; anything else: a problem. Its first non-empty line of
  // output (stdout and stderr) is the detail shown: a version, a path, what is wrong.
  std::string script;
  std::vector<std::string> args;  // no character \037 (the separator)
  std::string fix;                // what to do when it fails: "install the iptables package"
  bool required = true;           // false: a failure is a warning, not a refusal
};

}  // namespace faultline
