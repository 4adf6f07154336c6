// Fakes for the runner's tests: a scripted Client, a recording Nemesis, and seed announcement.
//
// ScriptedClient acts on the op's f:
//   "ok" / "noop"  ok with the op's value        "fail"  fail "scripted"
//   "info"         info "scripted"               "throw" throws std::runtime_error
//   "hang"         sleeps value ms, ignoring its deadline, then ok
// Opens, closes and invocations are counted in a shared ClientStats.
//
// Thread safety: ClientStats counters are atomics; each client is used by one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "harness/client.h"
#include "harness/nemesis.h"

namespace faultline::testing {

struct ClientStats {
  std::atomic<int64_t> opened{0}, closed{0}, invoked{0};
  std::atomic<int64_t> failing_opens{0};  // this many open() calls throw first
};

class ScriptedClient : public Client {
 public:
  explicit ScriptedClient(std::shared_ptr<ClientStats> stats) : stats_(std::move(stats)) {}
  void open(const ClientContext& ctx) override;
  Completion invoke(const Op& op, std::chrono::steady_clock::time_point deadline) override;
  void close() noexcept override;

 private:
  std::shared_ptr<ClientStats> stats_;
};

// Records every op it is asked to do and whether it was torn down (healed).
class RecordingNemesis : public Nemesis {
 public:
  struct Log {
    std::mutex mu;
    std::vector<std::string> ops;
    int setups = 0, teardowns = 0;
  };
  explicit RecordingNemesis(std::shared_ptr<Log> log) : log_(std::move(log)) {}
  void setup(const NemesisContext&) override;
  Completion invoke(const NemesisContext& ctx, const Op& op) override;
  void teardown(const NemesisContext&) override;
  std::set<std::string> fs() const override { return {"start", "stop"}; }

 private:
  std::shared_ptr<Log> log_;
};

// The log of the "fake" nemesis package registered by fake_client.cc (for runner tests): its
// generator starts and stops every nemesis-interval; its final generator stops.
std::shared_ptr<RecordingNemesis::Log> fake_nemesis_log();

// Prints "seed <n> (<test>)" on stderr for every randomised test, so any run reproduces.
void announce_seed(const std::string& test, uint64_t seed);

}  // namespace faultline::testing

namespace faultline::testing {

// The "fake-broken" database (tests only): speaks "register" through ScriptedClient (so every
// register op fails "unknown f"); db-options {"fail-in": "setup" | "teardown" | ""} makes that
// step throw. Counts its setups and teardowns here.
struct BrokenDbLog {
  std::atomic<int> setups{0}, teardowns{0};
};
BrokenDbLog& broken_db_log();

}  // namespace faultline::testing

namespace faultline::testing {

// The "fake-remote" database (tests only): needs real nodes (no default nodes), so the runner
// reaches them over SSH; its setup runs `true` on every node.
inline constexpr const char* kFakeRemoteDb = "fake-remote";

}  // namespace faultline::testing
