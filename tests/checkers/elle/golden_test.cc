// The golden histories of tests/data/elle through `faultline check` (exit 0 valid, 1 invalid).
#include <catch2/catch.hpp>

#include "tests/support/paths.h"

using namespace faultline::testing;

namespace {

CommandResult check(const std::string& checker, const std::string& model, const std::string& file) {
  return run_shell(faultline_binary() + " check -c " + checker + " --consistency-model " + model +
                   " " + (source_dir() / "tests/data/elle" / file).string());
}

}  // namespace

TEST_CASE("golden transactional histories through the CLI", "[elle][golden]") {
  auto r = check("list-append", "serializable", "list-append-g-single.edn");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("G-single"));
  CHECK_THAT(r.output, Catch::Contains("(rw)"));
  CHECK(check("list-append", "serializable", "list-append-g-single-twin.edn").status == 0);
  CHECK(check("rw-register", "snapshot-isolation", "rw-register-write-skew.jsonl").status == 0);
  auto s = check("rw-register", "serializable", "rw-register-write-skew.jsonl");
  INFO(s.output);
  CHECK(s.status == 1);
  CHECK_THAT(s.output, Catch::Contains("G2-item"));
  CHECK(check("causal", "CC", "causal-cyclic-cf.jsonl").status == 0);
  CHECK(check("causal", "CCv", "causal-cyclic-cf.jsonl").status == 1);
  CHECK(check("list-append", "no-such-model", "list-append-g-single.edn").status != 0);
}
