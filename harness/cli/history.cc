// `faultline check`, `faultline convert`, `faultline list`: commands on history files that need
// no cluster.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "harness/checker.h"
#include "harness/cli/cli.h"
#include "harness/db.h"
#include "harness/errors.h"
#include "harness/formats.h"
#include "harness/registry.h"
#include "harness/run/limits.h"
#include "harness/workload.h"

namespace faultline::cli {
namespace {

// Default of `check --time-limit`: a check with no limit could run for ever on a hostile file.
constexpr double kDefaultCheckSeconds = 300;

std::optional<HistoryFormat> format_option(const std::string& name) {
  if (name.empty() || name == "auto") return std::nullopt;
  auto f = parse_history_format(name);
  if (!f) {
    throw ConfigError("unknown format '" + name +
                      "' (known: auto, jsonl, edn, jepsen-log, porcupine-kv)");
  }
  return f;
}

struct CheckOptions {
  std::vector<std::string> files;
  std::string checker = "linearizable";
  std::string model;
  std::string engine;
  std::string consistency_model;
  std::vector<std::string> extra_options;  // KEY=VALUE
  std::string independent;
  std::string format;
  double time_limit_s = kDefaultCheckSeconds;
  double memory_limit_mb = 0;
  int threads = 0;
  uint64_t seed = 0;
  bool json = false;
  bool no_explain = false;
};

int run_check(const CheckOptions& o) {
  auto format = format_option(o.format);
  std::vector<std::string> checkers = split_commas(o.checker);
  if (checkers.empty()) throw ConfigError("--checker needs at least one name");
  for (const auto& c : checkers) CheckerRegistry::get("checker", c);  // fail early on a typo
  Json options = Json::object();
  if (!o.model.empty()) options["model"] = o.model;
  if (!o.engine.empty()) options["engine"] = o.engine;
  if (!o.consistency_model.empty()) options["consistency-model"] = o.consistency_model;
  if (!o.independent.empty()) options["independent"] = o.independent == "true";
  if (o.no_explain) options["explain"] = false;
  for (const auto& kv : o.extra_options) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--option takes KEY=VALUE (VALUE as JSON, or a plain string), not '" + kv +
                        "'");
    }
    const std::string value = kv.substr(eq + 1);
    Json parsed = Json::parse(value, nullptr, false);
    options[kv.substr(0, eq)] = parsed.is_discarded() ? Json(value) : parsed;
  }

  // Both limits hold for everything below (parsing, Z3, Elle): memory through RLIMIT_DATA,
  // time through the checkers' deadline and, as a backstop, a watchdog.
  const size_t memory_bytes = o.memory_limit_mb > 0
                                  ? static_cast<size_t>(o.memory_limit_mb * 1024 * 1024)
                                  : run::default_memory_limit_bytes();
  const std::string raise_memory = "raise it with --memory-limit MiB";
  const std::string raise_time = "raise it with --time-limit S, or 0 for none";
  auto limit_text = [&](double s) {
    std::ostringstream t;
    t << s;
    return t.str();
  };
  run::MemoryLimit memory_limit(memory_bytes);
  Validity overall = Validity::kValid;
  Json all = Json::array();
  for (const auto& file : o.files) {
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<LoadedHistory> loaded_ptr;
    try {
      run::Watchdog watchdog(o.time_limit_s,
                             file + ": unknown: reading the history took longer than " +
                                 "the time limit of " + limit_text(o.time_limit_s) + " s; " +
                                 raise_time);
      loaded_ptr = std::make_unique<LoadedHistory>(load_history_file(file, format));
    } catch (const std::bad_alloc&) {
      std::cout << file << ": unknown: reading the history needs more than the memory limit of "
                << memory_bytes / (1024 * 1024) << " MiB; " << raise_memory << "\n";
      overall = merge(overall, Validity::kUnknown);
      continue;
    }
    const LoadedHistory& loaded = *loaded_ptr;
    auto t1 = std::chrono::steady_clock::now();
    Json file_json = {{"file", file},
                      {"format", std::string(to_string(loaded.format))},
                      {"ops", loaded.history.size()},
                      {"parse_s", std::chrono::duration<double>(t1 - t0).count()}};
    Validity file_validity = Validity::kValid;
    Json results = Json::object();
    std::string summary;
    // A history with nothing to judge (no client op, or nothing succeeded) is not valid but
    // unknown, whatever the checkers say (Jepsen's stats idea); with no client op at all the
    // checkers are not asked (they could not even guess a model).
    CheckResult stats = CheckerRegistry::get("checker", "stats")(Json::object())
                            ->check(loaded.history, CheckContext{});
    const bool nothing = stats.details["by-f"].empty();
    for (const auto& name : nothing ? std::vector<std::string>{} : checkers) {
      auto checker = CheckerRegistry::get("checker", name)(options);
      CheckContext ctx;
      if (o.time_limit_s > 0) {
        ctx.deadline = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(o.time_limit_s));
      }
      // The search's own bound (it stops as unknown before the process-wide limit is hit).
      ctx.memory_limit_bytes = memory_bytes;
      ctx.threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
      ctx.seed = o.seed;
      auto c0 = std::chrono::steady_clock::now();
      CheckResult r;
      try {
        run::Watchdog watchdog(o.time_limit_s,
                               file + ": unknown: " + name + " ran past the time limit of " +
                                   limit_text(o.time_limit_s) + " s; " + raise_time);
        r = checker->check(loaded.history, ctx);
      } catch (const std::bad_alloc&) {
        r = CheckResult{};
        r.validity = Validity::kUnknown;
        r.details = {{"summary", "memory limit of " + std::to_string(memory_bytes / (1024 * 1024)) +
                                     " MiB reached; " + raise_memory}};
      }
      if (r.validity == Validity::kUnknown && ctx.expired() && o.time_limit_s > 0 &&
          r.details.is_object()) {
        r.details["limit"] =
            "time limit of " + limit_text(o.time_limit_s) + " s reached; " + raise_time;
        if (r.details.contains("summary") && r.details["summary"].is_string()) {
          r.details["summary"] = r.details["summary"].get<std::string>() + "; " +
                                 r.details["limit"].get<std::string>();
        }
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
      file_validity = merge(file_validity, r.validity);
      Json rj = r.details;
      rj["valid"] = std::string(to_string(r.validity));
      rj["check_s"] = secs;
      if (!r.timing.empty()) rj["timing"] = r.timing;
      results[name] = rj;
      if (!summary.empty()) summary += "; ";
      summary += name + " " + std::string(to_string(r.validity));
      if (r.details.contains("summary") && r.details["summary"].is_string()) {
        summary += " (" + r.details["summary"].get<std::string>() + ")";
      }
    }
    {
      Json rj = stats.details;
      rj["valid"] = std::string(to_string(stats.validity));
      results["stats"] = rj;
      if (stats.validity != Validity::kValid) {
        file_validity = merge(file_validity, stats.validity);
        summary += std::string(summary.empty() ? "" : "; ") + "stats " +
                   std::string(to_string(stats.validity)) + " (" +
                   stats.details.value("summary", std::string()) + ")";
      }
    }
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    overall = merge(overall, file_validity);
    file_json["valid"] = std::string(to_string(file_validity));
    file_json["results"] = results;
    file_json["total_s"] = total;
    all.push_back(file_json);
    // The last file's history is not freed: the process ends right after, and freeing a
    // million-transaction history (millions of small JSON values) took 1.3 s of a 4.8 s run.
    if (&file == &o.files.back()) (void)loaded_ptr.release();
    if (!o.json) {
      std::cout << file << ": " << to_string(file_validity) << ": " << summary << " [" << std::fixed
                << std::setprecision(3) << total << " s]\n";
      // Explanations of anomalies, indented, for invalid files.
      for (const auto& [name, rj] : results.items()) {
        if (rj.contains("explanation") && rj["explanation"].is_string()) {
          std::istringstream lines(rj["explanation"].get<std::string>());
          std::string line;
          while (std::getline(lines, line)) std::cout << "  " << line << "\n";
        }
      }
    }
  }
  if (o.json) {
    Json doc = {{"valid", std::string(to_string(overall))}, {"files", all}};
    std::cout << doc.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
  }
  return exit_code_of(overall);
}

const bool check_registered = register_command(
    {"check", "Check history files (jsonl, Jepsen EDN or log, Porcupine kv) for consistency",
     [](CLI::App& app) {
       auto o = std::make_shared<CheckOptions>();
       app.add_option("files", o->files, "History files")->required();
       app.add_option("--checker,-c", o->checker,
                      "Checker(s), comma-separated; see `faultline list`")
           ->capture_default_str();
       app.add_option("--model,-m", o->model,
                      "Model for the linearizability checker (default: guessed from the ops)");
       app.add_option("--engine", o->engine,
                      "Linearizability engine: search, smt or portfolio (default: portfolio, the "
                      "search within a step budget, then Z3 on keys that exceed it; Z3 also "
                      "minimises the counterexample of any illegal key)");
       app.add_option("--independent", o->independent,
                      "Linearizability: check each key separately (default: when ops carry keys)")
           ->check(CLI::IsMember({"true", "false"}));
       app.add_option("--option,-o", o->extra_options,
                      "A checker option KEY=VALUE, VALUE as JSON (repeatable), e.g. "
                      "-o 'version-order={\"x\": [3, 1, 2]}' for rw-register");
       app.add_option("--consistency-model", o->consistency_model,
                      "For transactional checkers: the model whose anomalies make it invalid");
       app.add_option("--format,-f", o->format,
                      "Input format: auto, jsonl, edn, jepsen-log, "
                      "porcupine-kv")
           ->capture_default_str();
       app.add_option("--time-limit", o->time_limit_s,
                      "Seconds per checker and file before the verdict is unknown (0: none)")
           ->capture_default_str();
       app.add_option("--memory-limit", o->memory_limit_mb,
                      "MiB the whole check may use (parsing, search, Z3, Elle) before the "
                      "verdict is unknown (default: half the RAM)");
       app.add_option("--threads", o->threads, "Threads per check (default: all cores)");
       app.add_option("--seed", o->seed, "Seed for randomised engines");
       app.add_flag("--json", o->json, "Print the full results as JSON");
       app.add_flag("--no-explain", o->no_explain,
                    "Linearizability: verdicts only, no minimal counterexample");
       return [o] { return run_check(*o); };
     }});

struct ConvertOptions {
  std::string in, out, from, to;
};

int run_convert(const ConvertOptions& o) {
  LoadedHistory loaded = load_history_file(o.in, format_option(o.from));
  HistoryFormat to;
  if (!o.to.empty()) {
    auto f = format_option(o.to);
    if (!f) throw ConfigError("--to needs a format: jsonl, edn, jepsen-log or porcupine-kv");
    to = *f;
  } else if (o.out.ends_with(".edn")) {
    to = HistoryFormat::kEdn;
  } else if (o.out.ends_with(".log")) {
    to = HistoryFormat::kJepsenLog;
  } else {
    to = HistoryFormat::kJsonl;
  }
  if (o.out == "-") {
    write_history(std::cout, loaded.history, to);
    return 0;
  }
  std::ofstream out(o.out, std::ios::binary | std::ios::trunc);
  if (!out) throw ConfigError(o.out + ": cannot write: " + std::strerror(errno));
  write_history(out, loaded.history, to);
  out.close();
  if (!out) throw std::runtime_error(o.out + ": write failed");
  std::cerr << o.in << " (" << to_string(loaded.format) << ", " << loaded.history.size()
            << " ops) -> " << o.out << " (" << to_string(to) << ")\n";
  return 0;
}

const bool convert_registered = register_command(
    {"convert", "Convert a history between formats (jsonl, edn, jepsen-log, porcupine-kv)",
     [](CLI::App& app) {
       auto o = std::make_shared<ConvertOptions>();
       app.add_option("in", o->in, "Input history")->required();
       app.add_option("out", o->out, "Output file, or - for stdout")->required();
       app.add_option("--from", o->from, "Input format (default: detected)");
       app.add_option("--to", o->to,
                      "Output format (default: from the extension: .edn, .log, else jsonl)");
       return [o] { return run_convert(*o); };
     }});

// Which database serves which workload: workload name -> db name -> bool, from each
// workload's vocabulary and each database's vocabularies (both built with default options).
Json support_matrix() {
  Json m = Json::object();
  std::map<std::string, std::vector<std::string>> served;
  for (const auto& db : DbRegistry::names()) {
    try {
      served[db] = DbRegistry::get("db", db)(Json::object())->vocabularies();
    } catch (const std::exception&) {
      served[db] = {};
    }
  }
  for (const auto& w : WorkloadRegistry::names()) {
    std::string vocabulary;
    try {
      vocabulary = WorkloadRegistry::get("workload", w)(Json::object())->vocabulary();
    } catch (const std::exception&) {
      continue;
    }
    for (const auto& [db, vs] : served) {
      m[w][db] = std::find(vs.begin(), vs.end(), vocabulary) != vs.end();
    }
  }
  return m;
}

void print_support_matrix(const Json& m) {
  if (m.empty()) return;
  std::vector<std::string> dbs;
  for (const auto& [db, v] : m.begin().value().items()) dbs.push_back(db);
  std::cout << "\nworkloads by database (x: served):\n  " << std::left << std::setw(16) << "";
  for (const auto& db : dbs) std::cout << std::setw(std::max<int>(8, db.size() + 2)) << db;
  std::cout << "\n";
  for (const auto& [w, row] : m.items()) {
    std::cout << "  " << std::setw(16) << w;
    for (const auto& db : dbs) {
      std::cout << std::setw(std::max<int>(8, db.size() + 2)) << (row.value(db, false) ? "x" : "-");
    }
    std::cout << "\n";
  }
}

const bool list_registered = register_command(
    {"list", "List registered models, checkers, workloads, nemeses and databases",
     [](CLI::App& app) {
       auto json = std::make_shared<bool>(false);
       app.add_flag("--json", *json, "As JSON (each entry with its options and defaults)");
       return [json] {
         auto entries = catalog();
         Json matrix = support_matrix();
         if (*json) {
           Json out = Json::array();
           for (const auto& e : entries) {
             Json options = Json::array();
             for (const auto& d : e.options) {
               options.push_back({{"key", d.key}, {"default", d.default_value}, {"doc", d.doc}});
             }
             out.push_back({{"kind", e.kind},
                            {"name", e.name},
                            {"description", e.description},
                            {"options", options}});
           }
           std::cout << Json{{"registered", out}, {"workloads-by-db", matrix}}.dump(2) << "\n";
           return 0;
         }
         std::string kind;
         for (const auto& e : entries) {
           if (e.kind != kind) {
             kind = e.kind;
             std::cout << (kind == entries.front().kind ? "" : "\n") << kind << ":\n";
           }
           std::cout << "  " << std::left << std::setw(28) << e.name << e.description << "\n";
           for (const auto& line : describe_options(e.options)) {
             std::cout << "      " << line << "\n";
           }
         }
         print_support_matrix(matrix);
         return 0;
       };
     }});

}  // namespace
}  // namespace faultline::cli
