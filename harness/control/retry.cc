#include "harness/control/retry.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

namespace faultline::control {
namespace {

// what() of a RemoteError without its "node X: " prefix.
std::string reason(const RemoteError& e) {
  std::string w = e.what();
  std::string prefix = "node " + e.node() + ": ";
  if (w.rfind(prefix, 0) == 0) return w.substr(prefix.size());
  return w;
}

class Backoff {
 public:
  explicit Backoff(const RetryPolicy& p) : policy_(p), rng_(p.seed), next_(p.initial_backoff) {}
  std::chrono::milliseconds next() {
    auto b = std::min(next_, policy_.max_backoff);
    next_ = std::min(policy_.max_backoff, next_ * 2);
    double j = std::clamp(policy_.jitter, 0.0, 1.0);
    std::uniform_real_distribution<double> d(1.0 - j, 1.0);
    return std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(b.count()) * d(rng_)));
  }

 private:
  const RetryPolicy& policy_;
  std::mt19937_64 rng_;
  std::chrono::milliseconds next_;
};

class RetryingSession : public Session {
 public:
  RetryingSession(std::unique_ptr<Session> inner, RetryPolicy policy)
      : inner_(std::move(inner)), policy_(std::move(policy)), backoff_(policy_) {
    if (policy_.max_tries < 1) policy_.max_tries = 1;
  }

  const std::string& node() const override { return inner_->node(); }

  // A command's timeout bounds all its tries together (a node that stops answering must not
  // cost max_tries timeouts): each try gets what is left, and no try starts after it.
  ExecResult exec(const Command& command) override {
    const auto start = std::chrono::steady_clock::now();
    return with_retries(
        "`" + describe(command) + "`", command.idempotent,
        [&] {
          if (command.timeout.count() <= 0) return inner_->exec(command);
          Command c = command;
          c.timeout =
              std::max(std::chrono::milliseconds(1),
                       command.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - start));
          return inner_->exec(c);
        },
        command.timeout);
  }
  void upload(const std::filesystem::path& local, const std::string& remote_path) override {
    with_retries("upload " + local.string() + " -> " + remote_path, true, [&] {
      inner_->upload(local, remote_path);
      return 0;
    });
  }
  void download(const std::string& remote_path, const std::filesystem::path& local) override {
    with_retries("download " + remote_path + " -> " + local.string(), true, [&] {
      inner_->download(remote_path, local);
      return 0;
    });
  }

 private:
  // `budget` > 0: no try begins once that much time has been spent (waits included).
  template <typename F>
  auto with_retries(const std::string& what, bool rerun_is_safe, F&& call,
                    std::chrono::milliseconds budget = std::chrono::milliseconds(0))
      -> decltype(call()) {
    auto start = std::chrono::steady_clock::now();
    std::chrono::milliseconds waited(0);
    for (int attempt = 1;; ++attempt) {
      std::chrono::milliseconds wait(0);
      try {
        return call();
      } catch (const TransportError& e) {
        if (e.may_have_run() && !rerun_is_safe) throw;  // never re-run blindly
        auto elapsed = std::max(waited, std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - start));
        wait = backoff_.next();
        if (attempt >= policy_.max_tries || (budget.count() > 0 && elapsed + wait >= budget)) {
          throw RetriesExhausted(node(), what, attempt, elapsed, e);
        }
      }
      waited += wait;
      if (policy_.sleep) {
        policy_.sleep(wait);
      } else {
        std::this_thread::sleep_for(wait);
      }
    }
  }

  std::unique_ptr<Session> inner_;
  RetryPolicy policy_;
  Backoff backoff_;
};

class RetryingRemote : public Remote {
 public:
  RetryingRemote(std::shared_ptr<Remote> inner, RetryPolicy policy)
      : inner_(std::move(inner)), policy_(std::move(policy)) {}
  std::vector<std::string> nodes() const override { return inner_->nodes(); }
  std::unique_ptr<Session> session(const std::string& node) override {
    RetryPolicy p = policy_;
    p.seed = policy_.seed + counter_.fetch_add(1);
    return make_retrying_session(inner_->session(node), std::move(p));
  }

 private:
  std::shared_ptr<Remote> inner_;
  RetryPolicy policy_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace

RetriesExhausted::RetriesExhausted(std::string node, const std::string& what_failed, int tries,
                                   std::chrono::milliseconds elapsed, const TransportError& last)
    : TransportError(std::move(node),
                     what_failed + " failed after " + std::to_string(tries) + " tries in " +
                         std::to_string(elapsed.count()) + " ms; last error: " + reason(last),
                     last.may_have_run()),
      tries_(tries) {}

std::unique_ptr<Session> make_retrying_session(std::unique_ptr<Session> inner, RetryPolicy policy) {
  return std::make_unique<RetryingSession>(std::move(inner), std::move(policy));
}

std::shared_ptr<Remote> make_retrying_remote(std::shared_ptr<Remote> inner, RetryPolicy policy) {
  return std::make_shared<RetryingRemote>(std::move(inner), std::move(policy));
}

std::vector<std::chrono::milliseconds> backoff_schedule(const RetryPolicy& policy) {
  Backoff b(policy);
  std::vector<std::chrono::milliseconds> out;
  for (int i = 1; i < policy.max_tries; ++i) out.push_back(b.next());
  return out;
}

}  // namespace faultline::control
