// Helpers for the nemesis unit tests: a FakeRemote whose nodes answer the node probe, and a
// local replay of an iptables script against a recording stub.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness/control/local_exec.h"
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

// Runs `cmd` locally with a stub `tool` (iptables, ip6tables) that logs its arguments, one call
// a line; `-C` and `-S` fail (no hook, no chain) unless `chain_exists`, and `-D` succeeds
// `hooks` times. REQUIRES the command to succeed.
inline std::vector<std::string> iptables_calls(Command cmd, bool chain_exists, int hooks = 0,
                                               const std::string& tool = "iptables") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("fl-ipt-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / tool) << "#!/bin/sh\n"
                            << "echo \"$*\" >> " << (dir / "log").string() << "\n"
                            << "case \"$2\" in\n"
                            << "  -C) exit 1;;\n"
                            << "  -S) " << (chain_exists ? "exit 0" : "exit 1") << ";;\n"
                            << "  -D) n=$(cat " << (dir / "hooks").string()
                            << "); [ \"$n\" -gt 0 ] || exit 1; echo $((n-1)) > "
                            << (dir / "hooks").string() << ";;\n"
                            << "esac\nexit 0\n";
  std::ofstream(dir / "hooks") << hooks << "\n";
  fs::permissions(dir / tool, fs::perms::owner_all);
  cmd.with_env("PATH", dir.string() + ":/usr/bin:/bin");
  auto s = control::make_local_session();
  ExecResult r = s->exec(cmd);
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  std::vector<std::string> out;
  std::ifstream in(dir / "log");
  for (std::string line; std::getline(in, line);) out.push_back(line);
  fs::remove_all(dir);
  return out;
}

inline Op nemesis_op(const std::string& f, Json value = nullptr) {
  Op op;
  op.process = kNemesisProcess;
  op.f = f;
  op.value = std::move(value);
  return op;
}

}  // namespace faultline::testing
