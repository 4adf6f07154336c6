// Checker "lww": last-writer-wins conflict resolution judged by real time (the lww workload,
// docs/workloads.md).
//
// Final reads: the ok read-all ops (one per node, after heal); the last per node counts; nodes
// without one are listed in "nodes-without-final-read" and not judged. For
// each key the surviving value is what the final reads hold. A violation is
//   - "divergence": the final reads of the nodes disagree about a key (or only some name it);
//   - "lost-later-write" (a real-time inversion): an ok write B of the key was invoked after the
//     surviving write W had completed, yet W's value survived. In real time B came last, so a
//     last-writer-wins database that orders writes by real time keeps B; one that orders them
//     by its nodes' clocks loses B when B's node's clock was behind W's. Each is explained with
//     both writes, their nodes, their times, and the clock offsets of the two nodes at those
//     times, from the clock nemesis's ops in the history (nemesis ops whose completion value
//     has "offsets-ms": {node: ms}: bump-clock, strobe-clock, reset-clock,
//     check-clock-offsets; the latest one before each time);
//   - "garbage": a surviving value no write of the key wrote;
//   - "failed-write-survived": a surviving value whose only write failed.
// What info means here: an info write may have applied at any time after its invocation, so it
// may survive, and when it is the survivor no inversion is claimed (its completion time is
// unknown); an info or failed B is not claimed lost (it may never have applied). Real-time order
// is the history's order (completion index before invocation index), as in linearizability;
// times are only for the words. No final read: unknown. Options: none.
#include <map>
#include <set>

#include "checkers/op_report.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

bool is_clock_op(const Op& op) {
  return op.is_nemesis() && op.value.is_object() && op.value.contains("offsets-ms") &&
         op.value["offsets-ms"].is_object();
}

class LwwChecker : public Checker {
 public:
  CheckResult check(const History& history, const CheckContext&) override {
    AnomalyList anomalies;
    // Clock offsets recorded by the nemesis, by history index.
    std::vector<const Op*> clock_ops;
    for (const Op& op : history) {
      if (is_clock_op(op)) clock_ops.push_back(&op);
    }
    auto offsets_at = [&](int64_t index) -> const Op* {
      const Op* found = nullptr;
      for (const Op* c : clock_ops) {
        if (c->index > index) break;
        found = c;
      }
      return found;
    };
    // Before the first clock op the nemesis had not moved any clock (it resets them at setup).
    auto offset_words = [&](const std::string& node, int64_t index) {
      const Op* c = offsets_at(index);
      if (!c) return node + " +0 ms (before the first clock nemesis op)";
      const Json& o = c->value["offsets-ms"];
      std::string ms = o.contains(node) ? json_text(o[node]) : std::string("0");
      if (!ms.empty() && ms[0] != '-') ms = "+" + ms;
      return node + " " + ms + " ms (as of the clock nemesis's " + c->f + " at " +
             seconds_text(c->time_ns) + ")";
    };
    auto offset_json = [&](const std::string& node, int64_t index) -> Json {
      const Op* c = offsets_at(index);
      if (!c) return nullptr;
      const Json& o = c->value["offsets-ms"];
      return {{"node", node},
              {"offset-ms", o.contains(node) ? o[node] : Json(0)},
              {"nemesis-index", c->index},
              {"nemesis-f", c->f}};
    };

    std::vector<Operation> ops = client_operations(history);
    std::map<int64_t, std::vector<const Operation*>> writes;               // key -> writes
    std::map<std::pair<int64_t, std::string>, const Operation*> by_value;  // (key, x text)
    std::map<std::string, const Operation*> finals;
    std::map<std::string, int64_t> write_counts;
    for (const Operation& op : ops) {
      if (op.invoke->f == "read-all") {
        if (op.type() == OpType::kOk) {
          const std::string node = node_of(op);
          finals[node] = &op;
        }
        continue;
      }
      if (op.invoke->f != "write") continue;
      ++write_counts[std::string(to_string(op.type()))];
      const Json& v = op.invoke->value;
      if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer()) continue;
      const int64_t key = v[0].get<int64_t>();
      writes[key].push_back(&op);
      by_value[{key, json_text(v[1])}] = &op;
    }

    // Survivors per key, across nodes.
    std::map<int64_t, std::map<std::string, Json>> survivors;  // key -> node -> value
    for (const auto& [node, op] : finals) {
      const Json& all = op->complete->value;
      if (!all.is_object()) continue;
      for (const auto& [k, v] : all.items()) {
        try {
          survivors[std::stoll(k)][node] = v;
        } catch (const std::exception&) {
        }
      }
    }
    Json per_key = Json::object();
    int64_t inversions = 0;
    for (const auto& survivor : survivors) {
      const int64_t key = survivor.first;  // a plain name: the lambda below captures it
      const std::map<std::string, Json>& by_node = survivor.second;
      const std::string key_text = std::to_string(key);
      std::set<std::string> distinct;
      for (const auto& [node, v] : by_node) distinct.insert(json_text(v));
      Json node_values = Json::object();
      for (const auto& [node, v] : by_node) node_values[node] = v;
      if (distinct.size() > 1 || by_node.size() != finals.size()) {
        Json involved = Json::array();
        for (const auto& [node, op] : finals) involved.push_back(operation_json(*op));
        anomalies.add("divergence",
                      "key " + key_text + ": the final reads disagree: " + json_text(node_values) +
                          " (" + std::to_string(finals.size()) + " nodes read)",
                      {{"key", key}, {"values", node_values}, {"ops", involved}});
      }
      Json key_detail = {{"survivors", node_values}, {"writes", writes[key].size()}};
      for (const std::string& x : distinct) {
        auto w_it = by_value.find({key, x});
        if (w_it == by_value.end()) {
          anomalies.add("garbage",
                        "key " + key_text + ": the final reads hold " + x +
                            ", which no write of the key wrote",
                        {{"key", key}, {"value", Json::parse(x)}});
          continue;
        }
        const Operation& w = *w_it->second;
        if (w.type() == OpType::kFail) {
          anomalies.add("failed-write-survived",
                        "key " + key_text + ": " + x +
                            " survived, but its write failed: " + operation_words(w),
                        {{"key", key}, {"ops", {operation_json(w)}}});
          continue;
        }
        if (w.type() != OpType::kOk) continue;  // an info survivor: no claim
        const Op& w_done = *w.complete;
        int64_t lost_here = 0;
        for (const Operation* b : writes[key]) {
          if (b == &w || b->type() != OpType::kOk) continue;
          if (b->invoke->index <= w_done.index) continue;  // not after W in real time
          ++inversions;
          ++lost_here;
          const std::string w_node = w.invoke->node.empty() ? "?" : w.invoke->node;
          const std::string b_node = b->invoke->node.empty() ? "?" : b->invoke->node;
          anomalies.add_with("lost-later-write", [&] {
            const std::string offsets =
                clock_ops.empty()
                    ? std::string("unknown (no clock nemesis op in the history)")
                    : offset_words(w_node, w_done.index) + " when the first finished; " +
                          offset_words(b_node, b->invoke->index) + " when the second started";
            return std::pair<std::string, Json>(
                "key " + key_text + ": write " + x + " by " + operation_words(w) + " finished at " +
                    seconds_text(w_done.time_ns) + "; write " + json_text(b->invoke->value[1]) +
                    " by " + operation_words(*b) + " started at " +
                    seconds_text(b->invoke->time_ns) + ", after it, and was acknowledged, yet " +
                    x + " survived: the later write lost. Clock offsets: " + offsets,
                {{"key", key},
                 {"survivor", Json::parse(x)},
                 {"ops", {operation_json(w), operation_json(*b)}},
                 {"offsets",
                  {offset_json(w_node, w_done.index), offset_json(b_node, b->invoke->index)}}});
          });
        }
        key_detail["lost-later-writes"] = lost_here;
      }
      per_key[key_text] = key_detail;
    }

    CheckResult r;
    r.validity = !anomalies.empty() ? Validity::kInvalid
                 : finals.empty()   ? Validity::kUnknown
                                    : Validity::kValid;
    std::string summary = std::to_string(writes.size()) + " keys, " +
                          std::to_string(write_counts["ok"]) + " ok writes, " +
                          std::to_string(finals.size()) + " final reads, " +
                          std::to_string(inversions) + " later writes lost, " +
                          std::to_string(clock_ops.size()) + " clock nemesis ops";
    if (finals.empty()) summary += "; no final read";
    r.details = {
        {"summary", summary}, {"writes", write_counts},          {"final-reads", finals.size()},
        {"keys", per_key},    {"lost-later-writes", inversions}, {"clock-ops", clock_ops.size()}};
    report_nodes_without_final_read(ops, finals, &r.details);
    anomalies.write(&r.details);
    return r;
  }
};

const bool registered = CheckerRegistry::add(
    "checker", "lww",
    "lww: surviving values vs real-time order of writes (later writes lost), with clock offsets",
    [](const Json& options) -> std::unique_ptr<Checker> {
      reject_unknown_options(options, {}, "lww");
      return std::make_unique<LwwChecker>();
    });

}  // namespace
}  // namespace faultline::checkers
