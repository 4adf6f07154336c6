// Retrying decorator for Session and Remote: reconnect-and-retry on transport errors only.
//
// A call is retried when it failed with TransportError and running it again cannot run it
// twice: the error says the command never started (connect refused or timed out, channel open
// failed), or the command is marked `idempotent`, or it is a file transfer (which overwrites).
// A command that ran and failed (non-zero status), timed out, or met a host-key or
// authentication error is never retried. Waits between tries grow exponentially from
// `initial_backoff` to `max_backoff`, each drawn uniformly from [(1 - jitter) * b, b] with a
// generator seeded by `seed`. After the last try, RetriesExhausted names the node, the call,
// the number of tries and the last error.
//
// The wrapped session reconnects by itself on its next call after a transport error (the SSH
// session does); the decorator only decides whether and when to call again.
//
// Thread safety: as the wrapped Session (one thread) / Remote (any thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "harness/remote.h"

namespace faultline::control {

struct RetryPolicy {
  int max_tries = 5;  // >= 1; 1 means no retry
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  double jitter = 0.5;  // 0: fixed waits; 1: anywhere in [0, b]
  uint64_t seed = 0;    // the jitter's random source
  // How to wait; empty: std::this_thread::sleep_for. Tests pass a recorder.
  std::function<void(std::chrono::milliseconds)> sleep;
};

class RetriesExhausted : public TransportError {
 public:
  RetriesExhausted(std::string node, const std::string& what_failed, int tries,
                   std::chrono::milliseconds elapsed, const TransportError& last);
  int tries() const { return tries_; }

 private:
  int tries_;
};

std::unique_ptr<Session> make_retrying_session(std::unique_ptr<Session> inner,
                                               RetryPolicy policy = {});
// Every session it opens is a retrying one; session i gets the seed policy.seed + i.
std::shared_ptr<Remote> make_retrying_remote(std::shared_ptr<Remote> inner,
                                             RetryPolicy policy = {});

// The waits a policy would use before try 2, 3, ... (max_tries - 1 values); for tests and docs.
std::vector<std::chrono::milliseconds> backoff_schedule(const RetryPolicy& policy);

}  // namespace faultline::control
