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
// Each bad read is reported with its op. Transfers are only counted: their effects are judged
// through the reads. Failed and info reads constrain nothing (an info read has no value); an
// info transfer may or may not have happened, which changes no total.
//
// Options: "total" (integer; default: the first ok read's sum, which is weaker: it assumes
// that read was right), "accounts" (list of integers; default: not checked),
// "negative-balances" (default false). No ok read at all: unknown.
#include <set>

#include "checkers/op_report.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

struct BankOptions {
  std::optional<int64_t> total;
  std::optional<std::set<std::string>> accounts;
  bool negative_balances = false;
};

class BankChecker : public Checker {
 public:
  explicit BankChecker(BankOptions o) : o_(std::move(o)) {}

  CheckResult check(const History& history, const CheckContext&) override {
    AnomalyList anomalies;
    int64_t reads = 0, ok_reads = 0, bad_reads = 0;
    std::map<std::string, int64_t> transfers;  // outcome -> count
    std::optional<int64_t> total = o_.total;
    bool total_inferred = false;
    for (const Operation& op : client_operations(history)) {
      const std::string f = op.invoke->f;
      if (f == "transfer") {
        ++transfers[std::string(to_string(op.type()))];
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
      std::vector<std::string> negative;
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
        if (balance.get<int64_t>() < 0) negative.push_back(account);
      }
      if (!total) {
        total = sum;
        total_inferred = true;
      }
      if (!bad && sum != *total) {
        anomalies.add_with("wrong-total", [&] {
          return std::pair<std::string, Json>(
              "read by " + who + " sums to " + std::to_string(sum) + ", not " +
                  std::to_string(*total) + " (" + std::to_string(sum - *total) + "): balances " +
                  json_text(v),
              {{"ops", {operation_json(op)}}, {"total", sum}, {"expected", *total}});
        });
        bad = true;
      }
      if (!o_.negative_balances && !negative.empty()) {
        std::string list;
        for (const auto& a : negative) list += (list.empty() ? "" : ", ") + a;
        anomalies.add("negative-balance",
                      "read by " + who + " shows a negative balance on account(s) " + list +
                          ", and negative balances are not allowed: balances " + json_text(v),
                      {{"ops", {operation_json(op)}}, {"accounts", negative}});
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
    CheckResult r;
    r.validity = !anomalies.empty() ? Validity::kInvalid
                 : ok_reads == 0    ? Validity::kUnknown
                                    : Validity::kValid;
    std::string summary = std::to_string(ok_reads) + " ok reads, " + std::to_string(bad_reads) +
                          " bad; " + std::to_string(transfers["ok"]) + " ok transfers";
    if (ok_reads == 0) summary += "; no ok read to check";
    r.details = {{"summary", summary},     {"reads", reads},
                 {"ok-reads", ok_reads},   {"bad-reads", bad_reads},
                 {"transfers", transfers}, {"negative-balances", o_.negative_balances}};
    if (total) r.details["total"] = *total;
    if (total_inferred) r.details["total-inferred"] = true;
    anomalies.write(&r.details);
    return r;
  }

 private:
  BankOptions o_;
};

const bool registered = CheckerRegistry::add(
    "checker", "bank",
    "bank: every read of all balances sums to the total; no negative balance unless allowed",
    [](const Json& options) -> std::unique_ptr<Checker> {
      reject_unknown_options(options, {"total", "accounts", "negative-balances"}, "bank");
      BankOptions o;
      if (options.is_object()) {
        if (options.contains("total")) {
          if (!options["total"].is_number_integer())
            throw std::invalid_argument("bank: total is an integer");
          o.total = options["total"].get<int64_t>();
        }
        if (options.contains("accounts")) {
          if (!options["accounts"].is_array())
            throw std::invalid_argument("bank: accounts is a list of integers");
          std::set<std::string> accounts;
          for (const auto& a : options["accounts"]) {
            if (!a.is_number_integer())
              throw std::invalid_argument("bank: accounts is a list of integers");
            accounts.insert(std::to_string(a.get<int64_t>()));
          }
          o.accounts = accounts;
        }
        if (options.contains("negative-balances")) {
          if (!options["negative-balances"].is_boolean())
            throw std::invalid_argument("bank: negative-balances is true or false");
          o.negative_balances = options["negative-balances"].get<bool>();
        }
      }
      return std::make_unique<BankChecker>(std::move(o));
    });

}  // namespace
}  // namespace faultline::checkers
