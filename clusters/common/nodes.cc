#include "clusters/common/nodes.h"

#include <exception>
#include <stdexcept>
#include <thread>

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

}  // namespace faultline::clusters
