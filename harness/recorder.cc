#include "harness/recorder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "harness/files.h"
#include "harness/formats.h"

namespace faultline {

HistoryRecorder::HistoryRecorder(Options options) : options_(std::move(options)) {
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error(options_.path + ": cannot create: " + std::strerror(errno));
  }
  if (options_.fsync) {
    // The new directory entry must survive a host crash too, or the whole history may vanish
    // with it (fdatasync of the file does not persist the entry).
    try {
      fsync_directory(std::filesystem::absolute(options_.path).parent_path());
    } catch (...) {
      ::close(fd_);
      fd_ = -1;
      throw;
    }
  }
  thread_ = std::thread([this] { flusher(); });
}

HistoryRecorder::~HistoryRecorder() {
  try {
    close();
  } catch (...) {
    // Destructors never throw; close() reports write errors to callers who call it.
  }
}

int64_t HistoryRecorder::record(Op op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.load()) throw std::runtime_error(error_);
  op.index = next_index_++;
  // Serialised here, under the lock, so lines are in index order and the flusher only writes.
  queue_ += op_to_jsonl(op);
  queue_ += '\n';
  ++queued_;
  return op.index;
}

std::string HistoryRecorder::fail(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.empty()) {
    error_ = options_.path + ": " + what + "; the history is kept up to op " +
             std::to_string(stats_.written) +
             " and nothing more is written to it (free space or fix the disk, then run again)";
    failed_.store(true);
    queue_.clear();  // never written: a later write would leave a hole before it
    queued_ = 0;
  }
  return error_;
}

void HistoryRecorder::flush_locked(std::unique_lock<std::mutex>& flush_lock) {
  (void)flush_lock;
  int64_t ops = 0;
  buffer_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.load()) throw std::runtime_error(error_);
    buffer_.swap(queue_);
    ops = queued_;
    queued_ = 0;
  }
  if (buffer_.empty() || fd_ < 0) {
    last_sync_ = std::chrono::steady_clock::now();  // nothing was at risk
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fail(std::string("write failed: ") + std::strerror(errno)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (options_.fsync && ::fdatasync(fd_) != 0) {
    // After a failed fdatasync the kernel may have dropped the dirty pages: what is in the
    // file is unknown, so this is as final as a failed write.
    throw std::runtime_error(fail(std::string("fdatasync failed: ") + std::strerror(errno)));
  }
  auto t1 = std::chrono::steady_clock::now();
  double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  stats_.max_sync_gap_ms = std::max(
      stats_.max_sync_gap_ms, std::chrono::duration<double, std::milli>(t1 - last_sync_).count());
  last_sync_ = t1;
  stats_.written += ops;
  stats_.batches += 1;
  stats_.bytes += static_cast<int64_t>(buffer_.size());
  stats_.max_batch_ms = std::max(stats_.max_batch_ms, ms);
}

void HistoryRecorder::flusher() {
  // Flushes start every flush_interval on a fixed schedule; a flush that overruns is followed
  // at once by the next, so the unsynced window stays near one interval plus one flush.
  std::unique_lock<std::mutex> lock(mu_);
  auto next = std::chrono::steady_clock::now() + options_.flush_interval;
  while (!stop_) {
    cv_.wait_until(lock, next, [this] { return stop_; });
    if (stop_) break;
    next = std::max(next + options_.flush_interval, std::chrono::steady_clock::now());
    lock.unlock();
    try {
      std::unique_lock<std::mutex> flush_lock(flush_mu_);
      flush_locked(flush_lock);
    } catch (const std::exception&) {
      // Recorded by fail(): the next record(), sync() or close() throws it.
    }
    lock.lock();
  }
}

void HistoryRecorder::sync() {
  std::unique_lock<std::mutex> flush_lock(flush_mu_);
  flush_locked(flush_lock);
}

void HistoryRecorder::close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  try {
    sync();
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
  ::close(fd_);
  fd_ = -1;
}

HistoryRecorder::Stats HistoryRecorder::stats() const {
  Stats s;
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    s = stats_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  s.ops = next_index_;
  return s;
}

RecoveredHistory load_recorded_history(const std::string& file, const std::string& name) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file + ": cannot open: " + std::strerror(errno));
  const std::string& path = name.empty() ? file : name;
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = std::move(buf).str();
  RecoveredHistory out;
  // The recorder writes whole lines; a last line without its newline was cut by a kill.
  size_t complete = text.size();
  if (!text.empty() && text.back() != '\n') {
    size_t nl = text.rfind('\n');
    complete = nl == std::string::npos ? 0 : nl + 1;
  }
  auto lines_before = [&](size_t end) {
    return static_cast<int64_t>(std::count(text.begin(), text.begin() + end, '\n'));
  };
  if (complete < text.size()) {
    out.torn_last_line = true;
    out.warnings.push_back(path + ":" + std::to_string(lines_before(complete) + 1) +
                           ": torn last line (" + std::to_string(text.size() - complete) +
                           " bytes) skipped");
    text.resize(complete);
  }
  std::vector<Op> ops;
  try {
    ops = read_ops(text, HistoryFormat::kJsonl, path);
  } catch (const HistoryError& e) {
    // A complete but unreadable last line (cut inside a batch whose tail was lost) is skipped
    // too; a bad line anywhere else is an error.
    int64_t last_line = lines_before(text.size());
    if (e.problems().empty() || e.problems().front().line != last_line) throw;
    out.torn_last_line = true;
    size_t start = text.size() >= 2 ? text.rfind('\n', text.size() - 2) : std::string::npos;
    start = start == std::string::npos ? 0 : start + 1;
    out.warnings.push_back(path + ":" + std::to_string(last_line) + ": torn last line (" +
                           std::to_string(text.size() - start) + " bytes) skipped");
    text.resize(start);
    ops = read_ops(text, HistoryFormat::kJsonl, path);
  }
  out.history = History::build_or_throw(std::move(ops), path);
  return out;
}

}  // namespace faultline
