// Judging runs against a baseline from the command line (harness/run/baseline.h): shared by
// `faultline baseline check` and `faultline run --baseline`.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace faultline::cli {

// Judges the runs against the baseline file, prints the judgement cell by cell, writes it as
// JUnit XML (and the same name with .json) when junit_out is not empty; returns 0 when every
// cell passes, 1 otherwise. A bad baseline file is a ConfigError naming it.
int judge_and_report(const std::string& baseline_path,
                     const std::vector<std::filesystem::path>& run_dirs,
                     const std::filesystem::path& junit_out);

}  // namespace faultline::cli
