#include "harness/run/matrix.h"

#include <map>
#include <set>
#include <stdexcept>

#include "harness/errors.h"
#include "harness/report/report.h"

namespace faultline::run {

std::vector<MatrixCombination> expand_matrix(const Json& spec) {
  const Json& m = spec.at("matrix");
  if (!m.is_object() || m.empty()) {
    throw ConfigError("/matrix: expected an object of key -> [values]");
  }
  std::vector<std::pair<std::string, Json>> axes;
  for (const auto& [key, values] : m.items()) {
    if (key == "matrix" || key == "test-count") {
      throw ConfigError("/matrix/" + key + ": cannot vary");
    }
    if (!values.is_array() || values.empty()) {
      throw ConfigError("/matrix/" + key + ": expected a non-empty list of values");
    }
    axes.push_back({key, values});
  }
  Json base = spec;
  base.erase("matrix");
  std::vector<MatrixCombination> out;
  std::vector<size_t> at(axes.size(), 0);
  while (true) {
    MatrixCombination c{Json::object(), base};
    for (size_t i = 0; i < axes.size(); ++i) {
      c.values[axes[i].first] = axes[i].second[at[i]];
      c.spec[axes[i].first] = axes[i].second[at[i]];
    }
    out.push_back(std::move(c));
    size_t i = axes.size();
    while (i > 0) {
      --i;
      if (++at[i] < axes[i].second.size()) break;
      at[i] = 0;
      if (i == 0) return out;
    }
    if (axes.empty()) return out;
  }
}

Json matrix_json(const std::vector<MatrixRun>& runs) {
  Json rows = Json::array();
  std::map<std::string, int> tally;
  for (const auto& r : runs) {
    Json row = {{"values", r.values},
                {"run", r.run},
                {"valid", r.verdict},
                {"dir", r.dir},
                {"checkers", r.checkers.is_null() ? Json::object() : r.checkers}};
    if (!r.error.empty()) row["error"] = r.error;
    rows.push_back(row);
    ++tally[r.verdict];
  }
  return {{"runs", rows}, {"tally", tally}};
}

std::string matrix_html(const Json& matrix) {
  std::set<std::string> keys, checkers;
  for (const auto& r : matrix["runs"]) {
    for (const auto& [k, v] : r["values"].items()) keys.insert(k);
    for (const auto& [k, v] : r["checkers"].items()) checkers.insert(k);
  }
  auto cls = [](const std::string& v) -> std::string {
    return v == "valid" ? "valid" : v == "invalid" ? "invalid" : "unknown";
  };
  std::string h =
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Faultline matrix"
      "</title><style>body{font:14px/1.4 system-ui,sans-serif;margin:20px}table{border-collapse:"
      "collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}"
      ".valid{background:#e3f6e7}.invalid{background:#fde6e5}.unknown{background:#fff4d6}"
      "small{color:#555}</style></head><body><h1>Matrix</h1><p>";
  for (const auto& [v, n] : matrix["tally"].items()) {
    h += report::html_escape(v) + ": " + std::to_string(n.get<int>()) + " &nbsp; ";
  }
  h += "</p><table><tr>";
  for (const auto& k : keys) h += "<th>" + report::html_escape(k) + "</th>";
  h += "<th>run</th><th>verdict</th>";
  for (const auto& c : checkers) h += "<th>" + report::html_escape(c) + "</th>";
  h += "<th>report</th></tr>\n";
  for (const auto& r : matrix["runs"]) {
    h += "<tr>";
    for (const auto& k : keys) {
      const Json& v = r["values"].contains(k) ? r["values"][k] : Json();
      h += "<td>" + report::html_escape(v.is_string() ? v.get<std::string>() : json_text(v)) +
           "</td>";
    }
    std::string verdict = r.value("valid", std::string("unknown"));
    h += "<td>" + std::to_string(r.value("run", 1)) + "</td><td class=\"" + cls(verdict) + "\">" +
         report::html_escape(verdict) +
         (r.contains("error")
              ? "<br><small>" + report::html_escape(r["error"].get<std::string>()) + "</small>"
              : std::string()) +
         "</td>";
    for (const auto& c : checkers) {
      if (!r["checkers"].contains(c)) {
        h += "<td></td>";
        continue;
      }
      const Json& cj = r["checkers"][c];
      std::string v = cj.value("valid", std::string("unknown"));
      h += "<td class=\"" + cls(v) + "\">" + report::html_escape(v) + "<br><small>" +
           report::html_escape(cj.value("summary", std::string())) + "</small></td>";
    }
    std::string dir = r.value("dir", std::string());
    h += "<td>" +
         (dir.empty() ? std::string()
                      : "<a href=\"" + report::html_escape(dir) + "/report.html\">report</a>") +
         "</td></tr>\n";
  }
  return h + "</table></body></html>\n";
}

}  // namespace faultline::run
