// HistoryRecorder: streamed, durable within the flush interval, readable after a cut.
#include "harness/recorder.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness/formats.h"
#include "harness/results.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("faultline-rec-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Op invoke(int64_t process, const std::string& f, Json value) {
  Op op;
  op.process = process;
  op.type = OpType::kInvoke;
  op.f = f;
  op.value = std::move(value);
  op.time_ns = process * 10;
  return op;
}

Op ok_of(Op op) {
  op.type = OpType::kOk;
  return op;
}

size_t lines_in(const fs::path& p) {
  std::string text = read_file(p);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("recorder assigns indices and writes loadable jsonl", "[recorder]") {
  fs::path d = temp_dir("basic");
  fs::path file = d / "history.jsonl";
  {
    HistoryRecorder r({file.string()});
    for (int64_t p = 0; p < 100; ++p) {
      CHECK(r.record(invoke(p, "write", p)) == 2 * p);
      CHECK(r.record(ok_of(invoke(p, "write", p))) == 2 * p + 1);
    }
    r.sync();
    CHECK(lines_in(file) == 200);
    r.close();
    auto s = r.stats();
    CHECK(s.ops == 200);
    CHECK(s.written == 200);
  }
  auto loaded = load_history_file(file.string());
  REQUIRE(loaded.history.size() == 200);
  CHECK(loaded.history[199].value == 99);
  fs::remove_all(d);
}

TEST_CASE("recorder flushes within its interval without being asked", "[recorder]") {
  fs::path d = temp_dir("interval");
  fs::path file = d / "history.jsonl";
  HistoryRecorder r({file.string(), std::chrono::milliseconds(100)});
  r.record(invoke(0, "read", nullptr));
  // Poll for up to 1 s; the contract is 100 ms, give the machine slack.
  auto t0 = std::chrono::steady_clock::now();
  while (lines_in(file) < 1 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  INFO("first line on disk after " << ms << " ms");
  CHECK(lines_in(file) == 1);
  CHECK(ms < 400);
  r.close();
  fs::remove_all(d);
}

TEST_CASE("a torn last line is reported and skipped, a bad middle line is an error", "[recorder]") {
  fs::path d = temp_dir("torn");
  fs::path file = d / "history.jsonl";
  std::string good =
      "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n"
      "{\"index\":1,\"time\":2,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":3}\n";
  std::ofstream(file, std::ios::binary) << good << "{\"index\":2,\"time\":3,\"pro";
  auto rec = load_recorded_history(file.string(), "history.jsonl");
  CHECK(rec.torn_last_line);
  REQUIRE(rec.warnings.size() == 1);
  CHECK(rec.warnings[0] == "history.jsonl:3: torn last line (24 bytes) skipped");
  CHECK(rec.history.size() == 2);

  // Cut exactly after a newline: nothing torn.
  std::ofstream(file, std::ios::binary) << good;
  auto whole = load_recorded_history(file.string());
  CHECK(!whole.torn_last_line);
  CHECK(whole.warnings.empty());

  // A complete last line that is not JSON (a cut batch followed by a newline) is skipped too.
  std::ofstream(file, std::ios::binary) << good << "{\"index\":2,\"ti\n";
  auto cut = load_recorded_history(file.string(), "h");
  CHECK(cut.torn_last_line);
  CHECK(cut.history.size() == 2);

  // A bad line in the middle is not a cut: it is an error with its line.
  std::ofstream(file, std::ios::binary) << "{\"index\":0,\"ti\n" << good;
  CHECK_THROWS_AS(load_recorded_history(file.string()), HistoryError);

  // An invocation with no completion (the controller was killed mid-op) loads as open.
  std::ofstream(file, std::ios::binary)
      << good
      << "{\"index\":2,\"time\":3,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n";
  auto open = load_recorded_history(file.string());
  CHECK(open.history.counts().open == 1);
  fs::remove_all(d);
}

TEST_CASE("recorder keeps up with many threads", "[recorder]") {
  fs::path d = temp_dir("threads");
  fs::path file = d / "history.jsonl";
  {
    HistoryRecorder r({file.string()});
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t) {
      ts.emplace_back([&r, t] {
        for (int i = 0; i < 5000; ++i) {
          r.record(invoke(t, "w", i));
          r.record(ok_of(invoke(t, "w", i)));
        }
      });
    }
    for (auto& t : ts) t.join();
    r.close();
  }
  auto loaded = load_history_file(file.string());
  CHECK(loaded.history.size() == 80000);
  for (size_t i = 0; i < loaded.history.size(); ++i) {
    if (loaded.history[i].index != static_cast<int64_t>(i)) FAIL("index out of order at " << i);
  }
  fs::remove_all(d);
}

TEST_CASE("a failing disk is reported by sync and close", "[recorder]") {
  if (!fs::exists("/dev/full")) {
    WARN("SKIPPED: no /dev/full");
    return;
  }
  HistoryRecorder r({"/dev/full"});
  r.record(invoke(0, "read", nullptr));
  CHECK_THROWS_WITH(r.sync(), Catch::Contains("write failed"));
  r.record(invoke(1, "read", nullptr));
  CHECK_THROWS(r.close());
}
