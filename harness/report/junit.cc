#include "harness/report/junit.h"

namespace faultline::report {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') continue;
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string text_of(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace

std::string junit_xml(const Json& results, const std::string& test_name) {
  const Json checkers = results.value("checkers", Json::object());
  int tests = 0, failures = 0, errors = 0;
  std::string cases;
  for (const auto& [label, rj] : checkers.items()) {
    ++tests;
    std::string v = rj.value("valid", std::string("unknown"));
    std::string summary = text_of(rj, "summary");
    std::string error = text_of(rj, "error");
    std::string explanation = text_of(rj, "explanation");
    cases += "    <testcase classname=\"" + xml_escape(test_name) + "\" name=\"" +
             xml_escape(label) + "\">\n";
    if (v == "invalid") {
      ++failures;
      std::string message = summary.empty() ? "invalid" : "invalid: " + summary;
      cases += "      <failure type=\"invalid\" message=\"" + xml_escape(message) + "\">" +
               xml_escape(explanation.empty() ? message : explanation) + "</failure>\n";
    } else if (v != "valid") {
      ++errors;
      std::string message =
          v + (error.empty() ? (summary.empty() ? "" : ": " + summary) : ": " + error);
      cases += "      <error type=\"" + xml_escape(v) + "\" message=\"" + xml_escape(message) +
               "\">" + xml_escape(explanation.empty() ? message : explanation) + "</error>\n";
    }
    cases += "    </testcase>\n";
    // Large keyed checks (linearizable per key) also get one test case per key group.
    if (rj.contains("key_groups") && rj["key_groups"].is_array()) {
      for (const auto& g : rj["key_groups"]) {
        std::string gv = g.value("valid", std::string("unknown"));
        if (gv == "skipped") continue;  // not checked: after the first illegal key
        ++tests;
        std::string name = label + " [keys " + g.value("first", Json()).dump() + ".." +
                           g.value("last", Json()).dump() + "]";
        cases += "    <testcase classname=\"" + xml_escape(test_name) + "\" name=\"" +
                 xml_escape(name) + "\">\n";
        if (gv == "invalid") {
          ++failures;
          std::string message = "not linearizable: keys " + g.value("illegal", Json()).dump();
          cases += "      <failure type=\"invalid\" message=\"" + xml_escape(message) + "\">" +
                   xml_escape(explanation.empty() ? message : explanation) + "</failure>\n";
        } else if (gv != "valid") {
          ++errors;
          cases += "      <error type=\"" + xml_escape(gv) + "\" message=\"" + xml_escape(gv) +
                   "\">" + xml_escape(gv) + "</error>\n";
        }
        cases += "    </testcase>\n";
      }
    }
  }
  std::string warnings;
  if (results.contains("history") && results["history"].contains("warnings")) {
    for (const auto& w : results["history"]["warnings"]) {
      if (w.is_string()) warnings += w.get<std::string>() + "\n";
    }
  }
  std::string counts = "tests=\"" + std::to_string(tests) + "\" failures=\"" +
                       std::to_string(failures) + "\" errors=\"" + std::to_string(errors) + "\"";
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += "<testsuites name=\"faultline\" " + counts + ">\n";
  x += "  <testsuite name=\"" + xml_escape(test_name) + "\" " + counts + " skipped=\"0\">\n";
  x += cases;
  if (!warnings.empty()) x += "    <system-err>" + xml_escape(warnings) + "</system-err>\n";
  x += "  </testsuite>\n</testsuites>\n";
  return x;
}

}  // namespace faultline::report
