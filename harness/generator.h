// Generator: what operations a test performs, when, and on which thread. Pure and seeded: a
// generator reads time and randomness only from its GenContext, so the same seed and the same
// sequence of contexts give the same ops (tests drive them with `simulate` below).
//
// The interpreter (harness/run/interpreter.h) owns one generator tree and asks it, under one lock,
// for the next op given the current time and the threads that are free:
//   next(ctx) -> an op for one of ctx's free threads (to be invoked now),
//              | pending (nothing now; ask again at `wake_ns`, or after any completion),
//              | done (this generator will never emit again).
// Emitting an op commits to it: the interpreter invokes it at once on the named thread. After
// every invocation and completion the interpreter calls update(ctx, event), which combinators
// forward to their children.
//
// Threads: client threads are 0..concurrency-1; the nemesis thread is kNemesisThread. A
// generator sees only the threads in its scope (`clients(g)` hides the nemesis thread,
// `nemesis(g)` shows only it, `each_thread` gives each child one thread).
//
// Combinators (Jepsen's names): limit, time_limit, stagger / rate / delay, mix, phases, any,
// each_thread, sleep, cycle, clients, nemesis, and `clients_and_nemesis` for the nemesis stream
// beside the client stream. Leaves: once, sequence, repeat_fn.
//
// Thread safety: none; the interpreter serialises every call.
#pragma once

#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/op.h"
#include "harness/random.h"

namespace faultline {

inline constexpr int kNemesisThread = -1;
inline constexpr int64_t kNoWake = INT64_MAX;

struct GenContext {
  int64_t time_ns = 0;            // now, nanoseconds since the test started
  std::vector<int> threads;       // threads in scope, ascending (kNemesisThread first)
  std::vector<int> free_threads;  // the free ones among them, ascending
  const std::vector<int64_t>* processes = nullptr;  // current process of each client thread
  Random* random = nullptr;                         // never null when the interpreter calls
  // Set by the interpreter when a worker that has just completed an op asks for its next one:
  // leaves give the op to it rather than to a random free thread, which saves a wake-up per op
  // when ops come as fast as threads free up. Never set by `simulate`.
  int preferred_thread = INT32_MIN;

  bool is_free(int thread) const;
  bool all_free() const { return free_threads.size() == threads.size(); }
  // Lowest free client thread, if any.
  std::optional<int> free_client() const;
  // The thread a leaf gives its next op to: the preferred thread when it is free, else a
  // random free client thread (Jepsen's some-free-process; the lowest when there is no random
  // source), else the nemesis thread when no client thread is in scope.
  std::optional<int> next_thread() const;
  // kNemesisProcess for the nemesis thread; the thread's process (or the thread number when no
  // process table is given) otherwise.
  int64_t process_of(int thread) const;
  // This context restricted to the threads for which keep(thread) is true.
  GenContext restricted(const std::function<bool(int)>& keep) const;
};

// What a generator wants invoked: f, value and extra fields of the invocation.
struct OpTemplate {
  std::string f;
  Json value;
  Json extra = Json::object();
};

struct GenOp {
  int thread = 0;
  OpTemplate op;
};

struct GenResult {
  enum class Kind { kOp, kPending, kDone };
  Kind kind = Kind::kDone;
  GenOp op;                   // when kOp
  int64_t wake_ns = kNoWake;  // when kPending: ask again then (kNoWake: after a completion)

  static GenResult of(GenOp op) { return {Kind::kOp, std::move(op), kNoWake}; }
  static GenResult pending(int64_t wake_ns = kNoWake) { return {Kind::kPending, {}, wake_ns}; }
  static GenResult done() { return {Kind::kDone, {}, kNoWake}; }
  bool is_op() const { return kind == Kind::kOp; }
  bool is_pending() const { return kind == Kind::kPending; }
  bool is_done() const { return kind == Kind::kDone; }
};

class Generator {
 public:
  virtual ~Generator() = default;
  virtual GenResult next(const GenContext& ctx) = 0;
  // An invocation or completion of an op (from any generator of the tree) happened.
  virtual void update(const GenContext& ctx, const Op& event) {
    (void)ctx;
    (void)event;
  }
};
using GenPtr = std::unique_ptr<Generator>;
using GenFactory = std::function<GenPtr()>;

// ---- leaves ----
// Leaves give each op to ctx.next_thread(): a random free client thread, or the nemesis
// thread when no client thread is in scope.
// One op, then done.
GenPtr once(OpTemplate op);
// The ops in order; then done.
GenPtr sequence(std::vector<OpTemplate> ops);
// Endless ops made by fn(ctx) (which draws randomness from ctx.random).
GenPtr repeat_fn(std::function<OpTemplate(const GenContext&)> fn);
// Nothing for `duration_ns` after its first call, then done.
GenPtr sleep(int64_t duration_ns);

// ---- combinators ----
// At most n ops of g.
GenPtr limit(int64_t n, GenPtr g);
// Ops of g until `duration_ns` after the first call; then done (in-flight ops still complete).
GenPtr time_limit(int64_t duration_ns, GenPtr g);
// Ops of g spaced by a uniform random gap in [0, 2*mean_gap_ns) (over all threads together).
GenPtr stagger(int64_t mean_gap_ns, GenPtr g);
// stagger at `ops_per_s` overall; ops_per_s <= 0 means unlimited (g itself).
GenPtr rate(double ops_per_s, GenPtr g);
// Ops of g exactly `gap_ns` apart.
GenPtr delay(int64_t gap_ns, GenPtr g);
// Each op from a random one of gs (uniformly, among those not done); done when all are.
GenPtr mix(std::vector<GenPtr> gs);
// g1 until done and every thread in scope is free, then g2, ...
GenPtr phases(std::vector<GenPtr> gs);
// All of gs at once: the first (in order) that has an op gives it; done when all are.
GenPtr any(std::vector<GenPtr> gs);
// Each thread in scope runs its own copy, made by factory(thread); done when all are.
GenPtr each_thread(std::function<GenPtr(int thread)> factory);
// factory() again and again, each after the previous one is done. `times` < 0: forever.
GenPtr cycle(GenFactory factory, int64_t times = -1);
// g on the client threads only / on the nemesis thread only.
GenPtr clients(GenPtr g);
GenPtr nemesis(GenPtr g);
// The client stream beside the nemesis stream; done when both are (either may be null).
GenPtr clients_and_nemesis(GenPtr client_gen, GenPtr nemesis_gen);
// A generator that is done at once.
GenPtr nothing();

// ---- deterministic driver (for tests and for reasoning about a generator) ----
// Drives g as the interpreter would with `concurrency` client threads plus the nemesis
// thread: every op completes ok `latency_ns` after its invocation, the clock jumps to the next
// interesting time when nothing can run. Stops when g is done or after `max_ops` ops, or when
// time passes `max_time_ns`.
struct SimulatedOp {
  int64_t time_ns;
  int thread;
  int64_t process;
  std::string f;
  Json value;
  bool operator==(const SimulatedOp&) const = default;
};
std::vector<SimulatedOp> simulate(Generator& g, int concurrency, uint64_t seed,
                                  int64_t latency_ns = 0, int64_t max_ops = 100000,
                                  int64_t max_time_ns = INT64_MAX / 2);
std::string to_string(const SimulatedOp& op);

}  // namespace faultline
