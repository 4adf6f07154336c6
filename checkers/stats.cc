// Checker "stats" (Jepsen's idea): does the history hold enough to judge at all?
//
// Counts the client operations per f by outcome (ok, fail, info; an invocation that never
// completed counts as info). A history is not judged, and the result is unknown with the
// reason, when it has no client operation, when no operation succeeded, or when an f listed in
// the option "required" has no ok operation (a register run with no ok read, a set run whose
// final reads all failed). Every other checker would call such a history valid because there
// is nothing to contradict: an empty file, a run whose every node was down, a time limit of 0.
// Jepsen's stats checker makes it invalid; Faultline says unknown, since nothing was shown to
// be wrong. Nemesis operations are not counted.
//
// Availability, which a run under faults measures as much as safety: the same counts per node
// (the node the client talked to), and, when the nemesis ran, per node split by whether the op
// was invoked while a fault was active (nemesis_intervals, harness/history.h) or not. The
// summary names each node's ok share during faults ("during faults: n1 0 of 57 ok, n2 55 of
// 56 ok"): a Galera node cut off from the primary component refuses every op, a node with
// pc.ignore_sb accepts them all. It never changes the validity.
#include <map>
#include <set>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

class StatsChecker : public Checker {
 public:
  explicit StatsChecker(std::vector<std::string> required) : required_(std::move(required)) {}

  CheckResult check(const History& history, const CheckContext&) override {
    struct Counts {
      int64_t ok = 0, fail = 0, info = 0;
    };
    std::map<std::string, Counts> by_f, by_node;
    struct Share {
      int64_t ok = 0, of = 0;
    };
    std::map<std::string, Share> during, outside;
    const std::vector<NemesisInterval> faults = nemesis_intervals(history);
    auto in_fault = [&](int64_t t) {
      for (const auto& f : faults) {
        if (t >= f.start_ns && t <= f.end_ns) return true;
      }
      return false;
    };
    int64_t invoked = 0, ok = 0;
    for (size_t i = 0; i < history.size(); ++i) {
      const Op& op = history[i];
      if (op.is_nemesis() || !op.is_invoke()) continue;
      ++invoked;
      Counts& c = by_f[op.f];
      const int64_t j = history.pair_of(i);
      const OpType t = j < 0 ? OpType::kInfo : history[static_cast<size_t>(j)].type;
      auto count = [t](Counts& k) {
        if (t == OpType::kOk) {
          ++k.ok;
        } else if (t == OpType::kFail) {
          ++k.fail;
        } else {
          ++k.info;
        }
      };
      count(c);
      ok += t == OpType::kOk ? 1 : 0;
      std::string node = op.node;
      if (node.empty() && j >= 0) node = history[static_cast<size_t>(j)].node;
      if (node.empty()) continue;
      count(by_node[node]);
      if (faults.empty()) continue;
      Share& sh = in_fault(op.time_ns) ? during[node] : outside[node];
      ++sh.of;
      sh.ok += t == OpType::kOk ? 1 : 0;
    }
    CheckResult r;
    Json fs = Json::object();
    for (const auto& [f, c] : by_f) fs[f] = {{"ok", c.ok}, {"fail", c.fail}, {"info", c.info}};
    Json nodes = Json::object();
    for (const auto& [n, c] : by_node) {
      nodes[n] = {{"ok", c.ok}, {"fail", c.fail}, {"info", c.info}};
    }
    Json availability = nullptr;
    std::string during_text;
    if (!faults.empty()) {
      availability = {{"during-faults", Json::object()}, {"outside-faults", Json::object()}};
      for (const auto& [n, sh] : during) {
        availability["during-faults"][n] = {{"ok", sh.ok}, {"of", sh.of}};
        during_text += during_text.empty() ? "; during faults: " : ", ";
        during_text += n + " " + std::to_string(sh.ok) + " of " + std::to_string(sh.of) + " ok";
      }
      for (const auto& [n, sh] : outside) {
        availability["outside-faults"][n] = {{"ok", sh.ok}, {"of", sh.of}};
      }
    }
    std::vector<std::string> missing;
    for (const auto& f : required_) {
      auto it = by_f.find(f);
      if (it == by_f.end() || it->second.ok == 0) missing.push_back(f);
    }
    std::string reason;
    if (invoked == 0) {
      reason = "the history has no client operation: nothing to judge";
    } else if (ok == 0) {
      reason = "no operation succeeded (" + std::to_string(invoked) +
               " invoked, none ok): nothing to judge";
    } else if (!missing.empty()) {
      std::string list;
      for (const auto& f : missing) list += (list.empty() ? "" : ", ") + f;
      reason = "no ok " + list + " operation: the checks that need " +
               (missing.size() == 1 ? "it" : "them") + " had nothing to judge";
    }
    r.validity = reason.empty() ? Validity::kValid : Validity::kUnknown;
    r.details = {
        {"summary", reason.empty() ? std::to_string(ok) + " of " + std::to_string(invoked) +
                                         " operations ok" + during_text
                                   : reason},
        {"by-f", fs},
        {"by-node", nodes},
        {"availability", availability},
        {"required", required_},
        {"missing", missing}};
    return r;
  }

 private:
  std::vector<std::string> required_;
};

const OptionDecls kOptions = {
    {"required", Json::array(), "fs that must have at least one ok op"},
};

const bool registered = CheckerRegistry::add(
    "checker", "stats",
    "operations per f by outcome; unknown when nothing succeeded or a required f "
    "(option \"required\") has no ok op",
    [](const Json& options) -> std::unique_ptr<Checker> {
      const Options o(options, kOptions, "stats checker");
      return std::make_unique<StatsChecker>(o.texts("required"));
    },
    kOptions);

}  // namespace
}  // namespace faultline::checkers
