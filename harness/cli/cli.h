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
// 255 internal error. Errors thrown by an action are mapped by main: ConfigError (and
// HistoryError, std::invalid_argument) to 254 with their message, anything else to 255.
//
// Thread safety: registration happens before main; main is single-threaded while parsing.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/errors.h"

namespace CLI {
class App;
}
namespace faultline::control {
struct InventoryOptions;
}

namespace faultline::cli {

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

// Declares the inventory flags (--nodes, --nodes-file, --ssh-*, --local-cluster) on `app`.
void add_inventory_options(CLI::App& app, control::InventoryOptions& options);

}  // namespace faultline::cli
