// Checker "set-full": the set workload's final reads (after Jepsen's set checker, with
// convergence across nodes in the spirit of its set-full).
//
// Final reads: the ok reads whose op carries the extra field "final": true (the set workload
// marks the reads its final generator makes on every node after heal). When no read carries the
// mark (a history from elsewhere), the ok reads invoked after the last add completed. Per node
// (the op's node, or its process when the node is unknown) the last final read counts; nodes
// without one (its read failed, or fewer client threads than nodes) are listed in
// "nodes-without-final-read" and not judged.
//
// A violation is
//   - "lost": an acknowledged (ok) add whose element is in no final read;
//   - "divergence": the final reads of the nodes differ (no convergence after heal); reported
//     per node with the elements the other nodes read and this one did not, and the reverse;
//   - "unexpected": an element in an ok read (final or not) that no add ever tried to add;
//   - "duplicate": an element twice in one ok read;
//   - "failed-add-present": an element in an ok read whose only adds failed (fail means the
//     add certainly did not happen).
// One cause, one anomaly: a misrecorded op shows in every read after it (an add recorded as
// failed that did apply is in every later read; an add whose value was recorded wrong puts an
// unexpected element in all of them). So "unexpected", "duplicate" and "failed-add-present" are
// reported per element, not per read, and elements that the same reads show (same first and
// last read, same number of reads) are one anomaly, naming the first and last read and
// counting them. "divergence" is one anomaly per distinct set of missing elements, naming every
// node that lacks exactly that set.
// Info adds (unknown outcome) may or may not be in the final reads: those that are count as
// "recovered", those that are not as "info-absent"; neither is a violation. No final read:
// unknown. Options: none.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "checkers/op_report.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

std::string elements_text(const std::set<int64_t>& s, size_t max = 20) {
  std::string out = "[";
  size_t i = 0;
  for (int64_t x : s) {
    if (i == max) {
      out += ", ... (" + std::to_string(s.size()) + " in all)";
      break;
    }
    out += (i++ ? ", " : "") + std::to_string(x);
  }
  return out + "]";
}

Json first_elements(const std::set<int64_t>& s, size_t max = 100) {
  Json out = Json::array();
  for (int64_t x : s) {
    if (out.size() == max) break;
    out.push_back(x);
  }
  return out;
}

// Elements of one kind of violation (unexpected, duplicate, failed-add-present) and the ok
// reads that showed them.
class SeenElements {
 public:
  void see(int64_t x, const Operation* read) {
    Seen& s = seen_[x];
    if (!s.first) s.first = read;
    if (s.last != read) {
      s.last = read;
      ++s.reads;
    }
  }
  // One anomaly of `type` per group of elements the same reads showed (same first and last
  // read, same count), in order of their first read; `add_ops(x, &ops)` adds ops that explain
  // element x.
  template <typename AddOps>
  void report(AnomalyList* anomalies, const std::string& type, const std::string& what,
              AddOps add_ops) const {
    std::map<std::tuple<int64_t, int64_t, int64_t>, std::set<int64_t>> groups;
    for (const auto& [x, s] : seen_) {
      groups[{s.first->invoke->index, s.last->invoke->index, s.reads}].insert(x);
    }
    for (const auto& [key, xs] : groups) {
      const Seen& s = seen_.at(*xs.begin());
      Json involved = {operation_json(*s.first)};
      if (s.last != s.first) involved.push_back(operation_json(*s.last));
      for (int64_t x : xs) add_ops(x, &involved);
      std::string text = "read by " + operation_words(*s.first) + " holds element(s) " +
                         elements_text(xs) + " " + what;
      if (s.reads > 1) {
        text += "; so do " + std::to_string(s.reads - 1) + " later ok read(s), the last by " +
                operation_words(*s.last);
      }
      anomalies->add(type, text,
                     {{"ops", involved},
                      {"elements", first_elements(xs)},
                      {"element-count", xs.size()},
                      {"reads", s.reads},
                      {"first-read", operation_json(*s.first)},
                      {"last-read", operation_json(*s.last)}});
    }
  }

 private:
  struct Seen {
    const Operation* first = nullptr;
    const Operation* last = nullptr;
    int64_t reads = 0;
  };
  std::map<int64_t, Seen> seen_;
};

class SetFullChecker : public Checker {
 public:
  CheckResult check(const History& history, const CheckContext&) override {
    AnomalyList anomalies;
    std::vector<Operation> ops = client_operations(history);
    // Adds per element.
    std::map<int64_t, std::vector<const Operation*>> adds;
    int64_t last_add_done = -1;
    bool marked = false;
    std::map<std::string, int64_t> add_counts;
    for (const Operation& op : ops) {
      if (op.invoke->f == "add") {
        ++add_counts[std::string(to_string(op.type()))];
        if (op.invoke->value.is_number_integer()) {
          adds[op.invoke->value.get<int64_t>()].push_back(&op);
        }
        last_add_done =
            std::max(last_add_done, op.complete ? op.complete->index : op.invoke->index);
      } else if (op.invoke->f == "read" && op.invoke->extra.is_object() &&
                 op.invoke->extra.value("final", false)) {
        marked = true;
      }
    }
    // Element -> whether every add of it failed; hashed, as every element of every read is
    // looked up (reads grow with the set: this loop is the checker's cost).
    std::unordered_map<int64_t, bool> all_adds_failed;
    all_adds_failed.reserve(adds.size());
    for (const auto& [x, list] : adds) {
      bool all_failed = true;
      for (const Operation* add : list) all_failed &= add->type() == OpType::kFail;
      all_adds_failed.emplace(x, all_failed);
    }
    // Every ok read: unexpected elements, duplicates, failed adds present.
    std::map<std::string, const Operation*> final_by_node;
    std::vector<int64_t> elements;
    SeenElements unexpected, failed, duplicated;
    int64_t ok_reads = 0;
    for (const Operation& op : ops) {
      if (op.invoke->f != "read" || op.type() != OpType::kOk) continue;
      ++ok_reads;
      const Json& v = op.complete->value;
      if (!v.is_array()) {
        anomalies.add("malformed-read",
                      "read by " + operation_words(op) + " returned " + json_text(v) +
                          ", not a list of elements",
                      {{"ops", {operation_json(op)}}});
        continue;
      }
      std::set<int64_t> dups;
      elements.clear();
      for (const auto& e : v) {
        if (!e.is_number_integer()) continue;
        const int64_t x = e.get<int64_t>();
        elements.push_back(x);
        auto a = all_adds_failed.find(x);
        if (a == all_adds_failed.end()) {
          unexpected.see(x, &op);
        } else if (a->second) {
          failed.see(x, &op);
        }
      }
      std::sort(elements.begin(), elements.end());
      for (size_t i = 1; i < elements.size(); ++i) {
        if (elements[i] == elements[i - 1]) dups.insert(elements[i]);
      }
      for (int64_t x : dups) duplicated.see(x, &op);
      const bool is_final =
          marked ? op.invoke->extra.is_object() && op.invoke->extra.value("final", false)
                 : op.invoke->index > last_add_done;
      if (is_final) {
        const std::string node = node_of(op);
        final_by_node[node] = &op;  // the last one per node
      }
    }

    duplicated.report(&anomalies, "duplicate", "more than once", [](int64_t, Json*) {});
    unexpected.report(&anomalies, "unexpected", "that no add ever added", [](int64_t, Json*) {});
    failed.report(&anomalies, "failed-add-present", "whose adds all failed",
                  [&](int64_t x, Json* involved) {
                    for (const Operation* add : adds[x]) {
                      if (involved->size() < 12) involved->push_back(operation_json(*add));
                    }
                  });

    CheckResult r;
    std::map<std::string, std::set<int64_t>> final_sets;
    std::set<int64_t> union_all;
    for (const auto& [node, op] : final_by_node) {
      std::set<int64_t>& s = final_sets[node];
      if (op->complete->value.is_array()) {
        for (const auto& e : op->complete->value) {
          if (e.is_number_integer()) s.insert(e.get<int64_t>());
        }
      }
      union_all.insert(s.begin(), s.end());
    }
    // Lost and recovered.
    std::set<int64_t> lost, recovered, info_absent;
    int64_t acknowledged = 0;
    for (const auto& [x, list] : adds) {
      bool ok = false, info = false;
      for (const Operation* add : list) {
        ok |= add->type() == OpType::kOk;
        info |= add->type() == OpType::kInfo;
      }
      acknowledged += ok;
      const bool present = union_all.count(x) > 0;
      if (ok && !present) lost.insert(x);
      if (!ok && info) (present ? recovered : info_absent).insert(x);
    }
    if (!final_by_node.empty() && !lost.empty()) {
      Json involved = Json::array();
      const Operation* first = nullptr;
      for (int64_t x : lost) {
        for (const Operation* add : adds[x]) {
          if (add->type() != OpType::kOk) continue;
          if (!first) first = add;
          if (involved.size() < 20) involved.push_back(operation_json(*add));
        }
      }
      anomalies.add(
          "lost",
          std::to_string(lost.size()) + " acknowledged add(s) are in no final read: " +
              elements_text(lost) + " (the first added by " + operation_words(*first) + ")",
          {{"ops", involved}, {"elements", first_elements(lost)}, {"count", lost.size()}});
    }
    // Convergence: nodes that lack the same elements are one anomaly.
    Json per_node = Json::object();
    bool converged = true;
    std::map<std::set<int64_t>, std::vector<std::string>> lacking;  // missing -> nodes
    for (const auto& [node, s] : final_sets) {
      std::set<int64_t> missing;
      for (int64_t x : union_all) {
        if (!s.count(x)) missing.insert(x);
      }
      per_node[node] = {{"elements", s.size()},
                        {"missing", first_elements(missing)},
                        {"missing-count", missing.size()}};
      if (missing.empty()) continue;
      converged = false;
      lacking[missing].push_back(node);
    }
    std::vector<std::pair<std::set<int64_t>, std::vector<std::string>>> groups(lacking.begin(),
                                                                               lacking.end());
    std::sort(groups.begin(), groups.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    for (const auto& [missing, nodes] : groups) {
      std::string who;
      Json involved = Json::array();
      for (const std::string& node : nodes) {
        who += (who.empty() ? "" : "; ") + node + " (read by " +
               operation_words(*final_by_node[node]) + ")";
        involved.push_back(operation_json(*final_by_node[node]));
      }
      anomalies.add("divergence",
                    "final reads differ: " + who + (nodes.size() > 1 ? " lack " : " lacks ") +
                        std::to_string(missing.size()) +
                        " element(s) that other nodes' final reads hold: " + elements_text(missing),
                    {{"ops", involved},
                     {"node", nodes.front()},
                     {"nodes", nodes},
                     {"missing", first_elements(missing)},
                     {"missing-count", missing.size()}});
    }

    r.validity = !anomalies.empty()      ? Validity::kInvalid
                 : final_by_node.empty() ? Validity::kUnknown
                                         : Validity::kValid;
    std::string summary = std::to_string(acknowledged) + " acknowledged adds, " +
                          std::to_string(final_by_node.size()) + " final reads, " +
                          std::to_string(lost.size()) + " lost, " +
                          std::to_string(recovered.size()) + " recovered, " +
                          (final_by_node.empty() ? std::string("no final read")
                           : converged           ? std::string("converged")
                                                 : std::string("not converged"));
    r.details = {{"summary", summary},
                 {"adds", add_counts},
                 {"acknowledged", acknowledged},
                 {"ok-reads", ok_reads},
                 {"final-reads", final_by_node.size()},
                 {"final-reads-marked", marked},
                 {"lost-count", lost.size()},
                 {"lost", first_elements(lost)},
                 {"recovered-count", recovered.size()},
                 {"recovered", first_elements(recovered)},
                 {"info-absent-count", info_absent.size()},
                 {"converged", converged},
                 {"nodes", per_node}};
    report_nodes_without_final_read(ops, final_by_node, &r.details);
    anomalies.write(&r.details);
    return r;
  }
};

const bool registered = CheckerRegistry::add(
    "checker", "set-full",
    "set: acknowledged adds in the final reads, nothing unexpected, final reads equal on "
    "every node",
    [](const Json& options) -> std::unique_ptr<Checker> {
      const Options o(options, {}, "set-full");
      return std::make_unique<SetFullChecker>();
    });

}  // namespace
}  // namespace faultline::checkers
