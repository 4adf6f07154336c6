// Matrix runs (Jepsen's test-all): a spec's "matrix" key gives a list of values for any other
// spec key, and `faultline run` runs every combination (test-count times each), then writes
// a summary table, <results-dir>/matrix.json and matrix.html (combination × verdict × each
// checker's verdict and summary, with links to each run's report).
//
//   {"db": "memory-stale", "time-limit": 5,
//    "matrix": {"concurrency": ["1n", "3n"], "rate": [100, 1000]}}     -> 4 combinations
//
// Combinations are in the order of the keys (JSON object order, i.e. sorted) with the last key
// varying fastest. Each value replaces the key of the spec; the spec of each combination is
// then validated as usual.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "harness/op.h"

namespace faultline::run {

struct MatrixCombination {
  Json values;  // {"rate": 100, ...}: this combination's value of each matrix key
  Json spec;    // the spec without "matrix", with those values
};

// One combination per element of the cartesian product. Throws std::invalid_argument when
// "matrix" is not an object of non-empty arrays, or names "matrix" or "test-count".
std::vector<MatrixCombination> expand_matrix(const Json& spec);

// One run of a combination.
struct MatrixRun {
  Json values;
  int run = 1;          // 1-based, within test-count
  std::string verdict;  // valid | invalid | unknown | error
  std::string dir;      // run directory, relative to the results directory when inside it
  Json checkers;        // label -> {"valid": ..., "summary": ...}
  std::string error;    // when the run failed before checking
};

// matrix.json's content.
Json matrix_json(const std::vector<MatrixRun>& runs);
// matrix.html: one self-contained table.
std::string matrix_html(const Json& matrix);

}  // namespace faultline::run
