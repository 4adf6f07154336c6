#include "checkers/elle/analysis.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "harness/errors.h"

namespace faultline::elle {

void add_session_edges(const TxnHistory& th, DepGraph* g) {
  // Process order.
  std::map<int64_t, uint32_t> last;
  for (uint32_t i = 0; i < th.txns.size(); ++i) {
    const Txn& t = th.txns[i];
    if (t.type == OpType::kFail) continue;
    auto [it, added] = last.try_emplace(t.process, i);
    if (!added) {
      g->add(it->second, i, kProcess);
      it->second = i;
    }
  }
  // A history of completions only has no invocation times: no real-time order (as Elle).
  if (!th.realtime_known) return;
  // Real-time order: sweep invocations and ok completions in history order. The frontier
  // holds completed transactions not yet known to precede another completed one; each
  // invocation gets an edge from every frontier member, and a completion replaces in the
  // frontier those that preceded its own invocation.
  struct Event {
    int64_t at;
    uint32_t txn;
    bool complete;
  };
  std::vector<Event> events;
  events.reserve(th.txns.size() * 2);
  for (uint32_t i = 0; i < th.txns.size(); ++i) {
    const Txn& t = th.txns[i];
    if (t.type == OpType::kFail) continue;
    events.push_back({t.invoke_index, i, false});
    if (t.type == OpType::kOk) events.push_back({t.complete_index, i, true});
  }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.at < b.at; });
  std::vector<uint32_t> frontier;
  std::vector<uint32_t> pred_begin(th.txns.size(), 0), pred_len(th.txns.size(), 0);
  std::vector<uint32_t> preds;  // snapshots of the frontier at invocations of open txns
  std::vector<uint8_t> drop(th.txns.size(), 0);
  for (const Event& ev : events) {
    if (!ev.complete) {
      pred_begin[ev.txn] = static_cast<uint32_t>(preds.size());
      pred_len[ev.txn] = static_cast<uint32_t>(frontier.size());
      for (uint32_t f : frontier) {
        g->add(f, ev.txn, kRealtime);
        preds.push_back(f);
      }
    } else {
      for (uint32_t k = 0; k < pred_len[ev.txn]; ++k) drop[preds[pred_begin[ev.txn] + k]] = 1;
      size_t w = 0;
      for (uint32_t f : frontier) {
        if (!drop[f]) frontier[w++] = f;
      }
      frontier.resize(w);
      for (uint32_t k = 0; k < pred_len[ev.txn]; ++k) drop[preds[pred_begin[ev.txn] + k]] = 0;
      frontier.push_back(ev.txn);
    }
  }
}

Json txn_op_json(const History& history, const Txn& t) {
  const bool done = t.complete_index != INT64_MAX;
  const Op& op = history[static_cast<size_t>(done ? t.complete_index : t.invoke_index)];
  const Op& inv = history[static_cast<size_t>(t.invoke_index)];
  return {{"index", op.index},
          {"process", op.process},
          {"type", std::string(to_string(done ? op.type : OpType::kInfo))},
          {"value", t.type == OpType::kOk ? op.value : inv.value}};
}

std::string txn_label(const Txn& t) {
  const int64_t at = t.complete_index != INT64_MAX ? t.complete_index : t.invoke_index;
  return "op " + std::to_string(at) + " (process " + std::to_string(t.process) + ")";
}

OptionDecl consistency_model_option() {
  return {"consistency-model", "strict-serializable",
          "the model whose anomalies are invalid (serializable, snapshot-isolation, "
          "repeatable-read, read-committed, ...)"};
}

std::string model_option(const Json& options, const std::string& where) {
  std::string model = "strict-serializable";
  if (options.is_object() && options.contains("consistency-model")) {
    const Json& m = options["consistency-model"];
    if (!m.is_string()) throw ConfigError(where + ": consistency-model is a string");
    model = canonical_model(m.get<std::string>());
    if (model.empty()) {
      std::string known;
      for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
      throw ConfigError(where + ": unknown consistency-model '" + m.get<std::string>() +
                        "' (known: " + known + ")");
    }
  }
  return model;
}

std::string list_text(const TxnHistory& th, const Mop& read, size_t tail) {
  if (!read.known) return "unknown";
  const uint32_t* l = th.list_of(read);
  std::string out = "[";
  size_t from = 0;
  if (read.list_len > tail) {
    from = read.list_len - tail;
    out += "...";
  }
  for (size_t i = from; i < read.list_len; ++i) {
    out += (out.size() > 1 ? " " : "") + th.value_text(l[i]);
  }
  out += "]";
  if (read.list_len > tail) out += " (" + std::to_string(read.list_len) + " elements)";
  return out;
}

std::string session_sentence(const Txn& a, const Txn& b, uint8_t kind, const std::string& na,
                             const std::string& nb) {
  if (kind == kProcess) {
    return na + " and " + nb + " ran on process " + std::to_string(a.process) +
           " in that order, so " + na + " precedes " + nb + " (process)";
  }
  return na + " completed (op " + std::to_string(a.complete_index) + ") before " + nb +
         " was invoked (op " + std::to_string(b.invoke_index) + "), so " + na + " precedes " + nb +
         " (realtime)";
}

std::vector<FoundCycle> fractured_reads(const DepGraph& g, size_t limit, size_t* total) {
  std::vector<FoundCycle> out;
  *total = 0;
  // The graph keeps one entry per edge found (R may read two keys T wrote, both too old): each
  // (T, R) pair is one fractured read, however many rw entries lead from R to T.
  std::vector<uint32_t> seen_from(g.size(), UINT32_MAX);  // t -> the last r that tried it
  for (uint32_t r = 0; r < g.size(); ++r) {
    for (uint32_t e = g.out_begin(r); e < g.out_end(r); ++e) {
      if (!(g.kind(e) & kRW)) continue;
      const uint32_t t = g.target(e);
      if (t == r || seen_from[t] == r) continue;
      seen_from[t] = r;
      for (uint32_t f = g.out_begin(t); f < g.out_end(t); ++f) {
        if (g.target(f) != r || !(g.kind(f) & kWR)) continue;
        if (out.size() < limit) out.push_back({"fractured-read", {{t, kWR}, {r, kRW}}});
        ++*total;
        break;
      }
    }
  }
  return out;
}

}  // namespace faultline::elle
