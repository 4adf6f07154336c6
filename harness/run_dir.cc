#include "harness/run_dir.h"

#include <system_error>

#include "harness/errors.h"
#include "harness/files.h"

namespace faultline {

namespace fs = std::filesystem;

bool RunDir::is_run(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "test.json", ec) || fs::exists(dir / "history.jsonl", ec);
}

bool RunDir::finished() const {
  std::error_code ec;
  return fs::exists(results_json(), ec);
}

Json RunDir::test() const {
  std::string text;
  try {
    text = read_file(test_json());
  } catch (const std::exception& e) {
    throw ConfigError(std::string(e.what()) + ": not a run directory (no test.json)");
  }
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw ConfigError(test_json().string() + ": not valid JSON: " + e.what());
  }
}

const RecoveredHistory& RunDir::history() const {
  if (!history_) history_ = load_recorded_history(history_jsonl().string(), "history.jsonl");
  return *history_;
}

}  // namespace faultline
