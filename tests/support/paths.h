// Paths for tests: the source tree, the faultline binary, and the shared histories (which may
// be absent: tests that need them SKIP with a message, never pass silently).
#pragma once

#include <filesystem>
#include <string>

namespace faultline::testing {

inline std::filesystem::path source_dir() { return FAULTLINE_SOURCE_DIR; }
inline std::string faultline_binary() { return FAULTLINE_BINARY; }
// ../shared/histories relative to the repo, or $FAULTLINE_SHARED/histories; empty when absent.
std::filesystem::path shared_histories();

// Runs a command through /bin/sh, returns its exit status and output (stdout and stderr
// combined). For CLI tests only.
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult run_shell(const std::string& command);

// The size of a long randomised test: `ci` by default (what ./test.sh and CI run), `full` when
// FAULTLINE_TEST_SIZE=full (the "slow" label: ./test.sh -L slow runs them at full size).
int test_size(int ci, int full);

}  // namespace faultline::testing

// Skips the current test case with a message when shared histories are missing.
#define FAULTLINE_REQUIRE_SHARED(path_var)                                                   \
  auto path_var = ::faultline::testing::shared_histories();                                  \
  if (path_var.empty()) {                                                                    \
    WARN("SKIPPED: ../shared/histories not found (set FAULTLINE_SHARED to the shared dir)"); \
    return;                                                                                  \
  }
