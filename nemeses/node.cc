#include "nemeses/node.h"

#include <fstream>
#include <future>
#include <sstream>

namespace faultline::nemeses {

NodeFacts probe_node(Session& session) {
  Command probe = Command::shell(
      "printf '%s\\n' \"$SSH_CONNECTION\"; id -u; cat /proc/sys/kernel/random/boot_id");
  probe.idempotent = true;
  ExecResult r = session.run_checked(probe);
  std::istringstream in(r.out);
  std::string conn, uid, boot;
  std::getline(in, conn);
  std::getline(in, uid);
  std::getline(in, boot);
  NodeFacts f;
  f.node = session.node();
  std::istringstream c(conn);
  std::string client_port, server_port;
  c >> f.controller >> client_port >> f.address >> server_port;
  f.root = uid == "0";
  f.boot_id = boot;
  if (uid.empty()) {
    throw CommandFailed(session.node(), probe, {1, r.out, "cannot read the node's user id"});
  }
  return f;
}

Command privileged(Command command, bool root) {
  if (!root) command.as_sudo();
  return command;
}

std::map<std::string, std::string> for_each_node(Remote& remote,
                                                 const std::vector<std::string>& nodes,
                                                 const std::function<void(Session&)>& fn) {
  std::map<std::string, std::future<void>> running;
  for (const auto& n : nodes) {
    running[n] = std::async(std::launch::async, [&remote, &fn, n] {
      auto s = remote.session(n);
      fn(*s);
    });
  }
  std::map<std::string, std::string> errors;
  for (auto& [n, f] : running) {
    try {
      f.get();
    } catch (const std::exception& e) {
      errors[n] = e.what();
    }
  }
  return errors;
}

std::string describe_errors(const std::map<std::string, std::string>& errors) {
  std::string out;
  for (const auto& [n, e] : errors) {
    std::string what = e.rfind("node " + n + ":", 0) == 0 ? e : "node " + n + ": " + e;
    out += (out.empty() ? "" : "; ") + what;
  }
  return out;
}

std::string local_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace faultline::nemeses

#include "harness/errors.h"
#include "harness/nemesis.h"

namespace faultline::nemeses {

void require_remote_db(const NemesisOptions& options, const std::string& name) {
  if (options.db && !options.db->default_nodes().empty()) {
    throw ConfigError("nemesis '" + name + "' needs nodes reached over SSH; database '" +
                      options.db->name() + "' runs in-process");
  }
}

}  // namespace faultline::nemeses
