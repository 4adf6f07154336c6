// Micro-histories for the checkers of non-transactional workloads (bank, set-full, counter,
// lww, unique-ids): ops written one by one, each 1 ms after the previous one.
#pragma once

#include <string>
#include <vector>

#include "harness/checker.h"
#include "harness/history.h"

namespace faultline::testing {

class OpHistory {
 public:
  // An invocation on `process` (talking to `node`); `extra` as the op's other fields.
  OpHistory& invoke(int64_t process, const std::string& f, Json value, const std::string& node = "",
                    Json extra = nullptr) {
    Op op = make(process, OpType::kInvoke, f, std::move(value));
    op.node = node;
    op.extra = std::move(extra);
    open_[process] = op;
    ops_.push_back(std::move(op));
    return *this;
  }
  OpHistory& ok(int64_t process, Json value) { return complete(process, OpType::kOk, value); }
  OpHistory& fail(int64_t process) { return complete(process, OpType::kFail, nullptr, "no"); }
  OpHistory& info(int64_t process) { return complete(process, OpType::kInfo, nullptr, "timeout"); }
  // invoke + ok at once.
  OpHistory& call(int64_t process, const std::string& f, Json value, Json result,
                  const std::string& node = "", Json extra = nullptr) {
    invoke(process, f, std::move(value), node, std::move(extra));
    return ok(process, std::move(result));
  }
  // A nemesis op pair: the invocation (value `arg`) and its completion (value `result`).
  OpHistory& nemesis(const std::string& f, Json arg, Json result) {
    ops_.push_back(make(kNemesisProcess, OpType::kInfo, f, std::move(arg)));
    ops_.push_back(make(kNemesisProcess, OpType::kInfo, f, std::move(result)));
    return *this;
  }
  // The two halves of a nemesis op, for ops that overlap client ops.
  OpHistory& nemesis_invoke(const std::string& f, Json arg) {
    ops_.push_back(make(kNemesisProcess, OpType::kInfo, f, std::move(arg)));
    return *this;
  }
  OpHistory& nemesis_complete(const std::string& f, Json result) {
    ops_.push_back(make(kNemesisProcess, OpType::kInfo, f, std::move(result)));
    return *this;
  }
  History build() const { return History::build_or_throw(ops_, "test"); }

 private:
  Op make(int64_t process, OpType type, const std::string& f, Json value) {
    Op op;
    op.process = process;
    op.type = type;
    op.f = f;
    op.value = std::move(value);
    op.time_ns = static_cast<int64_t>(ops_.size()) * 1'000'000;
    return op;
  }
  OpHistory& complete(int64_t process, OpType type, Json value, Json error = nullptr) {
    const Op& inv = open_.at(process);
    Op op = make(process, type, inv.f, std::move(value));
    op.node = inv.node;
    op.extra = inv.extra;
    op.error = std::move(error);
    ops_.push_back(std::move(op));
    return *this;
  }
  std::vector<Op> ops_;
  std::map<int64_t, Op> open_;
};

inline CheckResult check_with(const std::string& checker, const History& h,
                              Json options = Json::object()) {
  return CheckerRegistry::get("checker", checker)(options)->check(h, CheckContext{});
}

inline bool has_anomaly(const CheckResult& r, const std::string& type) {
  return r.details.contains("anomaly-counts") && r.details["anomaly-counts"].contains(type);
}

inline int64_t anomaly_count(const CheckResult& r, const std::string& type) {
  return has_anomaly(r, type) ? r.details["anomaly-counts"][type].get<int64_t>() : 0;
}

}  // namespace faultline::testing
