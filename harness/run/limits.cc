#include "harness/run/limits.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace faultline::run {

size_t default_memory_limit_bytes() {
  return static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) *
         static_cast<size_t>(sysconf(_SC_PAGE_SIZE)) / 2;
}

namespace {

// The process's data size now (VmData of /proc/self/status), in bytes; 0 when unknown.
size_t data_size_now() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmData:") {
      size_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

// A field of /proc/self/status in bytes (fields in kB), or a count; 0 when unknown.
size_t status_field(const std::string& name, bool kb) {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == name) {
      size_t v = 0;
      in >> v;
      return kb ? v * 1024 : v;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

std::string mib(double bytes) {
  char buf[64];
  if (bytes >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.0f MiB", bytes / (1024.0 * 1024));
  }
  return buf;
}

}  // namespace

std::string thread_capacity_problem(int threads) {
  if (threads <= 0) return "";
  size_t stack = 8u << 20;
  pthread_attr_t attr;
  if (pthread_getattr_default_np(&attr) == 0) {
    size_t s = 0;
    if (pthread_attr_getstacksize(&attr, &s) == 0 && s > 0) stack = s;
    pthread_attr_destroy(&attr);
  }
  const size_t per_thread = stack + (64u << 10);  // the stack, its guard and thread data
  const size_t margin = 256u << 20;               // heap growth, libraries, buffers
  auto fits = [&](size_t used, rlim_t limit) -> int64_t {
    if (limit == RLIM_INFINITY) return INT64_MAX;
    size_t l = static_cast<size_t>(limit);
    if (l <= used + margin) return 0;
    return static_cast<int64_t>((l - used - margin) / per_thread);
  };
  const std::string need = std::to_string(threads) + " threads with " + mib(stack) +
                           " stacks each (" + mib(static_cast<double>(per_thread) * threads) +
                           " of memory)";
  rlimit rl{};
  if (getrlimit(RLIMIT_AS, &rl) == 0) {
    int64_t n = fits(status_field("VmSize:", true), rl.rlim_cur);
    if (n < threads) {
      return "the run needs " + need + " but the address-space limit (ulimit -v) is " +
             mib(static_cast<double>(rl.rlim_cur)) + ", enough for about " + std::to_string(n) +
             ": lower --concurrency or raise the limit";
    }
  }
  if (getrlimit(RLIMIT_DATA, &rl) == 0) {
    int64_t n = fits(status_field("VmData:", true), rl.rlim_cur);
    if (n < threads) {
      return "the run needs " + need + " but the data-size limit (ulimit -d) is " +
             mib(static_cast<double>(rl.rlim_cur)) + ", enough for about " + std::to_string(n) +
             ": lower --concurrency or raise the limit";
    }
  }
  const size_t running = status_field("Threads:", false);
  if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      running + static_cast<size_t>(threads) > static_cast<size_t>(rl.rlim_cur)) {
    return "the run needs " + std::to_string(threads) +
           " threads but the per-user process limit (ulimit -u) is " + std::to_string(rl.rlim_cur) +
           ": lower --concurrency or raise the limit";
  }
  std::ifstream tm("/proc/sys/kernel/threads-max");
  size_t max = 0;
  if (tm >> max && max > 0 && running + static_cast<size_t>(threads) > max) {
    return "the run needs " + std::to_string(threads) + " threads but the kernel allows " +
           std::to_string(max) + " in all (/proc/sys/kernel/threads-max): lower --concurrency";
  }
  return "";
}

MemoryLimit::MemoryLimit(size_t bytes) {
  if (bytes == 0) return;
  rlimit old{};
  if (getrlimit(RLIMIT_DATA, &old) != 0) return;
  old_cur_ = old.rlim_cur;
  old_max_ = old.rlim_max;
  // Room for what is already mapped (thread stacks, the allocator's arenas) plus the limit.
  rlim_t want = static_cast<rlim_t>(bytes) + static_cast<rlim_t>(data_size_now());
  if (old.rlim_max != RLIM_INFINITY) want = std::min(want, old.rlim_max);
  rlimit next{want, old.rlim_max};
  set_ = setrlimit(RLIMIT_DATA, &next) == 0;
}

MemoryLimit::~MemoryLimit() {
  if (!set_) return;
  rlimit old{static_cast<rlim_t>(old_cur_), static_cast<rlim_t>(old_max_)};
  setrlimit(RLIMIT_DATA, &old);
}

Watchdog::Watchdog(double seconds, std::string message, int exit_code) {
  if (seconds <= 0) return;
  const double grace = std::max(5.0, seconds * 0.1);
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(seconds + grace));
  thread_ = std::thread([this, until, message = std::move(message), exit_code] {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, until, [this] { return done_; })) return;
    std::fputs((message + "\n").c_str(), stdout);
    std::fflush(stdout);
    std::fputs(("faultline: " + message + "\n").c_str(), stderr);
    _exit(exit_code);
  });
}

Watchdog::~Watchdog() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace faultline::run
