#include "harness/control/inventory.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/errors.h"
#include "harness/registry.h"
#include "harness/remote.h"

namespace faultline::control {
namespace {

using Json = nlohmann::json;

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

int parse_port(const std::string& text, const std::string& where) {
  if (text.empty() || text.size() > 5 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    throw ConfigError(where + ": port '" + text + "' is not a number from 1 to 65535");
  }
  int port = std::stoi(text);
  if (port < 1 || port > 65535) {
    throw ConfigError(where + ": port " + text + " is not from 1 to 65535");
  }
  return port;
}

std::string expand_home(const std::string& path) {
  if (path.size() >= 2 && path[0] == '~' && path[1] == '/') {
    const char* home = std::getenv("HOME");
    if (home != nullptr) return std::string(home) + path.substr(1);
  }
  return path;
}

bool valid_host(const std::string& host) {
  if (host.empty()) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':';
    if (!ok) return false;
  }
  return host[0] != '-';
}

bool valid_user(const std::string& user) {
  if (user.empty() || user.size() > 64 || user[0] == '-') return false;
  for (char c : user) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

void check_unique(const Inventory& inv, const std::string& source) {
  if (inv.nodes.empty()) throw ConfigError(source + ": no nodes");
  std::set<std::string> seen;
  for (const auto& n : inv.nodes) {
    if (!seen.insert(n.name).second) {
      throw ConfigError(source + ": node '" + n.name + "' is listed twice");
    }
  }
}

}  // namespace

bool valid_node_name(const std::string& name) {
  if (name.empty() || name.size() > 253 || name[0] == '-' || name[0] == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':';
    if (!ok) return false;
  }
  return true;
}

const NodeSpec& Inventory::node(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return n;
  }
  std::string known;
  for (const auto& n : nodes) known += (known.empty() ? "" : ", ") + n.name;
  throw UnknownNodeError("unknown node '" + name +
                         "' (nodes: " + (known.empty() ? std::string("none") : known) + ")");
}

std::vector<std::string> Inventory::names() const {
  std::vector<std::string> out;
  out.reserve(nodes.size());
  for (const auto& n : nodes) out.push_back(n.name);
  return out;
}

Json Inventory::to_json() const {
  Json arr = Json::array();
  for (const auto& n : nodes) {
    arr.push_back({{"name", n.name},
                   {"host", n.host},
                   {"port", n.port},
                   {"user", n.user},
                   {"key", n.key},
                   {"known_hosts", n.known_hosts},
                   {"strict_host_key_checking", n.strict_host_key_checking}});
    for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"role", &n.role},
                                     {"dc", &n.dc},
                                     {"rack", &n.rack}}) {
      if (!value->empty()) arr.back()[key] = *value;
    }
  }
  return {{"nodes", arr}};
}

Inventory Inventory::from_json(const Json& doc, const std::string& source) {
  if (!doc.is_object() || !doc.contains("nodes") || !doc["nodes"].is_array()) {
    throw ConfigError(source + ": expected {\"nodes\": [...]}");
  }
  for (const auto& [k, v] : doc.items()) {
    if (k != "nodes") throw ConfigError(source + ": unknown key '" + k + "'");
  }
  Inventory inv;
  static const std::set<std::string> kKeys = {
      "name", "host", "port", "user", "key", "known_hosts", "strict_host_key_checking",
      "role", "dc",   "rack"};
  int i = 0;
  for (const auto& j : doc["nodes"]) {
    std::string where = source + ": nodes[" + std::to_string(i++) + "]";
    if (!j.is_object()) throw ConfigError(where + ": expected an object");
    for (const auto& [k, v] : j.items()) {
      if (kKeys.count(k) == 0) throw ConfigError(where + ": unknown key '" + k + "'");
    }
    NodeSpec n;
    try {
      n.host = j.at("host").get<std::string>();
      n.name = j.value("name", n.host);
      n.port = j.value("port", 22);
      n.user = j.value("user", std::string("root"));
      n.key = expand_home(j.value("key", std::string()));
      n.known_hosts = expand_home(j.value("known_hosts", std::string()));
      n.strict_host_key_checking = j.value("strict_host_key_checking", true);
      n.role = j.value("role", std::string());
      n.dc = j.value("dc", std::string());
      n.rack = j.value("rack", std::string());
    } catch (const Json::exception& e) {
      throw ConfigError(where + ": " + e.what());
    }
    if (!valid_host(n.host)) throw ConfigError(where + ": bad host '" + n.host + "'");
    if (n.port < 1 || n.port > 65535) throw ConfigError(where + ": port out of range");
    if (!valid_node_name(n.name)) {
      throw ConfigError(where + ": bad node name " + Json(n.name).dump() +
                        " (letters, digits and ._:- only, not starting with . or -: node names "
                        "become directory names and database configuration)");
    }
    for (const auto* label : {&n.role, &n.dc, &n.rack}) {
      if (!label->empty() && !valid_node_name(*label)) {
        throw ConfigError(where + ": bad role, dc or rack " + Json(*label).dump() +
                          " (letters, digits and ._:- only: they reach configuration files)");
      }
    }
    if (!valid_user(n.user)) {
      throw ConfigError(where + ": bad user " + Json(n.user).dump() +
                        " (letters, digits and ._- only)");
    }
    inv.nodes.push_back(std::move(n));
  }
  check_unique(inv, source);
  return inv;
}

NodeSpec parse_node(const std::string& raw, const NodeSpec& defaults) {
  std::string text = trim(raw);
  NodeSpec n = defaults;
  std::string rest = text;
  size_t at = rest.find('@');
  if (at != std::string::npos) {
    n.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (!valid_user(n.user)) {
      throw ConfigError("node '" + text + "': bad user '" + n.user +
                        "' (letters, digits and ._- only)");
    }
  }
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) throw ConfigError("node '" + text + "': missing ']'");
    n.host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw ConfigError("node '" + text + "': expected ':PORT' after ']'");
      n.port = parse_port(after.substr(1), "node '" + text + "'");
    }
  } else {
    size_t colon = rest.find(':');
    if (colon != std::string::npos && rest.find(':', colon + 1) == std::string::npos) {
      n.port = parse_port(rest.substr(colon + 1), "node '" + text + "'");
      rest = rest.substr(0, colon);
    }
    n.host = rest;
  }
  if (!valid_host(n.host)) throw ConfigError("node '" + text + "': bad host name '" + n.host + "'");
  n.name = n.host;
  return n;
}

Inventory load_nodes_file(const std::string& path, const NodeSpec& defaults) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read nodes file " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  std::string t = trim(text);
  if (!t.empty() && t[0] == '{') {
    Json doc;
    try {
      doc = Json::parse(t);
    } catch (const Json::exception& e) {
      throw ConfigError(path + ": not valid JSON: " + e.what());
    }
    Inventory inv = Inventory::from_json(doc, path);
    // Per-node values win; the flags fill what the file leaves at its defaults.
    Json arr = doc["nodes"];
    for (size_t i = 0; i < inv.nodes.size(); ++i) {
      auto& n = inv.nodes[i];
      if (!arr[i].contains("user")) n.user = defaults.user;
      if (!arr[i].contains("port")) n.port = defaults.port;
      if (!arr[i].contains("key")) n.key = defaults.key;
      if (!arr[i].contains("known_hosts")) n.known_hosts = defaults.known_hosts;
      if (!arr[i].contains("strict_host_key_checking")) {
        n.strict_host_key_checking = defaults.strict_host_key_checking;
      }
      if (!valid_user(n.user)) {
        throw ConfigError(path + ": nodes[" + std::to_string(i) + "]: bad user '" + n.user + "'");
      }
    }
    return inv;
  }
  Inventory inv;
  std::istringstream lines(text);
  std::string line;
  int lineno = 0;
  while (std::getline(lines, line)) {
    ++lineno;
    size_t hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    try {
      inv.nodes.push_back(parse_node(line, defaults));
    } catch (const ConfigError& e) {
      throw ConfigError(path + ":" + std::to_string(lineno) + ": " + e.what());
    }
  }
  check_unique(inv, path);
  return inv;
}

Inventory resolve_inventory(const InventoryOptions& o) {
  NodeSpec defaults;
  if (!o.ssh_user.empty()) defaults.user = o.ssh_user;
  if (o.ssh_port != 0) defaults.port = parse_port(std::to_string(o.ssh_port), "--ssh-port");
  defaults.key = expand_home(o.ssh_key);
  defaults.known_hosts = expand_home(o.ssh_known_hosts);
  const std::string& strict = o.strict_host_key_checking;
  if (!strict.empty() && strict != "yes" && strict != "no") {
    throw ConfigError("--ssh-strict-host-key-checking must be yes or no");
  }
  defaults.strict_host_key_checking = strict != "no";
  // Given on the command line, it is the operator's word for this run: it beats the nodes
  // file (a file saying false must not silently weaken an explicit yes).
  auto apply_flag = [&](Inventory inv) {
    if (!strict.empty()) {
      for (auto& n : inv.nodes) n.strict_host_key_checking = strict == "yes";
    }
    return inv;
  };
  int sources = (o.nodes.empty() ? 0 : 1) + (o.nodes_file.empty() ? 0 : 1) +
                (o.local_cluster.empty() ? 0 : 1);
  if (sources > 1) {
    throw ConfigError("give only one of --nodes, --nodes-file and --local-cluster");
  }
  if (!o.nodes.empty()) {
    Inventory inv;
    std::stringstream in(o.nodes);
    std::string part;
    while (std::getline(in, part, ',')) {
      if (trim(part).empty()) continue;
      inv.nodes.push_back(parse_node(part, defaults));
    }
    check_unique(inv, "--nodes");
    return inv;
  }
  if (!o.nodes_file.empty()) return apply_flag(load_nodes_file(o.nodes_file, defaults));
  std::string name = o.local_cluster.empty() ? "fl" : o.local_cluster;
  std::optional<Inventory> inv;
  if (Registry<LocalClusterFactory>::find("local") != nullptr) {
    inv = make_local_cluster_provisioner()->inventory(name);
  }
  if (!inv) {
    if (o.local_cluster.empty()) {
      throw ConfigError(
          "no nodes: give --nodes or --nodes-file, or start a local cluster with "
          "`faultline cluster up`");
    }
    throw ConfigError("local cluster '" + name + "' is not up (`faultline cluster status --name " +
                      name + "`)");
  }
  return apply_flag(*inv);
}

std::unique_ptr<LocalClusterProvisioner> make_local_cluster_provisioner() {
  const LocalClusterFactory* f = Registry<LocalClusterFactory>::find("local");
  if (f == nullptr) throw std::logic_error("no local cluster provisioner is linked in");
  return (*f)();
}

}  // namespace faultline::control
