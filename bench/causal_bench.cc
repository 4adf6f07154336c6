// Benchmarks of the causal checkers on simulated causal executions (bench/causal_gen.h).
//
//   causal_bench causal [ops=100000] [runs=3] [model=CC|CCv|CM]
//   causal_bench txn-causal [txns=100000] [runs=3] [model=causal|read-atomic|read-committed]
//   causal_bench write causal|txn-causal N FILE [seed] [model]   (writes a jsonl history)
//
// causal: one register operation per transaction, 10 processes, 20 keys; the convergent
// simulation for CC and CCv, the non-convergent one (valid for CM) for CM. txn-causal: 10
// processes, 1000 keys, 2-8 micro-operations per transaction (half reads), convergent.
// Each run: generate (not timed), write jsonl text (not timed), parse it with the harness
// reader (timed: "parse"), check (timed: "check"). Prints every run and the medians, and the
// peak resident set size of the process.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/causal_gen.h"
#include "harness/checker.h"
#include "harness/formats.h"

using namespace faultline;

namespace {

using bench::median;
using bench::peak_rss_mb;
using bench::seconds_since;

bench::CausalGenOptions options_for(const std::string& what, int64_t n, uint64_t seed,
                                    const std::string& model) {
  bench::CausalGenOptions o;
  o.seed = seed;
  o.txns = n;
  o.processes = 10;
  o.deliver_fraction = 0.7;
  if (what == "causal") {
    o.keys = 20;
    o.min_mops = o.max_mops = 1;
    o.convergent = model != "CM";
  } else {
    o.keys = 1000;
    o.min_mops = 2;
    o.max_mops = 8;
    o.convergent = true;
  }
  return o;
}

std::string jsonl_text(const std::vector<Op>& ops) {
  std::ostringstream out;
  for (const auto& op : ops) write_jsonl_op(out, op);
  return out.str();
}

int run(const std::string& what, int64_t n, int runs, std::string model) {
  if (model.empty()) model = what == "causal" ? "CC" : "causal";
  Json options = {{"consistency-model", model}};
  std::vector<double> parse, check, total;
  for (int r = 0; r < runs; ++r) {
    const uint64_t seed = static_cast<uint64_t>(r + 1);
    std::string text =
        jsonl_text(bench::generate_causal_history(options_for(what, n, seed, model)));
    auto t0 = std::chrono::steady_clock::now();
    LoadedHistory loaded = load_history_text(text, "bench", HistoryFormat::kJsonl);
    text.clear();
    text.shrink_to_fit();
    const double p = seconds_since(t0);
    auto c = CheckerRegistry::get("checker", what)(options);
    auto t1 = std::chrono::steady_clock::now();
    CheckResult res = c->check(loaded.history, CheckContext{});
    const double k = seconds_since(t1);
    parse.push_back(p);
    check.push_back(k);
    total.push_back(p + k);
    std::cout << what << " " << model << " n=" << n << " seed=" << seed
              << " ops=" << loaded.history.size() << " parse=" << p << "s check=" << k
              << "s valid=" << to_string(res.validity) << " ("
              << res.details.value("summary", std::string()) << ")\n";
  }
  const double mt = median(total);
  std::cout << "MEDIAN " << what << " " << model << " n=" << n << " runs=" << runs
            << " parse=" << median(parse) << "s check=" << median(check) << "s total=" << mt
            << "s rate=" << static_cast<int64_t>(static_cast<double>(n) / mt) << "/s (check only "
            << static_cast<int64_t>(static_cast<double>(n) / median(check))
            << "/s) peak_rss=" << peak_rss_mb() << "MB\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "usage: causal_bench causal|txn-causal [n] [runs] [model]\n"
                 "       causal_bench write causal|txn-causal N FILE [seed] [model]\n";
    return 254;
  }
  if (args[0] == "write") {
    if (args.size() < 4) return 254;
    const uint64_t seed = args.size() > 4 ? std::stoull(args[4]) : 1;
    std::ofstream out(args[3]);
    const std::string model = args.size() > 5 ? args[5] : "";
    out << jsonl_text(
        bench::generate_causal_history(options_for(args[1], std::stoll(args[2]), seed, model)));
    return 0;
  }
  const std::string w = args[0];
  if (w != "causal" && w != "txn-causal") return 254;
  const int64_t n = args.size() > 1 ? std::stoll(args[1]) : 100000;
  const int runs = args.size() > 2 ? std::stoi(args[2]) : 3;
  return run(w, n, runs, args.size() > 3 ? args[3] : "");
}
