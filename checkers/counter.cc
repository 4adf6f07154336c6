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
// One cause, one anomaly: the final reads of a key are judged together, so a key whose
// increments were lost is one "lost-updates" anomaly naming every node whose final value is
// short (not one per node), and a key whose final reads are too high is one
// "phantom-increments". When the key's P4 groups account for the whole shortfall (every node's
// final value is at least the ok increments minus the increments the groups lost), the
// shortfall is also data of the first "lost-update-pair" anomaly ("final", "explains-lost"),
// and the key's "lost-updates" says "explained-by-lost-update-pairs" (it stays: the final
// values are a second observation, and the type the workload tests look for). Increments that all
// claim one "wrote" value are one "lost-update-pair" anomaly naming all of them (count:
// "lost-update-pairs", one per increment beyond the first). Disagreeing final reads are data
// ("diverged", "values") of the key's lost-updates or phantom-increments anomaly when there is one,
// and a "divergence" anomaly otherwise. What info means here: an info increment may or may not have
// applied (it widens the range, never makes a violation). A retried increment (ok with "retried":
// true, its "read"/"wrote" null; --retry idempotent) counts as one ok increment: the idempotency
// key says it applied exactly once; it takes part in no pair. Failed increments did not apply.
// Final reads: the ok read-all ops (the workload's final generator, one per node); the last per
// node counts (nodes without one are listed in "nodes-without-final-read", not judged); a key a
// final read does not name reads as 0. No final read: unknown. Single-key
// reads are counted but not judged. Options: none.
#include <map>
#include <set>

#include "checkers/op_report.h"
#include "harness/options.h"
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
      // P4: increments that claim the same "wrote" value.
      std::vector<std::pair<int64_t, const std::vector<const Operation*>*>> groups;
      int64_t group_lost = 0;
      for (const auto& entry : k.by_wrote) {
        if (entry.second.size() < 2) continue;
        groups.emplace_back(entry.first, &entry.second);
        group_lost += static_cast<int64_t>(entry.second.size()) - 1;
      }
      pairs += group_lost;
      // Final reads.
      Json values = Json::object();
      std::set<int64_t> distinct;
      std::vector<std::string> low, high;  // nodes below the ok increments, above ok + info
      int64_t shortfall = 0;
      for (const auto& [node, op] : finals) {
        const Json& all = op->complete->value;
        int64_t v = 0;
        if (all.is_object() && all.contains(key_text) && all[key_text].is_number_integer()) {
          v = all[key_text].get<int64_t>();
        }
        values[node] = v;
        distinct.insert(v);
        if (v < k.ok) {
          low.push_back(node);
          shortfall = std::max(shortfall, k.ok - v);
        } else if (v > k.ok + k.info) {
          high.push_back(node);
        }
      }
      lost_total = std::max(lost_total, shortfall);
      per_key[key_text] = {{"ok", k.ok},
                           {"info", k.info},
                           {"fail", k.fail},
                           {"retried", k.retried},
                           {"final", values}};
      const bool diverged = distinct.size() > 1;
      const std::string disagree =
          diverged ? "; the final reads disagree: " + json_text(values) : std::string();
      auto node_ops = [&](const std::vector<std::string>& nodes) {
        Json out = Json::array();
        for (const auto& node : nodes) out.push_back(operation_json(*finals.at(node)));
        return out;
      };
      auto node_words = [&](const std::vector<std::string>& nodes) {
        std::string out;
        for (const auto& node : nodes) {
          out += (out.empty() ? "" : "; ") + node + " (" + operation_words(*finals.at(node)) +
                 ") reads " + std::to_string(values[node].get<int64_t>());
        }
        return out;
      };
      // The shortfall is explained by the P4 groups when they lost at least as much.
      const bool explained = !low.empty() && !groups.empty() && shortfall <= group_lost;
      bool divergence_told = false;
      for (size_t g = 0; g < groups.size(); ++g) {
        const int64_t wrote = groups[g].first;
        const std::vector<const Operation*>& list = *groups[g].second;
        const bool with_finals = explained && g == 0;
        anomalies.add_with("lost-update-pair", [&] {
          std::string who;
          Json involved = Json::array();
          for (size_t i = 0; i < list.size(); ++i) {
            who += (i == 0                 ? ""
                    : i + 1 == list.size() ? " and "
                                           : ", ") +
                   operation_words(*list[i]);
            if (involved.size() < 12) involved.push_back(operation_json(*list[i]));
          }
          std::string text =
              "key " + key_text + ": " +
              (list.size() == 2 ? std::string("two") : std::to_string(list.size())) +
              " acknowledged increments " + (list.size() == 2 ? "both" : "all") + " wrote " +
              std::to_string(wrote) + " (" + (list.size() == 2 ? "both" : "all") + " read " +
              std::to_string(wrote - 1) + "): " + who + "; " +
              (list.size() == 2 ? std::string("one update overwrote the other")
                                : std::to_string(list.size() - 1) + " updates were overwritten");
          Json detail = {
              {"key", key}, {"wrote", wrote}, {"lost", list.size() - 1}, {"ops", involved}};
          if (with_finals) {
            text += "; that explains the final value" + std::string(low.size() > 1 ? "s" : "") +
                    " " + std::to_string(shortfall) + " short of the " + std::to_string(k.ok) +
                    " acknowledged increments: " + node_words(low) + disagree;
            detail["final"] = values;
            detail["explains-lost"] = shortfall;
            detail["nodes"] = low;
            detail["diverged"] = diverged;
            for (auto& o : node_ops(low)) detail["ops"].push_back(o);
          }
          return std::pair<std::string, Json>(text, std::move(detail));
        });
      }
      if (finals.empty()) continue;
      // Kept even when the P4 groups explain it: the final values are a second observation
      // (and the type callers look for), named as explained in its data.
      if (!low.empty()) {
        divergence_told |= diverged;
        Json involved = node_ops(low);
        for (const auto& [wrote, list] : groups) {
          for (const Operation* o : *list) {
            if (involved.size() < 12) involved.push_back(operation_json(*o));
          }
        }
        anomalies.add(
            "lost-updates",
            "key " + key_text + ": " + std::to_string(k.ok) +
                " increments were acknowledged, but the final read" + (low.size() > 1 ? "s" : "") +
                " " + node_words(low) + ": at least " + std::to_string(shortfall) +
                " acknowledged increment(s) lost" +
                (k.info ? " (" + std::to_string(k.info) + " more had unknown outcomes)" : "") +
                disagree,
            {{"key", key},
             {"node", low.front()},
             {"nodes", low},
             {"final", values[low.front()]},
             {"values", values},
             {"diverged", diverged},
             {"ok", k.ok},
             {"info", k.info},
             {"lost", shortfall},
             {"explained-by-lost-update-pairs", explained},
             {"ops", involved}});
      }
      if (!high.empty()) {
        const std::string told = divergence_told ? std::string() : disagree;
        divergence_told |= diverged;
        anomalies.add("phantom-increments",
                      "key " + key_text + ": the final read" + (high.size() > 1 ? "s" : "") + " " +
                          node_words(high) + ", more than the " + std::to_string(k.ok + k.info) +
                          " increments that may have applied (ok and info)" + told,
                      {{"key", key},
                       {"node", high.front()},
                       {"nodes", high},
                       {"final", values[high.front()]},
                       {"values", values},
                       {"diverged", diverged},
                       {"ok", k.ok},
                       {"info", k.info},
                       {"ops", node_ops(high)}});
      }
      if (diverged && !divergence_told) {
        Json involved = Json::array();
        for (const auto& [node, op] : finals) involved.push_back(operation_json(*op));
        anomalies.add("divergence",
                      "key " + key_text + ": the final reads disagree: " + json_text(values),
                      {{"key", key}, {"values", values}, {"ops", involved}});
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
      const Options o(options, {}, "counter");
      return std::make_unique<CounterChecker>();
    });

}  // namespace
}  // namespace faultline::checkers
