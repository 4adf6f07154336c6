#include "nemeses/partition.h"

#include <mutex>
#include <stdexcept>

#include "harness/checker.h"
#include "harness/nemesis.h"
#include "harness/remote.h"
#include "nemeses/node.h"

namespace faultline::nemeses {

Command drop_command(const std::string& chain, const std::string& hook,
                     const std::vector<std::string>& addresses) {
  std::vector<std::string> args = {chain, hook, hook == "OUTPUT" ? "-d" : "-s"};
  args.insert(args.end(), addresses.begin(), addresses.end());
  return Command::shell(
      "c=$1; h=$2; dir=$3; shift 3; "
      "iptables -w -N \"$c\" 2>/dev/null; "
      "iptables -w -C \"$h\" -j \"$c\" 2>/dev/null || iptables -w -I \"$h\" 1 -j \"$c\" || exit 1; "
      "iptables -w -F \"$c\" || exit 1; "
      "for a in \"$@\"; do iptables -w -A \"$c\" \"$dir\" \"$a\" -j DROP || exit 1; done",
      args);
}

Command remove_chain_command(const std::string& chain, const std::string& hook) {
  Command c = Command::shell(
      "while iptables -w -D \"$2\" -j \"$1\" 2>/dev/null; do :; done; "
      "if iptables -w -S \"$1\" >/dev/null 2>&1; then "
      "iptables -w -F \"$1\" && iptables -w -X \"$1\"; fi",
      {chain, hook});
  c.idempotent = true;
  return c;
}

std::map<std::string, std::vector<std::string>> grudge_addresses(
    const Grudge& grudge, const std::map<std::string, std::string>& address_of,
    const std::set<std::string>& controllers) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [node, peers] : grudge) {
    for (const auto& p : peers) {
      auto it = address_of.find(p);
      if (it == address_of.end() || it->second.empty()) {
        throw std::invalid_argument("partition: no address known for node " + p);
      }
      if (controllers.count(it->second)) {
        throw std::invalid_argument("partition: node " + p + "'s address " + it->second +
                                    " is the controller's; refusing to cut the controller off");
      }
      out[node].push_back(it->second);
    }
  }
  return out;
}

namespace {

class PartitionNemesis : public Nemesis {
 public:
  explicit PartitionNemesis(std::map<std::string, std::string> overrides)
      : overrides_(std::move(overrides)) {}

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
    heal(ctx);  // whatever an earlier run left behind
  }

  Completion invoke(const NemesisContext& ctx, const Op& op) override {
    if (op.f == "start-partition") {
      Grudge g = grudge_from_json(op.value.value("grudge", Json::object()), ctx.nodes);
      auto drops = grudge_addresses(g, address_of_, controllers_);
      auto errors = for_each_node(need_remote(ctx), ctx.nodes, [&](Session& s) {
        auto it = drops.find(s.node());
        bool root = facts_[s.node()].root;
        s.run_checked(it == drops.end() || it->second.empty()
                          ? privileged(remove_chain_command(kPartitionChain, "INPUT"), root)
                          : privileged(drop_command(kPartitionChain, "INPUT", it->second), root));
      });
      if (!errors.empty()) throw std::runtime_error(describe_errors(errors));
      Json v = Json::object();
      v["shape"] = op.value.value("shape", "grudge");
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
      throw std::invalid_argument(
          "nemesis 'partition' needs nodes reached over SSH; this database runs in-process");
    }
    return *ctx.remote;
  }

  void heal(const NemesisContext& ctx) {
    auto errors = for_each_node(need_remote(ctx), ctx.nodes, [&](Session& s) {
      auto it = facts_.find(s.node());
      bool root = it == facts_.end() || it->second.root;
      s.run_checked(privileged(remove_chain_command(kPartitionChain, "INPUT"), root));
    });
    if (!errors.empty()) throw std::runtime_error("heal partition: " + describe_errors(errors));
  }

  std::map<std::string, std::string> overrides_;
  std::map<std::string, NodeFacts> facts_;
  std::map<std::string, std::string> address_of_;
  std::set<std::string> controllers_;
};

NemesisPackage make_partition(const NemesisOptions& o) {
  const std::string where = "nemesis-options/partition";
  reject_unknown_options(o.options, {"shapes", "grudge", "addresses"}, where);
  require_remote_db(o, "partition");
  std::vector<std::string> shapes;
  Json explicit_grudge;
  if (o.options.contains("grudge")) {
    grudge_from_json(o.options["grudge"], o.nodes);  // validates
    explicit_grudge = o.options["grudge"];
  } else if (o.options.contains("shapes")) {
    if (!o.options["shapes"].is_array() || o.options["shapes"].empty()) {
      throw std::invalid_argument(where + "/shapes: must be a non-empty list of shapes");
    }
    for (const auto& s : o.options["shapes"]) {
      if (!s.is_string()) throw std::invalid_argument(where + "/shapes: must be strings");
      Random probe(0);
      plan_grudge(s.get<std::string>(), o.nodes, probe);  // unknown shape, too few nodes
      shapes.push_back(s.get<std::string>());
    }
  } else {
    for (const char* s : {"one", "majority", "majorities-ring", "minority-third"}) {
      Random probe(0);
      try {
        plan_grudge(s, o.nodes, probe);
        shapes.push_back(s);
      } catch (const std::invalid_argument&) {
      }
    }
    if (shapes.empty()) {
      throw std::invalid_argument("nemesis 'partition' needs at least 2 nodes");
    }
  }
  std::map<std::string, std::string> overrides;
  if (o.options.contains("addresses")) {
    const Json& a = o.options["addresses"];
    if (!a.is_object()) throw std::invalid_argument(where + "/addresses: must be an object");
    for (const auto& [k, v] : a.items()) {
      if (!v.is_string()) throw std::invalid_argument(where + "/addresses/" + k + ": a string");
      overrides[k] = v.get<std::string>();
    }
  }
  NemesisPackage p;
  p.name = "partition";
  p.nemesis = std::make_unique<PartitionNemesis>(overrides);
  std::vector<std::string> nodes = o.nodes;
  p.generator = start_stop_cycle(
      o.interval_ns,
      [shapes, nodes, explicit_grudge](const GenContext& ctx) {
        OpTemplate t;
        t.f = "start-partition";
        if (!explicit_grudge.is_null()) {
          t.value = {{"shape", "grudge"}, {"grudge", explicit_grudge}};
        } else {
          const std::string& shape = shapes[ctx.random->uniform(shapes.size())];
          t.value = {{"shape", shape},
                     {"grudge", grudge_to_json(plan_grudge(shape, nodes, *ctx.random))}};
        }
        return t;
      },
      [](const GenContext&) { return OpTemplate{"stop-partition", nullptr}; });
  p.final_generator = once(OpTemplate{"stop-partition", nullptr});
  p.colour = "#e6b0aa";
  return p;
}

const bool registered = [] {
  NemesisRegistry::add("nemesis", "partition",
                       "iptables network partitions between database nodes (shapes: one, "
                       "majority, minority-third, halves, random-halves, majorities-ring, "
                       "bridge, or an explicit grudge)",
                       make_partition);
  NodeHealerRegistry::add("healer", "partition", "removes the FAULTLINE iptables chain",
                          [](Session& s) {
                            NodeFacts f = probe_node(s);
                            s.run_checked(
                                privileged(remove_chain_command(kPartitionChain, "INPUT"), f.root));
                            return std::string("partition rules removed");
                          });
  return true;
}();

}  // namespace
}  // namespace faultline::nemeses
