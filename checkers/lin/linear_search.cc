#include "checkers/lin/linear_search.h"

#include <algorithm>
#include <cstring>
#include <tuple>
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
  size_t bytes() const {
    return arena_.capacity() * sizeof(uint32_t) + slots_.size() * sizeof(Slot);
  }

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
// The cache's state for a configuration whose state cannot matter (Model::overwrites).
constexpr int64_t kAnyState = INT64_MIN + 1;

// Among classes of ops each sorted by some position, the first op of each class not yet
// linearized (lifted), kept up to date as ops are lifted and unlifted in stack order. An op is
// in at most one class.
class FirstPending {
 public:
  // One class.
  FirstPending(std::vector<int32_t> order, size_t n) : FirstPending(one(std::move(order)), n) {}
  FirstPending(std::vector<std::vector<int32_t>> orders, size_t n)
      : class_(n, -1), rank_(n, -1), order_(std::move(orders)), first_(order_.size(), 0) {
    for (size_t g = 0; g < order_.size(); ++g) {
      for (size_t k = 0; k < order_[g].size(); ++k) {
        class_[order_[g][k]] = static_cast<int32_t>(g);
        rank_[order_[g][k]] = static_cast<int32_t>(k);
      }
    }
  }
  void lifted(int32_t i, const std::vector<uint8_t>& is_lifted) {
    const int32_t g = class_[i];
    if (g < 0 || rank_[i] != first_[g]) return;
    const auto& o = order_[g];
    while (first_[g] < static_cast<int32_t>(o.size()) && is_lifted[o[first_[g]]]) ++first_[g];
  }
  void unlifted(int32_t i) {
    const int32_t g = class_[i];
    if (g >= 0 && rank_[i] < first_[g]) first_[g] = rank_[i];
  }
  // The first pending op of the one class (kNone: none left).
  int32_t first() const { return first_in(0); }
  // The first pending op of i's class, or i itself when it is in none.
  int32_t first_of(int32_t i) const { return class_[i] < 0 ? i : first_in(class_[i]); }
  bool empty() const { return order_.empty(); }

 private:
  static std::vector<std::vector<int32_t>> one(std::vector<int32_t> order) {
    std::vector<std::vector<int32_t>> v;
    v.push_back(std::move(order));
    return v;
  }
  int32_t first_in(int32_t g) const {
    const auto& o = order_[g];
    return first_[g] < static_cast<int32_t>(o.size()) ? o[first_[g]] : kNone;
  }

  std::vector<int32_t> class_, rank_;
  std::vector<std::vector<int32_t>> order_;
  std::vector<int32_t> first_;
};

// Ops with identical calls (the same function, arguments and outcome: the model steps them
// alike from every state), as classes of at least two ops, each by (return, index). Optional
// ops (relaxed by the shrink) are left out; info ops, which have no return, form classes of
// their own (their outcome differs) in index order. Found by one sort, not a hash map of
// classes: most calls of a long history are distinct, and a node per call cost more than the
// search it saves.
std::vector<std::vector<int32_t>> twin_classes(const std::vector<LinOp>& ops) {
  std::vector<int32_t> idx;
  idx.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!ops[i].optional) idx.push_back(static_cast<int32_t>(i));
  }
  auto key = [&](int32_t i) {
    const Call& c = ops[i].call;
    return std::tuple(c.f, c.outcome, c.a, c.b, c.c);
  };
  std::sort(idx.begin(), idx.end(), [&](int32_t x, int32_t y) {
    return std::tuple(key(x), ops[x].ret_pos, x) < std::tuple(key(y), ops[y].ret_pos, y);
  });
  std::vector<std::vector<int32_t>> classes;
  for (size_t lo = 0; lo < idx.size();) {
    size_t hi = lo + 1;
    while (hi < idx.size() && key(idx[hi]) == key(idx[lo])) ++hi;
    if (hi - lo >= 2) {
      classes.emplace_back(idx.begin() + static_cast<std::ptrdiff_t>(lo),
                           idx.begin() + static_cast<std::ptrdiff_t>(hi));
    }
    lo = hi;
  }
  return classes;
}

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
  // Read-only calls with a return (reads, failed cas): linearized as soon as they are legal.
  std::vector<uint8_t> read_only(static_cast<size_t>(n), 0);
  bool any_read_only = false;
  for (int32_t i = 0; i < n; ++i) {
    read_only[i] = limits.reductions && has_ret(i) && model.read_only(ops[i].call);
    any_read_only = any_read_only || read_only[i];
  }

  auto unlink = [&](int32_t e) {
    next[prev[e]] = next[e];
    if (next[e] != kNone) prev[next[e]] = prev[e];
  };
  auto relink = [&](int32_t e) {
    next[prev[e]] = e;
    if (next[e] != kNone) prev[next[e]] = e;
  };
  // Pending ops of three classes, each by the position that matters: resets (not monotone) and
  // state-dependent ops (not unconditional) by invocation, overwrites by completion.
  auto sorted_ops = [&](auto&& pick, auto&& pos) {
    std::vector<int32_t> v;
    for (int32_t i = 0; i < n; ++i) {
      if (pick(i)) v.push_back(i);
    }
    std::stable_sort(v.begin(), v.end(), [&](int32_t a, int32_t b) { return pos(a) < pos(b); });
    return v;
  };
  auto call_of = [&](int32_t i) { return ops[i].call_pos; };
  // A class is tracked only when something reads it: resets by the pending-read check (reads
  // exist), dependent ops by the irrelevant-state check (overwrites exist). An empty class
  // costs nothing per step.
  FirstPending overwrites(sorted_ops(
                              [&](int32_t i) {
                                return limits.reductions && has_ret(i) && !ops[i].optional &&
                                       model.overwrites(ops[i].call);
                              },
                              [&](int32_t i) { return ops[i].ret_pos; }),
                          static_cast<size_t>(n));
  const bool any_overwrite = overwrites.first() != kNone;
  FirstPending resets(
      sorted_ops([&](int32_t i) { return any_read_only && !model.monotone(ops[i].call); }, call_of),
      static_cast<size_t>(n));
  FirstPending dependent(
      sorted_ops([&](int32_t i) { return any_overwrite && !model.unconditional(ops[i].call); },
                 call_of),
      static_cast<size_t>(n));
  std::vector<uint8_t> lifted(static_cast<size_t>(n), 0);
  // Twins (identical calls): of two candidates with the same call, linearizing the one that
  // returns first loses no linearization. Swap them in any linearization that takes the other
  // (L) here and this one (E) later: E may go here (it is a candidate), and L may go where E
  // was, since any op that must follow L (invoked after L returned) was invoked after E
  // returned too, so followed E already; the states are the same, the calls being identical.
  // Two info twins have no returns: the one of lower index goes first, and where a
  // linearization takes the other and never this one, this one may take its place.
  FirstPending twins(limits.reductions ? twin_classes(ops) : std::vector<std::vector<int32_t>>(),
                     static_cast<size_t>(n));
  const bool any_twins = !twins.empty();
  // The first return entry still in the list, found once per configuration (kUnknownEntry:
  // not yet since the last lift or unlift).
  constexpr int32_t kUnknownEntry = -2;
  int32_t p_cached = kUnknownEntry;
  auto first_return_entry = [&]() {
    if (p_cached == kUnknownEntry) {
      int32_t r = next[head];
      while (r != kNone && (r & 1) == 0) r = next[r];
      p_cached = r;
    }
    return p_cached;
  };

  auto lift = [&](int32_t i) {
    unlink(2 * i);
    if (has_ret(i)) unlink(2 * i + 1);
    lifted[i] = 1;
    p_cached = kUnknownEntry;
    resets.lifted(i, lifted);
    dependent.lifted(i, lifted);
    overwrites.lifted(i, lifted);
    if (any_twins) twins.lifted(i, lifted);
  };
  auto unlift = [&](int32_t i) {
    if (has_ret(i)) relink(2 * i + 1);
    relink(2 * i);
    lifted[i] = 0;
    p_cached = kUnknownEntry;
    resets.unlifted(i);
    dependent.unlifted(i);
    overwrites.unlifted(i);
    if (any_twins) twins.unlifted(i);
  };
  // Whether a twin of candidate i that returns before it is a candidate too (invoked before the
  // first return still in the list): then i is not tried here.
  auto twin_first = [&](int32_t i) {
    if (!any_twins) return false;
    const int32_t t = twins.first_of(i);
    if (t == i || t == kNone) return false;
    const int32_t p = first_return_entry();
    return p == kNone || ops[t].call_pos < ops[p / 2].ret_pos;
  };
  // Whether a pending overwrite must come before every pending state-dependent op.
  auto state_irrelevant = [&]() {
    const int32_t w = overwrites.first();
    if (w == kNone) return false;
    const int32_t d = dependent.first();
    return d == kNone || ops[w].ret_pos < ops[d].call_pos;
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
    uint8_t phase;  // the phase the move was made in; kForced for a forced read
  };
  constexpr uint8_t kForced = 3;
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

  // Records the configuration after a move (the op is already lifted); false if it was seen,
  // or (check_reads, after a move that changed the state) if a pending read can no longer be
  // satisfied: one that returns before the first pending reset is invoked must be linearized
  // before that reset, after monotone calls only, so model.reachable() must hold for it.
  auto visit = [&](int64_t next_state, bool check_reads) {
    // Key: first return entry p still in the list, and the calls before it.
    u.clear();
    int32_t p = next[head];
    while (p != kNone && (p & 1) == 0) {
      u.push_back(static_cast<uint32_t>(p));
      p = next[p];
    }
    p_cached = p;
    if (check_reads && any_read_only) {
      const int32_t r = resets.first();
      const int64_t horizon = r == kNone ? INT64_MAX : ops[r].call_pos;
      for (uint32_t x : u) {
        const int32_t i = static_cast<int32_t>(x / 2);
        if (read_only[i] && !ops[i].optional && ops[i].ret_pos < horizon &&
            !model.reachable(next_state, ops[i].call)) {
          ++result.pruned;
          return false;
        }
      }
    }
    const int64_t key_state = state_irrelevant() ? kAnyState : next_state;
    uint64_t h =
        mix64(static_cast<uint64_t>(key_state) * 0x9e3779b97f4a7c15ull ^ static_cast<uint32_t>(p));
    for (uint32_t x : u) h = mix64(h ^ x);
    return cache.insert(h, key_state, static_cast<uint32_t>(p), u.data(),
                        static_cast<uint32_t>(u.size()));
  };

  // Candidates are the calls before the first return entry still in the list. Phase 0 tries
  // those of ops that have returns, phase 1 those of info ops (pending: they may take effect
  // here, later, or never, so linearizing them only when nothing else works avoids trying
  // every subset of them up front), phase 2 means this configuration is exhausted.
  //
  // Forced reads: on entering a configuration, a read-only call that is legal in the current
  // state is linearized at once and its configuration has no other option. This loses no
  // linearization (Lowe 2017 makes the same observation): such a call R is a candidate, so it
  // was invoked before the first return entry still in the list, hence before the return of
  // every unlinearized op, and no op must precede it in real time; and R does not change the
  // state, so any linearization that places R later stays legal with R moved to here.
  int64_t state = model.init();
  int32_t e = next[head];
  int phase = 0;
  bool fresh = any_read_only;  // a configuration just entered: look for a forced read
  uint64_t steps = 0;
  while (true) {
    if (remaining == 0) {
      note_prefix();
      result.verdict = SearchVerdict::kLinearizable;
      break;
    }
    if ((++steps & 1023) == 0) {
      if (limits.stop && limits.stop->load(std::memory_order_relaxed)) {
        result.verdict = SearchVerdict::kUnknown;
        result.unknown_reason = "stopped";
        break;
      }
      if ((limits.cancel && limits.cancel->load(std::memory_order_relaxed)) ||
          std::chrono::steady_clock::now() >= limits.deadline) {
        result.verdict = SearchVerdict::kUnknown;
        result.unknown_reason =
            limits.cancel && limits.cancel->load() ? "cancelled" : "time limit reached";
        break;
      }
      if (limits.max_steps && steps >= limits.max_steps) {
        result.verdict = SearchVerdict::kUnknown;
        result.unknown_reason = "step budget reached (" + std::to_string(steps) + " steps)";
        result.out_of_steps = true;
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
    if (fresh) {
      fresh = false;
      int32_t forced = kNone;
      for (int32_t c = next[head]; c != kNone && (c & 1) == 0; c = next[c]) {
        if (read_only[c / 2] && step(state, c / 2) != kIllegal) {
          forced = c;
          break;
        }
      }
      if (forced != kNone) {
        const int32_t i = forced / 2;
        lift(i);
        if (visit(state, false)) {
          stack.push_back({forced, state, kForced});
          remaining -= 1;
          if (stack.size() > best_depth) best_depth = stack.size();
          e = next[head];
          phase = 0;
          fresh = true;
          continue;
        }
        ++result.cache_hits;
        unlift(i);
        e = first_return_entry();  // seen before: this configuration has nothing else to try
        phase = 2;
      }
    }
    if (phase < 2 && e != kNone && (e & 1) == 0) {  // a call
      const int32_t i = e / 2;
      if (has_ret(i) == (phase == 0) && !twin_first(i)) {
        const int64_t next_state = step(state, i);
        if (next_state != kIllegal) {
          lift(i);
          if (visit(next_state, next_state != state)) {
            stack.push_back({e, state, static_cast<uint8_t>(phase)});
            state = next_state;
            remaining -= has_ret(i);
            if (stack.size() > best_depth) best_depth = stack.size();
            e = next[head];
            phase = 0;
            fresh = any_read_only;
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
        if (visit(state, false)) {
          stack.push_back({e, state, 1});  // an odd entry marks a skip
          remaining -= 1;
          if (stack.size() > best_depth) best_depth = stack.size();
          e = next[head];
          phase = 0;
          fresh = any_read_only;
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
    } else if (f.phase == kForced) {
      // A forced read is the only option of its configuration.
      e = first_return_entry();
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
