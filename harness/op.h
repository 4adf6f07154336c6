// Op: one event of a history, an invocation or a completion, as Jepsen records them.
//
// A history is the ordered list of ops (see history.h). Each operation of a client is two ops:
// an invocation (type kInvoke) and, later, a completion on the same process: kOk (it took
// effect, exactly once, between the two), kFail (it definitely did not take effect) or kInfo
// (unknown: it may take effect at any time after its invocation, or never). A process whose
// op ended in kInfo never issues another op; the worker continues as a new process. The nemesis
// records its actions as kInfo ops on the process kNemesisProcess.
//
// Values are JSON. Histories read from EDN map keywords to plain strings (":read" -> "read"),
// sets to arrays and map keys to their text; see formats.h.
//
// Thread safety: plain value types; no shared state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace faultline {

using Json = nlohmann::json;

enum class OpType : uint8_t { kInvoke, kOk, kFail, kInfo };

// "invoke", "ok", "fail", "info".
std::string_view to_string(OpType type);
// Parses the four names above (with or without a leading ':'); nullopt for anything else.
std::optional<OpType> parse_op_type(std::string_view text);

// Compact JSON text of a value; invalid UTF-8 in strings is replaced, never thrown on.
std::string json_text(const Json& value);

// The process number that stands for the nemesis ("nemesis" in files).
inline constexpr int64_t kNemesisProcess = -1;

// Marks an unknown time (histories in Porcupine's and Jepsen's log formats carry none: their
// order is their real-time order).
inline constexpr int64_t kNoTime = -1;

struct Op {
  int64_t index = 0;          // position in the history, 0-based, dense
  int64_t time_ns = kNoTime;  // monotonic nanoseconds since the test started
  int64_t process = 0;        // client process, or kNemesisProcess
  OpType type = OpType::kInvoke;
  std::string f;     // operation name, e.g. "read", "write", "cas", "txn"
  Json value;        // argument (invoke) or result (completion); null when none
  std::string node;  // node the client talked to; empty when unknown
  Json error;        // error of a fail/info completion; null when none
  Json extra;        // other fields of the source record (e.g. "key"): an object, or
                     // null when there are none (no allocation per op)
  int64_t line = 0;  // 1-based line in the source file; 0 when not from a file

  bool is_invoke() const { return type == OpType::kInvoke; }
  bool is_completion() const { return type != OpType::kInvoke; }
  bool is_nemesis() const { return process == kNemesisProcess; }
};

}  // namespace faultline
