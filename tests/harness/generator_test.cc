// Generator combinators against exact op sequences, driven by the deterministic simulator
// (harness/generator.h: simulate). Seeds are fixed and printed, so a failure reproduces.
#include "harness/generator.h"

#include <catch2/catch.hpp>
#include <map>

#include "harness/nemesis.h"
#include "tests/support/fake_client.h"

using namespace faultline;

namespace {

constexpr int64_t kMs = 1'000'000;

OpTemplate op(const std::string& f, Json value = nullptr) { return {f, std::move(value)}; }

// A leaf whose ops are numbered 0, 1, 2, ... with f "w".
GenPtr counter(const std::string& f = "w") {
  auto n = std::make_shared<int64_t>(0);
  return repeat_fn([n, f](const GenContext&) { return OpTemplate{f, (*n)++}; });
}

std::string render(const std::vector<SimulatedOp>& ops) {
  std::string s;
  for (const auto& o : ops) s += to_string(o) + "\n";
  return s;
}

// Ops as "time f value" lines (threads left out where a test does not care).
std::vector<std::string> timeline(const std::vector<SimulatedOp>& ops) {
  std::vector<std::string> out;
  for (const auto& o : ops)
    out.push_back(std::to_string(o.time_ns / kMs) + " " + o.f + " " + json_text(o.value));
  return out;
}

}  // namespace

TEST_CASE("sequence and limit give exact ops", "[generator]") {
  uint64_t seed = 1;
  INFO("seed " << seed);
  testing::announce_seed(Catch::getResultCapture().getCurrentTestName(), seed);
  auto g = limit(3, counter());
  auto ops = simulate(*g, 2, seed, 10 * kMs);
  INFO(render(ops));
  REQUIRE(timeline(ops) == std::vector<std::string>{"0 w 0", "0 w 1", "10 w 2"});
  // Two threads: the first two ops start at once on distinct threads.
  CHECK(ops[0].thread != ops[1].thread);

  auto s = sequence({op("a"), op("b"), op("c")});
  auto ops2 = simulate(*s, 1, seed, 5 * kMs);
  INFO(render(ops2));
  REQUIRE(timeline(ops2) == std::vector<std::string>{"0 a null", "5 b null", "10 c null"});
}

TEST_CASE("time_limit stops emitting at the deadline", "[generator]") {
  auto g = time_limit(25 * kMs, counter());
  auto ops = simulate(*g, 1, 1, 10 * kMs);
  INFO(render(ops));
  REQUIRE(timeline(ops) == std::vector<std::string>{"0 w 0", "10 w 1", "20 w 2"});
}

TEST_CASE("delay spaces ops exactly, stagger spaces them randomly, reproducibly", "[generator]") {
  auto d = limit(4, delay(7 * kMs, counter()));
  auto ops = simulate(*d, 4, 1, 1 * kMs);
  INFO(render(ops));
  REQUIRE(timeline(ops) == std::vector<std::string>{"0 w 0", "7 w 1", "14 w 2", "21 w 3"});

  uint64_t seed = 42;
  INFO("seed " << seed);
  testing::announce_seed(Catch::getResultCapture().getCurrentTestName(), seed);
  auto s1 = limit(50, stagger(10 * kMs, counter()));
  auto s2 = limit(50, stagger(10 * kMs, counter()));
  auto a = simulate(*s1, 4, seed, 1 * kMs);
  auto b = simulate(*s2, 4, seed, 1 * kMs);
  REQUIRE(a == b);  // same seed, same ops at the same times on the same threads
  // Pinned for this seed: changing Random, stagger or thread choice must be deliberate.
  CHECK(render(std::vector<SimulatedOp>(a.begin(), a.begin() + 3)) ==
        "0 t2 p2 w 0\n7579605 t1 p1 w 1\n26073463 t0 p0 w 2\n");
  REQUIRE(a.size() == 50);
  // Mean gap ~10 ms: 49 gaps in [0, 20) ms each, so the total is well inside (0, 49*20).
  int64_t span = a.back().time_ns - a.front().time_ns;
  CHECK(span > 49 * 5 * kMs);
  CHECK(span < 49 * 15 * kMs);
  for (size_t i = 1; i < a.size(); ++i) {
    CHECK(a[i].time_ns - a[i - 1].time_ns < 20 * kMs + 1);
  }
  auto c = simulate(*limit(50, stagger(10 * kMs, counter())), 4, seed + 1, 1 * kMs);
  CHECK(c != a);

  // rate is stagger at 1/rate overall.
  auto r = simulate(*time_limit(1000 * kMs, rate(100, counter())), 8, seed, 1 * kMs);
  INFO("rate 100/s for 1 s gave " << r.size());
  CHECK(r.size() > 70);
  CHECK(r.size() < 130);
}

TEST_CASE("mix draws from its generators with the context's randomness", "[generator]") {
  uint64_t seed = 3;
  INFO("seed " << seed);
  testing::announce_seed(Catch::getResultCapture().getCurrentTestName(), seed);
  std::vector<GenPtr> gs;
  gs.push_back(limit(2, counter("a")));
  gs.push_back(limit(2, counter("b")));
  auto g = mix(std::move(gs));
  auto ops = simulate(*g, 1, seed, 1 * kMs);
  INFO(render(ops));
  REQUIRE(ops.size() == 4);  // both exhausted, nothing lost
  int as = 0;
  for (const auto& o : ops) as += o.f == "a";
  CHECK(as == 2);
  // The exact interleaving for this seed (pinned: changing Random or mix must be deliberate).
  CHECK(timeline(ops) == std::vector<std::string>{"0 a 0", "1 b 0", "2 a 1", "3 b 1"});
  std::vector<GenPtr> gs2;
  gs2.push_back(limit(2, counter("a")));
  gs2.push_back(limit(2, counter("b")));
  auto again = simulate(*mix(std::move(gs2)), 1, seed, 1 * kMs);
  REQUIRE(again == ops);
}

TEST_CASE("phases wait for every thread to be free before the next phase", "[generator]") {
  std::vector<GenPtr> ps;
  ps.push_back(limit(3, counter("a")));
  ps.push_back(once(op("b")));
  auto g = phases(std::move(ps));
  // 3 threads, latency 10: a0 a1 a2 at 0; b only when all three have completed, at 10.
  auto ops = simulate(*g, 3, 1, 10 * kMs);
  INFO(render(ops));
  REQUIRE(timeline(ops) == std::vector<std::string>{"0 a 0", "0 a 1", "0 a 2", "10 b null"});
}

TEST_CASE("sleep delays what follows it", "[generator]") {
  std::vector<GenPtr> ps;
  ps.push_back(once(op("a")));
  ps.push_back(sleep(50 * kMs));
  ps.push_back(once(op("b")));
  auto ops = simulate(*phases(std::move(ps)), 1, 1, 1 * kMs);
  INFO(render(ops));
  REQUIRE(timeline(ops) == std::vector<std::string>{"0 a null", "51 b null"});
}

TEST_CASE("each_thread gives every thread its own copy", "[generator]") {
  // In scope of the clients only (unscoped, the nemesis thread would get a copy too).
  auto g = clients(each_thread([](int thread) {
    return sequence({op("x", thread), op("y", thread)});
  }));
  auto ops = simulate(*g, 3, 1, 10 * kMs);
  INFO(render(ops));
  REQUIRE(ops.size() == 6);
  for (const auto& o : ops) CHECK(o.value == o.thread);  // each op on its own thread
  REQUIRE(timeline(ops) ==
          std::vector<std::string>{"0 x 0", "0 x 1", "0 x 2", "10 y 0", "10 y 1", "10 y 2"});
}

TEST_CASE("the nemesis stream runs beside the client stream", "[generator]") {
  auto g = time_limit(
      100 * kMs,
      clients_and_nemesis(delay(10 * kMs, counter()),
                          start_stop_cycle(
                              30 * kMs, [](const GenContext&) { return op("start", "n1"); },
                              [](const GenContext&) { return op("stop", nullptr); })));
  auto ops = simulate(*g, 1, 1, 1 * kMs);
  INFO(render(ops));
  // Clients every 10 ms; the nemesis sleeps 30 ms, starts, sleeps 30 ms after the start
  // completed (at 31), stops, and so on; at equal times the nemesis goes first.
  REQUIRE(timeline(ops) == std::vector<std::string>{"0 w 0", "10 w 1", "20 w 2", "30 start \"n1\"",
                                                    "30 w 3", "40 w 4", "50 w 5", "60 w 6",
                                                    "61 stop null", "70 w 7", "80 w 8", "90 w 9",
                                                    "92 start \"n1\""});
  for (const auto& o : ops) {
    CHECK((o.f == "w") == (o.thread != kNemesisThread));
    if (o.thread == kNemesisThread) CHECK(o.process == kNemesisProcess);
  }
}

TEST_CASE("cycle repeats a finite generator", "[generator]") {
  auto g = cycle([] { return sequence({op("a"), op("b")}); }, 3);
  auto ops = simulate(*g, 1, 1, 1 * kMs);
  INFO(render(ops));
  REQUIRE(ops.size() == 6);
  CHECK(ops[4].f == "a");
  CHECK(ops[5].f == "b");
}

TEST_CASE("leaves spread ops over free threads at random, reproducibly", "[generator]") {
  uint64_t seed = 11;
  INFO("seed " << seed);
  testing::announce_seed(Catch::getResultCapture().getCurrentTestName(), seed);
  // Latency 0 and a 1 ms gap: every thread is free for every op.
  auto ops = simulate(*limit(200, delay(kMs, counter())), 5, seed, 0);
  std::map<int, int> per_thread;
  for (const auto& o : ops) ++per_thread[o.thread];
  CHECK(per_thread.size() == 5);
  for (const auto& [t, n] : per_thread) CHECK(n > 20);
  CHECK(simulate(*limit(200, delay(kMs, counter())), 5, seed, 0) == ops);
}

TEST_CASE("any and clients/nemesis scopes", "[generator]") {
  // A client-scoped generator never uses the nemesis thread, a nemesis-scoped one only it.
  auto c = simulate(*clients(limit(5, counter())), 2, 1, kMs);
  for (const auto& o : c) CHECK(o.thread >= 0);
  auto n = simulate(*nemesis(limit(3, counter())), 2, 1, kMs);
  REQUIRE(n.size() == 3);
  for (const auto& o : n) CHECK(o.thread == kNemesisThread);
  CHECK(timeline(n) == std::vector<std::string>{"0 w 0", "1 w 1", "2 w 2"});
}
