// Generates synthetic kv histories for the linearizability benchmarks, valid by construction:
// C clients issue get/put/append on K keys; each op takes effect at a random instant between
// its invocation and its completion, against an in-memory store. With --stale, one get (about
// half-way) returns the key's previous value although the write that replaced it completed
// before the get was invoked: one injected stale read, so the history is not linearizable.
//   lin_gen --clients 50 --keys 10 --ops 10000 [--seed 1] [--stale] [--format kv|jsonl] > out
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
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

}  // namespace

int main(int argc, char** argv) {
  int clients = 10, keys = 10;
  long ops = 10000;
  unsigned long seed = 1;
  bool stale = false, jsonl = false;
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
    else if (a == "--stale")
      stale = true;
    else if (a == "--format")
      jsonl = std::string(next()) == "jsonl";
    else {
      std::fprintf(
          stderr,
          "usage: lin_gen --clients C --keys K --ops N [--seed S] [--stale] [--format kv|jsonl]\n");
      return 254;
    }
  }
  std::fprintf(stderr, "lin_gen: seed %lu\n", seed);
  std::mt19937_64 rng(seed);
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
