#include "checkers/linear_search.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace faultline::lin {

std::vector<LinOp> prepare_ops(const History& history, Model& model) {
  return prepare_ops(client_operations(history), model);
}

std::vector<LinOp> prepare_ops(const std::vector<Operation>& operations, Model& model) {
  std::vector<LinOp> out;
  out.reserve(operations.size());
  for (const Operation& op : operations) {
    std::optional<Call> call = model.prepare(op);
    if (!call) continue;
    LinOp l;
    l.call = *call;
    l.call_pos = op.invoke_index();
    l.invoke = op.invoke;
    l.complete = op.complete;
    l.ret_pos = call->outcome == Outcome::kInfo ? INT64_MAX : op.complete_index();
    out.push_back(l);
  }
  return out;
}

namespace {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// Set of visited configurations (p, U, state), stored flat: an arena of uint32 words per entry
// [state lo, state hi, p, |U|, U...] and an open-addressing table of (hash, offset + 1).
class ConfigCache {
 public:
  ConfigCache() : slots_(1 << 12) {}

  // Inserts the configuration; false if it was there already.
  bool insert(uint64_t hash, int64_t state, uint32_t p, const uint32_t* u, uint32_t ulen) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i].off != 0) {
      if (slots_[i].hash == hash && equals(slots_[i].off - 1, state, p, u, ulen)) return false;
      i = (i + 1) & mask;
    }
    uint64_t off = arena_.size();
    arena_.push_back(static_cast<uint32_t>(static_cast<uint64_t>(state)));
    arena_.push_back(static_cast<uint32_t>(static_cast<uint64_t>(state) >> 32));
    arena_.push_back(p);
    arena_.push_back(ulen);
    arena_.insert(arena_.end(), u, u + ulen);
    slots_[i] = {hash, off + 1};
    ++count_;
    return true;
  }

  size_t size() const { return count_; }
  size_t bytes() const { return arena_.capacity() * sizeof(uint32_t) + slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t off = 0;  // offset + 1; 0 = empty
  };

  bool equals(uint64_t off, int64_t state, uint32_t p, const uint32_t* u, uint32_t ulen) const {
    const uint32_t* a = arena_.data() + off;
    uint64_t s = static_cast<uint64_t>(a[0]) | (static_cast<uint64_t>(a[1]) << 32);
    if (s != static_cast<uint64_t>(state) || a[2] != p || a[3] != ulen) return false;
    return std::memcmp(a + 4, u, ulen * sizeof(uint32_t)) == 0;
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, Slot{});
    size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.off == 0) continue;
      size_t i = s.hash & mask;
      while (slots_[i].off != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::vector<uint32_t> arena_;
  size_t count_ = 0;
};

constexpr int32_t kNone = -1;

}  // namespace

SearchResult search(const std::vector<LinOp>& ops, Model& model, const SearchLimits& limits) {
  SearchResult result;
  const int32_t n = static_cast<int32_t>(ops.size());
  // Entries: 2i is the call of op i, 2i+1 its return (absent for info ops). Head sentinel 2n.
  const int32_t head = 2 * n;
  std::vector<int32_t> next(2 * n + 1, kNone), prev(2 * n + 1, kNone);
  {
    std::vector<std::pair<int64_t, int32_t>> events;
    events.reserve(2 * n);
    for (int32_t i = 0; i < n; ++i) {
      events.emplace_back(ops[i].call_pos, 2 * i);
      if (ops[i].ret_pos != INT64_MAX) events.emplace_back(ops[i].ret_pos, 2 * i + 1);
    }
    std::sort(events.begin(), events.end());
    int32_t last = head;
    for (const auto& [pos, e] : events) {
      next[last] = e;
      prev[e] = last;
      last = e;
    }
  }
  auto has_ret = [&](int32_t i) { return ops[i].ret_pos != INT64_MAX; };
  int64_t remaining = 0;
  for (int32_t i = 0; i < n; ++i) remaining += has_ret(i);

  auto unlink = [&](int32_t e) {
    next[prev[e]] = next[e];
    if (next[e] != kNone) prev[next[e]] = prev[e];
  };
  auto relink = [&](int32_t e) {
    next[prev[e]] = e;
    if (next[e] != kNone) prev[next[e]] = e;
  };
  auto lift = [&](int32_t i) {
    unlink(2 * i);
    if (has_ret(i)) unlink(2 * i + 1);
  };
  auto unlift = [&](int32_t i) {
    if (has_ret(i)) relink(2 * i + 1);
    relink(2 * i);
  };

  const bool memoise = model.memoise_steps();
  std::unordered_map<uint64_t, int64_t> memo;
  auto step = [&](int64_t state, int32_t i) -> int64_t {
    if (!memoise) return model.step(state, ops[i].call);
    uint64_t key = (static_cast<uint64_t>(state) << 32) ^ static_cast<uint32_t>(i);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
    int64_t next_state = model.step(state, ops[i].call);
    memo.emplace(key, next_state);
    return next_state;
  };

  ConfigCache cache;
  std::vector<uint32_t> u;  // scratch: unlinearized calls before the first return
  struct Frame {
    int32_t entry;  // the call linearized, or (odd) the return of an optional op skipped
    int64_t state;  // the state before
    uint8_t phase;  // the phase the move was made in
  };
  std::vector<Frame> stack;
  stack.reserve(static_cast<size_t>(n));

  size_t best_depth = 0, copied_depth = 0;
  auto note_prefix = [&]() {
    result.longest_prefix.clear();
    for (const Frame& f : stack) {
      if ((f.entry & 1) == 0) result.longest_prefix.push_back(f.entry / 2);
    }
    copied_depth = stack.size();
  };

  // Records the configuration after a move (the op is already lifted); false if it was seen.
  auto visit = [&](int64_t next_state) {
    // Key: first return entry p still in the list, and the calls before it.
    u.clear();
    int32_t p = next[head];
    while (p != kNone && (p & 1) == 0) {
      u.push_back(static_cast<uint32_t>(p));
      p = next[p];
    }
    uint64_t h = mix64(static_cast<uint64_t>(next_state) * 0x9e3779b97f4a7c15ull ^
                       static_cast<uint32_t>(p));
    for (uint32_t x : u) h = mix64(h ^ x);
    return cache.insert(h, next_state, static_cast<uint32_t>(p), u.data(),
                        static_cast<uint32_t>(u.size()));
  };

  // Candidates are the calls before the first return entry still in the list. Phase 0 tries
  // those of ops that have returns, phase 1 those of info ops (pending: they may take effect
  // here, later, or never, so linearizing them only when nothing else works avoids trying
  // every subset of them up front), phase 2 means this configuration is exhausted.
  int64_t state = model.init();
  int32_t e = next[head];
  int phase = 0;
  uint64_t steps = 0;
  while (true) {
    if (remaining == 0) {
      note_prefix();
      result.verdict = SearchVerdict::kLinearizable;
      break;
    }
    if ((++steps & 1023) == 0) {
      if ((limits.cancel && limits.cancel->load(std::memory_order_relaxed)) ||
          std::chrono::steady_clock::now() >= limits.deadline) {
        result.verdict = SearchVerdict::kUnknown;
        result.unknown_reason = limits.cancel && limits.cancel->load() ? "cancelled"
                                                                       : "time limit reached";
        break;
      }
      size_t bytes = cache.bytes() + memo.size() * 48 + stack.capacity() * sizeof(Frame);
      result.peak_bytes = std::max(result.peak_bytes, bytes);
      if (limits.memory_limit_bytes && bytes > limits.memory_limit_bytes) {
        result.verdict = SearchVerdict::kUnknown;
        result.unknown_reason = "memory limit reached (" + std::to_string(bytes >> 20) + " MiB)";
        break;
      }
    }
    if (phase < 2 && e != kNone && (e & 1) == 0) {  // a call
      const int32_t i = e / 2;
      if (has_ret(i) == (phase == 0)) {
        const int64_t next_state = step(state, i);
        if (next_state != kIllegal) {
          lift(i);
          if (visit(next_state)) {
            stack.push_back({e, state, static_cast<uint8_t>(phase)});
            state = next_state;
            remaining -= has_ret(i);
            if (stack.size() > best_depth) best_depth = stack.size();
            e = next[head];
            phase = 0;
            continue;
          }
          ++result.cache_hits;
          unlift(i);
        }
      }
      e = next[e];
      continue;
    }
    // Reached the first return entry still in the list (or the end of it).
    if (phase == 0) {  // now try the info ops, which may take effect here or never
      phase = 1;
      e = next[head];
      continue;
    }
    if (phase == 1) {
      phase = 2;
      // Last option: an optional op whose return this is never took effect.
      if (e != kNone && ops[e / 2].optional) {
        const int32_t i = e / 2;
        lift(i);
        if (visit(state)) {
          stack.push_back({e, state, 1});  // an odd entry marks a skip
          remaining -= 1;
          if (stack.size() > best_depth) best_depth = stack.size();
          e = next[head];
          phase = 0;
          continue;
        }
        unlift(i);
      }
    }
    // Every option here is exhausted: backtrack.
    if (stack.size() == best_depth) {
      if (best_depth > copied_depth + std::max<size_t>(1, copied_depth / 64) ||
          result.longest_prefix.empty()) {
        note_prefix();
      }
      if (copied_depth == best_depth && e != kNone) result.blocked_op = e / 2;
    }
    if (stack.empty()) {
      result.verdict = SearchVerdict::kIllegal;
      if (result.blocked_op < 0 && e != kNone) result.blocked_op = e / 2;
      break;
    }
    Frame f = stack.back();
    stack.pop_back();
    const int32_t i = f.entry / 2;
    unlift(i);
    state = f.state;
    remaining += has_ret(i);
    if (f.entry & 1) {
      // A skip is the last option of its configuration.
      e = f.entry;
      phase = 2;
    } else {
      e = next[f.entry];
      phase = f.phase;
    }
  }
  result.steps = steps;
  result.cache_entries = cache.size();
  result.peak_bytes = std::max(result.peak_bytes, cache.bytes() + memo.size() * 48);
  return result;
}

}  // namespace faultline::lin
