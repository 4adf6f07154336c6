#include "tests/support/runs.h"

#include "harness/formats.h"
#include "harness/history.h"

namespace faultline::testing {

run::RunOutcome run_quietly(const run::TestSpec& spec) {
  run::RunOptions ro;
  ro.echo_log = false;
  ro.progress = false;
  ro.handle_signals = false;
  return run::run_test(spec, ro);
}

NemesisOps nemesis_ops(const std::filesystem::path& run_dir) {
  NemesisOps out;
  LoadedHistory h = load_history_file((run_dir / "history.jsonl").string());
  for (const auto& o : h.history.ops()) {
    if (!o.is_nemesis() || o.value.is_null()) continue;
    out.text += "  " + o.f + " " + o.value.dump();
    if (!o.error.is_null()) out.text += " error: " + o.error.dump();
    out.text += "\n";
    out.ops.push_back(o);
  }
  return out;
}

}  // namespace faultline::testing
