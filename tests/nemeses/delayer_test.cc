// The NFQUEUE delayer's source (nemeses/delayer.h): what faultline embeds at build time is the
// file nemeses/delayer/delayer.c byte for byte, and it is what the packet nemesis uploads.
#include "nemeses/delayer.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "harness/nemesis.h"
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
