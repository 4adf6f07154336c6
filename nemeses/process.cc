// Process faults through the database's capabilities: "kill" (SIGKILL, then start) through
// Killable, "pause" (SIGSTOP, then SIGCONT) through Pausable. How a multi-process database is
// killed or frozen as a whole (postmaster first, or the cgroup freezer; never the node's sshd)
// is the database's business, in its capability.
//
// Options (nemesis-options.kill / .pause):
//   targets  list of: "one", "minority", "majority", "all", "primaries" (needs HasPrimaries),
//            a list of node names, or {"role": R} (the nodes the inventory gives role R);
//            default one, minority, majority, all (and primaries when the database has them).
//            Each start op picks one at random.
// "crash" (nemesis-options.crash: targets, default ["all"]) kills every node at once and
// restarts them all an interval later, half an interval out of step with the other nemeses so
// that under `--nemesis all` it lands inside a partition.
// "power" (nemesis-options.power: targets, torn, lose-entries) is a kill followed by a power
// cut: the database's LosesPower capability drops every write on the node that was not made
// durable (its data directory sits on the power-loss file system, db-options power-loss-fs),
// and the undo starts it to recover from what is left.
// Ops: kill {"target", "nodes"} / start; crash {"target", "nodes"} / restart; power-off
// {"target", "nodes"} / power-on; pause {"target", "nodes"} / resume. The stop op acts on
// every node this nemesis faulted; the final generator issues it; teardown starts every node
// still killed and resumes every node (SIGCONT is harmless on a running process).
#include <algorithm>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/nemesis.h"
#include "harness/options.h"

namespace faultline::nemeses {
namespace {

struct Kind {
  Kind(std::string n, std::string f, std::string u, std::string w, bool k = true, bool p = false)
      : name(std::move(n)),
        fault(std::move(f)),
        undo(std::move(u)),
        what(std::move(w)),
        kills(k),
        power(p) {}
  std::string name, fault, undo, what;
  bool kills = true;   // Killable (kill / start); otherwise Pausable (pause / resume)
  bool power = false;  // after the kill, LosesPower drops what was not fsynced
  PowerLoss loss;      // how (power only; its seed is drawn per node and op)
};

std::vector<std::string> shuffled(std::vector<std::string> v, Random& r) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.uniform(i)]);
  return v;
}

// The nodes of a target (not primaries, which are known only when the op runs).
std::vector<std::string> pick(const Json& target, const std::vector<std::string>& nodes,
                              Random& r) {
  if (target.is_array()) return target.get<std::vector<std::string>>();
  const std::string t = target.get<std::string>();
  size_t n = nodes.size(), k = 0;
  if (t == "one")
    k = 1;
  else if (t == "minority")
    k = std::max<size_t>(1, (n - 1) / 2);
  else if (t == "majority")
    k = n / 2 + 1;
  else if (t == "all")
    k = n;
  auto s = shuffled(nodes, r);
  s.resize(std::min(k, n));
  std::sort(s.begin(), s.end());
  return s;
}

class ProcessNemesis : public Nemesis {
 public:
  ProcessNemesis(Kind kind, Random random) : kind_(std::move(kind)), random_(std::move(random)) {}

  Completion invoke(const NemesisContext& ctx, const Op& op) override {
    if (!ctx.db || !ctx.db_ctx) throw std::runtime_error(kind_.name + ": no database");
    if (op.f == kind_.fault) {
      std::vector<std::string> targets;
      const Json value = op.value.is_object() ? op.value : Json::object();
      if (value.value("target", Json()) == "primaries") {
        targets =
            require_capability<HasPrimaries>(*ctx.db, "target 'primaries'", "knows its primaries")
                .primaries(*ctx.db_ctx);
      } else if (value.contains("nodes")) {
        targets = value["nodes"].get<std::vector<std::string>>();
      } else if (value.contains("target")) {
        // A scheduled op names only its target: pick the nodes now, as the generator would.
        targets = pick(value["target"], ctx.nodes, random_);
      }
      if (targets.empty()) {
        return Completion::info("acted on no node: " + kind_.fault +
                                " needs {\"target\": ...} or {\"nodes\": [...]}");
      }
      Json done = Json::object();
      std::string failed;
      {
        std::lock_guard<std::mutex> lock(mu_);
        faulted_.insert(targets.begin(), targets.end());
      }
      // A power cut is one moment for every target: each node is killed on its own thread, and
      // the file systems drop only once every target's database is dead. Kill and pause go
      // node by node.
      std::vector<std::string> errors(targets.size());
      auto each = [&](const std::function<void(size_t)>& fn) {
        if (!kind_.power) {
          for (size_t i = 0; i < targets.size(); ++i) fn(i);
          return;
        }
        std::vector<std::thread> threads;
        threads.reserve(targets.size());
        for (size_t i = 0; i < targets.size(); ++i) threads.emplace_back(fn, i);
        for (auto& t : threads) t.join();
      };
      std::vector<Json> what(targets.size());
      each([&](size_t i) {
        try {
          what[i] = fault(ctx, targets[i]);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
      if (kind_.power) {
        each([&](size_t i) {
          if (!errors[i].empty()) return;  // not known dead: its files are not touched
          try {
            what[i] = lose(ctx, targets[i]);
          } catch (const std::exception& e) {
            errors[i] = e.what();
          }
        });
      }
      for (size_t i = 0; i < targets.size(); ++i) {
        if (errors[i].empty()) {
          done[targets[i]] = what[i];
        } else {
          done[targets[i]] = "error: " + errors[i];
          failed += (failed.empty() ? "" : "; ") + targets[i] + ": " + errors[i];
        }
      }
      Completion c = Completion::ok(done);
      if (!failed.empty()) c.error = "failed on " + failed;  // the fault may not have happened
      return c;
    }
    if (op.f == kind_.undo) return Completion::ok(undo_all(ctx, false));
    return Completion::info(kind_.name + ": unknown op " + op.f);
  }

  void teardown(const NemesisContext& ctx) override {
    if (!ctx.db || !ctx.db_ctx) return;
    Json r = undo_all(ctx, kind_.name == "pause");
    for (const auto& [n, v] : r.items()) {
      if (v.is_string() && v.get<std::string>().rfind("error", 0) == 0) {
        throw std::runtime_error(kind_.name + " heal: node " + n + ": " + v.get<std::string>());
      }
    }
  }

  void setup(const NemesisContext& ctx) override {
    if (kind_.power && ctx.db && ctx.db_ctx) {
      dynamic_cast<LosesPower&>(*ctx.db).make_durable(*ctx.db_ctx);
    }
  }

  std::set<std::string> fs() const override { return {kind_.fault, kind_.undo}; }

 private:
  // Kills or pauses `n`; returns kind_.what.
  Json fault(const NemesisContext& ctx, const std::string& n) {
    if (!kind_.kills) {
      dynamic_cast<Pausable&>(*ctx.db).pause(*ctx.db_ctx, n);
      return kind_.what;
    }
    dynamic_cast<Killable&>(*ctx.db).kill(*ctx.db_ctx, n);
    return kind_.what;
  }
  // Power: the database on `n` is dead; its file system drops what was not durable.
  Json lose(const NemesisContext& ctx, const std::string& n) {
    PowerLoss how = kind_.loss;
    {
      std::lock_guard<std::mutex> lock(mu_);
      how.seed = 1 + random_.uniform(1U << 30);
    }
    Json lost = dynamic_cast<LosesPower&>(*ctx.db).lose_unsynced(*ctx.db_ctx, n, how);
    return Json{{"power", "lost"}, {"fs", lost.value("last-drop", lost)}};
  }
  void undo(const NemesisContext& ctx, const std::string& n) {
    if (kind_.kills)
      dynamic_cast<Killable&>(*ctx.db).start(*ctx.db_ctx, n);
    else
      dynamic_cast<Pausable&>(*ctx.db).resume(*ctx.db_ctx, n);
  }
  // Undoes the fault on every node faulted so far (every node when `all_nodes`).
  Json undo_all(const NemesisContext& ctx, bool all_nodes) {
    std::set<std::string> nodes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      nodes.swap(faulted_);
    }
    if (all_nodes) nodes.insert(ctx.nodes.begin(), ctx.nodes.end());
    Json done = Json::object();
    for (const auto& n : nodes) {
      try {
        undo(ctx, n);
        done[n] = kind_.power ? "power on, started" : kind_.kills ? "started" : "resumed";
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu_);
        faulted_.insert(n);  // try again at the next stop or at teardown
        done[n] = std::string("error: ") + e.what();
      }
    }
    return done;
  }

  Kind kind_;
  Random random_;  // picks the nodes of a scheduled op that names only a target
  std::mutex mu_;
  std::set<std::string> faulted_;
};

// The fault op a generator makes: a target drawn from `targets`, with its nodes picked now
// (primaries are resolved when the op runs).
std::function<OpTemplate(const GenContext&)> fault_op(std::string fault, std::vector<Json> targets,
                                                      std::vector<std::string> nodes) {
  return [fault, targets, nodes](const GenContext& ctx) {
    const Json& t = targets[ctx.random->uniform(targets.size())];
    Json v = {{"target", t}};
    if (t != "primaries") v["nodes"] = pick(t, nodes, *ctx.random);
    return OpTemplate{fault, v};
  };
}

const OptionDecls kProcessOptions = {
    {"targets", nullptr,
     "one, minority, majority, all, primaries, a list of nodes, or {role: R} (default: one of "
     "the first four, or primaries, each time; crash: all)"},
};

const OptionDecls kPowerOptions = {
    kProcessOptions[0],
    {"torn", false,
     "torn writes: each 512-byte sector of an un-synced page comes back old or new at random"},
    {"lose-entries", false,
     "also undo directory entries (creates, renames, unlinks) not made durable by a "
     "directory fsync, as strict POSIX allows (ext4 commits them within seconds)"},
};

NemesisPackage make_process(const Kind& kind, const NemesisOptions& o) {
  const std::string where = "nemesis-options/" + kind.name;
  const Options opts(o.options, kind.power ? kPowerOptions : kProcessOptions, where);
  bool primaries = false;
  if (o.db) {
    if (kind.power) {
      const auto& lp = require_capability<LosesPower>(
          *o.db, "nemesis 'power'", "can place its data directory on the power-loss file system");
      if (!lp.on_power_loss_fs()) {
        throw ConfigError(
            "nemesis 'power' needs the database's data directory on the power-loss file "
            "system: set db-options {\"power-loss-fs\": true} in the spec");
      }
    }
    if (kind.kills) {
      require_capability<Killable>(*o.db, "nemesis '" + kind.name + "'",
                                   "can be killed and restarted");
    } else {
      require_capability<Pausable>(*o.db, "nemesis 'pause'", "can be paused and resumed");
    }
    primaries = capability<HasPrimaries>(*o.db) != nullptr;
  }
  std::vector<Json> targets;
  if (o.options.contains("targets")) {
    const Json& t = o.options["targets"];
    if (!t.is_array() || t.empty()) throw ConfigError(where + "/targets: a list");
    std::set<std::string> known(o.nodes.begin(), o.nodes.end());
    for (const auto& x : t) {
      if (x.is_string()) {
        std::string s = x.get<std::string>();
        if (s == "primaries" && o.db && !primaries) {
          require_capability<HasPrimaries>(*o.db, where + "/targets: 'primaries'",
                                           "knows its primaries");
        }
        if (s != "one" && s != "minority" && s != "majority" && s != "all" && s != "primaries") {
          throw ConfigError(where + "/targets: unknown target '" + s +
                            "' (known: one, minority, majority, all, primaries, "
                            "or a list of nodes)");
        }
      } else if (x.is_array()) {
        for (const auto& n : x) {
          if (!n.is_string() || !known.count(n.get<std::string>())) {
            throw ConfigError(where + "/targets: " + n.dump() + " is not a node");
          }
        }
      } else if (x.is_object() && x.size() == 1 && x.contains("role") && x["role"].is_string()) {
        // The nodes of that role in the inventory, as a list of nodes from here on.
        const std::string role = x["role"].get<std::string>();
        Json nodes = Json::array();
        for (const auto& n : o.nodes) {
          auto it = o.roles.find(n);
          if (it != o.roles.end() && it->second == role) nodes.push_back(n);
        }
        if (nodes.empty()) {
          std::string msg = where;
          msg += "/targets: no node has role '" + role;
          msg += "' in the inventory (\"role\" per node of a JSON nodes file)";
          throw ConfigError(msg);
        }
        targets.push_back(nodes);
        continue;
      } else {
        throw ConfigError(where + "/targets: " + x.dump() + " is not a target");
      }
      targets.push_back(x);
    }
  } else {
    for (const char* s : {"one", "minority", "majority", "all"}) targets.push_back(s);
    if (primaries) targets.push_back("primaries");
  }
  NemesisPackage p;
  p.name = kind.name;
  p.nemesis = std::make_unique<ProcessNemesis>(kind, o.random.fork("scheduled"));
  {
    std::set<std::string> known(o.nodes.begin(), o.nodes.end());
    const bool has_primaries = primaries;
    p.check_op = [kind, known, has_primaries](const std::string& f, const Json& value) {
      if (f != kind.fault) return;
      const std::string need = kind.fault +
                               " needs {\"target\": \"one\" | \"minority\" | \"majority\" | "
                               "\"all\" | \"primaries\" | [nodes]} or {\"nodes\": [nodes]}";
      if (!value.is_object()) throw ConfigError(need);
      auto check_nodes = [&](const Json& list) {
        if (!list.is_array() || list.empty()) throw ConfigError(need);
        for (const auto& n : list) {
          if (!n.is_string() || !known.count(n.get<std::string>())) {
            throw ConfigError(n.dump() + " is not a node of the test");
          }
        }
      };
      if (value.contains("nodes")) {
        check_nodes(value["nodes"]);
      } else if (value.contains("target")) {
        const Json& t = value["target"];
        if (t.is_array()) {
          check_nodes(t);
        } else if (!t.is_string() ||
                   !std::set<std::string>{"one", "minority", "majority", "all", "primaries"}.count(
                       t.get<std::string>())) {
          throw ConfigError("unknown target " + t.dump() + ": " + need);
        } else if (t == "primaries" && !has_primaries) {
          throw ConfigError("target 'primaries': the database does not know its primaries");
        }
      } else {
        throw ConfigError(need);
      }
    };
  }
  std::string undo = kind.undo;
  p.generator = start_stop_cycle(o.interval_ns, fault_op(kind.fault, targets, o.nodes),
                                 [undo](const GenContext&) {
                                   return OpTemplate{undo, nullptr};
                                 });
  p.final_generator = once(OpTemplate{undo, nullptr});
  p.colour = kind.name == "kill"    ? "#f5b041"
             : kind.name == "crash" ? "#e59866"
             : kind.name == "power" ? "#cd6155"
                                    : "#aed6f1";
  return p;
}

// "crash": every node killed at once (a whole-cluster crash, e.g. a power cut of the rack), and
// all started again an interval later. Its cycle is shifted by half an interval against the
// other nemeses' start/stop cycles, so under `--nemesis all` the crash lands while a partition
// (and whatever else) stands: crash + partition is where Jepsen found MariaDB Galera losing
// acknowledged commits. Every 4 intervals: crash at 1.5, restart at 2.5.
NemesisPackage make_crash(const NemesisOptions& o) {
  NemesisOptions with_all = o;
  if (!with_all.options.contains("targets")) with_all.options["targets"] = Json::array({"all"});
  NemesisPackage p = make_process({"crash", "crash", "restart", "crashed", true}, with_all);
  auto crash = fault_op("crash", with_all.options["targets"].get<std::vector<Json>>(), o.nodes);
  const int64_t i = o.interval_ns;
  p.generator = cycle([=] {
    std::vector<GenPtr> steps;
    steps.push_back(sleep(i + i / 2));
    steps.push_back(limit(1, repeat_fn(crash)));
    steps.push_back(sleep(i));
    steps.push_back(limit(1, repeat_fn([](const GenContext&) {
                            return OpTemplate{"restart", nullptr};
                          })));
    steps.push_back(sleep(i + i / 2));
    return phases(std::move(steps));
  });
  return p;
}

const bool registered = [] {
  NemesisRegistry::add(
      "nemesis", "kill",
      "SIGKILL database processes and start them again (targets: one, minority, majority, all, "
      "primaries, a list)",
      [](const NemesisOptions& o) {
        return make_process({"kill", "kill", "start", "killed"}, o);
      },
      kProcessOptions);
  NemesisRegistry::add(
      "nemesis", "crash",
      "kill every node at once (a whole-cluster crash) and start them all an interval later; "
      "shifted half an interval against the other nemeses, so under 'all' it lands during a "
      "partition",
      make_crash, kProcessOptions);
  NemesisRegistry::add(
      "nemesis", "power",
      "power loss: kill the database, drop every write it had not fsynced (Faultline's FUSE "
      "file system; db-options power-loss-fs: true), start it to recover (targets as kill)",
      [](const NemesisOptions& o) {
        Kind k{"power", "power-off", "power-on", "power lost", true, true};
        const Options opts(o.options, kPowerOptions, "nemesis-options/power");
        k.loss.torn = opts.flag("torn");
        k.loss.entries = opts.flag("lose-entries");
        return make_process(k, o);
      },
      kPowerOptions);
  NemesisRegistry::add(
      "nemesis", "pause",
      "SIGSTOP database processes and SIGCONT them (targets: one, minority, majority, all, "
      "primaries, a list)",
      [](const NemesisOptions& o) {
        return make_process({"pause", "pause", "resume", "paused", false}, o);
      },
      kProcessOptions);
  return true;
}();

}  // namespace
}  // namespace faultline::nemeses
