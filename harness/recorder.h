// HistoryRecorder: streams a run's ops to history.jsonl while the test runs, durably.
//
// record() assigns the op its index and queues its jsonl line; a flusher thread writes the
// queued lines and fdatasync()s the file every `flush_interval` (50 ms by default, half the
// 100 ms promise, to leave room for a flusher scheduled late on a loaded machine), and sync()
// does the same at once (the runner calls it at every phase change). So a controller killed
// with SIGKILL loses at most about the last 100 ms of ops. Lines are only ever
// appended whole with one write() per batch; if the process dies inside that write the last
// line may be cut, which `load_recorded_history` reports and skips (it never breaks loading).
//
// Durability: the file's directory is fsync'd once the file is created (so the history itself
// survives a host crash, not only its contents), and every batch is fdatasync'd. The first
// failed write or sync (a full disk, EFBIG, EIO) is final: nothing is ever written after it,
// so the file is always a prefix of the run's ops (perhaps with a torn last line) and never has
// a hole; from then on record(), sync() and close() throw, naming the file and the number of
// ops kept. The interpreter ends the run on the first record() that throws, and the runner
// heals and tears down as after any plumbing error.
//
// Thread safety: record(), sync(), stats() may be called from any thread; close() once, from
// the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/history.h"

namespace faultline {

class HistoryRecorder {
 public:
  struct Options {
    std::string path;  // created or truncated
    // Flushes start this often. 50 ms, half the 100 ms promise, leaves room for a flusher
    // that is scheduled late on a loaded machine (measured: gaps between syncs <= ~100 ms with
    // 50 busy workers on 2 cores; see bench/interpreter_bench).
    std::chrono::milliseconds flush_interval{50};
    bool fsync = true;  // fdatasync after each batch
  };
  // Opens the file, fsyncs its directory and starts the flusher. Throws std::runtime_error if
  // it cannot be created or made durable.
  explicit HistoryRecorder(Options options);
  ~HistoryRecorder();
  HistoryRecorder(const HistoryRecorder&) = delete;
  HistoryRecorder& operator=(const HistoryRecorder&) = delete;

  // Queues op with the next index (returned). The op's other fields are written as given.
  // Throws std::runtime_error (and queues nothing) once a write or sync has failed.
  int64_t record(Op op);
  // Writes and syncs everything recorded so far before returning. Throws std::runtime_error
  // if this or an earlier (background) write failed; ops of a failed write, and every op
  // recorded after it, are lost (never written).
  void sync();
  // sync(), stops the flusher and closes the file. Idempotent.
  void close();

  struct Stats {
    int64_t ops = 0;      // recorded
    int64_t written = 0;  // written to the file
    int64_t batches = 0;  // write+sync rounds
    int64_t bytes = 0;
    double max_batch_ms = 0;  // longest write+sync
    // Longest time between the ends of two successive syncs: the most a SIGKILL could lose.
    double max_sync_gap_ms = 0;
  };
  Stats stats() const;
  const std::string& path() const { return options_.path; }

 private:
  void flusher();
  void flush_locked(std::unique_lock<std::mutex>& flush_lock);
  // Records the first failure (later ones keep the first message) and returns the message.
  std::string fail(const std::string& what);

  Options options_;
  int fd_ = -1;
  mutable std::mutex mu_;  // guards queue_, next_index_, stop_, error_
  std::condition_variable cv_;
  std::string queue_;  // serialised lines not yet written
  int64_t queued_ = 0;
  int64_t next_index_ = 0;
  bool stop_ = false;
  std::atomic<bool> failed_{false};  // error_ is set
  mutable std::mutex flush_mu_;      // one flush at a time; guards the file and stats_
  Stats stats_;
  std::string buffer_;
  std::string error_;  // the first failed write or sync; once set, nothing more is written
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
  std::thread thread_;
  bool closed_ = false;
};

// A recorded history read back for checking: a cut last line (no trailing newline, or not
// valid JSON) is skipped and reported in `warnings` ("history.jsonl:812: torn last line (37
// bytes) skipped"); any other bad line throws HistoryError as load_history_file does.
struct RecoveredHistory {
  History history;
  std::vector<std::string> warnings;
  bool torn_last_line = false;
};
// `name` is how the file is named in warnings and errors (default: path), so that results do
// not depend on where the run directory is.
RecoveredHistory load_recorded_history(const std::string& path, const std::string& name = "");

}  // namespace faultline
