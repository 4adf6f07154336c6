// `faultline heal [RUN_DIR]`: heals every node of a run whose controller died before its heal
// phase (SIGKILL, a second interrupt, a crash). Reads the run's test.json (the inventory the
// run reached its nodes with, and its database), then on every node runs every registered
// NodeHealer (harness/nemesis.h: partition rules, packet faults, clock offsets, ...) and, when
// the database can be paused, resumes its processes. Healers need no state of the run: each
// removes only what carries our marks (our iptables chains, our qdisc handle, our pid files).
// Exit 0 when every node was healed, 255 when a node could not be, 254 for a bad RUN_DIR.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "harness/cli.h"
#include "harness/db.h"
#include "harness/inventory.h"
#include "harness/nemesis.h"
#include "harness/remote.h"
#include "harness/results.h"

namespace faultline {
namespace {

struct HealOptions {
  std::string run_dir = "results";
};

int run_heal(const HealOptions& o) {
  namespace fs = std::filesystem;
  fs::path dir;
  Json test;
  try {
    dir = resolve_run_dir(o.run_dir);
    test = Json::parse(read_file(dir / "test.json"));
  } catch (const std::exception& e) {
    throw BadInput(std::string("heal: ") + e.what());
  }
  const Json inv = test.value("inventory", Json());
  if (inv.is_null()) {
    std::cout << "heal: " << dir.string()
              << ": the database ran in-process; there is no cluster to heal\n";
    return kExitValid;
  }
  Inventory inventory = Inventory::from_json(inv, (dir / "test.json").string());
  std::shared_ptr<Remote> remote = make_ssh_remote(inventory);
  std::unique_ptr<Db> db;
  DbContext dctx;
  try {
    const Json spec = test.value("spec", Json::object());
    const std::string name = spec.value("db", std::string());
    if (const auto* f = DbRegistry::find(name)) db = (*f)(spec.value("db-options", Json::object()));
    dctx.test_name = test.value("test-name", std::string());
    dctx.nodes = inventory.names();
    for (const auto& n : inventory.nodes) dctx.hosts[n.name] = n.host;
    dctx.remote = remote.get();
    dctx.options = spec.value("db-options", Json::object());
    dctx.run_dir = dir.string();
    dctx.log = [](const std::string& line) { std::cerr << "heal: " << line << "\n"; };
  } catch (const std::exception& e) {
    std::cerr << "heal: cannot make the run's database (" << e.what()
              << "); healing the network and clocks only\n";
  }
  std::mutex mu;
  int failed = 0;
  std::vector<std::thread> threads;
  for (const auto& node : inventory.names()) {
    threads.emplace_back([&, node] {
      std::vector<std::string> lines;
      bool ok = true;
      try {
        auto session = remote->session(node);
        for (const auto& name : NodeHealerRegistry::names()) {
          try {
            std::string did = (*NodeHealerRegistry::find(name))(*session);
            if (!did.empty()) lines.push_back(node + ": " + did);
          } catch (const std::exception& e) {
            ok = false;
            lines.push_back(node + ": " + name + ": " + e.what());
          }
        }
        if (db) {
          if (auto* p = capability<Pausable>(*db)) {
            try {
              p->resume(dctx, node);
              lines.push_back(node + ": database processes resumed");
            } catch (const std::exception& e) {
              ok = false;
              lines.push_back(node + ": resume: " + e.what());
            }
          }
        }
      } catch (const std::exception& e) {
        ok = false;
        lines.push_back(node + ": " + e.what());
      }
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& l : lines) std::cout << "heal: " << l << "\n";
      std::cout << "heal: " << node << (ok ? ": healed" : ": NOT healed") << "\n";
      if (!ok) ++failed;
    });
  }
  for (auto& t : threads) t.join();
  if (failed) {
    std::cerr << "faultline: heal: " << failed << " node(s) could not be healed\n";
    return kExitInternal;
  }
  std::cout << "heal: every node of " << dir.string() << " healed"
            << (db && capability<Killable>(*db) ? " (killed database processes are not "
                                                   "restarted: start the database again)"
                                                : "")
            << "\n";
  return kExitValid;
}

const bool registered = register_command(
    {"heal", "Heal every node of a run (after a crashed controller): network, clocks, paused "
             "processes",
     [](CLI::App& app) {
       auto o = std::make_shared<HealOptions>();
       app.add_option("run_dir", o->run_dir,
                      "Run directory, or a directory with a latest link (default results)");
       return [o] { return run_heal(*o); };
     }});

}  // namespace
}  // namespace faultline
