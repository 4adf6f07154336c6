// Runs a test's node checks (harness/preflight.h) on every node in parallel: one SSH command
// per node for the facts (user id, clock) and one for every check, so a preflight costs two
// round trips per node whatever the number of checks.
//
// Adds the checks every test has: `sudo -n` (where the SSH user is not root), free disk under
// /var/lib, the OS and kernel, the NTP daemons active, and the node's clock offset to the
// controller (a warning above 1 s).
//
// Thread safety: run_preflight may be called from any thread; it opens one session per node.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "harness/preflight.h"
#include "harness/remote.h"

namespace faultline::control {

enum class CheckStatus { kOk, kWarning, kProblem };

struct CheckOutcome {
  std::string node;
  std::string check;  // NodeCheck::name, or "ssh", "sudo -n", "clock"
  CheckStatus status = CheckStatus::kOk;
  std::string detail;  // the check's line: a version, a path, what is wrong
  std::string fix;     // for warnings and problems
};

struct PreflightResult {
  std::vector<CheckOutcome> outcomes;  // by node, then in check order
  double seconds = 0;
  int problems() const;
  int warnings() const;
  // One line per warning and problem ("n2: port 2379: in use by python3 (pid 77); stop it or
  // ..."), with every line when `verbose`, then a summary line.
  std::string text(bool verbose) const;
};

// The checks of every test (before the test's own).
std::vector<NodeCheck> base_checks();

// Runs base_checks() and `checks` on `nodes`. A node that cannot be reached or whose sudo
// needs a password is one problem line, and its other checks are skipped.
PreflightResult run_preflight(Remote& remote, const std::vector<std::string>& nodes,
                              const std::vector<NodeCheck>& checks);

}  // namespace faultline::control
