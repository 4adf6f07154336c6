// Text the adapters read back from the nodes (command output, error messages).
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <string>

namespace faultline::clusters {

// `s` without the white space (std::isspace: newlines, blanks, tabs, CRs) at either end: the
// value a command printed, or its error for a message.
std::string trim(std::string s);

}  // namespace faultline::clusters
