// A real local cluster for integration tests (network namespaces with sshd, see
// harness/control/inventory.h), brought up by the constructor and torn down by the destructor
// however the test leaves, plus a guard that tears a database down. Needs root: tests start with
// FAULTLINE_REQUIRE_ROOT(). FAULTLINE_KEEP_CLUSTER=1 leaves the cluster (and databases guarded
// by DbGuard) running for inspection.
//
// Shared per group: when FAULTLINE_SHARED_CLUSTER names this cluster and it is up with the same
// subnet and node count (tests/CMakeLists.txt brings it up in a CTest fixture for a group of
// tests and takes it down after them), the constructor attaches to it instead, after a reset
// (LocalClusterProvisioner::reset: every process but sshd stopped, iptables rules and qdiscs
// gone), and the destructor resets it again rather than taking it down. The reset at the start
// keeps tests independent even after one that crashed; what a test left behind is printed.
#pragma once

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "harness/control/inventory.h"
#include "harness/db.h"
#include "harness/remote.h"

namespace faultline::testing {

class LocalTestCluster {
 public:
  LocalTestCluster(std::string name, std::string subnet, int nodes = 3);
  ~LocalTestCluster();
  LocalTestCluster(const LocalTestCluster&) = delete;
  LocalTestCluster& operator=(const LocalTestCluster&) = delete;

  // A database context over this cluster: its nodes, hosts and SSH remote; log lines go to
  // stderr, indented.
  DbContext db_context(const std::string& test_name) const;

  const std::string name;
  std::unique_ptr<control::LocalClusterProvisioner> provisioner =
      control::make_local_cluster_provisioner();
  control::Inventory inv;
  std::shared_ptr<Remote> remote;
  std::vector<std::string> nodes;
  bool shared = false;  // attached to the group's cluster (see above)
};

// Tears `db` down when the scope is left, however it is left; a failure is printed, not thrown.
struct DbGuard {
  Db& db;
  const DbContext& ctx;
  ~DbGuard();
};

bool keep_cluster();  // FAULTLINE_KEEP_CLUSTER is set

// The processes alive now, by pid, with their command lines (NUL bytes kept) and working
// directories ("" where unreadable). Tolerates processes that exit while /proc is read: a race
// that, with a throwing std::filesystem iterator, once failed a CI run.
struct ProcessInfo {
  int pid = 0;
  std::string cmdline;
  std::string cwd;
};
std::vector<ProcessInfo> processes();

}  // namespace faultline::testing

#define FAULTLINE_REQUIRE_ROOT()                        \
  if (::geteuid() != 0) {                               \
    WARN("SKIPPED: the local cluster tests need root"); \
    return;                                             \
  }
