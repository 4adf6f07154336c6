// The controller's own commands as a Session (harness/remote.h), with Boost.Process: gnuplot
// and dot for reports, tests. Body in local_exec.cc, the only file that includes Boost.Process.
//
// Thread safety: one Session per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "harness/remote.h"

namespace faultline::control {

// Runs commands on this machine through /bin/sh -c command_line(cmd) (Boost.Process), with the
// same quoting as SSH. upload/download are local copies. `name` is what node() returns.
std::unique_ptr<Session> make_local_session(std::string name = "localhost",
                                            std::chrono::milliseconds default_timeout = {});

}  // namespace faultline::control
