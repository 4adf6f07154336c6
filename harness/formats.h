// History file formats: reading all of them, writing jsonl and EDN.
//
//   jsonl        ours: one JSON object per line,
//                {"index":0,"time":12,"process":3,"type":"invoke","f":"read","value":null,
//                 "node":"n1","error":null, ...other fields kept in Op::extra}
//                ("process" is an integer or "nemesis"; "time" is in nanoseconds).
//   edn          Jepsen's history.edn: a vector of op maps, or one op map per line; tagged
//                literals such as #jepsen.history.Op{...} are read as the map they tag.
//   jepsen-log   Jepsen's log lines: "INFO  jepsen.util - <process>\t<type>\t<f>\t<value>",
//                the value in EDN; other lines are ignored. Order is real-time order.
//   porcupine-kv Porcupine's kv test data: one EDN map per line with :process :type :f :key
//                :value (read by the EDN reader; :key lands in Op::extra).
//
// EDN values become JSON: nil -> null; keywords and symbols -> strings without the colon
// (":read" -> "read", ":a/b" -> "a/b"); vectors, lists and sets -> arrays; maps -> objects whose
// keys are strings, keywords' names, or the EDN text of any other key (0 -> "0"); #inst and
// #uuid -> their string; any other tagged literal -> its value; integers beyond int64 -> double.
// The EDN writer writes op types, f and the names of Elle's micro-ops (append, r, w) as
// keywords, object keys that are integers as integers, and keyword-like error strings as
// keywords, so Jepsen's tools can read what we write and our reader gives back the same ops.
//
// Every reader reports a problem as HistoryError with the file, the 1-based line and a reason.
//
// Thread safety: free functions, no shared state.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/history.h"

namespace faultline {

enum class HistoryFormat { kJsonl, kEdn, kJepsenLog, kPorcupineKv };

std::string_view to_string(HistoryFormat format);
// "jsonl", "edn", "jepsen-log", "porcupine-kv" (also "json" for jsonl, "log" for jepsen-log).
std::optional<HistoryFormat> parse_history_format(std::string_view name);

// Guesses the format from the text (first non-blank, non-comment line). Never fails: falls
// back to EDN, whose reader then names the line it cannot read.
HistoryFormat detect_format(std::string_view text);

// Reads ops from text, without validating their pairing. `source` names the file in errors.
// Throws HistoryError on the first malformed record.
std::vector<Op> read_ops(std::string_view text, HistoryFormat format, const std::string& source);

// Reads and validates a whole history file. Throws HistoryError (bad content, with the line)
// or std::runtime_error (cannot open the file). With no format, detects it.
struct LoadedHistory {
  History history;
  HistoryFormat format;
};
LoadedHistory load_history_file(const std::string& path,
                                std::optional<HistoryFormat> format = std::nullopt);
// The same for text in memory.
LoadedHistory load_history_text(std::string_view text, const std::string& source,
                                std::optional<HistoryFormat> format = std::nullopt);

// Writers. jsonl writes one op per line with a trailing newline; edn writes a vector of maps,
// one per line. Jepsen-log and porcupine-kv are written too, for round trips with those tools.
void write_jsonl_op(std::ostream& out, const Op& op);
void write_history(std::ostream& out, const History& history, HistoryFormat format);
std::string op_to_jsonl(const Op& op);

// jsonl, one line (trimmed, non-empty). The fast path reads the common op shape directly and
// returns nullopt for anything unusual (floats, \u escapes, non-ASCII text, deep nesting,
// repeated or missing op fields, wrong field types); read_ops then uses the general path
// (nlohmann's parser), which reads every valid line and names the error of a bad one. Where
// the fast path answers, both give the same Op (line left 0 by the fast path). Exposed for the
// tests that compare the two.
std::optional<Op> read_jsonl_line_fast(std::string_view line);
Op read_jsonl_line_general(std::string_view line, int64_t line_no, const std::string& source);
// jsonl read by `threads` threads, each a run of whole lines (read_ops uses one thread per
// 16 MB, at most 4 and at most the machine's cores). The same ops and the same first error as
// one thread. Exposed for tests.
std::vector<Op> read_jsonl_parallel(std::string_view text, const std::string& source,
                                    size_t threads);

// EDN: one value from text, converted to JSON as described above. Throws HistoryError naming
// `source` and the line. Exposed for tests and the fuzzers.
Json parse_edn(std::string_view text, const std::string& source = "<edn>");
// JSON back to EDN text (no keyword heuristics; strings stay strings).
std::string to_edn(const Json& value);

}  // namespace faultline
