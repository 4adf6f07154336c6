#include "checkers/elle/polygraph.h"

#include <algorithm>
#include <deque>
#include <map>
#include <numeric>
#include <queue>
#include <set>

#include "checkers/elle/graph.h"
#include "checkers/elle/txn.h"

namespace faultline::elle {
namespace {

// Components larger than this skip bitset pruning (M*M bits) and go to Z3 whole.
constexpr uint32_t kMaxBitsetNodes = 20000;

// Why an edge is known: an edge of Polygraph::known, or a side of a choice that pruning forced
// because the other side closed a cycle through the edges of `why` (fact ids).
struct Fact {
  bool forced;
  size_t idx;  // index into Polygraph::known or Polygraph::choices
  std::vector<size_t> why;
};
using Facts = std::vector<Fact>;

// Adds the known edges and choices behind the given facts to the core.
void expand(const Facts& facts, std::vector<size_t> todo, std::set<size_t>* core_known,
            std::set<size_t>* core_choices) {
  std::set<size_t> seen;
  while (!todo.empty()) {
    const size_t f = todo.back();
    todo.pop_back();
    if (!seen.insert(f).second) continue;
    const Fact& fact = facts[f];
    if (!fact.forced) {
      core_known->insert(fact.idx);
    } else {
      core_choices->insert(fact.idx);
      todo.insert(todo.end(), fact.why.begin(), fact.why.end());
    }
  }
}

struct LocalChoice {
  size_t orig;
  bool order_pair = false;
  std::vector<PolyEdge> first, second;  // local node ids; tag unused
};

class Pruner {
 public:
  Pruner(uint32_t m, const CheckContext& ctx, Facts* facts)
      : m_(m), ctx_(ctx), words_((m + 63) / 64), facts_(facts) {}

  void add_edge(uint32_t u, uint32_t v, size_t fact) {
    edges_.push_back({u, v});
    origin_.push_back(fact);
  }

  // Runs to a fixpoint. Returns kCyclic with the core filled, kAcyclic when every choice got
  // decided, kUnknown with the residue left in `choices` (undecided ones) otherwise.
  PolyStatus run(std::vector<LocalChoice>* choices, std::set<size_t>* core_known,
                 std::set<size_t>* core_choices) {
    std::vector<uint8_t> decided(choices->size(), 0);
    while (true) {
      if (ctx_.expired()) return PolyStatus::kUnknown;
      rebuild_adjacency();
      std::vector<uint32_t> cycle;
      if (!closure(&cycle)) {
        expand(*facts_, fact_ids(cycle), core_known, core_choices);
        return PolyStatus::kCyclic;
      }
      bool changed = false;
      for (size_t i = 0; i < choices->size(); ++i) {
        if (decided[i]) continue;
        const LocalChoice& c = (*choices)[i];
        std::vector<uint32_t> why_a, why_b;
        const bool a = closes(c.first, &why_a);
        const bool b = closes(c.second, &why_b);
        if (a && b) {
          core_choices->insert(c.orig);
          expand(*facts_, fact_ids(why_a), core_known, core_choices);
          expand(*facts_, fact_ids(why_b), core_known, core_choices);
          return PolyStatus::kCyclic;
        }
        if (a || b) {
          const auto& forced = a ? c.second : c.first;
          facts_->push_back({true, c.orig, fact_ids(a ? why_a : why_b)});
          for (const auto& e : forced) add_edge(e.from, e.to, facts_->size() - 1);
          decided[i] = 1;
          changed = true;
          ++forced_;
        } else if (implied(c.first) || implied(c.second)) {
          decided[i] = 1;
          ++free_;
        }
      }
      if (!changed) break;
    }
    std::vector<LocalChoice> rest;
    for (size_t i = 0; i < choices->size(); ++i) {
      if (!decided[i]) rest.push_back(std::move((*choices)[i]));
    }
    *choices = std::move(rest);
    return choices->empty() ? PolyStatus::kAcyclic : PolyStatus::kUnknown;
  }

  const std::vector<std::pair<uint32_t, uint32_t>>& edges() const { return edges_; }
  const std::vector<size_t>& origins() const { return origin_; }
  size_t forced() const { return forced_; }
  size_t free() const { return free_; }

  // After run(): ids of the edges not implied by the others (a transitive reduction; one of
  // duplicates kept), and the choices with the side edges reachability already implies
  // removed. Only valid while the closure is current (run() ends with one).
  std::vector<uint32_t> reduce(std::vector<LocalChoice>* choices) const {
    std::vector<uint32_t> keep;
    if (reach_.empty()) {
      for (uint32_t e = 0; e < edges_.size(); ++e) keep.push_back(e);
      return keep;
    }
    std::vector<uint32_t> seen_at(m_, kNone);
    for (uint32_t u = 0; u < m_; ++u) {
      for (uint32_t e : out_[u]) {
        const uint32_t v = edges_[e].second;
        if (seen_at[v] == u) continue;  // duplicate
        seen_at[v] = u;
        bool implied = false;
        for (uint32_t f : out_[u]) {
          const uint32_t w = edges_[f].second;
          if (w != v && reaches(w, v)) {
            implied = true;
            break;
          }
        }
        if (!implied) keep.push_back(e);
      }
    }
    for (auto& c : *choices) {
      for (auto* side : {&c.first, &c.second}) {
        const bool lead = c.order_pair;
        std::vector<PolyEdge> kept;
        for (size_t i = 0; i < side->size(); ++i) {
          const auto& e = (*side)[i];
          if ((lead && i == 0) || !reaches(e.from, e.to)) kept.push_back(e);
        }
        *side = std::move(kept);
      }
    }
    return keep;
  }

  std::vector<size_t> fact_ids(const std::vector<uint32_t>& edge_ids) const {
    std::vector<size_t> out;
    for (uint32_t e : edge_ids) out.push_back(origin_[e]);
    return out;
  }

 private:
  bool reaches(uint32_t a, uint32_t b) const {
    return (reach_[static_cast<size_t>(a) * words_ + b / 64] >> (b % 64)) & 1u;
  }

  void rebuild_adjacency() {
    out_.assign(m_, {});
    for (uint32_t i = 0; i < edges_.size(); ++i) out_[edges_[i].first].push_back(i);
  }

  // Transitive closure in reverse topological order; false with a cycle's edges when cyclic.
  bool closure(std::vector<uint32_t>* cycle) {
    std::vector<uint32_t> indeg(m_, 0), order;
    for (const auto& [u, v] : edges_) ++indeg[v];
    for (uint32_t v = 0; v < m_; ++v) {
      if (!indeg[v]) order.push_back(v);
    }
    for (size_t i = 0; i < order.size(); ++i) {
      for (uint32_t e : out_[order[i]]) {
        if (--indeg[edges_[e].second] == 0) order.push_back(edges_[e].second);
      }
    }
    if (order.size() < m_) {
      // Some node is on a cycle: walk predecessors that are still blocked until one repeats.
      uint32_t start = 0;
      while (!indeg[start]) ++start;
      for (uint32_t e = 0; e < edges_.size(); ++e) {
        if (indeg[edges_[e].first] && indeg[edges_[e].second]) {
          start = edges_[e].second;
          break;
        }
      }
      // BFS from start over blocked nodes back to start.
      path(start, start, cycle, true);
      return false;
    }
    reach_.assign(static_cast<size_t>(m_) * words_, 0);
    for (size_t i = order.size(); i-- > 0;) {
      const uint32_t v = order[i];
      uint64_t* rv = &reach_[static_cast<size_t>(v) * words_];
      for (uint32_t e : out_[v]) {
        const uint32_t w = edges_[e].second;
        const uint64_t* rw = &reach_[static_cast<size_t>(w) * words_];
        for (uint32_t k = 0; k < words_; ++k) rv[k] |= rw[k];
        rv[w / 64] |= uint64_t{1} << (w % 64);
      }
    }
    return true;
  }

  // Edge ids of a shortest path from a to b (a cycle through a when a == b and `cycle`).
  void path(uint32_t a, uint32_t b, std::vector<uint32_t>* out, bool cycle = false) const {
    out->clear();
    std::vector<int64_t> via(m_, -1);
    std::deque<uint32_t> q{a};
    std::vector<uint8_t> seen(m_, 0);
    if (!cycle) seen[a] = 1;
    while (!q.empty()) {
      uint32_t v = q.front();
      q.pop_front();
      for (uint32_t e : out_[v]) {
        const uint32_t w = edges_[e].second;
        if (seen[w]) continue;
        seen[w] = 1;
        via[w] = e;
        if (w == b) {
          for (uint32_t x = b;;) {
            const uint32_t pe = static_cast<uint32_t>(via[x]);
            out->push_back(pe);
            x = edges_[pe].first;
            if (x == a) break;
          }
          return;
        }
        q.push_back(w);
      }
    }
  }

  bool closes(const std::vector<PolyEdge>& side, std::vector<uint32_t>* why) const {
    for (const auto& e : side) {
      if (e.from == e.to) return true;
      if (reaches(e.to, e.from)) {
        path(e.to, e.from, why);
        return true;
      }
    }
    return false;
  }

  bool implied(const std::vector<PolyEdge>& side) const {
    return std::all_of(side.begin(), side.end(),
                       [&](const PolyEdge& e) { return reaches(e.from, e.to); });
  }

  uint32_t m_;
  const CheckContext& ctx_;
  uint32_t words_;
  Facts* facts_;
  std::vector<std::pair<uint32_t, uint32_t>> edges_;
  std::vector<size_t> origin_;  // edge -> fact
  std::vector<std::vector<uint32_t>> out_;
  std::vector<uint64_t> reach_;
  size_t forced_ = 0, free_ = 0;
};

// Kahn's algorithm over `edges`, ties broken by the smallest `hint`: the nodes in that order.
// False when the edges close a cycle.
bool hinted_order(uint32_t m, const std::vector<std::pair<uint32_t, uint32_t>>& edges,
                  const std::vector<int64_t>& hint, std::vector<uint32_t>* order) {
  std::vector<std::vector<uint32_t>> out(m);
  std::vector<uint32_t> indeg(m, 0);
  for (const auto& [u, v] : edges) {
    out[u].push_back(v);
    ++indeg[v];
  }
  using Item = std::pair<int64_t, uint32_t>;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> ready;
  for (uint32_t v = 0; v < m; ++v) {
    if (!indeg[v]) ready.push({hint[v], v});
  }
  order->clear();
  while (!ready.empty()) {
    const uint32_t v = ready.top().second;
    ready.pop();
    order->push_back(v);
    for (uint32_t w : out[v]) {
      if (--indeg[w] == 0) ready.push({hint[w], w});
    }
  }
  return order->size() == m;
}

// Step 3 of solve_polygraph: takes for each choice the side that agrees with a topological
// order of `edges` (ties by `hint`), and returns true when the result is acyclic.
bool witness(uint32_t m, const std::vector<std::pair<uint32_t, uint32_t>>& edges,
             const std::vector<LocalChoice>& choices, const std::vector<int64_t>& hint) {
  auto topo = [&](const std::vector<std::pair<uint32_t, uint32_t>>& es,
                  std::vector<uint32_t>* pos) {
    std::vector<uint32_t> order;
    if (!hinted_order(m, es, hint, &order)) return false;
    pos->assign(m, 0);
    for (uint32_t k = 0; k < m; ++k) (*pos)[order[k]] = k;
    return true;
  };
  std::vector<uint32_t> pos;
  if (!topo(edges, &pos)) return false;
  std::vector<std::pair<uint32_t, uint32_t>> all = edges;
  for (const auto& c : choices) {
    auto backward = [&](const std::vector<PolyEdge>& side) {
      size_t b = 0;
      for (const auto& e : side) b += pos[e.from] >= pos[e.to];
      return b;
    };
    const auto& pick = backward(c.first) <= backward(c.second) ? c.first : c.second;
    for (const auto& e : pick) all.push_back({e.from, e.to});
  }
  return topo(all, &pos);
}

// A DAG that keeps a topological order while edges are added one at a time (Pearce and Kelly,
// "A dynamic topological sort algorithm for directed acyclic graphs", JEA 2006): an edge that
// agrees with the order costs nothing; one that does not searches only the nodes between its
// ends and reorders them, or reports the cycle it would close (and is then not added).
// The most recent edges can be taken back (remove_last), which keeps the order valid.
class DynamicOrder {
 public:
  explicit DynamicOrder(const std::vector<uint32_t>& order)  // a topological order of no edges yet
      : ord_(order.size()),
        at_(order),
        out_(order.size()),
        in_(order.size()),
        mark_(order.size(), 0) {
    for (uint32_t i = 0; i < order.size(); ++i) ord_[order[i]] = i;
  }

  uint32_t ord(uint32_t v) const { return ord_[v]; }

  // Adds u -> v unless it closes a cycle; false (graph unchanged) when it would.
  bool add(uint32_t u, uint32_t v) {
    if (u == v) return false;
    if (ord_[u] > ord_[v]) {
      const uint32_t lb = ord_[v], ub = ord_[u];
      fwd_.clear();
      bwd_.clear();
      if (!search(v, ub, true, u)) {
        unmark(fwd_);
        return false;
      }
      search(u, lb, false, kNone);
      unmark(fwd_);
      unmark(bwd_);
      reorder();
    }
    out_[u].push_back(v);
    in_[v].push_back(u);
    added_.push_back({u, v});
    return true;
  }
  size_t added() const { return added_.size(); }
  // Takes back the edges added after the first `keep`.
  void remove_last(size_t keep) {
    while (added_.size() > keep) {
      const auto [u, v] = added_.back();
      added_.pop_back();
      out_[u].pop_back();
      in_[v].pop_back();
    }
  }

 private:
  // Forward (from v, nodes with ord <= bound; false if `target` is reached) or backward (from
  // u, nodes with ord >= bound) depth-first search; visited nodes go to fwd_ / bwd_.
  bool search(uint32_t start, uint32_t bound, bool forward, uint32_t target) {
    auto& seen = forward ? fwd_ : bwd_;
    const uint8_t bit = forward ? 1 : 2;
    stack_.assign(1, start);
    mark_[start] |= bit;
    seen.push_back(start);
    while (!stack_.empty()) {
      const uint32_t x = stack_.back();
      stack_.pop_back();
      for (uint32_t y : forward ? out_[x] : in_[x]) {
        if (forward && y == target) return false;
        if (mark_[y] & bit) continue;
        if (forward ? ord_[y] > bound : ord_[y] < bound) continue;
        mark_[y] |= bit;
        seen.push_back(y);
        stack_.push_back(y);
      }
    }
    return true;
  }
  void unmark(const std::vector<uint32_t>& nodes) {
    for (uint32_t x : nodes) mark_[x] = 0;
  }
  // The nodes that reach u (bwd_) take the smallest of the affected positions, in their old
  // order, then the nodes v reaches (fwd_).
  void reorder() {
    auto by_ord = [&](uint32_t a, uint32_t b) { return ord_[a] < ord_[b]; };
    std::sort(fwd_.begin(), fwd_.end(), by_ord);
    std::sort(bwd_.begin(), bwd_.end(), by_ord);
    slots_.clear();
    for (uint32_t x : bwd_) slots_.push_back(ord_[x]);
    for (uint32_t x : fwd_) slots_.push_back(ord_[x]);
    std::sort(slots_.begin(), slots_.end());
    size_t i = 0;
    for (uint32_t x : bwd_) place(x, slots_[i++]);
    for (uint32_t x : fwd_) place(x, slots_[i++]);
  }
  void place(uint32_t x, uint32_t slot) {
    ord_[x] = slot;
    at_[slot] = x;
  }

  std::vector<uint32_t> ord_, at_;
  std::vector<std::vector<uint32_t>> out_, in_;
  std::vector<uint8_t> mark_;
  std::vector<uint32_t> fwd_, bwd_, stack_, slots_;
  std::vector<std::pair<uint32_t, uint32_t>> added_;
};

// Step 3, second try: the choices one at a time, in the order of their earliest node in a
// topological order of `edges` (ties by `hint`), each taking the side that agrees with the
// order kept so far or, if that side would close a cycle, the other. A choice whose sides both
// close a cycle at its turn ends the attempt and goes first in the next one (up to 64
// attempts; a choice stuck twice ends the search). True means every choice got a side and the
// whole graph stayed acyclic (a witness); false proves nothing.
bool adaptive_witness(uint32_t m, const std::vector<std::pair<uint32_t, uint32_t>>& edges,
                      const std::vector<LocalChoice>& choices, const std::vector<int64_t>& hint,
                      const CheckContext& ctx, size_t* restarts) {
  std::vector<uint32_t> order;
  if (!hinted_order(m, edges, hint, &order)) return false;
  // A choice that found both sides closed at its turn goes first in the next attempt (a
  // restart, as SAT solvers bump a conflict's variables); at most kAttempts attempts.
  constexpr int kAttempts = 64;
  std::vector<size_t> first_ones;
  std::vector<uint8_t> is_first(choices.size(), 0);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    DynamicOrder dag(order);
    for (const auto& [u, v] : edges) {
      if (!dag.add(u, v)) return false;  // cannot happen: `order` sorts them
    }
    std::vector<std::pair<uint32_t, size_t>> turn;  // (earliest node's position, choice)
    for (size_t i = 0; i < choices.size(); ++i) {
      if (is_first[i]) continue;
      uint32_t first = UINT32_MAX;
      for (const auto* side : {&choices[i].first, &choices[i].second}) {
        for (const auto& e : *side) first = std::min({first, dag.ord(e.from), dag.ord(e.to)});
      }
      turn.push_back({first, i});
    }
    std::sort(turn.begin(), turn.end());
    std::vector<size_t> sequence(first_ones.rbegin(), first_ones.rend());
    for (const auto& t : turn) sequence.push_back(t.second);
    size_t steps = 0;
    size_t stuck = SIZE_MAX;
    for (size_t i : sequence) {
      if (++steps % 1024 == 0 && ctx.expired()) return false;
      const LocalChoice& c = choices[i];
      auto backward = [&](const std::vector<PolyEdge>& side) {
        size_t b = 0;
        for (const auto& e : side) b += dag.ord(e.from) >= dag.ord(e.to);
        return b;
      };
      const bool prefer_first = backward(c.first) <= backward(c.second);
      bool placed = false;
      for (const auto* side :
           {prefer_first ? &c.first : &c.second, prefer_first ? &c.second : &c.first}) {
        const size_t keep = dag.added();
        bool fits = true;
        for (const auto& e : *side) {
          if (!dag.add(e.from, e.to)) {
            fits = false;
            break;
          }
        }
        if (fits) {
          placed = true;
          break;
        }
        dag.remove_last(keep);
      }
      if (!placed) {
        stuck = i;
        break;
      }
    }
    if (stuck == SIZE_MAX) return true;
    if (is_first[stuck] || ctx.expired()) return false;
    ++*restarts;
    is_first[stuck] = 1;
    first_ones.push_back(stuck);
  }
  return false;
}

uint32_t find(std::vector<uint32_t>& parent, uint32_t x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

}  // namespace

PolySolution solve_polygraph(const Polygraph& p, const CheckContext& ctx) {
  PolySolution out;
  size_t choice_edges = 0;
  for (const auto& c : p.choices) choice_edges += c.first.size() + c.second.size();
  out.stats = {{"nodes", p.nodes},
               {"known-edges", p.known.size()},
               {"choices", p.choices.size()},
               {"choice-edges", choice_edges}};
  for (size_t i = 0; i < p.known.size(); ++i) {
    if (p.known[i].from == p.known[i].to) {  // a self-edge is a cycle on its own
      out.status = PolyStatus::kCyclic;
      out.core_known = {i};
      return out;
    }
  }
  Facts facts;
  struct KnownEdge {
    uint32_t from, to;
    size_t fact;
  };
  std::vector<KnownEdge> known;
  for (size_t i = 0; i < p.known.size(); ++i) {
    facts.push_back({false, i, {}});
    known.push_back({p.known[i].from, p.known[i].to, i});
  }
  std::vector<size_t> open(p.choices.size());
  std::iota(open.begin(), open.end(), size_t{0});
  size_t forced = 0, free_choices = 0, z3_calls = 0, witnesses = 0, rounds = 0, z3_choices = 0;
  size_t largest_z3 = 0, dropped = 0, adaptive = 0, restarts = 0;
  std::vector<uint32_t> local(p.nodes, kNone), group_of(p.nodes, kNone);
  std::string unknown_reason;
  // Rounds: decompose, prune each part; repeat while that decides or splits anything; then
  // witness or Z3 on what is left.
  size_t last_groups = 0;
  while (!open.empty()) {
    ++rounds;
    // 1. Components of the union graph; groups of components coupled by a choice.
    DepGraph u(p.nodes);
    for (const auto& e : known) u.add(e.from, e.to, 1);
    for (size_t i : open) {
      for (const auto& e : p.choices[i].first) u.add(e.from, e.to, 1);
      for (const auto& e : p.choices[i].second) u.add(e.from, e.to, 1);
    }
    u.finish();
    auto comps = strongly_connected(u, 1);
    std::vector<uint32_t> comp_of(p.nodes, kNone);
    for (uint32_t c = 0; c < comps.size(); ++c) {
      for (uint32_t v : comps[c]) comp_of[v] = c;
    }
    auto intra = [&](uint32_t a, uint32_t b) {
      return comp_of[a] != kNone && comp_of[a] == comp_of[b];
    };
    std::vector<uint32_t> parent(comps.size());
    std::iota(parent.begin(), parent.end(), 0u);
    for (size_t i : open) {
      uint32_t first = kNone;
      for (const auto* side : {&p.choices[i].first, &p.choices[i].second}) {
        for (const auto& e : *side) {
          if (!intra(e.from, e.to)) continue;
          const uint32_t r = find(parent, comp_of[e.from]);
          if (first == kNone) {
            first = r;
          } else if (r != first) {
            parent[r] = first;
          }
        }
      }
    }
    std::map<uint32_t, std::vector<uint32_t>> groups;
    for (uint32_t c = 0; c < comps.size(); ++c) {
      auto& g = groups[find(parent, c)];
      g.insert(g.end(), comps[c].begin(), comps[c].end());
    }
    // 2. Prune each group.
    const size_t open_before = open.size();
    std::vector<KnownEdge> next_known;
    std::vector<size_t> next_open;
    struct Residue {
      std::vector<uint32_t> nodes;
      std::vector<std::pair<uint32_t, uint32_t>> edges;  // local
      std::vector<size_t> edge_facts;
      std::vector<LocalChoice> choices;
    };
    std::vector<Residue> residues;
    for (auto& [root, nodes] : groups) {
      std::sort(nodes.begin(), nodes.end());
      for (uint32_t i = 0; i < nodes.size(); ++i) {
        local[nodes[i]] = i;
        group_of[nodes[i]] = root;
      }
      const uint32_t m = static_cast<uint32_t>(nodes.size());
      auto mine = [&](uint32_t a, uint32_t b) { return intra(a, b) && group_of[a] == root; };
      Pruner pr(m, ctx, &facts);
      for (const auto& e : known) {
        if (mine(e.from, e.to)) pr.add_edge(local[e.from], local[e.to], e.fact);
      }
      std::vector<LocalChoice> choices;
      for (size_t i : open) {
        const PolyChoice& pc = p.choices[i];
        LocalChoice lc;
        lc.orig = i;
        lc.order_pair = pc.order_pair && mine(pc.first[0].from, pc.first[0].to) &&
                        mine(pc.second[0].from, pc.second[0].to);
        bool any = false;
        for (int sd = 0; sd < 2; ++sd) {
          const auto& side = sd == 0 ? pc.first : pc.second;
          auto& to = sd == 0 ? lc.first : lc.second;
          for (const auto& e : side) {
            if (mine(e.from, e.to)) {
              to.push_back({local[e.from], local[e.to], 0});
              any = true;
            }
          }
        }
        if (any) choices.push_back(std::move(lc));
      }
      std::set<size_t> core_known, core_choices;
      PolyStatus st = PolyStatus::kUnknown;
      if (m <= kMaxBitsetNodes) {
        st = pr.run(&choices, &core_known, &core_choices);
        forced += pr.forced();
        free_choices += pr.free();
      }
      for (uint32_t v : nodes) local[v] = group_of[v] = kNone;
      if (st == PolyStatus::kCyclic) {
        out.status = PolyStatus::kCyclic;
        out.core_known.assign(core_known.begin(), core_known.end());
        out.core_choices.assign(core_choices.begin(), core_choices.end());
        break;
      }
      if (st == PolyStatus::kUnknown && ctx.expired()) {
        unknown_reason = "deadline while pruning";
        break;
      }
      if (st == PolyStatus::kAcyclic || choices.empty()) continue;
      Residue r;
      r.nodes = nodes;
      for (uint32_t e : pr.reduce(&choices)) {
        r.edges.push_back(pr.edges()[e]);
        r.edge_facts.push_back(pr.origins()[e]);
      }
      // A choice between a -> b and b -> a alone fits any acyclic rest (take the order of a
      // topological sort), and a side with no edges left is free: both are dropped.
      std::vector<LocalChoice> kept;
      for (auto& c : choices) {
        const bool pure = c.order_pair && c.first.size() == 1 && c.second.size() == 1;
        if (pure || c.first.empty() || c.second.empty()) {
          ++dropped;
        } else {
          kept.push_back(std::move(c));
        }
      }
      choices = std::move(kept);
      if (choices.empty()) continue;
      for (size_t e = 0; e < r.edges.size(); ++e) {
        next_known.push_back({nodes[r.edges[e].first], nodes[r.edges[e].second], r.edge_facts[e]});
      }
      for (const auto& c : choices) next_open.push_back(c.orig);
      r.choices = std::move(choices);
      residues.push_back(std::move(r));
    }
    if (out.status == PolyStatus::kCyclic || !unknown_reason.empty()) break;
    const bool progress = next_open.size() < open_before || groups.size() != last_groups;
    last_groups = groups.size();
    if (next_open.empty()) {
      open.clear();
      break;
    }
    if (progress && rounds < 64) {
      known = std::move(next_known);
      open = std::move(next_open);
      continue;
    }
    // 3. Witness, then 4. Z3, per residue.
    for (auto& r : residues) {
      const uint32_t m = static_cast<uint32_t>(r.nodes.size());
      std::vector<int64_t> hint(m);
      for (uint32_t i = 0; i < m; ++i) {
        hint[i] = p.order_hint.empty() ? r.nodes[i] : p.order_hint[r.nodes[i]];
      }
      if (witness(m, r.edges, r.choices, hint)) {
        ++witnesses;
        continue;
      }
      if (adaptive_witness(m, r.edges, r.choices, hint, ctx, &restarts)) {
        ++adaptive;
        continue;
      }
      if (ctx.expired()) {
        unknown_reason = "deadline while searching for a witness";
        break;
      }
      if (p.witness_only) {
        unknown_reason = "no witness found without a search (witness_only)";
        break;
      }
      Polygraph residue;
      residue.nodes = m;
      for (uint32_t e = 0; e < r.edges.size(); ++e) {
        residue.known.push_back({r.edges[e].first, r.edges[e].second, e});
      }
      for (const auto& c : r.choices)
        residue.choices.push_back({c.first, c.second, 0, c.order_pair});
      z3_choices += r.choices.size();
      largest_z3 = std::max<size_t>(largest_z3, r.choices.size());
      ++z3_calls;
      PolySolution z = z3_acyclic(residue, ctx);
      if (z.status == PolyStatus::kUnknown) {
        unknown_reason = z.reason;
        break;
      }
      if (z.status == PolyStatus::kCyclic) {
        std::set<size_t> core_known, core_choices;
        std::vector<size_t> ids;
        for (size_t k : z.core_known) ids.push_back(r.edge_facts[k]);
        expand(facts, ids, &core_known, &core_choices);
        for (size_t c : z.core_choices) core_choices.insert(r.choices[c].orig);
        out.status = PolyStatus::kCyclic;
        out.core_known.assign(core_known.begin(), core_known.end());
        out.core_choices.assign(core_choices.begin(), core_choices.end());
        break;
      }
    }
    open.clear();
    break;
  }
  if (out.status != PolyStatus::kCyclic) {
    out.status = unknown_reason.empty() ? PolyStatus::kAcyclic : PolyStatus::kUnknown;
    out.reason = unknown_reason;
  }
  out.stats["rounds"] = rounds;
  out.stats["forced-by-pruning"] = forced;
  out.stats["decided-free"] = free_choices;
  out.stats["dropped-after-reduction"] = dropped;
  out.stats["witness-found"] = witnesses;
  out.stats["adaptive-witness-found"] = adaptive;
  out.stats["adaptive-witness-restarts"] = restarts;
  out.stats["z3-calls"] = z3_calls;
  out.stats["sent-to-z3"] = z3_choices;
  out.stats["largest-z3-part"] = largest_z3;
  return out;
}

}  // namespace faultline::elle
