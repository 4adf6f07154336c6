#include "harness/run/cluster_access.h"

#include <fstream>
#include <iostream>
#include <optional>

#include "harness/control/inventory.h"
#include "harness/control/retry.h"
#include "harness/control/ssh.h"
#include "harness/errors.h"

namespace faultline::run {

std::vector<std::string> read_nodes_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open the nodes file");
  std::vector<std::string> nodes;
  std::string line;
  while (std::getline(in, line)) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    line.erase(0, line.find_first_not_of(" \t\r"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (!line.empty()) nodes.push_back(line);
  }
  if (nodes.empty()) throw ConfigError(path + ": no nodes in the nodes file");
  return nodes;
}

ClusterAccess connect_cluster(const TestSpec& spec, const Db& db) {
  ClusterAccess c;
  std::vector<std::string> defaults = db.default_nodes();
  if (!defaults.empty()) {
    if (spec.local > 0) {
      throw ConfigError("spec: /local: database '" + spec.db +
                        "' runs in-process; it needs no cluster");
    }
    c.nodes = spec.nodes;
    if (!spec.nodes_file.empty()) c.nodes = read_nodes_file(spec.nodes_file);
    if (c.nodes.empty()) c.nodes = defaults;
    return c;
  }
  std::optional<control::Inventory> inv;
  if (spec.local > 0 || (spec.nodes.empty() && spec.nodes_file.empty())) {
    if (!Registry<control::LocalClusterFactory>::find("local")) {
      throw ConfigError("spec: /nodes: database '" + spec.db +
                        "' needs nodes (--nodes or --nodes-file); this build has no local cluster");
    }
    auto provisioner = control::make_local_cluster_provisioner();
    inv = provisioner->inventory("fl");
    size_t want = spec.local > 0 ? static_cast<size_t>(spec.local) : (inv ? inv->nodes.size() : 3);
    if (!inv || inv->nodes.size() != want) {
      std::cerr << "faultline: "
                << (inv ? "the local cluster has " + std::to_string(inv->nodes.size()) +
                              " nodes, not " + std::to_string(want) + ": bringing it up again"
                        : "no cluster given: bringing up a local cluster of " +
                              std::to_string(want) + " nodes")
                << " (as `faultline cluster up`)\n";
      control::LocalClusterOptions lo;
      lo.nodes = static_cast<int>(want);
      // `up` refuses a cluster that is up: one of another size goes first, as the line says.
      if (inv) provisioner->down(lo.name, std::cerr);
      inv = provisioner->up(lo, std::cerr);
    } else {
      std::cerr << "faultline: using the local cluster 'fl' (" << inv->nodes.size() << " nodes)\n";
    }
  } else {
    control::InventoryOptions io;
    for (const auto& n : spec.nodes) io.nodes += (io.nodes.empty() ? "" : ",") + n;
    io.nodes_file = spec.nodes_file;
    io.ssh_user = spec.ssh.value("username", std::string());
    io.ssh_key = spec.ssh.value("private-key-path", std::string());
    io.ssh_port = spec.ssh.value("port", 0);
    io.ssh_known_hosts = spec.ssh.value("known-hosts", std::string());
    // Given in the spec (or on the command line), it applies to every node; else each node's
    // own setting in the nodes file holds (strict by default).
    if (spec.ssh.contains("strict-host-key-checking")) {
      io.strict_host_key_checking = spec.ssh.value("strict-host-key-checking", true) ? "yes" : "no";
    }
    inv = control::resolve_inventory(io);
  }
  c.nodes = inv->names();
  c.inventory = inv->to_json();
  for (const auto& n : inv->nodes) {
    c.hosts[n.name] = n.host;
    if (!n.role.empty()) c.roles[n.name] = n.role;
    if (!n.dc.empty()) c.dcs[n.name] = n.dc;
  }
  try {
    c.remote = control::make_retrying_remote(
        control::make_ssh_remote(*inv));  // retries only what cannot run twice
  } catch (const AuthError& e) {
    throw ConfigError(std::string("spec: /ssh: ") + e.what());
  } catch (const HostKeyError& e) {
    throw ConfigError(std::string("spec: /ssh: ") + e.what());
  }
  return c;
}

}  // namespace faultline::run
