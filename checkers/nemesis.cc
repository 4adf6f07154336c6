// Checker "nemesis": did the run's faults happen? A run whose nemesis did nothing tests less
// than it claims, and a "valid" from it would be read as "consistent under partitions".
//
// Looks at the completions of the nemesis's ops (process nemesis). One that carries an error
// is a fault that may not have happened: the nemesis threw, the op ran past
// nemesis-op-timeout, or the nemesis said it acted on no node or failed on one. Then the
// result is unknown, naming each such op (the first 20), unless option "allow-errors" is true
// (`nemesis-errors: "allow"` in a spec). Not counted: ops cut off at the end of a phase or by
// an interrupt (the heal follows at once), and the heal phase's own ops (a failed heal is
// reported beside the verdict). A history with no nemesis op is valid: nothing was claimed.
#include <string>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

bool counts(const std::string& error) {
  return error.rfind("cut off", 0) != 0 && error.rfind("interrupted", 0) != 0;
}

class NemesisChecker : public Checker {
 public:
  explicit NemesisChecker(bool allow_errors) : allow_errors_(allow_errors) {}

  CheckResult check(const History& history, const CheckContext&) override {
    int64_t ops = 0, failed = 0;
    Json list = Json::array();
    for (size_t i = 0; i < history.size(); ++i) {
      const Op& op = history[i];
      if (!op.is_nemesis()) continue;
      const int64_t j = history.pair_of(i);
      if (j >= 0 && static_cast<size_t>(j) > i) continue;  // the request; its completion follows
      ++ops;
      if (op.error.is_null()) continue;
      if (op.extra.is_object() && op.extra.value("phase", std::string()) == "heal") continue;
      const std::string error =
          op.error.is_string() ? op.error.get<std::string>() : op.error.dump();
      if (!counts(error)) continue;
      ++failed;
      if (list.size() < 20) {
        list.push_back({{"index", op.index},
                        {"time-s", static_cast<double>(op.time_ns) / 1e9},
                        {"f", op.f},
                        {"value", op.value},
                        {"error", error}});
      }
    }
    CheckResult r;
    std::string summary;
    if (failed == 0) {
      summary = ops == 0 ? "no nemesis op" : std::to_string(ops) + " nemesis ops, none failed";
      r.validity = Validity::kValid;
    } else {
      const Json& first = list.front();
      summary = std::to_string(failed) + " of " + std::to_string(ops) +
                " nemesis ops may not have happened (first: " + first["f"].get<std::string>() +
                " at " + std::to_string(static_cast<int64_t>(first["time-s"].get<double>())) +
                " s: " + first["error"].get<std::string>() + ")";
      if (allow_errors_) {
        summary += "; allowed (nemesis-errors: allow)";
        r.validity = Validity::kValid;
      } else {
        summary +=
            ": the run did not test the faults it was asked to; the verdict is unknown "
            "(nemesis-errors: allow accepts it)";
        r.validity = Validity::kUnknown;
      }
    }
    r.details = {{"summary", summary}, {"ops", ops}, {"failed", failed}, {"failures", list}};
    return r;
  }

 private:
  bool allow_errors_;
};

const OptionDecls kOptions = {
    {"allow-errors", false, "a nemesis op that failed does not make the run unknown"},
};

const bool registered = CheckerRegistry::add(
    "checker", "nemesis",
    "the run's faults happened: unknown when a nemesis op threw, timed out or acted on no node "
    "(option \"allow-errors\")",
    [](const Json& options) -> std::unique_ptr<Checker> {
      const Options o(options, kOptions, "nemesis checker");
      return std::make_unique<NemesisChecker>(o.flag("allow-errors"));
    },
    kOptions);

}  // namespace
}  // namespace faultline::checkers
