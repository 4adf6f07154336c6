// Registry: a name registered twice is refused and recorded (the faultline binary then exits
// with an internal error), and the real registries have no such name.
#include "harness/registry.h"

#include <algorithm>
#include <catch2/catch.hpp>

using namespace faultline;

namespace {
struct DupEntry {
  int id = 0;
};
}  // namespace

TEST_CASE("registry: a second registration of a name is refused and recorded", "[registry]") {
  // Every registry linked into this binary registered before main: none twice.
  for (const auto& d : registry_duplicates()) {
    CHECK(d.find("test-dup") != std::string::npos);
  }
  CHECK(Registry<DupEntry>::add("test-dup", "x", "the first", DupEntry{1}));
  CHECK_FALSE(Registry<DupEntry>::add("test-dup", "x", "the second", DupEntry{2}));
  REQUIRE(Registry<DupEntry>::find("x"));
  CHECK(Registry<DupEntry>::find("x")->id == 1);  // the first stays
  auto dups = registry_duplicates();
  CHECK(std::find(dups.begin(), dups.end(), "duplicate test-dup 'x'") != dups.end());
  auto in_catalog = catalog();
  CHECK(std::count_if(in_catalog.begin(), in_catalog.end(),
                      [](const CatalogEntry& e) { return e.kind == "test-dup"; }) == 1);
}
