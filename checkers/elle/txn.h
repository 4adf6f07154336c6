// Transaction histories for the Elle-style checkers: each client operation whose value is a
// list of micro-operations becomes one Txn.
//
//   ["append", k, v]   list-append: appends v to the list at k (v unique per key)
//   ["r", k, [v...]]   list-append read: the whole list at k (null in an invocation)
//   ["w", k, v]        rw-register write (v unique per key)
//   ["r", k, v]        rw-register read: the value at k, null for the initial state
//
// EDN histories read [:append 5 3] as ["append",5,3], so both spellings arrive here alike.
// Keys and (key, value) pairs are interned into dense ids, so the analyses index flat arrays.
// A txn's mops come from the completion of an ok op (it carries the reads) and from the
// invocation otherwise (fail and info completions carry no reads).
//
// Thread safety: plain values, immutable after parse_txns.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "harness/history.h"

namespace faultline::elle {

enum class MopKind : uint8_t { kAppend, kRead, kWrite };

inline constexpr uint32_t kNone = UINT32_MAX;

struct Mop {
  MopKind kind = MopKind::kRead;
  uint32_t key = 0;  // key id
  // Append/write: the (key, value) id written. Register read: the (key, value) id read, or
  // kNone for the initial state (null). List read: unused (kNone).
  uint32_t kv = kNone;
  bool known = true;  // false for a read whose result is unknown (null in an invocation)
  // List reads: elems[list_begin, list_begin + list_len) are the (key, value) ids read.
  uint32_t list_begin = 0;
  uint32_t list_len = 0;
};

struct Txn {
  int64_t invoke_index = 0;
  int64_t complete_index = INT64_MAX;  // INT64_MAX when the op never completed
  int64_t process = 0;
  OpType type = OpType::kInfo;  // kOk, kFail or kInfo (also for never completed)
  uint32_t mop_begin = 0;
  uint32_t mop_count = 0;
};

struct TxnHistory {
  std::vector<Txn> txns;  // in invocation order
  std::vector<Mop> mops;
  std::vector<uint32_t> elems;   // list-read elements, (key, value) ids
  std::vector<Json> key_json;    // key id -> key as in the history
  std::vector<uint32_t> kv_key;  // (key, value) id -> key id
  std::vector<Json> kv_value;    // (key, value) id -> value as in the history
  int64_t skipped_ops = 0;       // client ops that are not transactions (ignored)
  bool realtime_known = true;    // false for a history of completions only: no real-time edges

  const Mop* mops_of(const Txn& t) const { return mops.data() + t.mop_begin; }
  const uint32_t* list_of(const Mop& m) const { return elems.data() + m.list_begin; }
  std::string key_text(uint32_t key) const;
  std::string value_text(uint32_t kv) const;  // "nil" for kNone
};

// Thrown for a malformed micro-operation; what() names the op index and the reason.
class TxnFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads every client operation whose value is an array of micro-operations. Operations with
// another value shape (and nemesis ops) are counted in skipped_ops. `list_reads` selects how a
// read's result is read: true for list-append (an array), false for rw-register (one value).
TxnHistory parse_txns(const History& history, bool list_reads);

}  // namespace faultline::elle
