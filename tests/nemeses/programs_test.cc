// The programs nemeses build on the nodes (nemeses/programs.h): what faultline embeds at build
// time is each C file byte for byte, and it is what the nemesis uploads; clockstep built here
// with gcc and run as a dry run (it never sets this machine's clock).
#include "nemeses/programs.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/control/local_exec.h"
#include "harness/nemesis.h"
#include "nemeses/clock.h"
#include "tests/nemeses/nemesis_test_util.h"
#include "tests/support/paths.h"

using namespace faultline;
using namespace faultline::nemeses;
using namespace faultline::testing;

TEST_CASE("delayer: the embedded source is delayer.c, byte for byte", "[packet][delayer]") {
  std::ifstream in(source_dir() / "nemeses" / "delayer" / "delayer.c", std::ios::binary);
  REQUIRE(in);
  std::stringstream file;
  file << in.rdbuf();
  CHECK(delayer_source() == file.str());
  CHECK(delayer_source().find("nfq_create_queue") != std::string_view::npos);
}

TEST_CASE("delayer: the packet nemesis uploads the embedded source to build it", "[packet]") {
  NemesisOptions o;
  o.nodes = {"n1"};
  o.options = {{"faults", {"delay"}}};
  auto remote = probing_remote(1);
  auto p = NemesisRegistry::get("nemesis", "packet")(o);
  NemesisContext ctx;
  ctx.remote = remote.get();
  ctx.nodes = o.nodes;
  p.nemesis->setup(ctx);
  std::lock_guard<std::mutex> lock(remote->script("n1").mu);
  int built = 0;
  for (const auto& c : remote->script("n1").commands) {
    if (c.argv.size() > 2 && c.argv[2].find("gcc") != std::string::npos) {
      ++built;
      CHECK(c.stdin_data == delayer_source());
    }
  }
  CHECK(built == 1);
}

TEST_CASE("clockstep: the embedded source is clockstep.c, byte for byte, tagged by content",
          "[clock]") {
  std::ifstream in(source_dir() / "nemeses" / "clockstep" / "clockstep.c", std::ios::binary);
  REQUIRE(in);
  std::stringstream file;
  file << in.rdbuf();
  CHECK(clockstep_source() == file.str());
  CHECK(source_tag(clockstep_source()).size() == 16);
  CHECK(source_tag("a") != source_tag("b"));
  CHECK(source_tag("") == "cbf29ce484222325");  // FNV-1a 64's offset basis
}

namespace {
// Builds clockstep here with gcc, as a node would (build_clockstep_command), in a fresh
// directory; returns the binary's path.
std::filesystem::path build_clockstep_here() {
  namespace fs = std::filesystem;
  // Not under /tmp: the directory and every one above it must be root's alone.
  fs::path dir =
      fs::path(faultline_binary()).parent_path() / ("fl-clockstep-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto s = control::make_local_session("here", std::chrono::milliseconds(60000));
  ExecResult r = s->exec(build_clockstep_command((dir / "bin").string()));
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  CHECK(r.out == "built\n");
  // Built once: a second setup finds it and builds nothing.
  r = s->exec(build_clockstep_command((dir / "bin").string()));
  CHECK(r.exit_status == 0);
  CHECK(r.out.empty());
  return clockstep_path((dir / "bin").string());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
}  // namespace

TEST_CASE("clockstep: built with gcc, its steps as a dry run shows them", "[clock]") {
  if (std::system("command -v gcc >/dev/null 2>&1") != 0) {
    FAIL("gcc is missing: ./test.sh installs it (build-essential)");
  }
  const std::filesystem::path bin = build_clockstep_here();
  auto s = control::make_local_session("here", std::chrono::milliseconds(60000));
  // -n: the steps it would take, as offsets from the clock when it began; the clock is not set.
  ExecResult bump = s->exec(Command{bin.string(), "-n", "bump", "-250.5"});
  CHECK(bump.exit_status == 0);
  CHECK(lines_of(bump.out) == std::vector<std::string>{"set -250500000", "bumped -250.500"});
  // 300 ms at one flip per 50 ms: six flips, up and back, ending where it began.
  ExecResult strobe = s->exec(Command{bin.string(), "-n", "strobe", "100", "50", "300"});
  CHECK(strobe.exit_status == 0);
  std::vector<std::string> l = lines_of(strobe.out);
  REQUIRE(l.size() >= 3);
  CHECK(l.back() == "strobed " + std::to_string(l.size() - 1));
  CHECK(l.size() - 1 >= 5);
  CHECK(l.size() - 1 <= 7);
  for (size_t i = 0; i + 1 < l.size(); ++i) {
    CHECK(l[i] == (i % 2 == 0 ? "set 100000000" : "set 0"));
  }
  // An odd number of flips ends up: the clock is put back.
  ExecResult one = s->exec(Command{bin.string(), "-n", "strobe", "7", "1000", "10"});
  CHECK(lines_of(one.out) == std::vector<std::string>{"set 7000000", "set 0", "strobed 1"});
  // Bad arguments: exit 2 and a line naming the problem; nothing is set.
  ExecResult bad = s->exec(Command{bin.string(), "-n", "bump", "1e99"});
  CHECK(bad.exit_status == 2);
  CHECK_THAT(bad.err, Catch::Contains("not a number of milliseconds: '1e99'"));
  CHECK(s->exec(Command{bin.string(), "-n", "strobe", "1", "0", "10"}).exit_status == 2);
  CHECK(s->exec(Command{bin.string(), "-n", "tick"}).exit_status == 2);
  std::filesystem::remove_all(bin.parent_path().parent_path());
}

TEST_CASE("clockstep: a directory others can write is refused before anything is built",
          "[clock]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(faultline_binary()).parent_path() /
                 ("fl-clockstep-open-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::all);  // 0777
  auto s = control::make_local_session();
  ExecResult r = s->exec(build_clockstep_command((dir / "bin").string()));
  CHECK(r.exit_status == 4);
  CHECK_THAT(r.err, Catch::Contains("writable by group or others"));
  CHECK_FALSE(fs::exists(dir / "bin"));
  fs::remove_all(dir);
}
