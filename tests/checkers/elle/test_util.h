// Helpers for the Elle-style checker tests: histories written as transactions.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "harness/checker.h"
#include "harness/history.h"

namespace faultline::testing {

// One transaction of a micro-history: its process, its outcome ("ok", "fail", "info") and its
// mops as completed (reads with their results). The invocation carries the same mops with
// every read's result null.
struct TxnSpec {
  int64_t process;
  std::string type;
  Json mops;
};

inline Json invocation_of(const Json& mops) {
  Json out = mops;
  for (auto& m : out) {
    if (m[0] == "r") m[2] = nullptr;
  }
  return out;
}

inline Op txn_op(int64_t process, OpType type, Json value) {
  Op op;
  op.process = process;
  op.type = type;
  op.f = "txn";
  op.value = std::move(value);
  return op;
}

inline Op completion_of(const TxnSpec& t) {
  const auto type = *parse_op_type(t.type);
  return txn_op(t.process, type, type == OpType::kOk ? t.mops : invocation_of(t.mops));
}

// Each transaction completes before the next is invoked (a serial history).
inline History serial_history(const std::vector<TxnSpec>& txns) {
  std::vector<Op> ops;
  for (const auto& t : txns) {
    ops.push_back(txn_op(t.process, OpType::kInvoke, invocation_of(t.mops)));
    ops.push_back(completion_of(t));
  }
  return History::build_or_throw(std::move(ops), "test");
}

// All transactions are invoked first, then all complete (all concurrent: no realtime order).
inline History concurrent_history(const std::vector<TxnSpec>& txns) {
  std::vector<Op> ops;
  for (const auto& t : txns)
    ops.push_back(txn_op(t.process, OpType::kInvoke, invocation_of(t.mops)));
  for (const auto& t : txns) ops.push_back(completion_of(t));
  return History::build_or_throw(std::move(ops), "test");
}

// Inserts the transactions of a micro-history (keys renamed "inj-<k>", processes 1000+) into a
// generated history at random places, each injected process's transactions in order. The
// result's indexes are rebuilt by History::build.
inline std::vector<Op> inject_txns(std::vector<Op> ops, const std::vector<TxnSpec>& anomaly,
                                   std::mt19937_64& rng) {
  for (const auto& t : anomaly) {
    Json mops = t.mops;
    for (auto& m : mops) m[1] = "inj-" + m[1].get<std::string>();
    const int64_t p = 1000 + t.process;
    std::vector<Op> pair = {txn_op(p, OpType::kInvoke, invocation_of(mops)),
                            txn_op(p, OpType::kOk, mops)};
    size_t lo = 0;  // after the last op of the same injected process
    for (size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].process == p) lo = i + 1;
    }
    const size_t at = std::uniform_int_distribution<size_t>(lo, ops.size())(rng);
    ops.insert(ops.begin() + static_cast<std::ptrdiff_t>(at), pair.begin(), pair.end());
  }
  return ops;
}

inline CheckResult run_checker(const std::string& name, const History& h,
                               const std::string& model = "") {
  Json options = Json::object();
  if (!model.empty()) options["consistency-model"] = model;
  auto checker = CheckerRegistry::get("checker", name)(options);
  return checker->check(h, CheckContext{});
}

inline std::vector<std::string> anomaly_types(const CheckResult& r) {
  return r.details.at("anomaly-types").get<std::vector<std::string>>();
}

inline bool has_type(const CheckResult& r, const std::string& t) {
  for (const auto& x : anomaly_types(r)) {
    if (x == t) return true;
  }
  return false;
}

}  // namespace faultline::testing
