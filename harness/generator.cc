#include "harness/generator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace faultline {

bool GenContext::is_free(int thread) const {
  return std::binary_search(free_threads.begin(), free_threads.end(), thread);
}

std::optional<int> GenContext::free_client() const {
  auto it = std::lower_bound(free_threads.begin(), free_threads.end(), 0);
  if (it == free_threads.end()) return std::nullopt;
  return *it;
}

int64_t GenContext::process_of(int thread) const {
  if (thread == kNemesisThread) return kNemesisProcess;
  if (processes && thread >= 0 && static_cast<size_t>(thread) < processes->size()) {
    return (*processes)[thread];
  }
  return thread;
}

GenContext GenContext::restricted(const std::function<bool(int)>& keep) const {
  GenContext c;
  c.time_ns = time_ns;
  c.processes = processes;
  c.random = random;
  c.preferred_thread = preferred_thread;
  for (int t : threads) {
    if (keep(t)) c.threads.push_back(t);
  }
  for (int t : free_threads) {
    if (keep(t)) c.free_threads.push_back(t);
  }
  return c;
}

std::optional<int> GenContext::next_thread() const {
  if (preferred_thread >= 0 && is_free(preferred_thread)) return preferred_thread;
  auto first = std::lower_bound(free_threads.begin(), free_threads.end(), 0);
  size_t n = static_cast<size_t>(free_threads.end() - first);
  if (n > 0) return random ? *(first + static_cast<ptrdiff_t>(random->uniform(n))) : *first;
  bool has_clients = !threads.empty() && threads.back() >= 0;
  if (!has_clients && is_free(kNemesisThread)) return kNemesisThread;
  return std::nullopt;
}

namespace {

std::optional<int> pick_thread(const GenContext& ctx) { return ctx.next_thread(); }

class Sequence : public Generator {
 public:
  explicit Sequence(std::vector<OpTemplate> ops) : ops_(std::move(ops)) {}
  GenResult next(const GenContext& ctx) override {
    if (i_ >= ops_.size()) return GenResult::done();
    auto t = pick_thread(ctx);
    if (!t) return GenResult::pending();
    return GenResult::of({*t, ops_[i_++]});
  }

 private:
  std::vector<OpTemplate> ops_;
  size_t i_ = 0;
};

class RepeatFn : public Generator {
 public:
  explicit RepeatFn(std::function<OpTemplate(const GenContext&)> fn) : fn_(std::move(fn)) {}
  GenResult next(const GenContext& ctx) override {
    auto t = pick_thread(ctx);
    if (!t) return GenResult::pending();
    return GenResult::of({*t, fn_(ctx)});
  }

 private:
  std::function<OpTemplate(const GenContext&)> fn_;
};

class Sleep : public Generator {
 public:
  explicit Sleep(int64_t d) : duration_(d) {}
  GenResult next(const GenContext& ctx) override {
    if (!until_) until_ = ctx.time_ns + duration_;
    if (ctx.time_ns >= *until_) return GenResult::done();
    return GenResult::pending(*until_);
  }

 private:
  int64_t duration_;
  std::optional<int64_t> until_;
};

class Nothing : public Generator {
 public:
  GenResult next(const GenContext&) override { return GenResult::done(); }
};

class Limit : public Generator {
 public:
  Limit(int64_t n, GenPtr g) : left_(n), g_(std::move(g)) {}
  GenResult next(const GenContext& ctx) override {
    if (left_ <= 0) return GenResult::done();
    GenResult r = g_->next(ctx);
    if (r.is_op()) --left_;
    return r;
  }
  void update(const GenContext& ctx, const Op& e) override { g_->update(ctx, e); }

 private:
  int64_t left_;
  GenPtr g_;
};

class TimeLimit : public Generator {
 public:
  TimeLimit(int64_t d, GenPtr g) : duration_(d), g_(std::move(g)) {}
  GenResult next(const GenContext& ctx) override {
    if (!deadline_) deadline_ = ctx.time_ns + duration_;
    if (ctx.time_ns >= *deadline_) return GenResult::done();
    GenResult r = g_->next(ctx);
    if (r.is_pending()) r.wake_ns = std::min(r.wake_ns, *deadline_);
    return r;
  }
  void update(const GenContext& ctx, const Op& e) override { g_->update(ctx, e); }

 private:
  int64_t duration_;
  std::optional<int64_t> deadline_;
  GenPtr g_;
};

// Spacing of ops: the next op may not start before next_; after each op, next_ advances by
// gap(). Ops are never back-dated: when the generator falls behind (threads busy), the next
// gap counts from the op's real time, so a slow system is not followed by a burst.
class Spaced : public Generator {
 public:
  Spaced(int64_t mean_gap, bool random, GenPtr g)
      : mean_gap_(mean_gap), random_(random), g_(std::move(g)) {}
  GenResult next(const GenContext& ctx) override {
    if (!next_) next_ = ctx.time_ns;
    if (ctx.time_ns < *next_) return GenResult::pending(*next_);
    GenResult r = g_->next(ctx);
    if (r.is_op()) {
      int64_t gap = mean_gap_;
      if (random_) gap = static_cast<int64_t>(ctx.random->unit() * 2.0 * mean_gap_);
      next_ = std::max(*next_, ctx.time_ns - mean_gap_) + gap;
    }
    return r;
  }
  void update(const GenContext& ctx, const Op& e) override { g_->update(ctx, e); }

 private:
  int64_t mean_gap_;
  bool random_;
  std::optional<int64_t> next_;
  GenPtr g_;
};

class Mix : public Generator {
 public:
  explicit Mix(std::vector<GenPtr> gs) : gs_(std::move(gs)) {}
  GenResult next(const GenContext& ctx) override {
    while (!gs_.empty()) {
      size_t i = ctx.random->uniform(gs_.size());
      GenResult r = gs_[i]->next(ctx);
      if (!r.is_done()) return r;
      gs_.erase(gs_.begin() + static_cast<ptrdiff_t>(i));
    }
    return GenResult::done();
  }
  void update(const GenContext& ctx, const Op& e) override {
    for (auto& g : gs_) g->update(ctx, e);
  }

 private:
  std::vector<GenPtr> gs_;
};

class Phases : public Generator {
 public:
  explicit Phases(std::vector<GenPtr> gs) : gs_(std::move(gs)) {}
  GenResult next(const GenContext& ctx) override {
    while (i_ < gs_.size()) {
      if (!gs_[i_]) {
        // Finished; the next phase starts once every thread in scope is free.
        if (!ctx.all_free()) return GenResult::pending();
        ++i_;
        continue;
      }
      GenResult r = gs_[i_]->next(ctx);
      if (!r.is_done()) return r;
      gs_[i_].reset();
    }
    return GenResult::done();
  }
  void update(const GenContext& ctx, const Op& e) override {
    if (i_ < gs_.size() && gs_[i_]) gs_[i_]->update(ctx, e);
  }

 private:
  std::vector<GenPtr> gs_;
  size_t i_ = 0;
};

class Any : public Generator {
 public:
  explicit Any(std::vector<GenPtr> gs) : gs_(std::move(gs)) {}
  GenResult next(const GenContext& ctx) override {
    int64_t wake = kNoWake;
    bool pending = false;
    for (auto& g : gs_) {
      if (!g) continue;
      GenResult r = g->next(ctx);
      if (r.is_op()) return r;
      if (r.is_done()) {
        g.reset();
      } else {
        pending = true;
        wake = std::min(wake, r.wake_ns);
      }
    }
    return pending ? GenResult::pending(wake) : GenResult::done();
  }
  void update(const GenContext& ctx, const Op& e) override {
    for (auto& g : gs_) {
      if (g) g->update(ctx, e);
    }
  }

 private:
  std::vector<GenPtr> gs_;
};

class Restrict : public Generator {
 public:
  Restrict(bool nemesis, GenPtr g) : nemesis_(nemesis), g_(std::move(g)) {}
  GenResult next(const GenContext& ctx) override {
    return g_->next(ctx.restricted([this](int t) { return keep(t); }));
  }
  void update(const GenContext& ctx, const Op& e) override {
    g_->update(ctx.restricted([this](int t) { return keep(t); }), e);
  }

 private:
  bool keep(int t) const { return nemesis_ ? t == kNemesisThread : t != kNemesisThread; }
  bool nemesis_;
  GenPtr g_;
};

class EachThread : public Generator {
 public:
  explicit EachThread(std::function<GenPtr(int)> factory) : factory_(std::move(factory)) {}
  GenResult next(const GenContext& ctx) override {
    int64_t wake = kNoWake;
    bool pending = false;
    for (int t : ctx.threads) {
      auto it = gens_.find(t);
      if (it == gens_.end()) it = gens_.emplace(t, factory_(t)).first;
      if (!it->second) continue;
      if (!ctx.is_free(t)) {
        pending = true;
        continue;
      }
      GenResult r = it->second->next(ctx.restricted([t](int x) { return x == t; }));
      if (r.is_op()) return r;
      if (r.is_done()) {
        it->second.reset();
      } else {
        pending = true;
        wake = std::min(wake, r.wake_ns);
      }
    }
    return pending ? GenResult::pending(wake) : GenResult::done();
  }
  void update(const GenContext& ctx, const Op& e) override {
    for (auto& [t, g] : gens_) {
      if (g) g->update(ctx, e);
    }
  }

 private:
  std::function<GenPtr(int)> factory_;
  std::map<int, GenPtr> gens_;
};

class Cycle : public Generator {
 public:
  Cycle(GenFactory factory, int64_t times) : factory_(std::move(factory)), left_(times) {}
  GenResult next(const GenContext& ctx) override {
    // At most two fresh copies per call, so a copy that is done at once cannot spin forever.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!g_) {
        if (left_ == 0) return GenResult::done();
        if (left_ > 0) --left_;
        g_ = factory_();
      }
      GenResult r = g_->next(ctx);
      if (!r.is_done()) return r;
      g_.reset();
    }
    return GenResult::pending();
  }
  void update(const GenContext& ctx, const Op& e) override {
    if (g_) g_->update(ctx, e);
  }

 private:
  GenFactory factory_;
  int64_t left_;
  GenPtr g_;
};

}  // namespace

GenPtr once(OpTemplate op) { return sequence({std::move(op)}); }
GenPtr sequence(std::vector<OpTemplate> ops) { return std::make_unique<Sequence>(std::move(ops)); }
GenPtr repeat_fn(std::function<OpTemplate(const GenContext&)> fn) {
  return std::make_unique<RepeatFn>(std::move(fn));
}
GenPtr sleep(int64_t duration_ns) { return std::make_unique<Sleep>(duration_ns); }
GenPtr nothing() { return std::make_unique<Nothing>(); }
GenPtr limit(int64_t n, GenPtr g) { return std::make_unique<Limit>(n, std::move(g)); }
GenPtr time_limit(int64_t duration_ns, GenPtr g) {
  return std::make_unique<TimeLimit>(duration_ns, std::move(g));
}
GenPtr stagger(int64_t mean_gap_ns, GenPtr g) {
  return std::make_unique<Spaced>(mean_gap_ns, true, std::move(g));
}
GenPtr rate(double ops_per_s, GenPtr g) {
  if (ops_per_s <= 0) return g;
  return stagger(static_cast<int64_t>(std::llround(1e9 / ops_per_s)), std::move(g));
}
GenPtr delay(int64_t gap_ns, GenPtr g) {
  return std::make_unique<Spaced>(gap_ns, false, std::move(g));
}
GenPtr mix(std::vector<GenPtr> gs) { return std::make_unique<Mix>(std::move(gs)); }
GenPtr phases(std::vector<GenPtr> gs) { return std::make_unique<Phases>(std::move(gs)); }
GenPtr any(std::vector<GenPtr> gs) { return std::make_unique<Any>(std::move(gs)); }
GenPtr each_thread(std::function<GenPtr(int)> factory) {
  return std::make_unique<EachThread>(std::move(factory));
}
GenPtr cycle(GenFactory factory, int64_t times) {
  return std::make_unique<Cycle>(std::move(factory), times);
}
GenPtr clients(GenPtr g) { return std::make_unique<Restrict>(false, std::move(g)); }
GenPtr nemesis(GenPtr g) { return std::make_unique<Restrict>(true, std::move(g)); }
GenPtr clients_and_nemesis(GenPtr client_gen, GenPtr nemesis_gen) {
  std::vector<GenPtr> gs;
  if (nemesis_gen) gs.push_back(nemesis(std::move(nemesis_gen)));
  if (client_gen) gs.push_back(clients(std::move(client_gen)));
  return any(std::move(gs));
}

std::vector<SimulatedOp> simulate(Generator& g, int concurrency, uint64_t seed, int64_t latency_ns,
                                  int64_t max_ops, int64_t max_time_ns) {
  Random random(seed);
  std::vector<int64_t> processes(concurrency);
  for (int i = 0; i < concurrency; ++i) processes[i] = i;
  std::map<int, std::pair<int64_t, Op>> busy;  // thread -> (completion time, invocation)
  std::vector<SimulatedOp> out;
  int64_t now = 0;
  auto context = [&] {
    GenContext ctx;
    ctx.time_ns = now;
    ctx.processes = &processes;
    ctx.random = &random;
    ctx.threads.push_back(kNemesisThread);
    for (int i = 0; i < concurrency; ++i) ctx.threads.push_back(i);
    for (int t : ctx.threads) {
      if (!busy.count(t)) ctx.free_threads.push_back(t);
    }
    return ctx;
  };
  auto complete_due = [&] {
    // Completions due now, in thread order.
    for (auto it = busy.begin(); it != busy.end();) {
      if (it->second.first <= now) {
        Op done = it->second.second;
        done.type = OpType::kOk;
        done.time_ns = now;
        busy.erase(it++);
        g.update(context(), done);
      } else {
        ++it;
      }
    }
  };
  while (static_cast<int64_t>(out.size()) < max_ops && now <= max_time_ns) {
    complete_due();
    GenContext ctx = context();
    GenResult r = g.next(ctx);
    if (r.is_op()) {
      Op inv;
      inv.time_ns = now;
      inv.process = ctx.process_of(r.op.thread);
      inv.f = r.op.op.f;
      inv.value = r.op.op.value;
      out.push_back({now, r.op.thread, inv.process, inv.f, inv.value});
      busy.emplace(r.op.thread, std::make_pair(now + latency_ns, inv));
      g.update(context(), inv);
      continue;
    }
    // Advance the clock to the next wake or completion.
    int64_t next = r.is_pending() ? r.wake_ns : kNoWake;
    for (const auto& [t, b] : busy) next = std::min(next, b.first);
    if (next == kNoWake) break;  // done (or stuck) with nothing in flight
    now = std::max(now, next);
    if (r.is_done() && busy.empty()) break;
  }
  return out;
}

std::string to_string(const SimulatedOp& op) {
  std::ostringstream s;
  s << op.time_ns << " "
    << (op.thread == kNemesisThread ? std::string("nemesis") : "t" + std::to_string(op.thread))
    << " p" << op.process << " " << op.f << " " << json_text(op.value);
  return s.str();
}

}  // namespace faultline
