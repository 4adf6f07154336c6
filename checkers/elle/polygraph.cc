#include "checkers/elle/polygraph.h"

#include <algorithm>
#include <deque>
#include <map>
#include <numeric>
#include <set>

#include "checkers/elle/graph.h"
#include "checkers/elle/txn.h"

namespace faultline::elle {
namespace {

// Components larger than this skip bitset pruning (M*M bits) and go to Z3 whole.
constexpr uint32_t kMaxBitsetNodes = 20000;

struct Origin {
  bool forced;  // false: Polygraph::known[idx]; true: the side of choice idx forced by pruning
  size_t idx;
};

struct LocalChoice {
  size_t orig;
  std::vector<PolyEdge> first, second;  // local node ids; tag unused
};

class Pruner {
 public:
  Pruner(uint32_t m, const CheckContext& ctx) : m_(m), ctx_(ctx), words_((m + 63) / 64) {}

  void add_edge(uint32_t u, uint32_t v, Origin o) {
    edges_.push_back({u, v});
    origin_.push_back(o);
  }

  // Runs to a fixpoint. Returns kCyclic with the core filled, kAcyclic when every choice got
  // decided, kUnknown with the residue left in `choices` (undecided ones) otherwise.
  PolyStatus run(std::vector<LocalChoice>* choices, std::set<size_t>* core_known,
                 std::set<size_t>* core_choices) {
    why_.clear();
    std::vector<uint8_t> decided(choices->size(), 0);
    while (true) {
      if (ctx_.expired()) return PolyStatus::kUnknown;
      rebuild_adjacency();
      std::vector<uint32_t> cycle;
      if (!closure(&cycle)) {
        expand(cycle, core_known, core_choices);
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
          expand(why_a, core_known, core_choices);
          expand(why_b, core_known, core_choices);
          return PolyStatus::kCyclic;
        }
        if (a || b) {
          const auto& forced = a ? c.second : c.first;
          for (const auto& e : forced) add_edge(e.from, e.to, {true, c.orig});
          why_[c.orig] = a ? why_a : why_b;
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
  const std::vector<Origin>& origins() const { return origin_; }
  size_t forced() const { return forced_; }
  size_t free() const { return free_; }

  // Adds the original known edges and choices behind the given edges to the core.
  void expand(const std::vector<uint32_t>& edge_ids, std::set<size_t>* core_known,
              std::set<size_t>* core_choices) const {
    std::vector<uint32_t> todo = edge_ids;
    std::set<uint32_t> seen;
    while (!todo.empty()) {
      uint32_t e = todo.back();
      todo.pop_back();
      if (!seen.insert(e).second) continue;
      const Origin& o = origin_[e];
      if (!o.forced) {
        core_known->insert(o.idx);
      } else if (core_choices->insert(o.idx).second) {
        auto it = why_.find(o.idx);
        if (it != why_.end()) todo.insert(todo.end(), it->second.begin(), it->second.end());
      }
    }
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
  std::vector<std::pair<uint32_t, uint32_t>> edges_;
  std::vector<Origin> origin_;
  std::vector<std::vector<uint32_t>> out_;
  std::vector<uint64_t> reach_;
  std::map<size_t, std::vector<uint32_t>> why_;
  size_t forced_ = 0, free_ = 0;
};

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
  // 1. Components of the union graph.
  DepGraph u(p.nodes);
  for (const auto& e : p.known) u.add(e.from, e.to, 1);
  for (const auto& c : p.choices) {
    for (const auto& e : c.first) u.add(e.from, e.to, 1);
    for (const auto& e : c.second) u.add(e.from, e.to, 1);
  }
  u.finish();
  // Self-edges are cycles on their own (DepGraph drops them).
  for (size_t i = 0; i < p.known.size(); ++i) {
    if (p.known[i].from == p.known[i].to) {
      out.status = PolyStatus::kCyclic;
      out.core_known = {i};
      return out;
    }
  }
  auto comps = strongly_connected(u, 1);
  std::vector<uint32_t> comp_of(p.nodes, kNone);
  for (uint32_t c = 0; c < comps.size(); ++c) {
    for (uint32_t v : comps[c]) comp_of[v] = c;
  }
  auto intra = [&](const PolyEdge& e) {
    return comp_of[e.from] != kNone && comp_of[e.from] == comp_of[e.to];
  };
  // 2. Components coupled by a choice are solved together.
  std::vector<uint32_t> parent(comps.size());
  std::iota(parent.begin(), parent.end(), 0u);
  for (const auto& c : p.choices) {
    uint32_t first = kNone;
    for (const auto* side : {&c.first, &c.second}) {
      for (const auto& e : *side) {
        if (!intra(e)) continue;
        const uint32_t r = find(parent, comp_of[e.from]);
        if (first == kNone) {
          first = r;
        } else if (r != first) {
          parent[r] = first;
        }
      }
    }
  }
  std::map<uint32_t, std::vector<uint32_t>> groups;  // root -> nodes
  for (uint32_t c = 0; c < comps.size(); ++c) {
    auto& g = groups[find(parent, c)];
    g.insert(g.end(), comps[c].begin(), comps[c].end());
  }
  std::vector<uint32_t> local(p.nodes, kNone), group_of(p.nodes, kNone);
  size_t residue_choices = 0, forced = 0, free_choices = 0, z3_calls = 0;
  bool unknown = false;
  std::string unknown_reason;
  for (auto& [root, nodes] : groups) {
    std::sort(nodes.begin(), nodes.end());
    for (uint32_t i = 0; i < nodes.size(); ++i) {
      local[nodes[i]] = i;
      group_of[nodes[i]] = root;
    }
    const uint32_t m = static_cast<uint32_t>(nodes.size());
    Pruner pr(m, ctx);
    for (size_t i = 0; i < p.known.size(); ++i) {
      const auto& e = p.known[i];
      if (intra(e) && group_of[e.from] == root) pr.add_edge(local[e.from], local[e.to], {false, i});
    }
    std::vector<LocalChoice> choices;
    for (size_t i = 0; i < p.choices.size(); ++i) {
      LocalChoice lc;
      lc.orig = i;
      bool mine = false;
      for (int s = 0; s < 2; ++s) {
        const auto& side = s == 0 ? p.choices[i].first : p.choices[i].second;
        auto& to = s == 0 ? lc.first : lc.second;
        for (const auto& e : side) {
          if (intra(e) && group_of[e.from] == root) {
            to.push_back({local[e.from], local[e.to], 0});
            mine = true;
          }
        }
      }
      if (mine) choices.push_back(std::move(lc));
    }
    std::set<size_t> core_known, core_choices;
    PolyStatus st = PolyStatus::kUnknown;
    if (m <= kMaxBitsetNodes) {
      st = pr.run(&choices, &core_known, &core_choices);
      forced += pr.forced();
      free_choices += pr.free();
    }
    if (st == PolyStatus::kUnknown && ctx.expired()) {
      unknown = true;
      unknown_reason = "deadline while pruning";
      break;
    }
    if (st == PolyStatus::kUnknown) {
      // 3. The residue to Z3: current edges (original and forced) and undecided choices.
      Polygraph residue;
      residue.nodes = m;
      for (uint32_t e = 0; e < pr.edges().size(); ++e) {
        residue.known.push_back({pr.edges()[e].first, pr.edges()[e].second, e});
      }
      for (const auto& c : choices) residue.choices.push_back({c.first, c.second, 0});
      residue_choices += choices.size();
      ++z3_calls;
      PolySolution z = z3_acyclic(residue, ctx);
      if (z.status == PolyStatus::kUnknown) {
        unknown = true;
        unknown_reason = z.reason;
        break;
      }
      if (z.status == PolyStatus::kCyclic) {
        std::vector<uint32_t> ids;
        for (size_t k : z.core_known) ids.push_back(static_cast<uint32_t>(k));
        pr.expand(ids, &core_known, &core_choices);
        for (size_t c : z.core_choices) core_choices.insert(choices[c].orig);
        st = PolyStatus::kCyclic;
      } else {
        st = PolyStatus::kAcyclic;
      }
    }
    for (uint32_t v : nodes) local[v] = group_of[v] = kNone;
    if (st == PolyStatus::kCyclic) {
      out.status = PolyStatus::kCyclic;
      out.core_known.assign(core_known.begin(), core_known.end());
      out.core_choices.assign(core_choices.begin(), core_choices.end());
      break;
    }
  }
  if (out.status != PolyStatus::kCyclic) {
    out.status = unknown ? PolyStatus::kUnknown : PolyStatus::kAcyclic;
    out.reason = unknown_reason;
  }
  out.stats["components"] = groups.size();
  out.stats["forced-by-pruning"] = forced;
  out.stats["decided-free"] = free_choices;
  out.stats["sent-to-z3"] = residue_choices;
  out.stats["z3-calls"] = z3_calls;
  return out;
}

}  // namespace faultline::elle
