// Remote and Session: how the controller runs commands on nodes and moves files to and from
// them. Everything Faultline does to a cluster goes through this seam.
//
// Implementations (factories below, bodies hidden in their .cc files):
//   - control::make_ssh_remote    (control/ssh.h, libssh): real nodes and the local cluster's
//   nodes.
//   - control::make_local_session (control/local_exec.h, Boost.Process): the controller's own
//   commands.
//   - control::make_retrying_remote / make_retrying_session (control/retry.h): reconnect-and-retry
//   decorator.
//   - tests/support/fake_session.h: a scripted fake for unit tests.
//
// Thread safety: a Remote is thread-safe. A Session is used by one thread at a time; open one
// per thread. Sessions to the same node share one SSH connection and run their commands on
// separate channels of it, at most kMaxChannelsPerConnection at once (further ones wait), so
// clients and the nemesis can act on one node in parallel.
//
// Errors: `exec` returns the exit status, and never throws because a command failed. It throws
//   - TransportError: the connection could not be made or was lost (retryable when
//     `may_have_run()` is false: the command certainly did not start);
//   - HostKeyError / AuthError: the node is not who the known_hosts file says, or refused our key;
//   - CommandTimeoutError: the command ran longer than its timeout and was killed;
//   - std::invalid_argument: the command itself is malformed (see command_line).
// `run_checked` also throws CommandFailed for a non-zero exit status.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/command.h"
#include "harness/errors.h"

namespace faultline {

// Jepsen found 6 concurrent channels safe against OpenSSH's default MaxSessions of 10.
inline constexpr int kMaxChannelsPerConnection = 6;

struct ExecResult {
  int exit_status = 0;  // the command's exit status; -1 when it died of a signal (no status)
  std::string out;      // all of stdout
  std::string err;      // all of stderr
  bool ok() const { return exit_status == 0; }
};

// Base of every failure of the control plane; what() always names the node.
class RemoteError : public std::runtime_error {
 public:
  RemoteError(std::string node, const std::string& message)
      : std::runtime_error("node " + node + ": " + message), node_(std::move(node)) {}
  const std::string& node() const { return node_; }

 private:
  std::string node_;
};

// Connecting failed (refused, unreachable, timed out) or the connection broke.
class TransportError : public RemoteError {
 public:
  TransportError(std::string node, const std::string& message, bool may_have_run)
      : RemoteError(std::move(node), message), may_have_run_(may_have_run) {}
  // False when the command certainly did not start (connect or channel open failed), so
  // running it again cannot run it twice.
  bool may_have_run() const { return may_have_run_; }

 private:
  bool may_have_run_;
};

// The node's host key is missing from or differs from the known_hosts file. Never retried.
class HostKeyError : public RemoteError {
 public:
  using RemoteError::RemoteError;
};

// The node refused every key we offered, or a key file could not be read. Never retried.
class AuthError : public RemoteError {
 public:
  using RemoteError::RemoteError;
};

// The command outlived its timeout; it was sent SIGKILL (where the server allows) and its
// channel closed. Whether it took effect is unknown. Never retried.
class CommandTimeoutError : public RemoteError {
 public:
  CommandTimeoutError(std::string node, const Command& command, std::chrono::milliseconds timeout,
                      ExecResult partial);
  const ExecResult& partial() const { return partial_; }

 private:
  ExecResult partial_;
};

// run_checked: the command exited with a non-zero status.
class CommandFailed : public RemoteError {
 public:
  CommandFailed(std::string node, const Command& command, ExecResult result);
  const std::string& command() const { return command_; }
  int exit_status() const { return result_.exit_status; }
  const ExecResult& result() const { return result_; }

 private:
  std::string command_;
  ExecResult result_;
};

// A file transfer failed for a reason other than the transport (missing file, permission).
class TransferError : public RemoteError {
 public:
  using RemoteError::RemoteError;
};

// Thrown by Remote::session for a node name that is not in the inventory.
class UnknownNodeError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

class Session {
 public:
  virtual ~Session() = default;

  // The node's name as in the inventory ("n1", "db3.example.com").
  virtual const std::string& node() const = 0;

  // Runs `command` to completion (or its timeout) and returns its status and output.
  virtual ExecResult exec(const Command& command) = 0;

  // As exec, but throws CommandFailed (node, command, status, stdout, stderr) unless the exit
  // status is 0. Returns the result otherwise.
  ExecResult run_checked(const Command& command);

  // Copies a local file or directory tree to `remote_path` (created or replaced; parent must
  // exist), keeping permission bits. Directories are merged into an existing directory.
  virtual void upload(const std::filesystem::path& local, const std::string& remote_path) = 0;
  // Copies a remote file or directory tree to `local` (created or replaced; parent must
  // exist), keeping permission bits.
  virtual void download(const std::string& remote_path, const std::filesystem::path& local) = 0;
};

class Remote {
 public:
  virtual ~Remote() = default;
  // The node names, in inventory order.
  virtual std::vector<std::string> nodes() const = 0;
  // A new session to `node`; it connects lazily, on first use. Throws UnknownNodeError.
  virtual std::unique_ptr<Session> session(const std::string& node) = 0;
};

// --- factories -------------------------------------------------------------------------

// Every command gets a deadline: its own timeout, or `timeout` when it has none. The session
// gives up at the deadline (CommandTimeoutError naming the command) and the node kills the
// command 2 s later (it runs under coreutils' `timeout -s KILL`), so a node that stops
// answering (a paused sshd, a host gone without a reset) cannot hold the caller for ever. For
// the nemesis and heal commands of a run (harness/run/runner.cc). Transfers pass through.
std::shared_ptr<Remote> make_deadline_remote(std::shared_ptr<Remote> inner,
                                             std::chrono::milliseconds timeout);

}  // namespace faultline
