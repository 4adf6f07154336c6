// Errors: the one exception type for "what the user gave is wrong", and the exit codes.
//
// ConfigError means a bad spec, option, command-line argument, inventory, nodes file, history
// file or run directory: the message names the file, key or node and what to do, and the
// binary exits 254. Anything else that escapes to the CLI (std::invalid_argument from
// std::stoi, a std::logic_error, a broken invariant) is our bug and exits 255. ConfigError
// derives from std::invalid_argument only so that callers which catch that keep working.
//
// Plumbing failures (SSH, setup, a node that does not answer) have their own types (remote.h);
// database outcomes are never exceptions (client.h).
#pragma once

#include <stdexcept>
#include <string>

namespace faultline {

class ConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Exit codes of `faultline` (Jepsen's): 0 valid, 1 invalid, 2 unknown, 254 bad arguments or
// spec (ConfigError), 255 internal error.
constexpr int kExitValid = 0;
constexpr int kExitInvalid = 1;
constexpr int kExitUnknown = 2;
constexpr int kExitBadInput = 254;
constexpr int kExitInternal = 255;

}  // namespace faultline
