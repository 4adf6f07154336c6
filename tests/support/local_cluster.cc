#include "tests/support/local_cluster.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace faultline::testing {

bool keep_cluster() { return std::getenv("FAULTLINE_KEEP_CLUSTER") != nullptr; }

LocalTestCluster::LocalTestCluster(std::string cluster_name, std::string subnet, int node_count)
    : name(std::move(cluster_name)) {
  LocalClusterOptions o;
  o.name = name;
  o.subnet = std::move(subnet);
  o.nodes = node_count;
  std::ostringstream log;
  inv = provisioner->up(o, log);
  remote = make_ssh_remote(inv);
  nodes = inv.names();
}

LocalTestCluster::~LocalTestCluster() {
  remote.reset();
  if (keep_cluster()) return;
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

}  // namespace faultline::testing
