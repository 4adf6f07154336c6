// summarise(): the lines a run prints for its checkers, capped, with every anomaly type shown.
#include "harness/run/results.h"

#include <catch2/catch.hpp>

using namespace faultline;

namespace {
size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}
}  // namespace

// Issue #15: P4 (lost-update) was hidden behind a cap filled by G-single and G2-item.
TEST_CASE("summarise: every anomaly type is shown when the anomalies are capped", "[summary]") {
  Json anomalies = Json::array();
  for (const char* type : {"G-single", "G2-item"}) {
    for (int i = 0; i < 8; ++i) {
      anomalies.push_back(
          {{"type", type}, {"explanation", std::string(type) + ": cycle " + std::to_string(i)}});
    }
  }
  anomalies.push_back({{"type", "lost-update"}, {"explanation", "lost-update: T1 and T2"}});
  const Json results = {
      {"checkers",
       {{"list-append",
         {{"valid", "invalid"}, {"summary", "17 anomalies"}, {"anomalies", anomalies}}}}}};
  const std::string s = run::summarise(results);
  INFO(s);
  CHECK(occurrences(s, "  - ") == 10);
  CHECK(occurrences(s, "  - lost-update: ") == 1);
  CHECK(occurrences(s, "  - G2-item: ") >= 1);
  CHECK(occurrences(s, "  - G-single: ") >= 1);
  CHECK_THAT(s, Catch::Contains("... 7 more in results.json"));
  // The lines keep the anomalies' order.
  CHECK(s.find("G-single: cycle 0") < s.find("G2-item: cycle 0"));
  CHECK(s.find("G2-item: cycle 0") < s.find("lost-update: T1"));
}

TEST_CASE("summarise: every anomaly type of a capped explanation is shown", "[summary]") {
  std::string explanation;
  for (int i = 0; i < 14; ++i) explanation += "G-single: cycle " + std::to_string(i) + "\n";
  explanation += "lost-update: T1 and T2\nplain words";
  const Json results = {{"checkers",
                         {{"elle",
                           {{"valid", "invalid"},
                            {"anomaly-types", {"G-single", "lost-update"}},
                            {"explanation", explanation}}}}}};
  const std::string s = run::summarise(results);
  INFO(s);
  CHECK_THAT(s, Catch::Contains("  lost-update: T1 and T2"));
  CHECK(occurrences(s, "G-single: cycle") == 11);
  CHECK_THAT(s, Catch::Contains("the rest in results.json"));
  // Uncapped: everything, in order, with nothing said about a rest.
  const Json short_results = {
      {"checkers",
       {{"elle", {{"valid", "invalid"}, {"explanation", "G-single: a\nlost-update: b"}}}}}};
  const std::string t = run::summarise(short_results);
  CHECK(t == "elle: invalid\n  G-single: a\n  lost-update: b\n");
}
