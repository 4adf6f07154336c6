#include "harness/control/preflight.h"

#include <cmath>
#include <cstdio>
#include <future>
#include <map>
#include <sstream>

namespace faultline::control {

namespace {

using SysClock = std::chrono::system_clock;

double unix_seconds(SysClock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Runs each (script, args) pair given as "$1" "$2", "$3" "$4", ...: args joined by \037, split
// again by IFS with globbing off; each check in its own sh, stdin closed, at most 20 s. Prints
// "@@INDEX STATUS FIRST-LINE" per check.
const char* const kRunner =
    "us=$(printf '\\037'); i=0\n"
    "while [ $# -ge 2 ]; do\n"
    "  s=$1; a=$2; shift 2\n"
    "  out=$(IFS=$us; set -f; timeout 20 sh -c \"$s\" sh $a 2>&1 </dev/null); st=$?\n"
    "  printf '@@%s %s %s\\n' \"$i\" \"$st\" \"$(printf '%s\\n' \"$out\" | grep -m1 . )\"\n"
    "  i=$((i+1))\n"
    "done\n";

std::string first_line(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
  }
  return "";
}

void check_one_node(Session& s, const std::vector<NodeCheck>& checks,
                    std::vector<CheckOutcome>& out) {
  const std::string node = s.node();
  auto add = [&](const std::string& check, CheckStatus st, const std::string& detail,
                 const std::string& fix = "") {
    out.push_back({node, check, st, detail, fix});
  };
  // Facts: the user, and the node's clock read between two of ours.
  Command facts = Command::shell("id -u; date +%s.%N");
  facts.idempotent = true;
  auto t0 = SysClock::now();
  ExecResult f = s.run_checked(facts);
  auto t1 = SysClock::now();
  std::istringstream fin(f.out);
  std::string uid, node_time;
  std::getline(fin, uid);
  std::getline(fin, node_time);
  const bool root = uid == "0";
  try {
    double mid = (unix_seconds(t0) + unix_seconds(t1)) / 2;
    double offset = std::stod(node_time) - mid;
    double bound = std::chrono::duration<double>(t1 - t0).count() / 2;
    char buf[128];
    std::snprintf(buf, sizeof buf, "offset %+.3f s to the controller (+-%.3f s)", offset, bound);
    if (std::fabs(offset) > 1.0 + bound) {
      add("clock", CheckStatus::kWarning, buf,
          "synchronise the clocks (NTP) before a test that compares timestamps");
    } else {
      add("clock", CheckStatus::kOk, buf);
    }
  } catch (const std::exception&) {
    add("clock", CheckStatus::kWarning, "cannot read the node's clock (GNU date +%s.%N)",
        "install GNU coreutils");
  }
  if (!root) {
    Command sudo = Command::shell("sudo -n true 2>&1");
    sudo.idempotent = true;
    ExecResult r = s.exec(sudo);
    if (!r.ok()) {
      add("sudo -n", CheckStatus::kProblem,
          "user id " + uid + " and sudo asks for a password: " + first_line(r.out + r.err),
          "connect as root, or give the SSH user passwordless sudo (NOPASSWD); the other "
          "checks need root and were skipped");
      return;
    }
    add("sudo -n", CheckStatus::kOk, "user id " + uid + ", passwordless sudo");
  }
  std::vector<std::string> args;
  for (const auto& c : checks) {
    std::string joined;
    for (size_t i = 0; i < c.args.size(); ++i) {
      if (c.args[i].find('\037') != std::string::npos) {
        throw std::logic_error("node check '" + c.name + "': an argument holds \\037");
      }
      joined += (i == 0 ? "" : "\037") + c.args[i];
    }
    args.push_back(c.script);
    args.push_back(joined);
  }
  Command run = Command::shell(kRunner, args);
  run.idempotent = true;
  if (!root) run.as_sudo();
  ExecResult r = s.exec(run);
  std::map<size_t, std::pair<int, std::string>> answers;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("@@", 0) != 0) continue;
    std::istringstream words(line.substr(2));
    size_t index = 0;
    int status = 0;
    if (!(words >> index >> status)) continue;
    std::string detail;
    std::getline(words, detail);
    if (!detail.empty() && detail[0] == ' ') detail.erase(0, 1);
    answers[index] = {status, detail};
  }
  for (size_t i = 0; i < checks.size(); ++i) {
    const NodeCheck& c = checks[i];
    auto it = answers.find(i);
    if (it == answers.end()) {
      add(c.name, c.required ? CheckStatus::kProblem : CheckStatus::kWarning,
          "no answer (the check runner stopped: " + first_line(r.err) + ")", c.fix);
      continue;
    }
    auto [status, detail] = it->second;
    if (status == 124) {
      std::string what = "timed out after 20 s";
      if (!detail.empty()) what += ": " + detail;
      detail = what;
    }
    if (status == 0) {
      add(c.name, CheckStatus::kOk, detail);
    } else if (status == 3 || !c.required) {
      add(c.name, CheckStatus::kWarning, detail, c.fix);
    } else {
      add(c.name, CheckStatus::kProblem, detail, c.fix);
    }
  }
}

}  // namespace

int PreflightResult::problems() const {
  int n = 0;
  for (const auto& o : outcomes) n += o.status == CheckStatus::kProblem ? 1 : 0;
  return n;
}

int PreflightResult::warnings() const {
  int n = 0;
  for (const auto& o : outcomes) n += o.status == CheckStatus::kWarning ? 1 : 0;
  return n;
}

std::string PreflightResult::text(bool verbose) const {
  std::string s;
  std::map<std::string, int> nodes;
  for (const auto& o : outcomes) {
    ++nodes[o.node];
    if (o.status == CheckStatus::kOk && !verbose) continue;
    const char* label = o.status == CheckStatus::kOk        ? "ok     "
                        : o.status == CheckStatus::kWarning ? "warning"
                                                            : "problem";
    s += std::string(label) + " " + o.node + ": " + o.check + ": " + o.detail;
    if (o.status != CheckStatus::kOk && !o.fix.empty()) s += "; fix: " + o.fix;
    s += "\n";
  }
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "preflight: %zu nodes, %zu checks: %d problem%s, %d warning%s in %.2f s\n",
                nodes.size(), outcomes.size(), problems(), problems() == 1 ? "" : "s", warnings(),
                warnings() == 1 ? "" : "s", seconds);
  return s + buf;
}

std::vector<NodeCheck> base_checks() {
  std::vector<NodeCheck> c;
  c.push_back({"os",
               ". /etc/os-release 2>/dev/null; echo \"${PRETTY_NAME:-unknown OS}, kernel $(uname "
               "-r), $(nproc) cpus\"",
               {},
               "",
               false});
  c.push_back({"disk",
               "k=$(df -Pk /var/lib 2>/dev/null | awk 'NR == 2 { print $4 }'); "
               "[ -n \"$k\" ] || { echo 'cannot read the free space under /var/lib'; exit 1; }; "
               "echo \"$((k / 1024)) MiB free under /var/lib\"; "
               "[ \"$k\" -ge 262144 ] || exit 1; [ \"$k\" -ge 2097152 ] || exit 3",
               {},
               "free space under /var/lib (256 MiB at least, 2 GiB advised)",
               true});
  c.push_back({"ntp",
               "a=''; for s in $1; do "
               "systemctl is-active --quiet \"$s\" 2>/dev/null && a=\"$a $s\"; done; "
               "if [ -n \"$a\" ]; then echo \"NTP daemons active:$a\"; "
               "else echo 'no NTP daemon active'; fi",
               {kNtpDaemons},
               "",
               false});
  return c;
}

PreflightResult run_preflight(Remote& remote, const std::vector<std::string>& nodes,
                              const std::vector<NodeCheck>& checks) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<NodeCheck> all = base_checks();
  all.insert(all.end(), checks.begin(), checks.end());
  std::vector<std::future<std::vector<CheckOutcome>>> running;
  running.reserve(nodes.size());
  for (const auto& node : nodes) {
    running.push_back(std::async(std::launch::async, [&remote, &all, node] {
      std::vector<CheckOutcome> out;
      try {
        auto s = remote.session(node);
        check_one_node(*s, all, out);
      } catch (const std::logic_error&) {
        throw;
      } catch (const std::exception& e) {
        out.push_back({node, "ssh", CheckStatus::kProblem, e.what(),
                       "check the node's address, the SSH user and key, and that its sshd runs "
                       "(`faultline cluster status` for the local cluster); the other checks "
                       "were skipped"});
      }
      return out;
    }));
  }
  PreflightResult result;
  for (auto& r : running) {
    auto part = r.get();
    result.outcomes.insert(result.outcomes.end(), part.begin(), part.end());
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace faultline::control
