// The preflight checks (harness/preflight.h) databases share: their binary present and its
// version, and their ports free.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "harness/preflight.h"

namespace faultline::clusters {

// `path` exists and is executable; the detail is the first line `path version_args...`
// prints (its version). `fix` says what to install.
NodeCheck binary_check(const std::string& name, const std::string& path,
                       const std::vector<std::string>& version_args, const std::string& fix);

// `path` (a library, a data file) exists.
NodeCheck file_check(const std::string& name, const std::string& path, const std::string& fix);

// Nothing listens on TCP `port` on the node, or only a process named `ours` (the database of
// an earlier run, which setup stops first). Else a problem naming the process that holds it.
// Without `ss` (iproute2) a warning.
NodeCheck port_check(int port, const std::string& ours, const std::string& what);

}  // namespace faultline::clusters
