// Command: what the controller asks a node (or itself) to run, as data.
//
// A command is an argv vector plus optional stdin, working directory, sudo and timeout. It is
// never a shell string built from data: `command_line` is the one function that turns it into
// the text a remote shell (sshd's `$SHELL -c`) or the local /bin/sh runs, quoting every
// argument, and it is the only place where cd and sudo wrapping happen. Both the SSH session
// and the local-exec session use it, so a command means the same thing everywhere.
//
// When a shell feature is really needed (redirection, `&`, pipes), use `Command::shell` with a
// constant script and pass the data as positional parameters ("$1", "$2"...):
//
//   Command::shell("exec \"$1\" >> \"$2\" 2>&1 < /dev/null &", {binary, log_path})
//
// Thread safety: plain value type; the functions are pure.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace faultline {

struct Command {
  std::vector<std::string> argv;           // REQUIRES: non-empty; argv[0] is the program
  std::string stdin_data;                  // written to the command's stdin, then EOF
  std::string cwd;                         // empty: the login directory (remote) / ours (local)
  std::map<std::string, std::string> env;  // extra environment, set with `env` (names checked)
  bool sudo = false;                       // run through `sudo -n` (non-interactive)
  std::string sudo_user;                   // with sudo: the user to become; empty means root
  // 0: the session's default. After it the command is killed and CommandTimeoutError thrown.
  std::chrono::milliseconds timeout{0};
  // Running this command twice is harmless, so a retrying session may re-run it after a
  // connection died while it was running (it never re-runs a command that completed).
  bool idempotent = false;

  Command() = default;
  Command(std::initializer_list<std::string> args) : argv(args) {}
  explicit Command(std::vector<std::string> args) : argv(std::move(args)) {}

  // `sh -c SCRIPT sh ARGS...`: SCRIPT must be a constant written in the source; data goes in
  // ARGS and is read by the script as "$1", "$2", ... (never spliced into the script).
  static Command shell(std::string script, std::vector<std::string> args = {});

  Command& in(std::string dir) {
    cwd = std::move(dir);
    return *this;
  }
  Command& as_sudo(std::string user = "") {
    sudo = true;
    sudo_user = std::move(user);
    return *this;
  }
  Command& with_stdin(std::string data) {
    stdin_data = std::move(data);
    return *this;
  }
  Command& with_timeout(std::chrono::milliseconds t) {
    timeout = t;
    return *this;
  }
  Command& with_env(std::string name, std::string value) {
    env[std::move(name)] = std::move(value);
    return *this;
  }
};

// Quotes one word for a POSIX shell: the result, read by sh, is exactly `word` (any bytes,
// including newlines, quotes, `$`, backticks and non-ASCII). Words made only of safe
// characters ([A-Za-z0-9_@%+=:,./-]) are returned as they are; others are single-quoted with
// each ' written as '\''. The empty word is ''.
std::string shell_quote(std::string_view word);

// The command line for a POSIX shell:
//   [sudo -n [-u USER] -- sh -c 'INNER']  or  INNER
//   INNER = [cd -- DIR && ] [exec] [env NAME=VALUE... --] ARGV...   (every word quoted)
// With sudo, the cd and env happen as the target user, inside the sudo shell.
// Throws std::invalid_argument for an empty argv, an env name that is not [A-Za-z_][A-Za-z0-9_]*,
// a sudo user that is not a plain user name, or a NUL byte anywhere (a shell cannot carry it).
std::string command_line(const Command& command);

// A short human description for error messages and logs: the argv words, quoted, joined with
// spaces, cut to about `max_chars` (stdin is not shown).
std::string describe(const Command& command, size_t max_chars = 200);

}  // namespace faultline
