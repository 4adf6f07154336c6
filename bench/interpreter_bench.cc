// Ops/s the interpreter and the recorder sustain: a no-op client, 50 workers, unlimited rate,
// history.jsonl streamed with fdatasync at least every 100 ms (the runner's settings).
//
//   interpreter_bench [--workers 50] [--seconds 3] [--runs 5] [--dir /tmp] [--no-fsync]
//
// Prints each run and the median ops/s (an op = an invocation and its completion, so the
// recorder writes two lines per op). Target: >= 100k ops/s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/formats.h"
#include "harness/recorder.h"
#include "harness/run/interpreter.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

class NoopClient : public Client {
 public:
  void open(const ClientContext&) override {}
  Completion invoke(const Op& op, std::chrono::steady_clock::time_point) override {
    return Completion::ok(op.value);
  }
};

}  // namespace

int main(int argc, char** argv) {
  int workers = 50;
  double seconds = 3;
  int runs = 5;
  bool fsync = true;
  std::string dir = fs::temp_directory_path().string();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--workers")
      workers = std::stoi(next());
    else if (a == "--seconds")
      seconds = std::stod(next());
    else if (a == "--runs")
      runs = std::stoi(next());
    else if (a == "--dir")
      dir = next();
    else if (a == "--no-fsync")
      fsync = false;
    else {
      std::fprintf(stderr,
                   "usage: %s [--workers N] [--seconds S] [--runs N] [--dir D] [--no-fsync]\n",
                   argv[0]);
      return 2;
    }
  }
  fs::path path = fs::path(dir) / ("faultline-bench-" + std::to_string(::getpid()) + ".jsonl");
  std::printf(
      "interpreter_bench: %d workers, no-op client, %.1f s per run, %d runs, fsync %s, %s\n",
      workers, seconds, runs, fsync ? "on (every flush)" : "off", path.c_str());
  std::vector<double> rates;
  for (int run = 0; run < runs; ++run) {
    HistoryRecorder::Options ro;
    ro.path = path.string();
    ro.fsync = fsync;
    HistoryRecorder recorder(ro);  // the runner's settings
    run::InterpreterOptions o;
    o.concurrency = workers;
    o.nodes = {"n1", "n2", "n3"};
    o.new_client = [] { return std::make_unique<NoopClient>(); };
    o.seed = 1 + static_cast<uint64_t>(run);
    run::Interpreter interp(o, recorder);
    auto counter = std::make_shared<int64_t>(0);
    auto g = time_limit(static_cast<int64_t>(seconds * 1e9),
                        clients(repeat_fn([counter](const GenContext&) {
                          return OpTemplate{"write", Json::array({(*counter) % 100, (*counter)++})};
                        })));
    auto t0 = std::chrono::steady_clock::now();
    interp.run(*g);
    recorder.close();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto c = interp.counts();
    auto s = recorder.stats();
    double rate = static_cast<double>(c.ok) / secs;
    rates.push_back(rate);
    std::printf(
        "run %d: %lld ops in %.2f s = %.0f ops/s; %lld lines, %.1f MB, %lld batches, longest "
        "write+sync %.1f ms, longest gap between syncs %.1f ms\n",
        run + 1, static_cast<long long>(c.ok), secs, rate, static_cast<long long>(s.written),
        s.bytes / 1e6, static_cast<long long>(s.batches), s.max_batch_ms, s.max_sync_gap_ms);
    if (run == 0) {
      // The streamed file must load as a valid history.
      auto loaded = load_history_file(path.string());
      std::printf("       history.jsonl loads: %zu ops\n", loaded.history.size());
    }
  }
  fs::remove(path);
  std::sort(rates.begin(), rates.end());
  double median = rates[rates.size() / 2];
  std::printf("median: %.0f ops/s (target >= 100000): %s\n", median,
              median >= 100000 ? "met" : "NOT met");
  return 0;
}
