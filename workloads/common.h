// Shared by the workloads of this folder (options are read with harness/options.h): routing (which
// client threads may work which key, docs/workloads.md "Routing and retries"), plus the two
// generators most workloads need: a leaf that picks its thread among the allowed ones, and final
// reads on every node.
//
// Thread safety: plain functions; generators as harness/generator.h says (none).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "harness/generator.h"
#include "harness/workload.h"

namespace faultline::workloads {

// Which threads may work which keys. Thread t talks to node t mod n (n = the context's node
// count, 1 when it names none). Under "random" any thread works any key; under "home-node" key
// k is worked only by threads of node home_node(k, n), and keyless ops go through the first
// node's threads (t mod n == 0).
class Routing {
 public:
  explicit Routing(const WorkloadContext& ctx);
  bool home_node() const { return home_; }
  size_t node_count() const { return n_; }
  // May `thread` work keyed ops over keys 0..key_count-1? Always under random; under home-node
  // only when its node is the home of one of them (node index < key_count).
  bool may_work_keys(int thread, int64_t key_count) const;
  // A random key in 0..key_count-1 that `thread` may work. REQUIRES: may_work_keys.
  int64_t key_for(int thread, int64_t key_count, Random& random) const;
  // May `thread` issue keyless ops (set, bank, unique-ids)?
  bool may_work_keyless(int thread) const;
  // The routing slot of a thread: its node index under home-node, 0 under random.
  size_t slot_of(int thread) const;

 private:
  bool home_;
  size_t n_;
};

// Hot keys that rotate (Elle's generator, the lww workload): each routing slot (one under
// random routing, one per node under home-node) keeps `count` hot keys; a key takes at most
// `writes_per_key` writes, then is retired (never written again) and a fresh key of the slot
// takes its place. Fresh keys under home-node have the slot's node as home (k mod n == slot).
class HotKeys {
 public:
  HotKeys(int64_t count, int64_t writes_per_key, Routing routing);
  // A random hot key of `thread`'s slot; `at` (for write()) says which.
  int64_t pick(int thread, Random& random, size_t* at);
  // Counts a write of the key picked at `at` for `thread` and returns its 1-based number
  // (1, 2, ..., writes_per_key); the key is retired after its last write.
  int64_t write(int thread, size_t at);

 private:
  int64_t fresh_key(size_t slot);
  std::vector<int64_t>& pool(size_t slot);

  int64_t count_, writes_per_key_;
  Routing routing_;
  std::map<size_t, std::vector<int64_t>> pools_;  // routing slot -> hot keys
  std::map<size_t, int64_t> next_key_;            // routing slot -> fresh keys handed out
  std::map<int64_t, int64_t> writes_;             // hot key -> writes so far
};

// Endless ops: each made by make(ctx, thread) for ctx.next_thread() among the free client
// threads for which allowed(thread) holds; pending while none is free.
GenPtr routed(std::function<bool(int)> allowed,
              std::function<OpTemplate(const GenContext&, int thread)> make);

// One `op` per node on threads 0..node_count-1 (so on every node when the concurrency is at
// least the node count), each marked with the extra field "final": true; then done.
GenPtr final_on_every_node(size_t node_count, OpTemplate op);

// The "stats" checker a workload lists beside its own: a run where one of `required` (the fs
// the workload's checks need) never succeeded is unknown, not valid.
CheckerSpec stats_checker(std::vector<std::string> required);

}  // namespace faultline::workloads
