// Generator of causally consistent histories, for the causal checkers' tests and benchmarks.
//
// Simulates `processes` replicas, one client process each. A client runs a transaction
// against its own replica (reads see the replica's state and the transaction's own earlier
// writes; writes are installed at commit), then the transaction is broadcast. Replicas apply
// remote transactions in causal order (a transaction is delivered once everything its origin
// had applied before it is applied here), at random moments. Every read therefore sees a
// causally closed snapshot. Values are unique per key.
//
//   convergent = true:  each key holds the write with the largest (Lamport time, process)
//                       stamp (last writer wins): valid for CC, CCv and transactional causal
//                       consistency (and read atomic, read committed).
//   convergent = false: each key holds the last write applied at this replica: valid for CC
//                       and CM (each process's view is its replica's apply order), not CCv.
//
// Every transaction completes ok before its process invokes the next (real time is not used
// by the causal checkers). Header-only; deterministic for a seed.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "harness/history.h"

namespace faultline::bench {

struct CausalGenOptions {
  int processes = 4;
  int64_t txns = 100;
  int keys = 4;
  int min_mops = 1;
  int max_mops = 3;
  double read_fraction = 0.5;
  double deliver_fraction = 0.5;  // chance that a step delivers instead of running a txn
  bool convergent = true;
  uint64_t seed = 1;
};

inline std::vector<Op> generate_causal_history(const CausalGenOptions& o) {
  std::mt19937_64 rng(o.seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const size_t P = static_cast<size_t>(o.processes);
  struct Stamp {
    int64_t time = 0;
    int64_t process = -1;
    bool operator<(const Stamp& b) const {
      return time != b.time ? time < b.time : process < b.process;
    }
  };
  struct Committed {
    std::vector<int64_t> deps;  // origin's applied counts when it committed (own included)
    std::vector<std::pair<int64_t, int64_t>> writes;  // (key, value), last per key
    Stamp stamp;
  };
  struct Replica {
    std::vector<int64_t> applied;
    std::map<int64_t, std::pair<int64_t, Stamp>> store;  // key -> (value, stamp)
    int64_t clock = 0;
  };
  std::vector<std::vector<Committed>> log(P);
  std::vector<Replica> replicas(P);
  for (auto& r : replicas) r.applied.assign(P, 0);
  std::map<int64_t, int64_t> next_value;
  std::vector<Op> ops;
  auto emit = [&](int64_t process, OpType type, Json value) {
    Op op;
    op.index = static_cast<int64_t>(ops.size());
    op.time_ns = static_cast<int64_t>(ops.size()) * 1000;
    op.process = process;
    op.type = type;
    op.f = "txn";
    op.value = std::move(value);
    ops.push_back(std::move(op));
  };
  auto install = [&](Replica& r, const Committed& c) {
    r.clock = std::max(r.clock, c.stamp.time);
    for (const auto& [k, v] : c.writes) {
      auto it = r.store.find(k);
      if (it == r.store.end() || !o.convergent || it->second.second < c.stamp) {
        r.store[k] = {v, c.stamp};
      }
    }
  };
  int64_t done = 0;
  while (done < o.txns) {
    const size_t p = static_cast<size_t>(uniform(0, o.processes - 1));
    Replica& rep = replicas[p];
    if (chance(o.deliver_fraction)) {
      // Deliver the next transaction of some origin, when its dependencies are here.
      const size_t q = static_cast<size_t>(uniform(0, o.processes - 1));
      const size_t next = static_cast<size_t>(rep.applied[q]);
      if (q == p || next >= log[q].size()) continue;
      const Committed& c = log[q][next];
      bool ready = true;
      for (size_t s = 0; s < P; ++s) {
        if (s != q && c.deps[s] > rep.applied[s]) ready = false;
      }
      if (!ready) continue;
      install(rep, c);
      ++rep.applied[q];
      continue;
    }
    Json mops = Json::array();
    Json result = Json::array();
    std::map<int64_t, int64_t> own;  // this transaction's writes
    const int64_t n = uniform(o.min_mops, o.max_mops);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = uniform(0, o.keys - 1);
      if (chance(o.read_fraction)) {
        Json v;
        if (auto w = own.find(k); w != own.end()) {
          v = w->second;
        } else if (auto s = rep.store.find(k); s != rep.store.end()) {
          v = s->second.first;
        }
        mops.push_back({"r", k, nullptr});
        result.push_back({"r", k, v});
      } else {
        const int64_t v = ++next_value[k];
        own[k] = v;
        mops.push_back({"w", k, v});
        result.push_back({"w", k, v});
      }
    }
    Committed c;
    c.stamp = {rep.clock + 1, static_cast<int64_t>(p)};
    for (const auto& [k, v] : own) c.writes.push_back({k, v});
    install(rep, c);
    ++rep.applied[p];
    c.deps = rep.applied;
    log[p].push_back(std::move(c));
    emit(static_cast<int64_t>(p), OpType::kInvoke, mops);
    emit(static_cast<int64_t>(p), OpType::kOk, result);
    ++done;
  }
  return ops;
}

}  // namespace faultline::bench
