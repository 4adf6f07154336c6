// libFuzzer entry point for the history parsers; built once per parser (FUZZ_<NAME>). Every
// input must either load or raise HistoryError; any other exception, crash, leak or undefined
// behaviour is a bug. Loaded histories are written back and must load again to the same ops.
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "harness/formats.h"

using namespace faultline;

namespace {

HistoryFormat format() {
#if defined(FUZZ_EDN)
  return HistoryFormat::kEdn;
#elif defined(FUZZ_JSONL)
  return HistoryFormat::kJsonl;
#elif defined(FUZZ_JEPSEN_LOG)
  return HistoryFormat::kJepsenLog;
#else
  return HistoryFormat::kPorcupineKv;
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  LoadedHistory loaded;
  try {
    loaded = load_history_text(text, "fuzz", format());
  } catch (const HistoryError&) {
    return 0;
  }
  // Round trip through jsonl and EDN.
  for (HistoryFormat out : {HistoryFormat::kJsonl, HistoryFormat::kEdn}) {
    std::ostringstream s;
    write_history(s, loaded.history, out);
    LoadedHistory again;
    try {
      again = load_history_text(s.str(), "fuzz-roundtrip", out);
    } catch (const HistoryError& e) {
      std::fprintf(stderr, "round trip failed: %s\n%s\n", e.what(), s.str().c_str());
      std::abort();
    }
    if (again.history.size() != loaded.history.size()) std::abort();
  }
#if defined(FUZZ_EDN)
  try {
    Json v = parse_edn(text);
    Json back = parse_edn(to_edn(v));
    (void)back;
  } catch (const HistoryError&) {
  }
#endif
  return 0;
}
