#include "checkers/elle/report.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "checkers/elle/analysis.h"
#include "harness/report/claims.h"

namespace faultline::elle {
namespace {

using Set = std::set<std::string>;

Set join(std::initializer_list<Set> sets) {
  Set out;
  for (const auto& s : sets) out.insert(s.begin(), s.end());
  return out;
}

Set variants(const Set& base, const std::string& suffix) {
  Set out;
  for (const auto& b : base) out.insert(b + suffix);
  return out;
}

struct Lattice {
  std::vector<std::string> names;
  std::map<std::string, Set> forbidden;
  std::map<std::string, std::string> aliases;

  Lattice() {
    // Anomalies no model allows: the history contradicts itself or the workload's rules.
    const Set universal = {"internal",     "duplicate-elements", "incompatible-order",
                           "garbage-read", "future-read",        "cyclic-versions"};
    const Set ru = join({universal, {"G0"}});
    const Set rc = join({ru, {"G1a", "G1b", "G1c", "dirty-update"}});
    const Set cs = join({rc, {"lost-update"}});
    // A fractured read is a two-transaction G-single: every model that forbids G-single
    // forbids it too, and monotonic atomic view forbids it alone.
    const Set mav = join({rc, {"fractured-read"}});
    const Set pl2plus = join({mav, {"G-single"}});
    const Set causal = join({pl2plus, {"G0-process", "G1c-process", "G-single-process"}});
    const Set si = join({cs, {"fractured-read", "G-single", "G-nonadjacent"}});
    const Set ser = join({si, {"G2-item"}});
    const Set cycles = {"G0", "G1c", "G-single", "G-nonadjacent"};
    const Set cycles2 = join({cycles, {"G2-item"}});
    add("read-uncommitted", ru);
    add("read-committed", rc);
    add("monotonic-atomic-view", mav);
    add("cursor-stability", cs);
    add("PL-2+", pl2plus);
    add("causal", causal);
    add("repeatable-read", ser);
    add("snapshot-isolation", si);
    add("serializable", ser);
    add("strong-session-snapshot-isolation", join({si, variants(cycles, "-process")}));
    add("strong-snapshot-isolation",
        join({si, variants(cycles, "-process"), variants(cycles, "-realtime")}));
    add("strong-session-serializable", join({ser, variants(cycles2, "-process")}));
    add("strict-serializable",
        join({ser, variants(cycles2, "-process"), variants(cycles2, "-realtime")}));
    aliases = {{"ru", "read-uncommitted"},
               {"pl-1", "read-uncommitted"},
               {"rc", "read-committed"},
               {"pl-2", "read-committed"},
               {"mav", "monotonic-atomic-view"},
               {"cs", "cursor-stability"},
               {"pl-2+", "PL-2+"},
               {"consistent-view", "PL-2+"},
               {"rr", "repeatable-read"},
               {"pl-2.99", "repeatable-read"},
               {"si", "snapshot-isolation"},
               {"pl-3", "serializable"},
               {"pl-ss", "strict-serializable"},
               {"strong-serializable", "strict-serializable"},
               {"linearizable", "strict-serializable"}};
  }
  void add(const std::string& name, Set s) {
    names.push_back(name);
    forbidden[name] = std::move(s);
  }
};

const Lattice& lattice() {
  static const Lattice l;
  return l;
}

// Whether some model of the lattice forbids the anomaly type.
bool known_type(const std::string& type) {
  for (const auto& [model, set] : lattice().forbidden) {
    if (set.count(type)) return true;
  }
  return false;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool strictly_stronger(const std::string& a, const std::string& b) {
  const auto& fa = forbidden_by(a);
  const auto& fb = forbidden_by(b);
  return fa.size() > fb.size() && std::includes(fa.begin(), fa.end(), fb.begin(), fb.end());
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// "append 7 21", "r 7 [1 2 ... 19 20]": a micro-op for a graph label.
std::string mop_words(const Json& m) {
  std::string out = (m[0].is_string() ? m[0].get<std::string>() : json_text(m[0])) + " " +
                    (m[1].is_string() ? m[1].get<std::string>() : json_text(m[1])) + " ";
  const Json& v = m[2];
  if (v.is_array() && v.size() > 4) {
    out += "[" + json_text(v[0]) + " ... " + json_text(v[v.size() - 2]) + " " +
           json_text(v[v.size() - 1]) + "]";
  } else if (v.is_array()) {
    out += "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + json_text(v[i]);
    out += "]";
  } else {
    out += json_text(v);
  }
  return out;
}

std::string list_text(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// A cycle's anomaly type, transactions and edge kinds, whatever step it starts from.
std::string cycle_identity(const FoundCycle& c) {
  std::vector<uint32_t> nodes;
  std::vector<uint8_t> kinds;
  for (const auto& step : c.steps) {
    nodes.push_back(step.node);
    kinds.push_back(step.kind);
  }
  std::sort(nodes.begin(), nodes.end());
  std::sort(kinds.begin(), kinds.end());
  std::string id = c.name;
  for (uint32_t n : nodes) id += " " + std::to_string(n);
  id += " /";
  for (uint8_t k : kinds) id += " " + std::to_string(k);
  return id;
}

}  // namespace

const std::vector<std::string>& model_names() { return lattice().names; }

std::string canonical_model(const std::string& name) {
  const auto& l = lattice();
  const std::string low = lower(name);
  for (const auto& n : l.names) {
    if (lower(n) == low) return n;
  }
  auto it = l.aliases.find(low);
  return it == l.aliases.end() ? std::string() : it->second;
}

const std::set<std::string>& forbidden_by(const std::string& model) {
  return lattice().forbidden.at(model);
}

namespace {
const std::set<std::string>* forbidden_or_null(const std::string& model) {
  const std::string m = canonical_model(model);
  return m.empty() ? nullptr : &forbidden_by(m);
}
const bool lattice_registered = report::set_model_lattice(&forbidden_or_null);
}  // namespace

std::vector<std::string> ruled_out(const std::set<std::string>& types) {
  std::vector<std::string> out;
  for (const auto& m : model_names()) {
    const auto& f = forbidden_by(m);
    if (std::any_of(types.begin(), types.end(), [&](const auto& t) { return f.count(t) > 0; })) {
      out.push_back(m);
    }
  }
  return out;
}

std::vector<std::string> strongest_possible(const std::set<std::string>& types) {
  std::vector<std::string> out_models = ruled_out(types);
  std::set<std::string> out(out_models.begin(), out_models.end());
  std::vector<std::string> possible;
  for (const auto& m : model_names()) {
    if (!out.count(m)) possible.push_back(m);
  }
  std::vector<std::string> best;
  for (const auto& m : possible) {
    bool dominated = std::any_of(possible.begin(), possible.end(),
                                 [&](const auto& o) { return strictly_stronger(o, m); });
    if (!dominated) best.push_back(m);
  }
  return best;
}

Anomaly cycle_anomaly(const FoundCycle& cycle, const TxnDescriber& d) {
  Anomaly a;
  a.type = cycle.name;
  const size_t n = cycle.steps.size();
  auto name = [](size_t i) { return "T" + std::to_string(i + 1); };
  Json ops = Json::array();
  Json steps = Json::array();
  std::string text = cycle.name + ": ";
  std::string dot = "digraph \"" + cycle.name + "\" {\n  rankdir=LR;\n  node [shape=box];\n";
  // A long cycle's text names its first and last steps only; "steps" and "ops" keep all.
  constexpr size_t kHead = 8, kTail = 4;
  auto elided = [&](size_t i) { return n > kHead + kTail + 1 && i >= kHead && i + kTail < n; };
  for (size_t i = 0; i < n; ++i) {
    Json op = d.op_json(cycle.steps[i].node);
    if (!elided(i)) {
      text += (i ? ", " : "") + name(i) + " = op " + op.value("index", Json()).dump() +
              " (process " + op.value("process", Json()).dump() + ")";
    } else if (i == kHead) {
      text += ", ... (" + std::to_string(n - kHead - kTail) + " more)";
    }
    ops.push_back(op);
  }
  text += ". ";
  std::string chain = name(0);
  std::string edges;
  std::set<std::string> keys;  // the cycle's keys, as the edge sentences name them
  static const std::regex kKey(R"(\bkey ([^ ;,]+))");
  for (size_t i = 0; i < n; ++i) {
    const size_t j = (i + 1) % n;
    const uint8_t k = cycle.steps[i].kind;
    const std::string sentence =
        d.edge_sentence(cycle.steps[i].node, cycle.steps[j].node, k, name(i), name(j));
    if (!elided(i)) {
      text += sentence;
      text += i + 1 < n ? "; " : ". ";
    } else if (i == kHead) {
      text += "... (" + std::to_string(n - kHead - kTail) + " more steps); ";
    }
    chain += " -> " + name(j);
    Json step = {{"from", name(i)}, {"to", name(j)}, {"kind", edge_name(k)}};
    std::smatch km;
    std::string label = edge_name(k);
    if (std::regex_search(sentence, km, kKey)) {
      step["key"] = km[1].str();
      keys.insert(km[1].str());
      label += " " + km[1].str();
    }
    steps.push_back(std::move(step));
    edges += "  " + name(i) + " -> " + name(j) + " [label=\"" + dot_escape(label) + "\"];\n";
  }
  // Nodes as Elle draws them: the transaction, its op and process, and only its micro-ops on
  // the cycle's keys, long reads elided in the middle.
  for (size_t i = 0; i < n; ++i) {
    const Json& op = ops[i];
    std::string label = name(i) + "\\nop " + op.value("index", Json()).dump() + ", process " +
                        op.value("process", Json()).dump();
    const Json value = op.value("value", Json());
    size_t shown = 0;
    if (value.is_array()) {
      for (const auto& m : value) {
        if (!m.is_array() || m.size() != 3) continue;
        const std::string key = m[1].is_string() ? m[1].get<std::string>() : json_text(m[1]);
        if (!keys.empty() && !keys.count(key) && !keys.count(json_text(m[1]))) continue;
        if (++shown > 6) {
          label += "\\n...";
          break;
        }
        label += "\\n" + dot_escape(mop_words(m));
      }
    } else {
      label += "\\n" + dot_escape(json_text(value));
    }
    dot += "  " + name(i) + " [label=\"" + label + "\"];\n";
  }
  dot += edges + "}\n";
  text +=
      "So " +
      (n > kHead + kTail + 1 ? name(0) + " -> ... -> " + name(n - 1) + " -> " + name(0) : chain) +
      " is a cycle of " + std::to_string(n) + " transactions, which is " + cycle.name + ".";
  a.explanation = text;
  a.detail = {{"type", cycle.name}, {"cycle", chain}, {"steps", steps}, {"ops", ops}};
  a.dot = dot;
  return a;
}

CheckResult make_result(ReportInput in) {
  CheckResult r;
  std::set<std::string> types;
  std::map<std::string, size_t> counts;
  for (const auto& a : in.anomalies) {
    types.insert(a.type);
    ++counts[a.type];
  }
  size_t total = 0;
  for (auto& [t, c] : counts) {
    auto it = in.total_counts.find(t);
    if (it != in.total_counts.end()) c = std::max(c, it->second);
    total += c;
  }
  const auto& forbidden = forbidden_by(in.model);
  std::vector<std::string> bad;
  for (const auto& t : types) {
    if (forbidden.count(t)) bad.push_back(t);
  }
  // A type no model knows (an unnamed cycle, a typo) is forbidden by none, so it could only
  // ever read as valid: such a result is not decided.
  std::vector<std::string> unclassified;
  for (const auto& t : types) {
    if (!known_type(t)) unclassified.push_back(t.empty() ? "(unnamed)" : t);
  }
  if (!unclassified.empty() && in.unknown_reason.empty()) {
    in.unknown_reason = "unclassified anomaly type " + list_text(unclassified);
  }
  std::vector<std::string> open;
  for (const auto& t : in.incomplete) {
    if (forbidden.count(t) && !types.count(t)) open.push_back(t);
  }
  if (!bad.empty()) {
    r.validity = Validity::kInvalid;
  } else if (!in.unknown_reason.empty() || !open.empty()) {
    r.validity = Validity::kUnknown;
  } else {
    r.validity = Validity::kValid;
  }

  // Anomalies in a stable order: by type, then as found.
  std::stable_sort(in.anomalies.begin(), in.anomalies.end(),
                   [](const Anomaly& a, const Anomaly& b) { return a.type < b.type; });
  Json list = Json::array();
  std::map<std::string, size_t> shown;
  size_t dots = 0;
  // The explanation: the first anomaly of each type, then the others in order while fewer
  // than kMaxExplained are explained, so that no type (lost-update, say) hides behind a run of
  // another (G-single, G2-item).
  // (Only the first kMaxPerType of a type are listed, so only they may be explained.)
  std::vector<std::string> anomaly_types;
  for (const Anomaly& a : in.anomalies) anomaly_types.push_back(a.type);
  const std::vector<bool> explain = first_of_each_type(anomaly_types, kMaxExplained, kMaxPerType);
  const size_t explained = static_cast<size_t>(std::count(explain.begin(), explain.end(), true));
  std::string explanation;
  for (size_t i = 0; i < in.anomalies.size(); ++i) {
    const Anomaly& a = in.anomalies[i];
    if (shown[a.type]++ >= kMaxPerType) continue;
    Json d = a.detail;
    d["type"] = a.type;
    d["explanation"] = a.explanation;
    list.push_back(d);
    if (explain[i]) explanation += (explanation.empty() ? "" : "\n") + a.explanation;
    if (!a.dot.empty()) {
      ++dots;
      r.artifacts[in.checker + "-cycle-" + std::to_string(dots) + "-" + a.type + ".dot"] = a.dot;
    }
  }
  if (in.anomalies.size() > explained) {
    explanation += "\n(" + std::to_string(in.anomalies.size() - explained) +
                   " more anomalies in \"anomalies\")";
  }
  Json count_json = Json::object();
  for (const auto& [t, c] : counts) count_json[t] = c;
  auto out_models = ruled_out(types);
  auto best = strongest_possible(types);

  std::string summary;
  if (types.empty()) {
    summary = "no anomalies";
  } else {
    summary = std::to_string(total) + " anomal" + (total == 1 ? "y" : "ies") + " (" +
              list_text(std::vector<std::string>(types.begin(), types.end())) + ")";
  }
  if (r.validity == Validity::kInvalid) {
    summary += "; " + in.model + " forbids " + list_text(bad);
  } else if (r.validity == Validity::kUnknown) {
    summary += "; " + in.model + " not decided: " +
               (in.unknown_reason.empty() ? "incomplete search for " + list_text(open)
                                          : in.unknown_reason);
  } else {
    summary += "; consistent with " + in.model;
  }
  if (!types.empty()) {
    summary += "; strongest possible: " +
               (best.empty() ? std::string("none (every model is ruled out)") : list_text(best));
  }

  Json& d = r.details;
  d["summary"] = summary;
  if (!explanation.empty()) d["explanation"] = explanation;
  d["consistency-model"] = in.model;
  d["anomaly-types"] = std::vector<std::string>(types.begin(), types.end());
  d["anomaly-counts"] = count_json;
  d["anomalies"] = list;
  d["ruled-out"] = out_models;
  d["strongest-possible"] = best;
  d["incomplete"] = std::vector<std::string>(in.incomplete.begin(), in.incomplete.end());
  if (!in.unknown_reason.empty()) d["unknown-reason"] = in.unknown_reason;
  d["stats"] = in.stats;
  return r;
}

void add_cycle_anomalies(const DepGraph& g, const TxnDescriber& describer, const CheckContext& ctx,
                         std::map<std::string, size_t>* counts, ReportInput* r) {
  CycleSearchResult cycles = find_cycles(g, {}, ctx);
  std::set<std::string> seen;
  for (const auto& c : cycles.cycles) {
    // The same cycle twice (its transactions and edge kinds, from another start) is one.
    if (!seen.insert(cycle_identity(c)).second) continue;
    Anomaly a = cycle_anomaly(c, describer);
    if ((*counts)[a.type]++ < kMaxPerType) r->anomalies.push_back(std::move(a));
  }
  if (size_t fractured = add_fractured_reads(g, describer, &r->anomalies)) {
    (*counts)["fractured-read"] = fractured;
  }
  r->incomplete.insert(cycles.incomplete.begin(), cycles.incomplete.end());
  if (cycles.expired) r->unknown_reason = "deadline during the cycle search";
}

size_t add_fractured_reads(const DepGraph& g, const TxnDescriber& describer,
                           std::vector<Anomaly>* out) {
  size_t fractured = 0;
  for (const auto& c : fractured_reads(g, kMaxPerType, &fractured)) {
    Anomaly a = cycle_anomaly(c, describer);
    a.explanation += " T2 saw only part of T1's writes.";
    a.dot.clear();  // the same two transactions' G-single cycle has its drawing
    out->push_back(std::move(a));
  }
  return fractured;
}

}  // namespace faultline::elle
