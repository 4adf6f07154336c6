// The small helpers the adapters share (clusters/common/nodes.h, text.h, wait.h): a node's own
// address from $SSH_CONNECTION, its directory, the SSH check, trim, the polling loop of the
// readiness waits and the log tail their errors end with.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "clusters/common/nodes.h"
#include "clusters/common/text.h"
#include "clusters/common/wait.h"
#include "harness/control/local_exec.h"
#include "harness/errors.h"
#include "tests/support/fake_session.h"

using namespace faultline;
using namespace faultline::clusters;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST_CASE("trim: white space off both ends, nothing else", "[clusters]") {
  CHECK(trim("  10.0.0.1\r\n") == "10.0.0.1");
  CHECK(trim("\tON\t") == "ON");
  CHECK(trim("a b\nc") == "a b\nc");
  CHECK(trim(" \n ").empty());
  CHECK(trim("").empty());
}

TEST_CASE("safe_name and node_dir: one plain path component per node", "[clusters]") {
  CHECK(safe_name("n1.local_A-2") == "n1.local_A-2");
  CHECK(safe_name("../x y\n") == ".._x_y_");
  CHECK(safe_name("fe80::1") == "fe80__1");
  CHECK(safe_name("é") == "__");  // two UTF-8 bytes
  CHECK(safe_name("") == "_");
  DbContext ctx;
  ctx.hosts["n1"] = "10.0.0.1";
  ctx.hosts["n3"] = "";
  CHECK(node_dir("/var/lib/x", ctx, "n1") == "/var/lib/x/n1-10.0.0.1");
  CHECK(node_dir("/var/lib/x", ctx, "n2") == "/var/lib/x/n2-n2");  // no host: the name
  CHECK(node_dir("/var/lib/x", ctx, "n3") == "/var/lib/x/n3-n3");
  CHECK(node_dir("/b", ctx, "..") == "/b/..-..");
}

TEST_CASE("own_address: the node's end of SSH_CONNECTION, else the host it is reached at",
          "[clusters]") {
  DbContext ctx;
  ctx.hosts["n1"] = "n1.example";
  testing::FakeSession s("n1");
  s.script().then_return(0, "10.0.0.9 52000 10.0.0.1 22\n");
  std::string controller = "stale";
  CHECK(own_address(ctx, s, "n1", &controller) == "10.0.0.1");
  CHECK(controller == "10.0.0.9");
  REQUIRE(s.script().commands.size() == 1);
  REQUIRE(s.script().commands[0].argv.size() > 2);  // sh -c SCRIPT
  CHECK_THAT(s.script().commands[0].argv[2], Catch::Contains("$SSH_CONNECTION"));

  s.script().then_return(0, "\n");  // a local session: no SSH connection
  CHECK(own_address(ctx, s, "n1", &controller) == "n1.example");
  CHECK(controller.empty());
  CHECK(own_address(ctx, s, "n1") == "n1.example");  // exhausted script: exit 0, no output

  s.script().then_return(1, "", "sh: broken");
  CHECK_THROWS_AS(own_address(ctx, s, "n1"), RemoteError);
}

TEST_CASE("require_remote: a Remote and at least one node", "[clusters]") {
  DbContext ctx;
  ctx.nodes = {"n1"};
  CHECK_THROWS_AS(require_remote(ctx, "db 'x'"), ConfigError);
  CHECK_THROWS_WITH(require_remote(ctx, "db 'x'"),
                    Catch::StartsWith("db 'x' needs nodes reached over SSH"));
  testing::FakeRemote remote({"n1"});
  ctx.remote = &remote;
  CHECK_NOTHROW(require_remote(ctx, "db 'x'"));
  ctx.nodes.clear();
  CHECK_THROWS_AS(require_remote(ctx, "db 'x'"), ConfigError);
}

TEST_CASE("log: to the run's log when there is one", "[clusters]") {
  DbContext ctx;
  CHECK_NOTHROW(log(ctx, "nobody listens"));
  std::vector<std::string> lines;
  ctx.log = [&](const std::string& l) { lines.push_back(l); };
  log(ctx, "galera: n1 joined");
  CHECK(lines == std::vector<std::string>{"galera: n1 joined"});
}

TEST_CASE("poll_until: until ready, at least once, false after the deadline", "[clusters]") {
  int calls = 0;
  CHECK(poll_until(Clock::now() + std::chrono::seconds(10), milliseconds(1),
                   [&] { return ++calls == 3; }));
  CHECK(calls == 3);

  calls = 0;  // the deadline has passed: one call all the same
  CHECK_FALSE(poll_until(Clock::now() - milliseconds(1), milliseconds(1), [&] {
    ++calls;
    return false;
  }));
  CHECK(calls == 1);
  calls = 0;
  CHECK(poll_until(Clock::now() - milliseconds(1), milliseconds(1), [&] { return ++calls > 0; }));

  calls = 0;
  const auto t0 = Clock::now();
  CHECK_FALSE(poll_until(t0 + milliseconds(100), milliseconds(20), [&] {
    ++calls;
    return false;
  }));
  CHECK(Clock::now() - t0 >= milliseconds(100));
  CHECK(calls >= 2);
  CHECK(calls <= 7);

  CHECK_THROWS_WITH(poll_until(Clock::now() + std::chrono::seconds(10), milliseconds(1),
                               []() -> bool { throw std::runtime_error("probe failed"); }),
                    "probe failed");
}

TEST_CASE("log_tail: the last lines, some left out, never throws", "[clusters]") {
  const fs::path dir = fs::temp_directory_path() / ("fl-helpers-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string file = (dir / "error.log").string();
  {
    std::ofstream out(file);
    for (int i = 1; i <= 20; ++i) {
      out << "line " << i << "\n";
      if (i % 3 == 0) out << "[Warning] Failed to establish connection to n2\n";
    }
  }
  auto s = control::make_local_session();
  CHECK(log_tail(*s, file, 2) == "line 19\nline 20");
  CHECK(log_tail(*s, file, 3) ==
        "[Warning] Failed to establish connection to n2\nline 19\nline 20");
  CHECK(log_tail(*s, file, 3, "Failed to establish connection") == "line 18\nline 19\nline 20");
  const std::string fifteen = log_tail(*s, file);
  CHECK(std::count(fifteen.begin(), fifteen.end(), '\n') == 14);
  CHECK_THAT(log_tail(*s, (dir / "missing.log").string()), Catch::StartsWith("(log unavailable: "));
  CHECK_THAT(log_tail(*s, (dir / "missing.log").string(), 15, "x"),
             Catch::StartsWith("(log unavailable: cannot read "));
  fs::remove_all(dir);

  testing::FakeSession dropped("n1");
  dropped.script().then_drop_before_start("n1");
  CHECK_THAT(log_tail(dropped, file),
             Catch::StartsWith("(log unavailable: ") && Catch::Contains("n1"));
  REQUIRE(dropped.script().commands.size() == 1);
  CHECK(dropped.script().commands[0].idempotent);
}
