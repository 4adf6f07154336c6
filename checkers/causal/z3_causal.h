// Causal consistency (CC, CCv) of register histories as an SMT problem (Z3), for histories
// whose written values need not be unique, where read-from is not determined by the values.
// The causal checker (checkers/causal/causal.cc) uses it when some value is written twice, and the
// differential tests compare it with the bad-pattern search on histories with unique values.
//
// Thread safety: each call builds its own z3::context.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/checker.h"

namespace faultline::causal {

struct SmtOp {
  uint32_t proc;  // dense process index
  uint32_t seq;   // 1-based position in its process; a process's ops come in seq order
  bool write;
  uint32_t key;
  uint32_t kv;  // (key, value) id written or read; UINT32_MAX: a read of the initial state
};

struct SmtResult {
  Validity verdict = Validity::kUnknown;
  std::string reason;      // unknown: Z3's reason; invalid: which condition has no solution
  size_t constraints = 0;  // assertions sent to Z3
};

// REQUIRES: ops grouped by nothing in particular, but each process's seq values are 1..len.
// convergent: CCv instead of CC.
SmtResult smt_causal(const std::vector<SmtOp>& ops, uint32_t processes, bool convergent,
                     const CheckContext& ctx);

}  // namespace faultline::causal
