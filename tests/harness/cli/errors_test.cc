// Exit codes of errors: the user's (ConfigError, 254) and ours (anything else, 255).
#include "harness/errors.h"

#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/cli/cli.h"

namespace {

using namespace faultline;

// A command of this test binary only: throws what its argument names.
const bool registered = cli::register_command(
    {"test-throw", "throws a ConfigError, a std::invalid_argument or a std::logic_error",
     [](CLI::App& app) {
       auto what = std::make_shared<std::string>();
       app.add_option("what", *what)->required();
       return [what]() -> int {
         if (*what == "config") throw ConfigError("spec: /rate: must be a number");
         if (*what == "stoi") throw std::invalid_argument("stoi");  // what std::stoi throws
         throw std::logic_error("an invariant broke");
       };
     }});

int run(std::vector<std::string> args) {
  args.insert(args.begin(), "faultline");
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& a : args) argv.push_back(a.data());
  return cli::run_cli(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("errors: a ConfigError exits 254, any other exception is internal (255)", "[cli]") {
  REQUIRE(registered);
  CHECK(run({"test-throw", "config"}) == kExitBadInput);
  // Regression: every std::invalid_argument exited 254, so an internal std::stoi failure was
  // reported as the user's bad input.
  CHECK(run({"test-throw", "stoi"}) == kExitInternal);
  CHECK(run({"test-throw", "logic"}) == kExitInternal);
}
