// junit.xml: one testcase per checker, a failure carrying the explanation for invalid, an
// error for unknown, well-formed XML whatever the checkers wrote.
#include "harness/report/junit.h"

#include <catch2/catch.hpp>

#include "harness/command.h"
#include "harness/control/local_exec.h"
#include "harness/remote.h"
#include "harness/report/plot.h"

using namespace faultline;

namespace {

Json results() {
  return Json::parse(
      R"({"valid":"invalid","history":{"warnings":["history.jsonl:9: torn last line (3 bytes) skipped"]},
    "checkers":{
      "linearizable":{"valid":"invalid","summary":"1 illegal <key 0>",
                      "explanation":"Not linearizable: key 0 & \"friends\"\n  - process 2: read 3\u0001\n"},
      "stats":{"valid":"valid","summary":"ok"},
      "elle":{"valid":"unknown","error":"time limit"}}})");
}

size_t count(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("junit: one testcase per checker, failure for invalid, error for unknown") {
  std::string x = report::junit_xml(results(), "memory-stale-register");
  CHECK(count(x, "<testcase ") == 3);
  CHECK(count(x, "<failure ") == 1);
  CHECK(count(x, "<error ") == 1);
  CHECK(x.find("tests=\"3\" failures=\"1\" errors=\"1\"") != std::string::npos);
  CHECK(x.find("Not linearizable: key 0 &amp; &quot;friends&quot;") != std::string::npos);
  CHECK(x.find("message=\"invalid: 1 illegal &lt;key 0&gt;\"") != std::string::npos);
  CHECK(x.find('\x01') == std::string::npos);
  CHECK(x.find("torn last line") != std::string::npos);
}

TEST_CASE("junit: the XML parses (python3's ElementTree)") {
  if (!report::find_program("python3")) {
    WARN("python3 not installed: skipped");
    return;
  }
  std::string x = report::junit_xml(results(), "t<&>");
  auto session = control::make_local_session();
  Command cmd{"python3", "-c",
              "import sys, xml.etree.ElementTree as E\n"
              "r = E.fromstring(sys.stdin.buffer.read())\n"
              "cases = r.findall('./testsuite/testcase')\n"
              "print(len(cases), len(r.findall('.//failure')), cases[0].get('classname'))\n"
              "print(r.find('.//failure').text.splitlines()[0])\n"};
  ExecResult r = session->exec(cmd.with_stdin(x));
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  CHECK(r.out == "3 1 t<&>\nNot linearizable: key 0 & \"friends\"\n");
}

TEST_CASE("junit: a valid run has no failures") {
  Json v = Json::parse(R"({"valid":"valid","checkers":{"a":{"valid":"valid"}}})");
  std::string x = report::junit_xml(v, "t");
  CHECK(count(x, "<testcase ") == 1);
  CHECK(x.find("<failure") == std::string::npos);
  CHECK(x.find("tests=\"1\" failures=\"0\" errors=\"0\"") != std::string::npos);
}

TEST_CASE("junit: a keyed check gets one testcase per key group") {
  Json r = Json::parse(R"({"valid":"invalid","checkers":{"linearizable":{"valid":"invalid",
    "summary":"cas-register, 250 keys, 1 illegal","explanation":"key 120: read 3 after write 4",
    "key_groups":[{"first":0,"last":99,"keys":100,"valid":"valid","illegal":[]},
                  {"first":100,"last":199,"keys":100,"valid":"invalid","illegal":[120]},
                  {"first":200,"last":249,"keys":50,"valid":"skipped","illegal":[]}]}}})");
  std::string x = report::junit_xml(r, "t");
  CHECK(x.find("tests=\"3\" failures=\"2\"") != std::string::npos);
  CHECK(x.find("name=\"linearizable [keys 0..99]\"") != std::string::npos);
  CHECK(x.find("name=\"linearizable [keys 100..199]\"") != std::string::npos);
  CHECK(x.find("not linearizable: keys [120]") != std::string::npos);
  CHECK(x.find("200..249") == std::string::npos);  // skipped groups are not test cases
}
