#include "checkers/elle/graph.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "checkers/elle/txn.h"

namespace faultline::elle {

const char* edge_name(uint8_t kind) {
  switch (kind) {
    case kWW:
      return "ww";
    case kWR:
      return "wr";
    case kRW:
      return "rw";
    case kProcess:
      return "process";
    case kRealtime:
      return "realtime";
  }
  return "?";
}

void DepGraph::finish() {
  offsets_.assign(static_cast<size_t>(n_) + 1, 0);
  for (const auto& p : pending_) ++offsets_[p.from + 1];
  for (uint32_t v = 0; v < n_; ++v) offsets_[v + 1] += offsets_[v];
  targets_.resize(pending_.size());
  kinds_.resize(pending_.size());
  std::vector<uint32_t> fill(offsets_.begin(), offsets_.end() - 1);
  for (const auto& p : pending_) {
    uint32_t at = fill[p.from]++;
    targets_[at] = p.to;
    kinds_[at] = p.kind;
  }
  pending_.clear();
  pending_.shrink_to_fit();
}

namespace {

// Tarjan's algorithm without recursion; `local` maps a graph node to its index in the node
// set, or kNone when outside. Works on any subset; the caller owns `local`.
std::vector<std::vector<uint32_t>> tarjan(const DepGraph& g, uint8_t mask,
                                          const std::vector<uint32_t>& nodes,
                                          const std::vector<uint32_t>& local) {
  const uint32_t n = static_cast<uint32_t>(nodes.size());
  std::vector<uint32_t> index(n, kNone), low(n, 0);
  std::vector<uint8_t> on_stack(n, 0);
  std::vector<uint32_t> stack;
  struct Frame {
    uint32_t v;  // local
    uint32_t e;  // next edge to look at
  };
  std::vector<Frame> frames;
  std::vector<std::vector<uint32_t>> out;
  uint32_t counter = 0;
  for (uint32_t root = 0; root < n; ++root) {
    if (index[root] != kNone) continue;
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack[root] = 1;
    frames.push_back({root, g.out_begin(nodes[root])});
    while (!frames.empty()) {
      Frame& f = frames.back();
      const uint32_t v = f.v;
      const uint32_t end = g.out_end(nodes[v]);
      bool descended = false;
      while (f.e < end) {
        const uint32_t e = f.e++;
        if (!(g.kind(e) & mask)) continue;
        const uint32_t w = local[g.target(e)];
        if (w == kNone) continue;
        if (index[w] == kNone) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = 1;
          frames.push_back({w, g.out_begin(nodes[w])});
          descended = true;
          break;
        }
        if (on_stack[w]) low[v] = std::min(low[v], index[w]);
      }
      if (descended) continue;
      if (low[v] == index[v]) {
        std::vector<uint32_t> comp;
        uint32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          comp.push_back(nodes[w]);
        } while (w != v);
        if (comp.size() > 1) {
          std::sort(comp.begin(), comp.end());
          out.push_back(std::move(comp));
        }
      }
      frames.pop_back();
      if (!frames.empty()) {
        uint32_t p = frames.back().v;
        low[p] = std::min(low[p], low[v]);
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return out;
}

enum Class { kG0, kG1c, kGSingle, kGNonadjacent, kG2Item, kClassCount };
const char* const kClassNames[kClassCount] = {"G0", "G1c", "G-single", "G-nonadjacent", "G2-item"};
const uint8_t kClassData[kClassCount] = {kWW, kWW | kWR, kDataEdges, kDataEdges, kDataEdges};
const uint8_t kClassStart[kClassCount] = {kWW, kWR, kRW, kRW, kRW};

// Flags of a search state.
constexpr uint8_t kFlagExtra = 1;  // used the tier's own extra kind (process or realtime)
constexpr uint8_t kFlagB = 2;      // G1c: used wr; G-nonadjacent: last edge was rw
constexpr uint8_t kFlagC = 4;      // G-nonadjacent: used a second rw
constexpr uint32_t kStates = 8;

class Searcher {
 public:
  Searcher(const DepGraph& g, const CheckContext& ctx, uint64_t budget)
      : g_(g), ctx_(ctx), budget_(budget), local_(g.size(), kNone) {}

  std::vector<std::vector<uint32_t>> sccs(uint8_t mask, const std::vector<uint32_t>& nodes) {
    set_local(nodes);
    auto out = tarjan(g_, mask, nodes, local_);
    clear_local(nodes);
    return out;
  }

  // Searches one class in one component. `tier_kind` is 0 (plain), kProcess or kRealtime;
  // `extra` the non-data kinds allowed. Returns false with *out empty when none was found;
  // sets *incomplete when the budget ran out first.
  bool search(Class cls, uint8_t tier_kind, uint8_t extra, const std::vector<uint32_t>& comp,
              FoundCycle* out, bool* incomplete) {
    const uint8_t allowed = kClassData[cls] | extra;
    uint64_t steps = 0;
    bool found = false;
    bool rejected = false;
    for (const auto& sub : sccs(allowed, comp)) {
      set_local(sub);
      int hits = 0;
      uint8_t start = kClassStart[cls];
      if (cls == kG0 && tier_kind) start = tier_kind;
      for (uint32_t a : sub) {
        for (uint32_t e = g_.out_begin(a); e < g_.out_end(a) && hits < kMaxStarts; ++e) {
          const uint8_t k = g_.kind(e);
          const uint32_t b = g_.target(e);
          if (local_[b] == kNone || !(k & start)) continue;
          if (steps > budget_ || ctx_.expired()) {
            // Stopped: a cycle already found is still classified (an unnamed cycle is
            // forbidden by no model and would read as valid); none found is incomplete.
            if (!found) *incomplete = true;
            clear_local(sub);
            if (found) out->name = classify_cycle(out->steps);
            return found;
          }
          std::vector<CycleStep> cyc;
          int r = bfs(cls, tier_kind, allowed, sub, a, b, start, &steps, &cyc);
          if (r == 2) rejected = true;
          if (r == 1) {
            ++hits;
            if (!found || cyc.size() < out->steps.size()) {
              out->steps = std::move(cyc);
              found = true;
            }
          }
        }
        if (hits >= kMaxStarts) break;
      }
      clear_local(sub);
      if (found) break;
    }
    if (!found && rejected) *incomplete = true;
    if (found) out->name = classify_cycle(out->steps);
    return found;
  }

 private:
  void set_local(const std::vector<uint32_t>& nodes) {
    for (uint32_t i = 0; i < nodes.size(); ++i) local_[nodes[i]] = i;
  }
  void clear_local(const std::vector<uint32_t>& nodes) {
    for (uint32_t v : nodes) local_[v] = kNone;
  }

  // Shortest path from b back to a (states: node x flags), closing the start edge a->b read as
  // `start`. The cycle must be simple and classify as the class searched.
  // Returns 1 when found, 0 when there is none through this edge, 2 when the shortest walk
  // found was not a simple cycle of the class (the class is then not decided by this edge).
  int bfs(Class cls, uint8_t tier_kind, uint8_t allowed, const std::vector<uint32_t>& sub,
          uint32_t a, uint32_t b, uint8_t start, uint64_t* steps, std::vector<CycleStep>* out) {
    const size_t n = sub.size();
    parent_.assign(n * kStates, -1);
    label_.assign(n * kStates, 0);
    auto flags_after = [&](uint8_t f, uint8_t l, bool* ok) -> uint8_t {
      *ok = true;
      if (tier_kind && l == tier_kind) f |= kFlagExtra;
      switch (cls) {
        case kG1c:
          if (l == kWR) f |= kFlagB;
          break;
        case kGSingle:
          if (l == kRW) *ok = false;
          break;
        case kGNonadjacent:
          if (l == kRW) {
            if (f & kFlagB) *ok = false;
            f |= kFlagB | kFlagC;
          } else {
            f &= static_cast<uint8_t>(~kFlagB);
          }
          break;
        default:
          break;
      }
      return f;
    };
    auto goal = [&](uint8_t f) {
      if (tier_kind && !(f & kFlagExtra)) return false;
      if (cls == kG1c && !(f & kFlagB)) return false;
      if (cls == kGNonadjacent && ((f & kFlagB) || !(f & kFlagC))) return false;
      return true;
    };
    uint8_t f0 = 0;
    if (tier_kind && start == tier_kind) f0 |= kFlagExtra;
    if (cls == kG1c) f0 |= kFlagB;
    if (cls == kGNonadjacent) f0 |= kFlagB;  // the start edge is rw; a second one sets C
    const int64_t root = static_cast<int64_t>(local_[b]) * kStates + f0;
    std::deque<int64_t> queue{root};
    parent_[root] = root;
    int64_t hit = -1;
    const uint32_t la = local_[a];
    while (!queue.empty() && hit < 0) {
      const int64_t s = queue.front();
      queue.pop_front();
      const uint32_t v = sub[static_cast<size_t>(s / kStates)];
      const uint8_t f = static_cast<uint8_t>(s % kStates);
      for (uint32_t e = g_.out_begin(v); e < g_.out_end(v); ++e) {
        ++*steps;
        const uint32_t w = local_[g_.target(e)];
        if (w == kNone) continue;
        uint8_t kinds = g_.kind(e) & allowed;
        for (uint8_t l = 1; l <= kRealtime && kinds; l <<= 1) {
          if (!(kinds & l)) continue;
          kinds &= static_cast<uint8_t>(~l);
          bool ok;
          const uint8_t nf = flags_after(f, l, &ok);
          if (!ok) continue;
          const int64_t t = static_cast<int64_t>(w) * kStates + nf;
          if (parent_[t] >= 0) continue;
          parent_[t] = s;
          label_[t] = l;
          if (w == la) {
            if (goal(nf)) {
              hit = t;
              break;
            }
            continue;  // never walk on through the start
          }
          queue.push_back(t);
        }
        if (hit >= 0) break;
      }
    }
    if (hit < 0) return 0;
    // Path b ... a, then the start edge a -> b.
    std::vector<CycleStep> rev;
    for (int64_t s = hit; s != root; s = parent_[s]) {
      const uint32_t from = sub[static_cast<size_t>(parent_[s] / kStates)];
      rev.push_back({from, label_[s]});
    }
    out->clear();
    out->push_back({a, start});
    for (auto it = rev.rbegin(); it != rev.rend(); ++it) out->push_back(*it);
    std::set<uint32_t> seen;
    for (const auto& st : *out) {
      if (!seen.insert(st.node).second) return 2;  // not simple
    }
    std::string want = kClassNames[cls];
    std::string got = classify_cycle(*out);
    std::string suffix = tier_kind == kProcess    ? "-process"
                         : tier_kind == kRealtime ? "-realtime"
                                                  : "";
    if (cls == kG2Item) {
      return got.size() >= suffix.size() &&
                     got.compare(got.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                     got.rfind("G1c", 0) != 0 && got.rfind("G0", 0) != 0
                 ? 1
                 : 2;
    }
    return got == want + suffix ? 1 : 2;
  }

  const DepGraph& g_;
  const CheckContext& ctx_;
  uint64_t budget_;
  std::vector<uint32_t> local_;
  std::vector<int64_t> parent_;
  std::vector<uint8_t> label_;
};

}  // namespace

std::vector<std::vector<uint32_t>> strongly_connected(const DepGraph& g, uint8_t mask,
                                                      const std::vector<uint32_t>& nodes) {
  std::vector<uint32_t> local(g.size(), kNone);
  for (uint32_t i = 0; i < nodes.size(); ++i) local[nodes[i]] = i;
  return tarjan(g, mask, nodes, local);
}

std::vector<std::vector<uint32_t>> strongly_connected(const DepGraph& g, uint8_t mask) {
  std::vector<uint32_t> nodes(g.size());
  for (uint32_t i = 0; i < g.size(); ++i) nodes[i] = i;
  std::vector<uint32_t> local = nodes;
  return tarjan(g, mask, nodes, local);
}

std::string classify_cycle(const std::vector<CycleStep>& steps) {
  size_t rw = 0, wr = 0;
  bool process = false, realtime = false, adjacent = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const uint8_t k = steps[i].kind;
    if (k == kRW) {
      ++rw;
      if (steps[(i + 1) % steps.size()].kind == kRW && steps.size() > 1) adjacent = true;
    }
    if (k == kWR) ++wr;
    if (k == kProcess) process = true;
    if (k == kRealtime) realtime = true;
  }
  std::string name;
  if (rw == 0) {
    name = wr == 0 ? "G0" : "G1c";
  } else if (rw == 1) {
    name = "G-single";
  } else {
    name = adjacent ? "G2-item" : "G-nonadjacent";
  }
  if (realtime) return name + "-realtime";
  if (process) return name + "-process";
  return name;
}

CycleSearchResult find_cycles(const DepGraph& g, const CycleSearchOptions& options,
                              const CheckContext& context) {
  CycleSearchResult result;
  Searcher searcher(g, context, options.budget);
  std::set<std::string> incomplete;
  const uint8_t all = kDataEdges | options.extra;
  for (const auto& comp : strongly_connected(g, all)) {
    bool found[kClassCount] = {};
    const uint8_t tiers[3] = {0, kProcess, kRealtime};
    for (uint8_t tier : tiers) {
      if (tier && !(options.extra & tier)) continue;
      const uint8_t extra = tier == 0          ? uint8_t{0}
                            : tier == kProcess ? uint8_t{kProcess}
                                               : options.extra;
      for (int c = 0; c < kClassCount; ++c) {
        if (context.expired()) {
          result.expired = true;
          return result;
        }
        if (found[c]) continue;
        if (c == kG1c && found[kG0]) continue;
        if (c == kG2Item && (found[kGSingle] || found[kGNonadjacent])) continue;
        if (c == kGNonadjacent && found[kGSingle]) continue;
        FoundCycle cyc;
        bool inc = false;
        if (searcher.search(static_cast<Class>(c), tier, extra, comp, &cyc, &inc)) {
          found[c] = true;
          result.cycles.push_back(std::move(cyc));
        } else if (inc) {
          std::string name = kClassNames[c];
          if (tier == kProcess) name += "-process";
          if (tier == kRealtime) name += "-realtime";
          incomplete.insert(name);
        }
      }
    }
  }
  result.incomplete.assign(incomplete.begin(), incomplete.end());
  return result;
}

}  // namespace faultline::elle
