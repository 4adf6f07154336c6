// Runs of the runner from the integration tests: quietly (no log echo, no progress line, no
// signal handlers of its own), and the nemesis ops a run recorded, for assertions and for the
// test's log.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "harness/op.h"
#include "harness/run/runner.h"
#include "harness/run/spec.h"

namespace faultline::testing {

run::RunOutcome run_quietly(const run::TestSpec& spec);

struct NemesisOps {
  std::vector<Op> ops;  // the nemesis ops of the history that carry a value, in order
  std::string text;     // one line per op: "  f value[ error: ...]"
};
// Reads `run_dir`/history.jsonl.
NemesisOps nemesis_ops(const std::filesystem::path& run_dir);

}  // namespace faultline::testing
