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
    std::map<std::string, Counts> by_f;
    int64_t invoked = 0, ok = 0;
    for (size_t i = 0; i < history.size(); ++i) {
      const Op& op = history[i];
      if (op.is_nemesis() || !op.is_invoke()) continue;
      ++invoked;
      Counts& c = by_f[op.f];
      const int64_t j = history.pair_of(i);
      const OpType t = j < 0 ? OpType::kInfo : history[static_cast<size_t>(j)].type;
      if (t == OpType::kOk) {
        ++c.ok;
        ++ok;
      } else if (t == OpType::kFail) {
        ++c.fail;
      } else {
        ++c.info;
      }
    }
    CheckResult r;
    Json fs = Json::object();
    for (const auto& [f, c] : by_f) fs[f] = {{"ok", c.ok}, {"fail", c.fail}, {"info", c.info}};
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
    r.details = {{"summary", reason.empty() ? std::to_string(ok) + " of " +
                                                  std::to_string(invoked) + " operations ok"
                                            : reason},
                 {"by-f", fs},
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
