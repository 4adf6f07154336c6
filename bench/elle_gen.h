// Generator of transactional histories for the Elle-style checkers' tests and benchmarks.
//
// Simulates `processes` clients against one in-memory database that applies each transaction
// atomically at a random moment between its invocation and its completion, so the history is
// strict serializable by construction (and therefore valid under every model). Keys rotate as
// in Jepsen's append workload: a pool of `active_keys` keys, a key retired after
// `max_writes_per_key` writes. Values are unique per key. Some transactions fail (not applied)
// or end in info (applied or not, decided at random); a process whose op ends in info is
// replaced by a new one (process + processes).
//
// Header-only: used by tests/checkers/elle_*_test.cc and bench/elle_bench.cc. Deterministic for
// a seed.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "harness/history.h"

namespace faultline::bench {

struct TxnGenOptions {
  std::string workload = "list-append";  // or "rw-register"
  int processes = 8;
  int64_t txns = 1000;
  int active_keys = 8;
  int max_writes_per_key = 32;
  int min_mops = 1;
  int max_mops = 4;
  double read_fraction = 0.5;
  double fail_fraction = 0.0;
  double info_fraction = 0.0;
  uint64_t seed = 1;
};

inline std::vector<Op> generate_txn_history(const TxnGenOptions& o) {
  std::mt19937_64 rng(o.seed);
  auto uniform = [&](int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const bool append = o.workload == "list-append";

  std::vector<int64_t> pool;
  int64_t next_key = 0;
  for (int i = 0; i < o.active_keys; ++i) pool.push_back(next_key++);
  std::map<int64_t, int64_t> writes;              // key -> writes so far (next value - 1)
  std::map<int64_t, std::vector<int64_t>> lists;  // list-append state
  std::map<int64_t, int64_t> regs;                // rw-register state (absent: nil)

  struct Client {
    int64_t process = 0;
    int phase = 0;    // 0 idle, 1 invoked, 2 applied
    Json invoke;      // mops with null reads
    Json result;      // mops with read results (after applying)
    int outcome = 0;  // 0 ok, 1 fail, 2 info
  };
  std::vector<Client> clients;
  for (int p = 0; p < o.processes; ++p) {
    Client c;
    c.process = p;
    clients.push_back(c);
  }
  std::vector<Op> ops;
  int64_t invoked = 0, open = 0, time = 0;
  auto emit = [&](const Client& c, OpType type, Json value) {
    Op op;
    op.index = static_cast<int64_t>(ops.size());
    op.time_ns = time += 1000;
    op.process = c.process;
    op.type = type;
    op.f = "txn";
    op.value = std::move(value);
    ops.push_back(std::move(op));
  };
  auto apply = [&](Client& c) {
    c.result = c.invoke;
    for (auto& m : c.result) {
      const std::string f = m[0].get<std::string>();
      const int64_t k = m[1].get<int64_t>();
      if (f == "r") {
        if (append) {
          m[2] = lists[k];
        } else {
          auto it = regs.find(k);
          m[2] = it == regs.end() ? Json() : Json(it->second);
        }
      } else if (f == "append") {
        lists[k].push_back(m[2].get<int64_t>());
      } else {
        regs[k] = m[2].get<int64_t>();
      }
    }
  };
  while (invoked < o.txns || open > 0) {
    Client& c = clients[static_cast<size_t>(uniform(0, o.processes - 1))];
    if (c.phase == 0) {
      if (invoked >= o.txns) continue;
      Json mops = Json::array();
      const int64_t n = uniform(o.min_mops, o.max_mops);
      for (int64_t i = 0; i < n; ++i) {
        size_t slot = static_cast<size_t>(uniform(0, o.active_keys - 1));
        const int64_t k = pool[slot];
        if (chance(o.read_fraction)) {
          mops.push_back({"r", k, nullptr});
        } else {
          const int64_t v = ++writes[k];
          mops.push_back({append ? "append" : "w", k, v});
          if (v >= o.max_writes_per_key) pool[slot] = next_key++;
        }
      }
      c.invoke = mops;
      c.outcome = chance(o.fail_fraction) ? 1 : chance(o.info_fraction) ? 2 : 0;
      emit(c, OpType::kInvoke, mops);
      c.phase = 1;
      ++invoked;
      ++open;
    } else if (c.phase == 1) {
      if (c.outcome == 1) {
        emit(c, OpType::kFail, c.invoke);
        c.phase = 0;
        --open;
      } else if (c.outcome == 2 && chance(0.5)) {
        emit(c, OpType::kInfo, c.invoke);  // never applied
        c.process += o.processes;
        c.phase = 0;
        --open;
      } else {
        apply(c);
        c.phase = 2;
      }
    } else {
      if (c.outcome == 2) {
        emit(c, OpType::kInfo, c.invoke);  // applied, outcome unknown to the client
        c.process += o.processes;
      } else {
        emit(c, OpType::kOk, c.result);
      }
      c.phase = 0;
      --open;
    }
  }
  return ops;
}

}  // namespace faultline::bench
