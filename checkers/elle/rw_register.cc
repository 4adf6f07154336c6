// rw-register: Elle's read-write register checker (Kingsbury and Alvaro, VLDB 2020, section
// 5.2), with a polygraph fallback when the version order is not inferable (Cobra, PolySI).
//
// Workload rules: every written value is unique per key; a read returns one value, nil for the
// initial state. A violation is any anomaly the chosen consistency model forbids (report.h):
//   - single reads: garbage-read, G1a (a failed transaction's write), G1b (a write that was
//     not its transaction's last to the key), internal (a read that disagrees with the
//     transaction's own earlier read or write of the key), lost-update;
//   - version order per key, inferred from (a) the initial state, which precedes every write,
//     and (b) read-modify-write: a transaction that read v1 (not its own write) and then wrote
//     v2 to the key orders v1 before v2 (its write was installed after the version it read
//     was). A cycle in these orders is cyclic-versions;
//   - dependency cycles (graph.h) over the inferred ww, wr and rw edges and process/realtime.
// What info means: an info transaction's writes may be read (then it is a node with its
// writes); its reads are unknown; an info write nobody read can be placed last in any order,
// so it never needs ordering.
//
// When the inferred orders are not total, the graph can miss cycles. Then, for models the
// encodings cover, the checker builds a polygraph (polygraph.h) with one choice per unordered
// pair of writes of a key and asks whether some order is acyclic: over transactions for
// serializability (rw edges included) and for G1c (ww and wr only), and over begin/commit
// points for snapshot isolation (PolySI's split: ww, wr, process and realtime go from commit
// to begin, rw from begin to commit). A cyclic polygraph is named by the weakest encoding that
// fails: G1c, G-nonadjacent (snapshot isolation fails; this covers G-single), G2-item
// (serializability fails), with -process/-realtime when it needs those edges. Options:
//   consistency-model  (default strict-serializable)
//   engine             "auto" (default: graph, then the polygraph when orders are unknown),
//                      "graph" (never the polygraph: unknown instead), "z3" (always the
//                      polygraph, even when the graph decided; for differential tests)
//   version-order      the database's own version order, when it exposes one (etcd's
//                      mod_revision, a row version): an object from key to the values written
//                      to that key in the order they were installed, e.g.
//                      {"x": [3, 1, 2], "5": [1, 2]} (keys as strings: a number key by its
//                      JSON text). Consecutive listed values are ordered exactly as a
//                      read-modify-write orders them; listed writes of info transactions count
//                      as installed. Writes of failed transactions are skipped (they were not
//                      installed), a value no transaction wrote or a value listed twice makes
//                      the result unknown. Unlisted writes stay unordered (a partial list is
//                      fine). Default: none.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "checkers/elle/analysis.h"
#include "checkers/elle/polygraph.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::elle {
namespace {

struct ExtRead {
  uint32_t txn;
  uint32_t key;
  uint32_t kv;  // kNone: the initial state
};

enum class Level { kG1c, kSI, kSer };
const char* level_name(Level l) {
  return l == Level::kG1c ? "G1c" : l == Level::kSI ? "G-nonadjacent" : "G2-item";
}

class RwAnalysis final : public TxnDescriber {
 public:
  RwAnalysis(const History& history, TxnHistory th, std::string engine, Json version_order)
      : h_(history),
        th_(std::move(th)),
        engine_(std::move(engine)),
        version_order_(std::move(version_order)) {}

  ReportInput run(const std::string& model, const CheckContext& ctx);

  Json op_json(uint32_t txn) const override { return txn_op_json(h_, th_.txns[txn]); }
  std::string edge_sentence(uint32_t a, uint32_t b, uint8_t kind, const std::string& na,
                            const std::string& nb) const override;

 private:
  bool node(uint32_t w) const { return w != kNone && th_.txns[w].type != OpType::kFail; }
  std::string key(uint32_t k) const { return "key " + th_.key_text(k); }
  std::string label(uint32_t t) const { return txn_label(th_.txns[t]); }
  std::string val(uint32_t kv) const { return kv == kNone ? "nil" : th_.value_text(kv); }
  void add(ReportInput* r, std::string type, std::string text, Json detail);
  void scan(ReportInput* r);
  void provided_orders(ReportInput* r);
  void versions(ReportInput* r);
  void build_graph(DepGraph* g) const;
  bool orders_total() const;
  // Polygraph for a level and the session edge kinds; fills *out. Tags of known edges index
  // evidence_ (kNone for begin->commit edges); tags of choices index pairs_.
  Polygraph polygraph(Level level, uint8_t session, const DepGraph& g);
  void polygraph_verdict(const std::string& model, const DepGraph& g, const CheckContext& ctx,
                         ReportInput* r);
  // A serial order that respects the known edges of `kinds` and in which every read sees the
  // latest write, built greedily (ties by completion order); true when one was found. Such an
  // order is a witness for every model up to strict serializability over those edges.
  // `mode` picks the tie-break: 0 invocation, 1 completion, 2 their midpoint.
  bool serial_witness(uint8_t kinds, const DepGraph& g, const CheckContext& ctx, int mode) const;
  Anomaly explain_core(Level level, uint8_t session, const Polygraph& p, const PolySolution& s);

  const History& h_;
  TxnHistory th_;
  std::string engine_;
  Json version_order_;                             // option version-order, or null
  std::vector<uint32_t> writer_;                   // kv -> txn (final or not)
  std::vector<uint8_t> installed_;                 // kv -> listed in version-order
  std::vector<uint32_t> writer_mop_;               // kv -> mop
  std::vector<uint8_t> final_;                     // kv -> last write of its txn to the key
  std::vector<ExtRead> reads_;                     // external reads of ok transactions
  std::vector<std::vector<uint32_t>> succ_;        // kv -> version successors (rmw)
  std::vector<uint32_t> pred_count_;               // kv -> number of version predecessors
  std::vector<std::vector<uint32_t>> key_writes_;  // key -> final writes that need ordering
  std::vector<std::vector<uint32_t>> readers_;     // kv -> ok txns that read it externally
  std::map<std::string, size_t> counts_;
  struct Evidence {
    uint32_t from, to;
    uint8_t kind;
  };
  std::vector<Evidence> evidence_;
  struct Pair {
    uint32_t key, w1, w2;  // kv ids
  };
  std::vector<Pair> pairs_;
  Json poly_stats_ = Json::object();
};

void RwAnalysis::add(ReportInput* r, std::string type, std::string text, Json detail) {
  if (counts_[type]++ >= kMaxPerType) return;
  Anomaly a;
  a.type = type;
  a.explanation = type + ": " + text;
  detail["type"] = type;
  a.detail = std::move(detail);
  r->anomalies.push_back(std::move(a));
}

void RwAnalysis::scan(ReportInput* r) {
  const size_t nkv = th_.kv_value.size();
  writer_.assign(nkv, kNone);
  writer_mop_.assign(nkv, kNone);
  final_.assign(nkv, 0);
  succ_.assign(nkv, {});
  pred_count_.assign(nkv, 0);
  readers_.assign(nkv, {});
  key_writes_.assign(th_.key_json.size(), {});
  std::vector<uint32_t> seen;
  for (uint32_t t = 0; t < th_.txns.size(); ++t) {
    const Txn& txn = th_.txns[t];
    seen.clear();
    for (uint32_t i = txn.mop_count; i-- > 0;) {
      const uint32_t m = txn.mop_begin + i;
      const Mop& mop = th_.mops[m];
      if (mop.kind == MopKind::kAppend) {
        r->unknown_reason = "rw-register history has an append mop (op " +
                            std::to_string(txn.invoke_index) + "); use list-append";
        return;
      }
      if (mop.kind != MopKind::kWrite) continue;
      if (writer_[mop.kv] != kNone) {
        r->unknown_reason = "value " + val(mop.kv) + " written twice to " + key(mop.key) +
                            " (ops " + std::to_string(th_.txns[writer_[mop.kv]].invoke_index) +
                            " and " + std::to_string(txn.invoke_index) +
                            "); rw-register needs unique writes";
        return;
      }
      writer_[mop.kv] = t;
      writer_mop_[mop.kv] = m;
      if (std::find(seen.begin(), seen.end(), mop.key) == seen.end()) {
        final_[mop.kv] = 1;
        seen.push_back(mop.key);
      }
    }
  }
  struct KeyState {
    uint32_t key;
    uint32_t value;  // last value read or written (kNone: nil)
    bool wrote;
    uint32_t ext;  // external read value, or kNone-1 when the first mop was a write
  };
  constexpr uint32_t kNoExt = kNone - 1;
  std::vector<KeyState> state;
  for (uint32_t t = 0; t < th_.txns.size(); ++t) {
    const Txn& txn = th_.txns[t];
    if (txn.type != OpType::kOk) continue;
    state.clear();
    for (uint32_t m = txn.mop_begin; m < txn.mop_begin + txn.mop_count; ++m) {
      const Mop& mop = th_.mops[m];
      auto st = std::find_if(state.begin(), state.end(),
                             [&](const KeyState& s) { return s.key == mop.key; });
      if (mop.kind == MopKind::kWrite) {
        if (st == state.end()) {
          state.push_back({mop.key, mop.kv, true, kNoExt});
        } else {
          st->wrote = true;
          st->value = mop.kv;
        }
        continue;
      }
      if (!mop.known) continue;
      if (st != state.end()) {
        if (st->value != mop.kv) {
          add(r, "internal",
              label(t) + " read " + key(mop.key) + " = " + val(mop.kv) + ", but its own " +
                  (st->wrote ? "earlier write" : "earlier read") + " says " + val(st->value),
              {{"key", th_.key_json[mop.key]}, {"ops", {op_json(t)}}});
        }
        st->value = mop.kv;
        continue;
      }
      state.push_back({mop.key, mop.kv, false, mop.kv});
      reads_.push_back({t, mop.key, mop.kv});
      if (mop.kv == kNone) continue;
      readers_[mop.kv].push_back(t);
      const uint32_t w = writer_[mop.kv];
      if (w == kNone) {
        add(r, "garbage-read",
            label(t) + " read " + key(mop.key) + " = " + val(mop.kv) +
                ", which no transaction wrote",
            {{"key", th_.key_json[mop.key]},
             {"value", th_.kv_value[mop.kv]},
             {"ops", {op_json(t)}}});
      } else if (th_.txns[w].type == OpType::kFail) {
        add(r, "G1a",
            label(t) + " read " + key(mop.key) + " = " + val(mop.kv) + ", which " + label(w) +
                " wrote in a transaction that failed (aborted read)",
            {{"key", th_.key_json[mop.key]},
             {"value", th_.kv_value[mop.kv]},
             {"ops", {op_json(t), op_json(w)}}});
      } else if (w == t) {
        add(r, "future-read",
            label(t) + " read " + key(mop.key) + " = " + val(mop.kv) +
                ", which it writes only later in the same transaction",
            {{"key", th_.key_json[mop.key]},
             {"value", th_.kv_value[mop.kv]},
             {"ops", {op_json(t)}}});
      } else if (!final_[mop.kv]) {
        add(r, "G1b",
            label(t) + " read " + key(mop.key) + " = " + val(mop.kv) + ", but " + label(w) +
                " wrote " + key(mop.key) +
                " again later in the same transaction (intermediate read)",
            {{"key", th_.key_json[mop.key]},
             {"value", th_.kv_value[mop.kv]},
             {"ops", {op_json(t), op_json(w)}}});
      }
    }
    // Read-modify-write: the external read precedes the transaction's final write.
    for (const auto& s : state) {
      if (!s.wrote || s.ext == kNoExt || s.ext == kNone) continue;
      uint32_t fin = kNone;
      for (uint32_t m = txn.mop_begin; m < txn.mop_begin + txn.mop_count; ++m) {
        const Mop& mop = th_.mops[m];
        if (mop.kind == MopKind::kWrite && mop.key == s.key && final_[mop.kv]) fin = mop.kv;
      }
      // Also when no transaction wrote the value read (a garbage read, reported above): its
      // readers then anti-depend on this transaction, as in Elle. Such a version has no
      // writer, so `fin` still counts as a possible first write for readers of nil.
      if (fin != kNone && writer_[s.ext] != t) {
        succ_[s.ext].push_back(fin);
        if (writer_[s.ext] != kNone) ++pred_count_[fin];
      }
    }
  }
  installed_.assign(nkv, 0);
  if (!version_order_.is_null()) {
    provided_orders(r);
    if (!r->unknown_reason.empty()) return;
  }
  // Writes that need a place in the order: final writes of ok transactions, and of info
  // transactions when someone read them or the database listed them.
  for (uint32_t kv = 0; kv < nkv; ++kv) {
    const uint32_t w = writer_[kv];
    if (w == kNone || !final_[kv]) continue;
    const auto type = th_.txns[w].type;
    if (type == OpType::kOk ||
        (type == OpType::kInfo && (!readers_[kv].empty() || installed_[kv]))) {
      key_writes_[th_.kv_key[kv]].push_back(kv);
    }
  }
}

void RwAnalysis::provided_orders(ReportInput* r) {
  std::map<std::string, uint32_t> key_by_name;
  for (uint32_t k = 0; k < th_.key_json.size(); ++k) {
    const Json& kj = th_.key_json[k];
    key_by_name.emplace(kj.is_string() ? kj.get<std::string>() : json_text(kj), k);
  }
  std::vector<std::vector<uint32_t>> kvs_of(th_.key_json.size());
  for (uint32_t kv = 0; kv < th_.kv_key.size(); ++kv) kvs_of[th_.kv_key[kv]].push_back(kv);
  for (const auto& [name, values] : version_order_.items()) {
    auto it = key_by_name.find(name);
    if (it == key_by_name.end()) continue;  // a key no transaction touched
    const uint32_t k = it->second;
    std::map<std::string, uint32_t> kv_by_text;
    for (uint32_t kv : kvs_of[k]) kv_by_text.emplace(json_text(th_.kv_value[kv]), kv);
    uint32_t prev = kNone;
    for (const auto& v : values) {
      auto at = kv_by_text.find(json_text(v));
      const uint32_t kv = at == kv_by_text.end() ? kNone : at->second;
      if (kv == kNone || writer_[kv] == kNone) {
        r->unknown_reason = "version-order lists " + json_text(v) + " for " + key(k) +
                            ", which no transaction wrote";
        return;
      }
      if (installed_[kv]) {
        r->unknown_reason = "version-order lists " + json_text(v) + " twice for " + key(k);
        return;
      }
      installed_[kv] = 1;
      if (!final_[kv] || th_.txns[writer_[kv]].type == OpType::kFail) continue;
      if (prev != kNone) {
        succ_[prev].push_back(kv);
        ++pred_count_[kv];
      }
      prev = kv;
    }
  }
}

void RwAnalysis::versions(ReportInput* r) {
  DepGraph vg(static_cast<uint32_t>(th_.kv_value.size()));
  for (uint32_t kv = 0; kv < succ_.size(); ++kv) {
    for (uint32_t s : succ_[kv]) vg.add(kv, s, 1);
  }
  vg.finish();
  for (const auto& comp : strongly_connected(vg, 1)) {
    std::string vals;
    Json ops = Json::array();
    for (uint32_t kv : comp) {
      vals += (vals.empty() ? "" : ", ") + val(kv);
      if (ops.size() < 8) ops.push_back(op_json(writer_[kv]));
    }
    add(r, "cyclic-versions",
        "the writes " + vals + " of " + key(th_.kv_key[comp.front()]) +
            " each read another of them before overwriting it, in a cycle, so no version "
            "order exists",
        {{"key", th_.key_json[th_.kv_key[comp.front()]]}, {"ops", ops}});
  }
}

void RwAnalysis::build_graph(DepGraph* g) const {
  for (uint32_t kv = 0; kv < succ_.size(); ++kv) {
    for (uint32_t s : succ_[kv]) {
      if (node(writer_[kv]) && node(writer_[s])) g->add(writer_[kv], writer_[s], kWW);
    }
  }
  for (const auto& rd : reads_) {
    if (rd.kv != kNone) {
      const uint32_t w = writer_[rd.kv];
      if (node(w)) g->add(w, rd.txn, kWR);
      for (uint32_t s : succ_[rd.kv]) {
        if (node(writer_[s])) g->add(rd.txn, writer_[s], kRW);
      }
    } else {
      for (uint32_t kv : key_writes_[rd.key]) {
        if (pred_count_[kv] == 0) g->add(rd.txn, writer_[kv], kRW);
      }
    }
  }
  add_session_edges(th_, g);
}

bool RwAnalysis::orders_total() const {
  // Kahn's algorithm per key over the writes that need ordering: total iff never two ready.
  std::unordered_map<uint32_t, uint32_t> indeg;
  for (uint32_t k = 0; k < key_writes_.size(); ++k) {
    const auto& ws = key_writes_[k];
    if (ws.size() < 2) continue;
    indeg.clear();
    for (uint32_t kv : ws) indeg[kv] = 0;
    for (uint32_t kv : ws) {
      for (uint32_t s : succ_[kv]) {
        if (indeg.count(s)) ++indeg[s];
      }
    }
    std::vector<uint32_t> ready;
    for (uint32_t kv : ws) {
      if (!indeg[kv]) ready.push_back(kv);
    }
    size_t done = 0;
    while (!ready.empty()) {
      if (ready.size() > 1) return false;
      const uint32_t v = ready.back();
      ready.pop_back();
      ++done;
      for (uint32_t s : succ_[v]) {
        auto it = indeg.find(s);
        if (it != indeg.end() && --it->second == 0) ready.push_back(s);
      }
    }
    if (done < ws.size()) return false;  // cyclic: reported as cyclic-versions
  }
  return true;
}

Polygraph RwAnalysis::polygraph(Level level, uint8_t session, const DepGraph& g) {
  const bool si = level == Level::kSI;
  const uint8_t kinds =
      static_cast<uint8_t>((level == Level::kG1c ? (kWW | kWR) : kDataEdges) | session);
  Polygraph p;
  const uint32_t n = static_cast<uint32_t>(th_.txns.size());
  p.nodes = si ? 2 * n : n;
  evidence_.clear();
  pairs_.clear();
  auto add_edge = [&](std::vector<PolyEdge>* out, uint32_t a, uint32_t b, uint8_t kind,
                      uint32_t tag) {
    if (si) {
      if (kind == kRW) {
        out->push_back({2 * a, 2 * b + 1, tag});
      } else {
        out->push_back({2 * a + 1, 2 * b, tag});
      }
    } else {
      out->push_back({a, b, tag});
    }
  };
  if (si) {
    for (uint32_t t = 0; t < n; ++t) {
      if (node(t)) p.known.push_back({2 * t, 2 * t + 1, kNone});
    }
  }
  p.order_hint.resize(p.nodes);
  for (uint32_t t = 0; t < n; ++t) {
    const Txn& x = th_.txns[t];
    const int64_t end = x.complete_index == INT64_MAX ? x.invoke_index : x.complete_index;
    if (si) {
      p.order_hint[2 * t] = 2 * x.invoke_index;
      p.order_hint[2 * t + 1] = 2 * end + 1;
    } else {
      p.order_hint[t] = end;
    }
  }
  for (uint32_t a = 0; a < n; ++a) {
    for (uint32_t e = g.out_begin(a); e < g.out_end(a); ++e) {
      const uint8_t k = g.kind(e) & kinds;
      for (uint8_t bit = 1; bit <= kRealtime; bit <<= 1) {
        if (!(k & bit)) continue;
        evidence_.push_back({a, g.target(e), bit});
        add_edge(&p.known, a, g.target(e), bit, static_cast<uint32_t>(evidence_.size() - 1));
      }
    }
  }
  // One choice per pair of writes of a key with no inferred order.
  std::vector<uint32_t> idx;
  for (uint32_t k = 0; k < key_writes_.size(); ++k) {
    const auto& ws = key_writes_[k];
    if (ws.size() < 2) continue;
    // Reachability between this key's writes in the version graph (small per key).
    const size_t m = ws.size();
    std::unordered_map<uint32_t, uint32_t> at;
    for (uint32_t i = 0; i < m; ++i) at[ws[i]] = i;
    std::vector<std::vector<uint8_t>> reach(m, std::vector<uint8_t>(m, 0));
    for (uint32_t i = 0; i < m; ++i) {
      std::vector<uint32_t> stack{ws[i]};
      while (!stack.empty()) {
        uint32_t v = stack.back();
        stack.pop_back();
        for (uint32_t s : succ_[v]) {
          auto it = at.find(s);
          if (it != at.end() && !reach[i][it->second]) {
            reach[i][it->second] = 1;
            stack.push_back(s);
          }
        }
      }
    }
    for (uint32_t i = 0; i < m; ++i) {
      for (uint32_t j = i + 1; j < m; ++j) {
        if (reach[i][j] || reach[j][i]) continue;
        const uint32_t v1 = ws[i], v2 = ws[j];
        const uint32_t w1 = writer_[v1], w2 = writer_[v2];
        auto others = [&](uint32_t kv, uint32_t w) {
          for (uint32_t rd : readers_[kv]) {
            if (rd != w) return true;
          }
          return false;
        };
        // Without rw edges on either side, either order fits any acyclic rest (take the
        // order of a topological sort), except under snapshot isolation, where writers of a
        // key must not overlap.
        if (!si && (level == Level::kG1c || (!others(v1, w2) && !others(v2, w1)))) continue;
        PolyChoice c;
        c.order_pair = !si;
        c.tag = static_cast<uint32_t>(pairs_.size());
        pairs_.push_back({k, v1, v2});
        add_edge(&c.first, w1, w2, kWW, kNone);
        add_edge(&c.second, w2, w1, kWW, kNone);
        if (level != Level::kG1c) {
          for (uint32_t rd : readers_[v1]) {
            if (rd != w2) add_edge(&c.first, rd, w2, kRW, kNone);
          }
          for (uint32_t rd : readers_[v2]) {
            if (rd != w1) add_edge(&c.second, rd, w1, kRW, kNone);
          }
        }
        p.choices.push_back(std::move(c));
      }
    }
  }
  return p;
}

bool RwAnalysis::serial_witness(uint8_t kinds, const DepGraph& g, const CheckContext& ctx,
                                int mode) const {
  const uint32_t n = static_cast<uint32_t>(th_.txns.size());
  std::vector<uint8_t> include(n, 0);
  std::vector<std::vector<uint32_t>> writes(n);  // final writes (kv) per txn
  for (uint32_t kv = 0; kv < writer_.size(); ++kv) {
    const uint32_t w = writer_[kv];
    if (w == kNone || !final_[kv]) continue;
    writes[w].push_back(kv);
    if (th_.txns[w].type == OpType::kInfo && (!readers_[kv].empty() || installed_[kv])) {
      include[w] = 1;
    }
  }
  for (uint32_t t = 0; t < n; ++t) {
    if (th_.txns[t].type == OpType::kOk) include[t] = 1;
  }
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> ext(n);  // (key, kv) external reads
  std::vector<uint32_t> pending(th_.kv_value.size(), 0), pending_nil(th_.key_json.size(), 0);
  for (const auto& rd : reads_) {
    ext[rd.txn].push_back({rd.key, rd.kv});
    (rd.kv == kNone ? pending_nil[rd.key] : pending[rd.kv])++;
  }
  std::vector<uint32_t> indeg(n, 0);
  for (uint32_t a = 0; a < n; ++a) {
    if (!include[a]) continue;
    for (uint32_t e = g.out_begin(a); e < g.out_end(a); ++e) {
      if ((g.kind(e) & kinds) && include[g.target(e)]) ++indeg[g.target(e)];
    }
  }
  auto hint = [&](uint32_t t) {
    const Txn& x = th_.txns[t];
    const int64_t end = x.complete_index == INT64_MAX ? x.invoke_index : x.complete_index;
    return mode == 0 ? x.invoke_index : mode == 1 ? end : x.invoke_index + end;
  };
  std::set<std::pair<int64_t, uint32_t>> ready;
  uint32_t total = 0;
  for (uint32_t t = 0; t < n; ++t) {
    if (!include[t]) continue;
    ++total;
    if (!indeg[t]) ready.insert({hint(t), t});
  }
  std::vector<uint32_t> cur(th_.key_json.size(), kNone);
  uint64_t budget = 50'000'000;
  auto placeable = [&](uint32_t t) {
    if (!std::all_of(ext[t].begin(), ext[t].end(),
                     [&](const auto& r) { return cur[r.first] == r.second; })) {
      return false;
    }
    for (uint32_t kv : writes[t]) {
      const uint32_t k = th_.kv_key[kv];
      uint32_t waiting = cur[k] == kNone ? pending_nil[k] : pending[cur[k]];
      for (const auto& r : ext[t]) waiting -= r.first == k;  // its own read of that version
      if (waiting) return false;
    }
    return true;
  };
  for (uint32_t placed = 0; placed < total; ++placed) {
    uint32_t pick = kNone;
    for (auto it = ready.begin(); it != ready.end(); ++it) {
      if (budget-- == 0 || (budget % 4096 == 0 && ctx.expired())) return false;
      if (placeable(it->second)) {
        pick = it->second;
        ready.erase(it);
        break;
      }
    }
    if (pick == kNone) return false;
    for (const auto& r : ext[pick])
      (r.second == kNone ? pending_nil[r.first] : pending[r.second])--;
    for (uint32_t kv : writes[pick]) cur[th_.kv_key[kv]] = kv;
    for (uint32_t e = g.out_begin(pick); e < g.out_end(pick); ++e) {
      const uint32_t w = g.target(e);
      if ((g.kind(e) & kinds) && include[w] && --indeg[w] == 0) ready.insert({hint(w), w});
    }
  }
  return true;
}

Anomaly RwAnalysis::explain_core(Level level, uint8_t session, const Polygraph& p,
                                 const PolySolution& s) {
  Anomaly a;
  a.type = level_name(level);
  if (session & kRealtime) {
    a.type += "-realtime";
  } else if (session & kProcess) {
    a.type += "-process";
  }
  std::map<uint32_t, std::string> names;
  auto name = [&](uint32_t t) {
    auto [it, added] = names.try_emplace(t, "");
    if (added) it->second = "T" + std::to_string(names.size());
    return it->second;
  };
  std::string text;
  std::string dot = "digraph \"" + a.type + "\" {\n  rankdir=LR;\n  node [shape=box];\n";
  Json steps = Json::array();
  for (size_t i : s.core_known) {
    const uint32_t tag = p.known[i].tag;
    if (tag == kNone) continue;  // a transaction's begin before its commit
    const Evidence& e = evidence_[tag];
    const std::string na = name(e.from), nb = name(e.to);
    text += edge_sentence(e.from, e.to, e.kind, na, nb) + "; ";
    dot += "  " + na + " -> " + nb + " [label=\"" + edge_name(e.kind) + "\"];\n";
    steps.push_back({{"from", na}, {"to", nb}, {"kind", edge_name(e.kind)}});
  }
  for (size_t i : s.core_choices) {
    const Pair& pr = pairs_[p.choices[i].tag];
    const uint32_t w1 = writer_[pr.w1], w2 = writer_[pr.w2];
    const std::string n1 = name(w1), n2 = name(w2);
    auto readers = [&](uint32_t kv) {
      std::string out;
      for (uint32_t rd : readers_[kv]) out += (out.empty() ? "" : ", ") + name(rd);
      return out.empty() ? std::string("nobody") : out;
    };
    text += "nothing orders " + n1 + "'s write of " + val(pr.w1) + " and " + n2 + "'s write of " +
            val(pr.w2) + " to " + key(pr.key) + ": if " + val(pr.w1) + " came first, " + n1 +
            " precedes " + n2 + " (ww)" +
            (level == Level::kG1c
                 ? ""
                 : " and its readers (" + readers(pr.w1) + ") precede " + n2 + " (rw)") +
            "; otherwise " + n2 + " precedes " + n1 + " (ww)" +
            (level == Level::kG1c
                 ? ""
                 : " and its readers (" + readers(pr.w2) + ") precede " + n1 + " (rw)") +
            "; ";
    dot += "  " + n1 + " -> " + n2 + " [label=\"ww?\", style=dashed, dir=both];\n";
    steps.push_back({{"choice", {n1, n2}}, {"key", th_.key_json[pr.key]}});
  }
  std::string head = a.type + ": ";
  Json ops = Json::array();
  for (const auto& [t, n] : names) {
    head += n + " = " + label(t) + ", ";
    ops.push_back(op_json(t));
    dot += "  " + n + " [label=\"" + n + "\\n" + label(t) + "\"];\n";
  }
  dot += "}\n";
  const char* what = level == Level::kG1c  ? "without a cycle of ww and wr edges"
                     : level == Level::kSI ? "as snapshot isolation requires"
                                           : "without a cycle";
  a.explanation = head + "whatever the unknown version orders: " + text +
                  "no choice of orders places these transactions " + what + ".";
  a.detail = {{"type", a.type}, {"steps", steps}, {"ops", ops}, {"engine", "polygraph"}};
  a.dot = dot;
  return a;
}

void RwAnalysis::polygraph_verdict(const std::string& model, const DepGraph& g,
                                   const CheckContext& ctx, ReportInput* r) {
  const auto& f = forbidden_by(model);
  auto forbids = [&](const std::string& base, const std::string& suffix) {
    return f.count(base + suffix) > 0;
  };
  uint8_t session = 0;
  std::string suffix;
  if (forbids("G0", "-realtime") || forbids("G1c", "-realtime")) {
    session = kProcess | kRealtime;
    suffix = "-realtime";
  } else if (forbids("G0", "-process") || forbids("G1c", "-process")) {
    session = kProcess;
    suffix = "-process";
  }
  Level level;
  bool exact = true;  // whether a cyclic answer at `level` decides the model
  if (forbids("G2-item", suffix)) {
    level = Level::kSer;
  } else if (forbids("G-nonadjacent", suffix)) {
    level = Level::kSI;
  } else if (forbids("G-single", suffix)) {
    level = Level::kSI;  // PL-2+ / causal: acyclic under SI implies them; cyclic does not
    exact = false;
  } else if (forbids("G1c", suffix)) {
    level = Level::kG1c;
  } else {
    return;  // the model forbids no cycles
  }
  // A serial order that also respects process and realtime order respects the model's edges
  // too, so the stricter attempts are witnesses as well; they often succeed where the looser
  // ones do not, because the greedy order then has fewer ways to go wrong.
  for (const uint8_t extra : {uint8_t{0}, static_cast<uint8_t>(kProcess | kRealtime)}) {
    if (extra && (session | extra) == session) continue;
    for (int mode = 0; mode < 3; ++mode) {
      if (serial_witness(static_cast<uint8_t>(kDataEdges | session | extra), g, ctx, mode)) {
        poly_stats_ = {{"serial-witness", mode == 0   ? "invocation order"
                                          : mode == 1 ? "completion order"
                                                      : "midpoint order"}};
        if (extra) poly_stats_["serial-witness-edges"] = "data, process and realtime";
        return;
      }
    }
  }
  auto solve = [&](Level l, uint8_t s, bool witness_only = false) {
    Polygraph p = polygraph(l, s, g);
    p.witness_only = witness_only;
    PolySolution sol = solve_polygraph(p, ctx);
    return std::pair(std::move(p), std::move(sol));
  };
  // First without Z3: pruning, then the witnesses. A cycle found by pruning is definite.
  auto [p, sol] = solve(level, session, true);
  poly_stats_ = sol.stats;
  poly_stats_["level"] = level_name(level);
  if (sol.status == PolyStatus::kAcyclic) return;
  if (sol.status == PolyStatus::kUnknown && !ctx.expired()) {
    // An acyclic choice with process and realtime edges known as well is acyclic without
    // them: when the model does not need them, that stricter polygraph (much more
    // constrained, so mostly decided by pruning) may give a witness.
    if ((session & kRealtime) == 0 && level != Level::kG1c) {
      auto [ps, ss] = solve(level, static_cast<uint8_t>(kProcess | kRealtime), true);
      if (ss.status == PolyStatus::kAcyclic) {
        poly_stats_ = ss.stats;
        poly_stats_["level"] = level_name(level);
        poly_stats_["witness-edges"] = "data, process and realtime";
        return;
      }
    }
    // Then the search: Z3 on the residue.
    std::tie(p, sol) = solve(level, session);
    poly_stats_ = sol.stats;
    poly_stats_["level"] = level_name(level);
    poly_stats_["witness-attempts-failed"] = true;
  }
  if (sol.status == PolyStatus::kAcyclic) return;
  if (sol.status == PolyStatus::kUnknown) {
    r->unknown_reason = "version order unknown and the polygraph search did not finish: " +
                        (sol.reason.empty() ? std::string("deadline") : sol.reason);
    return;
  }
  // Cyclic: find the weakest failing encoding to name it.
  Level name_level = level;
  uint8_t name_session = session;
  Polygraph best_p = std::move(p);
  PolySolution best = std::move(sol);
  if (session) {
    auto [p2, s2] = solve(level, 0);
    if (s2.status == PolyStatus::kCyclic) {
      name_session = 0;
      best_p = std::move(p2);
      best = std::move(s2);
    }
  }
  for (Level weaker : {Level::kG1c, Level::kSI}) {
    if (static_cast<int>(weaker) >= static_cast<int>(name_level)) break;
    auto [p3, s3] = solve(weaker, name_session);
    if (s3.status == PolyStatus::kCyclic) {
      name_level = weaker;
      best_p = std::move(p3);
      best = std::move(s3);
      break;
    }
  }
  if (!exact && name_level == Level::kSI) {
    r->unknown_reason =
        "version order unknown: not snapshot isolation, but the polygraph encodings cannot "
        "tell whether " +
        model + " holds";
    return;
  }
  // evidence_ and pairs_ describe the polygraph built last; rebuild the chosen one (the same
  // construction, so the same indexes) so that the core is explained with its own edges.
  best_p = polygraph(name_level, name_session, g);
  Anomaly a = explain_core(name_level, name_session, best_p, best);
  counts_[a.type]++;
  r->anomalies.push_back(std::move(a));
}

std::string RwAnalysis::edge_sentence(uint32_t a, uint32_t b, uint8_t kind, const std::string& na,
                                      const std::string& nb) const {
  if (kind == kWW) {
    for (uint32_t m = th_.txns[a].mop_begin; m < th_.txns[a].mop_begin + th_.txns[a].mop_count;
         ++m) {
      const Mop& mop = th_.mops[m];
      if (mop.kind != MopKind::kWrite || !final_[mop.kv]) continue;
      for (uint32_t s : succ_[mop.kv]) {
        if (writer_[s] == b) {
          return na + " wrote " + val(mop.kv) + " to " + key(mop.key) + "; " + nb +
                 " read it and then wrote " + val(s) + ", so " + na + " precedes " + nb + " (ww)";
        }
      }
    }
  } else if (kind == kWR) {
    for (const auto& rd : reads_) {
      if (rd.txn == b && rd.kv != kNone && writer_[rd.kv] == a) {
        return na + " wrote " + val(rd.kv) + " to " + key(rd.key) + "; " + nb + " read it, so " +
               na + " precedes " + nb + " (wr)";
      }
    }
  } else if (kind == kRW) {
    for (const auto& rd : reads_) {
      if (rd.txn != a) continue;
      if (rd.kv == kNone) {
        for (uint32_t kv : key_writes_[rd.key]) {
          if (writer_[kv] == b) {
            return na + " read " + key(rd.key) + " as nil, the initial state; " + nb + " wrote " +
                   val(kv) + " to it, so " + na + " precedes " + nb + " (rw)";
          }
        }
      } else {
        for (uint32_t s : succ_[rd.kv]) {
          if (writer_[s] == b) {
            return na + " read " + key(rd.key) + " = " + val(rd.kv) + "; " + nb +
                   " overwrote that version with " + val(s) + ", so " + na + " precedes " + nb +
                   " (rw)";
          }
        }
      }
    }
  } else {
    return session_sentence(th_.txns[a], th_.txns[b], kind, na, nb);
  }
  return na + " precedes " + nb + " (" + edge_name(kind) + ")";
}

ReportInput RwAnalysis::run(const std::string& model, const CheckContext& ctx) {
  ReportInput r;
  r.checker = "rw-register";
  r.model = model;
  scan(&r);
  if (!r.unknown_reason.empty()) return r;
  versions(&r);
  // Lost update: two ok transactions read the same version of a key and both wrote it.
  {
    std::map<std::pair<uint32_t, uint32_t>, std::vector<uint32_t>> groups;
    for (const auto& rd : reads_) {
      const Txn& t = th_.txns[rd.txn];
      for (uint32_t m = t.mop_begin; m < t.mop_begin + t.mop_count; ++m) {
        if (th_.mops[m].kind == MopKind::kWrite && th_.mops[m].key == rd.key) {
          groups[{rd.key, rd.kv}].push_back(rd.txn);
          break;
        }
      }
    }
    for (const auto& [kk, ts] : groups) {
      if (ts.size() < 2) continue;
      std::string who;
      Json ops = Json::array();
      for (uint32_t t : ts) {
        who += (who.empty() ? "" : ", ") + label(t);
        ops.push_back(op_json(t));
      }
      add(&r, "lost-update",
          who + " all read " + key(kk.first) + " = " + val(kk.second) +
              " and then wrote it; only one of their writes can directly follow that version",
          {{"key", th_.key_json[kk.first]},
           {"version", kk.second == kNone ? Json() : th_.kv_value[kk.second]},
           {"ops", ops}});
    }
  }
  if (ctx.expired()) {
    r.unknown_reason = "deadline before the cycle search";
    return r;
  }
  DepGraph g(static_cast<uint32_t>(th_.txns.size()));
  build_graph(&g);
  g.finish();
  add_cycle_anomalies(g, *this, ctx, &counts_, &r);
  const bool total = orders_total();
  // Anomalies the model forbids already decide; otherwise unknown orders need the polygraph.
  bool decided = false;
  for (const auto& a : r.anomalies) decided = decided || forbidden_by(model).count(a.type);
  if (r.unknown_reason.empty() && ((!total && !decided && engine_ != "graph") || engine_ == "z3")) {
    polygraph_verdict(model, g, ctx, &r);
  } else if (!total && !decided && engine_ == "graph") {
    // The graph alone cannot rule out cycles through unordered writes.
    for (const char* c : {"G0", "G1c", "G-single", "G-nonadjacent", "G2-item"}) {
      for (const char* s : {"", "-process", "-realtime"}) r.incomplete.insert(std::string(c) + s);
    }
  }
  size_t ok = 0, info = 0, fail = 0;
  for (const auto& t : th_.txns) {
    (t.type == OpType::kOk ? ok : t.type == OpType::kFail ? fail : info)++;
  }
  r.stats = {{"transactions", th_.txns.size()},
             {"ok", ok},
             {"info", info},
             {"fail", fail},
             {"keys", th_.key_json.size()},
             {"edges", g.edge_count()},
             {"version-orders-total", total},
             {"skipped-ops", th_.skipped_ops}};
  if (!poly_stats_.empty()) r.stats["polygraph"] = poly_stats_;
  r.total_counts = counts_;
  return r;
}

const OptionDecls kOptions = {
    consistency_model_option(),
    {"engine", "auto", "auto | graph | z3: how unknown version orders are searched"},
    {"version-order", nullptr, "key -> its values in install order, when the database says"},
};

class RwRegisterChecker final : public Checker {
 public:
  explicit RwRegisterChecker(const Json& options) {
    const Options o(options, kOptions, "rw-register");
    if (options.is_object() && options.contains("version-order")) {
      version_order_ = options["version-order"];
      bool ok = version_order_.is_object();
      if (ok) {
        for (const auto& values : version_order_) ok = ok && values.is_array();
      }
      if (!ok) {
        throw ConfigError(
            "rw-register: version-order is an object from key to the list of its values in "
            "install order, not " +
            json_text(options["version-order"]).substr(0, 200));
      }
    }
    model_ = model_option(options, "rw-register");
    engine_ = o.text("engine", {"auto", "graph", "z3"});
  }
  CheckResult check(const History& history, const CheckContext& ctx) override {
    TxnHistory th;
    try {
      th = parse_txns(history, false);
    } catch (const TxnFormatError& e) {
      ReportInput r;
      r.checker = "rw-register";
      r.model = model_;
      r.unknown_reason = std::string("malformed transaction: ") + e.what();
      return make_result(std::move(r));
    }
    RwAnalysis analysis(history, std::move(th), engine_, version_order_);
    return make_result(analysis.run(model_, ctx));
  }

 private:
  std::string model_;
  std::string engine_ = "auto";
  Json version_order_;  // null: none
};

const bool registered = CheckerRegistry::add(
    "checker", "rw-register",
    "Elle rw-register: inferred version orders and dependency cycles of read/write "
    "transactions, with a Z3 polygraph when the write order is unknown",
    [](const Json& options) -> std::unique_ptr<Checker> {
      return std::make_unique<RwRegisterChecker>(options);
    },
    kOptions);

}  // namespace
}  // namespace faultline::elle
