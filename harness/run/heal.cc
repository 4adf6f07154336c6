// Healing a run after its controller died (see heal.h and `faultline heal`, harness/cli/heal.cc).
#include "harness/run/heal.h"

#include <algorithm>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "harness/control/inventory.h"
#include "harness/db.h"
#include "harness/errors.h"
#include "harness/formats.h"
#include "harness/nemesis.h"
#include "harness/recorder.h"
#include "harness/remote.h"
#include "harness/run/results.h"
#include "harness/run_dir.h"

namespace faultline::run {
namespace {

namespace fs = std::filesystem;

// Run directories at or below `arg` (itself, <arg>/<run>, <arg>/<test>/<run>), links skipped.
std::vector<fs::path> runs_below(const fs::path& arg) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::exists(RunDir(arg).test_json(), ec)) return {arg};
  auto children = [&](const fs::path& d) {
    std::vector<fs::path> v;
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_symlink(ec) || !it->is_directory(ec)) continue;
      v.push_back(it->path());
    }
    return v;
  };
  for (const auto& c : children(arg)) {
    if (fs::exists(RunDir(c).test_json(), ec)) {
      out.push_back(c);
      continue;
    }
    for (const auto& r : children(c)) {
      if (fs::exists(RunDir(r).test_json(), ec)) out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

fs::path run_to_heal(const fs::path& arg) {
  std::error_code ec;
  if (fs::exists(RunDir(arg).test_json(), ec)) return arg;
  std::vector<fs::path> unfinished;
  for (const auto& r : runs_below(arg)) {
    if (!RunDir(r).finished()) unfinished.push_back(r);
  }
  if (unfinished.size() > 1) {
    std::string list;
    for (const auto& r : unfinished) list += "\n  " + heal_command(r);
    throw ConfigError(arg.string() + " holds " + std::to_string(unfinished.size()) +
                      " runs without results.json (their controller died, or they are still "
                      "running); name the one to heal:" +
                      list);
  }
  if (unfinished.size() == 1) return unfinished.front();
  return resolve_run_dir(arg);
}

namespace {

// The run's ops as far as they can be read (a torn last line skipped); nullopt when none can.
std::optional<std::vector<Op>> read_history(const fs::path& file, std::string& warning) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    warning = file.string() + ": missing";
    return std::nullopt;
  }
  try {
    return load_recorded_history(file.string()).history.ops();
  } catch (const std::exception& e) {
    warning = e.what();
  }
  try {  // structurally odd (unpaired ops) but readable: the healers need only the ops
    std::string text = read_file(file);
    text.resize(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
    return read_ops(text, HistoryFormat::kJsonl, file.string());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

int heal_run(const fs::path& dir, Remote& remote, std::ostream& out) {
  const Json test = RunDir(dir).test();  // ConfigError naming the file
  std::vector<std::string> nodes = test.value("nodes", std::vector<std::string>());
  const Json spec = test.value("spec", Json::object());
  const Json nemesis_options = spec.value("nemesis-options", Json::object());
  std::set<std::string> nemeses;
  for (const auto& n : test.value("nemeses", Json::array())) {
    if (n.is_string()) nemeses.insert(n.get<std::string>());
  }
  std::string history_warning;
  std::optional<std::vector<Op>> history =
      read_history(RunDir(dir).history_jsonl(), history_warning);
  if (!history_warning.empty()) {
    out << "heal: history: " << history_warning << (history ? " (read what could be)" : "") << "\n";
  }

  // The database, for resuming paused processes. When it cannot be rebuilt and the run paused
  // processes, they may still be stopped: every node says so and the exit is non-zero.
  const std::string db_name = spec.value("db", std::string());
  std::unique_ptr<Db> db;
  std::string db_error;
  std::mutex mu;  // guards out
  DbContext dctx;
  try {
    const auto* f = DbRegistry::find(db_name);
    if (!f) throw std::runtime_error("database '" + db_name + "' is not in this build");
    db = (*f)(spec.value("db-options", Json::object()));
    dctx.test_name = test.value("test-name", std::string());
    dctx.nodes = nodes;
    if (test.contains("inventory") && test["inventory"].is_object()) {
      for (const auto& n : test["inventory"].value("nodes", Json::array())) {
        dctx.hosts[n.value("name", std::string())] = n.value("host", std::string());
      }
    }
    dctx.remote = &remote;
    dctx.options = spec.value("db-options", Json::object());
    dctx.run_dir = dir.string();
    dctx.log = [&out, &mu](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu);
      out << "heal: " << line << "\n";
    };
  } catch (const std::exception& e) {
    db.reset();
    db_error = e.what();
    out << "heal: cannot make the run's database (" << db_error
        << "); healing the network and clocks only\n";
  }
  const bool paused_in_run = nemeses.count("pause") > 0;
  Pausable* pausable = db ? capability<Pausable>(*db) : nullptr;

  int failed = 0;
  std::vector<std::thread> threads;
  for (const auto& node : nodes) {
    threads.emplace_back([&, node] {
      std::vector<std::string> lines;
      bool ok = true;
      try {
        auto session = remote.session(node);
        for (const auto& name : NodeHealerRegistry::names()) {
          NodeHealContext hctx;
          hctx.options = nemesis_options.value(name, Json::object());
          hctx.history = history ? &*history : nullptr;
          hctx.in_run = nemeses.count(name) > 0;
          try {
            std::string did = (*NodeHealerRegistry::find(name))(*session, hctx);
            if (!did.empty()) lines.push_back(node + ": " + did);
          } catch (const std::exception& e) {
            ok = false;
            lines.push_back(node + ": " + name + ": " + e.what());
          }
        }
        if (pausable) {
          try {
            pausable->resume(dctx, node);
            lines.push_back(node + ": database processes resumed");
          } catch (const std::exception& e) {
            ok = false;
            lines.push_back(node + ": resume: " + e.what());
          }
        } else if (paused_in_run) {
          ok = false;
          lines.push_back(node +
                          ": database processes the run paused (SIGSTOP) may still be "
                          "stopped: " +
                          (db ? "database '" + db_name + "' cannot resume them"
                              : "cannot rebuild database '" + db_name + "' (" + db_error + ")") +
                          "; resume them by hand (kill -CONT their pids), or heal with a build "
                          "that has database '" +
                          db_name + "'");
        }
      } catch (const std::exception& e) {
        ok = false;
        lines.push_back(node + ": " + e.what());
      }
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& l : lines) out << "heal: " << l << "\n";
      out << "heal: " << node << (ok ? ": healed" : ": NOT healed") << "\n";
      if (!ok) ++failed;
    });
  }
  for (auto& t : threads) t.join();
  const bool killed = nemeses.count("kill") > 0 || (db && capability<Killable>(*db));
  const std::string killed_note =
      killed ? " (killed database processes are not restarted: start the database again)" : "";
  if (failed) {
    out << "heal: " << failed << " node(s) of " << dir.string()
        << " NOT healed: faults may remain (see above); fix what is said and run "
        << heal_command(dir) << " again\n";
    return kExitInternal;
  }
  out << "heal: every node of " << dir.string() << " healed" << killed_note << "\n";
  return kExitValid;
}

}  // namespace faultline::run
