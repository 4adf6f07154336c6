#include "nemeses/partition.h"

#include <arpa/inet.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/nemesis.h"
#include "harness/options.h"
#include "harness/remote.h"
#include "nemeses/net.h"
#include "nemeses/node.h"

namespace faultline::nemeses {

std::string IpPrefix::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  std::string out = buf;
  if (bits != (family == 4 ? 32 : 128)) out += "/" + std::to_string(bits);
  return out;
}

bool IpPrefix::contains(const IpPrefix& other) const {
  if (family != other.family || other.bits < bits) return false;
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8, bit = 7 - i % 8;
    if (((bytes[byte] >> bit) & 1) != ((other.bytes[byte] >> bit) & 1)) return false;
  }
  return true;
}

std::optional<IpPrefix> parse_ip_prefix(const std::string& text) {
  std::string addr = text;
  int bits = -1;
  if (auto slash = addr.find('/'); slash != std::string::npos) {
    std::string len = addr.substr(slash + 1);
    addr.resize(slash);
    if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    bits = std::stoi(len);
  }
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') {
    addr = addr.substr(1, addr.size() - 2);
  }
  IpPrefix p;
  if (::inet_pton(AF_INET, addr.c_str(), p.bytes.data()) == 1) {
    p.family = 4;
    if (bits > 32) return std::nullopt;
    p.bits = bits < 0 ? 32 : bits;
  } else if (::inet_pton(AF_INET6, addr.c_str(), p.bytes.data()) == 1) {
    p.family = 6;
    if (bits > 128) return std::nullopt;
    p.bits = bits < 0 ? 128 : bits;
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(kMapped, kMapped + 12, p.bytes.begin()) && (bits < 0 || bits >= 96)) {
      // ::ffff:a.b.c.d is a.b.c.d (what a dual-stack sshd may show).
      std::array<uint8_t, 16> v4{};
      std::copy(p.bytes.begin() + 12, p.bytes.end(), v4.begin());
      p.bytes = v4;
      p.family = 4;
      p.bits = bits < 0 ? 32 : bits - 96;
    }
  } else {
    return std::nullopt;
  }
  for (int i = p.bits; i < (p.family == 4 ? 32 : 128); ++i) {
    p.bytes[i / 8] &= static_cast<uint8_t>(~(1u << (7 - i % 8)));
  }
  return p;
}

std::map<std::string, NodeDrops> grudge_addresses(
    const Grudge& grudge, const std::map<std::string, std::string>& address_of,
    const std::set<std::string>& controllers) {
  std::vector<IpPrefix> ctl;
  for (const auto& c : controllers) {
    auto p = parse_ip_prefix(c);
    if (!p) {
      throw ConfigError("partition: cannot read the controller's address ('" + c +
                        "' in a node's $SSH_CONNECTION); refusing to partition "
                        "without knowing what would cut the controller off");
    }
    ctl.push_back(*p);
  }
  std::map<std::string, NodeDrops> out;
  for (const auto& [node, peers] : grudge) {
    NodeDrops& d = out[node];
    for (const auto& peer : peers) {
      auto it = address_of.find(peer);
      if (it == address_of.end() || it->second.empty()) {
        throw ConfigError("partition: no address known for node " + peer);
      }
      auto a = parse_ip_prefix(it->second);
      if (!a) {
        throw ConfigError("partition: node " + peer + "'s address '" + it->second +
                          "' is not an IP address or prefix; set "
                          "nemesis-options/partition/addresses/" +
                          peer + " to one");
      }
      for (const auto& c : ctl) {
        if (a->contains(c)) {
          throw ConfigError("partition: node " + peer + "'s address " + it->second +
                            (a->bits == (a->family == 4 ? 32 : 128) ? " is" : " contains") +
                            " the controller's (" + c.text() +
                            "); refusing to cut the controller off (set "
                            "nemesis-options/partition/addresses/" +
                            peer + " to the node's own address)");
        }
      }
      (a->family == 4 ? d.ipv4 : d.ipv6).push_back(a->text());
    }
  }
  return out;
}

namespace {

// The partition chain of one family: iptables for IPv4 peers, ip6tables for IPv6.
NetChain partition_chain(const std::string& tool) { return {kPartitionChain, "INPUT", tool}; }

// Removes the partition chains of both families (ip6tables only where the node has it).
void heal_node(Session& s, bool root) {
  heal_verified(s, partition_chain("iptables"), root);
  heal_verified(s, partition_chain("ip6tables"), root);
}

class PartitionNemesis : public Nemesis {
 public:
  PartitionNemesis(std::map<std::string, std::string> overrides, Random random,
                   std::map<std::string, std::string> dcs)
      : overrides_(std::move(overrides)), random_(random), dcs_(std::move(dcs)) {}

  void setup(const NemesisContext& ctx) override {
    Remote& remote = need_remote(ctx);
    std::mutex mu;
    auto errors = for_each_node(remote, ctx.nodes, [&](Session& s) {
      NodeFacts f = probe_node(s);
      std::lock_guard<std::mutex> lock(mu);
      facts_[s.node()] = f;
    });
    if (!errors.empty()) throw std::runtime_error("partition setup: " + describe_errors(errors));
    for (const auto& n : ctx.nodes) {
      auto o = overrides_.find(n);
      address_of_[n] = o != overrides_.end() ? o->second : facts_[n].address;
      controllers_.insert(facts_[n].controller);
    }
    // Every address is checked now, so a partition that would cut the controller off (or an
    // address that is not one) stops the run before its main phase, not at the first fault.
    Grudge everyone;
    for (const auto& n : ctx.nodes) {
      for (const auto& m : ctx.nodes) {
        if (m != n) everyone[n].insert(m);
      }
    }
    for (const auto& [n, d] : grudge_addresses(everyone, address_of_, controllers_)) {
      if (!d.ipv6.empty()) has_ipv6_ = true;
    }
    heal(ctx);  // whatever an earlier run left behind
  }

  Completion invoke(const NemesisContext& ctx, const Op& op) override {
    if (op.f == "start-partition") {
      // A grudge, or a shape to plan one from (a scheduled op may give either).
      const Json value = op.value.is_object() ? op.value : Json::object();
      std::string shape = value.value("shape", std::string("grudge"));
      Grudge g;
      if (!value.contains("grudge") && shape != "grudge") {
        g = plan_grudge(shape, ctx.nodes, random_, dcs_);
      } else {
        g = grudge_from_json(value.value("grudge", Json::object()), ctx.nodes);
      }
      bool drops_any = false;
      for (const auto& [n, d] : g) drops_any = drops_any || !d.empty();
      if (!drops_any) {
        // Nothing would be cut: say so, so that the run is not judged as partitioned.
        return Completion::info(
            "acted on no node: start-partition needs a grudge (which node "
            "drops which) or a shape");
      }
      auto drops = grudge_addresses(g, address_of_, controllers_);
      auto errors = for_each_node(need_remote(ctx), ctx.nodes, [&](Session& s) {
        NodeDrops d;
        if (auto it = drops.find(s.node()); it != drops.end()) d = it->second;
        bool root = facts_[s.node()].root;
        // A family with nothing to drop gets its chain healed (apply of no rules).
        auto apply = [&](const std::vector<std::string>& addresses, const std::string& tool) {
          NetChain chain = partition_chain(tool);
          s.run_checked(privileged(chain.apply(chain.peer_rules(addresses, {"-j", "DROP"})), root));
        };
        apply(d.ipv4, "iptables");
        if (has_ipv6_) apply(d.ipv6, "ip6tables");
      });
      if (!errors.empty()) throw std::runtime_error(describe_errors(errors));
      Json v = Json::object();
      v["shape"] = shape;
      v["grudge"] = grudge_to_json(g);
      return Completion::ok(v);
    }
    if (op.f == "stop-partition") {
      heal(ctx);
      return Completion::ok("network healed");
    }
    return Completion::info("partition: unknown op " + op.f);
  }

  void teardown(const NemesisContext& ctx) override {
    if (ctx.remote) heal(ctx);
  }

  std::set<std::string> fs() const override { return {"start-partition", "stop-partition"}; }

 private:
  static Remote& need_remote(const NemesisContext& ctx) {
    if (!ctx.remote) {
      throw ConfigError(
          "nemesis 'partition' needs nodes reached over SSH; this database runs in-process");
    }
    return *ctx.remote;
  }

  void heal(const NemesisContext& ctx) {
    auto errors = for_each_node(need_remote(ctx), ctx.nodes, [&](Session& s) {
      auto it = facts_.find(s.node());
      bool root = it == facts_.end() || it->second.root;
      heal_node(s, root);
    });
    if (!errors.empty()) throw std::runtime_error("heal partition: " + describe_errors(errors));
  }

  std::map<std::string, std::string> overrides_;
  std::map<std::string, NodeFacts> facts_;
  std::map<std::string, std::string> address_of_;
  std::set<std::string> controllers_;
  Random random_;  // plans the grudge of a scheduled op that gives only a shape
  std::map<std::string, std::string> dcs_;  // node -> data centre (shape dc)
  bool has_ipv6_ = false;  // some node address is IPv6: ip6tables rules are kept too
};

const OptionDecls kPartitionOptions = {
    {"shapes", nullptr,
     "shapes to draw from (default: one, majority, majorities-ring, minority-third, those that "
     "fit)"},
    {"grudge", nullptr, "an explicit grudge: node -> the nodes it drops packets from"},
    {"addresses", nullptr, "node -> address or prefix to cut (default: resolved on the node)"},
};

NemesisPackage make_partition(const NemesisOptions& o) {
  const std::string where = "nemesis-options/partition";
  const Options opts(o.options, kPartitionOptions, where);
  require_remote_db(o, "partition");
  std::vector<std::string> shapes;
  Json explicit_grudge;
  if (o.options.contains("grudge")) {
    grudge_from_json(o.options["grudge"], o.nodes);  // validates
    explicit_grudge = o.options["grudge"];
  } else if (o.options.contains("shapes")) {
    if (!o.options["shapes"].is_array() || o.options["shapes"].empty()) {
      throw ConfigError(where + "/shapes: must be a non-empty list of shapes");
    }
    for (const auto& s : o.options["shapes"]) {
      if (!s.is_string()) throw ConfigError(where + "/shapes: must be strings");
      Random probe(0);
      try {
        plan_grudge(s.get<std::string>(), o.nodes, probe, o.dcs);  // unknown, too few nodes
      } catch (const std::invalid_argument& e) {
        throw ConfigError(where + "/shapes: " + e.what());
      }
      shapes.push_back(s.get<std::string>());
    }
  } else {
    for (const char* s : {"one", "majority", "majorities-ring", "minority-third"}) {
      // Only shapes that cut something on this many nodes (a majority of 2 is both: it
      // would drop nothing and the fault would not happen).
      Random probe(0);
      try {
        bool cuts = false;
        for (const auto& [n, dropped] : plan_grudge(s, o.nodes, probe)) {
          cuts = cuts || !dropped.empty();
        }
        if (cuts) shapes.push_back(s);
      } catch (const std::invalid_argument&) {
      }
    }
    if (shapes.empty()) {
      throw ConfigError("nemesis 'partition' needs at least 2 nodes");
    }
  }
  std::map<std::string, std::string> overrides;
  if (o.options.contains("addresses")) {
    const Json& a = o.options["addresses"];
    if (!a.is_object()) throw ConfigError(where + "/addresses: must be an object");
    for (const auto& [k, v] : a.items()) {
      if (std::find(o.nodes.begin(), o.nodes.end(), k) == o.nodes.end()) {
        throw ConfigError(where + "/addresses/" + k + ": not a node of the test");
      }
      if (!v.is_string()) throw ConfigError(where + "/addresses/" + k + ": a string");
      if (!parse_ip_prefix(v.get<std::string>())) {
        throw ConfigError(where + "/addresses/" + k + ": '" + v.get<std::string>() +
                          "' is not an IP address or prefix (\"10.0.1.5\", "
                          "\"10.0.1.0/24\", \"fd00::5\"); host names are not "
                          "accepted");
      }
      overrides[k] = v.get<std::string>();
    }
  }
  NemesisPackage p;
  p.name = "partition";
  p.nemesis = std::make_unique<PartitionNemesis>(overrides, o.random.fork("scheduled"), o.dcs);
  std::vector<std::string> nodes = o.nodes;
  std::map<std::string, std::string> dcs = o.dcs;
  p.check_op = [nodes, dcs](const std::string& f, const Json& value) {
    if (f != "start-partition") return;
    const std::string need =
        "start-partition needs {\"grudge\": {node: [nodes it drops], ...}} or {\"shape\": "
        "\"one\" | \"majority\" | \"majorities-ring\" | \"minority-third\" | ...}";
    if (!value.is_object()) throw ConfigError(need);
    if (value.contains("grudge")) {
      Grudge g = grudge_from_json(value["grudge"], nodes);
      bool any = false;
      for (const auto& [n, d] : g) any = any || !d.empty();
      if (!any) throw ConfigError("the grudge drops nothing: " + need);
    } else if (value.contains("shape") && value["shape"].is_string()) {
      Random probe(0);
      plan_grudge(value["shape"].get<std::string>(), nodes, probe, dcs);
    } else {
      throw ConfigError(need);
    }
  };
  p.generator = start_stop_cycle(
      o.interval_ns,
      [shapes, nodes, explicit_grudge, dcs](const GenContext& ctx) {
        OpTemplate t;
        t.f = "start-partition";
        if (!explicit_grudge.is_null()) {
          t.value = {{"shape", "grudge"}, {"grudge", explicit_grudge}};
        } else {
          const std::string& shape = shapes[ctx.random->uniform(shapes.size())];
          t.value = {{"shape", shape},
                     {"grudge", grudge_to_json(plan_grudge(shape, nodes, *ctx.random, dcs))}};
        }
        return t;
      },
      [](const GenContext&) {
        return OpTemplate{"stop-partition", nullptr};
      });
  p.final_generator = once(OpTemplate{"stop-partition", nullptr});
  p.node_checks = {
      tool_check("iptables", "partition cuts links with iptables"),
      tool_check("ip6tables", "needed only to cut IPv6 links", false),
  };
  p.colour = "#e6b0aa";
  return p;
}

const bool registered = [] {
  NemesisRegistry::add("nemesis", "partition",
                       "iptables network partitions between database nodes (shapes: one, "
                       "majority, minority-third, halves, random-halves, majorities-ring, "
                       "bridge, dc (between the inventory's data centres), or an explicit "
                       "grudge)",
                       make_partition, kPartitionOptions);
  NodeHealerRegistry::add("healer", "partition",
                          "removes the FAULTLINE iptables and ip6tables chains",
                          [](Session& s, const NodeHealContext&) {
                            NodeFacts f = probe_node(s);
                            heal_node(s, f.root);
                            return std::string("partition rules removed");
                          });
  return true;
}();

}  // namespace
}  // namespace faultline::nemeses
