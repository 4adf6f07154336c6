// Interpreter: runs a generator against the database: one worker thread per client thread,
// each with its own Client, and one nemesis thread; every invocation and completion goes to
// the HistoryRecorder in the order the generator saw them.
//
// Processes (Jepsen's convention): client thread t starts as process t. When one of its ops
// ends in info (the client said so, threw, could not open, or did not return within
// op_timeout), that process retires: its client is closed and the thread continues as process
// p + concurrency with a fresh client. A client stuck past its timeout is abandoned: the
// interpreter records info ("timeout") at once and starts a replacement thread; the stuck
// thread closes its client whenever invoke returns and then exits. A nemesis op that outlives
// nemesis_op_timeout is abandoned the same way (compose_nemeses serialises the ops of each
// nemesis, so an abandoned op and a later one of the same nemesis never overlap).
//
// Ending a run early: on `cancel` (the first SIGINT) and at RunControl::deadline (the phase's
// time limit), every op still in flight is abandoned at once and recorded info
// ("interrupted" / "cut off ..."), and an op handed to a thread but not yet sent is recorded
// fail; run() returns without waiting for them. wait_abandoned() waits for the threads of
// abandoned ops, which still use the database context and the nemesis, before those go.
//
// Threads: a thread that cannot be started (EAGAIN at the process's thread or memory limit)
// ends the run: the threads already started are stopped and joined, then run() throws
// ThreadStartError, so the caller can heal with nothing left running on its generator.
//
// Scheduling: the generator is asked under one lock by whichever worker is free (a worker that
// just completed an op asks for its next one itself, so a no-op client costs no wake-up per
// op); one free worker at a time sleeps until the generator's next wake time.
//
// Thread safety: run() from one thread at a time; stop() and counts() from any thread (e.g. a
// signal watcher or a progress printer).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness/client.h"
#include "harness/generator.h"
#include "harness/nemesis.h"
#include "harness/recorder.h"

namespace faultline::run {

struct InterpreterOptions {
  int concurrency = 5;             // client threads
  std::vector<std::string> nodes;  // client thread t talks to nodes[t % size]
  std::chrono::nanoseconds op_timeout{std::chrono::seconds(10)};
  // Makes a fresh, unopened client (e.g. db.new_client(vocabulary)); may return null, which
  // makes every client op info.
  std::function<std::unique_ptr<Client>()> new_client;
  const DbContext* db_ctx = nullptr;
  Json client_params = Json::object();  // ClientContext::params of every client
  Nemesis* nemesis = nullptr;           // null: nemesis ops complete info "no nemesis"
  NemesisContext nemesis_ctx;
  uint64_t seed = 0;  // the generator's random source
  // A nemesis op running longer is abandoned (recorded info); 0: never.
  std::chrono::nanoseconds nemesis_op_timeout{0};
  // Starts a thread (tests make it fail); empty: std::thread.
  std::function<std::thread(std::function<void()>)> start_thread;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();  // time 0
};

// A worker thread could not be started; what() names the thread and the limits to check.
class ThreadStartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunControl {
  // Checked every few milliseconds; when it becomes true, in-flight ops are abandoned
  // ("interrupted") and run() returns.
  const std::atomic<bool>* cancel = nullptr;
  // When it passes, in-flight ops are abandoned ("cut off: ...") and run() returns.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Start only the nemesis thread (the heal phase: a nemesis generator needs no clients).
  bool nemesis_only = false;
  // When set, every op of this run records it as its "phase" field (the heal phase's ops say
  // "heal", so the nemesis checker can tell them from the faults of the main phase).
  std::string phase;
};

class Interpreter {
 public:
  Interpreter(InterpreterOptions options, HistoryRecorder& recorder);
  ~Interpreter();  // closes every open client
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Runs g until it is done and every op it emitted has completed, or until stop() or
  // `*cancel` (checked every few milliseconds); then returns. May be called again with another
  // generator: processes and clients carry over. Rethrows what the generator threw.
  void run(Generator& g, const std::atomic<bool>* cancel = nullptr);
  void run(Generator& g, const RunControl& control);
  // Waits until the threads of abandoned ops have returned, at most `timeout`; returns how
  // many are still running (they keep the interpreter's state alive, not the caller's).
  int wait_abandoned(std::chrono::nanoseconds timeout);
  // Asks the current run() to return: no new ops; ops in flight complete or time out. The next
  // run() starts afresh.
  void stop();
  bool stopping() const;

  struct Counts {
    int64_t invoked = 0, ok = 0, fail = 0, info = 0;  // client ops
    int64_t nemesis = 0;                              // nemesis ops completed
    std::string last_nemesis_f;                       // f of the latest, "" when none
  };
  Counts counts() const;
  // Nanoseconds since options.start.
  int64_t now_ns() const;

  struct State;  // shared with worker threads, which may outlive run() when abandoned

 private:
  std::shared_ptr<State> s_;
};

}  // namespace faultline::run
