// Launching a database's processes as the run's nemeses need them (DbContext::launch, filled
// by the nemeses' DbContextHooks; today the clock nemesis's libfaketime). An adapter calls
// prepare_launch_command before a launch and puts launch_env_argv in front of the argv it
// starts; it never names a variable, file or library of its own.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/command.h"
#include "harness/db.h"

namespace faultline::clusters {

// The words to put in front of a database's argv on `node`: {"env", "NAME=value", ...} with
// "{node}" expanded, or {} when there is nothing to set. `extra` is added only when there is
// something to set (tuning of the same mechanism by the database, e.g. galera's
// FAKETIME_ONLY_CMDS=mariadbd); it wins over the hook's values of the same name.
std::vector<std::string> launch_env_argv(const DbContext& ctx, const std::string& node,
                                         const std::map<std::string, std::string>& extra = {});

// A command (as root) that makes the node's launch files exist before a launch: for each, its
// directory made and checked root's alone (fl_private_dir, 755), the content written when the
// file is missing (temp file, chmod 644, rename), and the file made readable (644) by the
// database's user. std::nullopt when there are none. Throws ConfigError "<where>: ..." when a
// path fails check_dir_option (it reaches command lines and config files).
std::optional<Command> prepare_launch_command(const DbContext& ctx, const std::string& node,
                                              const std::string& where);

// Shell function `fl_launch_leftovers PID...`: removes what a preloaded library (libfaketime:
// /dev/shm/faketime_shm_<pid>, /dev/shm/sem.faketime_sem_<pid>) left behind for processes that
// are gone without running its destructor (SIGKILL; Go binaries never run it). A later process
// with the same pid could not make its own. REQUIRES: each PID is gone; harmless without any.
extern const char* const kLaunchLeftoversShell;

}  // namespace faultline::clusters
