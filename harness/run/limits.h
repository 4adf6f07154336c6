// Process-wide resource limits for checking a history: memory and wall-clock time.
//
// A checker's own bounds (CheckContext::deadline, memory_limit_bytes) are cooperative: a
// search looks at them every so many steps. These make both limits real for everything in
// the process, parsing, Z3 and Elle included:
//   - MemoryLimit lowers RLIMIT_DATA (heap and private anonymous mappings; not the mmap'ed
//     history file) for its lifetime, so an allocation past the limit throws std::bad_alloc,
//     which callers turn into an unknown verdict naming the limit, instead of the kernel's OOM
//     killer ending the process.
//   - Watchdog, when the deadline plus a grace period passes with the work still running,
//     prints a line saying the verdict is unknown and how to raise the limit, and ends the
//     process with exit 2 (unknown). It is the backstop for a phase that does not look at its
//     deadline; a checker that does ends well before it.
//
// Thread safety: construct and destroy on one thread; the watchdog runs its own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace faultline::run {

// Half of the machine's physical memory: the default memory limit of `check` and `analyze`.
size_t default_memory_limit_bytes();

// Whether this process may start `threads` more threads: the address-space and data limits
// (ulimit -v, ulimit -d) against their stacks, the per-user process limit (ulimit -u) and
// /proc/sys/kernel/threads-max. Returns "" when they fit, else one sentence naming the limit
// and the largest count that fits, for an error message. Best effort: a thread that still
// cannot start is handled where it is started.
std::string thread_capacity_problem(int threads);

class MemoryLimit {
 public:
  // bytes == 0: no limit (nothing changes). A limit below what the process already uses is
  // raised to that, so the limit never fails at once.
  explicit MemoryLimit(size_t bytes);
  ~MemoryLimit();
  MemoryLimit(const MemoryLimit&) = delete;
  MemoryLimit& operator=(const MemoryLimit&) = delete;

 private:
  bool set_ = false;
  unsigned long long old_cur_ = 0, old_max_ = 0;
};

class Watchdog {
 public:
  // After `seconds` plus a grace of max(5 s, 10 %), prints `message` to stdout and stderr and
  // calls _exit(exit_code). seconds <= 0: no watchdog.
  Watchdog(double seconds, std::string message, int exit_code = 2);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace faultline::run
