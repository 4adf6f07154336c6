// Packet faults on inter-node traffic only: "packet" nemesis package.
//
// Mechanisms, probed per node at setup and recorded in every completion:
//   loss   iptables `-m statistic --mode random --probability P -j DROP` for packets from the
//          other database nodes, in our own chain FAULTLINE-LOSS (hooked from INPUT);
//   delay  an NFQUEUE delayer (C, ~50 lines, below) compiled on the node with gcc and
//          libnetfilter-queue-dev, holding packets to the other nodes (chain FAULTLINE-DELAY,
//          hooked from OUTPUT, `--queue-bypass` so nothing is dropped when it is not running)
//          for delay ± jitter ms, FIFO. Used because this machine kind's kernel has no netem.
// A fault that no mechanism on a node can produce is refused at setup with a message naming the
// node and what is missing (duplicate, reorder and rate are refused everywhere for now: they
// need tc netem with per-destination filters, which is not written yet).
//
// Options (nemesis-options.packet): faults (["loss", "delay"]), loss (0.2), delay-ms (50),
// jitter-ms (10), queue (7: the NFQUEUE number), dir ("/tmp/faultline-nemesis": where the
// delayer is built and its pid file kept, per node).
// Ops: start-packet {"fault", "nodes", ...}, stop-packet; stop and final heal: chains removed,
// the delayer stopped (SIGTERM; it releases held packets on exit).
#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "harness/checker.h"
#include "harness/nemesis.h"
#include "nemeses/node.h"
#include "nemeses/partition.h"

namespace faultline::nemeses {
namespace {

constexpr const char* kLossChain = "FAULTLINE-LOSS";
constexpr const char* kDelayChain = "FAULTLINE-DELAY";

constexpr const char* kDelayer = R"C(/* Faultline NFQUEUE delayer: holds each queued packet DELAY_MS +/- JITTER_MS, FIFO. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#define MAXQ 65536
struct item { uint32_t id; long long due; };
static struct item q[MAXQ]; static int qh = 0, qt = 0, qn = 0;
static long long delay_us, jitter_us; static volatile sig_atomic_t stop = 0;
static long long now_us(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000; }
static void onsig(int s) { (void)s; stop = 1; }
static int cb(struct nfq_q_handle *qh_, struct nfgenmsg *m, struct nfq_data *d, void *data) {
  (void)m; (void)data;
  uint32_t id = ntohl(nfq_get_msg_packet_hdr(d)->packet_id);
  if (qn == MAXQ) return nfq_set_verdict(qh_, id, NF_ACCEPT, 0, NULL);
  long long j = jitter_us ? (random() % (2 * jitter_us + 1)) - jitter_us : 0;
  long long due = now_us() + delay_us + j;
  if (qn && due < q[(qt + MAXQ - 1) % MAXQ].due) due = q[(qt + MAXQ - 1) % MAXQ].due;
  q[qt].id = id; q[qt].due = due; qt = (qt + 1) % MAXQ; qn++; return 0;
}
int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s QUEUE DELAY_MS [JITTER_MS]\n", argv[0]); return 2; }
  int qnum = atoi(argv[1]); delay_us = atoll(argv[2]) * 1000; jitter_us = argc > 3 ? atoll(argv[3]) * 1000 : 0;
  signal(SIGTERM, onsig); signal(SIGINT, onsig);
  struct nfq_handle *h = nfq_open(); if (!h) { perror("nfq_open"); return 1; }
  struct nfq_q_handle *qhd = nfq_create_queue(h, qnum, &cb, NULL); if (!qhd) { perror("nfq_create_queue"); return 1; }
  nfq_set_mode(qhd, NFQNL_COPY_META, 0); nfq_set_queue_maxlen(qhd, 65536);
  int fd = nfq_fd(h); static char buf[65536];
  while (!stop) {
    long long t = now_us(); int timeout = 50;
    while (qn && q[qh].due <= t) { nfq_set_verdict(qhd, q[qh].id, NF_ACCEPT, 0, NULL); qh = (qh + 1) % MAXQ; qn--; }
    if (qn) { long long w = (q[qh].due - t) / 1000; timeout = w < 0 ? 0 : (w > 50 ? 50 : (int)w); }
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, timeout) > 0) { int r = recv(fd, buf, sizeof buf, 0); if (r > 0) nfq_handle_packet(h, buf, r); }
  }
  while (qn) { nfq_set_verdict(qhd, q[qh].id, NF_ACCEPT, 0, NULL); qh = (qh + 1) % MAXQ; qn--; }
  nfq_destroy_queue(qhd); nfq_close(h); return 0;
}
)C";

struct PacketOptions {
  std::vector<std::string> faults = {"loss", "delay"};
  double loss = 0.2;
  int64_t delay_ms = 50, jitter_ms = 10, queue = 7;
  std::string dir = "/tmp/faultline-nemesis";
};

Command loss_command(const std::vector<std::string>& peers, double p) {
  char prob[32];
  std::snprintf(prob, sizeof prob, "%.4f", p);
  std::vector<std::string> args = {kLossChain, prob};
  args.insert(args.end(), peers.begin(), peers.end());
  return Command::shell(
      "c=$1; p=$2; shift 2; iptables -w -N \"$c\" 2>/dev/null; "
      "iptables -w -C INPUT -j \"$c\" 2>/dev/null || iptables -w -I INPUT 1 -j \"$c\" || exit 1; "
      "iptables -w -F \"$c\" || exit 1; for a in \"$@\"; do iptables -w -A \"$c\" -s \"$a\" -m "
      "statistic --mode random --probability \"$p\" -j DROP || exit 1; done",
      args);
}

// Stops the delayer whose pid file is $1/nfqdelay-$2.pid, if it is ours, and waits for it.
Command stop_delayer_command(const std::string& dir, const std::string& node) {
  Command c = Command::shell(
      "f=\"$1/nfqdelay-$2.pid\"; [ -f \"$f\" ] || exit 0; p=$(cat \"$f\"); "
      "if [ -n \"$p\" ] && grep -q nfqdelay \"/proc/$p/cmdline\" 2>/dev/null; then "
      "kill -TERM \"$p\"; i=0; while kill -0 \"$p\" 2>/dev/null && [ $i -lt 50 ]; do "
      "sleep 0.1; i=$((i+1)); done; fi; rm -f \"$f\"",
      {dir, node});
  c.idempotent = true;
  return c;
}

std::string heal_node(Session& s, bool root, const std::string& dir) {
  s.run_checked(privileged(remove_chain_command(kLossChain, "INPUT"), root));
  s.run_checked(privileged(remove_chain_command(kDelayChain, "OUTPUT"), root));
  s.run_checked(privileged(stop_delayer_command(dir, s.node()), root));
  return "packet faults removed";
}

class PacketNemesis : public Nemesis {
 public:
  explicit PacketNemesis(PacketOptions o) : o_(std::move(o)) {}

  void setup(const NemesisContext& ctx) override {
    if (!ctx.remote) {
      throw std::invalid_argument(
          "nemesis 'packet' needs nodes reached over SSH; this database runs in-process");
    }
    std::mutex mu;
    bool want_delay =
        std::find(o_.faults.begin(), o_.faults.end(), "delay") != o_.faults.end();
    auto errors = for_each_node(*ctx.remote, ctx.nodes, [&](Session& s) {
      NodeFacts f = probe_node(s);
      {
        std::lock_guard<std::mutex> lock(mu);
        facts_[s.node()] = f;
      }
      heal_node(s, f.root, o_.dir);
      if (want_delay) build_delayer(s, f.root);
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
        if (n != s.node()) peers.push_back(a);
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
        std::vector<std::string> args = {kDelayChain, std::to_string(o_.queue)};
        args.insert(args.end(), peers.begin(), peers.end());
        s.run_checked(privileged(
            Command::shell("c=$1; q=$2; shift 2; iptables -w -N \"$c\" 2>/dev/null; "
                           "iptables -w -C OUTPUT -j \"$c\" 2>/dev/null || "
                           "iptables -w -I OUTPUT 1 -j \"$c\" || exit 1; iptables -w -F \"$c\"; "
                           "for a in \"$@\"; do iptables -w -A \"$c\" -d \"$a\" -j NFQUEUE "
                           "--queue-num \"$q\" --queue-bypass || exit 1; done",
                           args),
            root));
      } else {
        throw std::invalid_argument("packet: unknown fault '" + fault + "'");
      }
    });
    if (!errors.empty()) throw std::runtime_error(describe_errors(errors));
    Json v = op.value;
    v["mechanism"] = fault == "loss" ? "iptables-statistic" : "nfqueue-delayer";
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
        "{ echo 'no libnetfilter-queue-dev' >&2; exit 3; }; mkdir -p \"$1\" && "
        "cat > \"$1/nfqdelay-$2.c\" && gcc -O2 -o \"$1/nfqdelay-$2\" \"$1/nfqdelay-$2.c\" "
        "-lnetfilter_queue",
        {o_.dir, s.node()});
    c.with_stdin(kDelayer);
    ExecResult r = s.exec(privileged(c, root));
    if (!r.ok()) {
      throw std::invalid_argument(
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

NemesisPackage make_packet(const NemesisOptions& no) {
  const std::string where = "nemesis-options/packet";
  reject_unknown_options(no.options, {"faults", "loss", "delay-ms", "jitter-ms", "queue", "dir"},
                         where);
  require_remote_db(no, "packet");
  PacketOptions o;
  try {
    o.faults = no.options.value("faults", o.faults);
    o.loss = no.options.value("loss", o.loss);
    o.delay_ms = no.options.value("delay-ms", o.delay_ms);
    o.jitter_ms = no.options.value("jitter-ms", o.jitter_ms);
    o.queue = no.options.value("queue", o.queue);
    o.dir = no.options.value("dir", o.dir);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(where + ": " + e.what());
  }
  if (o.faults.empty()) throw std::invalid_argument(where + "/faults: empty");
  for (const auto& f : o.faults) {
    if (f == "duplicate" || f == "reorder" || f == "rate") {
      throw std::invalid_argument(where + "/faults: '" + f +
                                  "' needs tc netem with per-destination filters, which "
                                  "Faultline does not drive yet (have: loss, delay)");
    }
    if (f != "loss" && f != "delay") {
      throw std::invalid_argument(where + "/faults: unknown fault '" + f + "'");
    }
  }
  if (!(o.loss > 0 && o.loss <= 1)) throw std::invalid_argument(where + "/loss: in (0, 1]");
  if (o.delay_ms <= 0 || o.jitter_ms < 0 || o.jitter_ms > o.delay_ms) {
    throw std::invalid_argument(where + ": need delay-ms > 0 and 0 <= jitter-ms <= delay-ms");
  }
  if (o.dir.empty() || o.dir[0] != '/') throw std::invalid_argument(where + "/dir: absolute");
  NemesisPackage p;
  p.name = "packet";
  std::vector<std::string> nodes = no.nodes;
  p.generator = start_stop_cycle(
      no.interval_ns,
      [o, nodes](const GenContext& ctx) {
        const std::string& f = o.faults[ctx.random->uniform(o.faults.size())];
        Json v = {{"fault", f}, {"nodes", nodes}};
        if (f == "loss") v["loss"] = o.loss;
        else v["delay-ms"] = o.delay_ms, v["jitter-ms"] = o.jitter_ms;
        return OpTemplate{"start-packet", v};
      },
      [](const GenContext&) { return OpTemplate{"stop-packet", nullptr}; });
  p.final_generator = once(OpTemplate{"stop-packet", nullptr});
  p.nemesis = std::make_unique<PacketNemesis>(o);
  p.colour = "#d7bde2";
  return p;
}

const bool registered = [] {
  NemesisRegistry::add("nemesis", "packet",
                       "packet faults between database nodes: loss (iptables statistic), delay "
                       "(NFQUEUE delayer built on the node)",
                       make_packet);
  NodeHealerRegistry::add("healer", "packet",
                          "removes FAULTLINE-LOSS/-DELAY chains and stops the delayer",
                          [](Session& s) {
                            NodeFacts f = probe_node(s);
                            return heal_node(s, f.root, "/tmp/faultline-nemesis");
                          });
  return true;
}();

}  // namespace
}  // namespace faultline::nemeses
