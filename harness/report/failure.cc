#include "harness/report/failure.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "harness/control/local_exec.h"
#include "harness/db.h"
#include "harness/errors.h"
#include "harness/files.h"
#include "harness/history.h"
#include "harness/recorder.h"
#include "harness/remote.h"
#include "harness/report/claims.h"
#include "harness/report/junit.h"
#include "harness/report/report.h"
#include "harness/version.h"

namespace faultline::report {

namespace fs = std::filesystem;

namespace {

std::string text_of(const Json& j) { return j.is_string() ? j.get<std::string>() : json_text(j); }

// A value for a line of text: long lists keep their first and last elements
// ([1 2 … 19 20], Elle's way), long strings are clipped.
std::string value_words(const Json& v, size_t depth = 0) {
  if (v.is_array()) {
    const bool scalars =
        std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_primitive(); });
    std::string out = "[";
    const size_t n = v.size();
    for (size_t i = 0; i < n; ++i) {
      if (scalars && n > 6 && i == 2) {
        out += " …";
        i = n - 3;
        continue;
      }
      if (i) out += scalars ? " " : ", ";
      out += value_words(v[i], depth + 1);
    }
    return out + "]";
  }
  return cut_text(json_text(v), 120);
}

std::string seconds(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(ns) / 1e9);
  return buf;
}

// The invocation and completion of the op a checker named by index.
struct Pair {
  const Op* inv = nullptr;
  const Op* done = nullptr;
};
Pair pair_at(const History& h, int64_t index) {
  Pair p;
  if (index < 0 || static_cast<size_t>(index) >= h.size()) return p;
  const Op& op = h[static_cast<size_t>(index)];
  const int64_t other = h.pair_of(static_cast<size_t>(index));
  const Op* o = other >= 0 ? &h[static_cast<size_t>(other)] : nullptr;
  if (op.is_invoke() || (op.is_nemesis() && o && o->index > op.index)) {
    p.inv = &op;
    p.done = o;
  } else {
    p.inv = o ? o : &op;
    p.done = &op;
  }
  return p;
}

// Op indexes named in a checker's anomaly: every object with an integer "index" (and
// "process") anywhere in it.
// A "line" (the history file's line) wins over "index": the linearizable checker numbers ops
// within a key's subhistory.
void op_indexes(const Json& j, const std::map<int64_t, int64_t>& line_to_index,
                std::set<int64_t>* out) {
  if (j.is_object()) {
    auto it = j.find("index");
    if (it != j.end() && it->is_number_integer() && j.contains("process")) {
      auto line = j.find("line");
      auto at = line != j.end() && line->is_number_integer()
                    ? line_to_index.find(line->get<int64_t>())
                    : line_to_index.end();
      out->insert(at != line_to_index.end() ? at->second : it->get<int64_t>());
    }
    for (const auto& [k, v] : j.items()) {
      if (k == "lost-ops" || k == "last-read") continue;  // more of the same, not the witness
      op_indexes(v, line_to_index, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) op_indexes(v, line_to_index, out);
  }
}

// The index an op is named by, as Elle and the checkers' explanations name it: its completion's
// (the invocation's when it never completed).
int64_t shown_index(const Json& op) {
  return op.value("complete-index", op.value("index", int64_t{-1}));
}

struct Candidate {
  std::string checker, type, explanation;
  std::vector<int64_t> ops;  // invocation indexes, in time order
  size_t size = 0;           // bytes of the ops' values: the smaller, the easier to read
};

// Every anomaly the checkers report, with the ops it names.
std::vector<Candidate> candidates(const Json& results, const History& h) {
  std::vector<Candidate> out;
  std::map<int64_t, int64_t> line_to_index;
  for (const Op& op : h) {
    if (op.line > 0) line_to_index[op.line] = op.index;
  }
  const Json checkers = results.value("checkers", Json::object());
  for (const auto& [label, r] : checkers.items()) {
    const std::string checker = r.value("checker", label);
    std::vector<std::pair<std::string, const Json*>> found;
    if (r.contains("anomalies") && r["anomalies"].is_array()) {
      for (const auto& a : r["anomalies"]) {
        if (a.is_object() && a.contains("type")) found.emplace_back(text_of(a["type"]), &a);
      }
    }
    if (r.contains("counterexamples") && r["counterexamples"].is_array()) {
      for (const auto& a : r["counterexamples"]) found.emplace_back("nonlinearizable", &a);
    }
    for (const auto& [type, a] : found) {
      Candidate c;
      c.checker = checker;
      c.type = type;
      if (a->contains("explanation")) {
        c.explanation = text_of((*a)["explanation"]);
      } else if (checker == "linearizable" && r.contains("explanation")) {
        c.explanation = text_of(r["explanation"]);
      }
      std::set<int64_t> idx;
      op_indexes(*a, line_to_index, &idx);
      std::set<int64_t> invs;
      for (int64_t i : idx) {
        Pair p = pair_at(h, i);
        if (p.inv) invs.insert(p.inv->index);
      }
      c.ops.assign(invs.begin(), invs.end());
      for (int64_t i : c.ops) {
        Pair p = pair_at(h, i);
        c.size += json_text(p.inv->value).size() + (p.done ? json_text(p.done->value).size() : 0);
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

// Each node's clock offset over time (clock_offset_steps), and the clock nemesis's moves in
// flight: while a strobe flips a node's clock (or a bump is being applied) the last completed
// op's offsets are not the whole truth, as the lww checker says too.
class ClockOffsets {
 public:
  explicit ClockOffsets(const History& h) : steps_(clock_offset_steps(h)) {
    // Nemesis invocations are info ops, as Jepsen records them: a clock op's completion is the
    // one that carries the offsets, its invocation the one before it with the same f.
    std::map<std::string, const Op*> open;  // f -> its invocation
    for (const Op& op : h) {
      if (!op.is_nemesis() || op.time_ns < 0) continue;
      if (op.f != "bump-clock" && op.f != "strobe-clock" && op.f != "reset-clock") continue;
      if (op.value.is_object() && op.value.contains("offsets-ms")) {
        auto it = open.find(op.f);
        if (it != open.end()) moves_.push_back({it->second->time_ns, op.time_ns, it->second});
        open.erase(op.f);
      } else {
        open[op.f] = &op;
      }
    }
    for (const auto& [f, inv] : open) moves_.push_back({inv->time_ns, INT64_MAX, inv});
  }
  bool any() const { return steps_.has_value(); }
  // The node's offset in ms at history time t (0 before the first clock op).
  double at(const std::string& node, int64_t t) const {
    if (!steps_) return 0;
    auto it = steps_->find(node);
    if (it == steps_->end()) return 0;
    double v = 0;
    for (const auto& [time, ms] : it->second) {
      if (time > t) break;
      v = ms;
    }
    return v;
  }
  // What a clock move in flight during [t0, t1] did to the node's clock, in words ("" when
  // none): e.g. "strobe-clock flipping it by 13000 ms every 50 ms".
  std::string moving(const std::string& node, int64_t t0, int64_t t1) const {
    for (const Move& m : moves_) {
      if (m.start_ns > t1 || m.end_ns < t0) continue;
      const Json& v = m.invoke->value;
      if (m.invoke->f == "strobe-clock" && v.is_object()) {
        auto nodes = v.value("nodes", std::vector<std::string>());
        if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) continue;
        return "strobe-clock flipping it by " + json_text(v.value("delta-ms", Json(0))) +
               " ms every " + json_text(v.value("period-ms", Json(0))) + " ms";
      }
      if (m.invoke->f == "bump-clock" && v.is_object()) {
        if (!v.contains(node)) continue;
        return "bump-clock stepping it by " + json_text(v[node]) + " ms";
      }
      if (m.invoke->f == "reset-clock") return "reset-clock setting it back to 0";
    }
    return {};
  }

 private:
  struct Move {
    int64_t start_ns, end_ns;
    const Op* invoke;
  };
  std::optional<ClockOffsetSteps> steps_;
  std::vector<Move> moves_;
};

// Unix µs of a log line's first timestamp ("2026-12-04  2:57:41", "2026-12-04T02:57:41.123Z",
// "2026-12-04 02:57:41.123 UTC"), read as UTC; -1 when the line has none.
int64_t log_time_us(const std::string& line) {
  static const std::regex kTs(R"((\d{4})-(\d{2})-(\d{2})[ T]+(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?)");
  std::smatch m;
  const std::string head = line.substr(0, std::min<size_t>(line.size(), 160));
  if (!std::regex_search(head, m, kTs)) return -1;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  int64_t us = static_cast<int64_t>(timegm(&tm)) * 1000000;
  if (m[7].matched) {
    std::string frac = m[7].str().substr(1);
    frac.resize(6, '0');
    us += std::stoll(frac);
  }
  return us;
}

struct LogLine {
  int64_t t_ns;  // history time
  std::string file, text;
};

// Each node's log lines with a timestamp, on the history's clock.
std::map<std::string, std::vector<LogLine>> read_logs(const RunDir& run, int64_t origin_us,
                                                      const ClockOffsets& clocks) {
  std::map<std::string, std::vector<LogLine>> out;
  const fs::path nodes = run.path() / "nodes";
  std::error_code ec;
  if (origin_us <= 0 || !fs::is_directory(nodes, ec)) return out;
  for (const auto& nd : fs::directory_iterator(nodes, ec)) {
    if (!nd.is_directory()) continue;
    const std::string node = nd.path().filename().string();
    for (const auto& f : fs::recursive_directory_iterator(nd.path(), ec)) {
      if (!f.is_regular_file() || f.file_size() > (64u << 20)) continue;
      std::ifstream in(f.path());
      std::string line;
      const std::string rel = fs::relative(f.path(), run.path()).string();
      while (std::getline(in, line)) {
        const int64_t us = log_time_us(line);
        if (us < 0) continue;
        int64_t t = (us - origin_us) * 1000;
        // The node's processes ran on its faked clock: take its offset off.
        t -= static_cast<int64_t>(clocks.at(node, t) * 1e6);
        out[node].push_back({t, rel, cut_text(line, 300)});
      }
    }
    std::stable_sort(out[node].begin(), out[node].end(),
                     [](const LogLine& a, const LogLine& b) { return a.t_ns < b.t_ns; });
  }
  return out;
}

Json read_json_file(const fs::path& p, std::vector<std::string>* notes, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    notes->push_back(p.filename().string() + " missing: no " + what);
    return nullptr;
  }
  try {
    return Json::parse(read_file(p));
  } catch (const std::exception& e) {
    notes->push_back(p.filename().string() + " unreadable (" + e.what() + "): no " + what);
    return nullptr;
  }
}

Json db_claims(const Json& spec, std::vector<std::string>* notes) {
  const std::string db = spec.value("db", std::string());
  const DbFactory* f = DbRegistry::find(db);
  if (!f) {
    notes->push_back("database '" + db + "' is not known to this build: no claim to compare");
    return nullptr;
  }
  try {
    return (*f)(spec.value("db-options", Json::object()))->claims();
  } catch (const std::exception& e) {
    notes->push_back("database '" + db + "': " + e.what() + ": no claim to compare");
    return nullptr;
  }
}

std::string status_words(const std::string& s) {
  if (s == "contradicts") return "contradicts the claim";
  if (s == "by-design") return "by design";
  if (s == "not-claimed") return "allowed by the claim";
  return "no claim to compare";
}

}  // namespace

Json repro_spec(const Json& test) {
  Json spec = test.value("spec", Json::object());
  if (test.contains("seed")) spec["seed"] = test["seed"];
  spec.erase("results-dir");
  return spec;
}

std::string rerun_command(const Json& test) {
  (void)test;
  return "faultline run --spec repro.json";
}

Json failure_model(const RunDir& run, const Json& results, const FailureOptions& options) {
  std::vector<std::string> notes;
  const Json test = run.test();
  const Json spec = test.value("spec", Json::object());
  const History* hp = nullptr;
  static const History kEmpty;
  try {
    hp = &run.history().history;
  } catch (const std::exception& e) {
    notes.push_back(std::string("history unreadable: ") + e.what());
    hp = &kEmpty;
  }
  const History& h = *hp;
  // The same origin as the plots and the timeline of report.html.
  const int64_t main_start = time_axis(test, h).origin_ns;
  const int64_t origin_us = test.value("time-origin-unix-us", int64_t{0});

  Json m = Json::object();
  m["test"] = test.value("test-name", run.path().parent_path().filename().string());
  m["run"] = run.path().filename().string();
  m["verdict"] = results.value("valid", std::string("unknown"));
  m["db"] = spec.value("db", std::string());
  m["db-version"] = test.value("db-version", Json("unknown"));
  m["workload"] = spec.value("workload", std::string());
  m["nemesis"] = spec.value("nemesis", Json::array());
  m["faultline-version"] = test.value("faultline-version", std::string(kVersion));
  m["started"] = test.value("time-origin", test.value("started", std::string()));
  m["main-start-ns"] = main_start;
  m["nodes"] = test.value("nodes", Json::array());
  m["client-nodes"] = test.value("client-nodes", m["nodes"]);
  const Json claims = db_claims(spec, &notes);
  m["claims"] = claims;
  m["environment"] = read_json_file(run.path() / "environment.json", &notes,
                                    "OS, kernel or settings of the nodes");
  m["rerun"] = {{"command", rerun_command(test)},
                {"repro", repro_spec(test)},
                {"note",
                 "The seed fixes the generator (which operations, keys, values and faults, in "
                 "which order), not the database's timing: a rerun makes the same requests but "
                 "may interleave them differently, so an anomaly may need a few runs to show "
                 "again."}};

  // Anomaly types: counts from the checkers, judged against the claim.
  const ClockOffsets clocks(h);
  std::vector<Candidate> cands = candidates(results, h);
  const Json hist = results.value("history", Json::object());
  const double ok_ops = hist.value("ok", 0.0);
  Json types = Json::array();
  std::map<std::pair<std::string, std::string>, size_t> best;  // (checker, type) -> candidate
  for (size_t i = 0; i < cands.size(); ++i) {
    const auto key = std::make_pair(cands[i].checker, cands[i].type);
    auto it = best.find(key);
    auto smaller = [&](const Candidate& a, const Candidate& b) {
      if (a.ops.empty() != b.ops.empty()) return !a.ops.empty();
      if (a.ops.size() != b.ops.size()) return a.ops.size() < b.ops.size();
      if (a.size != b.size) return a.size < b.size;
      return a.ops < b.ops;
    };
    if (it == best.end() || smaller(cands[i], cands[it->second])) best[key] = i;
  }
  const Json checkers = results.value("checkers", Json::object());
  std::map<std::pair<std::string, std::string>, size_t> counts;
  for (const auto& [label, r] : checkers.items()) {
    const std::string checker = r.value("checker", label);
    if (r.contains("anomaly-counts") && r["anomaly-counts"].is_object()) {
      for (const auto& [t, n] : r["anomaly-counts"].items()) {
        if (n.is_number()) counts[{checker, t}] = n.get<size_t>();
      }
    }
  }
  for (const auto& c : cands) {
    if (!counts.count({c.checker, c.type})) {
      size_t n = 0;
      for (const auto& d : cands) n += d.checker == c.checker && d.type == c.type;
      counts[{c.checker, c.type}] = n;
    }
  }
  Json witnesses = Json::array();
  for (const auto& [key, count] : counts) {
    const auto& [checker, type] = key;
    const AnomalyMeaning meaning = anomaly_meaning(checker, type);
    const Judgement j = judge(claims, checker, type);
    Json t = {{"checker", checker},         {"type", type},       {"count", count},
              {"meaning", meaning.meaning}, {"status", j.status}, {"why", j.why}};
    if (ok_ops > 0) t["per-1000-ok-ops"] = 1000.0 * static_cast<double>(count) / ok_ops;
    auto b = best.find(key);
    if (b != best.end()) {
      const Candidate& c = cands[b->second];
      t["witness"] = witnesses.size();
      Json w = {{"checker", checker}, {"type", type}, {"explanation", c.explanation}};
      Json ops = Json::array();
      int64_t t0 = -1, t1 = -1;
      std::vector<std::pair<int64_t, Json>> timed;
      for (int64_t i : c.ops) {
        Pair p = pair_at(h, i);
        Json o = {{"index", p.inv->index},
                  {"process", p.inv->is_nemesis() ? Json("nemesis") : Json(p.inv->process)},
                  {"node", p.inv->node},
                  {"f", p.inv->f},
                  {"value", p.inv->value},
                  {"invoke-ns", p.inv->time_ns}};
        if (p.done) {
          o["complete-index"] = p.done->index;
          o["outcome"] = std::string(to_string(p.done->type));
          o["complete-ns"] = p.done->time_ns;
          if (p.done->type == OpType::kOk) o["result"] = p.done->value;
          if (!p.done->error.is_null()) o["error"] = p.done->error;
          if (p.done->extra.is_object() && p.done->extra.contains("sql")) {
            o["sql"] = p.done->extra["sql"];
          }
        } else {
          o["outcome"] = "open";
        }
        if (clocks.any() && !p.inv->node.empty()) {
          o["clock-offset-ms"] = clocks.at(p.inv->node, p.inv->time_ns);
          const int64_t end = p.done ? p.done->time_ns : INT64_MAX;
          std::string moving = clocks.moving(p.inv->node, p.inv->time_ns, end);
          if (!moving.empty()) o["clock-moving"] = std::move(moving);
        }
        if (p.inv->time_ns >= 0) {
          t0 = t0 < 0 ? p.inv->time_ns : std::min(t0, p.inv->time_ns);
          const int64_t end = p.done ? p.done->time_ns : p.inv->time_ns;
          t1 = std::max(t1, end);
        }
        timed.emplace_back(p.inv->time_ns, std::move(o));
      }
      std::stable_sort(timed.begin(), timed.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [tt, o] : timed) ops.push_back(std::move(o));
      w["ops"] = std::move(ops);
      w["window-ns"] = {t0, t1};
      witnesses.push_back(std::move(w));
    }
    types.push_back(std::move(t));
  }
  // Contradictions first, then by count.
  std::vector<Json> sorted(types.begin(), types.end());
  auto rank = [](const Json& t) {
    const std::string s = t["status"];
    return s == "contradicts" ? 0 : s == "no-claim" ? 1 : s == "not-claimed" ? 2 : 3;
  };
  std::stable_sort(sorted.begin(), sorted.end(), [&](const Json& a, const Json& b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    return a["count"].get<size_t>() > b["count"].get<size_t>();
  });
  m["types"] = Json(sorted);

  // Context of each witness: the faults and the node log lines around it.
  const std::vector<NemesisInterval> faults = nemesis_intervals(h);
  // Node logs are read only when there is a witness to put them beside.
  const auto logs = witnesses.empty() ? std::map<std::string, std::vector<LogLine>>()
                                      : read_logs(run, origin_us, clocks);
  if (origin_us <= 0) notes.push_back("test.json has no time-origin: node logs not aligned");
  const int64_t slack = static_cast<int64_t>(options.log_window_s * 1e9);
  for (auto& w : witnesses) {
    const int64_t t0 = w["window-ns"][0], t1 = w["window-ns"][1];
    Json nem = Json::array();
    Json lg = Json::object();
    if (t0 >= 0) {
      for (const auto& f : faults) {
        if (f.start_ns <= t1 + slack && f.end_ns >= t0 - slack) {
          nem.push_back({{"name", f.name},
                         {"start-ns", f.start_ns},
                         {"end-ns", f.end_ns},
                         {"healed", f.ended}});
        }
      }
      for (const auto& [node, lines] : logs) {
        Json out = Json::array();
        size_t skipped = 0;
        for (const auto& l : lines) {
          if (l.t_ns < t0 - slack || l.t_ns > t1 + slack) continue;
          if (out.size() >= options.max_log_lines) {
            ++skipped;
            continue;
          }
          out.push_back({{"t-ns", l.t_ns}, {"file", l.file}, {"line", l.text}});
        }
        if (!out.empty()) lg[node] = {{"lines", out}, {"more", skipped}};
      }
    }
    w["nemesis"] = std::move(nem);
    w["logs"] = std::move(lg);
  }
  m["witnesses"] = std::move(witnesses);

  // The summary in words.
  std::string who = m["db"].get<std::string>();
  const std::string version = text_of(m["db-version"]);
  if (!version.empty() && version != "unknown" && version != "null") who += " " + version;
  std::string level = claims.is_object() ? claims.value("level", std::string()) : "";
  std::string s = who + (level.empty() ? "" : " at " + level);
  if (claims.is_object()) {
    const std::string model = claims.value("model", std::string("none"));
    s += model == "none" ? " claims no isolation across nodes" : " claims " + model;
    if (claims.contains("source")) s += " (" + text_of(claims["source"]) + ")";
  } else {
    s += " (no claim recorded for this database)";
  }
  s += "; ";
  std::vector<std::string> contra, design, allowed;
  for (const auto& t : m["types"]) {
    std::string name =
        t["type"].get<std::string>() + " (" + std::to_string(t["count"].get<size_t>()) + ")";
    const std::string st = t["status"];
    if (st == "contradicts" || st == "no-claim") {
      contra.push_back(name);
    } else if (st == "by-design") {
      design.push_back(name);
    } else {
      allowed.push_back(name);
    }
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string o;
    for (const auto& x : v) o += (o.empty() ? "" : ", ") + x;
    return o;
  };
  if (contra.empty() && design.empty() && allowed.empty()) {
    s += "observed: no anomaly (verdict " + m["verdict"].get<std::string>() + ").";
  } else {
    s += "observed: ";
    std::vector<std::string> parts;
    if (!contra.empty())
      parts.push_back(list(contra) + (claims.is_object() ? ", contradicting the claim" : ""));
    if (!design.empty()) parts.push_back(list(design) + ": by design, quantified below");
    if (!allowed.empty()) parts.push_back(list(allowed) + ": allowed by the claim");
    for (size_t i = 0; i < parts.size(); ++i) s += (i ? "; " : "") + parts[i];
    s += ".";
  }
  m["summary"] = s;
  m["notes"] = notes;
  return m;
}

namespace {

std::string at_main(const Json& model, const Json& ns) {
  if (!ns.is_number_integer() || ns.get<int64_t>() < 0) return "?";
  return seconds(ns.get<int64_t>() - model.value("main-start-ns", int64_t{0}));
}

// A transaction's micro-ops as Elle writes them: "append 1 2, r 1 [1 2]".
bool is_txn(const Json& v) {
  return v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](const Json& m) {
           return m.is_array() && m.size() == 3 && m[0].is_string();
         });
}
std::string txn_words(const Json& v) {
  std::string s;
  for (const auto& m : v) {
    s += (s.empty() ? "" : ", ") + m[0].get<std::string>() + " " + value_words(m[1]) + " " +
         value_words(m[2]);
  }
  return s;
}

std::string op_line(const Json& o) {
  if (o.contains("result") && is_txn(o["result"])) {
    return o["f"].get<std::string>() + " " + txn_words(o["result"]);
  }
  if (is_txn(o["value"])) {
    std::string s = o["f"].get<std::string>() + " " + txn_words(o["value"]);
    if (o.contains("error")) s += " ! " + cut_text(text_of(o["error"]), 160);
    return s;
  }
  std::string s = o["f"].get<std::string>() + " " + value_words(o["value"]);
  if (o.contains("result") && o["result"] != o["value"]) s += " → " + value_words(o["result"]);
  if (o.contains("error")) s += " ! " + cut_text(text_of(o["error"]), 160);
  return s;
}

std::string md_escape_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string failure_markdown(const Json& m) {
  std::ostringstream o;
  o << "# Failure report: " << m["test"].get<std::string>() << " " << m["run"].get<std::string>()
    << "\n\nVerdict: **" << m["verdict"].get<std::string>() << "**\n\n";
  o << "## Summary\n\n" << m["summary"].get<std::string>() << "\n\n";
  const Json& claims = m["claims"];
  if (claims.is_object() && claims.contains("claim")) {
    o << "Claim: " << text_of(claims["claim"]);
    if (claims.contains("source")) o << " Source: " << text_of(claims["source"]) << ".";
    o << "\n\n";
  }
  if (!m["types"].empty()) {
    o << "| anomaly | checker | count | per 1,000 ok ops | what it means | against the claim |\n"
      << "| --- | --- | ---: | ---: | --- | --- |\n";
    for (const auto& t : m["types"]) {
      char rate[32] = "-";
      if (t.contains("per-1000-ok-ops"))
        std::snprintf(rate, sizeof rate, "%.2f", t["per-1000-ok-ops"].get<double>());
      o << "| " << t["type"].get<std::string>() << " | " << t["checker"].get<std::string>() << " | "
        << t["count"].get<size_t>() << " | " << rate << " | "
        << md_escape_cell(t["meaning"].get<std::string>()) << " | " << status_words(t["status"])
        << ": " << md_escape_cell(t["why"].get<std::string>()) << " |\n";
    }
    o << "\n";
  }

  o << "## Environment\n\n";
  o << "- Database: " << m["db"].get<std::string>() << ", " << text_of(m["db-version"]) << "\n";
  o << "- Workload: " << m["workload"].get<std::string>()
    << "; nemesis: " << (m["nemesis"].empty() ? std::string("none") : value_words(m["nemesis"]))
    << "\n";
  o << "- Faultline " << m["faultline-version"].get<std::string>() << "; run started "
    << m["started"].get<std::string>() << "\n";
  auto names = [](const Json& v) {
    std::string out;
    for (const auto& n : v) out += (out.empty() ? "" : ", ") + text_of(n);
    return out;
  };
  o << "- Nodes: " << names(m["nodes"]) << "; clients on " << names(m["client-nodes"]) << "\n";
  const Json& env = m["environment"];
  if (env.is_object()) {
    if (env.contains("controller") && env["controller"].is_object() && !env["controller"].empty()) {
      o << "- Controller: " << env["controller"].value("os", std::string("?")) << ", "
        << env["controller"].value("kernel", std::string("?")) << "\n";
    }
    const Json env_nodes = env.value("nodes", Json::object());
    for (const auto& [node, n] : env_nodes.items()) {
      if (!n.contains("os") && !n.contains("kernel")) continue;
      o << "- " << node << ": " << n.value("os", std::string("?")) << ", "
        << n.value("kernel", std::string("?")) << "\n";
    }
    std::map<std::string, std::map<std::string, std::string>> by_setting;  // name -> node -> v
    for (const auto& [node, n] : env_nodes.items()) {
      if (!n.contains("settings") || !n["settings"].is_object()) continue;
      for (const auto& [k, v] : n["settings"].items()) by_setting[k][node] = text_of(v);
    }
    if (!by_setting.empty()) {
      o << "\nEffective non-default settings (read from the running servers; the same on every "
           "node unless listed per node):\n\n```\n";
      for (const auto& [k, per] : by_setting) {
        std::set<std::string> distinct;
        for (const auto& [n, v] : per) distinct.insert(v);
        if (distinct.size() == 1) {
          o << k << " = " << cut_text(*distinct.begin(), 200) << "\n";
        } else {
          for (const auto& [n, v] : per)
            o << k << " = " << cut_text(v, 200) << "   (" << n << ")\n";
        }
      }
      o << "```\n";
    }
  }
  o << "\n## Rerun\n\n```sh\n"
    << m["rerun"]["command"].get<std::string>() << "\n```\n\n"
    << "`repro.json` (next to this report) holds the spec with its seed. "
    << m["rerun"]["note"].get<std::string>() << "\n\n";

  o << "## Witnesses\n\nFor each anomaly type, its smallest witness (fewest operations), in "
       "time order. Times are seconds from the start of the main phase.\n";
  for (const auto& t : m["types"]) {
    if (!t.contains("witness")) continue;
    const Json& w = m["witnesses"][t["witness"].get<size_t>()];
    o << "\n### " << w["type"].get<std::string>() << " (" << w["checker"].get<std::string>()
      << "): 1 of " << t["count"].get<size_t>() << "\n\n";
    o << t["meaning"].get<std::string>() << ".\n\n";
    for (const auto& op : w["ops"]) {
      o << "- **op " << shown_index(op) << "**, process " << text_of(op["process"]);
      if (!op["node"].get<std::string>().empty()) o << " on " << op["node"].get<std::string>();
      o << ", " << at_main(m, op["invoke-ns"]) << " → "
        << at_main(m, op.value("complete-ns", Json())) << ", " << op["outcome"].get<std::string>();
      if (op.contains("clock-offset-ms")) {
        char buf[48];
        std::snprintf(buf, sizeof buf, ", clock offset %+.0f ms",
                      op["clock-offset-ms"].get<double>());
        o << buf;
        if (op.contains("clock-moving")) {
          o << " (while " << op["clock-moving"].get<std::string>() << ")";
        }
      }
      o << ": `" << op_line(op) << "`\n";
      if (op.contains("sql") && op["sql"].is_array()) {
        o << "  ```sql\n";
        for (const auto& st : op["sql"]) o << "  " << text_of(st) << "\n";
        o << "  ```\n";
      }
    }
    if (!w["explanation"].get<std::string>().empty()) {
      o << "\n" << cut_text(w["explanation"].get<std::string>(), 2000) << "\n";
    }
    if (!w["nemesis"].empty()) {
      o << "\nFaults overlapping it:";
      for (const auto& f : w["nemesis"]) {
        o << " " << f["name"].get<std::string>() << " " << at_main(m, f["start-ns"]) << " → "
          << at_main(m, f["end-ns"]) << (f["healed"].get<bool>() ? "" : " (never healed)") << ";";
      }
      o << "\n";
    }
    if (!w["logs"].empty()) {
      o << "\nNode logs around it:\n\n```\n";
      for (const auto& [node, l] : w["logs"].items()) {
        for (const auto& line : l["lines"]) {
          o << node << " " << at_main(m, line["t-ns"]) << "  " << line["line"].get<std::string>()
            << "\n";
        }
        if (l["more"].get<size_t>() > 0) {
          o << node << " … " << l["more"].get<size_t>() << " more lines in "
            << l["lines"][0]["file"].get<std::string>() << "\n";
        }
      }
      o << "```\n";
    }
  }
  if (!m["notes"].empty()) {
    o << "\n## Notes\n\n";
    for (const auto& n : m["notes"]) o << "- " << n.get<std::string>() << "\n";
  }
  o << "\n## Attachments\n\n`faultline report "
    << "<run dir> --bundle FILE.tar.gz` packs "
    << "history.edn (re-check it with Elle or `faultline check`), this report, report.html, the "
       "cycle graphs, the node logs and repro.json.\n";
  return o.str();
}

std::string failure_html(const Json& m) {
  std::ostringstream o;
  auto e = [](const std::string& s) { return xml_escape(s); };
  o << "<section id=\"failure-report\"><h2>Summary</h2>\n<p class=\"summary\">"
    << e(m["summary"].get<std::string>()) << "</p>\n";
  const Json& claims = m["claims"];
  if (claims.is_object() && claims.contains("claim")) {
    o << "<p><b>Claim:</b> " << e(text_of(claims["claim"]));
    if (claims.contains("source")) o << " <i>Source: " << e(text_of(claims["source"])) << "</i>";
    o << "</p>\n";
  }
  if (!m["types"].empty()) {
    o << "<table class=\"anomalies\" id=\"witness-table\"><tr><th>anomaly</th><th>checker</th>"
         "<th>count</th><th>per 1,000 ok ops</th><th>what it means</th><th>against the "
         "claim</th></tr>\n";
    for (const auto& t : m["types"]) {
      char rate[32] = "-";
      if (t.contains("per-1000-ok-ops"))
        std::snprintf(rate, sizeof rate, "%.2f", t["per-1000-ok-ops"].get<double>());
      const std::string st = t["status"];
      o << "<tr class=\"st-" << e(st) << "\"><td>";
      if (t.contains("witness")) {
        o << "<a href=\"#witness-" << t["witness"].get<size_t>() << "\">" << e(t["type"]) << "</a>";
      } else {
        o << e(t["type"]);
      }
      o << "</td><td>" << e(t["checker"]) << "</td><td class=\"n\">" << t["count"].get<size_t>()
        << "</td><td class=\"n\">" << rate << "</td><td>" << e(t["meaning"]) << "</td><td><b>"
        << e(status_words(st)) << "</b>: " << e(t["why"]) << "</td></tr>\n";
    }
    o << "</table>\n";
  }
  o << "<details><summary>Environment and rerun</summary><ul>\n<li>Database: " << e(m["db"]) << ", "
    << e(text_of(m["db-version"])) << "</li>\n";
  const Json& env = m["environment"];
  if (env.is_object()) {
    const Json env_nodes = env.value("nodes", Json::object());
    for (const auto& [node, n] : env_nodes.items()) {
      o << "<li>" << e(node) << ": " << e(n.value("os", std::string("?"))) << ", "
        << e(n.value("kernel", std::string("?")));
      if (n.contains("settings") && n["settings"].is_object() && !n["settings"].empty()) {
        o << "<details><summary>" << n["settings"].size() << " non-default settings</summary><pre>";
        for (const auto& [k, v] : n["settings"].items())
          o << e(k) << " = " << e(cut_text(text_of(v), 200)) << "\n";
        o << "</pre></details>";
      }
      o << "</li>\n";
    }
  }
  o << "<li>Rerun: <code>" << e(m["rerun"]["command"]) << "</code> (<a href=\"repro.json\">"
    << "repro.json</a>). " << e(m["rerun"]["note"]) << "</li></ul></details>\n";
  for (const auto& t : m["types"]) {
    if (!t.contains("witness")) continue;
    const size_t wi = t["witness"].get<size_t>();
    const Json& w = m["witnesses"][wi];
    o << "<div class=\"witness\" id=\"witness-" << wi << "\"><h3>" << e(w["type"]) << " <small>("
      << e(w["checker"]) << "): the smallest of " << t["count"].get<size_t>()
      << "</small></h3>\n<table class=\"wops\"><tr><th>op</th><th>process</th><th>node</th>"
         "<th>invoked</th><th>completed</th><th>outcome</th><th>operation</th></tr>\n";
    for (const auto& op : w["ops"]) {
      o << "<tr><td><a href=\"#op-" << op["index"] << "\">" << shown_index(op) << "</a></td><td>"
        << e(text_of(op["process"])) << "</td><td>" << e(op["node"]) << "</td><td>"
        << e(at_main(m, op["invoke-ns"])) << "</td><td>"
        << e(at_main(m, op.value("complete-ns", Json()))) << "</td><td>" << e(op["outcome"]);
      if (op.contains("clock-offset-ms")) {
        char buf[48];
        std::snprintf(buf, sizeof buf, " (clock %+.0f ms", op["clock-offset-ms"].get<double>());
        o << buf;
        if (op.contains("clock-moving")) o << e(", while " + op["clock-moving"].get<std::string>());
        o << ")";
      }
      o << "</td><td><code>" << e(op_line(op)) << "</code>";
      if (op.contains("sql") && op["sql"].is_array()) {
        o << "<pre class=\"sql\">";
        for (const auto& st : op["sql"]) o << e(text_of(st)) << "\n";
        o << "</pre>";
      }
      o << "</td></tr>\n";
    }
    o << "</table>\n";
    if (!w["explanation"].get<std::string>().empty())
      o << "<p>" << e(cut_text(w["explanation"].get<std::string>(), 2000)) << "</p>\n";
    if (!w["nemesis"].empty()) {
      o << "<p>Faults overlapping it:";
      for (const auto& f : w["nemesis"]) {
        o << " " << e(f["name"]) << " " << e(at_main(m, f["start-ns"])) << " → "
          << e(at_main(m, f["end-ns"])) << ";";
      }
      o << "</p>\n";
    }
    if (!w["logs"].empty()) {
      o << "<details><summary>node logs around it</summary><pre>";
      for (const auto& [node, l] : w["logs"].items()) {
        for (const auto& line : l["lines"])
          o << e(node) << " " << e(at_main(m, line["t-ns"])) << "  " << e(line["line"]) << "\n";
      }
      o << "</pre></details>\n";
    }
    o << "</div>\n";
  }
  o << "</section>\n";
  return o.str();
}

Json write_failure_report(const RunDir& run, const Json& results, const FailureOptions& options) {
  Json m = failure_model(run, results, options);
  write_file_atomic(run.path() / "repro.json", m["rerun"]["repro"].dump(2) + "\n");
  write_file_atomic(run.path() / "FAILURE-REPORT.md", failure_markdown(m));
  return m;
}

void write_bundle(const RunDir& run, const fs::path& out) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(run.path(), ec)) {
    const std::string n = f.path().filename().string();
    if (f.is_regular_file()) {
      static const std::set<std::string> kFiles = {
          "history.edn",      "history.jsonl",  "test.json",         "results.json",
          "environment.json", "repro.json",     "FAILURE-REPORT.md", "report.html",
          "junit.xml",        "controller.log", "replication.json"};
      if (kFiles.count(n)) names.push_back(n);
    } else if (f.is_directory() && n != "plots") {
      names.push_back(n);  // nodes/ (logs) and the checkers' graphs
    }
  }
  std::sort(names.begin(), names.end());
  const fs::path abs_out = fs::absolute(out);
  const fs::path run_abs = fs::absolute(run.path());
  const std::string top =
      run_abs.parent_path().filename().string() + "-" + run_abs.filename().string();
  std::vector<std::string> argv = {"tar",
                                   "-czf",
                                   abs_out.string(),
                                   std::string("--transform=s,^,") + top + "/,",
                                   "-C",
                                   run_abs.string(),
                                   "--"};
  argv.insert(argv.end(), names.begin(), names.end());
  auto session = control::make_local_session();
  Command c{std::vector<std::string>(argv)};
  ExecResult r = session->exec(c);
  if (!r.ok()) {
    throw RemoteError("localhost", "tar -czf " + abs_out.string() + " failed: " + r.err);
  }
}

std::map<std::string, int64_t> anomaly_counts(const Json& results) {
  std::map<std::string, int64_t> out;
  const Json checkers = results.value("checkers", Json::object());
  for (const auto& [label, r] : checkers.items()) {
    if (!r.is_object()) continue;
    const std::string checker = r.value("checker", label);
    const Json counts = r.value("anomaly-counts", Json::object());
    const Json types = r.value("anomaly-types", Json::array());
    for (const auto& t : types) {
      if (!t.is_string()) continue;
      auto c = counts.find(t.get<std::string>());
      out[checker + "/" + t.get<std::string>()] =
          c != counts.end() && c->is_number_integer() ? c->get<int64_t>() : 1;
    }
    for (const auto& [t, c] : counts.items()) {
      std::string name = checker;
      name += '/';
      name += t;
      if (c.is_number_integer() && c.get<int64_t>() > 0 && !out.count(name)) {
        out[name] = c.get<int64_t>();
      }
    }
    if (r.contains("counterexamples") && r["counterexamples"].is_array() &&
        !r["counterexamples"].empty()) {
      const Json illegal = r.value("illegal_keys", Json());
      int64_t n = illegal.is_array()            ? static_cast<int64_t>(illegal.size())
                  : illegal.is_number_integer() ? illegal.get<int64_t>()
                                                : 0;
      out[checker + "/nonlinearizable"] =
          std::max<int64_t>({n, static_cast<int64_t>(r["counterexamples"].size()), 1});
    }
  }
  return out;
}

Json how_often(const std::vector<fs::path>& runs) {
  Json out = {{"runs", 0}, {"types", Json::object()}, {"verdicts", Json::object()}};
  for (const auto& dir : runs) {
    Json results;
    try {
      results = Json::parse(read_file(dir / "results.json"));
    } catch (const std::exception&) {
      continue;
    }
    out["runs"] = out["runs"].get<int>() + 1;
    const std::string v = results.value("valid", std::string("unknown"));
    out["verdicts"][v] = out["verdicts"].value(v, 0) + 1;
    for (const auto& [t, n] : anomaly_counts(results))
      out["types"][t] = out["types"].value(t, 0) + 1;
  }
  return out;
}

std::string how_often_markdown(const std::string& title, const std::vector<fs::path>& runs) {
  Json h = how_often(runs);
  const int total = h["runs"].get<int>();
  std::string md = "# How often: " + title + "\n\n" + std::to_string(total) + " runs; verdicts:";
  for (const auto& [v, n] : h["verdicts"].items()) md += " " + v + " " + n.dump() + ";";
  md += "\n\n| anomaly | runs showing it | fraction |\n| --- | ---: | ---: |\n";
  for (const auto& [t, n] : h["types"].items()) {
    char frac[32];
    std::snprintf(frac, sizeof frac, "%.0f%%", total > 0 ? 100.0 * n.get<double>() / total : 0.0);
    md += "| " + t + " | " + n.dump() + " of " + std::to_string(total) + " | " + frac + " |\n";
  }
  return md;
}

}  // namespace faultline::report
