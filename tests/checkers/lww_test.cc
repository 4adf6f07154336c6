// Checker "lww": real-time inversions explained with clock offsets, divergence, garbage, and
// info writes (which never make an inversion).
#include <catch2/catch.hpp>

#include "tests/checkers/op_history.h"

using namespace faultline;
using namespace faultline::testing;

namespace {
void finals(OpHistory& h, const Json& values, int first_process = 10) {
  int p = first_process;
  for (const char* node : {"n1", "n2", "n3"}) h.call(p++, "read-all", nullptr, values, node);
}
}  // namespace

TEST_CASE("lww: the last write in real time survives: valid", "[lww]") {
  OpHistory h;
  h.call(0, "write", {1, 10}, {1, 10}, "n1");
  h.invoke(1, "write", {1, 11}, "n2");
  h.invoke(2, "write", {1, 12}, "n3");  // concurrent with 11: either may win
  h.ok(1, {1, 11}).ok(2, {1, 12});
  h.invoke(3, "write", {2, 20}, "n1").info(3);
  finals(h, {{"1", 11}, {"2", 20}});
  auto r = check_with("lww", h.build());
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kValid);
  CHECK(r.details["lost-later-writes"] == 0);
}

TEST_CASE("lww: a later write lost to an earlier one, with the nemesis's offsets", "[lww]") {
  OpHistory h;
  h.nemesis("bump-clock", {{"n3", -5000}},
            {{"mechanism", "faketime"}, {"offsets-ms", {{"n1", 0}, {"n2", 0}, {"n3", -5000}}}});
  h.call(0, "write", {1, 10}, {1, 10}, "n1");  // W: finishes first
  h.call(1, "write", {1, 11}, {1, 11}, "n3");  // B: starts after W finished, yet loses
  finals(h, {{"1", 10}});
  auto r = check_with("lww", h.build());
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "lost-later-write") == 1);
  const Json& a = r.details["anomalies"][0];
  CHECK(a["ops"][0]["index"] == 2);
  CHECK(a["ops"][1]["index"] == 4);
  CHECK(a["offsets"][1]["offset-ms"] == -5000);
  const std::string e = a["explanation"].get<std::string>();
  CHECK_THAT(e, Catch::Contains("write 10 by process 0 on n1"));
  CHECK_THAT(e, Catch::Contains("write 11 by process 1 on n3"));
  CHECK_THAT(e, Catch::Contains("n3 -5000 ms (as of the clock nemesis's bump-clock"));
}

TEST_CASE("lww: an info survivor claims nothing, info later writes are not lost", "[lww]") {
  OpHistory h;
  h.invoke(0, "write", {1, 10}, "n1").info(0);
  h.call(1, "write", {1, 11}, {1, 11}, "n2");
  h.invoke(2, "write", {1, 12}, "n3").info(2);
  finals(h, {{"1", 10}});
  CHECK(check_with("lww", h.build()).validity == Validity::kValid);
  OpHistory g;
  g.call(0, "write", {1, 10}, {1, 10}, "n1");
  g.call(1, "write", {1, 11}, {1, 11}, "n2");
  g.invoke(2, "write", {1, 12}, "n2").info(2);
  finals(g, {{"1", 11}});
  CHECK(check_with("lww", g.build()).validity == Validity::kValid);
}

TEST_CASE("lww: divergence, garbage, failed writes that survive, no final read", "[lww]") {
  OpHistory h;
  h.call(0, "write", {1, 10}, {1, 10}, "n1");
  h.invoke(1, "write", {2, 20}, "n1").fail(1);
  h.call(10, "read-all", nullptr, {{"1", 10}, {"2", 20}, {"3", 99}}, "n1");
  h.call(11, "read-all", nullptr, {{"1", 10}}, "n2");
  auto r = check_with("lww", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(has_anomaly(r, "divergence"));
  CHECK(has_anomaly(r, "garbage"));
  CHECK(has_anomaly(r, "failed-write-survived"));
  OpHistory none;
  none.call(0, "write", {1, 10}, {1, 10}, "n1");
  CHECK(check_with("lww", none.build()).validity == Validity::kUnknown);
}
