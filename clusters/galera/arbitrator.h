// Galera's arbitrator, garbd (Debian galera-arbitrator-4), as `--db galera` runs it on the nodes
// chosen by arbitrator_nodes(): a member of the group that votes in quorum decisions and
// relays messages but stores nothing and serves no client, so two data nodes and one garbd
// keep a primary component when either data node is cut off. It lives in the node's directory
// of mariadb::Servers (<dir>/<node>-<host>/garbd.cfg, garbd.log, garbd.pid), runs as mysql in
// its own session, and is signalled only through a pid file that names this node's garbd
// (recognised by its --cfg argument; clusters/common/daemon.h).
//
// Thread safety: an Arbitrator is immutable; its methods may run for many nodes at once (one
// Session each).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "clusters/common/daemon.h"
#include "clusters/mariadb/server.h"
#include "harness/db.h"
#include "harness/remote.h"

namespace faultline::galera {

inline constexpr const char* kGarbd = "/usr/bin/garbd";
inline constexpr const char* kArbitratorRole = "arbitrator";

// The nodes that run garbd instead of mariadbd: those whose inventory role is "arbitrator";
// when none has that role and `option` (db-option `arbitrator`) is set, the last node. Throws
// ConfigError when fewer than one node would be left to hold data.
std::vector<std::string> arbitrator_nodes(const std::vector<std::string>& nodes,
                                          const std::map<std::string, std::string>& roles,
                                          bool option);

// garbd's configuration file (garbd --cfg): the group's address (gcomm://host,...), the group
// name, the provider options (evs timeouts, gmcast.segment) and its log file.
std::string garbd_config(const std::vector<std::string>& hosts, const std::string& group,
                         const std::string& provider_options, const std::string& log);

class Arbitrator {
 public:
  struct Paths {
    std::string cfg, log, pid, stdout_log;
  };

  explicit Arbitrator(const mariadb::Servers& servers) : servers_(servers) {}

  Paths paths(const DbContext& ctx, const std::string& node) const;
  static clusters::Daemon daemon(const Paths& p);

  // Makes the node's directory and writes garbd.cfg (`config`, from garbd_config).
  void write_config(const DbContext& ctx, Session& s, const std::string& node,
                    const std::string& config) const;
  // Starts garbd in the background as mysql; returns its pid. Throws RemoteError when one of
  // this node's still runs or the launch printed no pid.
  std::string launch(const DbContext& ctx, Session& s, const std::string& node) const;
  static bool running(Session& s, const Paths& p);
  // SIGCONT and `sig` to the pid file's garbd, SIGKILL after 10 s, waits until it is gone. A
  // node where none runs is fine.
  static void stop(Session& s, const std::string& node, const Paths& p, const std::string& sig);
  // kill -SIG to the pid file's garbd; throws RemoteError when it does not run.
  static void signal(Session& s, const std::string& node, const Paths& p, const std::string& sig);
  // The last `lines` lines of garbd's log, for messages.
  static std::string log_tail(Session& s, const Paths& p, int lines = 15);

 private:
  const mariadb::Servers& servers_;
};

}  // namespace faultline::galera
