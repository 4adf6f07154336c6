#include "tests/support/local_cluster.h"

#include <dirent.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "harness/control/ssh.h"

namespace faultline::testing {

bool keep_cluster() { return std::getenv("FAULTLINE_KEEP_CLUSTER") != nullptr; }

LocalTestCluster::LocalTestCluster(std::string cluster_name, std::string subnet, int node_count)
    : name(std::move(cluster_name)) {
  control::LocalClusterOptions o;
  o.name = name;
  o.subnet = std::move(subnet);
  o.nodes = node_count;
  const char* shared_name = std::getenv("FAULTLINE_SHARED_CLUSTER");
  if (shared_name != nullptr && name == shared_name) {
    // (Not status(): its reachability probe leaves sshd children the reset would then stop.)
    std::optional<control::Inventory> up = provisioner->inventory(name);
    const std::string prefix = o.subnet.substr(0, o.subnet.rfind('.') + 1);  // "10.77.214."
    bool same = up && static_cast<int>(up->nodes.size()) == node_count;
    for (const auto& n : same ? up->nodes : std::vector<control::NodeSpec>{}) {
      same = same && n.host.rfind(prefix, 0) == 0;
    }
    if (same) {
      for (const auto& line : provisioner->reset(name)) {
        std::cerr << "shared cluster " << name << ": reset before the test: " << line << "\n";
      }
      inv = *up;
      shared = true;
    } else {
      std::cerr << "shared cluster " << name << ": not up as expected; bringing up our own\n";
    }
  }
  if (!shared) {
    std::ostringstream log;
    inv = provisioner->up(o, log);
  }
  remote = control::make_ssh_remote(inv);
  nodes = inv.names();
}

LocalTestCluster::~LocalTestCluster() {
  remote.reset();
  if (keep_cluster()) return;
  if (shared) {
    try {
      for (const auto& line : provisioner->reset(name)) {
        std::cerr << "shared cluster " << name << ": the test left behind: " << line << "\n";
      }
    } catch (const std::exception& e) {
      std::cerr << "cluster guard: reset of " << name << " failed: " << e.what() << "\n";
    }
    return;
  }
  try {
    std::ostringstream log;
    provisioner->down(name, log);  // also stops whatever a test left running on the nodes
  } catch (const std::exception& e) {
    std::cerr << "cluster guard: down of " << name << " failed: " << e.what() << "\n";
  }
}

DbContext LocalTestCluster::db_context(const std::string& test_name) const {
  DbContext ctx;
  ctx.test_name = test_name;
  ctx.nodes = nodes;
  ctx.remote = remote.get();
  for (const auto& n : inv.nodes) ctx.hosts[n.name] = n.host;
  ctx.log = [](const std::string& line) { std::cerr << "  " << line << "\n"; };
  return ctx;
}

DbGuard::~DbGuard() {
  if (keep_cluster()) return;
  try {
    db.teardown(ctx);
  } catch (const std::exception& e) {
    std::cerr << "db guard: teardown failed: " << e.what() << "\n";
  }
}

std::vector<ProcessInfo> processes() {
  std::vector<int> pids;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      pids.push_back(std::stoi(name));
    }
    ::closedir(d);
  }
  std::vector<ProcessInfo> out;
  for (int pid : pids) {
    std::string base = "/proc/" + std::to_string(pid);
    std::ifstream in(base + "/cmdline", std::ios::binary);
    if (!in) continue;  // gone
    ProcessInfo p;
    p.pid = pid;
    p.cmdline.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    std::error_code ec;
    p.cwd = std::filesystem::read_symlink(base + "/cwd", ec).string();
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace faultline::testing
