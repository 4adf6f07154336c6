// Options: declared keys with defaults, typed getters, unknown keys rejected.
#include "harness/options.h"

#include <catch2/catch.hpp>
#include <stdexcept>

namespace {

using namespace faultline;

const OptionDecls kDecls = {
    {"keys", 3, "hot keys"},
    {"read-fraction", 0.2, "share of reads"},
    {"engine", "auto", "auto | search"},
    {"verbose", false, "say more"},
    {"names", Json::array(), "some names"},
    {"limit", nullptr, "no fixed default"},
};

}  // namespace

TEST_CASE("options: defaults, given values, types and ranges", "[options]") {
  const Options none(Json(), kDecls, "workload 'w'");
  CHECK(none.integer("keys", 1) == 3);
  CHECK(none.fraction("read-fraction") == 0.2);
  CHECK(none.text("engine", {"auto", "search"}) == "auto");
  CHECK_FALSE(none.flag("verbose"));
  CHECK(none.texts("names").empty());
  CHECK_FALSE(none.has("limit"));
  // A key with no default that was not given is a bug of the extension, not the user's.
  CHECK_THROWS_AS(none.integer("limit"), std::logic_error);
  CHECK_THROWS_AS(none.integer("undeclared"), std::logic_error);

  const Options given({{"keys", 7}, {"engine", "search"}, {"limit", 5}, {"names", {"a", "b"}}},
                      kDecls, "workload 'w'");
  CHECK(given.integer("keys", 1) == 7);
  CHECK(given.text("engine", {"auto", "search"}) == "search");
  CHECK(given.has("limit"));
  CHECK(given.integer("limit") == 5);
  CHECK(given.texts("names") == std::vector<std::string>{"a", "b"});

  CHECK_THROWS_WITH(Options({{"keys", 0}}, kDecls, "workload 'w'").integer("keys", 1),
                    "workload 'w': option 'keys' must be an integer >= 1, not 0");
  CHECK_THROWS_WITH(Options({{"keys", "3"}}, kDecls, "w").integer("keys", 1),
                    Catch::Contains("must be an integer >= 1, not \"3\""));
  CHECK_THROWS_WITH(Options({{"read-fraction", 2}}, kDecls, "w").fraction("read-fraction"),
                    Catch::Contains("must be a number in [0, 1], not 2"));
  CHECK_THROWS_WITH(Options({{"engine", "z3"}}, kDecls, "w").text("engine", {"auto", "search"}),
                    Catch::Contains("must be one of auto, search"));
  CHECK_THROWS_WITH(Options({{"verbose", 1}}, kDecls, "w").flag("verbose"),
                    Catch::Contains("must be true or false"));
  CHECK_THROWS_AS(Options({{"keys", 18446744073709551615ull}}, kDecls, "w").integer("keys"),
                  ConfigError);
}

TEST_CASE("options: unknown keys and non-objects are the user's error, naming the known keys",
          "[options]") {
  CHECK_THROWS_AS(Options({{"key", 3}}, kDecls, "w"), ConfigError);
  CHECK_THROWS_WITH(Options({{"key", 3}}, kDecls, "workload 'w'"),
                    "workload 'w': unknown option 'key' (known: keys, read-fraction, engine, "
                    "verbose, names, limit)");
  CHECK_THROWS_WITH(Options(Json::array({1}), kDecls, "w"), "w: options must be a JSON object");
  CHECK_THROWS_WITH(Options({{"x", 1}}, {}, "w"), Catch::Contains("(known: none)"));
}

TEST_CASE("options: faultline list shows each key with its default and doc", "[options]") {
  auto lines = describe_options(kDecls);
  REQUIRE(lines.size() == kDecls.size());
  CHECK(lines[0] == "keys = 3: hot keys");
  CHECK(lines[2] == "engine = \"auto\": auto | search");
  CHECK(lines[5] == "limit: no fixed default");
}
