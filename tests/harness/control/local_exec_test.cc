#include "harness/control/local_exec.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/remote.h"

using namespace faultline;
namespace fs = std::filesystem;

TEST_CASE("local exec returns status, stdout and stderr without throwing", "[local-exec]") {
  auto s = control::make_local_session("ctl");
  CHECK(s->node() == "ctl");
  ExecResult r = s->exec(Command::shell("echo out; echo err >&2; exit 7"));
  CHECK(r.exit_status == 7);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");
  CHECK_FALSE(r.ok());
  CHECK(s->exec(Command{"true"}).ok());
}

TEST_CASE("local exec feeds stdin and handles large output", "[local-exec]") {
  auto s = control::make_local_session();
  std::string big(1 << 20, 'x');
  ExecResult r = s->exec(Command{"cat"}.with_stdin(big));
  CHECK(r.out == big);
  ExecResult n = s->exec(Command{"head", "-c", "3000000", "/dev/zero"});
  CHECK(n.out.size() == 3000000);
}

TEST_CASE("local exec: run_checked throws CommandFailed with everything", "[local-exec]") {
  auto s = control::make_local_session("ctl");
  try {
    s->run_checked(Command::shell("echo oops >&2; exit 3"));
    FAIL("expected CommandFailed");
  } catch (const CommandFailed& e) {
    CHECK(e.node() == "ctl");
    CHECK(e.exit_status() == 3);
    CHECK(e.result().err == "oops\n");
    CHECK_THAT(e.what(), Catch::Contains("node ctl") && Catch::Contains("status 3") &&
                             Catch::Contains("oops"));
  }
}

TEST_CASE("local exec times out, kills, and does not wait for background daemons", "[local-exec]") {
  auto s = control::make_local_session();
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(s->exec(Command{"sleep", "10"}.with_timeout(std::chrono::milliseconds(200))),
                  CommandTimeoutError);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  // A background child keeps the pipes open; exec returns shortly after the shell exits.
  t0 = std::chrono::steady_clock::now();
  ExecResult r = s->exec(Command::shell("sleep 3 & echo started"));
  CHECK(r.out == "started\n");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  // A signal death is status -1.
  CHECK(s->exec(Command::shell("kill -9 $$")).exit_status == -1);
}

TEST_CASE("local upload/download copies trees with permissions", "[local-exec]") {
  fs::path base = fs::temp_directory_path() / ("fl-local-exec-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "src" / "sub");
  std::ofstream(base / "src" / "a.sh") << "#!/bin/sh\necho hi\n";
  std::ofstream(base / "src" / "sub" / "b.txt") << "b";
  fs::permissions(base / "src" / "a.sh", fs::perms(0750));
  fs::permissions(base / "src" / "sub", fs::perms(0700));
  auto s = control::make_local_session();
  s->upload(base / "src", (base / "dst").string());
  CHECK((fs::status(base / "dst" / "a.sh").permissions() & fs::perms::all) == fs::perms(0750));
  CHECK((fs::status(base / "dst" / "sub").permissions() & fs::perms::all) == fs::perms(0700));
  s->download((base / "dst" / "sub" / "b.txt").string(), base / "b.txt");
  std::ifstream in(base / "b.txt");
  std::string text;
  in >> text;
  CHECK(text == "b");
  CHECK_THROWS_AS(s->upload(base / "missing", (base / "x").string()), TransferError);
  fs::remove_all(base);
}
