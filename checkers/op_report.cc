#include "checkers/op_report.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace faultline::checkers {

Json operation_json(const Operation& op) {
  const Op& inv = *op.invoke;
  Json j = {{"index", inv.index},
            {"process", inv.is_nemesis() ? Json("nemesis") : Json(inv.process)},
            {"f", inv.f},
            {"value", inv.value},
            {"type", std::string(to_string(op.type()))}};
  if (!inv.node.empty()) j["node"] = inv.node;
  if (inv.line > 0) j["line"] = inv.line;
  if (inv.time_ns != kNoTime) j["time"] = inv.time_ns;
  if (op.complete) {
    j["complete_index"] = op.complete->index;
    if (op.complete->line > 0) j["complete_line"] = op.complete->line;
    if (op.complete->type == OpType::kOk) j["result"] = op.complete->value;
    if (!op.complete->error.is_null()) j["error"] = op.complete->error;
    if (op.complete->time_ns != kNoTime) j["complete_time"] = op.complete->time_ns;
  }
  return j;
}

std::string operation_words(const Operation& op) {
  auto where = [](const Op& o) {
    return o.line > 0 ? "line " + std::to_string(o.line) : "op " + std::to_string(o.index);
  };
  const Op& inv = *op.invoke;
  std::string s = "process " + std::to_string(inv.process);
  if (!inv.node.empty()) s += " on " + inv.node;
  s += " (" + std::string(to_string(op.type())) + "; invoked " + where(inv);
  s += op.complete ? ", completed " + where(*op.complete) : std::string(", never completed");
  return s + ")";
}

std::string node_of(const Operation& op) {
  return op.invoke->node.empty() ? "process " + std::to_string(op.invoke->process)
                                 : op.invoke->node;
}

void report_nodes_without_final_read(const std::vector<Operation>& ops,
                                     const std::map<std::string, const Operation*>& finals,
                                     Json* details) {
  std::set<std::string> missing;
  for (const Operation& op : ops) {
    if (!op.invoke->node.empty() && !finals.count(op.invoke->node)) missing.insert(op.invoke->node);
  }
  const Json without(missing);
  (*details)["nodes-without-final-read"] = without;
  if (!without.empty()) {
    (*details)["summary"] =
        (*details)["summary"].get<std::string>() + "; no final read from " + json_text(without);
  }
}

std::string seconds_text(int64_t time_ns) {
  if (time_ns == kNoTime) return "an unknown time";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(time_ns) / 1e9);
  return buf;
}

void AnomalyList::add(const std::string& type, const std::string& explanation, Json detail) {
  if (++counts_[type] <= kMaxPerType) {
    if (!detail.is_object()) detail = Json::object();
    detail["type"] = type;
    detail["explanation"] = explanation;
    list_.push_back(std::move(detail));
  }
  if (explained_ < kMaxExplained || counts_[type] == 1) lines_.push_back({type, explanation});
  ++explained_;
}

size_t AnomalyList::count(const std::string& type) const {
  auto it = counts_.find(type);
  return it == counts_.end() ? 0 : it->second;
}

void AnomalyList::write(Json* details) const {
  Json counts = Json::object();
  Json types = Json::array();
  for (const auto& [type, n] : counts_) {
    counts[type] = n;
    types.push_back(type);
  }
  (*details)["anomalies"] = list_;
  (*details)["anomaly-counts"] = counts;
  (*details)["anomaly-types"] = types;
  if (!lines_.empty()) {
    // The first line of each type, then the others in order up to kMaxExplained.
    std::vector<std::string> types;
    for (const Line& l : lines_) types.push_back(l.type);
    const std::vector<bool> shown = first_of_each_type(types, kMaxExplained);
    const size_t n = static_cast<size_t>(std::count(shown.begin(), shown.end(), true));
    std::string e;
    for (size_t i = 0; i < lines_.size(); ++i) {
      if (shown[i]) e += (e.empty() ? "" : "\n") + lines_[i].text;
    }
    if (explained_ > n) {
      e += "\n(" + std::to_string(explained_ - n) +
           " more anomalies in the details' \"anomalies\" and \"anomaly-counts\")";
    }
    (*details)["explanation"] = e;
  }
}

}  // namespace faultline::checkers
