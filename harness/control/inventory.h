// Inventory: which nodes a test runs on and how to reach each of them over SSH.
//
// A remote cluster comes from the command line, as in Jepsen's CLI:
//   --nodes a,b,c | --nodes-file FILE   [--ssh-user U] [--ssh-key K] [--ssh-port P]
//   [--ssh-known-hosts F] [--ssh-strict-host-key-checking yes|no]
// A local cluster (`faultline cluster up`) writes an inventory of exactly the same form
// (inventory.json: host, port, user, key, known_hosts per node), so nothing above this layer
// can tell the two apart.
//
// Also here: the interface of the local-cluster provisioner, which harness/control/local_cluster.cc
// implements and registers as Registry<LocalClusterFactory> "local" (harness includes nothing else
// of ours).
//
// Thread safety: value types and pure parsing; the provisioner is used from one thread.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/errors.h"

namespace faultline::control {

struct NodeSpec {
  std::string name;  // the node's name in histories and logs ("n1", "db1.example")
  std::string host;  // address or DNS name to connect to
  int port = 22;
  std::string user = "root";
  std::string key;          // private key file (ed25519 or RSA); empty: ssh-agent, then
                            // ~/.ssh/id_ed25519 and ~/.ssh/id_rsa
  std::string known_hosts;  // known_hosts file; empty: ~/.ssh/known_hosts
  // true: the host's key must be in known_hosts. false, only by explicit opt-out (logs a
  // warning): OpenSSH's accept-new, an unknown key is accepted and remembered, a changed one
  // is refused all the same.
  bool strict_host_key_checking = true;
  // Where the node stands, for adapters and nemeses (empty: not given): its role in the
  // database ("arbitrator", "master", "tserver", "router": the adapter says which it reads),
  // its data centre and its rack. A dc partition cuts between data centres.
  std::string role;
  std::string dc;
  std::string rack;
};

struct Inventory {
  std::vector<NodeSpec> nodes;

  // Throws UnknownNodeError ("unknown node 'x' (nodes: n1, n2)").
  const NodeSpec& node(const std::string& name) const;
  std::vector<std::string> names() const;

  // {"nodes": [{"name", "host", "port", "user", "key", "known_hosts",
  //             "strict_host_key_checking", and "role", "dc", "rack" when given}]}
  nlohmann::json to_json() const;
  // Throws ConfigError naming `source` for a malformed document, unknown keys, duplicate names.
  static Inventory from_json(const nlohmann::json& doc, const std::string& source);
};

// Whether `name` may name a node: 1-253 of letters, digits and ._:-, not starting with '.' or
// '-'. Node names become directory names on nodes and values in database configuration files,
// so nothing else is accepted (no '/', whitespace or newlines).
bool valid_node_name(const std::string& name);

// One node as written on the command line: HOST, USER@HOST, HOST:PORT, USER@HOST:PORT,
// [V6ADDR]:PORT. The node's name is HOST. Fields not given are left at `defaults`.
// Throws ConfigError.
NodeSpec parse_node(const std::string& text, const NodeSpec& defaults);

struct InventoryOptions {
  std::string nodes;            // --nodes a,b,c
  std::string nodes_file;       // --nodes-file: one node per line (# comments) or JSON
  std::string ssh_user;         // --ssh-user (default root)
  std::string ssh_key;          // --ssh-key
  int ssh_port = 0;             // --ssh-port (default 22)
  std::string ssh_known_hosts;  // --ssh-known-hosts
  // --ssh-strict-host-key-checking yes|no; empty: not given (yes, unless a nodes file says
  // otherwise per node). Given, it applies to every node, whatever the nodes file says.
  std::string strict_host_key_checking;
  std::string local_cluster;  // --local-cluster NAME: a running local cluster's nodes
};

// Builds the inventory from the options. Per-node values written in a nodes file win over the
// --ssh-* flags, which win over the defaults; except --ssh-strict-host-key-checking, which,
// when given, wins over the file. With none of --nodes, --nodes-file and
// --local-cluster, uses the running local cluster named "fl" if there is one.
// Throws ConfigError (no nodes, malformed entries, duplicates, unreadable file, bad port).
Inventory resolve_inventory(const InventoryOptions& options);

// Reads a nodes file (text or JSON, see above). Throws ConfigError.
Inventory load_nodes_file(const std::string& path, const NodeSpec& defaults);

// --- local cluster provisioner (implemented in local_cluster.cc) ------------------------------

struct LocalClusterOptions {
  std::string name = "fl";              // prefix of every namespace, interface and directory
  int nodes = 3;                        // 1..9
  std::string subnet = "10.77.7.0/24";  // a private /24 used by nothing else on this machine
  std::string dir;                      // empty: /var/lib/faultline/clusters/<name>
};

class LocalClusterProvisioner {
 public:
  virtual ~LocalClusterProvisioner() = default;
  // Brings the cluster up (cleaning leftovers of an earlier one with this name first) and
  // returns its inventory. Throws ConfigError when something not ours is in the way, naming it.
  virtual Inventory up(const LocalClusterOptions& options, std::ostream& log) = 0;
  // Removes everything the state file records; a no-op when there is no such cluster.
  virtual void down(const std::string& name, std::ostream& log) = 0;
  // {"name", "up": bool, "dir", "subnet", "nodes": [{"name","address","netns","sshd_pid",
  //  "sshd_alive","reachable"}]}; "up" false and no nodes when there is no state file.
  virtual nlohmann::json status(const std::string& name) = 0;
  // The inventory of a cluster that is up, or nullopt.
  virtual std::optional<Inventory> inventory(const std::string& name) = 0;
  // Returns the nodes of a cluster that is up to the state `up` left them in, keeping the
  // network and the sshd listeners: stops every other process in the nodes' namespaces (a
  // database, a delayer, what an SSH session runs; by pid; sshd's own per-connection
  // processes end with their connections), flushes and deletes every iptables and
  // ip6tables rule and chain inside them, deletes their interfaces' root qdiscs, and restarts an
  // sshd that is gone. Returns one line per thing undone (empty: the nodes were clean). Throws
  // ConfigError when the cluster is not up.
  virtual std::vector<std::string> reset(const std::string& name) = 0;
  // Kills one node's sshd, with its per-connection processes, and waits until they are gone.
  virtual void kill_sshd(const std::string& name, const std::string& node) = 0;
  // (Re)starts one node's sshd and waits until it accepts connections.
  virtual void start_sshd(const std::string& name, const std::string& node) = 0;
};

using LocalClusterFactory = std::function<std::unique_ptr<LocalClusterProvisioner>()>;

// The registered "local" provisioner; throws std::logic_error if none is linked in.
std::unique_ptr<LocalClusterProvisioner> make_local_cluster_provisioner();

}  // namespace faultline::control
