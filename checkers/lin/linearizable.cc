// Checker "linearizable": is there a total order of the operations, consistent with their
// real-time order, in which every operation's result is what the model gives?
//
// A violation: a key (or the whole history, when it is not split) for which no such order
// exists. Semantics of outcomes (Herlihy and Wing 1990; Jepsen/Knossos conventions):
//   - ok: took effect exactly once, at some instant between invocation and completion;
//   - fail: never took effect, and is dropped, except where the model gives a failure a
//     meaning (cas-register: a failed cas means the compare did not match; it is then a no-op
//     that must still fit at some instant between its invocation and completion);
//   - info, or never completed: may take effect at any instant after its invocation, or never;
//     its result is unknown; an info read constrains nothing.
// We read intervals as closed at the recorded positions of invocation and completion in the
// history (its order is its real-time order); an op completed before another was invoked
// precedes it.
//
// Independent keys are checked separately (P-compositionality: Herlihy and Wing's locality,
// and Horn and Kroening, FORTE 2015), in parallel on CheckContext::threads threads. Once a key
// is found illegal, keys after it in key order are skipped; keys before it are still checked,
// so the first illegal key reported does not depend on timing, except that a key whose
// unbounded search (engine search, or the portfolio's last resort) is still running one second
// (kStopGrace) after a later key was found illegal is stopped and reported as "stopped" (the
// verdict is invalid either way; Porcupine stops at once).
//
// Engines: "search" (linear_search.h), "smt" (z3_linear.h), "portfolio" (the default: the
// search within a step budget, then Z3 on keys that exhaust it, then the search again without
// a budget if Z3 could not decide; see check_key). With any engine, each illegal key
// gets a minimal counterexample: the history is cut at the shortest illegal prefix (prefix-
// closure), shrunk by delta debugging with the search (every op whose removal keeps it illegal
// goes), then Z3's unsat core (core.minimize) over what is left; the core's ops are printed in
// time order with the longest linearization of them and the op that cannot follow it.
#include <algorithm>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "checkers/lin/linear_search.h"
#include "checkers/lin/model.h"
#include "checkers/lin/unique_values.h"
#include "checkers/lin/z3_linear.h"
#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/options.h"

namespace faultline::lin {
namespace {

using Clock = std::chrono::steady_clock;

// Portfolio engine: the search's step budget (plus kSearchBudgetPerOp per op), Z3's time, and
// the largest key handed to Z3 (beyond it Z3 rarely answers in time: a 10k-op kv key of the
// 50-client benchmark took Z3 30 s for nothing, the search 0.3 s), smaller for Z3's strings.
constexpr uint64_t kSearchBudgetSteps = 2'000'000;
// The quick pass over every key of a split history (check()): this many steps per key (plus
// kQuickStepsPerOp per op), so that an illegal key that is cheap to decide is found before an
// expensive one earlier in key order (Porcupine's kv c50-bad: every key is illegal; key "0"
// takes its search 2 s and Z3, key "1" 0.01 s).
constexpr uint64_t kQuickSteps = 20'000;
constexpr uint64_t kQuickStepsPerOp = 20;
constexpr uint64_t kSearchBudgetPerOp = 100;
constexpr auto kSmtBudget = std::chrono::seconds(30);
constexpr auto kSmtSliceMin = std::chrono::milliseconds(500);
constexpr size_t kSmtMaxOps = 5'000;
constexpr size_t kSmtMaxStringOps = 1'000;
size_t smt_max_ops(const Model& model) {
  return model.symbolic_domain() == SymbolicDomain::kString ? kSmtMaxStringOps : kSmtMaxOps;
}
// The same for each trial of the counterexample shrink.
constexpr uint64_t kExplainBudgetSteps = 100'000;
constexpr uint64_t kTrialStepsFactor = 8;
// Z3's time per shrink trial. Trials Z3 cannot decide count as "not shown illegal"; on
// c50-bad's key "0" (strings, 84 ops) two of 28 trials ran into a 2 s box and decided
// nothing, and no trial that did decide took over 0.4 s.
constexpr auto kExplainSmtTrial = std::chrono::milliseconds(500);
// How long keys before an illegal one may still run before they are stopped.
constexpr auto kStopGrace = std::chrono::seconds(1);

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string op_process(const Op& op) {
  return op.is_nemesis() ? std::string("nemesis") : std::to_string(op.process);
}

Json op_json(const LinOp& l) {
  Json j = {{"index", l.invoke->index},
            {"process", l.invoke->process},
            {"f", l.invoke->f},
            {"value", l.invoke->value},
            {"type", std::string(to_string(l.complete ? l.complete->type : OpType::kInfo))}};
  if (l.invoke->line > 0) j["line"] = l.invoke->line;
  if (l.complete) {
    j["complete_index"] = l.complete->index;
    if (l.complete->line > 0) j["complete_line"] = l.complete->line;
    if (l.complete->type == OpType::kOk) j["result"] = l.complete->value;
  }
  if (l.invoke->time_ns != kNoTime) j["time"] = l.invoke->time_ns;
  if (l.complete && l.complete->time_ns != kNoTime) j["complete_time"] = l.complete->time_ns;
  return j;
}

// One line for an op: "process 3, cas 1 -> 4 (ok; invoked line 20, completed line 25)".
std::string op_line(const LinOp& l, const Model& model) {
  std::ostringstream s;
  s << "process " << op_process(*l.invoke) << ": " << model.describe_call(l.call) << " ("
    << to_string(l.complete ? l.complete->type : OpType::kInfo);
  auto where = [](const Op& op) {
    return op.line > 0 ? "line " + std::to_string(op.line) : "op " + std::to_string(op.index);
  };
  s << "; invoked " << where(*l.invoke);
  if (l.complete)
    s << ", completed " << where(*l.complete);
  else
    s << ", never completed";
  s << ")";
  return s.str();
}

struct Options {
  std::string model;
  std::string engine = "portfolio";
  std::optional<bool> independent;  // split by key; default: when ops carry keys
  bool explain = true;
  Model::FailedCas failed_cas = Model::FailedCas::kUnknown;
  bool unique_values = true;  // the exact zone check for keys with unique written values
  bool locality = true;       // unsplit, a model of independent keys: key by key anyway
};

// The operations of one key. With a "key" field they point into the whole history (no copy);
// with [key value] pairs into `owned`, the key's history with the pairs unwrapped.
struct KeyPart {
  Json key;
  std::vector<Operation> ops;
  History owned;
  int64_t end = 0;  // one past the last position of the key's ops
};

// Everything found about one key.
struct KeyResult {
  Json key;
  SearchVerdict verdict = SearchVerdict::kLinearizable;
  std::string reason;
  bool checked = false;
  bool stopped = false;        // cancelled: a later key was illegal and this one ran on too long
  bool unique_values = false;  // decided by the zone check (unique_values.h), not a search
  std::string unique_why;      // its reason, for an illegal key
  size_t ops = 0;
  SearchResult search;
  Json counterexample;  // for illegal keys
  std::string explanation;
  double search_s = 0, smt_s = 0, explain_s = 0;
};

class Linearizable : public Checker {
 public:
  explicit Linearizable(Options o) : o_(std::move(o)) {}

  CheckResult check(const History& history, const CheckContext& ctx) override {
    if (!history.invocations_known()) {
      throw ConfigError(
          "linearizable: the history has completions only; linearizability needs each "
          "operation's invocation (its real-time interval). Elle's checkers (-c list-append, "
          "-c rw-register) accept such histories");
    }
    auto t0 = Clock::now();
    std::string model_name = o_.model.empty() ? guess_model(history) : o_.model;
    if (model_name.empty()) {
      throw ConfigError(
          "linearizable: cannot guess a model from the operations; name one with --model "
          "(known: " +
          join(ModelRegistry::names()) + ")");
    }
    const ModelFactory& factory = ModelRegistry::get("model", model_name);

    // Partition by key. Unsplit (independent false) with a model of independent keys whose
    // ops name their keys, the check still goes key by key: by locality the verdict is the
    // same, and the search's state is one key's, not the whole map's (Porcupine's kv c50
    // unsplit runs past 300 s in either checker otherwise).
    const bool keyed = default_split(history);
    bool split = o_.independent.value_or(keyed);
    bool by_locality = false;
    if (!split && o_.locality && keyed && factory()->local_by_key()) {
      split = true;
      by_locality = true;
    }
    std::vector<KeyPart> parts = partition(history, split);
    double split_s = seconds_since(t0);

    std::vector<KeyResult> results(parts.size());
    std::atomic<size_t> next{0};
    std::atomic<size_t> first_illegal{SIZE_MAX};
    std::unique_ptr<std::atomic<bool>[]> stop(new std::atomic<bool>[parts.size()]);
    for (size_t k = 0; k < parts.size(); ++k) stop[k] = false;
    std::mutex error_mu;
    std::exception_ptr error;  // the first, rethrown as it is: bad input, or out of memory
    bool quick = false;
    auto worker = [&] {
      while (true) {
        size_t k = next.fetch_add(1);
        if (k >= parts.size()) return;
        if (k > first_illegal.load() || results[k].checked) continue;
        try {
          check_key(parts[k], factory, ctx, results[k], first_illegal, k, &stop[k], quick);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (!error) error = std::current_exception();
          first_illegal = 0;
        }
      }
    };
    int threads = std::max(1, std::min<int>(ctx.threads, static_cast<int>(parts.size())));
    auto run_workers = [&] {
      std::vector<std::thread> pool;
      for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
      worker();
      for (auto& t : pool) t.join();
    };
    bool quick_found = false;  // the quick pass showed a key illegal: no full check
    // The quick pass: every key gets the zone check or a short, step-bounded search (so its
    // outcome does not depend on timing or threads). When it finds an illegal key, that is the
    // answer: the keys before it it left undecided are reported as stopped (undecided once a
    // later key was illegal), the keys after it skipped, as Porcupine stops at the first
    // illegal key it finds. Otherwise the full check goes on with the keys it left undecided.
    if (parts.size() > 1 && o_.engine != "smt") {
      quick = true;
      run_workers();
      if (error) std::rethrow_exception(error);
      quick = false;
      next = 0;
      const size_t fi = first_illegal.load();
      if (fi != SIZE_MAX) {
        for (size_t k = 0; k < fi; ++k) {
          if (results[k].checked) continue;
          results[k].key = parts[k].key;
          results[k].checked = true;
          results[k].stopped = true;
          results[k].verdict = SearchVerdict::kUnknown;
        }
        quick_found = true;
      }
    }
    // Once a key is illegal the verdict is invalid: keys before it that are still running after
    // kStopGrace are stopped (as Porcupine stops at the first illegal key). Raising the flag
    // of a key that has finished changes nothing (check_key reads it right after its search),
    // and every key before the illegal one has started, so no per-key state is needed. Quick
    // keys finish within the grace, so the result does not depend on timing unless a key is
    // slow. One key has nothing before it to stop.
    std::atomic<bool> done{false};
    std::thread watchdog;
    if (parts.size() > 1 && !quick_found) {
      watchdog = std::thread([&] {
        Clock::time_point seen = Clock::time_point::max();
        while (!done.load()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          const size_t fi = first_illegal.load();
          if (fi == SIZE_MAX) continue;
          if (seen == Clock::time_point::max()) seen = Clock::now();
          if (Clock::now() - seen < kStopGrace) continue;
          for (size_t k = 0; k < fi && k < parts.size(); ++k) stop[k] = true;
        }
      });
    }
    if (!quick_found) run_workers();
    done = true;
    if (watchdog.joinable()) watchdog.join();
    if (error) std::rethrow_exception(error);
    // Keys after the first illegal one may or may not have been checked, depending on timing:
    // forget them all, so the result is the same on every run and with any number of threads.
    for (size_t k = first_illegal.load() == SIZE_MAX ? results.size() : first_illegal.load() + 1;
         k < results.size(); ++k) {
      results[k] = KeyResult{};
    }

    // Explanations for illegal keys (in key order), then assemble.
    auto te = Clock::now();
    for (auto& r : results) {
      if (r.checked && r.verdict == SearchVerdict::kIllegal && o_.explain) {
        explain(parts, r, factory, ctx);
      }
    }
    CheckResult out = assemble(model_name, split, parts, results, ctx, split_s, seconds_since(te),
                               seconds_since(t0));
    if (by_locality) {
      out.details["split_by_key"] = false;
      out.details["decided_by_locality"] = true;
      out.details["summary"] = out.details["summary"].get<std::string>() +
                               " (not split: decided key by key, exact by locality: model " +
                               model_name + " is independent keys)";
    }
    return out;
  }

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  }

  // Split when ops carry a "key" field, or when every client invocation's value is a pair
  // [key value] (Jepsen's independent keys; a read there is [k nil], so a plain register's
  // read of nil keeps the history whole).
  static bool default_split(const History& history) {
    bool any = false, all_pairs = true;
    for (const Op& op : history) {
      if (op.is_nemesis() || !op.is_invoke()) continue;
      any = true;
      if (op.extra.contains("key")) return true;
      if (!(op.value.is_array() && op.value.size() == 2)) all_pairs = false;
    }
    return any && all_pairs;
  }

  static std::vector<KeyPart> partition(const History& history, bool split) {
    std::vector<KeyPart> parts;
    bool key_field = false;
    for (const Op& op : history) {
      if (!op.is_nemesis() && op.extra.contains("key")) key_field = true;
    }
    if (!split || key_field) {
      // Group by the key's text (hashing), then order the groups by key (JSON's order).
      std::unordered_map<std::string, size_t> index;
      std::string text;
      for (const Operation& o : client_operations(history)) {
        Json key = split ? op_key(*o.invoke) : Json(nullptr);
        if (split && key.is_null()) continue;
        text = key.is_string() ? "s" + key.get_ref<const std::string&>() : "j" + json_text(key);
        auto [it, inserted] = index.emplace(text, parts.size());
        if (inserted) {
          parts.emplace_back();
          parts.back().key = key;  // once per key
        }
        parts[it->second].ops.push_back(o);
      }
      if (parts.empty()) parts.emplace_back();
      std::sort(parts.begin(), parts.end(),
                [](const KeyPart& a, const KeyPart& b) { return a.key < b.key; });
    } else {
      std::vector<KeyedHistory> keyed = split_by_key(history);
      parts.resize(keyed.size());
      for (size_t i = 0; i < keyed.size(); ++i) {
        parts[i].key = keyed[i].key;
        parts[i].owned = std::move(keyed[i].history);
        parts[i].ops = client_operations(parts[i].owned);
      }
    }
    for (auto& p : parts) {
      for (const Operation& o : p.ops) {
        p.end = std::max(p.end, (o.complete ? o.complete->index : o.invoke->index) + 1);
      }
    }
    return parts;
  }

  // With `quick`, only the zone check and a short search (kQuickSteps): a key they do not
  // decide is left unchecked (r.checked false) for the full check.
  void check_key(const KeyPart& part, const ModelFactory& factory, const CheckContext& ctx,
                 KeyResult& r, std::atomic<size_t>& first_illegal, size_t k,
                 const std::atomic<bool>* stop, bool quick = false) {
    r.key = part.key;
    r.checked = true;
    std::unique_ptr<Model> model = new_model(factory);
    std::vector<LinOp> ops = prepare_ops(part.ops, *model);
    r.ops = ops.size();
    SearchLimits limits{ctx.deadline, ctx.memory_limit_bytes, ctx.cancel};
    limits.stop = stop;
    auto t = Clock::now();
    std::optional<UniqueValuesResult> unique;
    if (o_.unique_values && o_.engine != "smt") unique = check_unique_values(ops, *model);
    if (quick && !unique) {
      limits.max_steps = kQuickSteps + kQuickStepsPerOp * ops.size();
      limits.stop = nullptr;
      r.search = search(ops, *model, limits);
      r.search_s = seconds_since(t);
      r.verdict = r.search.verdict;
      if (r.verdict == SearchVerdict::kUnknown) {
        r = KeyResult{};  // undecided: the full check decides it
        return;
      }
    } else if (unique) {
      r.unique_values = true;
      r.verdict = unique->verdict;
      r.unique_why = unique->why;
      r.search.steps = ops.size();  // explain() sizes its search budgets from this
      r.search_s = seconds_since(t);
    } else if (o_.engine == "smt") {
      SmtOptions so;
      so.deadline = ctx.deadline;
      so.seed = ctx.seed;
      SmtResult s = smt_check(ops, *model, so);
      r.verdict = s.verdict;
      r.reason = s.reason;
      r.smt_s = seconds_since(t);
    } else {
      // Portfolio: the search within a step budget (deterministic, unlike a time budget: the
      // same history always takes the same path); a key that exhausts it goes to Z3 for a slice
      // as long as that search took (at least kSmtSliceMin), then the search again with four
      // times the budget, Z3 with its next slice, and so on: each engine gets about as much
      // time as the other, so neither one's hard case stalls the other's easy one (a heavy
      // 30-client cas register with values 0-4 needed 4.7M steps, 0.8 s, after Z3 had spent a
      // fixed 30 s on it). Once a slice reaches kSmtBudget, Z3 has had its chance: the search
      // runs on with no budget but the check's own limits. Keys whose illegality needs an
      // exhaustive search over many concurrent appends (kv/c50-bad, key "0") take Z3 0.2 s.
      const bool portfolio =
          o_.engine == "portfolio" && smt_supports(*model) && ops.size() <= smt_max_ops(*model);
      uint64_t budget = kSearchBudgetSteps + kSearchBudgetPerOp * ops.size();
      uint64_t steps = 0;
      bool capped = false;  // Z3 had a slice of kSmtBudget
      std::string smt_why;  // why Z3's last slice decided nothing
      r.search_s = 0;
      for (int round = 0;; ++round) {
        // The first round's search and Z3 are bounded and not stopped: letting them finish
        // keeps a quick key's result the same under any load. Later searches can be stopped.
        const bool last = !portfolio || capped;
        limits.max_steps = last ? 0 : budget;
        limits.stop = last || round > 0 ? stop : nullptr;
        auto ts = Clock::now();
        r.search = search(ops, *model, limits);
        const Clock::duration took = Clock::now() - ts;
        r.search_s += std::chrono::duration<double>(took).count();
        steps += r.search.steps;
        r.search.steps = steps;
        r.verdict = r.search.verdict;
        r.reason = r.search.unknown_reason;
        if (r.verdict != SearchVerdict::kUnknown || last || ctx.expired() ||
            (ctx.cancel && ctx.cancel->load()) || stop->load()) {
          break;
        }
        // A search that stopped on the memory limit cannot go further: Z3 gets its whole
        // kSmtBudget, and that is the last word.
        const bool out_of_steps = r.search.out_of_steps;
        auto t2 = Clock::now();
        const Clock::duration slice =
            out_of_steps ? std::clamp<Clock::duration>(took, kSmtSliceMin, kSmtBudget) : kSmtBudget;
        SmtOptions so;
        so.deadline = std::min(ctx.deadline, t2 + slice);
        so.seed = ctx.seed;
        SmtResult z = smt_check(ops, *model, so);
        r.smt_s += seconds_since(t2);
        if (z.verdict != SearchVerdict::kUnknown) {
          r.verdict = z.verdict;
          r.reason.clear();
          break;
        }
        smt_why = z.reason;
        if (!out_of_steps) break;
        capped = slice >= kSmtBudget;
        budget *= 4;
      }
      if (r.verdict == SearchVerdict::kUnknown && !smt_why.empty()) {
        r.reason += " (Z3: " + smt_why + ")";
      }
    }
    if (r.verdict == SearchVerdict::kUnknown && stop->load()) r.stopped = true;
    if (r.verdict == SearchVerdict::kIllegal) {
      size_t cur = first_illegal.load();
      while (k < cur && !first_illegal.compare_exchange_weak(cur, k)) {
      }
    }
  }

  // Minimal counterexample and the plain-words explanation of one illegal key.
  void explain(const std::vector<KeyPart>& parts, KeyResult& r, const ModelFactory& factory,
               const CheckContext& ctx) {
    auto t = Clock::now();
    const KeyPart* part = nullptr;
    for (const auto& p : parts) {
      if (p.key == r.key) part = &p;
    }
    std::unique_ptr<Model> model = new_model(factory);
    std::vector<LinOp> ops = prepare_ops(part->ops, *model);
    // Explaining gets at most 10 s (or what is left of the deadline), and each search in it at
    // most 256 MiB: a search that cannot finish counts as "not shown illegal", so the
    // counterexample may stay larger, never wrong.
    auto deadline = std::min(ctx.deadline, Clock::now() + std::chrono::seconds(10));
    const size_t explain_memory = 256u << 20;
    SearchLimits limits{
        deadline,
        ctx.memory_limit_bytes ? std::min(ctx.memory_limit_bytes, explain_memory) : explain_memory,
        ctx.cancel};
    // Each trial: the search; where the key itself needed Z3 (its search ran past the step
    // budget), the search within a step budget, then Z3 for at most kExplainSmtTrial.
    // Anything undecided counts as "not shown illegal".
    const bool use_smt = smt_supports(*model) && o_.engine != "search" && r.smt_s > 0;
    // Every trial's search also gets a step budget, a multiple of what the key's own search
    // took: with many ops relaxed, a trial can cost far more than the key, and one trial
    // must not eat the whole explanation budget (a 50-client key did, and kept 479 ops).
    const uint64_t trial_steps =
        std::max<uint64_t>(kExplainBudgetSteps, kTrialStepsFactor * r.search.steps);
    auto illegal = [&](const std::vector<LinOp>& v) {
      // Exact and fast where it applies (no op relaxed to optional).
      if (o_.unique_values) {
        if (auto u = check_unique_values(v, *model)) return u->verdict == SearchVerdict::kIllegal;
      }
      SearchLimits l = limits;
      const bool smt_next = use_smt && v.size() <= smt_max_ops(*model);
      l.max_steps = (smt_next ? kExplainBudgetSteps : trial_steps) + 20 * v.size();
      SearchResult sr = search(v, *model, l);
      if (sr.verdict != SearchVerdict::kUnknown || !smt_next || Clock::now() >= deadline) {
        return sr.verdict == SearchVerdict::kIllegal;
      }
      SmtOptions so;
      so.deadline = std::min(deadline, Clock::now() + kExplainSmtTrial);
      so.seed = ctx.seed;
      return smt_check(v, *model, so).verdict == SearchVerdict::kIllegal;
    };

    // 1. Shortest illegal prefix: ops invoked before the cut; those completing after it become
    // pending (they may or may not take effect). Prefix-closure makes this monotone.
    auto cut = [&](int64_t c) {
      std::vector<LinOp> v;
      for (const LinOp& l : ops) {
        if (l.call_pos >= c) continue;
        LinOp x = l;
        if (x.ret_pos != INT64_MAX && x.ret_pos >= c) {
          x.ret_pos = INT64_MAX;
          x.call.outcome = Outcome::kInfo;
        }
        v.push_back(x);
      }
      return v;
    };
    int64_t lo = 0, hi = part->end;
    while (lo + 1 < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (illegal(cut(mid)))
        hi = mid;
      else
        lo = mid;
    }
    std::vector<LinOp> cur = cut(hi);
    if (!illegal(cur)) cur = ops;  // budget ran out: keep the whole key

    // 2. Delta debugging with the search. An op is never deleted (a read whose write is gone
    // would look illegal on its own); it is relaxed: it may or may not have taken effect,
    // within its interval. Keep relaxing chunks of ops while the rest stays illegal.
    const std::vector<LinOp> base = cur;
    auto relaxed = [&](const std::vector<char>& kept) {
      std::vector<LinOp> v = base;
      for (size_t j = 0; j < v.size(); ++j) {
        if (!kept[j]) v[j].optional = true;
      }
      return v;
    };
    std::vector<size_t> keep;  // indexes into base of the ops still as recorded
    for (size_t j = 0; j < base.size(); ++j) {
      if (base[j].ret_pos != INT64_MAX) keep.push_back(j);
    }
    std::vector<char> kept(base.size(), 0);
    for (size_t j : keep) kept[j] = 1;
    for (size_t chunk = std::max<size_t>(1, keep.size() / 2); !keep.empty(); chunk /= 2) {
      size_t i = 0;
      while (i < keep.size() && Clock::now() < deadline) {
        std::vector<char> trial = kept;
        for (size_t j = i; j < std::min(keep.size(), i + chunk); ++j) trial[keep[j]] = 0;
        if (illegal(relaxed(trial))) {
          kept.swap(trial);
          keep.erase(keep.begin() + static_cast<std::ptrdiff_t>(i),
                     keep.begin() + static_cast<std::ptrdiff_t>(std::min(keep.size(), i + chunk)));
        } else {
          i += chunk;
        }
      }
      if (chunk <= 1) break;
    }

    // 3. Z3's unsat core (core.minimize) over the ops still kept, with the relaxed ops that
    // overlap them in time, then checked again by the search.
    bool minimal_by_smt = false;
    if (smt_supports(*model) && !keep.empty()) {
      int64_t lo_pos = INT64_MAX, hi_pos = 0;
      for (size_t j : keep) {
        lo_pos = std::min(lo_pos, base[j].call_pos);
        hi_pos = std::max(hi_pos, base[j].ret_pos);
      }
      // The window: the ops overlapping the kept ones' span, and every op still running when
      // one of those was invoked. Earlier ops all completed before any op of the window was
      // invoked, so whatever they did is some state before the window: Z3 starts from any
      // state (free_init), which only makes an unsat core harder to get, never wrong.
      std::vector<LinOp> window;
      std::vector<size_t> window_index;
      std::vector<LinOp> all = relaxed(kept);
      int64_t first_call = lo_pos;
      for (const LinOp& l : all) {
        if (l.call_pos <= hi_pos && l.ret_pos >= lo_pos)
          first_call = std::min(first_call, l.call_pos);
      }
      for (size_t j = 0; j < all.size(); ++j) {
        if (all[j].call_pos <= hi_pos && all[j].ret_pos >= first_call) {
          window.push_back(all[j]);
          window_index.push_back(j);
        }
      }
      // Z3's string theory (kv) can take far more memory and time than its timeout suggests
      // on wide windows: keep the core step to small windows.
      const size_t max_window = model->symbolic_domain() == SymbolicDomain::kString ? 30 : 120;
      if (window.size() <= max_window) {
        // Delta debugging has made the set 1-minimal already; the core confirms it or finds a
        // smaller one elsewhere, in a short time box (with 0.3 s, 78 of the 79 illegal etcd
        // histories end with a confirmed core; with 1 s all 79, but the slowest takes 1.4 s).
        SmtOptions so;
        so.core = true;
        so.deadline = std::min(deadline, Clock::now() + std::chrono::milliseconds(300));
        so.seed = ctx.seed;
        so.free_init = window.size() < all.size() && window_index.front() > 0;
        SmtResult sres = smt_check(window, *model, so);
        if (sres.verdict == SearchVerdict::kIllegal && !sres.core.empty()) {
          std::vector<char> core_kept(base.size(), 0);
          for (int32_t w : sres.core) core_kept[window_index[static_cast<size_t>(w)]] = 1;
          if (illegal(relaxed(core_kept))) {
            kept.swap(core_kept);
            minimal_by_smt = true;
          }
        }
      }
    }
    cur.clear();
    for (size_t j = 0; j < base.size(); ++j) {
      if (kept[j]) cur.push_back(base[j]);
    }
    const std::vector<LinOp> context = relaxed(kept);
    const size_t relaxed_count = base.size() - cur.size();

    // 4. Words: the ops, then the longest order of them and what breaks it. With many ops
    // relaxed this search may not finish (c50-bad's key "0": 82 relaxed ops, 1.9 s to the
    // memory bound); it gets as many steps as the key's own search, and the text then only
    // claims what it found.
    SearchLimits words_limits = limits;
    words_limits.max_steps = kExplainBudgetSteps + r.search.steps + 20 * context.size();
    SearchResult sr = search(context, *model, words_limits);
    const bool exhausted = sr.verdict == SearchVerdict::kIllegal;
    Json ops_json = Json::array();
    for (const LinOp& l : cur) ops_json.push_back(op_json(l));
    std::ostringstream text;
    std::string key_name = r.key.is_null() ? "the history" : "key " + json_text(r.key);
    text << "Not linearizable: " << key_name << ". These " << cur.size()
         << " operations cannot be put in any order that respects real time (an operation that "
            "completed before another was invoked must come first) in which every result is "
            "what a "
         << model->name() << " gives:\n";
    for (const LinOp& l : cur) text << "  - " << op_line(l, *model) << "\n";
    if (relaxed_count > 0) {
      text << "(The other " << relaxed_count << " operations of " << key_name
           << " up to there are taken as possibly not having happened; it fails all the same.)\n";
    }
    if (sr.blocked_op >= 0) {
      // The order found, its last steps in words (earlier ones are only counted).
      constexpr size_t kShown = 8;
      const size_t len = sr.longest_prefix.size();
      int64_t state = model->init();
      std::string order;
      if (len > kShown) order = std::to_string(len - kShown) + " earlier operations";
      for (size_t k = 0; k < len; ++k) {
        const LinOp& l = context[static_cast<size_t>(sr.longest_prefix[k])];
        state = model->step(state, l.call);
        if (k + kShown < len) continue;
        order += (order.empty() ? "" : ", then ") + model->describe_call(l.call) + " by process " +
                 op_process(*l.invoke);
      }
      const LinOp& b = context[static_cast<size_t>(sr.blocked_op)];
      text << (exhausted ? "The furthest any order gets: "
                         : "The furthest order found (the search for the furthest stopped at "
                           "its budget; a longer one may exist): ")
           << (order.empty() ? std::string("nothing can go first") : order)
           << "; the state is then " << model->describe_state(state) << ", and process "
           << op_process(*b.invoke) << "'s " << model->describe_call(b.call)
           << " must come next (it completed before anything else left could start) but "
              "cannot happen in that state."
           << (exhausted ? " No order gets further." : "") << "\n";
    }
    r.explanation = text.str();
    r.counterexample = {{"key", r.key},
                        {"ops", ops_json},
                        {"minimal", minimal_by_smt ? "unsat-core" : "delta-debugging"},
                        // Whether "the furthest order" of the explanation is the furthest of
                        // all (the search finished) or the furthest found in its budget.
                        {"furthest_order", exhausted ? "exhaustive" : "step budget"}};
    r.explain_s = seconds_since(t);
  }

  CheckResult assemble(const std::string& model_name, bool split, const std::vector<KeyPart>& parts,
                       std::vector<KeyResult>& results, const CheckContext& ctx, double split_s,
                       double explain_s, double total_s) {
    (void)ctx;
    CheckResult out;
    Validity v = Validity::kValid;
    Json illegal = Json::array(), unknown = Json::array(), stopped = Json::array();
    size_t checked = 0, skipped = 0, ops = 0, unique_keys = 0;
    uint64_t steps = 0, cache_entries = 0, pruned = 0;
    size_t peak = 0;
    double search_s = 0, smt_s = 0;
    std::string explanation;
    Json counterexamples = Json::array();
    Json longest = nullptr;
    for (auto& r : results) {
      if (!r.checked) {
        ++skipped;
        continue;
      }
      ++checked;
      ops += r.ops;
      unique_keys += r.unique_values;
      steps += r.search.steps;
      cache_entries += r.search.cache_entries;
      pruned += r.search.pruned;
      peak = std::max(peak, r.search.peak_bytes);
      search_s += r.search_s;
      smt_s += r.smt_s;
      if (r.verdict == SearchVerdict::kIllegal) {
        v = Validity::kInvalid;
        illegal.push_back(r.key);
        if (!r.counterexample.is_null()) counterexamples.push_back(r.counterexample);
        if (r.unique_values) {
          explanation +=
              "Key " + r.key.dump() +
              " (written values all distinct, decided by the zone check): " + r.unique_why + ".\n";
        }
        explanation += r.explanation;
        if (longest.is_null() && !r.unique_values) {
          longest = {{"key", r.key}, {"length", r.search.longest_prefix.size()}, {"of", r.ops}};
        }
      } else if (r.stopped) {
        stopped.push_back(r.key);
      } else if (r.verdict == SearchVerdict::kUnknown) {
        v = merge(v, Validity::kUnknown);
        unknown.push_back({{"key", r.key}, {"reason", r.reason}});
      }
    }
    if (!stopped.empty() && illegal.empty()) v = merge(v, Validity::kUnknown);  // cannot happen
    out.validity = v;
    std::ostringstream summary;
    summary << model_name << ", " << (split ? std::to_string(parts.size()) + " keys" : "1 history")
            << ", " << ops << " ops";
    if (!illegal.empty()) summary << ", " << illegal.size() << " illegal";
    if (!unknown.empty()) {
      summary << ", " << unknown.size() << " unknown (" << unknown[0]["reason"].get<std::string>()
              << ")";
    }
    if (skipped) summary << ", " << skipped << " skipped after the first illegal key";
    if (!stopped.empty()) {
      summary << ", " << stopped.size() << " stopped undecided once a later key was illegal";
    }
    out.details = {{"model", model_name},     {"engine", o_.engine},
                   {"split_by_key", split},   {"keys", parts.size()},
                   {"keys_checked", checked}, {"keys_by_unique_values", unique_keys},
                   {"keys_skipped", skipped}, {"ops", ops},
                   {"illegal_keys", illegal}, {"unknown_keys", unknown},
                   {"stopped_keys", stopped}, {"summary", summary.str()}};
    if (split && results.size() > 1) {
      // Keys in groups (at most 200 groups, at least 100 keys each), for CI reports that want
      // one test case per group: first and last key, count, and the group's verdict.
      size_t per = std::max<size_t>(100, (results.size() + 199) / 200);
      Json groups = Json::array();
      for (size_t g = 0; g < results.size(); g += per) {
        size_t end = std::min(results.size(), g + per);
        std::string gv = "valid";
        Json bad = Json::array();
        size_t not_checked = 0;
        for (size_t k = g; k < end; ++k) {
          const KeyResult& r = results[k];
          if (!r.checked || r.stopped) {
            ++not_checked;
          } else if (r.verdict == SearchVerdict::kIllegal) {
            gv = "invalid";
            bad.push_back(r.key);
          } else if (r.verdict == SearchVerdict::kUnknown && gv != "invalid") {
            gv = "unknown";
          }
        }
        if (gv == "valid" && not_checked) gv = "skipped";
        // The keys from the partition: a key skipped after the first illegal one has no result.
        groups.push_back({{"first", parts[g].key},
                          {"last", parts[end - 1].key},
                          {"keys", end - g},
                          {"valid", gv},
                          {"illegal", bad}});
      }
      out.details["key_groups"] = groups;
    }
    if (!counterexamples.empty()) out.details["counterexamples"] = counterexamples;
    if (!longest.is_null()) out.details["longest_linearizable_prefix"] = longest;
    if (!explanation.empty()) out.details["explanation"] = explanation;
    out.timing = {{"split_s", split_s},
                  {"search_s", search_s},
                  {"smt_s", smt_s},
                  {"explain_s", explain_s},
                  {"total_s", total_s},
                  {"search_steps", steps},
                  {"cache_entries", cache_entries},
                  {"pruned_configurations", pruned},
                  {"peak_search_bytes", peak}};
    return out;
  }

  // A model for one key's search, read the way the options say.
  std::unique_ptr<Model> new_model(const ModelFactory& factory) const {
    std::unique_ptr<Model> model = factory();
    model->set_failed_cas(o_.failed_cas);
    return model;
  }

  Options o_;
};

const OptionDecls kOptions = {
    {"model", nullptr, "the model (register, cas-register, kv, set, ...; default: the workload's)"},
    {"engine", "portfolio", "search | smt | portfolio (search, then Z3 for the illegal keys)"},
    {"independent", nullptr,
     "check each key on its own (Jepsen's independent; default: when ops carry keys)"},
    {"explain", true, "find a minimal counterexample with Z3"},
    {"failed-cas", "unknown",
     "unknown: a failed cas with no error did not happen; mismatch: it did not match"},
    {"locality", true,
     "check an unsplit history (independent false) key by key when the model's keys are "
     "independent objects (kv): the same verdict, by locality; false searches the whole map"},
    {"unique-values", true,
     "decide keys whose written values are all distinct (reads and writes only) by the exact "
     "O(n log n) zone check of Gibbons and Korach instead of a search"},
};

std::unique_ptr<Checker> make(const Json& options) {
  const faultline::Options opts(options, kOptions, "linearizable checker");
  Options o;
  if (opts.has("model")) o.model = opts.text("model");
  o.engine = opts.text("engine", {"search", "smt", "portfolio"});
  if (opts.has("independent")) o.independent = opts.flag("independent");
  o.explain = opts.flag("explain");
  o.unique_values = opts.flag("unique-values");
  o.locality = opts.flag("locality");
  if (opts.text("failed-cas", {"unknown", "mismatch"}) == "mismatch") {
    o.failed_cas = Model::FailedCas::kMismatch;
  }
  if (!o.model.empty()) ModelRegistry::get("model", o.model);
  return std::make_unique<Linearizable>(std::move(o));
}

const bool registered = CheckerRegistry::add(
    "checker", "linearizable",
    "linearizability against a model (--model), key by key; Z3 explains illegal keys", make,
    kOptions);

}  // namespace
}  // namespace faultline::lin
