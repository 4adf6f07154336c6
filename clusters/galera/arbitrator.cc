#include "clusters/galera/arbitrator.h"

#include <algorithm>

#include "clusters/common/text.h"
#include "clusters/common/wait.h"
#include "harness/errors.h"

namespace faultline::galera {

using clusters::trim;
using std::chrono::seconds;

std::vector<std::string> arbitrator_nodes(const std::vector<std::string>& nodes,
                                          const std::map<std::string, std::string>& roles,
                                          bool option) {
  std::vector<std::string> out;
  for (const auto& n : nodes) {
    auto it = roles.find(n);
    if (it != roles.end() && it->second == kArbitratorRole) out.push_back(n);
  }
  if (out.empty() && option && !nodes.empty()) out.push_back(nodes.back());
  if (!out.empty() && out.size() >= nodes.size()) {
    throw ConfigError(
        "db 'galera': every node would run the arbitrator (garbd), none would hold data: "
        "give at least one node a role other than \"arbitrator\"" +
        std::string(option && nodes.size() < 2 ? ", or run 2 nodes or more with 'arbitrator'"
                                               : ""));
  }
  return out;
}

std::string garbd_config(const std::vector<std::string>& hosts, const std::string& group,
                         const std::string& provider_options, const std::string& log) {
  std::string address;
  for (const auto& h : hosts) address += (address.empty() ? "" : ",") + h;
  std::string c = "# garbd of Faultline's galera adapter\naddress=\"gcomm://";
  c += address;
  c += "\"\ngroup=\"";
  c += group;
  c += "\"\noptions=\"";
  c += provider_options;
  c += "\"\nlog=\"";
  c += log;
  c += "\"\n";
  return c;
}

Arbitrator::Paths Arbitrator::paths(const DbContext& ctx, const std::string& node) const {
  const std::string dir = servers_.paths(ctx, node).dir;
  return {dir + "/garbd.cfg", dir + "/garbd.log", dir + "/garbd.pid", dir + "/garbd.stdout.log"};
}

clusters::Daemon Arbitrator::daemon(const Paths& p) {
  return {"garbd", kGarbd, "--cfg=" + p.cfg, p.pid, p.stdout_log};
}

void Arbitrator::write_config(const DbContext& ctx, Session& s, const std::string& node,
                              const std::string& config) const {
  servers_.write_file(ctx, s, node, paths(ctx, node).cfg, config);
}

std::string Arbitrator::launch(const DbContext& ctx, Session& s, const std::string& node) const {
  const Paths p = paths(ctx, node);
  if (running(s, p)) throw RemoteError(node, "garbd already runs (" + p.pid + ")");
  // Written by the launch, as root, into the node's directory (mysql's): garbd writes none.
  std::string pid = trim(s.run_checked(daemon(p).launch({kGarbd, "--cfg=" + p.cfg}, "mysql",
                                                        /*write_pid_file=*/true))
                             .out);
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) {
    throw RemoteError(node, "starting garbd printed no pid ('" + pid + "')");
  }
  return pid;
}

bool Arbitrator::running(Session& s, const Paths& p) { return s.exec(daemon(p).running()).ok(); }

void Arbitrator::stop(Session& s, const std::string& node, const Paths& p, const std::string& sig) {
  ExecResult r = s.exec(daemon(p).stop(sig, seconds(20), seconds(10)));
  if (r.exit_status == 4) throw RemoteError(node, "garbd did not exit within 20 s of SIG" + sig);
  if (!r.ok()) throw RemoteError(node, "stopping garbd failed: " + mariadb::tail(r.err));
}

void Arbitrator::signal(Session& s, const std::string& node, const Paths& p,
                        const std::string& sig) {
  ExecResult r = s.exec(daemon(p).signal(sig));
  if (r.exit_status == 3) {
    throw RemoteError(
        node, "garbd is not running (" + p.pid + " is missing or does not name this node's garbd)");
  }
  if (!r.ok()) throw RemoteError(node, "kill -" + sig + " garbd failed: " + mariadb::tail(r.err));
}

std::string Arbitrator::log_tail(Session& s, const Paths& p, int lines) {
  std::string out = clusters::log_tail(s, p.log, lines, "Failed to establish connection");
  std::string err = trim(clusters::log_tail(s, p.stdout_log, 5));
  if (!err.empty()) out += "\n" + p.stdout_log + ":\n" + err;
  return out;
}

}  // namespace faultline::galera
