// Checker "stats": counts by f and by node, unknown when nothing can be judged, and the
// availability of each node while faults were active.
#include <catch2/catch.hpp>

#include "tests/checkers/op_history.h"

using namespace faultline;
using namespace faultline::testing;

TEST_CASE("stats: counts by f and node and unknown when no op or no required op is ok", "[stats]") {
  OpHistory h;
  h.call(0, "write", Json::array({1, 1}), Json::array({1, 1}), "n1");
  h.invoke(1, "read", Json::array({1, nullptr}), "n2").fail(1);
  h.invoke(2, "write", Json::array({1, 2}), "n2").info(2);
  auto r = check_with("stats", h.build(), {{"required", {"write"}}});
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kValid);
  CHECK(r.details["by-f"]["write"] == Json{{"ok", 1}, {"fail", 0}, {"info", 1}});
  CHECK(r.details["by-node"]["n2"] == Json{{"ok", 0}, {"fail", 1}, {"info", 1}});
  CHECK(r.details["availability"].is_null());  // no fault: nothing to split
  CHECK(r.details["summary"] == "1 of 3 operations ok");

  auto needs_read = check_with("stats", h.build(), {{"required", {"read"}}});
  CHECK(needs_read.validity == Validity::kUnknown);
  CHECK(needs_read.details["missing"] == Json::array({"read"}));

  OpHistory none;
  none.invoke(0, "write", Json::array({1, 1}), "n1").fail(0);
  CHECK(check_with("stats", none.build()).validity == Validity::kUnknown);
  CHECK(check_with("stats", OpHistory().build()).validity == Validity::kUnknown);
}

TEST_CASE("stats: availability during faults, per node", "[stats]") {
  // n1 is cut off from the primary component during the partition and refuses; n2 serves.
  OpHistory h;
  h.call(0, "write", Json::array({1, 1}), Json::array({1, 1}), "n1");
  h.nemesis("start-partition", {{"shape", "one"}}, {{"grudge", {{"n1", {"n2"}}}}});
  h.invoke(0, "write", Json::array({1, 2}), "n1").fail(0);
  h.invoke(2, "write", Json::array({1, 3}), "n1").info(2);
  h.call(1, "write", Json::array({1, 4}), Json::array({1, 4}), "n2");
  h.nemesis("stop-partition", nullptr, "network healed");
  h.call(0, "read", Json::array({1, nullptr}), Json::array({1, 4}), "n1");
  auto r = check_with("stats", h.build());
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kValid);
  const Json& a = r.details["availability"];
  CHECK(a["during-faults"]["n1"] == Json{{"ok", 0}, {"of", 2}});
  CHECK(a["during-faults"]["n2"] == Json{{"ok", 1}, {"of", 1}});
  CHECK(a["outside-faults"]["n1"] == Json{{"ok", 2}, {"of", 2}});
  CHECK(r.details["summary"] == "3 of 5 operations ok; during faults: n1 0 of 2 ok, n2 1 of 1 ok");
}
