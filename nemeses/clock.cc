// Clock skew: "clock" nemesis package.
//
// Two mechanisms, chosen per test (option "mechanism", default "auto"):
//   faketime  for nodes sharing one kernel clock (the local cluster): the database processes
//             run under libfaketime (LD_PRELOAD=libfaketimeMT.so.1,
//             FAKETIME_TIMESTAMP_FILE=<faketime-dir>/<node>.rc, FAKETIME_NO_CACHE=1,
//             FAKETIME_DONT_FAKE_MONOTONIC=1), and the nemesis rewrites that file (atomically,
//             by rename) with the node's offset in seconds ("+1.500", "-0.011"). This fakes the
//             wall-clock calls (time, gettimeofday, clock_gettime(CLOCK_REALTIME...)) of every
//             process started with that environment; CLOCK_MONOTONIC stays real, so timeouts
//             keep working. Processes started without the environment (sshd, our probes) see
//             the real clock.
//   system    for real hosts: sets the system clock with clockstep (nemeses/clockstep/clockstep.c),
//             a small C program uploaded and compiled on each node at setup (gcc; as root or
//             via sudo -n; cached by its source's hash in helper-dir). A bump is one
//             clock_settime; a strobe runs on the node itself, flipping the clock every period
//             against CLOCK_MONOTONIC and putting it back at the end (also when interrupted),
//             so no round trip to the controller sits between two flips. Setup stops the NTP
//             daemons (kNtpDaemons) and teardown starts them again. reset steps back by the
//             offset this nemesis applied.
// auto picks faketime when two nodes, or a node and the controller, share a boot id (one
// kernel, one clock), and system otherwise.
//
// Options (nemesis-options.clock): mechanism, faketime-dir ("/run/faultline/faketime"),
// helper-dir ("/var/lib/faultline/clock": where clockstep is built; root's alone),
// min-ms (10) and max-ms (60000): the range of |bump| (log-uniform, random sign; a database
// that is ClockSensitive (harness/db.h) gives its own defaults), strobe-period-ms (50),
// strobe-duration-ms (1000), bump-share (0.55) and strobe-share (0.2): the shares of the
// changes that are bumps and strobes, the rest being resets.
// Ops: bump-clock {node: delta-ms}; strobe-clock {"nodes", "delta-ms", "period-ms",
// "duration-ms"} (flips between the offset and offset + delta, ends on the offset);
// reset-clock; check-clock-offsets. Each completes with {"mechanism", "offsets-ms": {node:
// ms}} (check-clock-offsets: as read from the nodes). The generator makes one change every
// nemesis-interval, and a change holds until the next (bumps add up, kept within +-max-ms on
// every node): skews stay long enough to matter. Final: reset.
#include "nemeses/clock.h"

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/nemesis.h"
#include "harness/options.h"
#include "harness/secure_dir.h"
#include "nemeses/node.h"
#include "nemeses/programs.h"

namespace faultline::nemeses {

std::string faketime_offset_text(double offset_ms) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%+.3f", offset_ms / 1000.0);
  return buf;
}

Command write_faketime_command(const std::string& path, double offset_ms) {
  // The directory is root's alone (harness/secure_dir.h): every faked process reads its clock
  // from this file, and a user who could replace it would set their clocks.
  Command c = Command::shell(
      std::string(kPrivateDirShell) +
          "fl_private_dir \"$(dirname \"$2\")\" 755 && printf '%s\\n' \"$1\" > \"$2.tmp\" && "
          "chmod 644 \"$2.tmp\" && mv -f \"$2.tmp\" \"$2\"",
      {faketime_offset_text(offset_ms), path});
  c.idempotent = true;
  return c;
}

Command stop_ntp_command() {
  Command c = Command::shell(
      "a=''; for s in $2; do "
      "if systemctl is-active --quiet \"$s\" 2>/dev/null; then "
      "systemctl stop \"$s\" || exit 1; a=\"$a $s\"; fi; done; "
      "[ -n \"$a\" ] || exit 0; mkdir -p \"$(dirname \"$1\")\" && "
      "printf '%s\\n' $a >> \"$1\" && echo \"stopped:$a\"",
      {kNtpStoppedFile, kNtpDaemons});
  c.idempotent = true;
  return c;
}

Command restore_ntp_command() {
  Command c = Command::shell(
      "[ -f \"$1\" ] || exit 0; a=''; for s in $(sort -u \"$1\"); do "
      "systemctl start \"$s\" || exit 1; a=\"$a $s\"; done; rm -f \"$1\"; "
      "[ -z \"$a\" ] || echo \"started:$a\"",
      {kNtpStoppedFile});
  c.idempotent = true;
  return c;
}

Command step_clock_command(double delta_ms) {
  char d[64];
  std::snprintf(d, sizeof d, "%.3f", delta_ms);
  return Command::shell(
      "t=$(date +%s.%N) && n=$(awk -v t=\"$t\" -v d=\"$1\" 'BEGIN { printf \"%.6f\", t + d / "
      "1000 }') && date -s \"@$n\" >/dev/null",
      {d});
}

std::string clockstep_path(const std::string& dir) {
  return dir + "/clockstep-" + source_tag(clockstep_source());
}

Command build_clockstep_command(const std::string& dir) {
  // The directory is checked (and made) root's alone first: root runs what it holds.
  Command c = Command::shell(
      std::string(kPrivateDirShell) +
          "fl_private_dir \"$(dirname \"$1\")\" 755 || exit 4; [ -x \"$1\" ] && exit 0; "
          "command -v gcc >/dev/null || { echo 'no gcc' >&2; exit 3; }; "
          "cat > \"$1.c\" && gcc -O2 -o \"$1.tmp\" \"$1.c\" -lm && mv -f \"$1.tmp\" \"$1\" && "
          "echo built",
      {clockstep_path(dir)});
  c.with_stdin(std::string(clockstep_source()));
  c.idempotent = true;
  return c;
}

namespace {
std::string ms_arg(double ms) {
  char d[64];
  std::snprintf(d, sizeof d, "%.3f", ms);
  return d;
}
}  // namespace

Command clockstep_bump_command(const std::string& dir, double delta_ms) {
  return Command{clockstep_path(dir), "bump", ms_arg(delta_ms)};
}

Command clockstep_strobe_command(const std::string& dir, double delta_ms, int64_t period_ms,
                                 int64_t duration_ms) {
  Command c{clockstep_path(dir), "strobe", ms_arg(delta_ms), std::to_string(period_ms),
            std::to_string(duration_ms)};
  // The strobe blocks for its duration; the session's default timeout may be shorter.
  c.with_timeout(std::chrono::milliseconds(duration_ms + 30000));
  return c;
}

namespace {
const char* const kLibfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
}  // namespace

std::string faketime_path(const std::string& dir, const std::string& node) {
  return dir + "/" + node + ".rc";
}

LaunchEnv faketime_launch_env(const std::string& dir) {
  LaunchEnv l;
  const std::string rc = faketime_path(dir, "{node}");
  l.env = {{"LD_PRELOAD", kLibfaketime},
           {"FAKETIME_TIMESTAMP_FILE", rc},
           {"FAKETIME_NO_CACHE", "1"},
           {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}};
  l.files = {{rc, "+0.000\n"}};
  l.why = "libfaketime (nemesis clock, " + dir + ")";
  return l;
}

namespace {

int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string ms_text(double ms) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f ms", ms);
  return b;
}

}  // namespace

ClockMeasurement measure_clock(Session& session) {
  Command date{"date", "+%s.%N"};
  date.idempotent = true;  // reading the clock again is harmless
  int64_t t0 = now_unix_ns();
  ExecResult r = session.run_checked(date);
  int64_t t1 = now_unix_ns();
  double node_s = 0;
  try {
    node_s = std::stod(r.out);
  } catch (const std::exception&) {
    throw CommandFailed(session.node(), date, {1, r.out, "cannot read the node's clock"});
  }
  ClockMeasurement m;
  m.offset_ms = (node_s * 1e9 - static_cast<double>(t0 + (t1 - t0) / 2)) / 1e6;
  m.offset_ms = std::round(m.offset_ms * 1000) / 1000;
  m.rtt_ms = static_cast<double>(t1 - t0) / 1e6;
  return m;
}

ClockHealPlan clock_heal_plan(const std::vector<Op>& history) {
  static const std::set<std::string> kMoves = {"bump-clock", "strobe-clock", "reset-clock"};
  ClockHealPlan plan;
  auto& cur = plan.offsets_ms;
  auto at = [&](const std::string& n) -> std::set<double>& {
    auto& s = cur[n];
    if (s.empty()) s.insert(0);
    return s;
  };
  // A clock op that may have moved `moved` (node -> delta; nullopt delta: to 0) part-way.
  auto uncertain = [&](const Op& inv) {
    if (inv.f == "reset-clock") {
      for (auto& [n, s] : cur) s.insert(0);
      return;
    }
    std::map<std::string, double> delta;
    if (inv.f == "bump-clock" && inv.value.is_object()) {
      for (const auto& [n, d] : inv.value.items()) {
        if (d.is_number()) delta[n] = d.get<double>();
      }
    } else if (inv.f == "strobe-clock" && inv.value.is_object()) {
      double d = inv.value.value("delta-ms", 0.0);
      for (const auto& n : inv.value.value("nodes", std::vector<std::string>())) delta[n] = d;
    }
    for (const auto& [n, d] : delta) {
      std::set<double>& s = at(n);
      std::set<double> moved;
      for (double o : s) moved.insert(o + d);
      s.insert(moved.begin(), moved.end());
    }
  };
  std::map<std::string, Op> open;  // f -> its invocation (the nemesis runs one op at a time)
  for (const Op& op : history) {
    if (!op.is_nemesis() || !kMoves.count(op.f)) continue;
    plan.any_clock_op = true;
    auto it = open.find(op.f);
    if (it == open.end()) {
      open.emplace(op.f, op);
      continue;
    }
    Op inv = std::move(it->second);
    open.erase(it);
    const Json& v = op.value;
    if (v.is_object() && v.contains("offsets-ms") && v["offsets-ms"].is_object()) {
      plan.mechanism = v.value("mechanism", plan.mechanism);
      for (const auto& [n, o] : v["offsets-ms"].items()) {
        if (o.is_number()) cur[n] = {o.get<double>()};
      }
    } else {
      uncertain(inv);
    }
  }
  for (const auto& [f, inv] : open) uncertain(inv);  // cut off by the controller's death
  for (auto it = cur.begin(); it != cur.end();) {
    it = it->second == std::set<double>{0} ? cur.erase(it) : std::next(it);
  }
  return plan;
}

std::string heal_system_clock(Session& session, const ClockHealPlan& plan, const NodeFacts& facts,
                              double tolerance_ms) {
  auto it = plan.offsets_ms.find(session.node());
  if (it == plan.offsets_ms.end()) return "";  // the run left this clock at true time
  std::set<double> candidates = it->second;
  candidates.insert(0);
  std::string expected;
  for (double c : it->second) expected += (expected.empty() ? "" : ", ") + ms_text(c);
  std::string local = local_boot_id();
  if (!local.empty() && facts.boot_id == local) {
    throw std::runtime_error(
        "system clock: the run may have left it off by " + expected +
        ", but it is this machine's clock too, so it cannot be measured from here; step it "
        "back by hand (date -s), or start NTP");
  }
  ClockMeasurement m = measure_clock(session);
  double best = 0;
  for (double c : candidates) {
    if (std::abs(m.offset_ms - c) < std::abs(m.offset_ms - best)) best = c;
  }
  const double slack = tolerance_ms + m.rtt_ms;
  if (std::abs(m.offset_ms - best) > slack) {
    throw std::runtime_error("system clock is " + ms_text(m.offset_ms) +
                             " off ours, which is not an offset this run left (it may have left " +
                             expected + "); not stepped: set it by hand, or start NTP");
  }
  if (best == 0) return "";  // already at true time (healed before, or the op never landed)
  session.run_checked(privileged(step_clock_command(-best), facts.root));
  ClockMeasurement after = measure_clock(session);
  if (std::abs(after.offset_ms) > tolerance_ms + after.rtt_ms) {
    throw std::runtime_error("system clock stepped back by " + ms_text(best) + " but is still " +
                             ms_text(after.offset_ms) + " off ours; set it by hand, or start NTP");
  }
  return "system clock stepped back by " + ms_text(best) + " (it was " + ms_text(m.offset_ms) +
         " off)";
}

namespace {

struct ClockOptions {
  std::string mechanism = "auto";
  std::string dir = "/run/faultline/faketime";
  std::string helper_dir = "/var/lib/faultline/clock";
  double min_ms = 10, max_ms = 60000;
  int64_t period_ms = 50, duration_ms = 1000;
  double bump_share = 0.55, strobe_share = 0.2;  // the rest: resets
};

class ClockNemesis : public Nemesis {
 public:
  explicit ClockNemesis(ClockOptions o) : o_(std::move(o)) {}

  void setup(const NemesisContext& ctx) override {
    Remote& remote = need_remote(ctx);
    std::mutex mu;
    auto errors = for_each_node(remote, ctx.nodes, [&](Session& s) {
      NodeFacts f = probe_node(s);
      std::lock_guard<std::mutex> lock(mu);
      facts_[s.node()] = f;
    });
    if (!errors.empty()) throw std::runtime_error("clock setup: " + describe_errors(errors));
    mechanism_ = o_.mechanism;
    if (mechanism_ == "auto") {
      std::set<std::string> boots;
      bool shared = false;
      std::string local = local_boot_id();
      for (const auto& [n, f] : facts_) {
        if (!boots.insert(f.boot_id).second || (!local.empty() && f.boot_id == local)) {
          shared = true;
        }
      }
      mechanism_ = shared ? "faketime" : "system";
    }
    for (const auto& n : ctx.nodes) offset_ms_[n] = 0;
    if (mechanism_ == "faketime") reset(ctx, ctx.nodes);  // the files exist from now on
    if (mechanism_ == "system") {
      build_helper(ctx);
      ntp(ctx, stop_ntp_command(), "clock setup");
    }
  }

  Completion invoke(const NemesisContext& ctx, const Op& op) override {
    if (op.f == "bump-clock") {
      std::map<std::string, double> target;
      for (const auto& [n, d] : op.value.items()) target[n] = offset_ms_.at(n) + d.get<double>();
      set(ctx, target);
    } else if (op.f == "strobe-clock") {
      auto nodes = op.value.value("nodes", std::vector<std::string>());
      double delta = op.value.value("delta-ms", 100.0);
      auto period = std::chrono::milliseconds(op.value.value("period-ms", o_.period_ms));
      auto until = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(op.value.value("duration-ms", o_.duration_ms));
      std::map<std::string, double> base, flipped;
      for (const auto& n : nodes) {
        base[n] = offset_ms_.at(n);
        flipped[n] = base[n] + delta;
      }
      if (mechanism_ == "system") {
        // Each node strobes its own clock and ends at its offset before (base).
        auto errors = for_each_node(need_remote(ctx), nodes, [&](Session& s) {
          s.run_checked(
              privileged(clockstep_strobe_command(o_.helper_dir, delta,
                                                  op.value.value("period-ms", o_.period_ms),
                                                  op.value.value("duration-ms", o_.duration_ms)),
                         root_on(s.node())));
        });
        if (!errors.empty()) throw std::runtime_error("clock: " + describe_errors(errors));
        return Completion::ok({{"mechanism", mechanism_}, {"offsets-ms", offsets_json()}});
      }
      bool up = false;
      while (std::chrono::steady_clock::now() < until) {
        up = !up;
        set(ctx, up ? flipped : base);
        std::this_thread::sleep_for(period);
      }
      set(ctx, base);
    } else if (op.f == "reset-clock") {
      reset(ctx, ctx.nodes);
    } else if (op.f == "check-clock-offsets") {
      return Completion::ok({{"mechanism", mechanism_}, {"offsets-ms", measure(ctx)}});
    } else {
      return Completion::info("clock: unknown op " + op.f);
    }
    return Completion::ok({{"mechanism", mechanism_}, {"offsets-ms", offsets_json()}});
  }

  void teardown(const NemesisContext& ctx) override {
    if (!ctx.remote || mechanism_.empty()) return;
    reset(ctx, ctx.nodes);
    if (mechanism_ == "system") ntp(ctx, restore_ntp_command(), "clock teardown");
  }

  std::set<std::string> fs() const override {
    return {"bump-clock", "strobe-clock", "reset-clock", "check-clock-offsets"};
  }

 private:
  static Remote& need_remote(const NemesisContext& ctx) {
    if (!ctx.remote) {
      throw ConfigError(
          "nemesis 'clock' needs nodes reached over SSH; this database runs in-process");
    }
    return *ctx.remote;
  }

  Json offsets_json() const {
    Json j = Json::object();
    for (const auto& [n, v] : offset_ms_) j[n] = v;
    return j;
  }

  // Moves each node of `target` to its offset (ms from true time).
  void set(const NemesisContext& ctx, const std::map<std::string, double>& target) {
    std::vector<std::string> nodes;
    for (const auto& [n, v] : target) nodes.push_back(n);
    std::mutex mu;
    auto errors = for_each_node(need_remote(ctx), nodes, [&](Session& s) {
      const std::string& n = s.node();
      double want = target.at(n);
      bool root = root_on(n);
      double have;
      {
        std::lock_guard<std::mutex> lock(mu);
        have = offset_ms_.at(n);
      }
      if (mechanism_ == "faketime") {
        s.run_checked(privileged(write_faketime_command(faketime_path(o_.dir, n), want), root));
      } else {
        if (want != have) {
          s.run_checked(privileged(clockstep_bump_command(o_.helper_dir, want - have), root));
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      offset_ms_[n] = want;
    });
    if (!errors.empty()) throw std::runtime_error("clock: " + describe_errors(errors));
  }

  bool root_on(const std::string& node) const {
    auto it = facts_.find(node);
    return it == facts_.end() || it->second.root;
  }

  // Uploads clockstep's source to every node and builds it there (once per source version).
  void build_helper(const NemesisContext& ctx) {
    auto errors = for_each_node(need_remote(ctx), ctx.nodes, [&](Session& s) {
      ExecResult r = s.exec(privileged(build_clockstep_command(o_.helper_dir), root_on(s.node())));
      if (r.exit_status == 4) {
        throw ConfigError("clock: node " + s.node() + ": " + first_line(r.err) +
                          " (nemesis-options.clock.helper-dir)");
      }
      if (!r.ok()) {
        throw ConfigError("clock: node " + s.node() + " cannot build clockstep, the helper that " +
                          "sets its clock (" + first_line(r.err.empty() ? r.out : r.err) +
                          "); install gcc there");
      }
    });
    if (!errors.empty()) throw std::runtime_error("clock setup: " + describe_errors(errors));
  }

  // Stops or restores the NTP daemons on every node (system clock only), logging what it did.
  void ntp(const NemesisContext& ctx, const Command& command, const std::string& what) {
    std::mutex mu;
    std::vector<std::string> lines;
    auto errors = for_each_node(need_remote(ctx), ctx.nodes, [&](Session& s) {
      ExecResult r = s.run_checked(privileged(command, facts_.at(s.node()).root));
      std::string out = r.out.substr(0, r.out.find('\n'));
      if (out.empty()) return;
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back("clock: " + s.node() + ": NTP daemons " + out);
    });
    if (ctx.db_ctx && ctx.db_ctx->log) {
      for (const auto& l : lines) ctx.db_ctx->log(l);
    }
    if (!errors.empty()) throw std::runtime_error(what + ": NTP: " + describe_errors(errors));
  }

  void reset(const NemesisContext& ctx, const std::vector<std::string>& nodes) {
    std::map<std::string, double> zero;
    for (const auto& n : nodes) zero[n] = 0;
    set(ctx, zero);
  }

  // Offsets as the nodes show them: the faketime file, or the node's clock against ours.
  Json measure(const NemesisContext& ctx) {
    Json out = Json::object();
    std::mutex mu;
    auto errors = for_each_node(need_remote(ctx), ctx.nodes, [&](Session& s) {
      double ms;
      if (mechanism_ == "faketime") {
        ExecResult r = s.run_checked(Command{"cat", faketime_path(o_.dir, s.node())});
        ms = std::stod(r.out) * 1000.0;
      } else {
        ms = measure_clock(s).offset_ms;
      }
      std::lock_guard<std::mutex> lock(mu);
      out[s.node()] = ms;
    });
    if (!errors.empty()) throw std::runtime_error("clock: " + describe_errors(errors));
    return out;
  }

  ClockOptions o_;
  std::string mechanism_;
  std::map<std::string, NodeFacts> facts_;
  std::map<std::string, double> offset_ms_;
};

const OptionDecls kClockOptions = {
    {"mechanism", "auto", "auto | faketime (libfaketime offset files) | system (set the clock)"},
    {"faketime-dir", "/run/faultline/faketime", "where the per-node offset files live"},
    {"helper-dir", "/var/lib/faultline/clock",
     "system mechanism: where clockstep is built on each node (root's alone)"},
    {"min-ms", nullptr, "smallest change (default: the database's ClockSensitive range, else 10)"},
    {"max-ms", nullptr,
     "largest change and offset (default: the database's ClockSensitive range, else 60000)"},
    {"strobe-period-ms", 50, "a strobe flips the offset every this many ms"},
    {"strobe-duration-ms", 1000, "how long a strobe lasts"},
    {"bump-share", 0.55, "share of the changes that are bumps (held until the next change)"},
    {"strobe-share", 0.2, "share of the changes that are strobes (the rest are resets)"},
};

NemesisPackage make_clock(const NemesisOptions& no) {
  const std::string where = "nemesis-options/clock";
  const Json& j = no.options;
  const Options opts(j, kClockOptions, where);
  require_remote_db(no, "clock");
  ClockOptions o;
  try {
    o.mechanism = j.value("mechanism", o.mechanism);
    o.dir = j.value("faketime-dir", o.dir);
    o.helper_dir = j.value("helper-dir", o.helper_dir);
    if (no.db) {
      if (const auto* cs = capability<ClockSensitive>(*no.db)) {
        ClockSkews k = cs->clock_skews();
        o.min_ms = k.min_ms;
        o.max_ms = k.max_ms;
      }
    }
    o.min_ms = j.value("min-ms", o.min_ms);
    o.max_ms = j.value("max-ms", o.max_ms);
    o.bump_share = j.value("bump-share", o.bump_share);
    o.strobe_share = j.value("strobe-share", o.strobe_share);
    o.period_ms = j.value("strobe-period-ms", o.period_ms);
    o.duration_ms = j.value("strobe-duration-ms", o.duration_ms);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(where + ": " + e.what());
  }
  if (o.mechanism != "auto" && o.mechanism != "faketime" && o.mechanism != "system") {
    throw ConfigError(where + "/mechanism: one of auto, faketime, system");
  }
  if (!(o.min_ms > 0 && o.max_ms >= o.min_ms)) {
    throw ConfigError(where + ": need 0 < min-ms <= max-ms");
  }
  if (!(o.bump_share >= 0 && o.strobe_share >= 0 && o.bump_share + o.strobe_share <= 1)) {
    throw ConfigError(where +
                      ": bump-share and strobe-share are >= 0 and sum to at most 1 "
                      "(the rest of the changes are resets)");
  }
  if (o.period_ms <= 0 || o.duration_ms < 0 || o.dir.empty() || o.dir[0] != '/') {
    throw ConfigError(where + ": strobe period > 0, duration >= 0, absolute dir");
  }
  try {
    check_dir_option(o.helper_dir, where + "/helper-dir");
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
  NemesisPackage p;
  p.name = "clock";
  std::vector<std::string> nodes = no.nodes;
  // Held offsets: every interval one change (a bump that stays until the next change, a strobe
  // around the current offsets, or a reset), as Jepsen's clock generator does; the generator
  // tracks the offsets it asked for so no node drifts past max-ms.
  auto offsets = std::make_shared<std::map<std::string, double>>();
  auto change = [o, nodes, offsets](const GenContext& ctx) {
    Random& r = *ctx.random;
    auto magnitude = [&] {
      return std::round(
          std::exp(std::log(o.min_ms) + r.unit() * (std::log(o.max_ms) - std::log(o.min_ms))));
    };
    // A random non-empty subset of the nodes.
    std::vector<std::string> some;
    for (const auto& n : nodes) {
      if (r.chance(0.5)) some.push_back(n);
    }
    if (some.empty()) some.push_back(nodes[r.uniform(nodes.size())]);
    const double pick = r.unit();
    if (pick < o.bump_share) {
      Json v = Json::object();
      for (const auto& n : some) {
        double d = magnitude();
        if (r.chance(0.5)) d = -d;
        double& cur = (*offsets)[n];
        if (std::abs(cur + d) > o.max_ms) d = -d;  // |cur| <= max and |d| <= max: now in range
        cur += d;
        v[n] = d;
      }
      return OpTemplate{"bump-clock", v};
    }
    if (pick < o.bump_share + o.strobe_share) {
      return OpTemplate{"strobe-clock",
                        {{"nodes", some},
                         {"delta-ms", r.chance(0.5) ? magnitude() : -magnitude()},
                         {"period-ms", o.period_ms},
                         {"duration-ms", o.duration_ms}}};
    }
    offsets->clear();
    return OpTemplate{"reset-clock", nullptr};
  };
  p.generator = cycle([interval = no.interval_ns, change] {
    std::vector<GenPtr> steps;
    steps.push_back(sleep(interval));
    steps.push_back(limit(1, repeat_fn(change)));
    return phases(std::move(steps));
  });
  p.final_generator = once(OpTemplate{"reset-clock", nullptr});
  // auto picks faketime on nodes sharing a kernel and system elsewhere: libfaketime is then
  // checked as a warning.
  if (o.mechanism != "system") {
    p.node_checks.push_back({"libfaketime",
                             "[ -f \"$1\" ] || { echo \"no $1\"; exit 1; }; echo \"$1\"",
                             {kLibfaketime},
                             "install the faketime package (the clock nemesis runs the "
                             "database under libfaketime on nodes that share one kernel)",
                             o.mechanism == "faketime"});
  }
  if (o.mechanism == "system") {
    p.node_checks.push_back(
        {"clock setting",
         "command -v gcc >/dev/null || { echo 'no gcc: clockstep cannot be built'; exit 1; }; "
         "a=''; for s in $1; do "
         "systemctl is-active --quiet \"$s\" 2>/dev/null && a=\"$a $s\"; done; "
         "[ -z \"$a\" ] || { echo \"NTP daemons active:$a: stopped for the test, started "
         "after\"; exit 3; }; echo 'gcc, no NTP daemon active'",
         {kNtpDaemons},
         "install gcc (the clock nemesis builds clockstep, its clock-setting helper, on each "
         "node); the NTP daemons it stops for the test and starts again at the end",
         true});
  }
  p.nemesis = std::make_unique<ClockNemesis>(o);
  p.colour = "#a9dfbf";
  return p;
}

const bool registered = [] {
  NemesisRegistry::add("nemesis", "clock",
                       "clock skew: bump, strobe, reset, check offsets (libfaketime offset files "
                       "on the local cluster, the system clock on real hosts)",
                       make_clock, kClockOptions);
  NodeHealerRegistry::add(
      "healer", "clock",
      "resets the node's libfaketime offset file to +0 (the run's faketime-dir); on real hosts, "
      "steps the system clock back by the offset the run's history says it left",
      [](Session& s, const NodeHealContext& ctx) {
        NodeFacts f = probe_node(s);
        std::vector<std::string> did;
        std::set<std::string> dirs = {ClockOptions{}.dir};
        if (ctx.options.is_object() && ctx.options.contains("faketime-dir") &&
            ctx.options["faketime-dir"].is_string()) {
          dirs.insert(ctx.options["faketime-dir"].get<std::string>());
        }
        for (const auto& dir : dirs) {
          std::string path = faketime_path(dir, s.node());
          Command exists{"test", "-e", path};
          exists.idempotent = true;
          if (s.exec(exists).exit_status != 0) continue;
          s.run_checked(privileged(write_faketime_command(path, 0), f.root));
          did.push_back("faketime offset reset (" + path + ")");
        }
        const std::string mech =
            ctx.options.is_object() ? ctx.options.value("mechanism", std::string()) : "";
        // Under "auto" a node sharing our kernel ran faketime: its system clock is ours.
        const bool shares_our_clock = !f.boot_id.empty() && f.boot_id == local_boot_id();
        const bool maybe_system = mech == "system" || (mech != "faketime" && !shares_our_clock);
        if (ctx.history) {
          ClockHealPlan plan = clock_heal_plan(*ctx.history);
          if (plan.any_clock_op &&
              (plan.mechanism == "system" || (plan.mechanism.empty() && maybe_system))) {
            std::string r = heal_system_clock(s, plan, f);
            if (!r.empty()) did.push_back(r);
          }
        } else if (ctx.in_run && maybe_system) {
          throw std::runtime_error(
              "the run's history cannot be read, so the system-clock offsets it set are "
              "unknown; check the node's clock (date) and set it by hand, or start NTP");
        }
        if (maybe_system) {  // NTP daemons a system-clock run stopped
          ExecResult r = s.run_checked(privileged(restore_ntp_command(), f.root));
          std::string started = r.out.substr(0, r.out.find('\n'));
          if (!started.empty()) did.push_back("NTP daemons " + started);
        }
        std::string out;
        for (const auto& d : did) out += (out.empty() ? "" : "; ") + d;
        return out;
      });
  // The database's processes run under libfaketime unless the mechanism is "system" (under
  // "auto" too: which one auto picks is known only at the nemesis's setup, after the
  // database's; libfaketime at offset 0 changes nothing).
  DbContextHookRegistry::add(
      "db-hook", "clock", "database processes start under libfaketime (unless mechanism: system)",
      [](const Json& options, DbContext& ctx) {
        const Json o = options.is_object() ? options : Json::object();
        try {
          if (o.value("mechanism", ClockOptions{}.mechanism) == "system") return;
          LaunchEnv l = faketime_launch_env(o.value("faketime-dir", ClockOptions{}.dir));
          ctx.launch.env.insert(l.env.begin(), l.env.end());
          ctx.launch.files.insert(l.files.begin(), l.files.end());
          ctx.launch.why += (ctx.launch.why.empty() ? "" : ", ") + l.why;
        } catch (const nlohmann::json::exception& e) {
          throw ConfigError(std::string("nemesis-options/clock: ") + e.what());
        }
      });
  return true;
}();

}  // namespace
}  // namespace faultline::nemeses
