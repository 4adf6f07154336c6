// CLI: `faultline <command> ...`. Each command registers itself from its own file:
//
//   namespace {
//   const bool registered = faultline::register_command({"check", "Check history files",
//       [](CLI::App& app) { auto opts = std::make_shared<Opts>(); app.add_option(...);
//                           return [opts] { return run(*opts); }; }});
//   }
//
// The setup function declares the command's flags on `app` and returns the action to run
// after parsing; the action returns the process exit code.
//
// Exit codes (Jepsen's): 0 valid, 1 invalid, 2 unknown, 254 bad arguments or input,
// 255 internal error. Errors thrown by an action are mapped by main: BadInput (and
// HistoryError, std::invalid_argument) to 254 with their message, anything else to 255.
//
// Thread safety: registration happens before main; main is single-threaded while parsing.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace faultline {

inline constexpr int kExitValid = 0;
inline constexpr int kExitInvalid = 1;
inline constexpr int kExitUnknown = 2;
inline constexpr int kExitBadInput = 254;
inline constexpr int kExitInternal = 255;

// Bad arguments, spec or input that the user can fix: exit 254 with the message.
class BadInput : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CliCommand {
  std::string name;
  std::string description;
  std::function<std::function<int()>(CLI::App&)> setup;
};

bool register_command(CliCommand command);

// "a,b,,c" -> {"a", "b", "c"}: the comma-separated lists of flags such as --checker, --nodes.
std::vector<std::string> split_commas(const std::string& s);

// Runs the CLI; what main() returns.
int run_cli(int argc, char** argv);

}  // namespace faultline
