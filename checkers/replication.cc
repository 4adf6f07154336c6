// Checker "replication": what a database said of its own replication at the end of the run
// (harness/db.h ReportsReplication; the runner records it in the history as the nemesis-process
// op "replication-health", after the final reads). Asynchronous replication fails in ways no
// client op shows: a replica's SQL thread stops on an event it cannot apply (a duplicate key,
// 1062; a row that is not there, 1032) and every later event from that master is never applied
// there; or replication goes on while the nodes' tables no longer hold the same rows.
//
// Anomalies:
//   replication-halted  a channel's SQL thread stopped, or its IO thread stopped with an error:
//                       names the replica, the master, the error and the position it reached
//   divergence          a table whose CHECKSUM TABLE differs between nodes once replication had
//                       caught up (or halted: then nothing more will arrive)
// Verdict: invalid with either; unknown when replication neither caught up nor halted within
// the database's wait (differing tables may then be lag), or when no report was recorded (the
// run ended before it); valid otherwise. The last report in the history counts.
#include <map>
#include <set>
#include <string>

#include "harness/checker.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

std::string text(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

int64_t number(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : 0;
}

std::string divergence_text(const std::string& table, bool caught_up, const std::string& parts) {
  std::string t = "table ";
  t += table;
  t += " differs between nodes after replication ";
  t += caught_up ? "caught up" : "stopped moving";
  t += " (CHECKSUM TABLE: ";
  t += parts;
  t += "): the nodes hold different data and nothing will reconcile it.";
  return t;
}

class ReplicationChecker : public Checker {
 public:
  CheckResult check(const History& history, const CheckContext&) override {
    const Op* report = nullptr;
    for (size_t i = 0; i < history.size(); ++i) {
      const Op& op = history[i];
      if (op.is_nemesis() && op.is_completion() && op.f == "replication-health" &&
          op.value.is_object()) {
        report = &op;
      }
    }
    CheckResult r;
    if (!report) {
      r.validity = Validity::kUnknown;
      r.details = {{"summary",
                    "no replication report in the history (the run ended before it was taken): "
                    "halted replication or divergence would not show"},
                   {"anomaly-types", Json::array()}};
      return r;
    }
    const Json& h = report->value;
    if (h.contains("error")) {
      r.validity = Validity::kUnknown;
      r.details = {
          {"summary", "the database could not report on its replication: " + text(h, "error")},
          {"anomaly-types", Json::array()}};
      return r;
    }
    Json anomalies = Json::array();
    std::map<std::string, int64_t> counts;
    auto add = [&](Json a) {
      ++counts[a["type"].get<std::string>()];
      anomalies.push_back(std::move(a));
    };
    const Json nodes = h.value("nodes", Json::object());
    for (const auto& [node, state] : nodes.items()) {
      for (const auto& ch : state.value("channels", Json::array())) {
        const std::string from = text(ch, "from");
        const bool sql_stopped = text(ch, "sql-running") == "No";
        const bool io_error = text(ch, "io-running") == "No" && number(ch, "last-io-errno") != 0;
        if (!sql_stopped && !io_error) continue;
        std::string why;
        if (sql_stopped) {
          why = number(ch, "last-sql-errno") != 0
                    ? "its SQL thread stopped on error " + text(ch, "last-sql-errno") + ": " +
                          text(ch, "last-sql-error")
                    : "its SQL thread is stopped";
        } else {
          why = "its IO thread stopped on error " + text(ch, "last-io-errno") + ": " +
                text(ch, "last-io-error");
        }
        std::string at = text(ch, "gtid-io-pos");
        std::string explanation = "replication into ";
        explanation += node;
        explanation += " from ";
        explanation += from;
        explanation += " halted: ";
        explanation += why;
        if (!at.empty()) {
          explanation += " (received up to GTID ";
          explanation += at;
          explanation += ")";
        }
        explanation += ". No later change made on ";
        explanation += from;
        explanation += " reaches ";
        explanation += node;
        explanation += " through this channel.";
        add({{"type", "replication-halted"},
             {"node", node},
             {"from", from},
             {"channel", ch},
             {"explanation", explanation}});
      }
    }
    const bool halted = counts.count("replication-halted") > 0;
    const bool caught_up = h.value("caught-up", false);
    const Json sums = h.value("checksums", Json::object());
    std::vector<std::string> differing;
    for (const auto& [table, per_node] : sums.items()) {
      std::map<std::string, std::vector<std::string>> by_sum;
      for (const auto& [node, v] : per_node.items()) {
        by_sum[v.is_null()     ? "(no answer)"
               : v.is_string() ? v.get<std::string>()
                               : v.dump()]
            .push_back(node);
      }
      std::set<std::string> answered;
      for (const auto& [sum, ns] : by_sum) {
        if (sum != "(no answer)") answered.insert(sum);
      }
      if (answered.size() < 2) continue;
      differing.push_back(table);
      std::string parts;
      for (const auto& [sum, ns] : by_sum) {
        std::string names;
        for (const auto& n : ns) {
          if (!names.empty()) names += ", ";
          names += n;
        }
        if (!parts.empty()) parts += "; ";
        parts += sum;
        parts += " on ";
        parts += names;
      }
      if (!caught_up && !halted) continue;  // may be lag: judged below as unknown
      add({{"type", "divergence"},
           {"table", table},
           {"checksums", per_node},
           {"explanation", divergence_text(table, caught_up, parts)}});
    }
    Json types = Json::array();
    Json count_json = Json::object();
    for (const auto& [t, n] : counts) {
      types.push_back(t);
      count_json[t] = n;
    }
    std::string summary;
    if (!anomalies.empty()) {
      r.validity = Validity::kInvalid;
      summary = std::to_string(counts["replication-halted"]) + " halted channel(s), " +
                std::to_string(counts["divergence"]) + " diverged table(s)";
    } else if (!caught_up) {
      r.validity = Validity::kUnknown;
      summary = "replication did not catch up within the database's wait" +
                std::string(differing.empty() ? "" : " (tables still differ: may be lag)") +
                ": whether the nodes converge is unknown";
    } else {
      summary = "every channel running, every node at the same position, tables identical";
    }
    // Semi-synchronous replication that gave up waiting: not an anomaly of its own (the data
    // checks above say what it cost), but what the run measured.
    std::string fallbacks;
    Json semi = Json::object();
    if (h.contains("nodes") && h["nodes"].is_object()) {
      for (const auto& [node, v] : h["nodes"].items()) {
        if (!v.is_object() || !v.contains("semi-sync") || !v["semi-sync"].is_object()) continue;
        const Json& ss = v["semi-sync"];
        semi[node] = ss;
        if (number(ss, "no-tx") > 0 || text(ss, "master-status") == "OFF") {
          fallbacks += (fallbacks.empty() ? "" : ", ") + node + " (" +
                       std::to_string(number(ss, "no-tx")) + " commits not acknowledged)";
        }
      }
    }
    if (!fallbacks.empty()) summary += "; semi-sync fell back to asynchronous on " + fallbacks;
    std::string explanation;
    for (const auto& a : anomalies) {
      explanation += (explanation.empty() ? "" : "\n") + a["explanation"].get<std::string>();
    }
    r.details = {{"summary", summary},           {"caught-up", caught_up},
                 {"anomalies", anomalies},       {"anomaly-types", types},
                 {"anomaly-counts", count_json}, {"report-index", report->index}};
    if (!semi.empty()) r.details["semi-sync"] = semi;
    if (!explanation.empty()) r.details["explanation"] = explanation;
    return r;
  }
};

const bool registered = CheckerRegistry::add(
    "checker", "replication",
    "the database's own report of its replication at the end of the run: halted channels and "
    "tables that differ between nodes (mariadb-async)",
    [](const Json& options) -> std::unique_ptr<Checker> {
      const Options o(options, {}, "replication checker");
      (void)o;
      return std::make_unique<ReplicationChecker>();
    },
    {});

}  // namespace
}  // namespace faultline::checkers
