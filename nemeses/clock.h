// Clock skew (clock.cc): the commands the clock nemesis issues, for tests and for `faultline
// heal`. See clock.cc for the mechanisms and the package.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness/command.h"
#include "harness/db.h"
#include "harness/op.h"
#include "harness/remote.h"
#include "nemeses/node.h"

namespace faultline::nemeses {

// libfaketime's offset text for `offset_ms`: seconds with a sign and 3 decimals ("-0.011").
std::string faketime_offset_text(double offset_ms);
// Writes the offset file at `path` atomically (temp file, rename), creating its directory.
Command write_faketime_command(const std::string& path, double offset_ms);
// Steps the system clock by `delta_ms` (GNU date; needs root). `faultline heal` uses it: it
// needs nothing built on the node.
Command step_clock_command(double delta_ms);
// clockstep (nemeses/clockstep/clockstep.c), the system mechanism's helper: its path in `dir`
// (named after its source's tag, nemeses/programs.h); the command that builds it there from the
// source on stdin unless it is there already (exit 4: `dir` is not root's alone; 3: no gcc;
// prints "built" when it built); a bump by `delta_ms`; a strobe (blocks for `duration_ms`,
// with a timeout 30 s longer).
std::string clockstep_path(const std::string& dir);
Command build_clockstep_command(const std::string& dir);
Command clockstep_bump_command(const std::string& dir, double delta_ms);
Command clockstep_strobe_command(const std::string& dir, double delta_ms, int64_t period_ms,
                                 int64_t duration_ms);
// The NTP daemons (kNtpDaemons, harness/preflight.h) would undo a skew of the system clock:
// stop_ntp_command stops those active on the node and appends their names to kNtpStoppedFile
// (printing "stopped: NAMES"); restore_ntp_command starts every daemon that file names and removes
// it (printing "started: NAMES"; nothing when there is no file). Both need root; both are
// idempotent.
inline constexpr const char* kNtpStoppedFile = "/var/lib/faultline/clock-ntp-stopped";
Command stop_ntp_command();
Command restore_ntp_command();
// <dir>/<node>.rc
std::string faketime_path(const std::string& dir, const std::string& node);

// How the database's processes must run for the faketime mechanism with offset files in
// `dir` (what the "clock" DbContextHook puts in DbContext::launch unless mechanism is
// "system"): LD_PRELOAD=libfaketimeMT.so.1, FAKETIME_TIMESTAMP_FILE=<dir>/{node}.rc (written
// "+0.000" when missing), FAKETIME_NO_CACHE=1 (a bump is seen at once),
// FAKETIME_DONT_FAKE_MONOTONIC=1 (timeouts keep real time).
LaunchEnv faketime_launch_env(const std::string& dir);

// The node's system clock against ours (`date +%s.%N` over the session, against the midpoint
// of our clock around it): offset in ms, and the round trip it was measured with.
struct ClockMeasurement {
  double offset_ms = 0;
  double rtt_ms = 0;
};
ClockMeasurement measure_clock(Session& session);

// What a run's clock nemesis may have left on the nodes' clocks, read from its history: each
// completed bump/strobe/reset carries {"mechanism", "offsets-ms"}; a clock op without a
// completion (the controller died during it) or whose completion has no offsets (it failed
// part-way) leaves each node it touched at its offset before or the one it was moving to.
struct ClockHealPlan {
  std::string mechanism;  // "system" or "faketime" as completions said; "" when none did
  bool any_clock_op = false;
  // node -> the offsets (ms from true time) its clock may be at; a node absent is at 0.
  std::map<std::string, std::set<double>> offsets_ms;
};
ClockHealPlan clock_heal_plan(const std::vector<Op>& history);

// Heals one node's system clock after a run of `plan` (used by `faultline heal`): measures the
// node's clock and, when it sits within `tolerance_ms` (plus the round trip) of one offset the
// run may have left, steps it back by that offset and measures again. Idempotent: a clock
// already at true time is left alone. Returns what it did ("" for nothing); throws
// std::runtime_error when the clock is off by an amount the run did not set (it is not
// touched) or shares this machine's clock (it cannot be measured), saying what to do.
std::string heal_system_clock(Session& session, const ClockHealPlan& plan, const NodeFacts& facts,
                              double tolerance_ms = 500);

}  // namespace faultline::nemeses
