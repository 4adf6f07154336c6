#include "clusters/common/daemon.h"

#include <algorithm>

#include "clusters/common/launch.h"
#include "harness/secure_dir.h"

namespace faultline::clusters {

const char* const kDaemonShell = R"sh(
fl_daemon_ours() {
  case $1 in ''|*[!0-9]*) return 1 ;; esac
  [ "$1" -gt 1 ] || return 1
  [ -r "/proc/$1/cmdline" ] || return 1
  tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | {
    if [ -n "$2" ]; then read -r _a0 && [ "$_a0" = "$2" ] || exit 1; fi
    grep -qxF -- "$3"; }
}
fl_daemon_pid() {
  _p=$(cat "$1" 2>/dev/null) || return 1
  fl_daemon_ours "$_p" "$2" "$3" || return 1
  echo "$_p"
}
fl_daemon_procs() {
  for _d in /proc/[0-9]*; do
    fl_daemon_ours "${_d#/proc/}" "$1" "$2" && echo "${_d#/proc/}"
  done
  return 0
}
fl_daemon_launch() {
  _log=$1; _user=$2; shift 2
  if [ -n "$_user" ]; then
    setsid nohup setpriv --reuid="$_user" --regid="$_user" --init-groups \
      sh -c 'exec "$@" >> "$0" 2>&1' "$_log" "$@" > /dev/null 2>&1 < /dev/null &
  else
    setsid nohup "$@" >> "$_log" 2>&1 < /dev/null &
  fi
  echo $!
}
)sh";

Command Daemon::script(const std::string& body, std::vector<std::string> args) const {
  std::vector<std::string> all = {pid_file, binary, marker};
  all.insert(all.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  return Command::shell(std::string(kPrivateDirShell) + kLaunchLeftoversShell + kDaemonShell + body,
                        all);
}

Command Daemon::running() const {
  Command c = script(
      "fl_daemon_pid \"$1\" \"$2\" \"$3\" > /dev/null || [ -n \"$(fl_daemon_procs \"$2\" "
      "\"$3\")\" ]\n");
  c.idempotent = true;
  return c;
}

Command Daemon::signal(const std::string& sig) const {
  return script(
      "p=$(fl_daemon_pid \"$1\" \"$2\" \"$3\") || { echo none; exit 3; }\n"
      "kill -s \"$4\" \"$p\" || exit 1\n"
      "echo signalled\n",
      {sig});
}

Command Daemon::stop(const std::string& sig, std::chrono::milliseconds wait,
                     std::chrono::milliseconds kill_after) const {
  constexpr int64_t kTickMs = 50;
  const int64_t ticks = std::max<int64_t>(1, wait.count() / kTickMs);
  const int64_t kill_ticks =
      kill_after < wait ? std::max<int64_t>(1, kill_after.count() / kTickMs) : 0;
  Command c = script(
      "p=$(fl_daemon_pid \"$1\" \"$2\" \"$3\") || { rm -f \"$1\"; echo none; exit 0; }\n"
      "kill -s CONT \"$p\" 2>/dev/null; kill -s \"$4\" \"$p\" 2>/dev/null\n"
      "n=0\n"
      "while fl_daemon_ours \"$p\" \"$2\" \"$3\"; do\n"
      "  n=$((n+1))\n"
      "  [ \"$6\" -gt 0 ] && [ $n -eq \"$6\" ] && kill -s KILL \"$p\" 2>/dev/null\n"
      "  [ $n -gt \"$5\" ] && exit 4\n"
      "  sleep 0.05\n"
      "done\n"
      "rm -f \"$1\"; fl_launch_leftovers \"$p\"\n"
      "echo gone\n",
      {sig, std::to_string(ticks), std::to_string(kill_ticks)});
  c.idempotent = true;
  c.with_timeout(wait + std::chrono::seconds(10));
  return c;
}

Command Daemon::launch(const std::vector<std::string>& argv, const std::string& user,
                       bool write_pid_file) const {
  std::vector<std::string> args = {log_file, user, write_pid_file ? "yes" : ""};
  args.insert(args.end(), argv.begin(), argv.end());
  return script(
      "pf=$1; log=$4; user=$5; write=$6; shift 6\n"
      "pid=$(fl_daemon_launch \"$log\" \"$user\" \"$@\")\n"
      "[ -z \"$write\" ] || echo \"$pid\" > \"$pf\" || exit 1\n"
      "echo \"$pid\"\n",
      std::move(args));
}

}  // namespace faultline::clusters
