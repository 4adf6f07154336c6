// Checker "bank" (Jepsen's bank checker, jepsen.tests.bank): transfers move money between
// accounts, so every read of all balances taken in one transaction must see the same total.
//
// A violation is an ok read whose balances
//   - do not sum to the total ("wrong-total": money created or destroyed, or a transfer seen
//     half done: read skew / a non-atomic transfer);
//   - hold a negative balance when negative balances are not allowed ("negative-balance");
//   - name an account that does not exist or miss one that does ("wrong-accounts"), when the
//     accounts are given;
//   - are not a map of integers ("malformed-read").
// One cause, one anomaly: a wrong total usually persists (every later read sees the money that
// was created or destroyed), so "wrong-total" is reported once per drift, not once per read. A
// drift is a change of the observed total, in history order of the ok reads, to a total other
// than the right one: its anomaly names the read before it (the last good read, or the previous
// wrong total), the first read of the new total, how many reads in a row saw it, and the
// transfers that completed ok or were invoked with an unknown outcome between the two reads
// (the candidates for the cause). Going back to the right total ends a drift and is no
// anomaly. Every read with a wrong total is still counted ("reads-with-wrong-total"), and
// "bad-reads" counts every read with any violation. Likewise "negative-balance" is one anomaly
// per account and episode (consecutive well-formed ok reads showing that account negative).
// Transfers are otherwise only counted: their effects are judged through the reads. Failed and
// info reads constrain nothing (an info read has no value); an info transfer may or may not
// have happened, which changes no total.
//
// Options: "total" (integer; default: the first ok read's sum, which is weaker: it assumes
// that read was right), "accounts" (list of integers; default: not checked),
// "negative-balances" (default false). No ok read at all: unknown.
#include <algorithm>
#include <set>

#include "checkers/op_report.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

struct BankOptions {
  std::optional<int64_t> total;
  std::optional<std::set<std::string>> accounts;
  bool negative_balances = false;
};

// Transfers listed in a drift's anomaly; all are counted.
constexpr size_t kMaxDriftTransfers = 10;

// One change of the observed total to a wrong one.
struct Drift {
  const Operation* before = nullptr;  // the previous well-formed ok read; null when none
  bool before_good = false;           // whether `before` had the right total
  int64_t before_total = 0;
  const Operation* first = nullptr;  // the first read of the new total
  const Operation* last = nullptr;   // the last read in a row with it
  int64_t total = 0;
  int64_t reads = 0;  // reads in a row with this total
};

// Consecutive reads that show one account negative.
struct NegativeEpisode {
  std::string account;
  const Operation* first = nullptr;
  const Operation* last = nullptr;
  int64_t lowest = 0;
  int64_t reads = 0;
};

class BankChecker : public Checker {
 public:
  explicit BankChecker(BankOptions o) : o_(std::move(o)) {}

  CheckResult check(const History& history, const CheckContext&) override {
    AnomalyList anomalies;
    int64_t reads = 0, ok_reads = 0, bad_reads = 0, wrong_total_reads = 0;
    std::map<std::string, int64_t> transfers;  // outcome -> count
    // Ok transfers by completion index, info ones by invocation index: what may have taken
    // effect in a window of the history.
    std::vector<std::pair<int64_t, const Operation*>> effects;
    std::optional<int64_t> total = o_.total;
    bool total_inferred = false;
    std::vector<Drift> drifts;
    const Operation* previous = nullptr;  // the last well-formed ok read
    int64_t previous_total = 0;
    std::map<std::string, NegativeEpisode> open_negative;  // account -> its episode
    std::vector<NegativeEpisode> negative_episodes;
    const std::vector<Operation> ops = client_operations(history);
    for (const Operation& op : ops) {
      const std::string f = op.invoke->f;
      if (f == "transfer") {
        ++transfers[std::string(to_string(op.type()))];
        if (op.type() == OpType::kOk) effects.emplace_back(op.complete->index, &op);
        if (op.type() == OpType::kInfo) effects.emplace_back(op.invoke->index, &op);
        continue;
      }
      if (f != "read") continue;
      ++reads;
      if (op.type() != OpType::kOk) continue;
      ++ok_reads;
      const Json& v = op.complete->value;
      const std::string who = operation_words(op);
      bool bad = false;
      if (!v.is_object()) {
        anomalies.add("malformed-read",
                      "read by " + who + " returned " + json_text(v) + ", not a map of balances",
                      {{"ops", {operation_json(op)}}});
        ++bad_reads;
        continue;
      }
      int64_t sum = 0;
      std::map<std::string, int64_t> negative;
      std::set<std::string> seen;
      for (const auto& [account, balance] : v.items()) {
        seen.insert(account);
        if (!balance.is_number_integer()) {
          anomalies.add("malformed-read",
                        "read by " + who + " returned balance " + json_text(balance) +
                            " for account " + account + ", not an integer",
                        {{"ops", {operation_json(op)}}});
          bad = true;
          continue;
        }
        sum += balance.get<int64_t>();
        if (balance.get<int64_t>() < 0) negative[account] = balance.get<int64_t>();
      }
      if (!total) {
        total = sum;
        total_inferred = true;
      }
      if (!bad) {
        if (sum != *total) {
          ++wrong_total_reads;
          bad = true;
          if (previous && previous_total == sum) {
            ++drifts.back().reads;
            drifts.back().last = &op;
          } else {
            drifts.push_back(
                {previous, previous && previous_total == *total, previous_total, &op, &op, sum, 1});
          }
        }
        previous = &op;
        previous_total = sum;
        // Negative balances, per account and episode.
        if (!o_.negative_balances) {
          for (auto it = open_negative.begin(); it != open_negative.end();) {
            if (negative.count(it->first)) {
              ++it;
              continue;
            }
            negative_episodes.push_back(std::move(it->second));
            it = open_negative.erase(it);
          }
          for (const auto& [account, balance] : negative) {
            NegativeEpisode& e = open_negative[account];
            if (!e.first) {
              e.account = account;
              e.first = &op;
              e.lowest = balance;
            }
            e.last = &op;
            e.lowest = std::min(e.lowest, balance);
            ++e.reads;
          }
          if (!negative.empty()) bad = true;
        }
      } else if (!o_.negative_balances && !negative.empty()) {
        // A malformed read ends no episode and starts none; it is its own anomaly already.
        bad = true;
      }
      if (o_.accounts && seen != *o_.accounts) {
        anomalies.add("wrong-accounts",
                      "read by " + who + " names accounts " + json_text(Json(seen)) + ", not " +
                          json_text(Json(*o_.accounts)),
                      {{"ops", {operation_json(op)}}});
        bad = true;
      }
      bad_reads += bad;
    }
    std::sort(effects.begin(), effects.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const Drift& d : drifts) add_drift(d, *total, effects, &anomalies);
    for (auto& [account, e] : open_negative) negative_episodes.push_back(std::move(e));
    std::stable_sort(negative_episodes.begin(), negative_episodes.end(),
                     [](const NegativeEpisode& a, const NegativeEpisode& b) {
                       return a.first->invoke->index < b.first->invoke->index;
                     });
    for (const NegativeEpisode& e : negative_episodes) {
      const std::string& account = e.account;
      anomalies.add(
          "negative-balance",
          "read by " + operation_words(*e.first) + " shows a negative balance on account " +
              account + ", and negative balances are not allowed: balances " +
              json_text(e.first->complete->value) + "; " + std::to_string(e.reads) +
              " read(s) in a row showed it negative (lowest " + std::to_string(e.lowest) + ")",
          {{"ops", {operation_json(*e.first)}},
           {"accounts", {account}},
           {"account", account},
           {"reads", e.reads},
           {"lowest", e.lowest},
           {"last-read", operation_json(*e.last)}});
    }
    CheckResult r;
    r.validity = !anomalies.empty() ? Validity::kInvalid
                 : ok_reads == 0    ? Validity::kUnknown
                                    : Validity::kValid;
    std::string summary = std::to_string(ok_reads) + " ok reads, " + std::to_string(bad_reads) +
                          " bad; " + std::to_string(transfers["ok"]) + " ok transfers";
    if (!drifts.empty()) {
      summary += "; the total drifted " + std::to_string(drifts.size()) + " time(s), " +
                 std::to_string(wrong_total_reads) + " read(s) with a wrong total";
    }
    if (ok_reads == 0) summary += "; no ok read to check";
    r.details = {{"summary", summary},
                 {"reads", reads},
                 {"ok-reads", ok_reads},
                 {"bad-reads", bad_reads},
                 {"reads-with-wrong-total", wrong_total_reads},
                 {"total-drifts", drifts.size()},
                 {"transfers", transfers},
                 {"negative-balances", o_.negative_balances}};
    if (total) r.details["total"] = *total;
    if (total_inferred) r.details["total-inferred"] = true;
    anomalies.write(&r.details);
    return r;
  }

 private:
  // The "wrong-total" anomaly of one drift.
  static void add_drift(const Drift& d, int64_t expected,
                        const std::vector<std::pair<int64_t, const Operation*>>& effects,
                        AnomalyList* anomalies) {
    anomalies->add_with("wrong-total", [&] {
      // Transfers that may have taken effect from the previous read's invocation to the first
      // bad read's completion.
      const int64_t from = d.before ? d.before->invoke->index : -1;
      const int64_t to = d.first->complete->index;
      auto lo = std::upper_bound(effects.begin(), effects.end(), from,
                                 [](int64_t i, const auto& e) { return i < e.first; });
      auto hi = std::lower_bound(effects.begin(), effects.end(), to,
                                 [](const auto& e, int64_t i) { return e.first < i; });
      const size_t between = hi > lo ? static_cast<size_t>(hi - lo) : 0;
      Json listed = Json::array();
      std::string indexes;
      for (auto it = lo; it < hi && listed.size() < kMaxDriftTransfers; ++it) {
        listed.push_back(operation_json(*it->second));
        indexes += (indexes.empty() ? "" : ", ") + std::to_string(it->second->invoke->index);
      }
      const Json& v = d.first->complete->value;
      std::string text = "read by " + operation_words(*d.first) + " sums to " +
                         std::to_string(d.total) + ", not " + std::to_string(expected) + " (" +
                         std::to_string(d.total - expected) + "): balances " + json_text(v);
      if (d.before) {
        text += "; the read before it, by " + operation_words(*d.before) + ", summed to " +
                std::to_string(d.before_total) +
                (d.before_good ? " (the last good read)" : " (also wrong)");
      } else {
        text += "; it is the first read";
      }
      text += "; " + std::to_string(between) + " transfer(s) completed ok or were invoked with " +
              "an unknown outcome in between" +
              (between ? " (ops " + indexes + (between > listed.size() ? ", ..." : "") + ")"
                       : std::string()) +
              "; " + std::to_string(d.reads) + " read(s) in a row saw " + std::to_string(d.total);
      Json ops = {operation_json(*d.first)};
      if (d.before) ops.push_back(operation_json(*d.before));
      Json detail = {{"ops", ops},
                     {"total", d.total},
                     {"expected", expected},
                     {"previous-total", d.before ? Json(d.before_total) : Json()},
                     {"first-bad-read", operation_json(*d.first)},
                     {"last-bad-read", operation_json(*d.last)},
                     {"reads", d.reads},
                     {"transfers-between", listed},
                     {"transfers-between-count", between}};
      if (d.before) {
        detail[d.before_good ? "last-good-read" : "previous-read"] = operation_json(*d.before);
      }
      return std::pair<std::string, Json>(text, std::move(detail));
    });
  }

  BankOptions o_;
};

const OptionDecls kOptions = {
    {"total", nullptr, "the sum every read must show (default: the workload's)"},
    {"accounts", nullptr, "the account ids (default: the workload's)"},
    {"negative-balances", false, "a negative balance is allowed"},
};

const bool registered = CheckerRegistry::add(
    "checker", "bank",
    "bank: every read of all balances sums to the total; no negative balance unless allowed",
    [](const Json& options) -> std::unique_ptr<Checker> {
      const Options opts(options, kOptions, "bank");
      BankOptions o;
      if (opts.has("total")) o.total = opts.integer("total");
      if (opts.has("accounts")) {
        std::set<std::string> accounts;
        for (int64_t a : opts.integers("accounts")) accounts.insert(std::to_string(a));
        o.accounts = accounts;
      }
      o.negative_balances = opts.flag("negative-balances");
      return std::make_unique<BankChecker>(std::move(o));
    },
    kOptions);

}  // namespace
}  // namespace faultline::checkers
