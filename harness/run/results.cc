#include "harness/run/results.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "harness/command.h"
#include "harness/errors.h"
#include "harness/formats.h"
#include "harness/recorder.h"
#include "harness/run/limits.h"

namespace faultline::run {

namespace fs = std::filesystem;

std::string run_timestamp(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  return buf;
}

std::string iso_time_us(std::chrono::system_clock::time_point when) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
  std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(us % 1000000));
  return std::string(buf) + frac;
}

namespace {

void point_link(const fs::path& link, const fs::path& target) {
  fs::path tmp = link;
  tmp += ".tmp" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(target, tmp);
  fs::rename(tmp, link);  // atomic replacement of the old link
}

}  // namespace

fs::path make_run_dir(const fs::path& root, const std::string& test,
                      std::chrono::system_clock::time_point when) {
  if (test.empty() || test.find('/') != std::string::npos || test == "." || test == ".." ||
      test == "latest") {
    throw ConfigError("test name '" + test + "' cannot be a directory name");
  }
  fs::create_directories(root / test);
  std::string stamp = run_timestamp(when);
  fs::path dir;
  for (int k = 1;; ++k) {
    dir = root / test / (k == 1 ? stamp : stamp + "-" + std::to_string(k));
    if (fs::create_directory(dir)) break;
  }
  point_link(root / test / "latest", dir.filename());
  point_link(root / "latest", fs::path(test) / dir.filename());
  fsync_directory(root / test);
  fsync_directory(root);
  return dir;
}

fs::path resolve_run_dir(const fs::path& arg) {
  fs::path p = arg;
  for (int depth = 0; depth < 3; ++depth) {
    if (RunDir::is_run(p)) return p;
    if (!fs::exists(p / "latest")) break;  // also false for a dangling link
    std::error_code ec;
    p = fs::canonical(p / "latest", ec);
    if (ec) break;
  }
  throw ConfigError(arg.string() + ": not a run directory (no test.json, no latest)");
}

std::string heal_command(const fs::path& run_dir) {
  std::error_code ec;
  fs::path abs = fs::absolute(run_dir, ec);
  if (ec) abs = run_dir;
  return "faultline heal " + shell_quote(abs.lexically_normal().string());
}

void ControllerLog::open(const fs::path& path, bool echo) {
  std::lock_guard<std::mutex> lock(mu_);
  out_.open(path, std::ios::app);
  path_ = path;
  failed_ = false;
  echo_ = echo;
  start_ = std::chrono::steady_clock::now();
}

void ControllerLog::log(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string stamp = run_timestamp(std::chrono::system_clock::now());
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  char rel[32];
  std::snprintf(rel, sizeof rel, "%9.3f", t);
  if (out_.is_open() && !failed_) {
    out_ << stamp << " " << rel << "  " << line << "\n" << std::flush;
    if (!out_) {
      // Said once; the run goes on (the history, not this log, is what must be complete).
      failed_ = true;
      std::cerr << "faultline: " << path_.string() << ": write failed (" << std::strerror(errno)
                << "); controller.log is incomplete from here\n";
    }
  }
  // On a terminal, clear the progress line first.
  if (echo_) std::cerr << (::isatty(2) ? "\r\033[K[" : "[") << rel << "] " << line << "\n";
}

void ControllerLog::close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (out_.is_open()) out_.close();
}

CheckRunResult check_run(const RunDir& run_dir, const std::vector<CheckerSpec>& checkers,
                         const CheckRunOptions& options) {
  CheckRunResult out;
  const RecoveredHistory& rec = run_dir.history();
  History::Counts counts = rec.history.counts();
  Json history = {{"ops", rec.history.size()}, {"invoke", counts.invoke},
                  {"ok", counts.ok},           {"fail", counts.fail},
                  {"info", counts.info},       {"nemesis", counts.nemesis},
                  {"open", counts.open},       {"torn-last-line", rec.torn_last_line},
                  {"warnings", rec.warnings}};
  Json per_checker = Json::object();
  Validity overall = Validity::kValid;
  // Memory is bounded for the whole check (parsing is done): past it an allocation fails and
  // the checker's verdict is unknown, instead of the kernel killing the controller.
  const size_t memory_bytes = default_memory_limit_bytes();
  MemoryLimit memory_limit(memory_bytes);
  for (const auto& spec : checkers) {
    std::string label = spec.label.empty() ? spec.name : spec.label;
    Json rj;
    const CheckerFactory* factory = CheckerRegistry::find(spec.name);
    if (!factory) {
      rj = {{"valid", "unknown"},
            {"error", "checker '" + spec.name + "' is not registered in this build"}};
      overall = merge(overall, Validity::kUnknown);
      per_checker[label] = rj;
      continue;
    }
    CheckContext ctx;
    if (options.checker_time_limit_s > 0) {
      ctx.deadline = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(options.checker_time_limit_s));
    }
    ctx.threads = options.threads > 0
                      ? options.threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    ctx.seed = options.seed;
    ctx.progress = options.progress;
    ctx.memory_limit_bytes = memory_bytes;
    try {
      auto checker = (*factory)(spec.options);
      CheckResult r = checker->check(rec.history, ctx);
      rj = r.details;
      if (!rj.is_object()) rj = Json{{"details", rj}};
      rj["valid"] = std::string(to_string(r.validity));
      overall = merge(overall, r.validity);
      for (auto& [name, bytes] : r.artifacts) out.artifacts[label + "/" + name] = bytes;
    } catch (const std::bad_alloc&) {
      rj = {{"valid", "unknown"},
            {"error", "memory limit of " + std::to_string(memory_bytes >> 20) +
                          " MiB (half the RAM) reached; check the history on a larger machine "
                          "with faultline check --memory-limit MiB"}};
      overall = merge(overall, Validity::kUnknown);
    } catch (const std::exception& e) {
      rj = {{"valid", "unknown"}, {"error", std::string("checker failed: ") + e.what()}};
      overall = merge(overall, Validity::kUnknown);
    }
    rj["checker"] = spec.name;
    rj["options"] = spec.options;
    per_checker[label] = rj;
  }
  if (checkers.empty()) overall = Validity::kUnknown;
  out.validity = overall;
  out.results = {
      {"valid", std::string(to_string(overall))}, {"checkers", per_checker}, {"history", history}};
  return out;
}

std::string results_text(const Json& results) {
  return results.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string summarise(const Json& results) {
  std::string s;
  if (!results.contains("checkers")) return s;
  for (const auto& [name, rj] : results["checkers"].items()) {
    s += name + ": " + rj.value("valid", std::string("?"));
    if (rj.contains("summary") && rj["summary"].is_string()) {
      s += " (" + rj["summary"].get<std::string>() + ")";
    } else if (rj.contains("error") && rj["error"].is_string()) {
      s += " (" + rj["error"].get<std::string>() + ")";
    }
    s += "\n";
    if (rj.value("valid", std::string()) == "valid") continue;
    // Checkers that list their anomalies ({"type", "explanation"} each): one line per anomaly,
    // the first line of its explanation, at most kMaxAnomalies, and every type at least once
    // (a type listed after the cap would be hidden behind more of another type).
    constexpr size_t kMaxAnomalies = 10;
    constexpr size_t kMaxWidth = 220;
    if (rj.contains("anomalies") && rj["anomalies"].is_array() && !rj["anomalies"].empty()) {
      const Json& list = rj["anomalies"];
      std::vector<std::string> types;
      for (const auto& a : list) {
        types.push_back(a.is_object() ? a.value("type", std::string("anomaly")) : "anomaly");
      }
      const std::vector<bool> shown = first_of_each_type(types, kMaxAnomalies);
      for (size_t i = 0; i < list.size(); ++i) {
        if (!shown[i]) continue;
        std::string text = list[i].is_object() ? list[i].value("explanation", std::string()) : "";
        text = text.substr(0, text.find('\n'));
        if (text.size() > kMaxWidth) text = text.substr(0, kMaxWidth - 3) + "...";
        s += "  - " + types[i] + ": " + text + "\n";
      }
      const size_t hidden = static_cast<size_t>(std::count(shown.begin(), shown.end(), false));
      if (hidden > 0) s += "  ... " + std::to_string(hidden) + " more in results.json\n";
      continue;
    }
    // Otherwise the explanation in plain words, indented, at most kMaxLines lines; a line that
    // starts with one of the checker's "anomaly-types" ("G-single: ...") is of that type, and
    // every type gets at least its first line.
    constexpr size_t kMaxLines = 12;
    if (rj.contains("explanation") && rj["explanation"].is_string()) {
      std::istringstream in(rj["explanation"].get<std::string>());
      std::vector<std::string> lines, types;
      std::vector<std::string> known;
      if (rj.contains("anomaly-types") && rj["anomaly-types"].is_array()) {
        for (const auto& t : rj["anomaly-types"]) {
          if (t.is_string()) known.push_back(t.get<std::string>());
        }
      }
      for (std::string line; std::getline(in, line);) {
        std::string type;  // the longest known type the line starts with, then ':'
        for (const auto& t : known) {
          if (t.size() > type.size() && line.size() > t.size() &&
              line.compare(0, t.size(), t) == 0 && line[t.size()] == ':') {
            type = t;
          }
        }
        lines.push_back(std::move(line));
        types.push_back(std::move(type));
      }
      const std::vector<bool> shown = first_of_each_type(types, kMaxLines);
      for (size_t i = 0; i < lines.size(); ++i) {
        if (shown[i]) s += "  " + lines[i] + "\n";
      }
      if (std::count(shown.begin(), shown.end(), false) > 0) {
        s += "  ... (the rest in results.json)\n";
      }
    }
  }
  return s;
}

}  // namespace faultline::run
