#include "harness/run/spec.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "harness/errors.h"

namespace faultline::run {
namespace {

// Bound of every seconds (and rate) field: 10^6 s is 11.6 days; beyond some 9.2e9 s a time
// overflows std::chrono's nanoseconds and, wrapped, ends a phase at once.
constexpr double kMaxSeconds = 1e6;

[[noreturn]] void bad(const std::string& source, const std::string& path,
                      const std::string& reason) {
  throw ConfigError(source + ": " + path + ": " + reason);
}

const char* kind_of(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

struct Reader {
  const Json& j;
  const std::string& source;

  std::string path(const std::string& key) const { return "/" + key; }

  std::string string(const std::string& key, const std::string& def) const {
    if (!j.contains(key)) return def;
    const Json& v = j.at(key);
    if (!v.is_string())
      bad(source, path(key), std::string("expected a string, found ") + kind_of(v));
    return v.get<std::string>();
  }
  double seconds(const std::string& key, double def, bool allow_zero = true) const {
    if (!j.contains(key)) return def;
    const Json& v = j.at(key);
    if (!v.is_number())
      bad(source, path(key), std::string("expected a number, found ") + kind_of(v));
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || (!allow_zero && d == 0) || d > kMaxSeconds) {
      bad(source, path(key),
          std::string("expected a number ") + (allow_zero ? ">= 0" : "> 0") + " and at most " +
              std::to_string(static_cast<int64_t>(kMaxSeconds)) + ", found " + json_text(v));
    }
    return d;
  }
  int64_t integer(const std::string& key, int64_t def, int64_t min) const {
    if (!j.contains(key)) return def;
    const Json& v = j.at(key);
    if (!v.is_number_integer()) {
      bad(source, path(key), std::string("expected an integer, found ") + json_text(v));
    }
    int64_t i = v.get<int64_t>();
    if (i < min) bad(source, path(key), "expected an integer >= " + std::to_string(min));
    return i;
  }
  bool boolean(const std::string& key, bool def) const {
    if (!j.contains(key)) return def;
    const Json& v = j.at(key);
    if (!v.is_boolean())
      bad(source, path(key), std::string("expected true or false, found ") + kind_of(v));
    return v.get<bool>();
  }
  Json object(const std::string& key) const {
    if (!j.contains(key)) return Json::object();
    const Json& v = j.at(key);
    if (!v.is_object())
      bad(source, path(key), std::string("expected an object, found ") + kind_of(v));
    return v;
  }
  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    if (!j.contains(key)) return out;
    const Json& v = j.at(key);
    if (!v.is_array())
      bad(source, path(key), std::string("expected an array of strings, found ") + kind_of(v));
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string() || v[i].get<std::string>().empty()) {
        bad(source, path(key) + "/" + std::to_string(i), "expected a non-empty string");
      }
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }
};

const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> keys = {"checker-time-limit",
                                                "concurrency",
                                                "consistency-model",
                                                "retry",
                                                "routing",
                                                "db",
                                                "db-options",
                                                "final-time-limit",
                                                "leave-db-running",
                                                "local",
                                                "name",
                                                "nemesis",
                                                "nemesis-interval",
                                                "nemesis-options",
                                                "preflight",
                                                "nemesis-op-timeout",
                                                "nemesis-errors",
                                                "nemesis-command-timeout",
                                                "nemesis-schedule",
                                                "nodes",
                                                "nodes-file",
                                                "op-timeout",
                                                "rate",
                                                "recovery-wait",
                                                "results-dir",
                                                "seed",
                                                "ssh",
                                                "test-count",
                                                "time-limit",
                                                "workload",
                                                "workload-options"};
  return keys;
}

}  // namespace

std::vector<std::string> split_nemesis_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (part.empty() || part == "none") continue;
    if (std::find(out.begin(), out.end(), part) == out.end()) out.push_back(part);
  }
  return out;
}

TestSpec parse_spec(const Json& j, const std::string& source) {
  if (!j.is_object()) bad(source, "/", std::string("expected an object, found ") + kind_of(j));
  for (const auto& [k, v] : j.items()) {
    const auto& keys = known_keys();
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      std::string list;
      for (const auto& n : keys) list += (list.empty() ? "" : ", ") + n;
      bad(source, "/" + k, "unknown key (known: " + list + ")");
    }
  }
  Reader r{j, source};
  TestSpec s;
  s.name = r.string("name", "");
  s.db = r.string("db", s.db);
  if (s.db.empty()) bad(source, "/db", "must not be empty");
  s.db_options = r.object("db-options");
  s.workload = r.string("workload", s.workload);
  if (s.workload.empty()) bad(source, "/workload", "must not be empty");
  s.workload_options = r.object("workload-options");
  if (j.contains("nemesis")) {
    const Json& v = j.at("nemesis");
    if (v.is_string()) {
      s.nemesis = split_nemesis_list(v.get<std::string>());
    } else {
      for (const auto& n : r.strings("nemesis")) {
        for (const auto& part : split_nemesis_list(n)) {
          if (std::find(s.nemesis.begin(), s.nemesis.end(), part) == s.nemesis.end()) {
            s.nemesis.push_back(part);
          }
        }
      }
    }
  }
  s.nemesis_options = r.object("nemesis-options");
  for (const auto& [k, v] : s.nemesis_options.items()) {
    if (!v.is_object()) {
      bad(source, "/nemesis-options/" + k, std::string("expected an object, found ") + kind_of(v));
    }
  }
  s.nemesis_interval_s = r.seconds("nemesis-interval", s.nemesis_interval_s, false);
  if (s.nemesis_interval_s < kMinNemesisInterval) {
    bad(source, "/nemesis-interval",
        "expected at least 0.1 s between nemesis ops (a shorter interval floods the nodes with "
        "fault commands), found " +
            json_text(j.at("nemesis-interval")));
  }
  s.nemesis_op_timeout_s = r.seconds("nemesis-op-timeout", s.nemesis_op_timeout_s, false);
  s.nemesis_command_timeout_s =
      r.seconds("nemesis-command-timeout", s.nemesis_command_timeout_s, false);
  if (j.contains("nemesis-schedule")) {
    const Json& v = j.at("nemesis-schedule");
    if (!v.is_array()) {
      bad(source, "/nemesis-schedule", std::string("expected an array, found ") + kind_of(v));
    }
    double last = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const Json& e = v[i];
      std::string at = "/nemesis-schedule/" + std::to_string(i);
      if (!e.is_object()) bad(source, at, "expected {\"at\": seconds, \"f\": op, \"value\": ...}");
      for (const auto& [k, x] : e.items()) {
        if (k != "at" && k != "f" && k != "value")
          bad(source, at + "/" + k, "unknown key (known: at, f, value)");
      }
      if (!e.contains("at") || !e["at"].is_number() || !std::isfinite(e["at"].get<double>()) ||
          e["at"].get<double>() < 0 || e["at"].get<double>() > kMaxSeconds) {
        bad(source, at + "/at",
            "expected a number of seconds >= 0 and at most " +
                std::to_string(static_cast<int64_t>(kMaxSeconds)));
      }
      if (e["at"].get<double>() < last)
        bad(source, at + "/at", "the schedule must be in time order");
      last = e["at"].get<double>();
      if (!e.contains("f") || !e["f"].is_string() || e["f"].get<std::string>().empty()) {
        bad(source, at + "/f", "expected the name of a nemesis op, e.g. \"start-partition\"");
      }
    }
    s.nemesis_schedule = v;
  }
  // A main phase of 0 s records nothing, and a history with nothing in it would pass.
  s.time_limit_s = r.seconds("time-limit", s.time_limit_s, /*allow_zero=*/false);
  if (j.contains("concurrency")) {
    const Json& v = j.at("concurrency");
    if (v.is_number_integer()) {
      s.concurrency = std::to_string(v.get<int64_t>());
    } else if (v.is_string()) {
      s.concurrency = v.get<std::string>();
    } else {
      bad(source, "/concurrency", "expected an integer or \"<N>n\", found " + json_text(v));
    }
    try {
      resolve_concurrency(s.concurrency, 1);
    } catch (const ConfigError& e) {
      bad(source, "/concurrency", e.what());
    }
  }
  s.rate = r.seconds("rate", s.rate);
  s.op_timeout_s = r.seconds("op-timeout", s.op_timeout_s, false);
  s.recovery_wait_s = r.seconds("recovery-wait", s.recovery_wait_s);
  s.final_time_limit_s = r.seconds("final-time-limit", s.final_time_limit_s);
  s.checker_time_limit_s = r.seconds("checker-time-limit", s.checker_time_limit_s);
  s.test_count = r.integer("test-count", s.test_count, 1);
  if (j.contains("seed")) {
    const Json& v = j.at("seed");
    if (v.is_number_unsigned()) {
      s.seed = v.get<uint64_t>();
    } else if (v.is_number_integer() && v.get<int64_t>() >= 0) {
      s.seed = static_cast<uint64_t>(v.get<int64_t>());
    } else {
      bad(source, "/seed", "expected an integer >= 0, found " + json_text(v));
    }
  }
  s.nodes = r.strings("nodes");
  s.nodes_file = r.string("nodes-file", "");
  s.local = r.integer("local", 0, 0);
  s.ssh = r.object("ssh");
  for (const auto& [k, v] : s.ssh.items()) {
    static const std::vector<std::string> ssh_keys = {"username", "private-key-path", "port",
                                                      "known-hosts", "strict-host-key-checking"};
    if (std::find(ssh_keys.begin(), ssh_keys.end(), k) == ssh_keys.end()) {
      bad(source, "/ssh/" + k,
          "unknown key (known: username, private-key-path, port, known-hosts, "
          "strict-host-key-checking)");
    }
    bool ok = k == "port" ? v.is_number_integer()
                          : (k == "strict-host-key-checking" ? v.is_boolean() : v.is_string());
    if (!ok) {
      bad(source, "/ssh/" + k,
          k == "port"
              ? "expected an integer"
              : (k == "strict-host-key-checking" ? "expected true or false" : "expected a string"));
    }
  }
  s.leave_db_running = r.boolean("leave-db-running", false);
  s.preflight = r.boolean("preflight", true);
  s.consistency_model = r.string("consistency-model", "");
  s.routing = r.string("routing", s.routing);
  if (s.routing != "random" && s.routing != "home-node") {
    bad(source, "/routing", "expected \"random\" or \"home-node\", found \"" + s.routing + "\"");
  }
  s.retry = r.string("retry", s.retry);
  if (s.retry != "none" && s.retry != "idempotent") {
    bad(source, "/retry", "expected \"none\" or \"idempotent\", found \"" + s.retry + "\"");
  }
  s.nemesis_errors = r.string("nemesis-errors", s.nemesis_errors);
  if (s.nemesis_errors != "unknown" && s.nemesis_errors != "allow") {
    bad(source, "/nemesis-errors",
        "expected \"unknown\" or \"allow\", found \"" + s.nemesis_errors + "\"");
  }
  s.results_dir = r.string("results-dir", s.results_dir);
  if (s.results_dir.empty()) bad(source, "/results-dir", "must not be empty");
  int sources = (!s.nodes.empty()) + (!s.nodes_file.empty()) + (s.local > 0);
  if (sources > 1) bad(source, "/nodes", "give at most one of nodes, nodes-file and local");
  return s;
}

Json TestSpec::to_json() const {
  Json j = {{"name", name},
            {"db", db},
            {"db-options", db_options},
            {"workload", workload},
            {"workload-options", workload_options},
            {"nemesis", nemesis},
            {"nemesis-options", nemesis_options},
            {"nemesis-interval", nemesis_interval_s},
            {"time-limit", time_limit_s},
            {"concurrency", concurrency},
            {"rate", rate},
            {"op-timeout", op_timeout_s},
            {"recovery-wait", recovery_wait_s},
            {"final-time-limit", final_time_limit_s},
            {"nemesis-op-timeout", nemesis_op_timeout_s},
            {"nemesis-command-timeout", nemesis_command_timeout_s},
            {"checker-time-limit", checker_time_limit_s},
            {"test-count", test_count},
            {"nodes", nodes},
            {"nodes-file", nodes_file},
            {"local", local},
            {"ssh", ssh},
            {"leave-db-running", leave_db_running},
            {"preflight", preflight},
            {"consistency-model", consistency_model},
            {"nemesis-schedule", nemesis_schedule},
            {"routing", routing},
            {"retry", retry},
            {"nemesis-errors", nemesis_errors},
            {"results-dir", results_dir}};
  if (seed) j["seed"] = *seed;
  return j;
}

std::string TestSpec::test_name() const {
  if (!name.empty()) return name;
  std::string n = db + "-" + workload;
  for (const auto& x : nemesis) n += "-" + x;
  return n;
}

Json load_spec_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open");
  std::ostringstream buf;
  buf << in.rdbuf();
  try {
    return Json::parse(buf.str());
  } catch (const Json::parse_error& e) {
    throw ConfigError(path + ": not valid JSON: " + e.what());
  }
}

int resolve_concurrency(const std::string& c, size_t node_count) {
  std::string digits = c;
  bool per_node = !digits.empty() && digits.back() == 'n';
  if (per_node) digits.pop_back();
  if (digits.empty() || digits.size() > 6 ||
      !std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    throw ConfigError("concurrency '" + c + "' is not N or Nn (N per node)");
  }
  int64_t n = std::stoll(digits) * (per_node ? static_cast<int64_t>(node_count) : 1);
  if (n < 1 || n > 100000) throw ConfigError("concurrency '" + c + "' gives " + std::to_string(n));
  return static_cast<int>(n);
}

}  // namespace faultline::run
