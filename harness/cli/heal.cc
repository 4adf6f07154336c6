// `faultline heal [RUN_DIR]`: heals every node of a run whose controller died before its heal
// phase (SIGKILL, a second interrupt, a crash) or whose teardown could not finish. Reads the
// run's test.json (the inventory the run reached its nodes with, its database, its nemeses and
// their options) and its history.jsonl (what the nemeses did: e.g. the clock offsets set on
// real hosts), then on every node runs every registered NodeHealer (harness/nemesis.h:
// partition rules, packet faults, clock offsets, ...) with the run's options for it and, when
// the database can be paused, resumes its processes. Healers remove only what carries our marks
// (our iptables chains, our qdisc handle, our pid files), and each is idempotent, so healing
// twice is harmless. Commands go through the retrying remote (harness/control/retry.h): a transient
// SSH drop is retried where a command is idempotent.
//
// RUN_DIR is best the run directory itself (`heal_command` in results.h prints it). Given a
// results directory (or results/<test>), the run is the one there without results.json (its
// controller died, or it is still running) when there is exactly one, else `latest`; when
// several runs have no results.json, heal refuses (254) and lists them.
//
// Exit 0 when every node was healed and nothing may remain; 255 when a node could not be
// healed or a fault may remain (paused processes of a database this build cannot rebuild, a
// clock it cannot step back), each said on stdout; 254 for a bad RUN_DIR.
#include "harness/run/heal.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "harness/cli/cli.h"
#include "harness/control/inventory.h"
#include "harness/control/retry.h"
#include "harness/control/ssh.h"
#include "harness/errors.h"
#include "harness/files.h"
#include "harness/op.h"
#include "harness/run_dir.h"

namespace faultline::cli {

namespace fs = std::filesystem;

namespace {

struct HealOptions {
  std::string run_dir = "results";
};

int run_heal(const HealOptions& o) {
  fs::path dir;
  Json test;
  try {
    dir = run::run_to_heal(o.run_dir);
    test = RunDir(dir).test();
  } catch (const std::exception& e) {
    throw ConfigError(std::string("heal: ") + e.what());
  }
  std::cout << "heal: run " << dir.string() << "\n";
  const Json inv = test.value("inventory", Json());
  if (inv.is_null()) {
    std::cout << "heal: " << dir.string()
              << ": the database ran in-process; there is no cluster to heal\n";
    return kExitValid;
  }
  control::Inventory inventory =
      control::Inventory::from_json(inv, RunDir(dir).test_json().string());
  // Every healer command is idempotent, so a transient SSH drop is retried, not fatal.
  std::shared_ptr<Remote> remote =
      control::make_retrying_remote(control::make_ssh_remote(inventory));
  int rc = run::heal_run(dir, *remote, std::cout);
  if (rc != kExitValid) std::cerr << "faultline: heal: some nodes could not be healed\n";
  return rc;
}

const bool registered = register_command(
    {"heal",
     "Heal every node of a run (after a crashed controller or an unfinished teardown): "
     "network, clocks, paused processes",
     [](CLI::App& app) {
       auto o = std::make_shared<HealOptions>();
       app.add_option("run_dir", o->run_dir,
                      "Run directory (best: the one the run printed), or a results directory: "
                      "its one unfinished run, else its latest (default results)");
       return [o] { return run_heal(*o); };
     }});

}  // namespace
}  // namespace faultline::cli
