// Checker "counter": lost updates of read-modify-write counters (the counter workload,
// docs/workloads.md), judged per key against the final reads.
//
// Each increment reads r and writes r + 1 in one transaction, so with n ok increments (and m of
// unknown outcome) the final value must be in [n, n + m]. A violation is
//   - "lost-updates": a node's final value below the ok increments: that many acknowledged
//     increments at least were lost (info ones may also have applied, so this is a lower
//     bound);
//   - "lost-update-pair" (Adya's P4): two ok increments of the key that both claim the same
//     "wrote" value: both read the same version and one overwrote the other; both ops named;
//   - "phantom-increments": a final value above every increment that was tried (n + m);
//   - "divergence": the final reads of the nodes disagree about a key.
// What info means here: an info increment may or may not have applied (it widens the range,
// never makes a violation). A retried increment (ok with "retried": true, its "read"/"wrote"
// null; --retry idempotent) counts as one ok increment: the idempotency key says it applied
// exactly once; it takes part in no pair. Failed increments did not apply.
// Final reads: the ok read-all ops (the workload's final generator, one per node); the last per
// node counts (nodes without one are listed in "nodes-without-final-read", not judged); a key a
// final read does not name reads as 0. No final read: unknown. Single-key
// reads are counted but not judged. Options: none.
#include <map>
#include <set>

#include "checkers/op_report.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

struct KeyStats {
  int64_t ok = 0, info = 0, fail = 0, retried = 0;
  std::map<int64_t, std::vector<const Operation*>> by_wrote;  // wrote -> ok increments
  std::vector<const Operation*> ok_ops;
};

class CounterChecker : public Checker {
 public:
  CheckResult check(const History& history, const CheckContext&) override {
    AnomalyList anomalies;
    std::vector<Operation> ops = client_operations(history);
    std::map<int64_t, KeyStats> keys;
    std::map<std::string, const Operation*> finals;  // node -> last ok read-all
    int64_t reads = 0;
    for (const Operation& op : ops) {
      const std::string& f = op.invoke->f;
      if (f == "read-all") {
        if (op.type() == OpType::kOk) {
          const std::string node = node_of(op);
          finals[node] = &op;
        }
        continue;
      }
      if (f == "read") {
        ++reads;
        continue;
      }
      if (f != "increment") continue;
      const Json& arg = op.invoke->value;
      if (!arg.is_object() || !arg.value("key", Json()).is_number_integer()) continue;
      KeyStats& k = keys[arg["key"].get<int64_t>()];
      switch (op.type()) {
        case OpType::kOk: {
          ++k.ok;
          k.ok_ops.push_back(&op);
          const Json& res = op.complete->value;
          if (res.is_object() && res.value("retried", false)) {
            ++k.retried;
          } else if (res.is_object() && res.value("wrote", Json()).is_number_integer()) {
            k.by_wrote[res["wrote"].get<int64_t>()].push_back(&op);
          }
          break;
        }
        case OpType::kFail:
          ++k.fail;
          break;
        default:
          ++k.info;
          break;
      }
    }
    // Keys named by final reads count too (a key nobody incremented must read 0).
    for (const auto& [node, op] : finals) {
      if (!op->complete->value.is_object()) continue;
      for (const auto& [key, v] : op->complete->value.items()) {
        try {
          keys[std::stoll(key)];
        } catch (const std::exception&) {
        }
      }
    }

    Json per_key = Json::object();
    int64_t lost_total = 0, pairs = 0;
    // Plain names, not structured bindings: lambdas below capture them (clang 14 cannot
    // capture a binding).
    for (auto& key_entry : keys) {
      const int64_t key = key_entry.first;
      KeyStats& k = key_entry.second;
      const std::string key_text = std::to_string(key);
      // P4 pairs.
      for (const auto& entry : k.by_wrote) {
        const int64_t wrote = entry.first;
        const std::vector<const Operation*>& list = entry.second;
        for (size_t i = 1; i < list.size(); ++i) {
          ++pairs;
          anomalies.add_with("lost-update-pair", [&] {
            return std::pair<std::string, Json>(
                "key " + key_text + ": two acknowledged increments both wrote " +
                    std::to_string(wrote) + " (both read " + std::to_string(wrote - 1) +
                    "): " + operation_words(*list[0]) + " and " + operation_words(*list[i]) +
                    "; one update overwrote the other",
                {{"key", key},
                 {"wrote", wrote},
                 {"ops", {operation_json(*list[0]), operation_json(*list[i])}}});
          });
        }
      }
      Json values = Json::object();
      std::set<int64_t> distinct;
      for (const auto& [node, op] : finals) {
        const Json& all = op->complete->value;
        int64_t v = 0;
        if (all.is_object() && all.contains(key_text) && all[key_text].is_number_integer()) {
          v = all[key_text].get<int64_t>();
        }
        values[node] = v;
        distinct.insert(v);
      }
      per_key[key_text] = {{"ok", k.ok},
                           {"info", k.info},
                           {"fail", k.fail},
                           {"retried", k.retried},
                           {"final", values}};
      if (finals.empty()) continue;
      if (distinct.size() > 1) {
        Json involved = Json::array();
        for (const auto& [node, op] : finals) involved.push_back(operation_json(*op));
        anomalies.add("divergence",
                      "key " + key_text + ": the final reads disagree: " + json_text(values),
                      {{"key", key}, {"values", values}, {"ops", involved}});
      }
      for (const auto& [node, op] : finals) {
        const int64_t v = values[node].get<int64_t>();
        if (v < k.ok) {
          lost_total = std::max(lost_total, k.ok - v);
          Json involved = {operation_json(*op)};
          for (const auto& [wrote, list] : k.by_wrote) {
            if (list.size() < 2) continue;
            for (const Operation* o : list) {
              if (involved.size() < 12) involved.push_back(operation_json(*o));
            }
          }
          anomalies.add(
              "lost-updates",
              "key " + key_text + ": " + std::to_string(k.ok) +
                  " increments were acknowledged, but the final read on " + node + " (" +
                  operation_words(*op) + ") is " + std::to_string(v) + ": at least " +
                  std::to_string(k.ok - v) + " acknowledged increment(s) lost" +
                  (k.info ? " (" + std::to_string(k.info) + " more had unknown outcomes)" : ""),
              {{"key", key},
               {"node", node},
               {"final", v},
               {"ok", k.ok},
               {"info", k.info},
               {"lost", k.ok - v},
               {"ops", involved}});
        } else if (v > k.ok + k.info) {
          anomalies.add("phantom-increments",
                        "key " + key_text + ": the final read on " + node + " (" +
                            operation_words(*op) + ") is " + std::to_string(v) +
                            ", more than the " + std::to_string(k.ok + k.info) +
                            " increments that may have applied (ok and info)",
                        {{"key", key},
                         {"node", node},
                         {"final", v},
                         {"ok", k.ok},
                         {"info", k.info},
                         {"ops", {operation_json(*op)}}});
        }
      }
    }

    CheckResult r;
    r.validity = !anomalies.empty() ? Validity::kInvalid
                 : finals.empty()   ? Validity::kUnknown
                                    : Validity::kValid;
    int64_t ok = 0;
    for (const auto& [key, k] : keys) ok += k.ok;
    std::string summary = std::to_string(keys.size()) + " keys, " + std::to_string(ok) +
                          " ok increments, " + std::to_string(finals.size()) + " final reads, " +
                          std::to_string(lost_total) + " lost (most on one key), " +
                          std::to_string(pairs) + " lost-update pairs";
    if (finals.empty()) summary += "; no final read";
    r.details = {{"summary", summary},           {"keys", per_key},
                 {"ok-increments", ok},          {"reads", reads},
                 {"final-reads", finals.size()}, {"lost-update-pairs", pairs}};
    report_nodes_without_final_read(ops, finals, &r.details);
    anomalies.write(&r.details);
    return r;
  }
};

const bool registered = CheckerRegistry::add(
    "checker", "counter",
    "counter: lost updates of read-modify-write increments (final values, P4 pairs, divergence)",
    [](const Json& options) -> std::unique_ptr<Checker> {
      reject_unknown_options(options, {}, "counter");
      return std::make_unique<CounterChecker>();
    });

}  // namespace
}  // namespace faultline::checkers
