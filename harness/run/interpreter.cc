#include "harness/run/interpreter.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace faultline::run {

namespace {
using Clock = std::chrono::steady_clock;
constexpr int kNoPoller = INT32_MIN;
}  // namespace

struct Slot {
  int thread = 0;
  int64_t process = 0;
  uint64_t generation = 0;     // bumped when the thread is replaced after a timeout
  bool busy = false;           // an op assigned or in flight
  std::optional<Op> assigned;  // recorded invocation, to be run by this slot's worker
  bool in_invoke = false;
  Op inflight;  // the invocation in flight, for the watchdog
  Clock::time_point started;
  bool waiting = false;
  bool kicked = false;  // woken to poll the generator
  std::unique_ptr<Client> client;
  std::condition_variable cv;
};

struct Interpreter::State : std::enable_shared_from_this<Interpreter::State> {
  InterpreterOptions options;
  HistoryRecorder* recorder = nullptr;
  Random random{0};

  std::mutex mu;
  std::condition_variable watchdog_cv;
  std::exception_ptr error;                    // a generator that threw
  std::map<int, std::unique_ptr<Slot>> slots;  // kNemesisThread first
  std::vector<int> threads;                    // ascending
  std::vector<int64_t> processes;              // per client thread
  Generator* gen = nullptr;
  bool gen_done = false;
  bool finished = false;
  int busy_count = 0;
  int poller = kNoPoller;
  bool kick_pending = false;
  using WorkerKey = std::pair<int, uint64_t>;  // (thread, generation)
  std::map<WorkerKey, std::thread> workers;
  // Threads of abandoned ops (and of slots whose op was taken back): joined once they exit.
  std::vector<std::pair<WorkerKey, std::thread>> abandoned;
  std::set<WorkerKey> exited;  // workers that have returned
  std::condition_variable exit_cv;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> invoked{0}, ok{0}, fail{0}, info{0}, nemesis{0};
  std::string last_nemesis_f;  // guarded by mu
  std::string phase;           // RunControl::phase of the current run

  int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - options.start)
        .count();
  }

  GenContext context(int preferred) {
    GenContext ctx;
    ctx.time_ns = now_ns();
    ctx.threads = threads;
    ctx.free_threads.reserve(threads.size());
    for (int t : threads) {
      if (!slots[t]->busy) ctx.free_threads.push_back(t);
    }
    ctx.processes = &processes;
    ctx.random = &random;
    ctx.preferred_thread = preferred;
    return ctx;
  }

  void maybe_finish() {
    if (finished || busy_count > 0 || !(gen_done || stopping.load())) return;
    finished = true;
    for (auto& [t, slot] : slots) slot->cv.notify_all();
    watchdog_cv.notify_all();
  }

  // Records the invocation and hands it to its thread.
  void assign(const GenOp& g) {
    auto it = slots.find(g.thread);
    if (it == slots.end() || it->second->busy) {
      throw std::logic_error("generator emitted an op for a busy or unknown thread " +
                             std::to_string(g.thread));
    }
    Slot& slot = *it->second;
    Op inv;
    inv.time_ns = now_ns();
    inv.process = slot.process;
    inv.type = g.thread == kNemesisThread ? OpType::kInfo : OpType::kInvoke;
    inv.f = g.op.f;
    inv.value = g.op.value;
    inv.extra = g.op.extra;
    if (!phase.empty()) {
      if (!inv.extra.is_object()) inv.extra = Json::object();
      inv.extra["phase"] = phase;
    }
    if (g.thread >= 0 && !options.nodes.empty()) {
      inv.node = options.nodes[static_cast<size_t>(g.thread) % options.nodes.size()];
    }
    inv.index = recorder->record(inv);
    if (g.thread != kNemesisThread) invoked.fetch_add(1, std::memory_order_relaxed);
    slot.busy = true;
    ++busy_count;
    slot.assigned = std::move(inv);
    gen->update(context(kNoPoller), *slot.assigned);
  }

  void complete(Slot& slot, const Op& inv, Completion c) {
    Op done;
    done.time_ns = now_ns();
    done.process = inv.process;
    done.type = inv.is_nemesis() ? OpType::kInfo : c.type;
    done.f = inv.f;
    done.value = std::move(c.value);
    // Jepsen's convention: fail and info completions keep the invocation's value.
    if (done.type != OpType::kOk && done.value.is_null() && !inv.is_nemesis()) {
      done.value = inv.value;
    }
    done.error = std::move(c.error);
    done.node = inv.node;
    done.extra = inv.extra;
    if (!c.statements.is_null()) {
      if (!done.extra.is_object()) done.extra = Json::object();
      done.extra["sql"] = std::move(c.statements);
    }
    try {
      done.index = recorder->record(done);
    } catch (...) {
      // The history cannot take more (the disk): end the run, and keep the slot's state
      // consistent so that run() can still finish and join its threads.
      if (!error) error = std::current_exception();
      stopping.store(true);
      watchdog_cv.notify_all();
    }
    switch (done.type) {
      case OpType::kOk:
        ok.fetch_add(1, std::memory_order_relaxed);
        break;
      case OpType::kFail:
        fail.fetch_add(1, std::memory_order_relaxed);
        break;
      default:
        info.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    if (!inv.is_nemesis() && done.type == OpType::kInfo) {
      slot.process += options.concurrency;
      processes[static_cast<size_t>(slot.thread)] = slot.process;
    }
    slot.busy = false;
    slot.in_invoke = false;
    --busy_count;
    if (gen) gen->update(context(kNoPoller), done);
    maybe_finish();
  }

  // Starts the worker of `thread` at its current generation. REQUIRES: mu held.
  void start_worker(int thread);

  // The threads of abandoned ops that have returned, to be joined (without mu). REQUIRES: mu
  // held.
  std::vector<std::thread> take_exited_abandoned() {
    std::vector<std::thread> done;
    for (auto it = abandoned.begin(); it != abandoned.end();) {
      if (exited.count(it->first)) {
        done.push_back(std::move(it->second));
        it = abandoned.erase(it);
      } else {
        ++it;
      }
    }
    return done;
  }

  // Records the end of the slot's op now, without waiting for it: an op in flight completes
  // with `in_flight`, an op handed over but not yet sent with `unsent`; the slot's thread is
  // left to return on its own (it sees the new generation). REQUIRES: mu held, slot busy.
  void abandon(Slot& slot, Completion in_flight, Completion unsent) {
    uint64_t old = slot.generation++;
    Op inv;
    Completion c;
    if (slot.assigned) {
      inv = std::move(*slot.assigned);
      slot.assigned.reset();
      c = std::move(unsent);
    } else {
      inv = slot.inflight;
      c = std::move(in_flight);
    }
    auto w = workers.find({slot.thread, old});
    if (w != workers.end()) {
      abandoned.emplace_back(w->first, std::move(w->second));
      workers.erase(w);
    }
    complete(slot, inv, std::move(c));
  }

  // Abandons every busy slot (cancel, deadline). REQUIRES: mu held.
  void abandon_all(const std::string& why) {
    stopping.store(true);
    for (auto& [t, slot] : slots) {
      if (!slot->busy) continue;
      abandon(*slot, Completion::info(why), Completion::fail(why + " before it was sent"));
    }
    for (auto& [t, slot] : slots) slot->cv.notify_all();
    maybe_finish();
  }

  // Wakes one waiting free worker to poll, unless one is already on its way.
  void kick_one(int except) {
    if (kick_pending) return;
    for (auto& [t, slot] : slots) {
      if (t != except && !slot->busy && slot->waiting && !slot->kicked) {
        slot->kicked = true;
        kick_pending = true;
        slot->cv.notify_one();
        return;
      }
    }
  }
};

namespace {

using State = Interpreter::State;

void run_assigned(const std::shared_ptr<State>& s, std::unique_lock<std::mutex>& lk, Slot& me,
                  uint64_t generation) {
  Op inv = std::move(*me.assigned);
  me.assigned.reset();
  if (me.thread == kNemesisThread) {
    me.in_invoke = true;
    me.inflight = inv;
    me.started = Clock::now();
    lk.unlock();
    Completion c;
    try {
      c = s->options.nemesis ? s->options.nemesis->invoke(s->options.nemesis_ctx, inv)
                             : Completion::info("no nemesis");
    } catch (const std::exception& e) {
      c = Completion::info(std::string("nemesis threw: ") + e.what());
    } catch (...) {
      c = Completion::info("nemesis threw");
    }
    lk.lock();
    if (me.generation != generation) return;  // abandoned: already recorded
    s->complete(me, inv, std::move(c));
    return;
  }
  std::unique_ptr<Client> client = std::move(me.client);
  me.in_invoke = true;
  me.inflight = inv;
  me.started = Clock::now();
  auto deadline = me.started + s->options.op_timeout;
  ClientContext cctx;
  cctx.db = s->options.db_ctx;
  cctx.node = inv.node;
  cctx.process = inv.process;
  cctx.op_timeout = s->options.op_timeout;
  cctx.params = s->options.client_params;
  lk.unlock();
  Completion c;
  if (!client) {
    try {
      client = s->options.new_client ? s->options.new_client() : nullptr;
      if (!client) {
        c = Completion::info("the database has no client for this workload");
      } else {
        client->open(cctx);
      }
    } catch (const std::exception& e) {
      // Nothing of the op was sent: it certainly did not happen. The process goes on, and its
      // next op opens a client again (info here retired ~1,300 processes per partition run
      // and weakened every check).
      c = Completion::fail(std::string("client open failed: ") + e.what());
      client.reset();
    } catch (...) {
      c = Completion::fail("client open failed");
      client.reset();
    }
  }
  if (client) {
    try {
      c = client->invoke(inv, deadline);
    } catch (const std::exception& e) {
      c = Completion::info(std::string("client threw: ") + e.what());
    } catch (...) {
      c = Completion::info("client threw");
    }
    if (c.type == OpType::kInfo) {
      client->close();
      client.reset();
    }
  }
  lk.lock();
  if (me.generation != generation) {
    // Abandoned after a timeout: the op is already recorded as info; close and leave.
    lk.unlock();
    if (client) client->close();
    client.reset();
    lk.lock();
    return;
  }
  if (c.type != OpType::kOk && c.type != OpType::kFail && c.type != OpType::kInfo) {
    c = Completion::info("client returned an invocation as its completion");
  }
  me.client = std::move(client);
  s->complete(me, inv, std::move(c));
}

void worker(std::shared_ptr<State> s, int thread, uint64_t generation) {
  std::unique_lock<std::mutex> lk(s->mu);
  Slot& me = *s->slots.at(thread);
  bool poll_now = true;
  bool just_completed = false;  // then this thread asks for its own next op
  while (true) {
    if (me.generation != generation) return;
    if (me.assigned) {
      run_assigned(s, lk, me, generation);
      poll_now = true;
      just_completed = true;
      continue;
    }
    if (s->finished) return;
    if (s->stopping.load() || s->gen_done || !poll_now) {
      s->maybe_finish();
      if (s->finished) return;
      me.waiting = true;
      me.cv.wait_for(lk, std::chrono::milliseconds(100));
      me.waiting = false;
      poll_now = me.kicked;
      if (me.kicked) {
        me.kicked = false;
        s->kick_pending = false;
      }
      continue;
    }
    poll_now = false;
    GenResult r;
    int preferred = just_completed ? thread : kNoPoller;
    just_completed = false;
    try {
      r = s->gen->next(s->context(preferred));
    } catch (...) {
      // A broken generator ends the run; run() rethrows.
      if (!s->error) s->error = std::current_exception();
      s->gen_done = true;
      s->maybe_finish();
      continue;
    }
    if (r.is_op()) {
      s->assign(r.op);
      if (r.op.thread == thread) {
        s->kick_one(thread);  // someone else keeps asking while this thread works
      } else {
        s->slots.at(r.op.thread)->cv.notify_one();
        poll_now = true;
      }
      continue;
    }
    if (r.is_done()) {
      s->gen_done = true;
      s->maybe_finish();
      continue;
    }
    // Pending: this thread sleeps until the wake time (or a completion kicks a poll).
    s->poller = thread;
    me.waiting = true;
    if (r.wake_ns == kNoWake) {
      me.cv.wait_for(lk, std::chrono::milliseconds(100));
    } else {
      me.cv.wait_until(lk, s->options.start + std::chrono::nanoseconds(r.wake_ns));
    }
    me.waiting = false;
    poll_now = s->poller == thread || me.kicked;
    if (me.kicked) {
      me.kicked = false;
      s->kick_pending = false;
    }
  }
}

void worker_main(std::shared_ptr<State> s, int thread, uint64_t generation) {
  try {
    worker(s, thread, generation);
  } catch (...) {
    // Recording failed (the disk?): end the run and let run() rethrow.
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->error) s->error = std::current_exception();
    s->stopping.store(true);
    s->watchdog_cv.notify_all();
  }
  std::lock_guard<std::mutex> lock(s->mu);
  s->exited.insert({thread, generation});
  s->exit_cv.notify_all();
}

}  // namespace

void Interpreter::State::start_worker(int thread) {
  // The worker holds the state through a shared_ptr of its own (it may outlive run()).
  std::shared_ptr<State> self = shared_from_this();
  uint64_t generation = slots.at(thread)->generation;
  std::function<void()> body = [self, thread, generation] {
    worker_main(self, thread, generation);
  };
  std::thread t =
      options.start_thread ? options.start_thread(std::move(body)) : std::thread(std::move(body));
  workers.emplace(std::make_pair(thread, generation), std::move(t));
}

namespace {

// The message of a thread that could not be started.
std::string thread_start_message(int started, int wanted, int concurrency, const char* what) {
  return "cannot start worker thread " + std::to_string(started + 1) + " of " +
         std::to_string(wanted) + " (" + what +
         "): the limits on threads or memory (ulimit -u, ulimit -v, "
         "/proc/sys/kernel/threads-max) are too low for --concurrency " +
         std::to_string(concurrency) + "; lower --concurrency or raise the limits";
}

}  // namespace

Interpreter::Interpreter(InterpreterOptions options, HistoryRecorder& recorder)
    : s_(std::make_shared<State>()) {
  s_->options = std::move(options);
  s_->recorder = &recorder;
  s_->random = Random(s_->options.seed).fork("generator");
  auto nem = std::make_unique<Slot>();
  nem->thread = kNemesisThread;
  nem->process = kNemesisProcess;
  s_->slots.emplace(kNemesisThread, std::move(nem));
  s_->threads.push_back(kNemesisThread);
  for (int t = 0; t < s_->options.concurrency; ++t) {
    auto slot = std::make_unique<Slot>();
    slot->thread = t;
    slot->process = t;
    s_->slots.emplace(t, std::move(slot));
    s_->threads.push_back(t);
    s_->processes.push_back(t);
  }
}

Interpreter::~Interpreter() {
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    for (auto& [t, slot] : s_->slots) {
      if (slot->client) clients.push_back(std::move(slot->client));
    }
    for (auto& [key, t] : s_->abandoned) {
      // Those still running hold the state; they are left to finish on their own.
      if (s_->exited.count(key)) {
        threads.push_back(std::move(t));
      } else {
        t.detach();
      }
    }
    s_->abandoned.clear();
  }
  for (auto& t : threads) t.join();
  for (auto& c : clients) c->close();
}

void Interpreter::run(Generator& g, const std::atomic<bool>* cancel) {
  RunControl control;
  control.cancel = cancel;
  run(g, control);
}

void Interpreter::run(Generator& g, const RunControl& control) {
  std::unique_lock<std::mutex> lk(s_->mu);
  s_->stopping.store(false);
  s_->gen = &g;
  s_->phase = control.phase;
  s_->gen_done = false;
  s_->finished = false;
  s_->poller = kNoPoller;
  s_->kick_pending = false;
  for (auto& [t, slot] : s_->slots) {
    slot->kicked = false;
    slot->waiting = false;
  }
  int wanted = control.nemesis_only ? 1 : static_cast<int>(s_->threads.size());
  int started = 0;
  for (int t : s_->threads) {
    if (control.nemesis_only && t != kNemesisThread) continue;
    try {
      s_->start_worker(t);
      ++started;
    } catch (const std::exception& e) {
      // Stop what started (it is waiting for this lock) before anyone leaves run(): the
      // generator belongs to the caller.
      if (!s_->error) {
        s_->error = std::make_exception_ptr(ThreadStartError(
            thread_start_message(started, wanted, s_->options.concurrency, e.what())));
      }
      s_->stopping.store(true);
      break;
    }
  }
  // Watchdog: abandons ops stuck past their timeout, and every op in flight on cancel or at the
  // deadline.
  auto grace = std::chrono::milliseconds(50);
  auto tick =
      std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(s_->options.op_timeout / 4),
                 std::chrono::milliseconds(1), std::chrono::milliseconds(50));
  bool cancelled = false, cut_off = false;
  while (!s_->finished) {
    if (s_->stopping.load()) s_->maybe_finish();
    if (s_->finished) break;
    s_->watchdog_cv.wait_for(lk, tick);
    if (!cancelled && control.cancel && control.cancel->load()) {
      cancelled = true;
      s_->abandon_all("interrupted");
    }
    auto now = Clock::now();
    if (!cut_off && control.deadline && now >= *control.deadline) {
      cut_off = true;
      s_->abandon_all("cut off: the phase's time limit passed while it ran");
    }
    if (s_->stopping.load()) s_->maybe_finish();
    for (auto& [t, slot] : s_->slots) {
      if (!slot->in_invoke || !slot->busy) continue;
      auto limit = t == kNemesisThread ? s_->options.nemesis_op_timeout : s_->options.op_timeout;
      if (limit.count() <= 0 || now < slot->started + limit + grace) continue;
      // Abandon the stuck thread (it closes its client whenever invoke returns, then exits);
      // a replacement takes over the slot as a new process with a fresh client.
      s_->abandon(
          *slot,
          Completion::info(t == kNemesisThread
                               ? "timeout: the nemesis op ran longer than nemesis-op-timeout"
                               : "timeout"),
          Completion::info("timeout"));
      if (s_->stopping.load()) continue;
      try {
        s_->start_worker(t);
      } catch (const std::exception& e) {
        if (!s_->error) {
          s_->error = std::make_exception_ptr(ThreadStartError(thread_start_message(
              static_cast<int>(s_->workers.size()), wanted, s_->options.concurrency, e.what())));
        }
        s_->stopping.store(true);
        for (auto& [t2, slot2] : s_->slots) slot2->cv.notify_all();
      }
    }
  }
  // Join the workers, and the abandoned threads that have already returned.
  auto workers = std::move(s_->workers);
  s_->workers.clear();
  std::vector<std::thread> done = s_->take_exited_abandoned();
  lk.unlock();
  for (auto& [key, t] : workers) t.join();
  for (auto& t : done) t.join();
  lk.lock();
  s_->gen = nullptr;
  if (s_->error) {
    auto e = s_->error;
    s_->error = nullptr;
    std::rethrow_exception(e);
  }
}

int Interpreter::wait_abandoned(std::chrono::nanoseconds timeout) {
  auto until = Clock::now() + timeout;
  std::vector<std::thread> done;
  int left = 0;
  {
    std::unique_lock<std::mutex> lk(s_->mu);
    while (true) {
      for (auto& t : s_->take_exited_abandoned()) done.push_back(std::move(t));
      if (s_->abandoned.empty() || Clock::now() >= until) break;
      s_->exit_cv.wait_until(lk, until);
    }
    left = static_cast<int>(s_->abandoned.size());
  }
  for (auto& t : done) t.join();
  return left;
}

void Interpreter::stop() {
  s_->stopping.store(true);
  std::lock_guard<std::mutex> lock(s_->mu);
  for (auto& [t, slot] : s_->slots) slot->cv.notify_all();
}

bool Interpreter::stopping() const { return s_->stopping.load(); }

Interpreter::Counts Interpreter::counts() const {
  Counts c;
  c.invoked = s_->invoked.load();
  c.ok = s_->ok.load();
  c.fail = s_->fail.load();
  c.info = s_->info.load();
  c.nemesis = s_->nemesis.load();
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    c.last_nemesis_f = s_->last_nemesis_f;
  }
  return c;
}

int64_t Interpreter::now_ns() const { return s_->now_ns(); }

}  // namespace faultline::run
