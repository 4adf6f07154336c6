#include "harness/history.h"

#include <algorithm>
#include <climits>
#include <map>
#include <unordered_map>
#include <utility>

namespace faultline {

std::string_view to_string(OpType type) {
  switch (type) {
    case OpType::kInvoke:
      return "invoke";
    case OpType::kOk:
      return "ok";
    case OpType::kFail:
      return "fail";
    case OpType::kInfo:
      return "info";
  }
  return "?";
}

std::optional<OpType> parse_op_type(std::string_view text) {
  if (!text.empty() && text.front() == ':') text.remove_prefix(1);
  if (text == "invoke") return OpType::kInvoke;
  if (text == "ok") return OpType::kOk;
  if (text == "fail") return OpType::kFail;
  if (text == "info") return OpType::kInfo;
  return std::nullopt;
}

std::string json_text(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

std::string first_problem_message(const std::string& source,
                                  const std::vector<HistoryProblem>& problems) {
  if (problems.empty()) return source + ": invalid history";
  const auto& p = problems.front();
  std::string msg = source;
  if (p.line > 0) msg += ":" + std::to_string(p.line);
  msg += ": " + p.reason;
  if (problems.size() > 1) msg += " (and " + std::to_string(problems.size() - 1) + " more)";
  return msg;
}

std::string describe(const Op& op) {
  std::string s = "process ";
  s += op.is_nemesis() ? std::string("nemesis") : std::to_string(op.process);
  s += " ";
  s += to_string(op.type);
  s += " ";
  s += op.f;
  return s;
}

}  // namespace

HistoryError::HistoryError(std::string source, std::vector<HistoryProblem> problems)
    : ConfigError(first_problem_message(source, problems)),
      source_(std::move(source)),
      problems_(std::move(problems)) {}

History History::build(std::vector<Op> ops, std::vector<HistoryProblem>* problems) {
  History h;
  bool any_invoke = false, any_completion = false;
  for (const Op& op : ops) {
    if (op.is_nemesis()) continue;
    (op.is_invoke() ? any_invoke : any_completion) = true;
  }
  if (!any_invoke && any_completion) {
    std::vector<Op> with;
    with.reserve(ops.size() * 2);
    for (Op& op : ops) {
      if (!op.is_nemesis()) {
        Op inv = op;  // same process, f, value, node, extra fields and line
        inv.type = OpType::kInvoke;
        inv.error = Json();
        with.push_back(std::move(inv));
      }
      with.push_back(std::move(op));
    }
    ops = std::move(with);
    h.invocations_known_ = false;
  }
  h.ops_ = std::move(ops);
  h.pair_.assign(h.ops_.size(), -1);
  auto report = [&](const Op& op, std::string reason) {
    if (problems && problems->size() < HistoryError::kMaxProblems) {
      problems->push_back({op.line, op.index, std::move(reason)});
    }
  };
  // Open invocation per process, and processes retired by an info completion.
  std::unordered_map<int64_t, int64_t> open;
  std::unordered_map<int64_t, int64_t> retired;  // process -> index of the info completion
  int64_t nemesis_open = -1;
  for (size_t i = 0; i < h.ops_.size(); ++i) {
    Op& op = h.ops_[i];
    op.index = static_cast<int64_t>(i);
    if (op.is_nemesis()) {
      // Jepsen's nemesis logs an info op when it starts an action and another when it ends.
      if (op.type == OpType::kInvoke || op.type == OpType::kInfo) {
        if (nemesis_open >= 0 && h.ops_[nemesis_open].f == op.f && op.type == OpType::kInfo) {
          h.pair_[nemesis_open] = op.index;
          h.pair_[i] = nemesis_open;
          nemesis_open = -1;
        } else {
          nemesis_open = op.index;
        }
      } else {
        nemesis_open = -1;
      }
      continue;
    }
    auto it = open.find(op.process);
    if (op.is_invoke()) {
      if (it != open.end()) {
        const Op& prev = h.ops_[it->second];
        report(op, describe(op) + " invoked while its " + prev.f + " (line " +
                       std::to_string(prev.line) + ") is still open");
        continue;
      }
      if (auto r = retired.find(op.process); r != retired.end()) {
        report(op, describe(op) + " invoked after the process crashed with info (line " +
                       std::to_string(h.ops_[r->second].line) + "); a crashed process never " +
                       "issues again");
        continue;
      }
      open.emplace(op.process, op.index);
      continue;
    }
    if (it == open.end()) {
      report(op, describe(op) + " has no open invocation on its process");
      continue;
    }
    const Op& inv = h.ops_[it->second];
    if (inv.f != op.f) {
      report(op, describe(op) + " completes an invocation of " + inv.f + " (line " +
                     std::to_string(inv.line) + ")");
      open.erase(it);
      continue;
    }
    h.pair_[i] = inv.index;
    h.pair_[inv.index] = op.index;
    open.erase(it);
    if (op.type == OpType::kInfo) retired.emplace(op.process, op.index);
  }
  return h;
}

History History::build_or_throw(std::vector<Op> ops, const std::string& source) {
  std::vector<HistoryProblem> problems;
  History h = build(std::move(ops), &problems);
  if (!problems.empty()) throw HistoryError(source, std::move(problems));
  return h;
}

History::Counts History::counts() const {
  Counts c;
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& op = ops_[i];
    if (op.is_nemesis()) {
      ++c.nemesis;
      continue;
    }
    switch (op.type) {
      case OpType::kInvoke:
        ++c.invoke;
        if (pair_[i] < 0) ++c.open;
        break;
      case OpType::kOk:
        ++c.ok;
        break;
      case OpType::kFail:
        ++c.fail;
        break;
      case OpType::kInfo:
        ++c.info;
        break;
    }
  }
  return c;
}

int64_t Operation::complete_index() const { return complete ? complete->index : INT64_MAX; }

std::vector<Operation> client_operations(const History& history) {
  std::vector<Operation> out;
  for (size_t i = 0; i < history.size(); ++i) {
    const Op& op = history[i];
    if (op.is_nemesis() || !op.is_invoke()) continue;
    Operation o;
    o.invoke = &op;
    int64_t c = history.pair_of(i);
    if (c >= 0) o.complete = &history[static_cast<size_t>(c)];
    out.push_back(o);
  }
  return out;
}

Json op_key(const Op& op) {
  if (auto it = op.extra.find("key"); it != op.extra.end()) return *it;
  if (op.value.is_array() && op.value.size() == 2) return op.value[0];
  return nullptr;
}

std::vector<KeyedHistory> split_by_key(const History& history) {
  // The key of a completion is taken from its invocation: an info completion carries an
  // error, not [key, v].
  std::map<Json, std::pair<Json, std::vector<Op>>> groups;  // json's order: numbers by value
  for (size_t i = 0; i < history.size(); ++i) {
    const Op& op = history[i];
    if (op.is_nemesis()) continue;
    const Op* keyed = &op;
    if (op.is_completion() && history.pair_of(i) >= 0) {
      keyed = &history[static_cast<size_t>(history.pair_of(i))];
    }
    Json key = op_key(*keyed);
    if (key.is_null()) continue;
    bool tuple = !keyed->extra.contains("key");
    Op copy = op;
    if (tuple) {
      if (op.value.is_array() && op.value.size() == 2) {
        copy.value = op.value[1];
      } else if (op.type == OpType::kInfo || op.type == OpType::kFail) {
        // Keep the error value as is (e.g. :timed-out).
      } else {
        copy.value = nullptr;
      }
    }
    auto& g = groups[key];
    if (g.second.empty()) g.first = key;
    g.second.push_back(std::move(copy));
  }
  std::vector<KeyedHistory> out;
  out.reserve(groups.size());
  for (auto& [text, g] : groups) {
    out.push_back({g.first, History::build(std::move(g.second), nullptr)});
  }
  return out;
}

namespace {

std::pair<std::string, std::string> split_f(const std::string& f) {
  auto dash = f.find('-');
  if (dash == std::string::npos) return {f, f};
  return {f.substr(0, dash), f.substr(dash + 1)};
}

bool opens(const std::string& verb) {
  return verb == "start" || verb == "kill" || verb == "crash" || verb == "pause" || verb == "begin";
}
bool closes(const std::string& verb) {
  return verb == "stop" || verb == "restart" || verb == "resume" || verb == "heal" || verb == "end";
}

}  // namespace

std::vector<NemesisInterval> nemesis_intervals(const History& history) {
  std::vector<NemesisInterval> out;
  std::map<std::string, size_t> open;  // key -> index in out
  int64_t last = 0;
  for (const Op& op : history) {
    if (op.time_ns > last) last = op.time_ns;
    if (!op.is_nemesis()) continue;
    // Only the second op of a pair (what was done) marks the fault; a lone op counts too.
    int64_t pair = history.pair_of(static_cast<size_t>(op.index));
    if (pair > op.index) continue;
    auto [verb, key] = split_f(op.f);
    int64_t t = op.time_ns < 0 ? 0 : op.time_ns;
    if (opens(verb) && !open.count(key)) {
      open[key] = out.size();
      out.push_back({t, t, key, false});
    } else if (closes(verb) && open.count(key)) {
      out[open[key]].end_ns = t;
      out[open[key]].ended = true;
      open.erase(key);
    }
  }
  for (auto& [key, i] : open) out[i].end_ns = std::max(last, out[i].start_ns);
  return out;
}

std::optional<ClockOffsetSteps> clock_offset_steps(const History& history) {
  std::optional<ClockOffsetSteps> out;
  for (const Op& op : history) {
    if (!op.is_nemesis() || op.is_invoke() || !op.value.is_object() || op.time_ns < 0) continue;
    auto it = op.value.find("offsets-ms");
    if (it == op.value.end() || !it->is_object()) continue;
    if (!out) out.emplace();
    for (const auto& [node, ms] : it->items()) {
      if (ms.is_number()) (*out)[node].emplace_back(op.time_ns, ms.get<double>());
    }
  }
  return out;
}

}  // namespace faultline
