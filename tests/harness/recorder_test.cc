// HistoryRecorder: streamed, durable within the flush interval, readable after a cut.
#include "harness/recorder.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "harness/formats.h"
#include "harness/run/results.h"

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
  CHECK_THROWS_WITH(r.record(invoke(1, "read", nullptr)), Catch::Contains("/dev/full"));
  CHECK_THROWS(r.close());
}

namespace {

// Runs `body` in a forked child whose files may not grow past `limit_bytes` (RLIMIT_FSIZE,
// SIGXFSZ ignored, so a write past it fails with EFBIG as on a full disk) and returns its exit
// status: 0 when every check in the child held, else the number of the first one that failed.
int in_child_with_file_limit(rlim_t limit_bytes, const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl;
    ::getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = limit_bytes;
    ::setrlimit(RLIMIT_FSIZE, &rl);
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
      rc = 98;
    }
    std::_Exit(rc);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

void raise_file_limit() {
  struct rlimit rl;
  ::getrlimit(RLIMIT_FSIZE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_FSIZE, &rl);
}

}  // namespace

// Issue 14 item 12: a failed write was reported once by sync() while record() went on
// accepting ops, and the next batch was appended after the lost one (a hole in the history).
TEST_CASE("recorder: the first failed write is final, record() throws, no hole after it",
          "[recorder]") {
  fs::path d = temp_dir("full");
  fs::path file = d / "history.jsonl";
  int rc = in_child_with_file_limit(4096, [&] {
    HistoryRecorder r({file.string(), std::chrono::milliseconds(3600'000)});
    int64_t p = 0;
    for (; p < 10; ++p) r.record(invoke(p, "write", p));
    r.sync();  // fits
    const auto kept = fs::file_size(file);
    for (; p < 200; ++p) r.record(invoke(p, "write", std::string(100, 'x')));
    try {
      r.sync();
      return 1;  // the write past the limit must fail
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find("history.jsonl") == std::string::npos) return 2;
    }
    if (fs::file_size(file) < kept) return 3;
    // The disk has room again: nothing may be written after the lost batch.
    raise_file_limit();
    const auto after_failure = fs::file_size(file);
    try {
      r.record(invoke(p, "write", p));
      return 4;  // record() must throw, so the interpreter stops the run
    } catch (const std::runtime_error&) {
    }
    try {
      r.sync();
      return 5;
    } catch (const std::runtime_error&) {
    }
    try {
      r.close();
      return 6;
    } catch (const std::runtime_error&) {
    }
    if (fs::file_size(file) != after_failure) return 7;  // a hole
    return 0;
  });
  CHECK(rc == 0);
  // What was written is a loadable prefix: whole ops 0..k, perhaps a torn last line.
  auto loaded = load_recorded_history(file.string());
  CHECK(loaded.history.size() >= 10);
  for (size_t i = 0; i < loaded.history.size(); ++i) {
    if (loaded.history[i].index != static_cast<int64_t>(i)) FAIL("hole at op " << i);
  }
  fs::remove_all(d);
}

TEST_CASE("recorder: a background flush that fails stops record() too", "[recorder]") {
  fs::path d = temp_dir("full-bg");
  fs::path file = d / "history.jsonl";
  int rc = in_child_with_file_limit(2048, [&] {
    HistoryRecorder r({file.string(), std::chrono::milliseconds(5)});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int64_t p = 0; std::chrono::steady_clock::now() < deadline; ++p) {
      try {
        r.record(invoke(p, "write", std::string(100, 'x')));
      } catch (const std::runtime_error& e) {
        return std::string(e.what()).find("write failed") == std::string::npos ? 2 : 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return 1;  // record() never noticed the flusher's failure
  });
  CHECK(rc == 0);
  fs::remove_all(d);
}

TEST_CASE("write_file_atomic: a failed write throws, keeps the old file, leaves no temp file",
          "[results]") {
  fs::path d = temp_dir("atomic");
  fs::path file = d / "results.json";
  write_file_atomic(file, "old\n");
  int rc = in_child_with_file_limit(1024, [&] {
    try {
      write_file_atomic(file, std::string(8192, 'n'));
      return 1;
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find("results.json") == std::string::npos) return 2;
    }
    return 0;
  });
  CHECK(rc == 0);
  CHECK(read_file(file) == "old\n");
  CHECK_FALSE(fs::exists(d / "results.json.tmp"));
  fs::remove_all(d);
}

TEST_CASE("heal_command names the run directory, absolute and quoted", "[results]") {
  CHECK(run::heal_command("/r/test/20261126T021500") == "faultline heal /r/test/20261126T021500");
  CHECK(run::heal_command("/r/a b/x") == "faultline heal '/r/a b/x'");
  std::string rel = run::heal_command("results/t/1");
  CHECK(rel.rfind("faultline heal /", 0) == 0);
  CHECK(rel.find("/results/t/1") != std::string::npos);
}
