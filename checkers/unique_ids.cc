// Checker "unique-ids": ids handed out by the database (the unique-ids workload).
//
// A violation is
//   - "duplicate-id": two or more ok generate ops returned the same id (all ops named);
//   - "non-monotonic" (with option "monotonic": true): an ok op A completed before an ok op B
//     was invoked (real-time order: A's completion precedes B's invocation in the history), yet
//     id(A) >= id(B). For each such B the op A with the largest id among those completed before
//     B's invocation is named.
// What info means here: an info (or never completed) generate may have taken an id nobody saw;
// it constrains nothing, and neither does a failed one. Ids are compared as JSON values for
// duplicates; monotonicity needs integer ids (others are skipped and counted). No ok generate:
// unknown. Options: "monotonic" (default false).
#include <algorithm>
#include <map>

#include "checkers/op_report.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

class UniqueIdsChecker : public Checker {
 public:
  explicit UniqueIdsChecker(bool monotonic) : monotonic_(monotonic) {}

  CheckResult check(const History& history, const CheckContext&) override {
    AnomalyList anomalies;
    std::vector<Operation> ops = client_operations(history);
    std::map<Json, std::vector<const Operation*>> by_id;  // id -> ok ops (numbers by value)
    std::vector<const Operation*> ok_ops;                 // in invocation order
    std::map<std::string, int64_t> counts;
    int64_t non_integer = 0;
    for (const Operation& op : ops) {
      if (op.invoke->f != "generate") continue;
      ++counts[std::string(to_string(op.type()))];
      if (op.type() != OpType::kOk) continue;
      by_id[op.complete->value].push_back(&op);
      if (op.complete->value.is_number_integer()) {
        ok_ops.push_back(&op);
      } else {
        ++non_integer;
      }
    }
    int64_t duplicated = 0;
    for (const auto& [id, list] : by_id) {
      if (list.size() < 2) continue;
      ++duplicated;
      Json involved = Json::array();
      std::string words;
      for (const Operation* o : list) {
        if (involved.size() < 10) involved.push_back(operation_json(*o));
        if (involved.size() <= 3) words += (words.empty() ? "" : "; ") + operation_words(*o);
      }
      anomalies.add("duplicate-id",
                    "id " + json_text(id) + " was handed out " + std::to_string(list.size()) +
                        " times: " + words + (list.size() > 3 ? "; ..." : ""),
                    {{"id", list[0]->complete->value}, {"count", list.size()}, {"ops", involved}});
    }
    int64_t non_monotonic = 0;
    if (monotonic_) {
      // Sweep invocations in order; `done` walks the ops by completion index.
      std::vector<const Operation*> by_completion = ok_ops;
      std::sort(by_completion.begin(), by_completion.end(),
                [](const Operation* a, const Operation* b) {
                  return a->complete->index < b->complete->index;
                });
      size_t done = 0;
      const Operation* max_op = nullptr;
      for (const Operation* b : ok_ops) {
        while (done < by_completion.size() &&
               by_completion[done]->complete->index < b->invoke->index) {
          const Operation* a = by_completion[done++];
          if (!max_op ||
              a->complete->value.get<int64_t>() > max_op->complete->value.get<int64_t>()) {
            max_op = a;
          }
        }
        if (!max_op) continue;
        const int64_t ida = max_op->complete->value.get<int64_t>();
        const int64_t idb = b->complete->value.get<int64_t>();
        if (ida < idb) continue;
        ++non_monotonic;
        anomalies.add_with("non-monotonic", [&] {
          return std::pair<std::string, Json>(
              "id " + std::to_string(idb) + " (" + operation_words(*b) +
                  ") was handed out after id " + std::to_string(ida) + " (" +
                  operation_words(*max_op) + ") had completed (at " +
                  seconds_text(max_op->complete->time_ns) + ", before " +
                  seconds_text(b->invoke->time_ns) + "), yet it is not larger",
              {{"ops", {operation_json(*max_op), operation_json(*b)}}});
        });
      }
    }
    CheckResult r;
    const int64_t ok = counts["ok"];
    r.validity = !anomalies.empty() ? Validity::kInvalid
                 : ok == 0          ? Validity::kUnknown
                                    : Validity::kValid;
    std::string summary =
        std::to_string(ok) + " ids, " + std::to_string(duplicated) + " duplicated";
    if (monotonic_) summary += ", " + std::to_string(non_monotonic) + " out of order";
    r.details = {{"summary", summary},
                 {"generates", counts},
                 {"duplicated-ids", duplicated},
                 {"monotonic", monotonic_}};
    if (monotonic_) {
      r.details["non-monotonic"] = non_monotonic;
      r.details["non-integer-ids"] = non_integer;
    }
    anomalies.write(&r.details);
    return r;
  }

 private:
  bool monotonic_;
};

const OptionDecls kOptions = {
    {"monotonic", false, "ids must also grow in real-time order"},
};

const bool registered = CheckerRegistry::add(
    "checker", "unique-ids",
    "unique-ids: no id handed out twice; with monotonic, ids grow in "
    "real-time order",
    [](const Json& options) -> std::unique_ptr<Checker> {
      const Options o(options, kOptions, "unique-ids");
      return std::make_unique<UniqueIdsChecker>(o.flag("monotonic"));
    },
    kOptions);

}  // namespace
}  // namespace faultline::checkers
