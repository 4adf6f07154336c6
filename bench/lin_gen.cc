// Generates synthetic kv histories for the linearizability benchmarks, valid by construction:
// C clients issue get/put/append on K keys; each op takes effect at a random instant between
// its invocation and its completion, against an in-memory store. With --stale, one get (about
// half-way) returns the key's previous value although the write that replaced it completed
// before the get was invoked: one injected stale read, so the history is not linearizable.
//   lin_gen --clients 50 --keys 10 --ops 10000 [--seed 1] [--stale] [--format kv|jsonl] > out
//
// --shape heavy: what real clusters under faults produce (and Porcupine's c50 data shows):
// closed-loop clients, each op's latency exponential (mean 1 ms) with one op in ten 20 times
// slower (stuck behind an election or a partition), an exponential think time (mean 0.2 ms)
// between a client's ops, gets and puts only (half each), every put's value distinct. A few
// long ops then overlap thousands of others.
//
// --shape heavy-cas: the same clients and latencies on cas registers (Jepsen's cas-register
// workload, but every written value distinct): a third each of reads, writes and cas ops; a
// cas compares with the value its key held when it was invoked and fails (:fail) when another
// write got there first. EDN with Jepsen's [key value] tuples; check with -m cas-register.
// --values N draws written values from 0..N-1 instead (Jepsen's own register workload writes
// (rand-int 5)): values repeat, and the search decides the keys.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <vector>

namespace {

struct Pending {
  bool active = false, applied = false;
  int f = 0;  // 0 get, 1 put, 2 append
  int key = 0;
  std::string arg, result;
  long invoked_at = 0;
};

// One op of the heavy shape, on the simulated clock (ns).
struct Timed {
  int client, key;
  bool put;
  double invoke, effect, complete;
  std::string arg, result;
  bool cas = false, failed = false;  // heavy-cas: a cas (put is then true), and its outcome
  std::string compare;
};

void emit_line(bool jsonl, long index, int client, bool invoke, const char* f, int key,
               const std::string* v) {
  if (jsonl) {
    std::printf(
        "{\"index\":%ld,\"process\":%d,\"type\":\"%s\",\"f\":\"%s\",\"key\":\"%d\",\"value\":%s%s%"
        "s}\n",
        index, client, invoke ? "invoke" : "ok", f, key, v ? "\"" : "null", v ? v->c_str() : "",
        v ? "\"" : "");
  } else {
    std::printf("{:process %d, :type :%s, :f :%s, :key \"%d\", :value %s%s%s}\n", client,
                invoke ? "invoke" : "ok", f, key, v ? "\"" : "nil", v ? v->c_str() : "",
                v ? "\"" : "");
  }
}

int heavy(int clients, int keys, long ops, std::mt19937_64& rng, bool stale, bool jsonl,
          bool cas_shape, long values) {
  std::exponential_distribution<double> latency(1.0 / 1e6), think(1.0 / 2e5);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<Timed> all;
  all.reserve(static_cast<size_t>(ops));
  using Next = std::pair<double, int>;  // (time the client invokes next, client)
  std::priority_queue<Next, std::vector<Next>, std::greater<>> next;
  for (int c = 0; c < clients; ++c) next.emplace(think(rng), c);
  while (static_cast<long>(all.size()) < ops) {
    auto [t, c] = next.top();
    next.pop();
    Timed o;
    o.client = c;
    o.key = static_cast<int>(rng() % keys);
    if (cas_shape) {
      const auto kind = rng() % 3;
      o.put = kind != 0;
      o.cas = kind == 2;
    } else {
      o.put = rng() % 2 == 0;
    }
    double d = latency(rng);
    if (rng() % 10 == 0) d *= 20;
    o.invoke = t;
    o.effect = t + unit(rng) * d;
    o.complete = t + d;
    if (o.put) {
      o.arg = cas_shape ? std::to_string(values > 0 ? static_cast<long>(rng() % values)
                                                    : static_cast<long>(all.size()) + 1)
                        : "x " + std::to_string(c) + " " + std::to_string(all.size()) + " y";
    }
    next.emplace(o.complete + think(rng), c);
    all.push_back(std::move(o));
  }
  // Effects in their order against the store; the stale read, if asked, half-way.
  std::vector<size_t> by_effect(all.size());
  for (size_t i = 0; i < all.size(); ++i) by_effect[i] = i;
  std::sort(by_effect.begin(), by_effect.end(),
            [&](size_t a, size_t b) { return all[a].effect < all[b].effect; });
  const std::string initial = cas_shape ? "nil" : "";
  std::vector<std::string> value(static_cast<size_t>(keys), initial),
      previous(static_cast<size_t>(keys), initial);
  if (cas_shape) {
    // A cas compares with the value its key held when it was invoked: invocations and effects
    // in time order.
    std::vector<std::pair<double, size_t>> moments;  // (time, op * 2 + is effect)
    moments.reserve(all.size() * 2);
    for (size_t i = 0; i < all.size(); ++i) {
      if (!all[i].cas) continue;
      moments.emplace_back(all[i].invoke, i * 2);
    }
    for (size_t i : by_effect) {
      if (all[i].put) moments.emplace_back(all[i].effect, i * 2 + 1);
    }
    std::sort(moments.begin(), moments.end());
    std::vector<std::string> held(static_cast<size_t>(keys), initial);
    for (const auto& [t, m] : moments) {
      Timed& o = all[m / 2];
      const auto k = static_cast<size_t>(o.key);
      if (m % 2 == 0) {
        o.compare = held[k];
      } else if (o.cas && held[k] != o.compare) {
        o.failed = true;
      } else {
        held[k] = o.arg;
      }
    }
  }
  // Per key: the invocation and completion of the put whose value it holds, and the completion
  // of the one before. The stale read returns the one before only when that put completed
  // before the current one was invoked, and the current one before the get was invoked: no
  // order of overlapping puts can then make it legal.
  std::vector<double> cur_invoke(static_cast<size_t>(keys), -1),
      cur_done(static_cast<size_t>(keys), -1), prev_done(static_cast<size_t>(keys), -1);
  bool injected = false;
  for (size_t n = 0; n < by_effect.size(); ++n) {
    Timed& o = all[by_effect[n]];
    const auto k = static_cast<size_t>(o.key);
    if (o.put && o.failed) continue;
    if (o.put) {
      previous[k] = value[k];
      value[k] = o.arg;
      prev_done[k] = cur_done[k];
      cur_invoke[k] = o.invoke;
      cur_done[k] = o.complete;
    } else {
      o.result = value[k];
      if (stale && !injected && n > by_effect.size() / 2 && prev_done[k] >= 0 &&
          prev_done[k] < cur_invoke[k] && cur_done[k] < o.invoke) {
        o.result = previous[k];
        injected = true;
        std::fprintf(stderr, "lin_gen: stale read injected (client %d, key %d)\n", o.client, o.key);
      }
    }
  }
  // Invocations and completions in time order.
  std::vector<std::pair<double, long>> events;  // (time, op * 2 + completes)
  events.reserve(all.size() * 2);
  for (size_t i = 0; i < all.size(); ++i) {
    events.emplace_back(all[i].invoke, static_cast<long>(i) * 2);
    events.emplace_back(all[i].complete, static_cast<long>(i) * 2 + 1);
  }
  std::sort(events.begin(), events.end());
  long index = 0;
  for (const auto& [t, e] : events) {
    const Timed& o = all[static_cast<size_t>(e / 2)];
    const bool invoke = e % 2 == 0;
    if (cas_shape) {
      const char* type = invoke ? "invoke" : o.failed ? "fail" : "ok";
      const std::string v = o.cas    ? "[" + o.compare + " " + o.arg + "]"
                            : o.put  ? o.arg
                            : invoke ? "nil"
                                     : o.result;
      std::printf("{:process %d, :type :%s, :f :%s, :value [%d %s]}\n", o.client, type,
                  o.cas   ? "cas"
                  : o.put ? "write"
                          : "read",
                  o.key, v.c_str());
      continue;
    }
    const std::string* v = o.put ? &o.arg : (invoke ? nullptr : &o.result);
    emit_line(jsonl, index++, o.client, invoke, o.put ? "put" : "get", o.key, v);
  }
  if (stale && !injected) std::fprintf(stderr, "lin_gen: no chance to inject a stale read\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int clients = 10, keys = 10;
  long ops = 10000, values = 0;
  unsigned long seed = 1;
  bool stale = false, jsonl = false, heavy_shape = false, cas_shape = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] {
      return i + 1 < argc
                 ? argv[++i]
                 : (std::fprintf(stderr, "%s needs a value\n", a.c_str()), std::exit(254), argv[0]);
    };
    if (a == "--clients")
      clients = std::atoi(next());
    else if (a == "--keys")
      keys = std::atoi(next());
    else if (a == "--ops")
      ops = std::atol(next());
    else if (a == "--seed")
      seed = std::strtoul(next(), nullptr, 10);
    else if (a == "--values")
      values = std::atol(next());
    else if (a == "--stale")
      stale = true;
    else if (a == "--format")
      jsonl = std::string(next()) == "jsonl";
    else if (a == "--shape") {
      const std::string shape = next();
      heavy_shape = shape == "heavy" || shape == "heavy-cas";
      cas_shape = shape == "heavy-cas";
    } else {
      std::fprintf(
          stderr,
          "usage: lin_gen --clients C --keys K --ops N [--seed S] [--stale] [--format kv|jsonl] "
          "[--shape uniform|heavy|heavy-cas] [--values N]\n");
      return 254;
    }
  }
  std::fprintf(stderr, "lin_gen: seed %lu\n", seed);
  std::mt19937_64 rng(seed);
  if (heavy_shape) return heavy(clients, keys, ops, rng, stale, jsonl, cas_shape, values);
  std::vector<std::string> value(keys), previous(keys);
  std::vector<long> replaced_at(keys, -1);  // step at which the op that wrote value[k] completed
  std::vector<Pending> p(clients);
  long issued = 0, step = 0, index = 0;
  bool injected = false;
  static const char* names[] = {"get", "put", "append"};
  auto emit = [&](int c, bool invoke, const Pending& x) {
    const char* f = names[x.f];
    std::string k = std::to_string(x.key);
    const std::string& v =
        invoke ? (x.f == 0 ? std::string() : x.arg) : (x.f == 0 ? x.result : x.arg);
    bool nil = invoke && x.f == 0;
    if (jsonl) {
      std::printf(
          "{\"index\":%ld,\"process\":%d,\"type\":\"%s\",\"f\":\"%s\",\"key\":\"%s\",\"value\":%s%"
          "s%s}\n",
          index, c, invoke ? "invoke" : "ok", f, k.c_str(), nil ? "null" : "\"",
          nil ? "" : v.c_str(), nil ? "" : "\"");
    } else {
      std::printf("{:process %d, :type :%s, :f :%s, :key \"%s\", :value %s%s%s}\n", c,
                  invoke ? "invoke" : "ok", f, k.c_str(), nil ? "nil" : "\"", nil ? "" : v.c_str(),
                  nil ? "" : "\"");
    }
    ++index;
  };
  long active = 0;
  while (issued < ops || active > 0) {
    ++step;
    int c = static_cast<int>(rng() % clients);
    Pending& x = p[c];
    if (!x.active) {
      if (issued >= ops) continue;
      x = Pending{};
      x.active = true;
      unsigned r = rng() % 10;
      x.f = r < 5 ? 0 : r < 7 ? 1 : 2;
      x.key = static_cast<int>(rng() % keys);
      x.arg = "x " + std::to_string(c) + " " + std::to_string(issued) + " y";
      x.invoked_at = step;
      ++issued;
      ++active;
      emit(c, true, x);
    } else if (!x.applied) {
      x.applied = true;
      std::string& v = value[x.key];
      if (x.f == 0) {
        x.result = v;
        if (stale && !injected && issued > ops / 2 && replaced_at[x.key] >= 0 &&
            replaced_at[x.key] < x.invoked_at && previous[x.key] != v) {
          x.result = previous[x.key];
          injected = true;
          std::fprintf(stderr, "lin_gen: stale read injected at op %ld\n", index);
        }
      } else {
        previous[x.key] = v;
        replaced_at[x.key] = -1;
        v = x.f == 1 ? x.arg : v + x.arg;
      }
    } else {
      if (x.f != 0) replaced_at[x.key] = step;
      emit(c, false, x);
      x.active = false;
      --active;
    }
  }
  if (stale && !injected) std::fprintf(stderr, "lin_gen: no chance to inject a stale read\n");
  return 0;
}
