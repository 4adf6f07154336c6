// Model "kv": Porcupine's key-value store with string values. get returns the value ("" for a
// missing key), put sets it, append concatenates to it. Ops name their key in a "key" field or
// as [key value]; the checker splits by key (P-compositionality), and this model then sees one
// key. Checked without splitting (option "partition": false), the state is the whole map.
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include "checkers/lin/model.h"

namespace faultline::lin {
namespace {

enum : uint16_t { kGet, kPut, kAppend };

class KvModel : public Model {
 public:
  std::string name() const override { return "kv"; }

  std::optional<Call> prepare(const Operation& op) override {
    Call c;
    const std::string& f = op.invoke->f;
    c.outcome = outcome_of(op);
    if (c.outcome == Outcome::kFail) return std::nullopt;
    // One model usually sees one key: remember the last one instead of re-serialising it.
    auto it = op.invoke->extra.find("key");
    const Json& key = it != op.invoke->extra.end() ? *it : null_;
    if (last_key_id_ < 0 || key != last_key_) {
      last_key_ = key;
      last_key_id_ = keys_.intern(key);
    }
    c.c = last_key_id_;
    if (f == "get" || f == "read") {
      if (c.outcome != Outcome::kOk) return std::nullopt;
      c.f = kGet;
      c.a = strings_.intern(text_of(op.complete->value));
      return c;
    }
    if (f == "put" || f == "write") {
      c.f = kPut;
      c.a = strings_.intern(text_of(op.invoke->value));
      return c;
    }
    if (f == "append") {
      c.f = kAppend;
      c.a = strings_.intern(text_of(op.invoke->value));
      return c;
    }
    bad_op(op, name(), "expected get, put or append");
  }

  // State: a sorted vector of (key id, string id) pairs, interned; a missing key is "".
  int64_t init() override { return states_.intern({}); }

  bool read_only(const Call& c) const override { return c.f == kGet; }
  bool monotone(const Call& c) const override { return c.f != kPut; }
  bool unconditional(const Call& c) const override { return c.f != kGet; }
  bool overwrites(const Call& c) const override { return c.f == kPut && keys_.size() <= 2; }
  // Appends only extend a key's string: a get is reachable when the string is a prefix of it.
  bool reachable(int64_t state, const Call& read) override {
    const std::vector<int64_t>& m = states_.get(state);
    int64_t current = empty_;
    for (size_t i = 0; i < m.size(); i += 2) {
      if (m[i] == read.c) current = m[i + 1];
    }
    const std::string_view now = strings_.text_raw(current);
    const std::string_view want = strings_.text_raw(read.a);
    return want.size() >= now.size() && want.compare(0, now.size(), now) == 0;
  }
  int64_t step(int64_t state, const Call& c) override {
    const std::vector<int64_t>& m = states_.get(state);
    int64_t current = empty_;
    size_t at = m.size();
    for (size_t i = 0; i < m.size(); i += 2) {
      if (m[i] == c.c) {
        current = m[i + 1];
        at = i;
        break;
      }
    }
    int64_t next;
    switch (c.f) {
      case kGet:
        return current == c.a ? state : kIllegal;
      case kPut:
        next = c.a;
        break;
      case kAppend:
        next = strings_.concat(current, c.a);
        break;
      default:
        return kIllegal;
    }
    std::vector<int64_t> out = m;
    if (at < m.size()) {
      out[at + 1] = next;
    } else {
      auto pos = out.begin();
      while (pos != out.end() && *pos < c.c) pos += 2;
      pos = out.insert(pos, next);
      out.insert(pos, c.c);
    }
    return states_.intern(out);
  }

  bool memoise_steps() const override { return true; }
  // get, put and append each name one key; keys never interact.
  bool local_by_key() const override { return true; }

  // One key only: the unsplit map has no symbolic form here.
  SymbolicDomain symbolic_domain() const override {
    return keys_.size() <= 2 ? SymbolicDomain::kString : SymbolicDomain::kNone;
  }
  Symbolic symbolic(const Call& c) const override {
    using G = Symbolic::Guard;
    using E = Symbolic::Effect;
    switch (c.f) {
      case kGet:
        return {G::kEq, E::kKeep, c.a, 0};
      case kPut:
        return {G::kNone, E::kSet, 0, c.a};
      default:
        return {G::kNone, E::kConcat, 0, c.a};
    }
  }
  int64_t symbolic_init() const override { return empty_; }
  std::string symbolic_string(int64_t id) const override {
    return std::string(strings_.text_raw(id));
  }

  std::string describe_state(int64_t state) const override {
    const auto& m = states_.get(state);
    if (m.empty()) return "{}";
    if (m.size() == 2 && keys_.text(m[0]) == "null") return quoted(strings_.text_raw(m[1]));
    std::string out = "{";
    for (size_t i = 0; i < m.size(); i += 2) {
      out += (i ? ", " : "") + keys_.text(m[i]) + ": " + quoted(strings_.text_raw(m[i + 1]));
    }
    return out + "}";
  }
  std::string describe_call(const Call& c) const override {
    std::string k = keys_.text(c.c) == "null" ? "" : " " + keys_.text(c.c);
    switch (c.f) {
      case kGet:
        return "get" + k + " -> " + quoted(strings_.text_raw(c.a));
      case kPut:
        return "put" + k + " " + quoted(strings_.text_raw(c.a));
      case kAppend:
        return "append" + k + " " + quoted(strings_.text_raw(c.a));
    }
    return "?";
  }

 private:
  static std::string text_of(const Json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "";
    return json_text(v);
  }
  static std::string quoted(std::string_view s) { return json_text(Json(std::string(s))); }

  // Raw strings (not JSON) interned, each stored once, their characters in an arena of large
  // blocks: a search over long appended strings makes millions, and freeing them one by one
  // took a quarter of such a run.
  struct Strings {
    std::vector<std::unique_ptr<char[]>> blocks;
    size_t block_used = 0, block_size = 0;
    std::vector<std::string_view> texts;
    std::unordered_map<std::string_view, int64_t> ids;
    std::string scratch;
    int64_t intern(std::string_view s) {
      auto it = ids.find(s);
      if (it != ids.end()) return it->second;
      if (blocks.empty() || s.size() > block_size - block_used) {
        // Blocks double from 64 KiB up to 1 MiB, uninitialised: a model per key, most keys
        // small, and zeroing (and faulting in) a megabyte per key cost more than their check.
        block_size = std::max<size_t>(std::min<size_t>(block_size * 2, 1 << 20), 1 << 16);
        block_size = std::max(block_size, s.size());
        blocks.push_back(std::make_unique_for_overwrite<char[]>(block_size));
        block_used = 0;
      }
      char* at = blocks.back().get() + block_used;
      if (!s.empty()) std::memcpy(at, s.data(), s.size());
      block_used += s.size();
      const auto id = static_cast<int64_t>(texts.size());
      texts.emplace_back(at, s.size());
      ids.emplace(texts.back(), id);
      return id;
    }
    int64_t concat(int64_t a, int64_t b) {
      scratch.assign(texts[static_cast<size_t>(a)]);
      scratch.append(texts[static_cast<size_t>(b)]);
      return intern(scratch);
    }
    std::string_view text_raw(int64_t id) const { return texts[static_cast<size_t>(id)]; }
  };

  Strings strings_;
  int64_t empty_ = strings_.intern("");
  const Json null_;
  Json last_key_;
  int64_t last_key_id_ = -1;
  ValueTable keys_;
  VectorTable states_;
};

const bool registered = ModelRegistry::add(
    "model", "kv", "key-value store of strings: get, put, append (Porcupine's kv)",
    [] { return std::make_unique<KvModel>(); });

}  // namespace
}  // namespace faultline::lin
