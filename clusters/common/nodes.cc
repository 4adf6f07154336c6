#include "clusters/common/nodes.h"

#include <exception>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness/errors.h"

namespace faultline::clusters {

void on_every_node(const std::vector<std::string>& nodes,
                   const std::function<void(const std::string& node, size_t index)>& fn) {
  std::vector<std::string> errors(nodes.size());
  std::vector<std::thread> threads;
  threads.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        fn(nodes[i], i);
      } catch (const std::exception& e) {
        const std::string what = e.what();
        errors[i] =
            what.find(nodes[i]) == std::string::npos ? "node " + nodes[i] + ": " + what : what;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::string all;
  for (const auto& e : errors) {
    if (!e.empty()) all += (all.empty() ? "" : "; ") + e;
  }
  if (!all.empty()) throw std::runtime_error(all);
}

std::string host_of(const DbContext& ctx, const std::string& node) {
  auto it = ctx.hosts.find(node);
  return it == ctx.hosts.end() || it->second.empty() ? node : it->second;
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_';
    out += safe ? c : '_';
  }
  return out.empty() ? "_" : out;
}

std::string node_dir(const std::string& base, const DbContext& ctx, const std::string& node) {
  return base + "/" + safe_name(node) + "-" + safe_name(host_of(ctx, node));
}

std::string own_address(const DbContext& ctx, Session& s, const std::string& node,
                        std::string* controller) {
  std::istringstream in(s.run_checked(Command::shell("echo \"$SSH_CONNECTION\"")).out);
  std::string client, client_port, server;
  in >> client >> client_port >> server;
  if (controller != nullptr) *controller = client;
  return server.empty() ? host_of(ctx, node) : server;
}

void require_remote(const DbContext& ctx, const std::string& where) {
  if (ctx.remote == nullptr || ctx.nodes.empty()) {
    throw ConfigError(where +
                      " needs nodes reached over SSH (--nodes, --nodes-file, --local N or the "
                      "local cluster)");
  }
}

void log(const DbContext& ctx, const std::string& line) {
  if (ctx.log) ctx.log(line);
}

}  // namespace faultline::clusters
