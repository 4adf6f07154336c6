#include "checkers/elle/txn.h"

#include <algorithm>
#include <map>

namespace faultline::elle {
namespace {

struct KvKey {
  uint32_t key;
  uint32_t tag;  // 0: integer value, 1: interned other value
  int64_t value;
  bool operator==(const KvKey& o) const { return key == o.key && tag == o.tag && value == o.value; }
};

struct KvHash {
  size_t operator()(const KvKey& k) const {
    uint64_t h = static_cast<uint64_t>(k.value) * 0x9E3779B97F4A7C15ull;
    h ^= (static_cast<uint64_t>(k.key) << 1 | k.tag) * 0xC2B2AE3D27D4EB4Full;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

class Interner {
 public:
  explicit Interner(TxnHistory* out) : out_(out) {}

  uint32_t key(const Json& k) {
    if (k.is_number_integer()) {
      auto [it, added] = int_keys_.try_emplace(k.get<int64_t>(), 0);
      if (added) it->second = new_key(k);
      return it->second;
    }
    auto [it, added] = other_keys_.try_emplace(json_text(k), 0);
    if (added) it->second = new_key(k);
    return it->second;
  }

  uint32_t kv(uint32_t key, const Json& v) {
    KvKey kk{key, 0, 0};
    if (v.is_number_integer()) {
      kk.value = v.get<int64_t>();
      // Fast path: small non-negative values (Jepsen's per-key counters) index a per-key table.
      if (kk.value >= 0 && kk.value < kDenseLimit) {
        if (dense_.size() <= key) dense_.resize(key + 1);
        auto& table = dense_[key];
        const size_t at = static_cast<size_t>(kk.value);
        if (table.size() <= at) table.resize(std::max(at + 1, table.size() * 2), kNone);
        if (table[at] == kNone) {  // dense values never reach the hash map
          table[at] = static_cast<uint32_t>(out_->kv_key.size());
          out_->kv_key.push_back(key);
          out_->kv_value.push_back(v);
        }
        return table[at];
      }
    } else {
      auto [it, added] =
          other_values_.try_emplace(json_text(v), static_cast<int64_t>(other_values_.size()));
      kk.tag = 1;
      kk.value = it->second;
    }
    return lookup(kk, v);
  }

 private:
  static constexpr int64_t kDenseLimit = 1 << 16;

  uint32_t lookup(const KvKey& kk, const Json& v) {
    auto [it, added] = kvs_.try_emplace(kk, 0);
    if (added) {
      it->second = static_cast<uint32_t>(out_->kv_key.size());
      out_->kv_key.push_back(kk.key);
      out_->kv_value.push_back(v);
    }
    return it->second;
  }

  uint32_t new_key(const Json& k) {
    out_->key_json.push_back(k);
    return static_cast<uint32_t>(out_->key_json.size() - 1);
  }

  TxnHistory* out_;
  std::unordered_map<int64_t, uint32_t> int_keys_;
  std::map<std::string, uint32_t> other_keys_;
  std::map<std::string, int64_t> other_values_;
  std::unordered_map<KvKey, uint32_t, KvHash> kvs_;
  std::vector<std::vector<uint32_t>> dense_;  // key -> small integer value -> kv id
};

bool mop_name(const Json& m, MopKind* kind) {
  if (!m.is_array() || m.size() != 3 || !m[0].is_string()) return false;
  const auto& s = m[0].get_ref<const std::string&>();
  if (s.size() == 1 && s[0] == 'r') {
    *kind = MopKind::kRead;
  } else if (s.size() == 1 && s[0] == 'w') {
    *kind = MopKind::kWrite;
  } else if (s == "append") {
    *kind = MopKind::kAppend;
  } else {
    return false;
  }
  return true;
}

bool looks_like_txn(const Op& invoke) {
  if (!invoke.value.is_array()) return false;
  if (invoke.f == "txn") return true;
  if (invoke.value.empty()) return false;
  MopKind k;
  for (const auto& m : invoke.value) {
    if (!mop_name(m, &k)) return false;
  }
  return true;
}

[[noreturn]] void bad(const Op& op, const std::string& why) {
  throw TxnFormatError("op " + std::to_string(op.index) +
                       (op.line > 0 ? " (line " + std::to_string(op.line) + ")" : "") + ": " + why);
}

}  // namespace

std::string TxnHistory::key_text(uint32_t key) const { return json_text(key_json[key]); }

std::string TxnHistory::value_text(uint32_t kv) const {
  return kv == kNone ? "nil" : json_text(kv_value[kv]);
}

TxnHistory parse_txns(const History& history, bool list_reads) {
  TxnHistory out;
  out.realtime_known = history.invocations_known();
  Interner intern(&out);
  out.txns.reserve(history.size() / 2);
  for (size_t i = 0; i < history.size(); ++i) {
    const Op& inv = history[i];
    if (inv.is_nemesis() || !inv.is_invoke()) continue;
    if (!looks_like_txn(inv)) {
      ++out.skipped_ops;
      continue;
    }
    Txn t;
    t.invoke_index = inv.index;
    t.process = inv.process;
    int64_t c = history.pair_of(i);
    const Op* comp = c >= 0 ? &history[static_cast<size_t>(c)] : nullptr;
    if (comp) {
      t.complete_index = comp->index;
      t.type = comp->type;
    }
    const bool ok = t.type == OpType::kOk;
    const Json& value = ok ? comp->value : inv.value;
    if (!value.is_array()) bad(ok ? *comp : inv, "transaction value is not a list of mops");
    if (ok && value.size() != inv.value.size()) {
      bad(*comp, "completion has " + std::to_string(value.size()) + " mops, invocation " +
                     std::to_string(inv.value.size()));
    }
    t.mop_begin = static_cast<uint32_t>(out.mops.size());
    for (const auto& m : value) {
      Mop mop;
      if (!mop_name(m, &mop.kind)) bad(ok ? *comp : inv, "malformed mop " + json_text(m));
      mop.key = intern.key(m[1]);
      const Json& v = m[2];
      switch (mop.kind) {
        case MopKind::kAppend:
        case MopKind::kWrite:
          if (v.is_null()) bad(ok ? *comp : inv, "write of nil in " + json_text(m));
          mop.kv = intern.kv(mop.key, v);
          break;
        case MopKind::kRead:
          if (list_reads) {
            if (v.is_null()) {
              mop.known = ok;  // an ok read of a missing key is the empty list
            } else if (v.is_array()) {
              mop.list_begin = static_cast<uint32_t>(out.elems.size());
              mop.list_len = static_cast<uint32_t>(v.size());
              for (const auto& e : v) out.elems.push_back(intern.kv(mop.key, e));
            } else {
              bad(ok ? *comp : inv, "list read is not a list: " + json_text(m));
            }
          } else {
            mop.known = ok;
            if (!v.is_null()) mop.kv = intern.kv(mop.key, v);
          }
          if (!ok) mop.known = false;
          break;
      }
      out.mops.push_back(mop);
    }
    t.mop_count = static_cast<uint32_t>(out.mops.size()) - t.mop_begin;
    out.txns.push_back(t);
  }
  return out;
}

}  // namespace faultline::elle
