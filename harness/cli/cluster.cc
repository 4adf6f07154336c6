// `faultline cluster up|down|status|exec`: the local cluster (see docs/control-plane.md).
//
//   cluster up [--nodes N] [--name fl] [--subnet 10.77.7.0/24] [--dir DIR]
//   cluster down [--name fl]
//   cluster status [--name fl] [--json]          exit 0 when up and healthy, 1 otherwise
//   cluster exec [--name fl | inventory flags] NODE -- CMD...
//                                                 exit status of CMD (255 for transport errors)
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "harness/cli/cli.h"
#include "harness/control/inventory.h"
#include "harness/control/retry.h"
#include "harness/control/ssh.h"
#include "harness/remote.h"

namespace faultline::cli {
namespace {

struct ClusterOptions {
  control::LocalClusterOptions up;
  std::string name = "fl";
  bool json = false;
  std::string node;
  std::vector<std::string> command;
  control::InventoryOptions inventory;
  int timeout_s = 0;
};

int run_up(const ClusterOptions& o) {
  auto p = control::make_local_cluster_provisioner();
  control::LocalClusterOptions up = o.up;
  up.name = o.name;
  p->up(up, std::cout);
  return 0;
}

int run_down(const ClusterOptions& o) {
  control::make_local_cluster_provisioner()->down(o.name, std::cout);
  return 0;
}

int run_reset(const ClusterOptions& o) {
  std::vector<std::string> undone = control::make_local_cluster_provisioner()->reset(o.name);
  for (const auto& line : undone) std::cout << "  " << line << "\n";
  std::cout << "cluster " << o.name << ": "
            << (undone.empty() ? "nothing to reset" : "nodes reset to their state after up")
            << "\n";
  return 0;
}

int run_status(const ClusterOptions& o) {
  nlohmann::json s = control::make_local_cluster_provisioner()->status(o.name);
  bool up = s.value("up", false);
  if (o.json) {
    std::cout << s.dump(2) << "\n";
    return up ? 0 : 1;
  }
  if (!s.contains("nodes")) {
    std::cout << "cluster " << o.name << ": not up\n";
    return 1;
  }
  std::cout << "cluster " << o.name << ": " << (up ? "up" : "DEGRADED") << ", subnet "
            << s.value("subnet", "") << ", dir " << s.value("dir", "") << "\n"
            << "inventory: " << s.value("inventory", "") << "\n";
  for (const auto& n : s["nodes"]) {
    std::cout << "  " << n.value("name", "") << "  " << n.value("address", "") << "  netns "
              << n.value("netns", "") << (n.value("netns_exists", false) ? "" : " (missing)")
              << "  sshd pid " << n.value("sshd_pid", 0)
              << (n.value("sshd_alive", false) ? "" : " (dead)")
              << (n.value("reachable", false) ? "  reachable" : "  UNREACHABLE") << "\n";
  }
  return up ? 0 : 1;
}

int run_exec(const ClusterOptions& o) {
  control::InventoryOptions io = o.inventory;
  if (io.nodes.empty() && io.nodes_file.empty() && io.local_cluster.empty()) {
    io.local_cluster = o.name;
  }
  control::Inventory inv = control::resolve_inventory(io);
  inv.node(o.node);  // unknown node: exit 254 with the known names
  control::SshOptions so;
  so.command_timeout = std::chrono::seconds(o.timeout_s);
  try {
    // Retried only while the command certainly has not started (harness/control/retry.h).
    auto remote = control::make_retrying_remote(control::make_ssh_remote(inv, so));
    auto session = remote->session(o.node);
    ExecResult r = session->exec(Command(o.command));
    std::cout << r.out << std::flush;
    std::cerr << r.err << std::flush;
    return r.exit_status < 0 ? kExitInternal : r.exit_status;
  } catch (const RemoteError& e) {
    std::cerr << "faultline: " << e.what() << "\n";
    return kExitInternal;
  }
}

const bool registered = register_command(
    {"cluster", "Local multi-node cluster on this machine: up, down, status, exec",
     [](CLI::App& app) {
       auto o = std::make_shared<ClusterOptions>();
       app.require_subcommand(1);
       auto name_opt = [o](CLI::App* sub) {
         sub->add_option("--name", o->name,
                         "Cluster name: prefix of its namespaces, interfaces, directory "
                         "(default fl)");
       };
       CLI::App* up = app.add_subcommand("up", "Create the cluster (needs root)");
       name_opt(up);
       up->add_option("--nodes", o->up.nodes, "Number of nodes, 1-9 (default 3)")
           ->check(CLI::Range(1, 9));
       up->add_option("--subnet", o->up.subnet,
                      "Private /24 used only by this cluster (default 10.77.7.0/24)");
       up->add_option("--dir", o->up.dir,
                      "Cluster directory (default /var/lib/faultline/clusters/NAME)");
       CLI::App* down = app.add_subcommand("down", "Remove everything of the cluster (needs root)");
       name_opt(down);
       CLI::App* reset = app.add_subcommand(
           "reset",
           "Stop every process but sshd on the nodes, flush their iptables rules and qdiscs "
           "(needs root)");
       name_opt(reset);
       CLI::App* status = app.add_subcommand("status", "Show the cluster; exit 0 if healthy");
       name_opt(status);
       status->add_flag("--json", o->json, "Print JSON");
       CLI::App* exec = app.add_subcommand("exec", "Run a command on a node over SSH");
       name_opt(exec);
       add_inventory_options(*exec, o->inventory);
       exec->add_option("--timeout", o->timeout_s, "Command timeout in seconds (0: none)");
       exec->add_option("node", o->node, "Node name (n1, n2, ...)")->required();
       exec->add_option("command", o->command, "Command and arguments (after --)")->required();
       return [o, up, down, reset, status, exec]() -> int {
         if (up->parsed()) return run_up(*o);
         if (down->parsed()) return run_down(*o);
         if (reset->parsed()) return run_reset(*o);
         if (status->parsed()) return run_status(*o);
         if (exec->parsed()) return run_exec(*o);
         return kExitBadInput;
       };
     }});

}  // namespace
}  // namespace faultline::cli
