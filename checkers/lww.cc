// Checker "lww": last-writer-wins conflict resolution judged by real time (the lww workload,
// docs/workloads.md).
//
// Final reads: the ok read-all ops (one per node, after heal); the last per node counts; nodes
// without one are listed in "nodes-without-final-read" and not judged. For each key the
// surviving value is what the final reads hold. Reads: ok single-key reads ([k, x]) made while
// the test runs. A violation is
//   - "lost-later-write" (a real-time inversion): an ok write B of a key was invoked after an
//     ok write W of it had completed, yet W won: W's value survived in the final reads, or a
//     read on node N returned W's value after B had reached N (N acknowledged B itself, or an
//     earlier read on N returned B). In real time B came last, so a last-writer-wins database
//     that orders writes by real time keeps B; one that orders them by its nodes' clocks loses
//     B when B's node's clock was behind W's. A read that returns an older value before B
//     reached its node is only stale, never claimed. One anomaly per winning write W (its cause),
//     naming the first lost write and how many were lost to it; each lost write is counted
//     once however many reads show it. Explained with both writes, their nodes, their times,
//     and the clock offsets of the two nodes at those times, from the clock nemesis's ops in the
//     history (nemesis ops whose completion value has "offsets-ms": {node: ms}: bump-clock,
//     strobe-clock, reset-clock, check-clock-offsets; the latest one before each time);
//   - "divergence": the final reads of the nodes disagree about a key (or only some name it),
//     and no lost later write of the key explains it (when one does, the disagreement is data
//     of that key's first lost-later-write anomaly: one cause, one anomaly);
//   - "garbage": a surviving or read value no write of the key wrote;
//   - "failed-write-survived" / "failed-write-read": a surviving / read value whose only write
//     failed.
// What info means here: an info write may have applied at any time after its invocation, so it
// may win, and when it is the winner no inversion is claimed (its completion time is unknown);
// an info or failed B is not claimed lost (it may never have applied). Real-time order is the
// history's order (completion index before invocation index), as in linearizability; times are
// only for the words. No final read: unknown.
// Options: "local-writes-visible" (default true): a write acknowledged by node N is on N (true
// of every database whose clients write through the node they talk to; false for
// coordinator-based stores, where only a read on N shows what N has).
#include <algorithm>
#include <climits>
#include <map>
#include <set>
#include <stdexcept>

#include "checkers/op_report.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::checkers {
namespace {

bool is_clock_op(const Op& op) {
  return op.is_nemesis() && op.value.is_object() && op.value.contains("offsets-ms") &&
         op.value["offsets-ms"].is_object();
}

class LwwChecker : public Checker {
 public:
  explicit LwwChecker(bool local_writes_visible) : local_writes_visible_(local_writes_visible) {}
  CheckResult check(const History& history, const CheckContext&) override {
    AnomalyList anomalies;
    // Clock offsets recorded by the nemesis, by history index.
    std::vector<const Op*> clock_ops;
    for (const Op& op : history) {
      if (is_clock_op(op)) clock_ops.push_back(&op);
    }
    auto offsets_at = [&](int64_t index) -> const Op* {
      const Op* found = nullptr;
      for (const Op* c : clock_ops) {
        if (c->index > index) break;
        found = c;
      }
      return found;
    };
    // Clock nemesis ops in flight: the invocation (its request) and the index of its
    // completion. While one runs the offsets move (a strobe flips for a second), so the last
    // completed op's offsets are not the whole truth.
    struct InFlight {
      const Op* invoke;
      int64_t complete_index;
    };
    std::vector<InFlight> moves;
    {
      std::map<std::string, const Op*> open;  // f -> its invocation
      for (const Op& op : history) {
        if (!op.is_nemesis()) continue;
        if (op.f != "bump-clock" && op.f != "strobe-clock" && op.f != "reset-clock") continue;
        if (is_clock_op(op)) {
          auto it = open.find(op.f);
          if (it != open.end()) moves.push_back({it->second, op.index});
          open.erase(op.f);
        } else {
          open[op.f] = &op;
        }
      }
      for (const auto& [f, inv] : open) moves.push_back({inv, INT64_MAX});  // never completed
    }
    auto in_flight_words = [&](const std::string& node, int64_t index) {
      for (const InFlight& m : moves) {
        if (m.invoke->index >= index || m.complete_index <= index) continue;
        const Json& v = m.invoke->value;
        std::string what;
        if (m.invoke->f == "strobe-clock" && v.is_object()) {
          auto nodes = v.value("nodes", std::vector<std::string>());
          if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) continue;
          what = "flipping by " + json_text(v.value("delta-ms", Json(0))) + " ms every " +
                 json_text(v.value("period-ms", Json(0))) + " ms";
        } else if (m.invoke->f == "bump-clock" && v.is_object()) {
          if (!v.contains(node)) continue;
          what = "stepping by " + json_text(v[node]) + " ms";
        } else {
          what = "resetting to 0";
        }
        return ", while the clock nemesis's " + m.invoke->f + " invoked at " +
               seconds_text(m.invoke->time_ns) + " was " + what;
      }
      return std::string();
    };
    // Before the first clock op the nemesis had not moved any clock (it resets them at setup).
    auto offset_words = [&](const std::string& node, int64_t index) {
      const Op* c = offsets_at(index);
      const std::string moving = in_flight_words(node, index);
      if (!c) return node + " +0 ms (before the first clock nemesis op" + moving + ")";
      const Json& o = c->value["offsets-ms"];
      std::string ms = o.contains(node) ? json_text(o[node]) : std::string("0");
      if (!ms.empty() && ms[0] != '-') ms = "+" + ms;
      return node + " " + ms + " ms (as of the clock nemesis's " + c->f + " at " +
             seconds_text(c->time_ns) + moving + ")";
    };
    auto offset_json = [&](const std::string& node, int64_t index) -> Json {
      const Op* c = offsets_at(index);
      if (!c) return nullptr;
      const Json& o = c->value["offsets-ms"];
      return {{"node", node},
              {"offset-ms", o.contains(node) ? o[node] : Json(0)},
              {"nemesis-index", c->index},
              {"nemesis-f", c->f}};
    };

    std::vector<Operation> ops = client_operations(history);
    std::map<int64_t, std::vector<const Operation*>> writes;               // key -> writes
    std::map<std::pair<int64_t, std::string>, const Operation*> by_value;  // (key, x text)
    std::map<std::string, const Operation*> finals;
    std::map<std::string, int64_t> write_counts;
    std::vector<const Operation*> reads;  // ok single-key reads, in invocation order
    for (const Operation& op : ops) {
      if (op.invoke->f == "read-all") {
        if (op.type() == OpType::kOk) {
          const std::string node = node_of(op);
          finals[node] = &op;
        }
        continue;
      }
      if (op.invoke->f == "read") {
        if (op.type() == OpType::kOk && op.complete->value.is_array() &&
            op.complete->value.size() == 2 && op.complete->value[0].is_number_integer()) {
          reads.push_back(&op);
        }
        continue;
      }
      if (op.invoke->f != "write") continue;
      ++write_counts[std::string(to_string(op.type()))];
      const Json& v = op.invoke->value;
      if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer()) continue;
      const int64_t key = v[0].get<int64_t>();
      writes[key].push_back(&op);
      by_value[{key, json_text(v[1])}] = &op;
    }

    // Lost later writes, grouped by their cause: the earlier write W that won. Each group is
    // one anomaly; each lost write B is counted once, however many reads show it.
    struct LossGroup {
      int64_t key = 0;
      const Operation* winner = nullptr;
      std::vector<const Operation*> lost;  // in history order of invocation
      std::set<const Operation*> lost_set;
      std::string seen;  // how it was seen first: "the final reads" or a read's words
      const Operation* seen_by = nullptr;  // that read (null for the final reads)
    };
    std::map<std::pair<int64_t, int64_t>, LossGroup> losses;  // (key, W invoke index) -> group
    int64_t inversions = 0;
    std::map<int64_t, int64_t> lost_per_key;
    auto lose = [&](int64_t key, const Operation& w, const Operation& b, const std::string& seen,
                    const Operation* seen_by) {
      LossGroup& g = losses[{key, w.invoke->index}];
      if (!g.winner) {
        g.key = key;
        g.winner = &w;
        g.seen = seen;
        g.seen_by = seen_by;
      }
      if (!g.lost_set.insert(&b).second) return;
      g.lost.push_back(&b);
      ++inversions;
      ++lost_per_key[key];
    };
    auto later_than = [](const Operation& b, const Operation& w) {
      return b.invoke->index > w.complete->index;  // B began after W had finished
    };

    // Every read judged on its own: a read on node N that returns W's value while an ok write
    // B, begun after W finished, had already reached N (B was acknowledged by N itself, or an
    // earlier read on N returned it) shows B lost to W on N.
    std::map<std::pair<int64_t, std::string>, std::vector<const Operation*>> reads_on;  // key,node
    int64_t reads_judged = 0;
    for (const Operation* r : reads) {
      const int64_t key = r->complete->value[0].get<int64_t>();
      const std::string node = node_of(*r);
      const Json& x = r->complete->value[1];
      std::vector<const Operation*>& before = reads_on[{key, node}];
      if (!x.is_null()) {
        ++reads_judged;
        auto w_it = by_value.find({key, json_text(x)});
        if (w_it == by_value.end()) {
          anomalies.add("garbage",
                        "key " + std::to_string(key) + ": " + operation_words(*r) + " read " +
                            json_text(x) + ", which no write of the key wrote",
                        {{"key", key}, {"value", x}, {"ops", {operation_json(*r)}}});
        } else if (w_it->second->type() == OpType::kFail) {
          anomalies.add(
              "failed-write-read",
              "key " + std::to_string(key) + ": " + operation_words(*r) + " read " + json_text(x) +
                  ", but its write failed: " + operation_words(*w_it->second),
              {{"key", key}, {"ops", {operation_json(*w_it->second), operation_json(*r)}}});
        } else if (w_it->second->type() == OpType::kOk) {
          const Operation& w = *w_it->second;
          for (const Operation* b : writes[key]) {
            if (b == &w || b->type() != OpType::kOk || !later_than(*b, w)) continue;
            if (b->complete->index > r->invoke->index) continue;  // not acknowledged before R
            bool on_node = local_writes_visible_ && node_of(*b) == node;
            for (const Operation* e : before) {
              if (on_node) break;
              on_node = e->complete->index < r->invoke->index &&
                        json_text(e->complete->value[1]) == json_text(b->invoke->value[1]);
            }
            if (!on_node) continue;
            lose(key, w, *b,
                 operation_words(*r) + " at " + seconds_text(r->invoke->time_ns) + " read it on " +
                     node + " after " + node + " had the later write",
                 r);
          }
        }
      }
      before.push_back(r);
    }

    // Survivors per key, across nodes.
    std::map<int64_t, std::map<std::string, Json>> survivors;  // key -> node -> value
    for (const auto& [node, op] : finals) {
      const Json& all = op->complete->value;
      if (!all.is_object()) continue;
      for (const auto& [k, v] : all.items()) {
        try {
          survivors[std::stoll(k)][node] = v;
        } catch (const std::exception&) {
        }
      }
    }
    Json per_key = Json::object();
    std::map<int64_t, Json> diverged;  // key -> the final reads' values per node
    for (const auto& survivor : survivors) {
      const int64_t key = survivor.first;
      const std::map<std::string, Json>& by_node = survivor.second;
      const std::string key_text = std::to_string(key);
      std::set<std::string> distinct;
      for (const auto& [node, v] : by_node) distinct.insert(json_text(v));
      Json node_values = Json::object();
      for (const auto& [node, v] : by_node) node_values[node] = v;
      if (distinct.size() > 1 || by_node.size() != finals.size()) {
        diverged[key] = node_values;  // an anomaly of its own unless a lost write explains it
      }
      for (const std::string& x : distinct) {
        auto w_it = by_value.find({key, x});
        if (w_it == by_value.end()) {
          anomalies.add("garbage",
                        "key " + key_text + ": the final reads hold " + x +
                            ", which no write of the key wrote",
                        {{"key", key}, {"value", Json::parse(x)}});
          continue;
        }
        const Operation& w = *w_it->second;
        if (w.type() == OpType::kFail) {
          anomalies.add("failed-write-survived",
                        "key " + key_text + ": " + x +
                            " survived, but its write failed: " + operation_words(w),
                        {{"key", key}, {"ops", {operation_json(w)}}});
          continue;
        }
        if (w.type() != OpType::kOk) continue;  // an info survivor: no claim
        for (const Operation* b : writes[key]) {
          if (b == &w || b->type() != OpType::kOk || !later_than(*b, w)) continue;
          lose(key, w, *b, "the final reads hold it", nullptr);
        }
      }
      per_key[key_text] = {{"survivors", node_values}, {"writes", writes[key].size()}};
    }
    for (const auto& [key, n] : lost_per_key) {
      Json& d = per_key[std::to_string(key)];
      if (!d.is_object()) d = {{"writes", writes[key].size()}};
      d["lost-later-writes"] = n;
    }

    // One cause, one anomaly: the nodes of a key whose later write was lost disagree because
    // of that loss (the writer's node kept its own write), so the divergence is data of the
    // key's first lost-later-write anomaly; a divergence with no loss is its own anomaly.
    std::set<int64_t> keys_with_loss;
    for (const auto& [id, g] : losses) keys_with_loss.insert(g.key);
    for (const auto& [key, node_values] : diverged) {
      if (keys_with_loss.count(key)) continue;
      Json involved = Json::array();
      for (const auto& [node, op] : finals) involved.push_back(operation_json(*op));
      anomalies.add("divergence",
                    "key " + std::to_string(key) +
                        ": the final reads disagree: " + json_text(node_values) + " (" +
                        std::to_string(finals.size()) + " nodes read)",
                    {{"key", key}, {"values", node_values}, {"ops", involved}});
    }
    std::set<int64_t> divergence_told;
    for (auto& [id, g] : losses) {
      const Operation& w = *g.winner;
      const Operation& b = *g.lost.front();
      const std::string key_text = std::to_string(g.key);
      const std::string x = json_text(w.invoke->value[1]);
      const std::string w_node = w.invoke->node.empty() ? "?" : w.invoke->node;
      const std::string b_node = b.invoke->node.empty() ? "?" : b.invoke->node;
      anomalies.add_with("lost-later-write", [&] {
        const std::string offsets =
            clock_ops.empty()
                ? std::string("unknown (no clock nemesis op in the history)")
                : offset_words(w_node, w.complete->index) + " when the first finished; " +
                      offset_words(b_node, b.invoke->index) + " when the second started";
        std::string more;
        if (g.lost.size() > 1) {
          more = " (and " + std::to_string(g.lost.size() - 1) +
                 " more later acknowledged writes of the key lost to it)";
        }
        Json lost_ops = Json::array();
        for (size_t i = 0; i < g.lost.size() && i < 20; ++i) {
          lost_ops.push_back(operation_json(*g.lost[i]));
        }
        Json involved = {operation_json(w), operation_json(b)};
        if (g.seen_by) involved.push_back(operation_json(*g.seen_by));
        std::string diverged_words;
        Json diverged_json = nullptr;
        auto d = diverged.find(g.key);
        if (d != diverged.end() && divergence_told.insert(g.key).second) {
          diverged_words = "; the final reads also disagree: " + json_text(d->second);
          diverged_json = d->second;
        }
        return std::pair<std::string, Json>(
            "key " + key_text + ": write " + x + " by " + operation_words(w) + " finished at " +
                seconds_text(w.complete->time_ns) + "; write " + json_text(b.invoke->value[1]) +
                " by " + operation_words(b) + " started at " + seconds_text(b.invoke->time_ns) +
                ", after it, and was acknowledged" + more + ", yet " + x + " won (" + g.seen +
                "): the later write lost. Clock offsets: " + offsets + diverged_words,
            {{"key", g.key},
             {"survivor", w.invoke->value[1]},
             {"lost", g.lost.size()},
             {"lost-ops", lost_ops},
             {"seen-by", g.seen_by ? Json(operation_json(*g.seen_by)) : Json("final reads")},
             {"divergence", diverged_json},
             {"ops", involved},
             {"offsets",
              {offset_json(w_node, w.complete->index), offset_json(b_node, b.invoke->index)}}});
      });
    }

    CheckResult r;
    r.validity = !anomalies.empty() ? Validity::kInvalid
                 : finals.empty()   ? Validity::kUnknown
                                    : Validity::kValid;
    std::string summary =
        std::to_string(writes.size()) + " keys, " + std::to_string(write_counts["ok"]) +
        " ok writes, " + std::to_string(reads_judged) + " reads judged, " +
        std::to_string(finals.size()) + " final reads, " + std::to_string(inversions) +
        " later writes lost (to " + std::to_string(losses.size()) + " earlier ones), " +
        std::to_string(clock_ops.size()) + " clock nemesis ops";
    if (finals.empty()) summary += "; no final read";
    r.details = {{"summary", summary},
                 {"writes", write_counts},
                 {"reads-judged", reads_judged},
                 {"final-reads", finals.size()},
                 {"keys", per_key},
                 {"lost-later-writes", inversions},
                 {"lost-later-write-groups", losses.size()},
                 {"clock-ops", clock_ops.size()}};
    report_nodes_without_final_read(ops, finals, &r.details);
    anomalies.write(&r.details);
    return r;
  }

 private:
  bool local_writes_visible_;
};

const OptionDecls kOptions = {
    {"local-writes-visible", true,
     "a read on a node must see that node's own earlier acknowledged writes"},
};

const bool registered = CheckerRegistry::add(
    "checker", "lww",
    "lww: surviving values vs real-time order of writes (later writes lost), with clock offsets",
    [](const Json& options) -> std::unique_ptr<Checker> {
      const Options o(options, kOptions, "lww");
      return std::make_unique<LwwChecker>(o.flag("local-writes-visible"));
    },
    kOptions);

}  // namespace
}  // namespace faultline::checkers
