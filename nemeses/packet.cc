// Packet faults on inter-node traffic only: "packet" nemesis package.
//
// Mechanisms, probed per node at setup and recorded in every completion:
//   loss   iptables `-m statistic --mode random --probability P -j DROP` for packets from the
//          other database nodes, in our own chain FAULTLINE-LOSS (hooked from INPUT);
//   delay  an NFQUEUE delayer (C, ~50 lines: nemeses/delayer/delayer.c, embedded at build time)
//          compiled on the node with gcc and libnetfilter-queue-dev, holding packets to the
//          other nodes (chain FAULTLINE-DELAY, hooked from OUTPUT, `--queue-bypass` so nothing
//          is dropped when it is not running) for delay ± jitter ms, FIFO. Used because this
//          machine kind's kernel has no netem.
//   rate   tc: an htb root qdisc of ours (handle 1f00:) on the interface towards the peers,
//          every packet to a peer filtered (u32, by destination) into a class with a tbf
//          leaf (other traffic, the controller's included, goes to an unshaped class);
//   duplicate, reorder
//          tc netem in that band, where the node's kernel has netem (probed at setup; this
//          machine kind's kernel does not, and the fault is refused there).
// A fault that no mechanism on a node can produce is refused at setup with a message naming the
// node and what is missing. Heal deletes the root qdisc only when it is ours (handle 1f00:);
// a node whose interface already has a root qdisc of its own is refused, never overwritten.
//
// Options (nemesis-options.packet): faults (["loss", "delay"]), loss (0.2), delay-ms (50),
// jitter-ms (10), queue (7: the NFQUEUE number), rate ("1mbit"), duplicate (0.05), reorder
// (0.25, with delay-ms as the netem delay of the rest), dir ("/var/lib/faultline/packet": where
// the delayer is built, run from as root, and its pid file kept, per node; it and every
// directory above it must be root's alone, see harness/secure_dir.h, and it is made so).
// Ops: start-packet {"fault", "nodes", ...}, stop-packet; stop and final heal: chains removed,
// the delayer stopped (SIGTERM; it releases held packets on exit).
#include <algorithm>
#include <mutex>
#include <regex>
#include <stdexcept>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/nemesis.h"
#include "harness/options.h"
#include "harness/secure_dir.h"
#include "nemeses/net.h"
#include "nemeses/node.h"
#include "nemeses/programs.h"

namespace faultline::nemeses {
namespace {

// Our chains: loss drops packets from the peers, delay queues packets to them.
NetChain loss_chain() { return {"FAULTLINE-LOSS", "INPUT"}; }
NetChain delay_chain() { return {"FAULTLINE-DELAY", "OUTPUT"}; }
// Where the delayer is built and run as root unless the options say otherwise. Not /tmp: a user
// who made the directory first would choose the program root runs.
constexpr const char* kDefaultDir = "/var/lib/faultline/packet";

struct PacketOptions {
  std::vector<std::string> faults = {"loss", "delay"};
  double loss = 0.2;
  int64_t delay_ms = 50, jitter_ms = 10, queue = 7;
  std::string rate = "1mbit";
  double duplicate = 0.05, reorder = 0.25;
  std::string dir = kDefaultDir;
  // "nodes": every fault on the links between any two nodes; "dcs": only on links between data
  // centres (WAN latency, loss between sites), with `dcs` node -> dc from the inventory.
  std::string between = "nodes";
  std::map<std::string, std::string> dcs;
};

// Our root qdisc's handle is 1f00: (and the probe's 1f01:); heal removes a root qdisc only when
// it carries ours.
// Installs our htb root qdisc on the interface towards the peers, sends packets to each peer
// into band 3, and puts `leaf` (e.g. "tbf rate 1mbit burst 32kbit latency 400ms") there.
// Args: leaf words..., "--", peers...
Command tc_fault_command(const std::vector<std::string>& leaf,
                         const std::vector<std::string>& peers) {
  std::vector<std::string> args = leaf;
  args.push_back("--");
  args.insert(args.end(), peers.begin(), peers.end());
  return Command::shell(
      "leaf=; while [ \"$1\" != -- ]; do leaf=\"$leaf $1\"; shift; done; shift; "
      "dev=$(ip -o route get \"$1\" | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'); "
      "[ -n \"$dev\" ] || { echo \"no route to $1\" >&2; exit 3; }; "
      "if tc qdisc show dev \"$dev\" | grep -q '^qdisc htb 1f00: root'; then "
      "tc qdisc del dev \"$dev\" root; fi; "
      "tc qdisc add dev \"$dev\" root handle 1f00: htb default 1 || { echo \"$dev has a root "
      "qdisc that is not ours; not replacing it\" >&2; exit 4; }; "
      "tc class add dev \"$dev\" parent 1f00: classid 1f00:1 htb rate 10gbit || exit 1; "
      "tc class add dev \"$dev\" parent 1f00: classid 1f00:3 htb rate 10gbit || exit 1; "
      "tc qdisc add dev \"$dev\" parent 1f00:3 handle 1f30: $leaf || exit 1; "
      "for a in \"$@\"; do tc filter add dev \"$dev\" parent 1f00: protocol ip prio 1 u32 "
      "match ip dst \"$a\"/32 flowid 1f00:3 || exit 1; done; echo \"$dev\"",
      args);
}

// Removes our root qdisc from every interface that has it.
Command tc_heal_command() {
  Command c = Command::shell(
      "command -v tc >/dev/null || exit 0; for dev in $(ls /sys/class/net); do "
      "if tc qdisc show dev \"$dev\" 2>/dev/null | grep -q '^qdisc htb 1f00: root'; then "
      "tc qdisc del dev \"$dev\" root || exit 1; fi; done");
  c.idempotent = true;
  return c;
}

// Which tc leaves the node's kernel has: "tbf netem", "tbf", or "" (probed on its loopback,
// added and removed at once).
Command tc_probe_command() {
  return Command::shell(
      "command -v tc >/dev/null || exit 0; out=; "
      "if tc qdisc add dev lo root handle 1f01: htb default 1 2>/dev/null; then "
      "tc class add dev lo parent 1f01: classid 1f01:1 htb rate 10gbit && "
      "tc qdisc add dev lo parent 1f01:1 handle 1f31: tbf rate 100mbit burst 32kbit "
      "latency 50ms && out=tbf; tc qdisc del dev lo root; fi; "
      "if tc qdisc add dev lo root handle 1f01: netem delay 0ms 2>/dev/null; then "
      "tc qdisc del dev lo root; out=\"$out netem\"; fi; echo $out");
}

std::string pct(double fraction) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", fraction * 100);
  return b;
}

Command loss_command(const std::vector<std::string>& peers, double p) {
  char prob[32];
  std::snprintf(prob, sizeof prob, "%.4f", p);
  NetChain chain = loss_chain();
  return chain.apply(chain.peer_rules(
      peers, {"-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"}));
}

// Queues packets to the peers to the delayer; `--queue-bypass`: they pass when it is not running.
Command delay_command(const std::vector<std::string>& peers, int64_t queue) {
  NetChain chain = delay_chain();
  return chain.apply(chain.peer_rules(
      peers, {"-j", "NFQUEUE", "--queue-num", std::to_string(queue), "--queue-bypass"}));
}

// Stops the delayer whose pid file is $1/nfqdelay-$2.pid, if it is ours (a number, and the
// process runs $1/nfqdelay-$2), and waits for it.
Command stop_delayer_command(const std::string& dir, const std::string& node) {
  Command c = Command::shell(
      "f=\"$1/nfqdelay-$2.pid\"; [ -f \"$f\" ] || exit 0; p=$(cat \"$f\"); "
      "ours() { [ -r \"/proc/$p/cmdline\" ] && [ \"$(tr '\\0' '\\n' < \"/proc/$p/cmdline\" | "
      "head -n 1)\" = \"$1/nfqdelay-$2\" ]; }; "
      "case $p in ''|*[!0-9]*) p=0 ;; esac; "
      "if [ \"$p\" -gt 1 ] && ours \"$1\" \"$2\"; then "
      "kill -TERM \"$p\"; i=0; while ours \"$1\" \"$2\" && [ $i -lt 50 ]; do "
      "sleep 0.1; i=$((i+1)); done; fi; rm -f \"$f\"",
      {dir, node});
  c.idempotent = true;
  return c;
}

std::string heal_node(Session& s, bool root, const std::string& dir) {
  heal_verified(s, loss_chain(), root);
  heal_verified(s, delay_chain(), root);
  s.run_checked(privileged(stop_delayer_command(dir, s.node()), root));
  s.run_checked(privileged(tc_heal_command(), root));
  return "packet faults removed";
}

class PacketNemesis : public Nemesis {
 public:
  explicit PacketNemesis(PacketOptions o) : o_(std::move(o)) {}

  void setup(const NemesisContext& ctx) override {
    if (!ctx.remote) {
      throw ConfigError(
          "nemesis 'packet' needs nodes reached over SSH; this database runs in-process");
    }
    std::mutex mu;
    auto wants = [&](const char* f) {
      return std::find(o_.faults.begin(), o_.faults.end(), f) != o_.faults.end();
    };
    bool want_delay = wants("delay");
    bool want_tc = wants("rate") || wants("duplicate") || wants("reorder");
    bool want_netem = wants("duplicate") || wants("reorder");
    auto errors = for_each_node(*ctx.remote, ctx.nodes, [&](Session& s) {
      NodeFacts f = probe_node(s);
      {
        std::lock_guard<std::mutex> lock(mu);
        facts_[s.node()] = f;
      }
      heal_node(s, f.root, o_.dir);
      if (want_delay) build_delayer(s, f.root);
      if (want_tc) {
        std::string have = s.run_checked(privileged(tc_probe_command(), f.root)).out;
        if (have.find("tbf") == std::string::npos) {
          throw ConfigError("packet fault 'rate': node " + s.node() +
                            " has no tc with htb and tbf (install iproute2), or its "
                            "kernel lacks sch_htb / sch_tbf; leave 'rate' out of faults");
        }
        if (want_netem && have.find("netem") == std::string::npos) {
          throw ConfigError(
              "packet faults 'duplicate'/'reorder' need tc netem, and node " + s.node() +
              "'s kernel has no sch_netem (no mechanism here can duplicate or reorder "
              "packets); leave them out of faults on this cluster");
        }
      }
    });
    if (!errors.empty()) throw std::runtime_error("packet setup: " + describe_errors(errors));
    for (const auto& n : ctx.nodes) addresses_[n] = facts_[n].address;
  }

  Completion invoke(const NemesisContext& ctx, const Op& op) override {
    if (op.f == "stop-packet") {
      heal(ctx);
      return Completion::ok("packet faults removed");
    }
    if (op.f != "start-packet") return Completion::info("packet: unknown op " + op.f);
    heal(ctx);
    std::string fault = op.value.value("fault", std::string());
    auto nodes = op.value.value("nodes", ctx.nodes);
    auto errors = for_each_node(*ctx.remote, nodes, [&](Session& s) {
      std::vector<std::string> peers;
      for (const auto& [n, a] : addresses_) {
        if (n == s.node()) continue;
        if (o_.between == "dcs" && o_.dcs.at(n) == o_.dcs.at(s.node())) continue;  // same site
        peers.push_back(a);
      }
      bool root = facts_.at(s.node()).root;
      if (fault == "loss") {
        s.run_checked(privileged(loss_command(peers, op.value.value("loss", o_.loss)), root));
      } else if (fault == "delay") {
        std::string bin = o_.dir + "/nfqdelay-" + s.node();
        s.run_checked(privileged(
            Command::shell("setsid nohup \"$1\" \"$2\" \"$3\" \"$4\" >\"$1.log\" 2>&1 </dev/null "
                           "& echo $! > \"$5\"",
                           {bin, std::to_string(o_.queue),
                            std::to_string(op.value.value("delay-ms", o_.delay_ms)),
                            std::to_string(op.value.value("jitter-ms", o_.jitter_ms)),
                            o_.dir + "/nfqdelay-" + s.node() + ".pid"}),
            root));
        s.run_checked(privileged(delay_command(peers, o_.queue), root));
      } else if (fault == "rate") {
        s.run_checked(privileged(tc_fault_command({"tbf", "rate", op.value.value("rate", o_.rate),
                                                   "burst", "32kbit", "latency", "400ms"},
                                                  peers),
                                 root));
      } else if (fault == "duplicate") {
        s.run_checked(privileged(
            tc_fault_command({"netem", "duplicate", pct(op.value.value("duplicate", o_.duplicate))},
                             peers),
            root));
      } else if (fault == "reorder") {
        s.run_checked(privileged(
            tc_fault_command(
                {"netem", "delay", std::to_string(op.value.value("delay-ms", o_.delay_ms)) + "ms",
                 "reorder", pct(op.value.value("reorder", o_.reorder)), "50%"},
                peers),
            root));
      } else {
        throw ConfigError("packet: unknown fault '" + fault + "'");
      }
    });
    if (!errors.empty()) throw std::runtime_error(describe_errors(errors));
    Json v = op.value;
    v["between"] = o_.between;
    v["mechanism"] = fault == "loss"    ? "iptables-statistic"
                     : fault == "delay" ? "nfqueue-delayer"
                     : fault == "rate"  ? "tc-tbf"
                                        : "tc-netem";
    return Completion::ok(v);
  }

  void teardown(const NemesisContext& ctx) override {
    if (ctx.remote) heal(ctx);
  }

  std::set<std::string> fs() const override { return {"start-packet", "stop-packet"}; }

 private:
  void build_delayer(Session& s, bool root) {
    // The source goes up as stdin; the node compiles it, or says what it lacks.
    Command c = Command::shell(
        "command -v gcc >/dev/null || { echo 'no gcc' >&2; exit 3; }; "
        "[ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || "
        "{ echo 'no libnetfilter-queue-dev' >&2; exit 3; }; fl_private_dir \"$1\" 755 || exit 4; "
        "cat > \"$1/nfqdelay-$2.c\" && gcc -O2 -o \"$1/nfqdelay-$2\" \"$1/nfqdelay-$2.c\" "
        "-lnetfilter_queue",
        {o_.dir, s.node()});
    c.argv[2] = kPrivateDirShell + c.argv[2];
    c.with_stdin(std::string(delayer_source()));
    ExecResult r = s.exec(privileged(c, root));
    if (r.exit_status == 4) {
      throw ConfigError("packet fault 'delay': node " + s.node() + ": " + r.err +
                        " (nemesis-options.packet.dir)");
    }
    if (!r.ok()) {
      throw ConfigError(
          "packet fault 'delay': node " + s.node() +
          " has no tc netem and cannot build the NFQUEUE delayer (" + r.err +
          "); install gcc and libnetfilter-queue-dev there, or leave 'delay' out of faults");
    }
  }

  void heal(const NemesisContext& ctx) {
    auto errors = for_each_node(*ctx.remote, ctx.nodes, [&](Session& s) {
      auto it = facts_.find(s.node());
      heal_node(s, it == facts_.end() || it->second.root, o_.dir);
    });
    if (!errors.empty()) throw std::runtime_error("heal packet: " + describe_errors(errors));
  }

  PacketOptions o_;
  std::map<std::string, NodeFacts> facts_;
  std::map<std::string, std::string> addresses_;
};

const OptionDecls kPacketOptions = {
    {"faults", Json::array({"loss", "delay"}), "from loss, delay, rate, duplicate, reorder"},
    {"loss", 0.2, "share of packets dropped"},
    {"delay-ms", 50, "added delay"},
    {"jitter-ms", 10, "random part of the delay"},
    {"queue", 7, "NFQUEUE number of the delayer"},
    {"rate", "1mbit", "tc rate limit"},
    {"duplicate", 0.05, "share of packets duplicated (netem)"},
    {"reorder", 0.25, "share of packets reordered (netem)"},
    {"dir", kDefaultDir, "where the delayer is built and runs on the node"},
    {"between", "nodes",
     "nodes (every link) | dcs (only links between the inventory's data centres)"},
};

NemesisPackage make_packet(const NemesisOptions& no) {
  const std::string where = "nemesis-options/packet";
  const Options opts(no.options, kPacketOptions, where);
  require_remote_db(no, "packet");
  PacketOptions o;
  try {
    o.faults = no.options.value("faults", o.faults);
    o.loss = no.options.value("loss", o.loss);
    o.delay_ms = no.options.value("delay-ms", o.delay_ms);
    o.jitter_ms = no.options.value("jitter-ms", o.jitter_ms);
    o.queue = no.options.value("queue", o.queue);
    o.dir = no.options.value("dir", o.dir);
    o.rate = no.options.value("rate", o.rate);
    o.duplicate = no.options.value("duplicate", o.duplicate);
    o.reorder = no.options.value("reorder", o.reorder);
    o.between = opts.text("between", {"nodes", "dcs"});
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(where + ": " + e.what());
  }
  if (o.faults.empty()) throw ConfigError(where + "/faults: empty");
  if (o.between == "dcs") {
    std::set<std::string> seen;
    for (const auto& n : no.nodes) {
      auto it = no.dcs.find(n);
      if (it == no.dcs.end()) {
        std::string msg = where;
        msg += "/between: dcs needs the data centre of every node (\"dc\" in the inventory); ";
        msg += n + " has none";
        throw ConfigError(msg);
      }
      seen.insert(it->second);
    }
    if (seen.size() < 2) {
      throw ConfigError(where + "/between: dcs needs nodes in 2 data centres or more");
    }
    o.dcs = no.dcs;
  }
  for (const auto& f : o.faults) {
    if (f != "loss" && f != "delay" && f != "rate" && f != "duplicate" && f != "reorder") {
      throw ConfigError(where + "/faults: unknown fault '" + f +
                        "' (loss, delay, rate, duplicate, reorder)");
    }
  }
  static const std::regex rate_re("[0-9]+(\\.[0-9]+)?([kmg]?bit|[kmg]?bps)");
  if (!std::regex_match(o.rate, rate_re)) {
    throw ConfigError(where + "/rate: a tc rate such as \"1mbit\" or \"500kbit\"");
  }
  if (!(o.duplicate > 0 && o.duplicate <= 1) || !(o.reorder > 0 && o.reorder <= 1)) {
    throw ConfigError(where + ": duplicate and reorder are fractions in (0, 1]");
  }
  if (!(o.loss > 0 && o.loss <= 1)) throw ConfigError(where + "/loss: in (0, 1]");
  if (o.delay_ms <= 0 || o.jitter_ms < 0 || o.jitter_ms > o.delay_ms) {
    throw ConfigError(where + ": need delay-ms > 0 and 0 <= jitter-ms <= delay-ms");
  }
  check_dir_option(o.dir, where + "/dir");
  NemesisPackage p;
  p.name = "packet";
  std::vector<std::string> nodes = no.nodes;
  p.generator = start_stop_cycle(
      no.interval_ns,
      [o, nodes](const GenContext& ctx) {
        const std::string& f = o.faults[ctx.random->uniform(o.faults.size())];
        Json v = {{"fault", f}, {"nodes", nodes}};
        if (f == "loss")
          v["loss"] = o.loss;
        else if (f == "delay")
          v["delay-ms"] = o.delay_ms, v["jitter-ms"] = o.jitter_ms;
        else if (f == "rate")
          v["rate"] = o.rate;
        else if (f == "duplicate")
          v["duplicate"] = o.duplicate;
        else
          v["reorder"] = o.reorder, v["delay-ms"] = o.delay_ms;
        return OpTemplate{"start-packet", v};
      },
      [](const GenContext&) {
        return OpTemplate{"stop-packet", nullptr};
      });
  p.final_generator = once(OpTemplate{"stop-packet", nullptr});
  auto wants = [&](const char* f) {
    return std::find(o.faults.begin(), o.faults.end(), f) != o.faults.end();
  };
  // Every fault hooks our chains (heal included), so iptables always; the rest per fault.
  p.node_checks.push_back(tool_check("iptables", "packet faults use chains of their own"));
  if (wants("delay")) {
    p.node_checks.push_back(
        {"delayer build",
         "command -v gcc >/dev/null || { echo 'no gcc'; exit 1; }; "
         "[ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || "
         "{ echo 'no libnetfilter-queue-dev (its header)'; exit 1; }; gcc --version | head -n 1",
         {},
         "install gcc and libnetfilter-queue-dev: the delay fault builds its NFQUEUE delayer "
         "on the node; or leave 'delay' out of faults",
         true});
  }
  if (wants("rate") || wants("duplicate") || wants("reorder")) {
    p.node_checks.push_back({"tc",
                             "command -v tc >/dev/null || { echo 'no tc'; exit 1; }; tc -V",
                             {},
                             "install iproute2 (rate, duplicate and reorder use tc)",
                             true});
  }
  if (wants("duplicate") || wants("reorder")) {
    p.node_checks.push_back(
        {"netem",
         "modinfo sch_netem >/dev/null 2>&1 || "
         "grep -qs '/sch_netem.ko' \"/lib/modules/$(uname -r)/modules.builtin\" || "
         "{ echo \"kernel $(uname -r) has no sch_netem\"; exit 1; }; echo 'sch_netem present'",
         {},
         "duplicate and reorder need the kernel's netem (sch_netem); leave them out of faults "
         "on this cluster",
         true});
  }
  p.nemesis = std::make_unique<PacketNemesis>(o);
  p.colour = "#d7bde2";
  return p;
}

const bool registered = [] {
  NemesisRegistry::add("nemesis", "packet",
                       "packet faults between database nodes: loss (iptables statistic), delay "
                       "(NFQUEUE delayer built on the node), rate (tc tbf), duplicate and "
                       "reorder (tc netem, where the kernel has it)",
                       make_packet, kPacketOptions);
  NodeHealerRegistry::add("healer", "packet",
                          "removes FAULTLINE-LOSS/-DELAY chains, our tc qdisc, and stops the "
                          "delayer",
                          [](Session& s, const NodeHealContext& ctx) {
                            NodeFacts f = probe_node(s);
                            // The run's dir (its delayer's pid file) and the default one.
                            std::set<std::string> dirs = {PacketOptions{}.dir};
                            if (ctx.options.is_object() && ctx.options.contains("dir") &&
                                ctx.options["dir"].is_string()) {
                              dirs.insert(ctx.options["dir"].get<std::string>());
                            }
                            std::string did;
                            for (const auto& dir : dirs) did = heal_node(s, f.root, dir);
                            return did;
                          });
  return true;
}();

}  // namespace
}  // namespace faultline::nemeses
