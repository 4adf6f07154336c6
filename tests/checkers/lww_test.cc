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

TEST_CASE("lww: a read on a node that had the later write shows it lost, a stale read does not",
          "[lww]") {
  OpHistory h;
  h.call(0, "write", {1, 10}, {1, 10}, "n1");      // W
  h.call(1, "write", {1, 11}, {1, 11}, "n2");      // B: after W, acknowledged by n2
  h.call(2, "read", {1, nullptr}, {1, 10}, "n3");  // stale on n3 (B not known there): no claim
  {
    auto r = check_with("lww", h.build());
    INFO(r.details.dump(2));
    CHECK(r.validity == Validity::kUnknown);  // no final read, and nothing claimed
    CHECK(r.details["lost-later-writes"] == 0);
    CHECK(r.details["reads-judged"] == 1);
  }
  h.call(3, "read", {1, nullptr}, {1, 10}, "n2");  // n2 acknowledged B, now holds W: B lost
  finals(h, {{"1", 10}});                          // ... and the final reads say the same
  auto r = check_with("lww", h.build());
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "lost-later-write") == 1);  // one cause, seen twice, counted once
  CHECK(r.details["lost-later-writes"] == 1);
  CHECK(r.details["keys"]["1"]["lost-later-writes"] == 1);
  const Json& a = r.details["anomalies"][0];
  CHECK(a["seen-by"]["index"] == 6);  // the read on n2, the first to show it
  CHECK_THAT(a["explanation"].get<std::string>(), Catch::Contains("read it on n2"));
  // A coordinator-based store: n2 acknowledging B does not put B on n2.
  auto coord = check_with("lww", h.build(), {{"local-writes-visible", false}});
  CHECK(coord.details["lost-later-writes"] == 1);  // still lost by the final reads
  CHECK(coord.details["anomalies"][0]["seen-by"] == "final reads");
}

TEST_CASE("lww: an earlier read on the node is the evidence that the later write arrived",
          "[lww]") {
  OpHistory h;
  h.call(0, "write", {1, 10}, {1, 10}, "n1");
  h.call(1, "write", {1, 11}, {1, 11}, "n2");
  h.call(2, "read", {1, nullptr}, {1, 11}, "n3");  // n3 has B
  h.call(2, "read", {1, nullptr}, {1, 10}, "n3");  // ... then W again
  auto r = check_with("lww", h.build(), {{"local-writes-visible", false}});
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(r.details["lost-later-writes"] == 1);
  // Concurrent reads prove nothing: the second read began before the first had finished.
  OpHistory c;
  c.call(0, "write", {1, 10}, {1, 10}, "n1");
  c.call(1, "write", {1, 11}, {1, 11}, "n2");
  c.invoke(2, "read", {1, nullptr}, "n3");
  c.invoke(3, "read", {1, nullptr}, "n3");
  c.ok(2, {1, 11}).ok(3, {1, 10});
  auto rc = check_with("lww", c.build(), {{"local-writes-visible", false}});
  CHECK(rc.details["lost-later-writes"] == 0);
}

TEST_CASE("lww: every later write lost to one winner is one anomaly, per-key counts add up",
          "[lww]") {
  OpHistory h;
  h.call(0, "write", {1, 10}, {1, 10}, "n1");  // the winner
  h.call(1, "write", {1, 11}, {1, 11}, "n2");
  h.call(2, "write", {1, 12}, {1, 12}, "n3");
  h.call(0, "write", {2, 20}, {2, 20}, "n1");
  h.call(1, "write", {2, 21}, {2, 21}, "n2");
  // Key 2 diverges: n1 keeps 20 (losing 21), n2 and n3 hold 21. Key 1: 10 everywhere.
  h.call(10, "read-all", nullptr, {{"1", 10}, {"2", 20}}, "n1");
  h.call(11, "read-all", nullptr, {{"1", 10}, {"2", 21}}, "n2");
  h.call(12, "read-all", nullptr, {{"1", 10}, {"2", 21}}, "n3");
  auto r = check_with("lww", h.build());
  INFO(r.details.dump(2));
  CHECK(anomaly_count(r, "lost-later-write") == 2);  // one per winner: 10 on key 1, 20 on key 2
  CHECK(anomaly_count(r, "divergence") == 0);        // explained by the loss: data of its anomaly
  CHECK(r.details["lost-later-writes"] == 3);
  CHECK(r.details["keys"]["1"]["lost-later-writes"] == 2);
  CHECK(r.details["keys"]["2"]["lost-later-writes"] == 1);  // was 0: the last survivor's count
  for (const auto& a : r.details["anomalies"]) {
    if (a["type"] == "lost-later-write" && a["key"] == 1) CHECK(a["lost"] == 2);
    if (a["type"] == "lost-later-write" && a["key"] == 2) {
      CHECK(a["divergence"]["n1"] == 20);
      CHECK_THAT(a["explanation"].get<std::string>(),
                 Catch::Contains("the final reads also disagree"));
    }
  }
}

TEST_CASE("lww: a read of a value no write wrote, or of a failed write", "[lww]") {
  OpHistory h;
  h.invoke(0, "write", {1, 10}, "n1").fail(0);
  h.call(1, "read", {1, nullptr}, {1, 10}, "n2");
  h.call(1, "read", {1, nullptr}, {1, 77}, "n2");
  auto r = check_with("lww", h.build());
  CHECK(r.validity == Validity::kInvalid);
  CHECK(has_anomaly(r, "failed-write-read"));
  CHECK(has_anomaly(r, "garbage"));
  CHECK_THROWS_WITH(check_with("lww", h.build(), {{"local-writes-visible", "yes"}}),
                    Catch::Contains("local-writes-visible"));
}

TEST_CASE("lww: a clock nemesis op still running when the writes ran is named", "[lww]") {
  OpHistory h;
  h.nemesis("reset-clock", nullptr,
            {{"mechanism", "faketime"}, {"offsets-ms", {{"n1", 0}, {"n2", 0}, {"n3", 0}}}});
  h.nemesis_invoke(
      "strobe-clock",
      {{"nodes", {"n3"}}, {"delta-ms", -1855}, {"period-ms", 50}, {"duration-ms", 1000}});
  h.call(0, "write", {1, 10}, {1, 10}, "n3");
  h.call(1, "write", {1, 11}, {1, 11}, "n1");
  h.nemesis_complete("strobe-clock", {{"mechanism", "faketime"},
                                      {"offsets-ms", {{"n1", 0}, {"n2", 0}, {"n3", 0}}}});
  finals(h, {{"1", 10}});
  auto r = check_with("lww", h.build());
  INFO(r.details.dump(2));
  REQUIRE(anomaly_count(r, "lost-later-write") == 1);
  const std::string e = r.details["anomalies"][0]["explanation"].get<std::string>();
  CHECK_THAT(e, Catch::Contains("n3 +0 ms (as of the clock nemesis's reset-clock"));
  CHECK_THAT(e, Catch::Contains("while the clock nemesis's strobe-clock invoked at"));
  CHECK_THAT(e, Catch::Contains("was flipping by -1855 ms every 50 ms"));
}
