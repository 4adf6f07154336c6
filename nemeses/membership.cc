// "membership": a node leaves the cluster the database's way and joins again, through the
// database's ChangesMembership capability (harness/db.h). Every interval one node, drawn at
// random among those in the cluster, leaves by one of the ways the database knows (option
// `modes`, default all of them; each op draws one); the next interval every node that left
// joins again. One node is out at a time, so a majority always stays. Heal and teardown join
// every node still out, so the run ends with the membership it began with.
//
// Options (nemesis-options.membership): modes (list; default the database's leave_modes()),
// nodes (list; default every node: those that may leave).
// Ops: leave {"node", "mode"} (value given: as given; else drawn) / join; the completion says
// what the database did ({"node": ..., "mode": ..., ...} / {node: what join did}).
#include <algorithm>
#include <mutex>
#include <set>

#include "harness/errors.h"
#include "harness/nemesis.h"
#include "harness/options.h"

namespace faultline::nemeses {
namespace {

class MembershipNemesis : public Nemesis {
 public:
  MembershipNemesis(std::vector<std::string> nodes, std::vector<std::string> modes, Random r)
      : nodes_(std::move(nodes)), modes_(std::move(modes)), random_(r) {}

  Completion invoke(const NemesisContext& ctx, const Op& op) override {
    if (!ctx.db || !ctx.db_ctx) throw std::runtime_error("membership: no database");
    auto& cm = dynamic_cast<ChangesMembership&>(*ctx.db);
    if (op.f == "leave") {
      const Json v = op.value.is_object() ? op.value : Json::object();
      std::string node = v.value("node", std::string());
      std::string mode = v.value("mode", std::string());
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!out_.empty()) {
          return Completion::info("membership: " + *out_.begin() +
                                  " is out already; one node leaves at a time");
        }
        if (node.empty()) node = nodes_[random_.uniform(nodes_.size())];
        if (mode.empty()) mode = modes_[random_.uniform(modes_.size())];
        out_.insert(node);  // also when the leave fails half-way: join tries to bring it back
      }
      try {
        Json done = cm.leave(*ctx.db_ctx, node, mode);
        Json value = {{"node", node}, {"mode", mode}};
        if (!done.is_null()) value["done"] = done;
        return Completion::ok(value);
      } catch (const std::exception& e) {
        Completion c = Completion::ok(Json{{"node", node}, {"mode", mode}});
        c.error = std::string("leave failed: ") + e.what();
        return c;
      }
    }
    if (op.f == "join") return Completion::ok(join_all(ctx));
    return Completion::info("membership: unknown op " + op.f);
  }

  void teardown(const NemesisContext& ctx) override {
    if (!ctx.db || !ctx.db_ctx) return;
    Json r = join_all(ctx);
    for (const auto& [n, v] : r.items()) {
      if (v.is_string() && v.get<std::string>().rfind("error", 0) == 0) {
        throw std::runtime_error("membership heal: node " + n + ": " + v.get<std::string>());
      }
    }
  }

  std::set<std::string> fs() const override { return {"leave", "join"}; }

 private:
  Json join_all(const NemesisContext& ctx) {
    std::set<std::string> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      out.swap(out_);
    }
    auto& cm = dynamic_cast<ChangesMembership&>(*ctx.db);
    Json done = Json::object();
    for (const auto& n : out) {
      try {
        Json d = cm.join(*ctx.db_ctx, n);
        done[n] = d.is_null() ? Json("joined") : d;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu_);
        out_.insert(n);  // again at the next join or at teardown
        done[n] = std::string("error: ") + e.what();
      }
    }
    return done;
  }

  std::vector<std::string> nodes_, modes_;
  Random random_;
  std::mutex mu_;
  std::set<std::string> out_;
};

const OptionDecls kMembershipOptions = {
    {"modes", nullptr, "ways a node leaves (default: every way the database knows)"},
    {"nodes", nullptr, "the nodes that may leave (default: every node)"},
};

NemesisPackage make_membership(const NemesisOptions& o) {
  const std::string where = "nemesis-options/membership";
  const Options opts(o.options, kMembershipOptions, where);
  std::vector<std::string> modes = {"leave"};
  if (o.db) {
    modes = require_capability<ChangesMembership>(*o.db, "nemesis 'membership'",
                                                  "can take a node out of its cluster and back")
                .leave_modes();
  }
  if (opts.has("modes")) {
    std::vector<std::string> want = opts.texts("modes");
    for (const auto& m : want) {
      if (std::find(modes.begin(), modes.end(), m) == modes.end()) {
        std::string known;
        for (const auto& k : modes) {
          if (!known.empty()) known += ", ";
          known += k;
        }
        std::string what = "has '" + m;
        what += "', which this database does not know (" + known + ")";
        throw opts.error("modes", what);
      }
    }
    if (want.empty()) throw opts.error("modes", "must not be empty");
    modes = want;
  }
  std::vector<std::string> nodes = o.nodes;
  if (opts.has("nodes")) {
    nodes = opts.texts("nodes");
    for (const auto& n : nodes) {
      if (std::find(o.nodes.begin(), o.nodes.end(), n) == o.nodes.end()) {
        throw opts.error("nodes", "'" + n + "' is not a node of the test");
      }
    }
  }
  if (nodes.empty()) throw opts.error("nodes", "must not be empty");
  if (o.nodes.size() < 3) {
    throw ConfigError(where + ": needs at least 3 nodes (one leaves, a majority stays)");
  }
  NemesisPackage p;
  p.name = "membership";
  p.nemesis = std::make_unique<MembershipNemesis>(nodes, modes, o.random.fork("scheduled"));
  p.generator = start_stop_cycle(
      o.interval_ns,
      [](const GenContext&) {
        return OpTemplate{"leave", nullptr};
      },
      [](const GenContext&) {
        return OpTemplate{"join", nullptr};
      });
  p.final_generator = once(OpTemplate{"join", nullptr});
  p.colour = "#a9cce3";
  p.check_op = [nodes, modes](const std::string& f, const Json& value) {
    if (f != "leave" || value.is_null()) return;
    if (!value.is_object()) throw ConfigError("leave takes {\"node\": N, \"mode\": M} or nothing");
    if (value.contains("node") &&
        (!value["node"].is_string() ||
         std::find(nodes.begin(), nodes.end(), value["node"].get<std::string>()) == nodes.end())) {
      throw ConfigError("leave: " + value["node"].dump() + " is not a node that may leave");
    }
    if (value.contains("mode") &&
        (!value["mode"].is_string() ||
         std::find(modes.begin(), modes.end(), value["mode"].get<std::string>()) == modes.end())) {
      throw ConfigError("leave: unknown mode " + value["mode"].dump());
    }
  };
  return p;
}

const bool registered = [] {
  NemesisRegistry::add("nemesis", "membership",
                       "a node leaves the cluster the database's way and joins again, one at "
                       "a time (Galera: clean leave or wiped, back by IST/SST; etcd: member "
                       "remove/add; pglogical: subscriptions dropped and made again; "
                       "mariadb-async: a master out of the ring, offsets rewritten)",
                       make_membership, kMembershipOptions);
  return true;
}();

}  // namespace
}  // namespace faultline::nemeses
