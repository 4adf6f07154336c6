// Matrix runs: expansion order, the summary table, and `faultline run` with a matrix spec.
#include "harness/run/matrix.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/run/results.h"
#include "tests/support/paths.h"

using namespace faultline;
namespace fs = std::filesystem;

TEST_CASE("matrix: every combination, last key fastest, bad matrices refused") {
  Json spec =
      Json::parse(R"({"db":"memory","matrix":{"rate":[1,2],"concurrency":["1n","2n","3n"]}})");
  auto c = run::expand_matrix(spec);
  REQUIRE(c.size() == 6);
  CHECK(c[0].values == Json::parse(R"({"concurrency":"1n","rate":1})"));
  CHECK(c[1].values == Json::parse(R"({"concurrency":"1n","rate":2})"));
  CHECK(c[5].values == Json::parse(R"({"concurrency":"3n","rate":2})"));
  CHECK(c[5].spec == Json::parse(R"({"db":"memory","concurrency":"3n","rate":2})"));
  CHECK_THROWS_AS(run::expand_matrix(Json::parse(R"({"matrix":{"rate":[]}})")),
                  std::invalid_argument);
  CHECK_THROWS_AS(run::expand_matrix(Json::parse(R"({"matrix":[1]})")), std::invalid_argument);
  CHECK_THROWS_AS(run::expand_matrix(Json::parse(R"({"matrix":{"test-count":[1,2]}})")),
                  std::invalid_argument);
}

TEST_CASE("matrix: table with verdicts, checker verdicts and report links") {
  std::vector<run::MatrixRun> runs = {
      {Json{{"db", "memory"}}, 1, "valid", "a/1", Json{{"lin", {{"valid", "valid"}}}}, ""},
      {Json{{"db", "memory-stale"}}, 1, "invalid", "b/1",
       Json{{"lin", {{"valid", "invalid"}, {"summary", "1 <illegal>"}}}}, ""}};
  Json m = run::matrix_json(runs);
  CHECK(m["tally"]["valid"] == 1);
  CHECK(m["tally"]["invalid"] == 1);
  std::string h = run::matrix_html(m);
  CHECK(h.find("memory-stale") != std::string::npos);
  CHECK(h.find("1 &lt;illegal&gt;") != std::string::npos);
  CHECK(h.find("href=\"b/1/report.html\"") != std::string::npos);
}

TEST_CASE("matrix: faultline run with a matrix spec writes matrix.json and matrix.html") {
  fs::path dir = fs::temp_directory_path() / ("faultline-matrix-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "spec.json")
      << R"({"workload":"register","time-limit":1,"rate":300,"seed":5,"recovery-wait":0,)"
      << R"("results-dir":")" << (dir / "results").string()
      << R"(","matrix":{"db":["memory","memory-stale"]}})";
  auto r = testing::run_shell(testing::faultline_binary() + " run -q --spec " +
                              (dir / "spec.json").string());
  INFO(r.output);
  CHECK((r.status == 0 || r.status == 1));
  REQUIRE(fs::exists(dir / "results" / "matrix.json"));
  Json m = Json::parse(read_file(dir / "results" / "matrix.json"));
  REQUIRE(m["runs"].size() == 2);
  CHECK(m["runs"][0]["valid"] == "valid");
  CHECK(m["runs"][0]["values"]["db"] == "memory");
  CHECK(fs::exists(dir / "results" / m["runs"][0]["dir"].get<std::string>() / "report.html"));
  CHECK(read_file(dir / "results" / "matrix.html").find("memory-stale") != std::string::npos);
  fs::remove_all(dir);
}
