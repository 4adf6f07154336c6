// Reporting helpers of the checkers of non-transactional workloads (bank, set-full, counter,
// lww, unique-ids): how an operation appears in details (the shape linearizable uses, which
// report.html links into its timeline: objects with "index", "process" and "f") and in
// explanations ("line N" links too), and a list of anomalies with per-type caps.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness/checker.h"
#include "harness/history.h"

namespace faultline::checkers {

// {"index", "process", "f", "value", "type", "node", "line", "complete_index", "complete_line",
// "result" (ok only), "time", "complete_time"}; absent fields are left out.
Json operation_json(const Operation& op);
// "process 3 on n2 (ok; invoked line 20, completed line 25)"; lines, or op indexes when the
// history was not read from a file.
std::string operation_words(const Operation& op);
// The node an op talked to, or "process P" when the history does not say.
std::string node_of(const Operation& op);
// Nodes some client op talked to that have no entry in `finals` (node -> its final read):
// their final read failed, timed out or was never made (fewer client threads than nodes).
// Checkers report them and judge the nodes they have: this sets
// details["nodes-without-final-read"] and, when there are any, appends "; no final read from
// [...]" to details["summary"].
void report_nodes_without_final_read(const std::vector<Operation>& ops,
                                     const std::map<std::string, const Operation*>& finals,
                                     Json* details);
// "1.250 s" for a time in nanoseconds since the test started.
std::string seconds_text(int64_t time_ns);

class AnomalyList {
 public:
  static constexpr size_t kMaxPerType = 20;
  static constexpr size_t kMaxExplained = 12;
  // Records an anomaly of `type`; `detail` (an object) gets "type" and "explanation". Only the
  // first kMaxPerType of a type are kept; all are counted.
  void add(const std::string& type, const std::string& explanation, Json detail);
  // As add, but make() (-> std::pair<std::string, Json>: explanation, detail) runs only when
  // the anomaly is kept or explained: for checkers that may find millions.
  template <typename Make>
  void add_with(const std::string& type, Make make) {
    if (count(type) < kMaxPerType || explained_ < kMaxExplained) {
      auto [explanation, detail] = make();
      add(type, explanation, std::move(detail));
    } else {
      ++counts_[type];
      ++explained_;
    }
  }
  bool empty() const { return counts_.empty(); }
  size_t count(const std::string& type) const;
  // Adds "anomalies", "anomaly-counts", "anomaly-types" and, when there are anomalies,
  // "explanation" to `details`: one line per anomaly, in the order added, at most
  // kMaxExplained of them but every type at least once (its first anomaly), then how many
  // more.
  void write(Json* details) const;

 private:
  struct Line {
    std::string type, text;
  };
  Json list_ = Json::array();
  std::map<std::string, size_t> counts_;
  // The first kMaxExplained anomalies' lines and the first line of every type, in order.
  std::vector<Line> lines_;
  size_t explained_ = 0;  // anomalies added
};

}  // namespace faultline::checkers
