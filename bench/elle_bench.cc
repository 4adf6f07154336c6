// Benchmarks of the transactional and causal checkers on generated histories (elle_gen.h).
//
//   elle_bench list-append [txns=1000000] [runs=3]
//   elle_bench rw-register [txns=10000] [runs=3] [model=serializable]   (version order unknown)
//   elle_bench causal [ops=100000] [runs=3]
//   elle_bench write list-append|rw-register TXNS FILE [seed]   (writes a jsonl history)
//   elle_bench file list-append|rw-register|causal FILE [runs] [model]   (checks a file)
//   elle_bench read FILE [runs] [threads...]   (the jsonl reader alone, by thread count)
//
// Each run: generate (not timed), write jsonl text (not timed), parse it with the harness
// reader (timed: "parse"), check (timed: "check"). Prints every run and the medians, and the
// peak resident set size of the process.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/elle_gen.h"
#include "harness/checker.h"
#include "harness/formats.h"

using namespace faultline;

namespace {

using bench::median;
using bench::peak_rss_mb;
using bench::seconds_since;

bench::TxnGenOptions options_for(const std::string& workload, int64_t n, uint64_t seed) {
  bench::TxnGenOptions o;
  o.workload = workload == "causal" ? "rw-register" : workload;
  o.txns = n;
  o.seed = seed;
  if (workload == "list-append") {
    o.processes = 10;
    o.active_keys = 10;
    o.max_writes_per_key = 32;
    o.fail_fraction = 0.02;
    o.info_fraction = 0.01;
  } else if (workload == "rw-register") {
    o.processes = 10;
    o.active_keys = 10;
    o.max_writes_per_key = 16;
    o.fail_fraction = 0.02;
    o.info_fraction = 0.0;
  } else {  // causal: single-op register transactions
    o.processes = 10;
    o.active_keys = 20;
    o.max_writes_per_key = 64;
    o.min_mops = o.max_mops = 1;
  }
  return o;
}

std::string jsonl_text(const std::vector<Op>& ops) {
  std::ostringstream out;
  for (const auto& op : ops) write_jsonl_op(out, op);
  return out.str();
}

int run(const std::string& workload, int64_t n, int runs, const std::string& model) {
  std::string checker = workload == "causal" ? "causal" : workload;
  Json options = Json::object();
  if (workload == "rw-register")
    options["consistency-model"] = model.empty() ? "serializable" : model;
  if (workload == "list-append") options["consistency-model"] = "strict-serializable";
  std::vector<double> parse, check, total;
  for (int r = 0; r < runs; ++r) {
    const uint64_t seed = static_cast<uint64_t>(r + 1);
    std::string text = jsonl_text(bench::generate_txn_history(options_for(workload, n, seed)));
    auto t0 = std::chrono::steady_clock::now();
    std::vector<Op> ops = read_ops(text, HistoryFormat::kJsonl, "bench");
    const double read = seconds_since(t0);
    LoadedHistory loaded{History::build_or_throw(std::move(ops), "bench"), HistoryFormat::kJsonl};
    text.clear();
    text.shrink_to_fit();
    const double p = seconds_since(t0);
    std::cout << "  read_ops=" << read << "s build=" << p - read << "s\n";
    auto c = CheckerRegistry::get("checker", checker)(options);
    auto t1 = std::chrono::steady_clock::now();
    CheckResult res = c->check(loaded.history, CheckContext{});
    const double k = seconds_since(t1);
    parse.push_back(p);
    check.push_back(k);
    total.push_back(p + k);
    std::cout << workload << " n=" << n << " seed=" << seed << " ops=" << loaded.history.size()
              << " parse=" << p << "s check=" << k << "s valid=" << to_string(res.validity) << " ("
              << res.details.value("summary", std::string()) << ")\n";
    if (res.details.contains("stats") && res.details["stats"].contains("polygraph")) {
      std::cout << "  polygraph " << res.details["stats"]["polygraph"].dump() << "\n";
    }
  }
  const double mt = median(total);
  std::cout << "MEDIAN " << workload << " n=" << n << " runs=" << runs << " parse=" << median(parse)
            << "s check=" << median(check) << "s total=" << mt
            << "s rate=" << static_cast<int64_t>(static_cast<double>(n) / mt) << "/s (check only "
            << static_cast<int64_t>(static_cast<double>(n) / median(check))
            << "/s) peak_rss=" << peak_rss_mb() << "MB\n";
  return 0;
}

}  // namespace

// Loads FILE with the harness (as `faultline check` does) and checks it; prints the times.
int run_file(const std::string& workload, const std::string& file, int runs,
             const std::string& model) {
  Json options = Json::object();
  if (workload != "causal") {
    options["consistency-model"] = model.empty() ? "strict-serializable" : model;
  }
  std::vector<double> parse, check, total;
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    LoadedHistory loaded = load_history_file(file, HistoryFormat::kJsonl);
    const double p = seconds_since(t0);
    auto c = CheckerRegistry::get("checker", workload)(options);
    auto t1 = std::chrono::steady_clock::now();
    CheckResult res = c->check(loaded.history, CheckContext{});
    const double k = seconds_since(t1);
    parse.push_back(p);
    check.push_back(k);
    total.push_back(p + k);
    std::cout << workload << " file=" << file << " ops=" << loaded.history.size() << " parse=" << p
              << "s check=" << k << "s valid=" << to_string(res.validity) << " ("
              << res.details.value("summary", std::string()) << ")\n";
  }
  std::cout << "MEDIAN " << workload << " file=" << file << " runs=" << runs
            << " parse=" << median(parse) << "s check=" << median(check)
            << "s total=" << median(total) << "s peak_rss=" << peak_rss_mb() << "MB\n";
  return 0;
}

int run_read(const std::string& file, int runs, std::vector<size_t> threads) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string text = std::move(buf).str();
  if (threads.empty()) threads = {1, 2};
  for (size_t t : threads) {
    std::vector<double> times;
    size_t n = 0;
    for (int r = 0; r < runs; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      std::vector<Op> ops = read_jsonl_parallel(text, file, t);
      times.push_back(seconds_since(t0));
      n = ops.size();
      if (std::getenv("ELLE_BENCH_LEAK"))
        new std::vector<Op>(std::move(ops));  // profile reading alone
    }
    std::cout << "MEDIAN read threads=" << t << " ops=" << n << " runs=" << runs
              << " read_ops=" << median(times) << "s\n";
  }
  return 0;
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "usage: elle_bench list-append|rw-register|causal [n] [runs]\n"
                 "       elle_bench write list-append|rw-register|causal N FILE [seed]\n";
    return 254;
  }
  if (args[0] == "write") {
    if (args.size() < 4) return 254;
    const uint64_t seed = args.size() > 4 ? std::stoull(args[4]) : 1;
    std::ofstream out(args[3]);
    out << jsonl_text(bench::generate_txn_history(options_for(args[1], std::stoll(args[2]), seed)));
    return 0;
  }
  if (args[0] == "read") {
    if (args.size() < 2) return 254;
    std::vector<size_t> threads;
    for (size_t i = 3; i < args.size(); ++i) threads.push_back(std::stoul(args[i]));
    return run_read(args[1], args.size() > 2 ? std::stoi(args[2]) : 3, threads);
  }
  if (args[0] == "file") {
    if (args.size() < 3) return 254;
    return run_file(args[1], args[2], args.size() > 3 ? std::stoi(args[3]) : 3,
                    args.size() > 4 ? args[4] : "");
  }
  const std::string w = args[0];
  const int64_t n = args.size() > 1      ? std::stoll(args[1])
                    : w == "list-append" ? 1000000
                    : w == "rw-register" ? 10000
                                         : 100000;
  const int runs = args.size() > 2 ? std::stoi(args[2]) : 3;
  return run(w, n, runs, args.size() > 3 ? args[3] : "");
}
