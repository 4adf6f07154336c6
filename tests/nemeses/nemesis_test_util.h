// Helpers for the nemesis unit tests: a FakeRemote whose nodes answer the node probe.
#pragma once

#include <string>
#include <vector>

#include "harness/nemesis.h"
#include "tests/support/fake_session.h"

namespace faultline::testing {

// Nodes n1..nN at 10.0.0.1I, controller 10.0.0.1, root, one boot id (`boot`) for all.
inline std::unique_ptr<FakeRemote> probing_remote(int n, const std::string& boot = "b-1") {
  std::vector<std::string> nodes;
  for (int i = 1; i <= n; ++i) nodes.push_back("n" + std::to_string(i));
  auto r = std::make_unique<FakeRemote>(nodes);
  for (int i = 1; i <= n; ++i) {
    std::string addr = "10.0.0.1" + std::to_string(i);
    r->script("n" + std::to_string(i)).fallback = [addr, boot](const Command& c) {
      ExecResult res;
      if (c.argv.size() > 2 && c.argv[2].find("SSH_CONNECTION") != std::string::npos) {
        res.out = "10.0.0.1 40000 " + addr + " 22\n0\n" + boot + "\n";
      }
      return res;
    };
  }
  return r;
}

// The commands node `node` ran, as command lines, without the probe.
inline std::vector<std::string> ran(FakeRemote& r, const std::string& node) {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(r.script(node).mu);
  for (const auto& c : r.script(node).commands) {
    std::string line = command_line(c);
    if (line.find("SSH_CONNECTION") != std::string::npos) continue;
    out.push_back(line);
  }
  return out;
}

inline void forget(FakeRemote& r, const std::vector<std::string>& nodes) {
  for (const auto& n : nodes) {
    std::lock_guard<std::mutex> lock(r.script(n).mu);
    r.script(n).commands.clear();
  }
}

inline Op nemesis_op(const std::string& f, Json value = nullptr) {
  Op op;
  op.process = kNemesisProcess;
  op.f = f;
  op.value = std::move(value);
  return op;
}

}  // namespace faultline::testing
