// txn-causal: read committed, read atomic and transactional causal consistency of transaction
// histories, by saturating the commit order as AWDIT does (Møldrup, Pavlogiannis et al.,
// "AWDIT: An Optimal Weak Database Isolation Tester", PLDI 2025), with the axioms of Biswas
// and Enea, "On the Complexity of Checking Transactional Consistency", OOPSLA 2019.
//
// History: the ok transactions (and info ones whose writes someone read), session order so
// (per process, in order) and write-read wr: T2 read key x from T1 when one of T2's external
// reads of x (a read not preceded by T2's own write of x) returned T1's last write of x.
// Written values must be unique per key (the checker says which ones are not). A read of nil
// reads the initial state, written by a virtual transaction before every other. List-append
// histories are read the same way: a list read reads from the appender of its last element
// (the earlier elements are not used, which can only miss anomalies, never invent them).
//
// A level holds when some total commit order co contains so u wr and, for every external read
// of x in T2 from T1 and every other transaction T3 that writes x and is "visible" to the
// read, T3 comes before T1 in co (else T2 should have read T3's value or a later one):
//   read committed (RC)  T3 -> r by wr;po: T2 read something from T3 before this read
//   read atomic (RA)     T3 -> T2 by so u wr
//   causal (TCC)         T3 -> T2 by (so u wr)+
// The premises use only so and wr, so one saturation step is enough: the level holds iff
// so u wr u {T3 -> T1 as above} is acyclic (and no read of the initial state has such a T3).
// RC's edges are a subset of RA's, RA's of TCC's: a violation is named by the weakest level
// whose graph has the cycle (read-committed-violation, read-atomic-violation, i.e. fractured
// reads, causal-violation). Every level also forbids cyclic-causality (so u wr has a cycle),
// thin-air-read (a value nobody wrote), aborted-read (written only by a failed transaction),
// intermediate-read (a value its transaction overwrote) and internal-read (a read that
// disagrees with its own transaction's earlier write of the key).
//
// Cost: RC O(sum over transactions of reads^2); RA O(reads + writes); TCC vector clocks over
// sessions in a topological order of so u wr, then per read and session the latest writer of
// the key visible to the reader (earlier ones precede it in so) by binary search:
// O(n * S log n) for n transactions and S sessions (AWDIT's O(n * S) without the log). Each
// acyclicity check is Kahn's algorithm; a cycle is reported as a shortest one through an
// inferred edge of a strongly connected component, explained edge by edge.
#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "checkers/elle/analysis.h"
#include "checkers/elle/graph.h"
#include "checkers/elle/txn.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::causal {
namespace {

using elle::kNone;

constexpr size_t kMaxListed = 8;
constexpr uint32_t kInit = kNone - 1;  // the initial state as a source

enum Level : int { kRC = 0, kRA = 1, kCC = 2 };
const char* const kLevelName[] = {"read-committed", "read-atomic", "causal"};
const char* const kViolation[] = {"read-committed-violation", "read-atomic-violation",
                                  "causal-violation"};

int parse_level(const Json& options) {
  if (!options.is_object() || !options.contains("consistency-model")) return kCC;
  const Json& m = options["consistency-model"];
  std::string s = m.is_string() ? m.get<std::string>() : "";
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "read-committed" || s == "rc" || s == "pl-2") return kRC;
  if (s == "read-atomic" || s == "ra") return kRA;
  if (s == "causal" || s == "cc" || s == "tcc" || s == "causal-consistency") return kCC;
  throw ConfigError("txn-causal: consistency-model is read-committed, read-atomic or causal, not " +
                    json_text(m));
}

const OptionDecls kOptions = {
    {"consistency-model", "causal", "read-committed | read-atomic | causal"},
};

class TxnCausalChecker final : public Checker {
 public:
  explicit TxnCausalChecker(const Json& options) {
    const Options o(options, kOptions, "txn-causal");
    level_ = parse_level(options);
  }
  CheckResult check(const History& history, const CheckContext& ctx) override;

 private:
  int level_ = kCC;
};

struct ExtRead {
  uint32_t mop;  // mop index (global)
  uint32_t key;
  uint32_t source;  // node, or kInit
};

// An inferred commit-order edge T3 -> T1 and why.
struct CoEdge {
  uint32_t from, to;  // nodes (T3, T1)
  uint32_t reader;    // T2
  uint32_t read;      // index into reads of T2 (global ExtRead index)
  uint32_t via;       // RC: the earlier ExtRead of T2 that read from T3; otherwise unused
  uint8_t level;
  uint8_t how;  // 0: T2 read from T3 earlier, 1: so, 2: wr, 3: (so u wr)+
};

bool has_any(const std::map<std::string, size_t>& counts, const std::set<std::string>& types) {
  for (const auto& t : types) {
    if (counts.count(t)) return true;
  }
  return false;
}

bool history_appends(const History& history) {
  for (size_t i = 0; i < history.size(); ++i) {
    const Op& op = history[i];
    if (!op.is_invoke() || !op.value.is_array()) continue;
    for (const auto& m : op.value) {
      if (m.is_array() && !m.empty() && m[0] == "append") return true;
    }
  }
  return false;
}

CheckResult TxnCausalChecker::check(const History& history, const CheckContext& ctx) {
  CheckResult result;
  elle::TxnHistory th;
  const bool lists = history_appends(history);
  try {
    th = elle::parse_txns(history, lists);
  } catch (const elle::TxnFormatError& e) {
    result.validity = Validity::kUnknown;
    result.details = {{"summary", std::string("malformed operation: ") + e.what()}};
    return result;
  }
  const uint32_t T = static_cast<uint32_t>(th.txns.size());
  auto mops_of = [&](uint32_t t) {
    const auto& x = th.txns[t];
    return std::pair<uint32_t, uint32_t>{x.mop_begin, x.mop_begin + x.mop_count};
  };
  auto is_write = [&](const elle::Mop& m) { return m.kind != elle::MopKind::kRead; };
  // The kv a read returned: register reads their value, list reads their last element.
  auto read_kv = [&](const elle::Mop& m) -> uint32_t {
    if (!lists) return m.kv;
    return m.list_len == 0 ? kNone : th.list_of(m)[m.list_len - 1];
  };

  // Writers: unique values per key, over all transactions that may have written.
  std::vector<uint32_t> writer_txn(th.kv_value.size(), kNone),
      writer_mop(th.kv_value.size(), kNone);
  for (uint32_t t = 0; t < T; ++t) {
    auto [b, e] = mops_of(t);
    for (uint32_t m = b; m < e; ++m) {
      const auto& mop = th.mops[m];
      if (!is_write(mop)) continue;
      if (writer_txn[mop.kv] != kNone) {
        result.validity = Validity::kUnknown;
        result.details = {{"summary", "txn-causal requires unique written values per key: key " +
                                          th.key_text(mop.key) + " value " + th.value_text(mop.kv) +
                                          " is written by " +
                                          elle::txn_label(th.txns[writer_txn[mop.kv]]) +
                                          " and by " + elle::txn_label(th.txns[t])}};
        return result;
      }
      writer_txn[mop.kv] = t;
      writer_mop[mop.kv] = m;
    }
  }
  // Nodes: ok transactions, and info ones whose writes were read.
  std::vector<uint8_t> observed(T, 0);
  for (uint32_t t = 0; t < T; ++t) {
    if (th.txns[t].type != OpType::kOk) continue;
    auto [b, e] = mops_of(t);
    for (uint32_t m = b; m < e; ++m) {
      const auto& mop = th.mops[m];
      if (mop.kind != elle::MopKind::kRead || !mop.known) continue;
      const uint32_t kv = read_kv(mop);
      if (kv != kNone && writer_txn[kv] != kNone) observed[writer_txn[kv]] = 1;
    }
  }
  std::vector<uint32_t> node_of(T, kNone), txn_of;
  for (uint32_t t = 0; t < T; ++t) {
    const auto type = th.txns[t].type;
    if (type == OpType::kOk || (type == OpType::kInfo && observed[t])) {
      node_of[t] = static_cast<uint32_t>(txn_of.size());
      txn_of.push_back(t);
    }
  }
  const uint32_t N = static_cast<uint32_t>(txn_of.size());
  // Sessions.
  std::map<int64_t, uint32_t> session_index;
  std::vector<uint32_t> session(N), pos(N);
  std::vector<std::vector<uint32_t>> sessions;
  for (uint32_t v = 0; v < N; ++v) {
    auto [it, added] = session_index.try_emplace(th.txns[txn_of[v]].process,
                                                 static_cast<uint32_t>(sessions.size()));
    if (added) sessions.emplace_back();
    session[v] = it->second;
    pos[v] = static_cast<uint32_t>(sessions[it->second].size()) + 1;  // 1-based
    sessions[it->second].push_back(v);
  }
  const uint32_t S = static_cast<uint32_t>(sessions.size());

  // Naming transactions in explanations: T1, T2, ... in order of first mention.
  struct Namer {
    const elle::TxnHistory* th;
    std::vector<uint32_t> order;
    std::string operator()(uint32_t txn) {
      auto it = std::find(order.begin(), order.end(), txn);
      if (it == order.end()) {
        order.push_back(txn);
        it = order.end() - 1;
      }
      return "T" + std::to_string(it - order.begin() + 1);
    }
    std::string legend() const {
      std::string s;
      for (size_t i = 0; i < order.size(); ++i) {
        s +=
            (i ? ", T" : "T") + std::to_string(i + 1) + " = " + elle::txn_label(th->txns[order[i]]);
      }
      return s + ". ";
    }
  };
  std::map<std::string, size_t> counts;
  Json anomalies = Json::array();
  std::string explanation;
  auto listed = [&](const std::string& type) { return counts[type]++ < kMaxListed; };
  auto record = [&](const std::string& type, int level, const Namer& nm, const std::string& text,
                    Json extra = Json::object()) {
    Json ops = Json::array();
    for (uint32_t t : nm.order) ops.push_back(elle::txn_op_json(history, th.txns[t]));
    const std::string full = type + ": " + nm.legend() + text;
    Json a = {{"type", type}, {"level", kLevelName[level]}, {"ops", ops}, {"explanation", full}};
    for (auto& [k, v] : extra.items()) a[k] = v;
    anomalies.push_back(a);
    explanation += (explanation.empty() ? "" : "\n") + full;
  };
  auto kv_text = [&](uint32_t key, uint32_t kv) {
    return th.key_text(key) + " = " + th.value_text(kv);
  };

  // External reads, wr, and the anomalies of single reads.
  std::vector<ExtRead> reads;
  std::vector<uint32_t> reads_begin(N + 1, 0);
  std::vector<std::pair<uint32_t, uint32_t>> wr;  // (source node, reader node)
  // Keys each node writes (sorted), for "does T3 write x".
  std::vector<std::vector<uint32_t>> keys_written(N);
  for (uint32_t v = 0; v < N; ++v) {
    auto [b, e] = mops_of(txn_of[v]);
    for (uint32_t m = b; m < e; ++m) {
      if (is_write(th.mops[m])) keys_written[v].push_back(th.mops[m].key);
    }
    std::sort(keys_written[v].begin(), keys_written[v].end());
    keys_written[v].erase(std::unique(keys_written[v].begin(), keys_written[v].end()),
                          keys_written[v].end());
  }
  auto writes_key = [&](uint32_t v, uint32_t key) {
    return std::binary_search(keys_written[v].begin(), keys_written[v].end(), key);
  };
  // The last write of key in transaction t, or kNone.
  auto last_write = [&](uint32_t t, uint32_t key, uint32_t before) {
    auto [b, e] = mops_of(t);
    uint32_t last = kNone;
    for (uint32_t m = b; m < std::min(e, before); ++m) {
      if (is_write(th.mops[m]) && th.mops[m].key == key) last = m;
    }
    return last;
  };
  for (uint32_t v = 0; v < N; ++v) {
    reads_begin[v] = static_cast<uint32_t>(reads.size());
    const uint32_t t = txn_of[v];
    if (th.txns[t].type != OpType::kOk) continue;
    auto [b, e] = mops_of(t);
    std::unordered_map<uint32_t, uint32_t> own;  // key -> kv of this txn's latest write so far
    for (uint32_t m = b; m < e; ++m) {
      const auto& mop = th.mops[m];
      if (is_write(mop)) {
        own[mop.key] = mop.kv;
        continue;
      }
      if (!mop.known) continue;
      const uint32_t kv = read_kv(mop);
      if (auto it = own.find(mop.key); it != own.end()) {
        if (kv != it->second && listed("internal-read")) {
          Namer nm{&th, {}};
          const std::string a = nm(t);
          record("internal-read", kRC, nm,
                 a + " wrote " + kv_text(mop.key, it->second) + " and then read " +
                     kv_text(mop.key, kv) + ", not its own write (forbidden at every level).");
        }
        continue;
      }
      if (kv == kNone) {
        reads.push_back({m, mop.key, kInit});
        continue;
      }
      const uint32_t w = writer_txn[kv];
      if (w == kNone) {
        if (listed("thin-air-read")) {
          Namer nm{&th, {}};
          const std::string a = nm(t);
          record("thin-air-read", kRC, nm,
                 a + " read " + kv_text(mop.key, kv) +
                     ", a value no transaction wrote (forbidden at every level).");
        }
        continue;
      }
      if (th.txns[w].type == OpType::kFail) {
        if (listed("aborted-read")) {
          Namer nm{&th, {}};
          const std::string a = nm(t), c = nm(w);
          record("aborted-read", kRC, nm,
                 a + " read " + kv_text(mop.key, kv) + ", written by " + c +
                     ", which failed (forbidden at every level).");
        }
        continue;
      }
      if (w == t) {
        if (listed("internal-read")) {
          Namer nm{&th, {}};
          const std::string a = nm(t);
          record("internal-read", kRC, nm,
                 a + " read " + kv_text(mop.key, kv) +
                     " before writing it itself (forbidden at every level).");
        }
        continue;
      }
      if (last_write(w, mop.key, kNone) != writer_mop[kv]) {
        if (listed("intermediate-read")) {
          Namer nm{&th, {}};
          const std::string a = nm(t), c = nm(w);
          record("intermediate-read", kRC, nm,
                 a + " read " + kv_text(mop.key, kv) + ", which " + c +
                     " overwrote within the same transaction (forbidden at every level).");
        }
        continue;
      }
      reads.push_back({m, mop.key, node_of[w]});
      wr.push_back({node_of[w], v});
    }
  }
  reads_begin[N] = static_cast<uint32_t>(reads.size());

  // so u wr as a graph (process edges: consecutive in a session).
  auto base_edges = [&](elle::DepGraph* g) {
    for (const auto& s : sessions) {
      for (size_t i = 1; i < s.size(); ++i) g->add(s[i - 1], s[i], elle::kProcess);
    }
    for (const auto& [a, b] : wr) g->add(a, b, elle::kWR);
  };
  // Topological order by Kahn; empty when cyclic.
  auto topo = [&](const elle::DepGraph& g) {
    std::vector<uint32_t> indeg(N, 0), order;
    order.reserve(N);
    for (uint32_t u = 0; u < N; ++u) {
      for (uint32_t e = g.out_begin(u); e < g.out_end(u); ++e) ++indeg[g.target(e)];
    }
    for (uint32_t u = 0; u < N; ++u) {
      if (!indeg[u]) order.push_back(u);
    }
    for (size_t i = 0; i < order.size(); ++i) {
      for (uint32_t e = g.out_begin(order[i]); e < g.out_end(order[i]); ++e) {
        if (--indeg[g.target(e)] == 0) order.push_back(g.target(e));
      }
    }
    if (order.size() < N) order.clear();
    return order;
  };

  std::vector<CoEdge> co;
  // Sentence for an edge a -> b of a cycle.
  // Names are taken in reading order (operands of + are not sequenced).
  auto edge_text = [&](Namer& nm, uint32_t a, uint32_t b, uint8_t kind, const CoEdge* ce) {
    const uint32_t ta = txn_of[a], tb = txn_of[b];
    if (kind == elle::kProcess) {
      const std::string na = nm(ta), nb = nm(tb);
      return na + " precedes " + nb + " in process " + std::to_string(th.txns[ta].process) +
             "'s order (so)";
    }
    if (kind == elle::kWR) {
      const std::string nb = nm(tb), na = nm(ta);
      for (uint32_t i = reads_begin[b]; i < reads_begin[b + 1]; ++i) {
        if (reads[i].source != a) continue;
        const auto& mop = th.mops[reads[i].mop];
        return nb + " read " + kv_text(mop.key, read_kv(mop)) + " from " + na + " (wr)";
      }
      return nb + " read from " + na + " (wr)";
    }
    const ExtRead& r = reads[ce->read];
    const auto& mop = th.mops[r.mop];
    const std::string n2 = nm(txn_of[ce->reader]), nb = nm(tb), na = nm(ta);
    const uint32_t t3w = last_write(ta, r.key, kNone);
    std::string why;
    switch (ce->how) {
      case 0: {
        const auto& vm = th.mops[reads[ce->via].mop];
        why = n2 + " had already read " + kv_text(vm.key, read_kv(vm)) + " from " + na;
        break;
      }
      case 1:
        why = na + " precedes " + n2 + " in its process";
        break;
      case 2:
        why = n2 + " also read from " + na;
        break;
      default:
        why = na + " causally precedes " + n2 + " (so and wr)";
        break;
    }
    return n2 + " read " + kv_text(r.key, read_kv(mop)) + " from " + nb + " while " + why +
           ", which wrote " + kv_text(r.key, th.mops[t3w].kv) + ", so " + na + " commits before " +
           nb + " (" + kLevelName[ce->level] + ")";
  };
  // Reports the cycles of `g` (kinds: process, wr, ww = inferred co edge with index in co_at).
  auto report_cycles = [&](const elle::DepGraph& g, const std::vector<uint32_t>& co_index,
                           const std::string& type, int level) {
    auto comps = elle::strongly_connected(g, elle::kProcess | elle::kWR | elle::kWW);
    for (const auto& comp : comps) {
      if (!listed(type)) continue;
      // Shortest cycle through the component's first inferred edge (or any edge).
      std::vector<uint8_t> in(N, 0);
      for (uint32_t u : comp) in[u] = 1;
      uint32_t start_e = kNone, start_u = kNone;
      for (uint32_t u : comp) {
        for (uint32_t e = g.out_begin(u); e < g.out_end(u); ++e) {
          if (!in[g.target(e)]) continue;
          if (start_e == kNone || (g.kind(e) == elle::kWW && g.kind(start_e) != elle::kWW)) {
            start_e = e;
            start_u = u;
          }
        }
        if (start_e != kNone && g.kind(start_e) == elle::kWW) break;
      }
      // BFS from the edge's target back to its source inside the component.
      const uint32_t src = start_u, dst = g.target(start_e);
      std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> prev;  // node -> (node, edge)
      std::vector<uint32_t> queue{dst};
      prev[dst] = {kNone, kNone};
      for (size_t i = 0; i < queue.size() && !prev.count(src); ++i) {
        const uint32_t u = queue[i];
        for (uint32_t e = g.out_begin(u); e < g.out_end(u); ++e) {
          const uint32_t v = g.target(e);
          if (!in[v] || prev.count(v)) continue;
          prev[v] = {u, e};
          queue.push_back(v);
        }
      }
      std::vector<uint32_t> back;
      for (uint32_t v = src; v != dst; v = prev.at(v).first) back.push_back(prev.at(v).second);
      std::vector<uint32_t> edges{start_e};  // edges of the cycle, in order from src
      edges.insert(edges.end(), back.rbegin(), back.rend());
      Namer nm{&th, {}};
      std::string text;
      Json steps = Json::array();
      uint32_t at = src;
      for (uint32_t e : edges) {
        const uint32_t to = g.target(e);
        const CoEdge* ce = g.kind(e) == elle::kWW ? &co[co_index[e]] : nullptr;
        text += (text.empty() ? "" : "; ") + edge_text(nm, at, to, g.kind(e), ce);
        steps.push_back({{"op", th.txns[txn_of[at]].complete_index},
                         {"edge", g.kind(e) == elle::kWW ? "co" : elle::edge_name(g.kind(e))}});
        at = to;
      }
      std::string cyc;
      {
        uint32_t x = src;
        for (uint32_t e : edges) {
          cyc += nm(txn_of[x]) + " -> ";
          x = g.target(e);
        }
        cyc += nm(txn_of[src]);
      }
      std::string tail = level == kRC   ? "forbidden by read committed"
                         : level == kRA ? "fractured read, forbidden by read atomic"
                         : level == kCC ? "forbidden by causal consistency"
                                        : "";
      if (type == "cyclic-causality") tail = "forbidden at every level";
      record(type, level, nm,
             text + ". So " + cyc + " is a cycle: no commit order exists (" + tail + ").",
             {{"steps", steps}});
    }
  };

  bool unknown = false;
  std::string unknown_reason;
  int broken = 3;  // weakest broken level; 3: none
  // cyclic-causality.
  {
    elle::DepGraph g(N);
    base_edges(&g);
    g.finish();
    if (topo(g).empty() && N > 0) {
      report_cycles(g, {}, "cyclic-causality", kRC);
      broken = kRC;
    }
  }
  if (has_any(counts, {"thin-air-read", "aborted-read", "intermediate-read", "internal-read"})) {
    broken = kRC;
  }
  // Inferred edges, level by level; an initial-state read with a visible writer is reported
  // at once.
  auto init_violation = [&](int level, uint32_t reader, const ExtRead& r, uint32_t t3node,
                            const std::string& why) {
    const std::string type = kViolation[level];
    if (!listed(type)) return;
    Namer nm{&th, {}};
    const uint32_t t2 = txn_of[reader], t3 = txn_of[t3node];
    const std::string a = nm(t2), c = nm(t3);
    const uint32_t wm = last_write(t3, r.key, kNone);
    std::string tail = level == kRC   ? "forbidden by read committed"
                       : level == kRA ? "fractured read, forbidden by read atomic"
                                      : "forbidden by causal consistency";
    if (level == kRA) {
      tail = a + " observed " + c + " only in part (" + tail + ")";
    } else {
      tail = "so " + a + " should have seen it (" + tail + ")";
    }
    record(type, level, nm,
           a + " read " + kv_text(r.key, kNone) + " from the initial state, but " + why + ", and " +
               c + " also wrote " + kv_text(r.key, th.mops[wm].kv) + ": " + tail + ".");
  };
  auto add_co = [&](int level, uint32_t t3, uint32_t reader, uint32_t ri, uint32_t via,
                    uint8_t how) {
    const ExtRead& r = reads[ri];
    if (t3 == r.source || t3 == reader) return;
    if (r.source == kInit) {
      // init_violation names the reader T1 and T3 T2 (order of first mention).
      std::string why;
      switch (how) {
        case 0: {
          const auto& vm = th.mops[reads[via].mop];
          why = "it had already read " + kv_text(vm.key, read_kv(vm)) + " from T2";
          break;
        }
        case 1:
          why = "T2 precedes it in its process";
          break;
        case 2: {
          std::string what;
          for (uint32_t i = reads_begin[reader]; i < reads_begin[reader + 1]; ++i) {
            if (reads[i].source == t3) {
              const auto& vm = th.mops[reads[i].mop];
              what = kv_text(vm.key, read_kv(vm));
              break;
            }
          }
          why = "it read " + what + " from T2";
          break;
        }
        default:
          why = "T2 causally precedes it (so and wr)";
          break;
      }
      init_violation(level, reader, r, t3, why);
      broken = std::min(broken, level);
      return;
    }
    co.push_back({t3, r.source, reader, ri, via, static_cast<uint8_t>(level), how});
  };
  auto check_level = [&](int level) {
    elle::DepGraph g(N);
    base_edges(&g);
    std::vector<uint32_t> co_index;
    for (uint32_t i = 0; i < co.size(); ++i) g.add(co[i].from, co[i].to, elle::kWW);
    g.finish();
    // Map each kWW edge to its CoEdge: the graph keeps insertion order within a source.
    co_index.assign(g.edge_count(), kNone);
    {
      std::vector<uint32_t> next(N);
      for (uint32_t u = 0; u < N; ++u) next[u] = g.out_begin(u);
      for (uint32_t i = 0; i < co.size(); ++i) {
        if (co[i].from == co[i].to) continue;
        uint32_t& e = next[co[i].from];
        while (g.kind(e) != elle::kWW) ++e;
        co_index[e++] = i;
      }
    }
    if (!topo(g).empty() || N == 0) return;
    report_cycles(g, co_index, kViolation[level], level);
    broken = std::min(broken, level);
  };
  if (broken > kRC) {
    // RC: T3 read earlier in the same transaction.
    for (uint32_t v = 0; v < N; ++v) {
      for (uint32_t i = reads_begin[v]; i < reads_begin[v + 1]; ++i) {
        for (uint32_t j = reads_begin[v]; j < i; ++j) {
          const uint32_t t3 = reads[j].source;
          if (t3 == kInit || !writes_key(t3, reads[i].key)) continue;
          bool dup = false;  // the same T3 read earlier through another read
          for (uint32_t k = reads_begin[v]; k < j && !dup; ++k) dup = reads[k].source == t3;
          if (!dup) add_co(kRC, t3, v, i, j, 0);
        }
      }
    }
    if (broken > kRC) check_level(kRC);
  }
  if (broken > kRA) {
    // RA: the latest earlier transaction of the session writing the key, and every wr source.
    for (const auto& s : sessions) {
      std::unordered_map<uint32_t, uint32_t> latest;  // key -> node
      for (uint32_t v : s) {
        for (uint32_t i = reads_begin[v]; i < reads_begin[v + 1]; ++i) {
          if (auto it = latest.find(reads[i].key); it != latest.end()) {
            add_co(kRA, it->second, v, i, kNone, 1);
          }
          for (uint32_t j = reads_begin[v]; j < reads_begin[v + 1]; ++j) {
            const uint32_t t3 = reads[j].source;
            if (t3 == kInit || !writes_key(t3, reads[i].key)) continue;
            bool dup = false;
            for (uint32_t k = reads_begin[v]; k < j && !dup; ++k) dup = reads[k].source == t3;
            if (!dup) add_co(kRA, t3, v, i, kNone, 2);
          }
        }
        for (uint32_t k : keys_written[v]) latest[k] = v;
      }
    }
    if (broken > kRA) check_level(kRA);
  }
  if (broken > kCC && static_cast<uint64_t>(N) * S > (uint64_t{1} << 28)) {
    unknown = true;
    unknown_reason = "too many sessions for vector clocks (" + std::to_string(S) + ")";
  } else if (broken > kCC) {
    elle::DepGraph g(N);
    base_edges(&g);
    g.finish();
    const std::vector<uint32_t> order = topo(g);
    std::vector<uint32_t> vc(static_cast<size_t>(N) * S, 0);  // inclusive of the node itself
    auto clock = [&](uint32_t v) { return vc.data() + static_cast<size_t>(v) * S; };
    for (uint32_t u : order) {
      uint32_t* c = clock(u);
      c[session[u]] = std::max(c[session[u]], pos[u]);
      for (uint32_t e = g.out_begin(u); e < g.out_end(u); ++e) {
        uint32_t* d = clock(g.target(e));
        for (uint32_t s = 0; s < S; ++s) d[s] = std::max(d[s], c[s]);
      }
    }
    // Writers per (key, session), by position; sessions per key.
    std::unordered_map<uint64_t, std::vector<uint32_t>> writers;
    std::unordered_map<uint32_t, std::vector<uint32_t>> sessions_of_key;
    for (uint32_t v = 0; v < N; ++v) {
      for (uint32_t k : keys_written[v]) {
        auto& w = writers[(uint64_t{k} << 32) | session[v]];
        if (w.empty()) sessions_of_key[k].push_back(session[v]);
        w.push_back(v);
      }
    }
    for (auto& [k, ss] : sessions_of_key) std::sort(ss.begin(), ss.end());
    for (uint32_t v = 0; v < N; ++v) {
      if ((v & 4095) == 0 && ctx.expired()) {
        unknown = true;
        unknown_reason = "deadline";
        break;
      }
      const uint32_t* c = clock(v);
      for (uint32_t i = reads_begin[v]; i < reads_begin[v + 1]; ++i) {
        auto sk = sessions_of_key.find(reads[i].key);
        if (sk == sessions_of_key.end()) continue;
        for (uint32_t s : sk->second) {
          const uint32_t bound = s == session[v] ? pos[v] - 1 : c[s];
          const auto& ws = writers[(uint64_t{reads[i].key} << 32) | s];
          auto it = std::upper_bound(ws.begin(), ws.end(), bound,
                                     [&](uint32_t b, uint32_t w) { return b < pos[w]; });
          if (it == ws.begin()) continue;
          add_co(kCC, *(it - 1), v, i, kNone, 3);
        }
      }
    }
    if (broken > kCC && !unknown) check_level(kCC);
  }

  // Verdict.
  std::set<std::string> types;
  size_t total = 0;
  for (const auto& [t, c] : counts) {
    if (c) {
      types.insert(t);
      total += c;
    }
  }
  if (broken <= level_) {
    result.validity = Validity::kInvalid;
  } else if (unknown && level_ == kCC) {
    result.validity = Validity::kUnknown;
  } else {
    result.validity = Validity::kValid;
  }
  std::string summary;
  if (types.empty()) {
    summary = "no anomalies";
  } else {
    summary = std::to_string(total) + " anomal" + (total == 1 ? "y" : "ies") + " (";
    bool first = true;
    for (const auto& t : types) {
      summary += (first ? "" : ", ") + t;
      first = false;
    }
    summary += ")";
  }
  const std::string model = kLevelName[level_];
  summary += result.validity == Validity::kInvalid ? "; not " + model
             : result.validity == Validity::kValid
                 ? "; consistent with " + model
                 : "; " + model + " not decided: " + unknown_reason;
  Json count_json = Json::object();
  for (const auto& [t, c] : counts) {
    if (c) count_json[t] = c;
  }
  Json ruled = Json::array();
  for (int l = broken; l <= kCC; ++l) ruled.push_back(kLevelName[l]);
  result.details = {{"summary", summary},
                    {"consistency-model", model},
                    {"anomaly-types", std::vector<std::string>(types.begin(), types.end())},
                    {"anomaly-counts", count_json},
                    {"anomalies", anomalies},
                    {"ruled-out", ruled},
                    {"stats",
                     {{"transactions", N},
                      {"sessions", S},
                      {"external-reads", reads.size()},
                      {"inferred-edges", co.size()}}}};
  if (!explanation.empty()) result.details["explanation"] = explanation;
  return result;
}

const bool registered = CheckerRegistry::add(
    "checker", "txn-causal",
    "Read committed, read atomic and transactional causal consistency of transaction "
    "histories by commit-order saturation (AWDIT, PLDI 2025)",
    [](const Json& options) -> std::unique_ptr<Checker> {
      return std::make_unique<TxnCausalChecker>(options);
    },
    kOptions);

}  // namespace
}  // namespace faultline::causal
