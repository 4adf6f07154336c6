// A database server process on a node, as the adapters start, signal and stop it over a
// Session: a pid file that is believed only when it names a live process with the right command
// line (a number > 1 whose argv[0] is `binary` and which has `marker` as one whole argument;
// not a zombie, which has let go of its files and ports). The pid file may live in a directory
// the database's user owns, and everything here runs as root: "-1" there would signal every
// process, a stale or reused pid some stranger.
//
// Each method returns a Command; data reach the shell only as positional arguments. Scripts of
// the adapter's own can use the same shell library through script().
//
// Thread safety: a Daemon is a value; its methods are const and pure.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "harness/command.h"

namespace faultline::clusters {

// The shell library (with fl_private_dir and fl_launch_leftovers) that script() puts first:
//   fl_daemon_ours PID BINARY MARKER   PID runs BINARY ("" for any argv[0]) with MARKER
//   fl_daemon_pid PIDFILE BINARY MARKER   prints the pid in PIDFILE when it is ours, else fails
//   fl_daemon_procs BINARY MARKER   every live process that is ours (with or without pid file)
//   fl_daemon_launch LOG USER ARGV...   starts ARGV in the background in its own session,
//       detached from the channel, stdout and stderr appended to LOG, as USER when not ""
//       (setpriv, so LOG is opened as USER, never by root in a directory USER owns); prints
//       its pid
extern const char* const kDaemonShell;

struct Daemon {
  std::string name;      // in messages: "mariadbd", "etcd"
  std::string binary;    // the argv[0] it must have ("" for any)
  std::string marker;    // one whole argument that makes it this node's ("--defaults-file=...")
  std::string pid_file;  // written by the daemon itself or by launch()
  std::string log_file;  // its stdout and stderr

  // `body` after kDaemonShell, with "$1" pid_file, "$2" binary, "$3" marker, then `args`.
  Command script(const std::string& body, std::vector<std::string> args = {}) const;

  // Exits 0 when one of ours runs: the pid file's, or one not (yet) in it. Idempotent.
  Command running() const;
  // kill -s SIG to the pid file's process, printing "signalled"; prints "none" and exits 3 when
  // the pid file does not name ours (nothing signalled).
  Command signal(const std::string& sig) const;
  // SIGCONT (a paused process cannot act on SIGTERM) and `sig` to the pid file's process, then
  // waits until it is gone (a zombie counts as gone), sending SIGKILL after `kill_after` when
  // that is shorter than `wait`; then removes the pid file and what the launch env left for
  // the pid (fl_launch_leftovers). Prints "gone", or "none" when the pid file did not name
  // ours (it is removed; nothing signalled). Exits 4 when it still runs after `wait`.
  // Idempotent.
  Command stop(const std::string& sig, std::chrono::milliseconds wait,
               std::chrono::milliseconds kill_after = std::chrono::milliseconds::max()) const;
  // Starts `argv` (argv[0] == binary, or launch env words and then it) with
  // fl_daemon_launch, as `user` ("" for root); when `write_pid_file`, the pid goes to
  // pid_file (for daemons that write none). Prints the pid.
  Command launch(const std::vector<std::string>& argv, const std::string& user = "",
                 bool write_pid_file = false) const;
};

}  // namespace faultline::clusters
