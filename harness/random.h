// Random: the one seeded source of randomness of a test run, forked by name.
//
// Every consumer (a generator, a nemesis planner, a workload) takes its own stream with
// `fork("name")`: the child's seed is a hash of the parent's seed and the name, so adding a
// consumer never shifts the numbers another consumer sees, and the same seed gives the same
// streams on every platform (splitmix64 seeding, xoshiro256** output; no std::*_distribution,
// whose output differs between standard libraries).
//
// Thread safety: a Random is a plain value; one object is used by one thread at a time. Fork
// one per thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace faultline {

class Random {
 public:
  explicit Random(uint64_t seed = 0);

  uint64_t seed() const { return seed_; }
  // A child stream whose seed depends only on this stream's seed and `name` (not on how many
  // numbers were drawn from this one).
  Random fork(std::string_view name) const;

  uint64_t next_u64();
  // Uniform in [0, n); n > 0. Unbiased (rejection sampling).
  uint64_t uniform(uint64_t n);
  // Uniform in [lo, hi]; lo <= hi.
  int64_t uniform_in(int64_t lo, int64_t hi);
  // Uniform in [0, 1).
  double unit();
  bool chance(double p) { return unit() < p; }
  // Picks an index with probability proportional to weights (all >= 0, sum > 0).
  size_t weighted(const std::vector<double>& weights);

 private:
  uint64_t seed_;
  uint64_t s_[4];
};

// A fresh seed from the OS, for runs without --seed.
uint64_t random_seed_from_os();

}  // namespace faultline
