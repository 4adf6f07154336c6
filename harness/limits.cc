#include "harness/limits.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace faultline {

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

}  // namespace

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

}  // namespace faultline
