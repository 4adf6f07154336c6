// Healing a run after its controller died or its teardown could not finish (`faultline heal`,
// harness/cli/heal.cc): which run to heal, and the healing itself over any Remote (the CLI
// passes the retrying SSH remote of the run's inventory; tests pass a fake).
//
// Thread safety: free functions; heal_run uses one thread and session per node.
#pragma once

#include <filesystem>
#include <ostream>

#include "harness/remote.h"

namespace faultline::run {

// The run to heal for a command-line argument: the directory itself when it holds test.json;
// else, below it (<arg>/<test>/<run>), the one run without results.json (its controller died,
// or it is still running) when there is exactly one, else the `latest` link's run. Throws
// std::invalid_argument when there is none, or when several runs lack results.json (listing a
// `faultline heal RUN_DIR` line for each), since `latest` may then be another engineer's run.
std::filesystem::path run_to_heal(const std::filesystem::path& arg);

// Heals every node of the run in `run_dir` (test.json's "nodes") over `remote`: every
// registered NodeHealer with the run's nemesis-options and history, then the database's
// resume() when it can be rebuilt and paused. Prints one line per action and node to `out`.
// Returns 0 when every node was healed and nothing may remain, 255 (kExitInternal) otherwise:
// a healer failed, or the run paused processes that cannot be resumed from here (the database
// cannot be rebuilt in this build), each said on `out`. Throws std::invalid_argument for an
// unreadable test.json.
int heal_run(const std::filesystem::path& run_dir, Remote& remote, std::ostream& out);

}  // namespace faultline::run
