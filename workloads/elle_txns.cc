#include "workloads/elle_txns.h"

#include <map>
#include <stdexcept>
#include <vector>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/options.h"

namespace faultline::workloads {
namespace {

class ElleTxns : public Generator {
 public:
  ElleTxns(ElleTxnOptions o, Routing routing, std::string write_f)
      : o_(o), keys_(o.key_count, o.max_writes_per_key, routing), write_f_(std::move(write_f)) {}

  GenResult next(const GenContext& ctx) override {
    auto thread = ctx.next_thread();
    if (!thread) return GenResult::pending();
    Random& r = *ctx.random;
    const int64_t length = r.uniform_in(o_.min_txn_length, o_.max_txn_length);
    Json txn = Json::array();
    for (int64_t i = 0; i < length; ++i) {
      size_t at = 0;
      const int64_t key = keys_.pick(*thread, r, &at);
      if (r.chance(0.5)) {
        txn.push_back(Json::array({"r", key, nullptr}));
        continue;
      }
      txn.push_back(Json::array({write_f_, key, keys_.write(*thread, at)}));  // unique per key
    }
    return GenResult::of({*thread, OpTemplate{"txn", std::move(txn)}});
  }

 private:
  ElleTxnOptions o_;
  HotKeys keys_;
  std::string write_f_;
};

}  // namespace

const OptionDecls& elle_txn_options() {
  static const OptionDecls decls = {
      {"key-count", 3, "keys in the hot pool (a key is retired after max-writes-per-key)"},
      {"min-txn-length", 1, "fewest micro-ops per transaction"},
      {"max-txn-length", 4, "most micro-ops per transaction"},
      {"max-writes-per-key", 32, "writes to a key before it is retired"},
  };
  return decls;
}

ElleTxnOptions parse_elle_txn_options(const Json& options, const std::string& workload) {
  const Options opts(options, elle_txn_options(), "workload '" + workload + "'");
  ElleTxnOptions o;
  o.key_count = opts.integer("key-count", 1);
  o.min_txn_length = opts.integer("min-txn-length", 1);
  o.max_txn_length = opts.integer("max-txn-length", 1);
  o.max_writes_per_key = opts.integer("max-writes-per-key", 1);
  if (o.min_txn_length > o.max_txn_length) {
    throw ConfigError("workload '" + workload + "': min-txn-length must be <= max-txn-length");
  }
  return o;
}

GenPtr elle_txns(ElleTxnOptions options, Routing routing, std::string write_f) {
  return std::make_unique<ElleTxns>(options, routing, std::move(write_f));
}

Json elle_checker_options(const WorkloadContext& ctx) {
  return {{"consistency-model", ctx.consistency_model.empty() ? std::string("strict-serializable")
                                                              : ctx.consistency_model}};
}

}  // namespace faultline::workloads
