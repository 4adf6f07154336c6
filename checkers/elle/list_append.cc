// list-append: Elle's list-append checker (Kingsbury and Alvaro, VLDB 2020, section 5).
//
// Workload rules: every appended value is unique per key; a read returns the whole list. A
// violation is any anomaly the chosen consistency model forbids (report.h):
//   - version order: the longest read of a key (from ok transactions) orders its appends; any
//     other read that is not a prefix of it is an incompatible-order; a read holding a value
//     twice has duplicate-elements;
//   - single reads: garbage-read (a value nobody appended), G1a (a value appended by a failed
//     transaction), G1b (a value that was not its transaction's last append to the key),
//     future-read (a value the reading transaction itself appends later), internal (a read
//     that disagrees with the transaction's own earlier reads and appends of the key);
//     dirty-update (a failed append followed in the version order by a committed one);
//     lost-update (two committed transactions read the same version of a key and both
//     append to it);
//   - cycles in the dependency graph (graph.h) over ok and info transactions: ww between
//     consecutive appends of the order, wr from the writer of a read's last foreign element,
//     rw from a reader to the writer of the next foreign element after its read, process and
//     realtime edges. Only external reads make wr and rw edges, as in Elle: the first read of
//     a key in its transaction, before the transaction appended to that key. A later read of
//     the key shows the transaction's own effects; when it disagrees with them it is an
//     internal anomaly, and nothing else (not also a fractured read or a cycle through it).
// Info transactions are nodes (their appends may be seen) but their reads are not used; failed
// transactions are not nodes.
//
// Why the longest read and not a merge of all reads: a prefix-compatible history has one
// order, which the longest read shows; a history that is not prefix-compatible is already an
// anomaly, and Elle reasons the same way.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "checkers/elle/analysis.h"
#include "harness/options.h"
#include "harness/registry.h"

namespace faultline::elle {
namespace {

// Bound on rw edges to appends no read observed (readers of a key's last observed version times
// its unobserved appends); beyond it such edges are left out, which can only hide cycles.
constexpr size_t kMaxUnseenEdges = 4'000'000;

class ListAppendAnalysis final : public TxnDescriber {
 public:
  ListAppendAnalysis(const History& history, TxnHistory th) : h_(history), th_(std::move(th)) {}

  ReportInput run(const std::string& model, const CheckContext& ctx);

  Json op_json(uint32_t txn) const override { return txn_op_json(h_, th_.txns[txn]); }
  std::string edge_sentence(uint32_t a, uint32_t b, uint8_t kind, const std::string& na,
                            const std::string& nb) const override;

 private:
  bool node(uint32_t w) const { return w != kNone && th_.txns[w].type != OpType::kFail; }
  std::string key(uint32_t k) const { return "key " + th_.key_text(k); }
  std::string label(uint32_t t) const { return txn_label(th_.txns[t]); }
  void add(ReportInput* r, std::string type, std::string text, Json detail);
  void index_writers(ReportInput* r);
  void check_reads(ReportInput* r);
  void order_versions(ReportInput* r);
  void lost_updates(ReportInput* r);
  void build_graph(DepGraph* g);
  // Index in the version order of the first element after `read` (a prefix of the order) not
  // appended by `reader` nor by a failed transaction; kNone when there is none.
  uint32_t next_foreign(const Mop& read, uint32_t reader) const;
  // The last element of `read` appended by someone other than `reader`; kNone when none.
  uint32_t last_foreign(const Mop& read, uint32_t reader) const;

  const History& h_;
  TxnHistory th_;
  std::vector<uint32_t> writer_;      // kv -> txn
  std::vector<uint32_t> writer_mop_;  // kv -> global mop index
  std::vector<uint8_t> final_;        // kv -> last append of its txn to its key
  std::vector<uint32_t> longest_;     // key -> global mop index of the longest read, or kNone
  std::vector<int32_t> pos_;          // kv -> position in its key's order, or -1
  std::vector<uint8_t> prefix_;       // global mop index (reads) -> is a prefix of the order
  std::vector<uint8_t> duplicates_;   // global mop index (reads) -> holds an element twice
  std::vector<uint8_t> external_;     // global mop index (reads) -> an external read
  // key -> ok appends no read observed: they follow every observed element of the key.
  std::vector<std::vector<uint32_t>> unseen_;
  size_t unseen_edges_ = 0;
  std::map<std::string, size_t> counts_;
};

void ListAppendAnalysis::add(ReportInput* r, std::string type, std::string text, Json detail) {
  if (counts_[type]++ >= kMaxPerType) return;  // counted only
  Anomaly a;
  a.type = type;
  a.explanation = type + ": " + text;
  detail["type"] = type;
  a.detail = std::move(detail);
  r->anomalies.push_back(std::move(a));
}

void ListAppendAnalysis::index_writers(ReportInput* r) {
  const size_t nkv = th_.kv_value.size();
  writer_.assign(nkv, kNone);
  writer_mop_.assign(nkv, kNone);
  final_.assign(nkv, 0);
  std::vector<uint32_t> seen_keys;
  for (uint32_t t = 0; t < th_.txns.size(); ++t) {
    const Txn& txn = th_.txns[t];
    seen_keys.clear();
    for (uint32_t i = txn.mop_count; i-- > 0;) {
      const uint32_t m = txn.mop_begin + i;
      const Mop& mop = th_.mops[m];
      if (mop.kind == MopKind::kWrite) {
        r->unknown_reason = "list-append history has a write mop (op " +
                            std::to_string(txn.invoke_index) + "); use rw-register";
        return;
      }
      if (mop.kind != MopKind::kAppend) continue;
      if (writer_[mop.kv] != kNone) {
        r->unknown_reason =
            "value " + th_.value_text(mop.kv) + " appended twice to " + key(mop.key) + " (ops " +
            std::to_string(th_.txns[writer_[mop.kv]].invoke_index) + " and " +
            std::to_string(txn.invoke_index) + "); list-append needs unique appends";
        return;
      }
      writer_[mop.kv] = t;
      writer_mop_[mop.kv] = m;
      if (std::find(seen_keys.begin(), seen_keys.end(), mop.key) == seen_keys.end()) {
        final_[mop.kv] = 1;
        seen_keys.push_back(mop.key);
      }
    }
  }
}

void ListAppendAnalysis::check_reads(ReportInput* r) {
  longest_.assign(th_.key_json.size(), kNone);
  duplicates_.assign(th_.mops.size(), 0);
  external_.assign(th_.mops.size(), 0);
  std::vector<uint32_t> stamp(th_.kv_value.size(), 0);
  uint32_t serial = 0;
  struct KeyState {
    uint32_t key;
    bool have_read;
    uint32_t read_mop;
    std::vector<uint32_t> appended;
  };
  std::vector<KeyState> state;
  for (uint32_t t = 0; t < th_.txns.size(); ++t) {
    const Txn& txn = th_.txns[t];
    if (txn.type != OpType::kOk) continue;
    state.clear();
    for (uint32_t m = txn.mop_begin; m < txn.mop_begin + txn.mop_count; ++m) {
      const Mop& mop = th_.mops[m];
      auto st = std::find_if(state.begin(), state.end(),
                             [&](const KeyState& s) { return s.key == mop.key; });
      if (mop.kind == MopKind::kAppend) {
        if (st == state.end()) {
          state.push_back({mop.key, false, 0, {}});
          st = state.end() - 1;
        }
        st->appended.push_back(mop.kv);
        continue;
      }
      if (!mop.known) continue;
      const uint32_t* l = th_.list_of(mop);
      const uint32_t n = mop.list_len;
      // Internal consistency with this transaction's earlier mops on the key.
      if (st != state.end()) {
        bool ok = true;
        std::string expected;
        const auto& app = st->appended;
        if (st->have_read) {
          const Mop& prev = th_.mops[st->read_mop];
          ok = n == prev.list_len + app.size() &&
               std::equal(th_.list_of(prev), th_.list_of(prev) + prev.list_len, l) &&
               std::equal(app.begin(), app.end(), l + prev.list_len);
          expected = "its earlier read " + list_text(th_, prev);
        } else {
          ok = n >= app.size() && std::equal(app.begin(), app.end(), l + (n - app.size()));
          expected = "a list ending in its own appends";
        }
        if (!ok) {
          Json apps = Json::array();
          for (uint32_t kv : app) apps.push_back(th_.kv_value[kv]);
          add(r, "internal",
              label(t) + " read " + key(mop.key) + " as " + list_text(th_, mop) + ", but after " +
                  expected + (app.empty() ? "" : " and appending " + json_text(apps)) +
                  " it should have seen that" + (st->have_read ? " plus its appends" : ""),
              {{"key", th_.key_json[mop.key]}, {"ops", {op_json(t)}}});
        }
        st->have_read = true;
        st->read_mop = m;
        st->appended.clear();
      } else {
        state.push_back({mop.key, true, m, {}});
        external_[m] = 1;  // no earlier mop of this transaction on the key
      }
      // Element checks.
      ++serial;
      bool dup_reported = false;
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t kv = l[i];
        if (stamp[kv] == serial && !dup_reported) {
          dup_reported = true;
          duplicates_[m] = 1;
          add(r, "duplicate-elements",
              label(t) + " read " + key(mop.key) + " as " + list_text(th_, mop, 12) +
                  ", which holds " + th_.value_text(kv) + " more than once",
              {{"key", th_.key_json[mop.key]}, {"value", th_.kv_value[kv]}, {"ops", {op_json(t)}}});
        }
        stamp[kv] = serial;
        const uint32_t w = writer_[kv];
        if (w == kNone) {
          add(r, "garbage-read",
              label(t) + " read " + key(mop.key) + " holding " + th_.value_text(kv) +
                  ", which no transaction appended",
              {{"key", th_.key_json[mop.key]}, {"value", th_.kv_value[kv]}, {"ops", {op_json(t)}}});
        } else if (th_.txns[w].type == OpType::kFail) {
          add(r, "G1a",
              label(t) + " read " + key(mop.key) + " holding " + th_.value_text(kv) + ", which " +
                  label(w) + " appended in a transaction that failed (aborted read)",
              {{"key", th_.key_json[mop.key]},
               {"value", th_.kv_value[kv]},
               {"ops", {op_json(t), op_json(w)}}});
        } else if (w == t && writer_mop_[kv] > m) {
          add(r, "future-read",
              label(t) + " read " + key(mop.key) + " holding " + th_.value_text(kv) +
                  ", which it appends only later in the same transaction",
              {{"key", th_.key_json[mop.key]}, {"value", th_.kv_value[kv]}, {"ops", {op_json(t)}}});
        }
      }
      if (n > 0) {
        const uint32_t last = l[n - 1];
        const uint32_t w = writer_[last];
        if (w != kNone && w != t && th_.txns[w].type != OpType::kFail && !final_[last]) {
          add(r, "G1b",
              label(t) + " read " + key(mop.key) + " ending in " + th_.value_text(last) + ", but " +
                  label(w) + " appended more to " + key(mop.key) +
                  " after it in the same transaction (intermediate read)",
              {{"key", th_.key_json[mop.key]},
               {"value", th_.kv_value[last]},
               {"ops", {op_json(t), op_json(w)}}});
        }
      }
      uint32_t& best = longest_[mop.key];
      if (best == kNone || th_.mops[best].list_len < n) best = m;
    }
  }
}

void ListAppendAnalysis::order_versions(ReportInput* r) {
  pos_.assign(th_.kv_value.size(), -1);
  for (uint32_t k = 0; k < longest_.size(); ++k) {
    if (longest_[k] == kNone) continue;
    const Mop& lm = th_.mops[longest_[k]];
    const uint32_t* l = th_.list_of(lm);
    bool failed_seen = false, dirty_reported = false;
    uint32_t failed_kv = kNone;
    for (uint32_t i = 0; i < lm.list_len; ++i) {
      if (pos_[l[i]] < 0) pos_[l[i]] = static_cast<int32_t>(i);
      const uint32_t w = writer_[l[i]];
      if (w == kNone) continue;
      if (th_.txns[w].type == OpType::kFail) {
        if (!failed_seen) failed_kv = l[i];
        failed_seen = true;
      } else if (failed_seen && !dirty_reported) {
        dirty_reported = true;
        const uint32_t fw = writer_[failed_kv];
        add(r, "dirty-update",
            key(k) + " holds " + th_.value_text(failed_kv) + ", appended by " + label(fw) +
                " which failed, followed by " + th_.value_text(l[i]) + ", appended by " + label(w) +
                " which did not fail, so a committed append built on an aborted one",
            {{"key", th_.key_json[k]},
             {"values", {th_.kv_value[failed_kv], th_.kv_value[l[i]]}},
             {"ops", {op_json(fw), op_json(w)}}});
      }
    }
  }
  // Appends of ok transactions that no read observed come after the whole observed order (a
  // read returns the whole list, and lists only grow).
  unseen_.assign(th_.key_json.size(), {});
  for (uint32_t kv = 0; kv < writer_.size(); ++kv) {
    const uint32_t w = writer_[kv];
    if (w != kNone && pos_[kv] < 0 && th_.txns[w].type == OpType::kOk) {
      unseen_[th_.kv_key[kv]].push_back(kv);
    }
  }
  // Every other read must be a prefix of the longest one.
  prefix_.assign(th_.mops.size(), 0);
  std::vector<uint8_t> reported(th_.key_json.size(), 0);
  for (uint32_t t = 0; t < th_.txns.size(); ++t) {
    const Txn& txn = th_.txns[t];
    if (txn.type != OpType::kOk) continue;
    for (uint32_t m = txn.mop_begin; m < txn.mop_begin + txn.mop_count; ++m) {
      const Mop& mop = th_.mops[m];
      if (mop.kind != MopKind::kRead || !mop.known) continue;
      const uint32_t* l = th_.list_of(mop);
      bool prefix = true;
      for (uint32_t i = 0; i < mop.list_len && prefix; ++i) {
        prefix = pos_[l[i]] == static_cast<int32_t>(i);
      }
      prefix_[m] = prefix;
      // A read holding an element twice is no prefix of any order, not even when it is the
      // longest read itself: it is reported as duplicate-elements, not compared (with itself).
      if (!prefix && !duplicates_[m] && !reported[mop.key]) {
        reported[mop.key] = 1;
        const uint32_t lt = static_cast<uint32_t>(
            std::upper_bound(th_.txns.begin(), th_.txns.end(), longest_[mop.key],
                             [](uint32_t mi, const Txn& x) { return mi < x.mop_begin; }) -
            th_.txns.begin() - 1);
        const Mop& lm = th_.mops[longest_[mop.key]];
        add(r, "incompatible-order",
            label(t) + " read " + key(mop.key) + " as " + list_text(th_, mop, 12) + " and " +
                label(lt) + " read it as " + list_text(th_, lm, 12) +
                "; neither is a prefix of the other, so no single order of appends explains both",
            {{"key", th_.key_json[mop.key]}, {"ops", {op_json(t), op_json(lt)}}});
      }
    }
  }
}

void ListAppendAnalysis::lost_updates(ReportInput* r) {
  // (key, version read) -> transactions that read it and then appended to the key.
  std::unordered_map<uint64_t, std::vector<uint32_t>> groups;
  for (uint32_t t = 0; t < th_.txns.size(); ++t) {
    const Txn& txn = th_.txns[t];
    if (txn.type != OpType::kOk) continue;
    for (uint32_t m = txn.mop_begin; m < txn.mop_begin + txn.mop_count; ++m) {
      const Mop& mop = th_.mops[m];
      if (mop.kind != MopKind::kRead || !mop.known) continue;
      bool earlier_append = false, later_append = false;
      for (uint32_t o = txn.mop_begin; o < txn.mop_begin + txn.mop_count; ++o) {
        const Mop& other = th_.mops[o];
        if (other.kind != MopKind::kAppend || other.key != mop.key) continue;
        (o < m ? earlier_append : later_append) = true;
      }
      if (earlier_append || !later_append) continue;
      const uint32_t version = mop.list_len ? th_.list_of(mop)[mop.list_len - 1] : kNone;
      groups[(static_cast<uint64_t>(mop.key) << 32) | version].push_back(t);
      break;
    }
  }
  std::vector<std::pair<uint64_t, std::vector<uint32_t>>> lost;
  for (auto& [k, ts] : groups) {
    if (ts.size() > 1) lost.emplace_back(k, std::move(ts));
  }
  std::sort(lost.begin(), lost.end(),
            [](const auto& a, const auto& b) { return a.second.front() < b.second.front(); });
  for (const auto& [kk, ts] : lost) {
    const uint32_t k = static_cast<uint32_t>(kk >> 32);
    const uint32_t version = static_cast<uint32_t>(kk & 0xffffffffu);
    std::string who;
    Json ops = Json::array();
    for (uint32_t t : ts) {
      who += (who.empty() ? "" : ", ") + label(t);
      ops.push_back(op_json(t));
    }
    add(r, "lost-update",
        who + " all read " + key(k) +
            (version == kNone ? " as empty" : " ending in " + th_.value_text(version)) +
            " and then appended to it; in a serial order only one of them could have read that "
            "version, so the others' appends were lost to it",
        {{"key", th_.key_json[k]},
         {"version", version == kNone ? Json() : th_.kv_value[version]},
         {"ops", ops}});
  }
}

uint32_t ListAppendAnalysis::next_foreign(const Mop& read, uint32_t reader) const {
  const uint32_t lm = longest_[read.key];
  if (lm == kNone) return kNone;
  const Mop& longest = th_.mops[lm];
  const uint32_t* l = th_.list_of(longest);
  for (uint32_t i = read.list_len; i < longest.list_len; ++i) {
    const uint32_t w = writer_[l[i]];
    if (w != reader && node(w)) return i;
  }
  return kNone;
}

uint32_t ListAppendAnalysis::last_foreign(const Mop& read, uint32_t reader) const {
  const uint32_t* l = th_.list_of(read);
  for (uint32_t i = read.list_len; i-- > 0;) {
    if (writer_[l[i]] != reader) return l[i];
  }
  return kNone;
}

void ListAppendAnalysis::build_graph(DepGraph* g) {
  // ww: consecutive appends of each key's order, failed and unknown ones skipped.
  for (uint32_t k = 0; k < longest_.size(); ++k) {
    if (longest_[k] == kNone) continue;
    const Mop& lm = th_.mops[longest_[k]];
    const uint32_t* l = th_.list_of(lm);
    uint32_t prev = kNone;
    for (uint32_t i = 0; i < lm.list_len; ++i) {
      const uint32_t w = writer_[l[i]];
      if (!node(w)) continue;
      if (prev != kNone && prev != w) g->add(prev, w, kWW);
      prev = w;
    }
    if (prev != kNone) {
      for (uint32_t kv : unseen_[k]) g->add(prev, writer_[kv], kWW);
    }
  }
  // wr and rw from the reads of ok transactions.
  for (uint32_t t = 0; t < th_.txns.size(); ++t) {
    const Txn& txn = th_.txns[t];
    if (txn.type != OpType::kOk) continue;
    for (uint32_t m = txn.mop_begin; m < txn.mop_begin + txn.mop_count; ++m) {
      const Mop& mop = th_.mops[m];
      if (mop.kind != MopKind::kRead || !mop.known || !external_[m]) continue;
      const uint32_t last = last_foreign(mop, t);
      if (last != kNone && node(writer_[last])) g->add(writer_[last], t, kWR);
      if (!prefix_[m]) continue;
      const uint32_t next = next_foreign(mop, t);
      if (next != kNone) {
        g->add(t, writer_[th_.list_of(th_.mops[longest_[mop.key]])[next]], kRW);
      } else if (unseen_edges_ < kMaxUnseenEdges) {
        for (uint32_t kv : unseen_[mop.key]) g->add(t, writer_[kv], kRW);
        unseen_edges_ += unseen_[mop.key].size();
      }
    }
  }
  add_session_edges(th_, g);
}

std::string ListAppendAnalysis::edge_sentence(uint32_t a, uint32_t b, uint8_t kind,
                                              const std::string& na, const std::string& nb) const {
  auto mops = [&](uint32_t t) {
    const Txn& x = th_.txns[t];
    return std::pair(th_.mops.data() + x.mop_begin, th_.mops.data() + x.mop_begin + x.mop_count);
  };
  if (kind == kWW) {
    auto [begin, end] = mops(b);
    for (const Mop* m = begin; m != end; ++m) {
      if (m->kind != MopKind::kAppend || pos_[m->kv] <= 0) continue;
      const uint32_t* l = th_.list_of(th_.mops[longest_[m->key]]);
      for (int32_t i = pos_[m->kv] - 1; i >= 0; --i) {
        const uint32_t w = writer_[l[i]];
        if (!node(w) || w == b) continue;
        if (w == a) {
          return na + " appended " + th_.value_text(l[i]) + " to " + key(m->key) + "; " + nb +
                 " appended " + th_.value_text(m->kv) + " after it, so " + na + " precedes " + nb +
                 " (ww)";
        }
        break;
      }
    }
    for (const Mop* m = begin; m != end; ++m) {
      if (m->kind != MopKind::kAppend || pos_[m->kv] >= 0 || longest_[m->key] == kNone) continue;
      const Mop& lm = th_.mops[longest_[m->key]];
      if (lm.list_len == 0) continue;
      const uint32_t last = th_.list_of(lm)[lm.list_len - 1];
      if (writer_[last] == a) {
        return na + " appended " + th_.value_text(last) + " to " + key(m->key) + "; " + nb +
               " appended " + th_.value_text(m->kv) +
               ", which no read saw, so after every value reads saw, so " + na + " precedes " + nb +
               " (ww)";
      }
    }
  } else if (kind == kWR) {
    auto [begin, end] = mops(b);
    for (const Mop* m = begin; m != end; ++m) {
      if (m->kind != MopKind::kRead || !m->known || !external_[m - th_.mops.data()]) continue;
      const uint32_t last = last_foreign(*m, b);
      if (last != kNone && writer_[last] == a) {
        return na + " appended " + th_.value_text(last) + " to " + key(m->key) + "; " + nb +
               " read " + key(m->key) + " as " + list_text(th_, *m) + ", which includes it, so " +
               na + " precedes " + nb + " (wr)";
      }
    }
  } else if (kind == kRW) {
    auto [begin, end] = mops(a);
    for (const Mop* m = begin; m != end; ++m) {
      const size_t mi = static_cast<size_t>(m - th_.mops.data());
      if (m->kind != MopKind::kRead || !m->known || !prefix_[mi] || !external_[mi]) continue;
      const uint32_t next = next_foreign(*m, a);
      if (next == kNone) {
        for (uint32_t kv : unseen_[m->key]) {
          if (writer_[kv] == b) {
            return nb + " appended " + th_.value_text(kv) + " to " + key(m->key) + "; " + na +
                   " read " + key(m->key) + " as " + list_text(th_, *m) + ", without " +
                   th_.value_text(kv) + " (which no read saw, so it came after), so " + na +
                   " precedes " + nb + " (rw)";
          }
        }
        continue;
      }
      const uint32_t kv = th_.list_of(th_.mops[longest_[m->key]])[next];
      if (writer_[kv] == b) {
        return nb + " appended " + th_.value_text(kv) + " to " + key(m->key) + "; " + na +
               " read " + key(m->key) + " as " + list_text(th_, *m) + ", without " +
               th_.value_text(kv) + ", so " + na + " precedes " + nb + " (rw)";
      }
    }
  } else {
    return session_sentence(th_.txns[a], th_.txns[b], kind, na, nb);
  }
  return na + " precedes " + nb + " (" + edge_name(kind) + ")";
}

ReportInput ListAppendAnalysis::run(const std::string& model, const CheckContext& ctx) {
  ReportInput r;
  r.checker = "list-append";
  r.model = model;
  index_writers(&r);
  if (!r.unknown_reason.empty()) return r;
  check_reads(&r);
  order_versions(&r);
  lost_updates(&r);
  if (ctx.expired()) {
    r.unknown_reason = "deadline before the cycle search";
    return r;
  }
  DepGraph g(static_cast<uint32_t>(th_.txns.size()));
  build_graph(&g);
  g.finish();
  add_cycle_anomalies(g, *this, ctx, &counts_, &r);
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
             {"skipped-ops", th_.skipped_ops},
             {"unseen-rw-edges", unseen_edges_}};
  if (unseen_edges_ >= kMaxUnseenEdges) {
    // Left-out rw edges can hide every cycle that has one: those types are not decided.
    r.stats["unseen-rw-edges-capped"] = true;
    for (const char* c : {"G-single", "G-nonadjacent", "G2-item"}) {
      for (const char* suffix : {"", "-process", "-realtime"}) {
        r.incomplete.insert(c + std::string(suffix));
      }
    }
    r.incomplete.insert("fractured-read");
  }
  r.total_counts = counts_;
  return r;
}

const OptionDecls kOptions = {
    consistency_model_option(),
};

class ListAppendChecker final : public Checker {
 public:
  explicit ListAppendChecker(const Json& options) {
    const Options o(options, kOptions, "list-append");
    model_ = model_option(options, "list-append");
  }
  CheckResult check(const History& history, const CheckContext& ctx) override {
    TxnHistory th;
    try {
      th = parse_txns(history, true);
    } catch (const TxnFormatError& e) {
      ReportInput r;
      r.checker = "list-append";
      r.model = model_;
      r.unknown_reason = std::string("malformed transaction: ") + e.what();
      return make_result(std::move(r));
    }
    ListAppendAnalysis analysis(history, std::move(th));
    return make_result(analysis.run(model_, ctx));
  }

 private:
  std::string model_;
};

const bool registered = CheckerRegistry::add(
    "checker", "list-append",
    "Elle list-append: infers version orders and dependency cycles (G0..G2, lost update, ...) "
    "of append/read transactions; --consistency-model picks what is invalid",
    [](const Json& options) -> std::unique_ptr<Checker> {
      return std::make_unique<ListAppendChecker>(options);
    },
    kOptions);

}  // namespace
}  // namespace faultline::elle
