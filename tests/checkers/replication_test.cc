// Checker "replication": the database's end-of-run report on its replication (harness/db.h
// ReportsReplication), as the runner records it: a nemesis-process op "replication-health".
#include <catch2/catch.hpp>

#include "tests/checkers/op_history.h"

using namespace faultline;
using namespace faultline::testing;

namespace {

Json channel(const std::string& from, const std::string& io, const std::string& sql,
             int sql_errno = 0, const std::string& sql_error = "") {
  return {{"from", from},
          {"io-running", io},
          {"sql-running", sql},
          {"last-sql-errno", sql_errno},
          {"last-sql-error", sql_error},
          {"last-io-errno", 0},
          {"last-io-error", ""},
          {"seconds-behind-master", nullptr},
          {"gtid-io-pos", "1-1-7"}};
}

Json report(bool caught_up, Json n2_channel, Json sums) {
  return {{"caught-up", caught_up},
          {"nodes",
           {{"n1", {{"channels", Json::array({channel("n2", "Yes", "Yes")})}}},
            {"n2", {{"channels", Json::array({std::move(n2_channel)})}}}}},
          {"checksums", std::move(sums)}};
}

CheckResult check_report(const Json& value) {
  OpHistory h;
  h.call(0, "write", Json::array({1, 1}), Json::array({1, 1}));
  h.nemesis("replication-health", nullptr, value);
  return check_with("replication", h.build());
}

const Json kSame = {{"fl_register", {{"n1", "17"}, {"n2", "17"}}}};
const Json kDiffer = {{"fl_register", {{"n1", "17"}, {"n2", "42"}}}};

}  // namespace

TEST_CASE("replication: caught up with identical tables is valid", "[replication]") {
  auto r = check_report(report(true, channel("n1", "Yes", "Yes"), kSame));
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kValid);
  CHECK(r.details["anomaly-types"].empty());
}

TEST_CASE("replication: a stopped SQL thread is a halted channel, named with its error",
          "[replication]") {
  auto r = check_report(report(
      false, channel("n1", "Yes", "No", 1062, "Could not execute Write_rows_v1 event: Duplicate"),
      kDiffer));
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "replication-halted") == 1);
  // Halted: nothing more will arrive, so the differing table is divergence, not lag.
  CHECK(anomaly_count(r, "divergence") == 1);
  CHECK_THAT(r.details["explanation"].get<std::string>(),
             Catch::Contains("replication into n2 from n1 halted: its SQL thread stopped on error "
                             "1062: Could not execute Write_rows_v1 event"));
  CHECK_THAT(r.details["explanation"].get<std::string>(),
             Catch::Contains("table fl_register differs between nodes"));
}

TEST_CASE("replication: caught up but different tables is divergence", "[replication]") {
  auto r = check_report(report(true, channel("n1", "Yes", "Yes"), kDiffer));
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kInvalid);
  CHECK(anomaly_count(r, "divergence") == 1);
  CHECK_THAT(r.details["explanation"].get<std::string>(), Catch::Contains("17 on n1; 42 on n2"));
}

TEST_CASE("replication: not caught up and nothing halted is unknown, never valid",
          "[replication]") {
  auto r = check_report(report(false, channel("n1", "Yes", "Yes"), kDiffer));
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kUnknown);
  CHECK_THAT(r.details["summary"].get<std::string>(), Catch::Contains("may be lag"));
}

TEST_CASE("replication: no report, or a report that failed, is unknown", "[replication]") {
  OpHistory h;
  h.call(0, "write", Json::array({1, 1}), Json::array({1, 1}));
  auto none = check_with("replication", h.build());
  CHECK(none.validity == Validity::kUnknown);
  CHECK_THAT(none.details["summary"].get<std::string>(), Catch::Contains("no replication report"));
  auto failed = check_report({{"error", "n2: connection refused"}});
  CHECK(failed.validity == Validity::kUnknown);
  CHECK_THAT(failed.details["summary"].get<std::string>(),
             Catch::Contains("n2: connection refused"));
}

TEST_CASE("replication: a semi-sync master that gave up waiting is named, not an anomaly",
          "[replication]") {
  Json value = report(true, channel("n1", "Yes", "Yes"), kSame);
  value["nodes"]["n1"]["semi-sync"] = {{"master-status", "OFF"}, {"yes-tx", 40}, {"no-tx", 3}};
  value["nodes"]["n2"]["semi-sync"] = {{"master-status", "ON"}, {"yes-tx", 51}, {"no-tx", 0}};
  auto r = check_report(value);
  INFO(r.details.dump(2));
  CHECK(r.validity == Validity::kValid);
  CHECK_THAT(r.details["summary"].get<std::string>(),
             Catch::EndsWith("; semi-sync fell back to asynchronous on n1 (3 commits not "
                             "acknowledged)"));
  CHECK(r.details["semi-sync"]["n2"]["yes-tx"] == 51);
}
