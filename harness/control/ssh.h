// The SSH implementation of the Remote seam (harness/remote.h), with libssh: real nodes and
// the local cluster's nodes alike. Body in ssh_remote.cc, the only file that includes libssh.
//
// Thread safety: the Remote is thread-safe; each Session is used by one thread at a time.
#pragma once

#include <chrono>
#include <memory>

#include "harness/control/inventory.h"
#include "harness/remote.h"

namespace faultline::control {

struct SshOptions {
  std::chrono::milliseconds connect_timeout{10000};  // TCP connect + handshake + auth
  std::chrono::milliseconds command_timeout{0};      // default per command; 0: none
};

// SSH to the nodes of `inventory` (libssh). Checks now that every key file is readable and
// every known_hosts file exists (AuthError / HostKeyError naming the node); connects lazily.
// A node whose NodeSpec says strict_host_key_checking = false is checked like OpenSSH's
// accept-new: a host key never seen is accepted (and pinned), a changed one never.
std::shared_ptr<Remote> make_ssh_remote(const Inventory& inventory, SshOptions options = {});

}  // namespace faultline::control
