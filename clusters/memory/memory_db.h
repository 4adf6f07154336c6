// The in-process database "memory" and its deliberately buggy twin "memory-stale", serving every
// vocabulary of docs/workloads.md: register, bank, list-append, rw-register, set, counter, lww,
// unique-ids.
//
// "memory" keeps one store shared by every node and serves each op under one lock, so it is
// linearizable (and strict-serializable for transactions) by construction: every workload must
// find it valid. "memory-stale" misbehaves on every node but the first (the "lagging" nodes),
// each vocabulary in a way its checker must catch:
//   register     about half of the reads return the value before the key's last write
//   bank         a transfer debits, releases the lock for ~1 ms, then credits: reads in
//                between see money missing (the total is wrong)
//   list-append  about half of the reads miss the key's last append (stale reads)
//   rw-register  about half of the reads return the key's previous value (stale reads)
//   set          reads on the last node omit every element divisible by 7 (its final read
//                differs from the others': no convergence)
//   counter      increments read, release the lock for ~1 ms, then write read+1 (lost
//                updates: two increments claim the same "wrote")
//   lww          writes carry a timestamp 1 s behind the real one: a later write loses to an
//                earlier one (last-writer-wins by clock, not by real time)
//   unique-ids   about 1 in 20 ids repeats the previous id
// Both need no cluster: their nodes are names (n1 n2 n3 unless the spec gives nodes).
//
// LWW in "memory": each write is stamped with the store's monotonic clock under the lock and
// applied when its stamp is not older than the stored one, so the real-time last write wins.
//
// Capabilities, so nemesis plumbing can be tested without a cluster: Killable (ops on a killed
// node fail with "connection refused" until start) and Pausable (ops on a paused node wait until
// resume or their deadline, then complete info).
//
// Options (db-options): "latency-us" (default 0): each op sleeps this long while holding no
// lock, to widen the windows of concurrency; "teardown-ms" (default 0): teardown takes this
// long, like a real database's, so interrupt handling during teardown can be tested.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "harness/db.h"

namespace faultline {

class MemoryStore {
 public:
  struct Register {
    Json value;     // null until written
    Json previous;  // the value before the last write
  };
  struct LwwCell {
    Json value;            // null until written
    int64_t stamp_ns = 0;  // the winning write's timestamp
    std::string node;      // the node that wrote it
  };
  std::mutex mu;
  std::condition_variable resumed;
  std::map<std::string, Register> registers;   // register and rw-register: key text -> register
  std::map<int64_t, int64_t> balances;         // bank: account -> balance
  bool negative_balances = false;              // bank
  std::map<int64_t, std::vector<Json>> lists;  // list-append
  std::set<int64_t> set;                       // set
  std::map<int64_t, int64_t> counters;         // counter
  std::set<std::string> applied_ids;           // counter: ids of applied increments
  std::map<int64_t, LwwCell> lww;              // lww
  int64_t next_id = 0;                         // unique-ids: the last id handed out
  std::set<std::string> killed, paused;
};

class MemoryDb : public Db, public Killable, public Pausable {
 public:
  MemoryDb(bool stale, int64_t latency_us, int64_t teardown_ms = 0);
  std::string name() const override { return stale_ ? "memory-stale" : "memory"; }
  std::string version(const DbContext&) override { return "in-process"; }
  Json claims() const override {
    return {{"level", "one in-process store"},
            {"model", "strict-serializable"},
            {"claim",
             stale_ ? "claims what memory claims, and misbehaves on purpose (stale reads, lost "
                      "updates, ...): every checker must find it invalid"
                    : "one linearizable store behind a lock: Faultline's reference"},
            {"source", "clusters/memory/memory_db.h"}};
  }
  void setup(const DbContext& ctx) override;
  void teardown(const DbContext& ctx) override;
  std::vector<std::string> default_nodes() const override { return {"n1", "n2", "n3"}; }
  std::vector<std::string> vocabularies() const override;
  // bank: {"accounts", "total", "negative-balances"}; counter: {"keys"} (rows 0..keys-1 at 0).
  void prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) override;
  std::unique_ptr<Client> new_client(const std::string& vocabulary) override;

  void kill(const DbContext& ctx, const std::string& node) override;
  void start(const DbContext& ctx, const std::string& node) override;
  void pause(const DbContext& ctx, const std::string& node) override;
  void resume(const DbContext& ctx, const std::string& node) override;

  MemoryStore& store() { return *store_; }

 private:
  bool stale_;
  int64_t latency_us_;
  int64_t teardown_ms_;
  std::shared_ptr<MemoryStore> store_;
};

}  // namespace faultline
