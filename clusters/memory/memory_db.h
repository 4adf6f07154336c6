// The in-process register database "memory" and its deliberately buggy twin "memory-stale".
//
// One linearizable map of registers (key -> integer) shared by every node: each op takes one
// lock, so "memory" is linearizable by construction, and the register workload must find it
// valid. "memory-stale" serves about half of its reads on nodes other than the first from a
// replica that lags one write behind (the value before the key's last write), so the
// linearizability checker must find it invalid. Both need no cluster: their nodes are names
// (n1 n2 n3 unless the spec gives nodes).
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
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "harness/db.h"

namespace faultline {

class MemoryStore {
 public:
  struct Register {
    Json value;     // null until written
    Json previous;  // the value before the last write
  };
  std::mutex mu;
  std::condition_variable resumed;
  std::map<std::string, Register> registers;  // key text -> register
  std::set<std::string> killed, paused;
};

class MemoryDb : public Db, public Killable, public Pausable {
 public:
  MemoryDb(bool stale, int64_t latency_us, int64_t teardown_ms = 0);
  std::string name() const override { return stale_ ? "memory-stale" : "memory"; }
  std::string version(const DbContext&) override { return "in-process"; }
  void setup(const DbContext& ctx) override;
  void teardown(const DbContext& ctx) override;
  std::vector<std::string> default_nodes() const override { return {"n1", "n2", "n3"}; }
  std::vector<std::string> vocabularies() const override { return {"register"}; }
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
