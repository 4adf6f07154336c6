// Clock skew (clock.cc): the commands the clock nemesis issues, for tests and for `faultline
// heal`. See clock.cc for the mechanisms and the package.
#pragma once

#include <string>

#include "harness/command.h"

namespace faultline::nemeses {

// libfaketime's offset text for `offset_ms`: seconds with a sign and 3 decimals ("-0.011").
std::string faketime_offset_text(double offset_ms);
// Writes the offset file at `path` atomically (temp file, rename), creating its directory.
Command write_faketime_command(const std::string& path, double offset_ms);
// Steps the system clock by `delta_ms` (GNU date; needs root).
Command step_clock_command(double delta_ms);
// <dir>/<node>.rc
std::string faketime_path(const std::string& dir, const std::string& node);

}  // namespace faultline::nemeses
