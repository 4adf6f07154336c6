// causal: causal consistency of key-value (register) histories with unique written values, by
// the bad patterns of Bouajjani, Enea, Guerraoui and Hamza, "On Verifying Causal
// Consistency", POPL 2017 (sections 3-4).
//
// Operations: each micro-operation of a transaction (["w", k, v], ["r", k, v]) is one
// operation of its process, in order (transactions are not atomic here: this is the
// non-transactional definition). Program order PO is per process; read-from WR links a write
// to the reads of its value (values are unique per key); CO = (PO u WR)+. A violation is one
// of these patterns:
//   CyclicCO         CO has a cycle
//   ThinAirRead      a read of a value nobody wrote (or only a failed operation wrote)
//   WriteCOInitRead  a read of the initial state (nil) with a write of its key CO-before it
//   WriteCORead      a read r(x, v) written by w, with another write w'(x) where
//                    w ->CO w' ->CO r (r should have seen w' or a later value)
//   CyclicCF         (CCv only) CF u CO has a cycle, where w1 ->CF w2 when w1 and w2 write
//                    the same key and w1 is CO-before a read of w2's value
//   WriteHBInitRead  (CM only) for some process p, a read r(x, nil) of p and a write w(x) with
//                    w ->HB_p r
//   CyclicHB         (CM only) HB_p has a cycle for some process p
// HB_p (the paper's HB_o for o the last operation of p; HB_o only grows along PO, so the last
// operation decides) is the smallest transitive relation that contains CO restricted to the
// causal past of o, and w1 ->HB_p w2 whenever w1 and w2 write the same key x, a read r(x) of
// p reads w2's value and w1 ->HB_p r: in p's view (one serialization of its causal past in
// which all of p's own reads are legal; the reads of other processes need not be) w2 is the
// last write of x before r, so every write of x that p's view puts before r comes before w2.
// CC forbids the first four, CCv adds CyclicCF, CM (causal memory) adds WriteHBInitRead and
// CyclicHB (section 4 of the paper: for differentiated histories, i.e. unique written values,
// these patterns characterise the three models exactly).
//
// CO is kept as vector clocks over processes (one entry per process), so each query is O(1);
// WriteCORead and CyclicCF only need, per read and process, the latest write of the key that
// process made before the read in CO (PO makes earlier ones redundant). Cost O(n * P log n)
// for n operations and P processes.
//
// CM: per process, HB_p is saturated to a fixpoint. Each round takes, for each read r of p
// and each process q, the latest write of r's key by q that is HB_p-before r (earlier ones
// are PO-before it): a write of an initial-state read is WriteHBInitRead, a write that r's
// source already precedes is CyclicHB, else the edge w1 -> source is added. Then the HB_p
// vector clocks (CO's at first) are updated by pushing only the changes from the new edges'
// targets (in CO's topological order, revisiting a node when a derived edge points
// backwards), a derived edge a -> b with b ->HB_p a is CyclicHB, and the next round looks only
// at the reads whose clocks grew. Rounds end when nothing is added; every round adds an edge
// and costs at most O((n + edges) * P log n), so the check is polynomial (about 6 rounds per
// process on the benchmark). A violation found in any round is final: HB_p only grows.
//
// Info operations: their writes count when someone read them; their reads are unknown and
// skipped. Failed operations are left out.
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "checkers/causal/z3_causal.h"
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

struct COp {
  uint32_t txn;
  uint32_t mop;
  uint32_t proc;  // dense process index
  uint32_t seq;   // 1-based position in its process
  bool write;
  uint32_t key;
  uint32_t kv;  // written or read (key, value) id; kNone: read of the initial state
};

const OptionDecls kOptions = {
    {"consistency-model", "CC", "CC | CCv | CM (Bouajjani et al.)"},
    {"engine", "auto", "auto | patterns | z3"},
};

class CausalChecker final : public Checker {
 public:
  explicit CausalChecker(const Json& options) {
    const Options o(options, kOptions, "causal");
    engine_ = o.text("engine", {"auto", "patterns", "z3"});
    if (options.is_object() && options.contains("consistency-model")) {
      model_ = options["consistency-model"].is_string()
                   ? options["consistency-model"].get<std::string>()
                   : "";
      if (model_ == "cc" || model_ == "causal") model_ = "CC";
      if (model_ == "ccv") model_ = "CCv";
      if (model_ == "cm") model_ = "CM";
      if (model_ != "CC" && model_ != "CCv" && model_ != "CM") {
        throw ConfigError("causal: consistency-model is CC, CCv or CM, not " +
                          json_text(options["consistency-model"]));
      }
    }
  }

  CheckResult check(const History& history, const CheckContext& ctx) override;

 private:
  CheckResult check_smt(const std::vector<COp>& ops, uint32_t processes, bool duplicate,
                        const std::string& duplicate_text, const CheckContext& ctx) const;
  std::string model_ = "CC";
  std::string engine_ = "auto";
};

CheckResult CausalChecker::check(const History& history, const CheckContext& ctx) {
  CheckResult result;
  elle::TxnHistory th;
  try {
    th = elle::parse_txns(history, false);
  } catch (const elle::TxnFormatError& e) {
    result.validity = Validity::kUnknown;
    result.details = {{"summary", std::string("malformed operation: ") + e.what()}};
    return result;
  }
  // Writers (any outcome) to tell thin-air from failed writes; info writes count if read.
  std::vector<uint32_t> writer_op(th.kv_value.size(), kNone);
  std::vector<uint8_t> read_any(th.kv_value.size(), 0);
  for (const auto& t : th.txns) {
    if (t.type != OpType::kOk) continue;
    for (uint32_t m = t.mop_begin; m < t.mop_begin + t.mop_count; ++m) {
      const auto& mop = th.mops[m];
      if (mop.kind == elle::MopKind::kRead && mop.known && mop.kv != kNone) read_any[mop.kv] = 1;
    }
  }
  std::map<int64_t, uint32_t> proc_index;
  std::vector<uint32_t> proc_len;
  bool duplicate = false;  // some (key, value) written twice: read-from is not determined
  std::string duplicate_text;
  std::vector<COp> ops;
  for (uint32_t ti = 0; ti < th.txns.size(); ++ti) {
    const auto& t = th.txns[ti];
    if (t.type == OpType::kFail) continue;
    auto [it, added] = proc_index.try_emplace(t.process, static_cast<uint32_t>(proc_len.size()));
    if (added) proc_len.push_back(0);
    const uint32_t p = it->second;
    for (uint32_t m = t.mop_begin; m < t.mop_begin + t.mop_count; ++m) {
      const auto& mop = th.mops[m];
      if (mop.kind == elle::MopKind::kAppend) {
        result.validity = Validity::kUnknown;
        result.details = {{"summary", "causal checks register histories; found an append"}};
        return result;
      }
      const bool w = mop.kind == elle::MopKind::kWrite;
      if (!w && (t.type != OpType::kOk || !mop.known)) continue;
      if (w && t.type != OpType::kOk && !read_any[mop.kv]) continue;
      ops.push_back({ti, m, p, ++proc_len[p], w, mop.key, mop.kv});
      if (w) {
        if (writer_op[mop.kv] != kNone && !duplicate) {
          duplicate = true;
          duplicate_text = "key " + th.key_text(mop.key) + " value " + th.value_text(mop.kv) +
                           " is written by " +
                           elle::txn_label(th.txns[ops[writer_op[mop.kv]].txn]) + " and by " +
                           elle::txn_label(t);
        }
        writer_op[mop.kv] = static_cast<uint32_t>(ops.size() - 1);
      }
    }
  }
  const uint32_t n = static_cast<uint32_t>(ops.size());
  if (engine_ == "z3" || (engine_ == "auto" && duplicate)) {
    return check_smt(ops, static_cast<uint32_t>(proc_len.size()), duplicate, duplicate_text, ctx);
  }
  if (duplicate) {
    result.validity = Validity::kUnknown;
    result.details = {{"summary", "causal (engine patterns) needs unique written values per key: " +
                                      duplicate_text}};
    return result;
  }
  const uint32_t P = static_cast<uint32_t>(proc_len.size());

  struct Found {
    std::string type;
    std::string text;
    Json detail;
  };
  std::vector<Found> found;
  std::map<std::string, size_t> counts;
  auto op_text = [&](uint32_t o) {
    const auto& x = ops[o];
    const auto& t = th.txns[x.txn];
    return std::string(x.write ? "write " : "read ") + th.key_text(x.key) + " = " +
           th.value_text(x.kv) + " (op " +
           std::to_string(t.complete_index != INT64_MAX ? t.complete_index : t.invoke_index) +
           ", process " + std::to_string(t.process) + ")";
  };
  auto op_json = [&](uint32_t o) {
    Json j = elle::txn_op_json(history, th.txns[ops[o].txn]);
    j["mop"] = ops[o].mop - th.txns[ops[o].txn].mop_begin;
    return j;
  };
  auto add = [&](const std::string& type, std::string text, std::vector<uint32_t> involved) {
    if (counts[type]++ >= kMaxListed) return;
    Json ops_json = Json::array();
    for (uint32_t o : involved) ops_json.push_back(op_json(o));
    found.push_back({type, type + ": " + text, {{"type", type}, {"ops", ops_json}}});
  };

  // PO and WR edges; ThinAirRead.
  elle::DepGraph g(n);
  std::vector<uint32_t> last_of_proc(P, kNone);
  for (uint32_t o = 0; o < n; ++o) {
    const auto& x = ops[o];
    if (last_of_proc[x.proc] != kNone) g.add(last_of_proc[x.proc], o, elle::kProcess);
    last_of_proc[x.proc] = o;
    if (!x.write && x.kv != kNone) {
      const uint32_t w = writer_op[x.kv];
      if (w == kNone) {
        add("ThinAirRead", op_text(o) + " reads a value no (successful) write wrote", {o});
      } else if (w != o) {
        g.add(w, o, elle::kWR);
      }
    }
  }
  g.finish();
  // CyclicCO.
  auto cyclic = elle::strongly_connected(g, elle::kProcess | elle::kWR);
  for (const auto& comp : cyclic) {
    std::string text = "program order and read-from form a cycle through";
    std::vector<uint32_t> inv;
    for (size_t i = 0; i < comp.size() && i < 6; ++i) {
      text += (i ? ", " : " ") + op_text(comp[i]);
      inv.push_back(comp[i]);
    }
    if (comp.size() > 6) text += " and " + std::to_string(comp.size() - 6) + " more";
    add("CyclicCO", text, inv);
  }
  bool unknown = false;
  std::string unknown_reason;
  uint64_t cm_rounds = 0, cm_derived = 0;
  if (cyclic.empty() && static_cast<uint64_t>(n) * P > (uint64_t{1} << 28)) {
    unknown = true;
    unknown_reason = "too many processes for vector clocks (" + std::to_string(P) + ")";
  } else if (cyclic.empty()) {
    // Vector clocks in a topological order of PO u WR.
    std::vector<uint32_t> indeg(n, 0), order;
    order.reserve(n);
    for (uint32_t o = 0; o < n; ++o) {
      for (uint32_t e = g.out_begin(o); e < g.out_end(o); ++e) ++indeg[g.target(e)];
    }
    for (uint32_t o = 0; o < n; ++o) {
      if (!indeg[o]) order.push_back(o);
    }
    for (size_t i = 0; i < order.size(); ++i) {
      for (uint32_t e = g.out_begin(order[i]); e < g.out_end(order[i]); ++e) {
        if (--indeg[g.target(e)] == 0) order.push_back(g.target(e));
      }
    }
    std::vector<uint32_t> vc(static_cast<size_t>(n) * P, 0);
    auto clock = [&](uint32_t o) { return vc.data() + static_cast<size_t>(o) * P; };
    for (uint32_t o : order) {
      uint32_t* c = clock(o);
      c[ops[o].proc] = std::max(c[ops[o].proc], ops[o].seq);
      for (uint32_t e = g.out_begin(o); e < g.out_end(o); ++e) {
        uint32_t* d = clock(g.target(e));
        for (uint32_t p = 0; p < P; ++p) d[p] = std::max(d[p], c[p]);
      }
    }
    auto co_before = [&](uint32_t a, uint32_t b) {  // a ->CO b (a != b)
      return a != b && clock(b)[ops[a].proc] >= ops[a].seq;
    };
    // Writes per (key, process), by seq.
    std::map<std::pair<uint32_t, uint32_t>, std::vector<uint32_t>> writes;
    for (uint32_t o = 0; o < n; ++o) {
      if (ops[o].write) writes[{ops[o].key, ops[o].proc}].push_back(o);
    }
    std::map<uint32_t, std::vector<uint32_t>> procs_writing;  // key -> processes
    for (const auto& [kp, v] : writes) procs_writing[kp.first].push_back(kp.second);
    // Latest write of key k by process p that is CO-before-or-equal op o; kNone if none.
    auto latest = [&](uint32_t k, uint32_t p, uint32_t o) -> uint32_t {
      const auto& ws = writes[{k, p}];
      const uint32_t bound = clock(o)[p];
      auto it = std::upper_bound(ws.begin(), ws.end(), bound,
                                 [&](uint32_t b, uint32_t w) { return b < ops[w].seq; });
      return it == ws.begin() ? kNone : *(it - 1);
    };
    elle::DepGraph cf(model_ == "CCv" ? n : 0);
    for (uint32_t o = 0; o < n; ++o) {
      if ((o & 4095) == 0 && ctx.expired()) {
        unknown = true;
        unknown_reason = "deadline";
        break;
      }
      const auto& x = ops[o];
      if (x.write) continue;
      auto pw = procs_writing.find(x.key);
      if (pw == procs_writing.end()) continue;
      if (x.kv == kNone) {
        for (uint32_t p : pw->second) {
          const uint32_t w = latest(x.key, p, o);
          if (w != kNone && w != o) {
            add("WriteCOInitRead",
                op_text(o) + " reads the initial state, but " + op_text(w) +
                    " is causally before it",
                {w, o});
            break;
          }
        }
        continue;
      }
      const uint32_t src = writer_op[x.kv];
      if (src == kNone) continue;
      for (uint32_t p : pw->second) {
        const uint32_t w = latest(x.key, p, o);
        if (w == kNone || w == src) continue;
        if (co_before(src, w)) {
          add("WriteCORead",
              op_text(o) + " reads the value of " + op_text(src) + ", but " + op_text(w) +
                  " overwrote it and is causally before the read",
              {src, w, o});
          break;
        }
        if (model_ == "CCv" && w != o) cf.add(w, src, elle::kWW);
      }
    }
    if (model_ == "CCv" && !unknown) {
      for (uint32_t o = 0; o < n; ++o) {
        for (uint32_t e = g.out_begin(o); e < g.out_end(o); ++e) cf.add(o, g.target(e), elle::kWR);
      }
      cf.finish();
      for (const auto& comp : elle::strongly_connected(cf, elle::kWW | elle::kWR)) {
        std::string text = "the writes must be arbitrated in a cycle (CF with CO) through";
        std::vector<uint32_t> inv;
        for (size_t i = 0; i < comp.size() && i < 6; ++i) {
          text += (i ? ", " : " ") + op_text(comp[i]);
          inv.push_back(comp[i]);
        }
        add("CyclicCF", text, inv);
      }
    }
    if (model_ == "CM" && !unknown) {
      // Causal memory: one happens-before relation per process (see the header). HB_o grows
      // along program order, so the last operation of each process decides for the process.
      std::vector<std::vector<uint32_t>> reads_of(P);
      for (uint32_t o = 0; o < n; ++o) {
        if (!ops[o].write) reads_of[ops[o].proc].push_back(o);
      }
      struct Derived {
        uint32_t to;
        uint32_t because;  // the read of the process whose view orders the two writes
      };
      std::vector<uint32_t> hb(static_cast<size_t>(n) * P);
      std::vector<uint8_t> has_derived(n, 0);
      std::vector<uint32_t> has_derived_set;
      // Per key: each process writing it, with its writes of the key and their seqs.
      struct KeyWriter {
        uint32_t q;
        const std::vector<uint32_t>* ws;
        std::vector<uint32_t> seqs;
      };
      std::vector<std::vector<KeyWriter>> key_writers(th.key_json.size());
      for (const auto& [kp, v] : writes) {
        KeyWriter kw{kp.second, &v, {}};
        for (uint32_t w : v) kw.seqs.push_back(ops[w].seq);
        key_writers[kp.first].push_back(std::move(kw));
      }
      std::vector<uint8_t> dirty(n, 0);  // HB clock grew in the last round
      std::vector<uint32_t> topo_pos(n);
      for (uint32_t i = 0; i < n; ++i) topo_pos[order[i]] = i;
      std::vector<uint8_t> queued(n, 0);
      std::vector<std::pair<uint32_t, uint32_t>> heap;   // (topo_pos, op), a min-heap
      std::vector<std::pair<uint32_t, uint32_t>> fresh;  // derived edges of this round
      for (uint32_t p = 0; p < P && !unknown; ++p) {
        if (reads_of[p].empty()) continue;
        std::map<uint32_t, std::vector<Derived>> derived;  // from -> derived edges
        for (uint32_t o : has_derived_set) has_derived[o] = 0;
        has_derived_set.clear();
        const uint32_t* clocks = vc.data();  // CO first, then HB
        fresh.clear();
        std::fill(dirty.begin(), dirty.end(), 0);
        auto hclock = [&](uint32_t o) { return clocks + static_cast<size_t>(o) * P; };
        auto hb_before = [&](uint32_t a, uint32_t b) {
          return a != b && hclock(b)[ops[a].proc] >= ops[a].seq;
        };
        auto latest_hb = [&](const KeyWriter& kw, uint32_t o) -> uint32_t {
          const uint32_t bound = hclock(o)[kw.q];
          auto it = std::upper_bound(kw.seqs.begin(), kw.seqs.end(), bound);
          return it == kw.seqs.begin() ? kNone
                                       : (*kw.ws)[static_cast<size_t>(it - kw.seqs.begin()) - 1];
        };
        // Successors in PO u WR u derived, for paths in explanations.
        auto path = [&](uint32_t from, uint32_t to) {
          std::vector<uint32_t> prev(n, kNone);
          std::vector<uint32_t> queue{from};
          prev[from] = from;
          for (size_t i = 0; i < queue.size() && prev[to] == kNone; ++i) {
            const uint32_t u = queue[i];
            auto visit = [&](uint32_t v) {
              if (prev[v] == kNone) {
                prev[v] = u;
                queue.push_back(v);
              }
            };
            for (uint32_t e = g.out_begin(u); e < g.out_end(u); ++e) visit(g.target(e));
            auto d = derived.find(u);
            if (d != derived.end()) {
              for (const auto& x : d->second) visit(x.to);
            }
          }
          std::vector<uint32_t> out;
          if (prev[to] == kNone) return out;
          for (uint32_t v = to; v != from; v = prev[v]) out.push_back(v);
          out.push_back(from);
          std::reverse(out.begin(), out.end());
          return out;
        };
        const std::string view =
            "process " + std::to_string(th.txns[ops[reads_of[p][0]].txn].process);
        auto step_text = [&](uint32_t a, uint32_t b, std::vector<uint32_t>* inv) {
          auto d = derived.find(a);
          if (d != derived.end()) {
            for (const auto& x : d->second) {
              if (x.to != b) continue;
              inv->push_back(x.because);
              return " -> (in the view of " + view + ": " + op_text(x.because) +
                     " reads it and comes after " + op_text(a) + ") ";
            }
          }
          return std::string(ops[a].proc == ops[b].proc && ops[b].seq == ops[a].seq + 1
                                 ? " -> (program order) "
                                 : " -> (read-from) ");
        };
        auto chain_text = [&](const std::vector<uint32_t>& pth, std::vector<uint32_t>* inv) {
          if (pth.empty()) return std::string("(no path found)");
          std::string text = op_text(pth[0]);
          inv->push_back(pth[0]);
          for (size_t i = 1; i < pth.size(); ++i) {
            text += step_text(pth[i - 1], pth[i], inv) + op_text(pth[i]);
            inv->push_back(pth[i]);
          }
          return text;
        };
        bool done = false;
        for (int round = 0; !done; ++round) {
          ++cm_rounds;
          if (ctx.expired()) {
            unknown = true;
            unknown_reason = "deadline";
            break;
          }
          bool grew = false;
          for (uint32_t r : reads_of[p]) {
            // Later rounds: only reads whose HB past grew can need anything new (a source's
            // growth only makes edges redundant; cycles are checked on the edges below).
            if (round > 0 && !dirty[r]) continue;
            dirty[r] = 0;
            const auto& x = ops[r];
            const auto& kw = key_writers[x.key];
            if (kw.empty()) continue;
            const uint32_t src = x.kv == kNone ? kNone : writer_op[x.kv];
            if (x.kv != kNone && src == kNone) continue;  // ThinAirRead, reported above
            for (const auto& writer : kw) {
              const uint32_t w1 = latest_hb(writer, r);
              if (w1 == kNone || w1 == src) continue;
              if (x.kv == kNone) {
                if (co_before(w1, r)) continue;  // WriteCOInitRead, reported above
                done = true;
                if (counts["WriteHBInitRead"] >= kMaxListed) {
                  ++counts["WriteHBInitRead"];
                  continue;
                }
                std::vector<uint32_t> inv;
                std::string chain = chain_text(path(w1, r), &inv);
                add("WriteHBInitRead",
                    op_text(r) + " reads the initial state, but in the view of " + view +
                        " (one order of its causal past in which all its reads are legal) " +
                        op_text(w1) + " must come before it: " + chain,
                    inv);
                continue;
              }
              if (hb_before(w1, src)) continue;
              if (hb_before(src, w1)) {
                if (co_before(src, w1) && co_before(w1, r)) continue;  // WriteCORead, above
                done = true;
                if (counts["CyclicHB"] >= kMaxListed) {
                  ++counts["CyclicHB"];
                  continue;
                }
                std::vector<uint32_t> inv;
                std::string chain = chain_text(path(src, w1), &inv);
                add("CyclicHB",
                    "in the view of " + view + ", " + op_text(r) + " reads " + op_text(src) +
                        " after " + op_text(w1) + ", so " + op_text(w1) +
                        " must come before it; but " + chain,
                    inv);
                continue;
              }
              auto& out = derived[w1];
              if (std::none_of(out.begin(), out.end(),
                               [&](const Derived& d) { return d.to == src; })) {
                out.push_back({src, r});
                fresh.push_back({w1, src});
                ++cm_derived;
                if (!has_derived[w1]) {
                  has_derived[w1] = 1;
                  has_derived_set.push_back(w1);
                }
                grew = true;
              }
            }
          }
          if (done || !grew) break;
          // HB clocks grow monotonically: start from the last ones (CO at first) and push
          // the changes from the targets of the new edges, in the order of a topological
          // order of CO (a derived edge may point backwards: its target is then revisited).
          // Clocks are bounded, so this ends even when the new edges close a cycle.
          if (clocks != hb.data()) {
            std::copy(vc.begin(), vc.end(), hb.begin());
            clocks = hb.data();
          }
          auto merge = [&](uint32_t from, uint32_t to) {
            const uint32_t* c = hb.data() + static_cast<size_t>(from) * P;
            uint32_t* d = hb.data() + static_cast<size_t>(to) * P;
            bool changed = false;
            for (uint32_t q = 0; q < P; ++q) {
              if (c[q] > d[q]) {
                d[q] = c[q];
                changed = true;
              }
            }
            if (changed) dirty[to] = 1;
            if (changed && !queued[to]) {
              queued[to] = 1;
              heap.push_back({topo_pos[to], to});
              std::push_heap(heap.begin(), heap.end(), std::greater<>());
            }
          };
          for (const auto& [from, to] : fresh) merge(from, to);
          fresh.clear();
          while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), std::greater<>());
            const uint32_t o = heap.back().second;
            heap.pop_back();
            queued[o] = 0;
            for (uint32_t e = g.out_begin(o); e < g.out_end(o); ++e) merge(o, g.target(e));
            if (has_derived[o]) {
              for (const auto& x : derived.find(o)->second) merge(o, x.to);
            }
          }
          // A cycle needs a derived edge a -> b with b ->HB a (CO itself is acyclic).
          for (uint32_t a : has_derived_set) {
            for (const auto& x : derived.find(a)->second) {
              if (done || !hb_before(x.to, a)) continue;
              done = true;
              if (counts["CyclicHB"] >= kMaxListed) {
                ++counts["CyclicHB"];
                continue;
              }
              std::vector<uint32_t> inv;
              std::string chain = chain_text(path(x.to, a), &inv);
              add("CyclicHB",
                  "in the view of " + view + ", " + op_text(x.because) + " reads " + op_text(x.to) +
                      " after " + op_text(a) + ", so " + op_text(a) + " must come before it; but " +
                      chain,
                  inv);
            }
          }
        }
      }
    }
  }
  // Verdict.
  std::set<std::string> types;
  for (const auto& [t, c] : counts) types.insert(t);
  const std::set<std::string> cc = {"CyclicCO", "ThinAirRead", "WriteCOInitRead", "WriteCORead"};
  std::set<std::string> ccv = cc;
  ccv.insert("CyclicCF");
  std::set<std::string> cm = cc;
  cm.insert({"WriteHBInitRead", "CyclicHB"});
  const auto& forbidden = model_ == "CCv" ? ccv : model_ == "CM" ? cm : cc;
  bool bad = std::any_of(types.begin(), types.end(),
                         [&](const auto& t) { return forbidden.count(t) > 0; });
  if (bad) {
    result.validity = Validity::kInvalid;
  } else if (unknown) {
    result.validity = Validity::kUnknown;
  } else {
    result.validity = Validity::kValid;
  }
  Json list = Json::array();
  std::string explanation;
  for (const auto& f : found) {
    Json d = f.detail;
    d["explanation"] = f.text;
    list.push_back(d);
    explanation += (explanation.empty() ? "" : "\n") + f.text;
  }
  std::string summary;
  size_t total = 0;
  for (const auto& [t, c] : counts) total += c;
  if (types.empty()) {
    summary = "no causal bad patterns";
  } else {
    summary = std::to_string(total) + " bad pattern" + (total == 1 ? "" : "s") + " (";
    bool first = true;
    for (const auto& t : types) {
      summary += (first ? "" : ", ") + t;
      first = false;
    }
    summary += ")";
  }
  summary += result.validity == Validity::kInvalid ? "; not " + model_
             : result.validity == Validity::kValid
                 ? "; consistent with " + model_
                 : "; " + model_ + " not decided: " + unknown_reason;
  Json count_json = Json::object();
  for (const auto& [t, c] : counts) count_json[t] = c;
  result.details = {{"summary", summary},
                    {"consistency-model", model_},
                    {"anomaly-types", std::vector<std::string>(types.begin(), types.end())},
                    {"anomaly-counts", count_json},
                    {"anomalies", list},
                    {"stats", {{"operations", n}, {"processes", P}}}};
  if (model_ == "CM") {
    result.details["stats"]["cm-rounds"] = cm_rounds;
    result.details["stats"]["cm-derived-edges"] = cm_derived;
  }
  if (!explanation.empty()) result.details["explanation"] = explanation;
  bool cc_out =
      std::any_of(types.begin(), types.end(), [&](const auto& t) { return cc.count(t) > 0; });
  Json ruled = Json::array();
  if (cc_out || types.count("CyclicCF")) ruled.push_back("CCv");
  if (cc_out || types.count("WriteHBInitRead") || types.count("CyclicHB")) ruled.push_back("CM");
  if (cc_out) ruled = Json{"CC", "CCv", "CM"};
  result.details["ruled-out"] = ruled;
  return result;
}

CheckResult CausalChecker::check_smt(const std::vector<COp>& ops, uint32_t processes,
                                     bool duplicate, const std::string& duplicate_text,
                                     const CheckContext& ctx) const {
  CheckResult result;
  const std::string why =
      duplicate ? "values are not unique (" + duplicate_text + ")" : "engine z3";
  if (model_ == "CM") {
    result.validity = Validity::kUnknown;
    result.details = {
        {"summary", "CM not decided: " + why + ", and the Z3 encoding covers CC and CCv only"},
        {"consistency-model", model_}};
    return result;
  }
  std::vector<causal::SmtOp> sops;
  sops.reserve(ops.size());
  for (const auto& o : ops) sops.push_back({o.proc, o.seq, o.write, o.key, o.kv});
  const causal::SmtResult r = causal::smt_causal(sops, processes, model_ == "CCv", ctx);
  result.validity = r.verdict;
  std::string summary = r.verdict == Validity::kValid
                            ? "consistent with " + model_ + " (Z3: some read-from works)"
                        : r.verdict == Validity::kInvalid ? "not " + model_ + ": " + r.reason
                                                          : model_ + " not decided: " + r.reason;
  Json types = Json::array();
  Json counts = Json::object();
  if (r.verdict == Validity::kInvalid) {
    types.push_back("NoCausalReadsFrom");
    counts["NoCausalReadsFrom"] = 1;
  }
  result.details = {
      {"summary", summary + " [" + why + "]"},
      {"consistency-model", model_},
      {"engine", "z3"},
      {"anomaly-types", types},
      {"anomaly-counts", counts},
      {"anomalies", Json::array()},
      {"stats",
       {{"operations", ops.size()}, {"processes", processes}, {"constraints", r.constraints}}}};
  if (r.verdict == Validity::kInvalid) {
    result.details["explanation"] = "NoCausalReadsFrom: " + r.reason + ".";
    result.details["ruled-out"] = model_ == "CC" ? Json{"CC", "CCv", "CM"} : Json{"CCv"};
  } else {
    result.details["ruled-out"] = Json::array();
  }
  return result;
}

const bool registered = CheckerRegistry::add(
    "checker", "causal",
    "Causal consistency (CC, CCv, CM) of register histories by the bad patterns of "
    "Bouajjani et al. (POPL 2017), with vector clocks",
    [](const Json& options) -> std::unique_ptr<Checker> {
      return std::make_unique<CausalChecker>(options);
    },
    kOptions);

}  // namespace
}  // namespace faultline::causal
