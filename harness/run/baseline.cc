#include "harness/run/baseline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>

#include "harness/files.h"
#include "harness/history.h"
#include "harness/report/failure.h"
#include "harness/report/report.h"
#include "harness/run_dir.h"
#include "harness/version.h"

namespace faultline::run {

namespace fs = std::filesystem;

namespace {

// The spec keys that define a cell whatever the matrix varied.
const char* const kCellKeys[] = {"db",         "workload",         "nemesis",
                                 "db-options", "workload-options", "consistency-model"};

bool empty_value(const Json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  return v.is_null() || ((v.is_object() || v.is_array()) && v.empty());
}

std::string num(double v, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::floor(q * static_cast<double>(v.size() - 1) + 0.5));
  return v[std::min(i, v.size() - 1)];
}

double per_1000(int64_t count, int64_t ok_ops) {
  return ok_ops > 0 ? 1000.0 * static_cast<double>(count) / static_cast<double>(ok_ops)
                    : static_cast<double>(count) * 1000.0;
}

std::string xml(const std::string& s) { return report::html_escape(s); }

}  // namespace

std::vector<std::string> default_cell_keys() {
  return std::vector<std::string>(std::begin(kCellKeys), std::end(kCellKeys));
}

Json cell_key(const Json& test, const std::vector<std::string>& keys_in) {
  const std::vector<std::string> keys = keys_in.empty() ? default_cell_keys() : keys_in;
  const Json spec = test.value("spec", Json::object());
  Json key = Json::object();
  for (const auto& k : keys) {
    auto it = spec.find(k);
    if (it != spec.end() && !empty_value(*it)) key[k] = *it;
  }
  if (!key.contains("nemesis") && std::count(keys.begin(), keys.end(), "nemesis")) {
    key["nemesis"] = Json::array();
  }
  const Json cell = test.value("matrix-cell", Json::object());
  if (cell.is_object()) {
    for (const auto& [k, v] : cell.items()) key[k] = spec.contains(k) ? spec[k] : v;
  }
  return key;
}

std::string cell_label(const Json& key) {
  std::string s;
  for (const auto& [k, v] : key.items()) {
    if (!s.empty()) s += ' ';
    s += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return s;
}

void rekey(std::vector<RunMetrics>* runs, const std::vector<std::string>& keys) {
  for (auto& r : *runs) {
    if (r.test.is_object()) {
      r.key = cell_key(r.test, keys);
    } else {
      Json k = Json::object();
      for (const auto& name : keys) {
        if (r.key.contains(name)) k[name] = r.key[name];
      }
      r.key = k;
    }
    r.label = cell_label(r.key);
  }
}

RunMetrics read_run_metrics(const fs::path& dir, const std::vector<std::string>& keys) {
  RunDir run(dir);
  RunMetrics m;
  m.dir = dir;
  Json test, results;
  try {
    test = run.test();
    results = Json::parse(read_file(run.results_json()));
  } catch (const std::exception& e) {
    throw std::runtime_error(dir.string() + ": not a finished run: " + e.what());
  }
  m.test = test;
  m.key = cell_key(test, keys);
  m.label = cell_label(m.key);
  m.verdict = results.value("valid", std::string("unknown"));
  m.db_version = test.value("db-version", Json("unknown")).is_string()
                     ? test.value("db-version", std::string("unknown"))
                     : "unknown";
  m.anomalies = report::anomaly_counts(results);

  const History& h = run.history().history;
  const report::TimeAxis axis = report::time_axis(test, h);
  std::vector<double> lat_ms;
  int64_t last_ns = axis.origin_ns;
  const auto faults = nemesis_intervals(h);
  std::map<std::string, std::pair<int64_t, int64_t>> under;  // name -> (ok, invoked)
  const std::vector<Operation> ops = client_operations(h);
  for (const Operation& o : ops) {
    ++m.client_ops;
    const bool ok = o.complete && o.complete->type == OpType::kOk;
    const int64_t t0 = o.invoke->time_ns;
    bool in_fault = false;
    for (const auto& f : faults) {
      if (t0 >= f.start_ns && t0 < f.end_ns) {
        in_fault = true;
        auto& u = under[f.name];
        ++u.second;
        u.first += ok;
      }
    }
    if (!in_fault) {
      auto& u = under["none"];
      ++u.second;
      u.first += ok;
    }
    if (!ok) continue;
    ++m.ok_ops;
    if (t0 >= 0 && o.complete->time_ns >= t0) {
      lat_ms.push_back(static_cast<double>(o.complete->time_ns - t0) / 1e6);
      last_ns = std::max(last_ns, o.complete->time_ns);
    }
  }
  m.duration_s = static_cast<double>(last_ns - axis.origin_ns) / 1e9;
  m.throughput = m.duration_s > 0 ? static_cast<double>(m.ok_ops) / m.duration_s : 0;
  m.p50_ms = quantile(lat_ms, 0.5);
  m.p99_ms = quantile(lat_ms, 0.99);
  m.availability =
      m.client_ops > 0 ? static_cast<double>(m.ok_ops) / static_cast<double>(m.client_ops) : 1;
  for (const auto& [name, u] : under) {
    m.availability_under[name] =
        u.second > 0 ? static_cast<double>(u.first) / static_cast<double>(u.second) : 1;
  }
  // Recovery: from each heal to the completion of the first ok op invoked after it.
  for (const auto& f : faults) {
    if (!f.ended) continue;
    int64_t first = -1;
    for (const Operation& o : ops) {
      if (o.invoke->time_ns >= f.end_ns && o.complete && o.complete->type == OpType::kOk) {
        first = first < 0 ? o.complete->time_ns : std::min(first, o.complete->time_ns);
      }
    }
    if (first >= 0) {
      m.recovery_s = std::max(m.recovery_s, static_cast<double>(first - f.end_ns) / 1e9);
    }
  }
  return m;
}

std::vector<fs::path> find_runs(const fs::path& dir) {
  std::vector<fs::path> runs;
  std::error_code ec;
  if (fs::exists(dir / "results.json", ec) && fs::exists(dir / "test.json", ec)) return {dir};
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_symlink()) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory() && fs::exists(it->path() / "results.json") &&
        fs::exists(it->path() / "test.json")) {
      runs.push_back(it->path());
      it.disable_recursion_pending();
    }
  }
  std::sort(runs.begin(), runs.end());
  return runs;
}

std::vector<RunMetrics> read_runs(const fs::path& dir, std::vector<std::string>* skipped) {
  std::vector<RunMetrics> out;
  for (const auto& r : find_runs(dir)) {
    try {
      out.push_back(read_run_metrics(r));
    } catch (const std::exception& e) {
      if (!skipped) throw;
      skipped->push_back(e.what());
    }
  }
  return out;
}

namespace {

// BlessOptions::pool: the cells that agree on `keys` allow the union of their verdicts and
// anomaly types, each type at the highest bound any of them had.
void pool_cells(Json* cells, const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<std::string>> groups;  // pooled key values -> labels
  for (const auto& [label, c] : cells->items()) {
    Json values = Json::object();
    for (const auto& k : keys) values[k] = c["key"].contains(k) ? c["key"][k] : Json();
    groups[values.dump()].push_back(label);
  }
  std::string by;
  for (const auto& k : keys) by += (by.empty() ? "" : ", ") + k;
  for (const auto& [values, labels] : groups) {
    if (labels.size() < 2) continue;
    std::set<std::string> verdicts;
    std::map<std::string, double> bounds;
    for (const auto& l : labels) {
      const Json& c = (*cells)[l];
      if (c["verdict"].is_string()) {
        verdicts.insert(c["verdict"].get<std::string>());
      } else {
        for (const auto& v : c["verdict"]) verdicts.insert(v.get<std::string>());
      }
      for (const auto& [t, a] : c["anomalies"].items()) {
        bounds[t] = std::max(bounds[t], a["max-per-1000-ops"].get<double>());
      }
    }
    for (const auto& l : labels) {
      Json& c = (*cells)[l];
      std::vector<std::string> widened;
      for (const auto& [t, bound] : bounds) {
        Json& a = c["anomalies"][t];
        if (!a.contains("max-per-1000-ops")) widened.push_back(t);
        a["max-per-1000-ops"] = bound;
      }
      const bool flips = verdicts.size() > 1 && c["verdict"].is_string();
      c["verdict"] = verdicts.size() == 1
                         ? Json(*verdicts.begin())
                         : Json(std::vector<std::string>(verdicts.begin(), verdicts.end()));
      std::string note = "pooled by " + by + " with " + std::to_string(labels.size() - 1) +
                         " other cells: their anomaly types and verdicts are allowed here";
      if (!widened.empty()) {
        note += " (added: ";
        for (size_t i = 0; i < widened.size(); ++i) note += (i ? ", " : "") + widened[i];
        note += ")";
      }
      if (flips) note += "; either verdict";
      c["note"] = note;
    }
  }
}

}  // namespace

Json write_baseline(const std::vector<RunMetrics>& runs, const std::string& written_from,
                    const BlessOptions& o) {
  std::map<std::string, std::vector<const RunMetrics*>> cells;
  for (const auto& r : runs) cells[r.label].push_back(&r);
  Json out = {{"faultline-version", kVersion},
              {"written-from", written_from},
              {"cell-keys", o.cell_keys.empty() ? default_cell_keys() : o.cell_keys},
              {"cells", Json::object()}};
  for (const auto& [label, rs] : cells) {
    Json c = {{"key", rs.front()->key},
              {"runs", rs.size()},
              {"policy", o.policy},
              {"db-version", rs.front()->db_version}};
    // The verdict every run had, or all those seen (a flaky cell: any of them is expected).
    std::set<std::string> verdicts;
    for (const auto* r : rs) verdicts.insert(r->verdict);
    c["verdict"] = verdicts.size() == 1
                       ? Json(*verdicts.begin())
                       : Json(std::vector<std::string>(verdicts.begin(), verdicts.end()));
    Json anomalies = Json::object();
    std::map<std::string, std::pair<double, int>> seen;  // type -> (max rate, runs)
    for (const auto* r : rs) {
      for (const auto& [t, n] : r->anomalies) {
        auto& s = seen[t];
        s.first = std::max(s.first, per_1000(n, r->ok_ops));
        ++s.second;
      }
    }
    for (const auto& [t, s] : seen) {
      double bound = std::max(s.first * o.rate_margin, s.first + 1.0);
      anomalies[t] = {{"max-per-1000-ops", std::ceil(bound * 100) / 100}, {"runs", s.second}};
    }
    c["anomalies"] = anomalies;
    double tp = 1e300, p99 = 0, rec = -1;
    std::map<std::string, double> avail;
    double avail_all = 1;
    for (const auto* r : rs) {
      tp = std::min(tp, r->throughput);
      p99 = std::max(p99, r->p99_ms);
      rec = std::max(rec, r->recovery_s);
      avail_all = std::min(avail_all, r->availability);
      for (const auto& [n, a] : r->availability_under) {
        avail[n] = avail.count(n) ? std::min(avail[n], a) : a;
      }
    }
    Json guards = {{"throughput-min", std::floor(tp * o.throughput_margin * 100) / 100},
                   {"p99-ms-max", std::ceil((p99 * o.latency_margin + 5) * 100) / 100}};
    if (rec >= 0) guards["recovery-s-max"] = std::ceil((rec * 2 + 5) * 100) / 100;
    Json am = {{"all", std::max(0.0, std::floor((avail_all - o.availability_slack) * 100) / 100)}};
    for (const auto& [n, a] : avail) {
      am[n] = std::max(0.0, std::floor((a - o.availability_slack) * 100) / 100);
    }
    guards["availability-min"] = am;
    c["guards"] = guards;
    out["cells"][label] = c;
  }
  if (!o.pool.empty()) pool_cells(&out["cells"], o.pool);
  return out;
}

namespace {

// One thing wrong with a run: kind (verdict, new-anomaly, rate, guard), what it is about (the
// anomaly type or guard name), and the sentence.
struct Problem {
  std::string kind, name, text;
};

// A list of problems that prints as their sentences.
struct Problems : std::vector<Problem> {
  void push_back(const std::string& text) { push(kind_, name_, text); }
  void push(const std::string& kind, const std::string& name, const std::string& text) {
    std::vector<Problem>::push_back({kind, name, text});
  }
  // The kind and name the next push_back(text) gets.
  Problems& as(const std::string& kind, const std::string& name) {
    kind_ = kind;
    name_ = name;
    return *this;
  }

 private:
  std::string kind_, name_;
};

// What is wrong with one run against its cell's baseline (empty: it passes); `expected` gets
// the expected anomaly types it showed.
Problems run_problems(const Json& cell, const RunMetrics& r, std::vector<std::string>* expected) {
  Problems p;
  // "verdict": one verdict, or the verdicts a flaky cell may have.
  const Json want_j = cell.value("verdict", Json("valid"));
  std::vector<std::string> want;
  if (want_j.is_array()) {
    for (const auto& v : want_j) want.push_back(v.get<std::string>());
  } else {
    want.push_back(want_j.get<std::string>());
  }
  if (std::find(want.begin(), want.end(), r.verdict) == want.end()) {
    std::string w = want.front();
    for (size_t i = 1; i < want.size(); ++i) w += " or " + want[i];
    p.as("verdict", "verdict")
        .push_back("verdict " + r.verdict + ", baseline " + w +
                   (want == std::vector<std::string>{"invalid"} && r.verdict == "valid"
                        ? " (better: bless a new baseline if it is fixed)"
                        : ""));
  }
  const Json anomalies = cell.value("anomalies", Json::object());
  for (const auto& [t, n] : r.anomalies) {
    auto a = anomalies.find(t);
    const double rate = per_1000(n, r.ok_ops);
    if (a == anomalies.end()) {
      p.as("new-anomaly", t)
          .push_back("new anomaly type " + t + " (" + std::to_string(n) + ", " + num(rate) +
                     " per 1,000 ok ops)");
      continue;
    }
    p.as("rate", t);
    if (a->contains("max-per-1000-ops") && rate > (*a)["max-per-1000-ops"].get<double>()) {
      p.push_back(t + " at " + num(rate) + " per 1,000 ok ops, above its bound " +
                  num((*a)["max-per-1000-ops"].get<double>()));
    } else if (a->contains("max-per-run") && n > (*a)["max-per-run"].get<int64_t>()) {
      p.push_back(t + ": " + std::to_string(n) + " in the run, above its bound " +
                  std::to_string((*a)["max-per-run"].get<int64_t>()));
    } else if (expected) {
      expected->push_back(t);
    }
  }
  const Json g = cell.value("guards", Json::object());
  if (g.contains("throughput-min") && r.throughput < g["throughput-min"].get<double>()) {
    p.as("guard", "throughput-min")
        .push_back("throughput " + num(r.throughput, 1) + " ok ops/s, below its floor " +
                   num(g["throughput-min"].get<double>(), 1));
  }
  if (g.contains("p99-ms-max") && r.p99_ms > g["p99-ms-max"].get<double>()) {
    p.as("guard", "p99-ms-max")
        .push_back("p99 latency " + num(r.p99_ms) + " ms, above its ceiling " +
                   num(g["p99-ms-max"].get<double>()));
  }
  if (g.contains("recovery-s-max") && r.recovery_s > g["recovery-s-max"].get<double>()) {
    p.as("guard", "recovery-s-max")
        .push_back("recovery after heal " + num(r.recovery_s) + " s, above its ceiling " +
                   num(g["recovery-s-max"].get<double>()));
  }
  const Json am = g.value("availability-min", Json::object());
  for (const auto& [n, min] : am.items()) {
    if (!min.is_number()) continue;
    double a = -1;
    if (n == "all") {
      a = r.availability;
    } else if (r.availability_under.count(n)) {
      a = r.availability_under.at(n);
    }
    if (a >= 0 && a < min.get<double>()) {
      p.as("guard", "availability-min " + n)
          .push_back("availability " + (n == "all" ? std::string() : "under " + n + " ") +
                     num(a * 100, 1) + " %, below its floor " + num(min.get<double>() * 100, 1) +
                     " %");
    }
  }
  return p;
}

void check_baseline_shape(const Json& b) {
  if (!b.is_object() || !b.contains("cells") || !b["cells"].is_object()) {
    throw std::invalid_argument("/cells: expected an object of cells (faultline baseline write)");
  }
  if (b.contains("cell-keys")) {
    bool ok = b["cell-keys"].is_array();
    for (const auto& k : ok ? b["cell-keys"] : Json::array()) ok = ok && k.is_string();
    if (!ok) throw std::invalid_argument("/cell-keys: expected an array of spec keys");
  }
  for (const auto& [label, c] : b["cells"].items()) {
    const std::string at = "/cells/" + label;
    if (!c.is_object()) throw std::invalid_argument(at + ": expected an object");
    const std::string policy = c.value("policy", std::string("all"));
    if (policy != "all" && policy != "most" && policy != "any") {
      std::string m = at;
      m += "/policy: expected all, most or any, not '";
      m += policy;
      m += "'";
      throw std::invalid_argument(m);
    }
    const Json vj = c.value("verdict", Json("valid"));
    const Json vs = vj.is_array() ? vj : Json::array({vj});
    for (const auto& v : vs) {
      if (!v.is_string() || (v != "valid" && v != "invalid" && v != "unknown")) {
        throw std::invalid_argument(at +
                                    "/verdict: expected valid, invalid or unknown, or a list of "
                                    "them");
      }
    }
    const Json anomalies = c.value("anomalies", Json::object());
    for (const auto& [t, a] : anomalies.items()) {
      std::string where = at;
      where += "/anomalies/";
      where += t;
      if (!a.is_object()) throw std::invalid_argument(where + ": expected an object");
      if (a.contains("max-per-1000-ops") && !a["max-per-1000-ops"].is_number()) {
        throw std::invalid_argument(where + "/max-per-1000-ops: expected a number");
      }
      if (a.contains("max-per-run") && !a["max-per-run"].is_number_integer()) {
        throw std::invalid_argument(where + "/max-per-run: expected an integer");
      }
    }
    const Json guards = c.value("guards", Json::object());
    for (const auto& [k, v2] : guards.items()) {
      if (k == "availability-min" ? !v2.is_object() : !v2.is_number()) {
        std::string where = at;
        where += "/guards/";
        where += k;
        throw std::invalid_argument(where + ": expected " +
                                    (k == "availability-min" ? "an object" : "a number"));
      }
    }
  }
}

}  // namespace

Json judge_runs(const Json& baseline, const std::vector<RunMetrics>& runs_in) {
  check_baseline_shape(baseline);
  std::vector<RunMetrics> runs = runs_in;
  if (baseline.contains("cell-keys")) {
    rekey(&runs, baseline["cell-keys"].get<std::vector<std::string>>());
  }
  std::map<std::string, std::vector<const RunMetrics*>> cells;
  for (const auto& r : runs) cells[r.label].push_back(&r);
  Json out = {{"pass", true}, {"cells", Json::array()}, {"missing", Json::array()}};
  const Json& bc = baseline["cells"];
  for (const auto& [label, c] : bc.items()) {
    if (!cells.count(label)) out["missing"].push_back(label);
  }
  for (const auto& [label, rs] : cells) {
    Json j = {{"label", label}, {"runs", rs.size()}};
    auto it = bc.find(label);
    if (it == bc.end()) {
      j["pass"] = false;
      j["policy"] = "all";
      j["passed-runs"] = 0;
      j["problems"] =
          Json::array({"no baseline for this cell (bless it with faultline baseline "
                       "write, or run the cells the baseline has)"});
      j["failures"] =
          Json::array({{{"kind", "verdict"}, {"name", "verdict"}, {"text", j["problems"][0]}}});
      out["pass"] = false;
      out["cells"].push_back(j);
      continue;
    }
    const Json& cell = *it;
    const std::string policy = cell.value("policy", std::string("all"));
    int passed = 0;
    Json run_problems_j = Json::array();
    std::map<std::string, int> problem_runs;  // problem text without numbers -> runs
    std::map<std::string, int> frequency;
    std::set<std::string> expected_seen;
    std::vector<std::string> problems;
    Json failures = Json::array();
    for (const auto* r : rs) {
      std::vector<std::string> expected;
      auto p = run_problems(cell, *r, &expected);
      passed += p.empty();
      for (const auto& e : expected) expected_seen.insert(e);
      for (const auto& [t, n] : r->anomalies) ++frequency[t];
      Json texts = Json::array();
      for (const auto& q : p) {
        texts.push_back(q.text);
        if (std::find(problems.begin(), problems.end(), q.text) != problems.end()) continue;
        problems.push_back(q.text);
        failures.push_back({{"kind", q.kind}, {"name", q.name}, {"text", q.text}});
      }
      run_problems_j.push_back({{"dir", r->dir.string()}, {"problems", texts}});
    }
    const int n = static_cast<int>(rs.size());
    const bool pass = policy == "any"    ? passed >= 1
                      : policy == "most" ? 2 * passed > n
                                         : passed == n;
    j["pass"] = pass;
    j["policy"] = policy;
    j["passed-runs"] = passed;
    j["problems"] = problems;
    j["failures"] = failures;
    Json guard_names = Json::array();
    const Json cell_guards = cell.value("guards", Json::object());
    for (const auto& [g, v] : cell_guards.items()) {
      if (g != "availability-min") {
        guard_names.push_back(g);
        continue;
      }
      for (const auto& [n, a] : v.items()) guard_names.push_back("availability-min " + n);
    }
    j["guards"] = guard_names;
    Json freq = Json::object();
    for (const auto& [t, k] : frequency) freq[t] = k;
    j["frequency"] = freq;
    Json expected = Json::array();
    for (const auto& t : expected_seen) {
      expected.push_back(t + " in " + std::to_string(frequency[t]) + " of " + std::to_string(n) +
                         " runs (expected)");
    }
    j["expected"] = expected;
    std::vector<double> tp, p99, av;
    for (const auto* r : rs) {
      tp.push_back(r->throughput);
      p99.push_back(r->p99_ms);
      av.push_back(r->availability);
    }
    auto spread = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return Json::array({v.front(), quantile(v, 0.5), v.back()});
    };
    j["spread"] = {
        {"throughput", spread(tp)}, {"p99-ms", spread(p99)}, {"availability", spread(av)}};
    j["run-problems"] = run_problems_j;
    if (!pass) out["pass"] = false;
    out["cells"].push_back(j);
  }
  return out;
}

std::string judgement_text(const Json& j) {
  std::ostringstream o;
  for (const auto& c : j["cells"]) {
    const int n = c["runs"].get<int>();
    o << (c["pass"].get<bool>() ? "PASS " : "FAIL ") << c["label"].get<std::string>() << ": "
      << c["passed-runs"].get<int>() << " of " << n << " runs pass (policy "
      << c["policy"].get<std::string>() << ")\n";
    for (const auto& p : c["problems"]) o << "  - " << p.get<std::string>() << "\n";
    const Json expected = c.value("expected", Json::array());
    for (const auto& e : expected) o << "  . " << e.get<std::string>() << "\n";
    if (n > 1 && c.contains("frequency")) {
      for (const auto& [t, k] : c["frequency"].items()) {
        o << "  . " << t << " in " << k.get<int>() << "/" << n << " runs\n";
      }
    }
    if (c.contains("spread")) {
      const Json& s = c["spread"];
      o << "  . throughput " << num(s["throughput"][0].get<double>(), 1) << " / "
        << num(s["throughput"][1].get<double>(), 1) << " / "
        << num(s["throughput"][2].get<double>(), 1) << " ok ops/s, p99 "
        << num(s["p99-ms"][0].get<double>()) << " / " << num(s["p99-ms"][1].get<double>()) << " / "
        << num(s["p99-ms"][2].get<double>()) << " ms (min / median / max)\n";
    }
  }
  for (const auto& m : j["missing"]) {
    o << "note: baseline cell not run: " << m.get<std::string>() << "\n";
  }
  o << (j["pass"].get<bool>() ? "baseline: PASS" : "baseline: FAIL") << " (" << j["cells"].size()
    << " cells)\n";
  return o.str();
}

std::string judgement_junit(const Json& j) {
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline baseline\">\n";
  for (const auto& c : j["cells"]) {
    const std::string label = c["label"].get<std::string>();
    std::vector<std::pair<std::string, std::string>> cases;  // name -> failure ("" passes)
    std::vector<std::pair<std::string, std::string>> props;
    std::string verdict_failure;
    const Json cell_failures = c.value("failures", Json::array());
    for (const auto& f : cell_failures) {
      const std::string kind = f["kind"].get<std::string>(), text = f["text"].get<std::string>();
      if (kind == "verdict") {
        verdict_failure += (verdict_failure.empty() ? "" : "; ") + text;
        continue;
      }
      const std::string name =
          (kind == "guard" ? "guard " : "anomaly ") + f["name"].get<std::string>();
      auto same = std::find_if(cases.begin(), cases.end(),
                               [&](const auto& cs) { return cs.first == name; });
      if (same == cases.end()) {
        cases.push_back({name, text});
      } else {
        same->second += "; " + text;
      }
    }
    const Json frequency = c.value("frequency", Json::object());
    for (const auto& t : frequency.items()) {
      bool failed = false;
      for (const auto& cs : cases) failed = failed || cs.first == "anomaly " + t.key();
      if (!failed) {
        cases.push_back({"anomaly " + t.key(), ""});
        props.push_back({"expected-anomaly", t.key()});
      }
    }
    const Json guard_names = c.value("guards", Json::array());
    for (const auto& g : guard_names) {
      const std::string name = "guard " + g.get<std::string>();
      if (std::none_of(cases.begin(), cases.end(),
                       [&](const auto& cs) { return cs.first == name; })) {
        cases.push_back({name, ""});
      }
    }
    if (!c["pass"].get<bool>() && verdict_failure.empty() && cases.empty()) {
      verdict_failure = "the cell fails its policy";
    }
    cases.insert(cases.begin(), {"verdict", verdict_failure});
    size_t failures = 0;
    for (const auto& cs : cases) failures += !cs.second.empty();
    o << "  <testsuite name=\"" << xml(label) << "\" tests=\"" << cases.size() << "\" failures=\""
      << failures << "\">\n";
    if (!props.empty()) {
      o << "    <properties>\n";
      for (const auto& [k, v] : props) {
        o << "      <property name=\"" << xml(k) << "\" value=\"" << xml(v) << "\"/>\n";
      }
      o << "    </properties>\n";
    }
    for (const auto& [name, failure] : cases) {
      o << "    <testcase classname=\"" << xml(label) << "\" name=\"" << xml(name) << "\"";
      if (failure.empty()) {
        o << "/>\n";
      } else {
        o << "><failure message=\"" << xml(failure) << "\"/></testcase>\n";
      }
    }
    o << "  </testsuite>\n";
  }
  o << "</testsuites>\n";
  return o.str();
}

namespace {

Json side_summary(const std::vector<const RunMetrics*>& rs) {
  if (rs.empty()) return nullptr;
  std::map<std::string, int> verdicts;
  std::map<std::string, int64_t> anomalies;
  std::set<std::string> versions;
  std::vector<double> tp, p99, av;
  for (const auto* r : rs) {
    ++verdicts[r->verdict];
    for (const auto& [t, n] : r->anomalies) anomalies[t] += n;
    versions.insert(r->db_version);
    tp.push_back(r->throughput);
    p99.push_back(r->p99_ms);
    av.push_back(r->availability);
  }
  Json v = Json::object();
  for (const auto& [k, n] : verdicts) v[k] = n;
  Json a = Json::object();
  for (const auto& [k, n] : anomalies) a[k] = n;
  return {{"runs", rs.size()},
          {"verdicts", v},
          {"anomalies", a},
          {"versions", std::vector<std::string>(versions.begin(), versions.end())},
          {"throughput", quantile(tp, 0.5)},
          {"p99-ms", quantile(p99, 0.5)},
          {"availability", quantile(av, 0.5)}};
}

std::string change(double a, double b) {
  if (a == 0) return b == 0 ? "0 %" : "new";
  return (b >= a ? "+" : "") + num(100.0 * (b - a) / a, 1) + " %";
}

}  // namespace

Json compare_runs(const std::vector<RunMetrics>& a, const std::vector<RunMetrics>& b) {
  std::map<std::string, std::pair<std::vector<const RunMetrics*>, std::vector<const RunMetrics*>>>
      cells;
  for (const auto& r : a) cells[r.label].first.push_back(&r);
  for (const auto& r : b) cells[r.label].second.push_back(&r);
  // One cell on each side, but not the same one (two runs of a test with one option changed,
  // e.g. Galera's sync-wait 0 against 1, or two builds): they are compared with each other, as
  // one cell labelled by the keys they share, the keys that differ said first.
  Json differs = Json::array();
  auto one_cell = [](const std::vector<RunMetrics>& rs) {
    return !rs.empty() && std::all_of(rs.begin(), rs.end(),
                                      [&](const RunMetrics& r) { return r.label == rs[0].label; });
  };
  if (one_cell(a) && one_cell(b) && a[0].label != b[0].label) {
    Json shared = Json::object();
    std::set<std::string> names;
    for (const auto& [k, v] : a[0].key.items()) names.insert(k);
    for (const auto& [k, v] : b[0].key.items()) names.insert(k);
    for (const auto& k : names) {
      const Json va = a[0].key.contains(k) ? a[0].key[k] : Json();
      const Json vb = b[0].key.contains(k) ? b[0].key[k] : Json();
      if (va == vb) {
        shared[k] = va;
      } else {
        differs.push_back(k + " " + (va.is_null() ? std::string("(unset)") : va.dump()) + " -> " +
                          (vb.is_null() ? std::string("(unset)") : vb.dump()));
      }
    }
    cells.clear();
    std::string label = cell_label(shared);
    for (const auto& r : a) cells[label].first.push_back(&r);
    for (const auto& r : b) cells[label].second.push_back(&r);
  }
  Json out = {{"cells", Json::array()}};
  for (const auto& [label, sides] : cells) {
    Json c = {
        {"label", label}, {"a", side_summary(sides.first)}, {"b", side_summary(sides.second)}};
    Json changes = differs;
    if (c["a"].is_null() || c["b"].is_null()) {
      changes.push_back(c["a"].is_null() ? "only in B" : "only in A");
    } else {
      const Json &x = c["a"], &y = c["b"];
      if (x["verdicts"] != y["verdicts"]) {
        changes.push_back("verdicts " + x["verdicts"].dump() + " -> " + y["verdicts"].dump());
      }
      std::set<std::string> types;
      for (const auto& [t, n] : x["anomalies"].items()) types.insert(t);
      for (const auto& [t, n] : y["anomalies"].items()) types.insert(t);
      for (const auto& t : types) {
        const int64_t na = x["anomalies"].value(t, int64_t{0}),
                      nb = y["anomalies"].value(t, int64_t{0});
        if (na == 0) {
          changes.push_back("new in B: " + t + " (" + std::to_string(nb) + ")");
        } else if (nb == 0) {
          changes.push_back("gone in B: " + t + " (" + std::to_string(na) + " in A)");
        } else if (na != nb) {
          changes.push_back(t + " " + std::to_string(na) + " -> " + std::to_string(nb));
        }
      }
      if (x["versions"] != y["versions"]) {
        changes.push_back("versions " + x["versions"].dump() + " -> " + y["versions"].dump());
      }
      c["throughput-change"] = change(x["throughput"].get<double>(), y["throughput"].get<double>());
      c["p99-change"] = change(x["p99-ms"].get<double>(), y["p99-ms"].get<double>());
      c["availability-change"] =
          num(100.0 * (y["availability"].get<double>() - x["availability"].get<double>()), 1) +
          " points";
    }
    c["changes"] = changes;
    out["cells"].push_back(c);
  }
  return out;
}

std::string compare_text(const Json& cmp) {
  std::ostringstream o;
  o << "A: " << cmp.value("a-path", std::string("A"))
    << "\nB: " << cmp.value("b-path", std::string("B")) << "\n";
  for (const auto& c : cmp["cells"]) {
    o << "\n" << c["label"].get<std::string>() << "\n";
    for (const char* side : {"a", "b"}) {
      const Json& s = c[side];
      o << "  " << (side[0] == 'a' ? "A" : "B") << ": ";
      if (s.is_null()) {
        o << "no runs\n";
        continue;
      }
      o << s["runs"].get<size_t>() << " runs, verdicts " << s["verdicts"].dump() << ", "
        << num(s["throughput"].get<double>(), 1) << " ok ops/s, p99 "
        << num(s["p99-ms"].get<double>()) << " ms, availability "
        << num(100 * s["availability"].get<double>(), 1) << " %, " << s["anomalies"].size()
        << " anomaly types";
      if (!s["anomalies"].empty()) o << " " << s["anomalies"].dump();
      o << "\n";
    }
    if (c.contains("throughput-change")) {
      o << "  change: throughput " << c["throughput-change"].get<std::string>() << ", p99 "
        << c["p99-change"].get<std::string>() << ", availability "
        << c["availability-change"].get<std::string>() << "\n";
    }
    for (const auto& ch : c["changes"]) o << "  * " << ch.get<std::string>() << "\n";
  }
  return o.str();
}

std::string compare_html(const Json& cmp) {
  std::ostringstream o;
  o << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Faultline: compare</title>"
       "<style>body{font:14px/1.4 system-ui,sans-serif;margin:20px auto;max-width:1200px;"
       "padding:0 16px}table{border-collapse:collapse}td,th{padding:4px 10px;text-align:left;"
       "vertical-align:top;border-bottom:1px solid #ddd}.chg{color:#8e1b14}code{font-size:12px}"
       "</style></head><body><h1>Compare</h1><p>A: <code>"
    << xml(cmp.value("a-path", std::string("A"))) << "</code><br>B: <code>"
    << xml(cmp.value("b-path", std::string("B")))
    << "</code></p><table><tr><th>cell</th><th>A</th><th>B</th><th>changes</th></tr>\n";
  auto side = [&](const Json& s) {
    if (s.is_null()) return std::string("no runs");
    std::string t = std::to_string(s["runs"].get<size_t>()) + " runs, " + s["verdicts"].dump() +
                    "<br>" + num(s["throughput"].get<double>(), 1) + " ok ops/s, p99 " +
                    num(s["p99-ms"].get<double>()) + " ms, availability " +
                    num(100 * s["availability"].get<double>(), 1) + " %";
    for (const auto& [k, n] : s["anomalies"].items()) {
      t += "<br>" + xml(k) + ": " + std::to_string(n.get<int64_t>());
    }
    return t;
  };
  for (const auto& c : cmp["cells"]) {
    o << "<tr><td><code>" << xml(c["label"].get<std::string>()) << "</code></td><td>"
      << side(c["a"]) << "</td><td>" << side(c["b"]) << "</td><td class=\"chg\">";
    if (c.contains("throughput-change")) {
      o << "throughput " << xml(c["throughput-change"].get<std::string>()) << ", p99 "
        << xml(c["p99-change"].get<std::string>()) << ", availability "
        << xml(c["availability-change"].get<std::string>());
    }
    for (const auto& ch : c["changes"]) o << "<br>" << xml(ch.get<std::string>());
    o << "</td></tr>\n";
  }
  o << "</table></body></html>\n";
  return o.str();
}

}  // namespace faultline::run
