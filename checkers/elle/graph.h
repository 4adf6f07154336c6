// Dependency graphs over transactions and the cycles in them (Adya's DSG, as Elle builds it:
// Kingsbury and Alvaro, "Elle: Inferring Isolation Anomalies from Experimental Observations",
// VLDB 2020, sections 3-4).
//
// Nodes are transactions (dense ids). Edges carry a set of kinds: ww (T2 installed the next
// version after T1's), wr (T2 read T1's version), rw (T1 read a version that T2 overwrote),
// process (same process, T1 then T2) and realtime (T1 completed before T2 was invoked). The
// graph is stored as flat arrays (CSR); duplicate (from, to) pairs with different kinds are
// kept as separate entries.
//
// A cycle is classified by the kinds its edges are read as (an edge with several kinds is read
// as whichever kind gives the weakest anomaly):
//   G0             only ww edges
//   G1c            ww and wr edges, at least one wr
//   G-single       exactly one rw edge
//   G-nonadjacent  at least two rw edges, no two of them adjacent (also across the wrap)
//   G2-item        rw edges, some adjacent
// with the suffix -process when it needs a process edge and -realtime when it needs a
// realtime edge (a class is reported with a suffix only when the plain class was not found in
// the same strongly connected component).
//
// Search: strongly connected components of the whole graph first (iterative Tarjan); only
// components with two or more transactions are searched. Per component and class, the
// components of the subgraph of the edge kinds the class may use restrict a breadth-first
// search over (transaction, flags) states from each candidate edge; the shortest cycle over
// at most kMaxStarts candidates is kept. The search has a step budget: a class whose budget
// runs out before a cycle is found is reported as incomplete (the checker then says unknown
// for models that forbid it, never valid).
//
// Thread safety: a DepGraph is immutable after finish(); find_cycles is a pure function.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/checker.h"

namespace faultline::elle {

enum EdgeKind : uint8_t {
  kWW = 1,
  kWR = 2,
  kRW = 4,
  kProcess = 8,
  kRealtime = 16,
};
inline constexpr uint8_t kDataEdges = kWW | kWR | kRW;
inline constexpr uint8_t kAllEdges = kDataEdges | kProcess | kRealtime;

// "ww", "wr", "rw", "process", "realtime" for a single kind.
const char* edge_name(uint8_t kind);

class DepGraph {
 public:
  explicit DepGraph(uint32_t nodes) : n_(nodes) {}
  // Adds an edge; self-edges are dropped. REQUIRES: not finished.
  void add(uint32_t from, uint32_t to, uint8_t kind) {
    if (from != to) pending_.push_back({from, to, kind});
  }
  // Builds the flat arrays (counting sort by source, insertion order kept within a source).
  void finish();

  uint32_t size() const { return n_; }
  size_t edge_count() const { return targets_.size(); }
  uint32_t out_begin(uint32_t v) const { return offsets_[v]; }
  uint32_t out_end(uint32_t v) const { return offsets_[v + 1]; }
  uint32_t target(uint32_t e) const { return targets_[e]; }
  uint8_t kind(uint32_t e) const { return kinds_[e]; }

 private:
  struct Pending {
    uint32_t from, to;
    uint8_t kind;
  };
  uint32_t n_;
  std::vector<Pending> pending_;
  std::vector<uint32_t> offsets_;
  std::vector<uint32_t> targets_;
  std::vector<uint8_t> kinds_;
};

// Strongly connected components of the subgraph of edges whose kinds meet `mask`, over the
// nodes in `nodes` (edges leaving that set are ignored). Iterative Tarjan. Returns the
// components with at least two nodes, each sorted ascending, in ascending order of their
// smallest node.
std::vector<std::vector<uint32_t>> strongly_connected(const DepGraph& g, uint8_t mask,
                                                      const std::vector<uint32_t>& nodes);
// The same over all nodes.
std::vector<std::vector<uint32_t>> strongly_connected(const DepGraph& g, uint8_t mask);

struct CycleStep {
  uint32_t node;  // the edge goes from node to the next step's node (the first after the last)
  uint8_t kind;   // the single kind this edge is read as
};

struct FoundCycle {
  std::string name;  // "G-single-realtime", ...
  std::vector<CycleStep> steps;
};

struct CycleSearchResult {
  std::vector<FoundCycle> cycles;       // by component, then class; deterministic
  std::vector<std::string> incomplete;  // class names whose search ran out of budget
  bool expired = false;                 // the context's deadline or cancel hit
};

struct CycleSearchOptions {
  // Edge kinds besides ww/wr/rw to consider: kProcess, kRealtime or both.
  uint8_t extra = kProcess | kRealtime;
  // Breadth-first steps per class and component before the class is incomplete.
  uint64_t budget = 20'000'000;
};

inline constexpr int kMaxStarts = 16;

CycleSearchResult find_cycles(const DepGraph& g, const CycleSearchOptions& options,
                              const CheckContext& context);

// The anomaly name of a concrete cycle by the rules above.
std::string classify_cycle(const std::vector<CycleStep>& steps);

}  // namespace faultline::elle
