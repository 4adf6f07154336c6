#include "nemeses/grudge.h"

#include <algorithm>
#include <stdexcept>

#include "harness/errors.h"

namespace faultline::nemeses {
namespace {

std::vector<std::string> shuffled(std::vector<std::string> v, Random& r) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.uniform(i)]);
  return v;
}

void need(const std::string& shape, const std::vector<std::string>& nodes, size_t n) {
  if (nodes.size() < n) {
    throw ConfigError("partition shape '" + shape + "' needs at least " + std::to_string(n) +
                      " nodes (have " + std::to_string(nodes.size()) + ")");
  }
}

Grudge split_at(const std::vector<std::string>& v, size_t k) {
  return complete_grudge(
      {{v.begin(), v.begin() + static_cast<long>(k)}, {v.begin() + static_cast<long>(k), v.end()}});
}

}  // namespace

Grudge complete_grudge(const std::vector<std::vector<std::string>>& components) {
  Grudge g;
  for (size_t i = 0; i < components.size(); ++i) {
    for (const auto& a : components[i]) {
      for (size_t j = 0; j < components.size(); ++j) {
        if (i == j) continue;
        for (const auto& b : components[j]) g[a].insert(b);
      }
    }
  }
  return g;
}

const std::vector<std::string>& grudge_shapes() {
  static const std::vector<std::string> s = {
      "one", "majority", "minority-third", "halves", "random-halves", "majorities-ring", "bridge"};
  return s;
}

Grudge plan_grudge(const std::string& shape, const std::vector<std::string>& nodes, Random& random,
                   const std::map<std::string, std::string>& dcs) {
  const size_t n = nodes.size();
  if (shape == "dc") {
    std::map<std::string, std::vector<std::string>> by_dc;
    for (const auto& node : nodes) {
      auto it = dcs.find(node);
      if (it == dcs.end() || it->second.empty()) {
        throw std::invalid_argument(
            "shape 'dc' needs the data centre of every node (\"dc\" in "
            "the inventory); " +
            node + " has none");
      }
      by_dc[it->second].push_back(node);
    }
    if (by_dc.size() < 2) {
      throw std::invalid_argument("shape 'dc' needs nodes in 2 data centres or more (all are in " +
                                  by_dc.begin()->first + ")");
    }
    std::vector<std::vector<std::string>> components;
    components.reserve(by_dc.size());
    for (auto& [dc, members] : by_dc) components.push_back(members);
    return complete_grudge(components);
  }
  if (shape == "one") {
    need(shape, nodes, 2);
    return split_at(shuffled(nodes, random), 1);
  }
  if (shape == "majority") {
    need(shape, nodes, 2);
    return split_at(shuffled(nodes, random), n / 2 + 1);
  }
  if (shape == "minority-third") {
    need(shape, nodes, 2);
    return split_at(shuffled(nodes, random), std::max<size_t>(1, (n - 1) / 3));
  }
  if (shape == "halves") {
    need(shape, nodes, 2);
    return split_at(nodes, n / 2);
  }
  if (shape == "random-halves") {
    need(shape, nodes, 2);
    return split_at(shuffled(nodes, random), n / 2);
  }
  if (shape == "majorities-ring") {
    need(shape, nodes, 3);
    auto ring = shuffled(nodes, random);
    Grudge g;
    if (n == 3) {
      // Radius 1 would show everyone everything: each node hears only its successor.
      for (size_t i = 0; i < n; ++i) g[ring[i]].insert(ring[(i + 2) % n]);
      return g;
    }
    const size_t k = n / 2;
    const size_t radius = (k + 1) / 2;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        size_t d = (i + n - j) % n;
        d = std::min(d, n - d);
        if (d > radius) g[ring[i]].insert(ring[j]);
      }
    }
    return g;
  }
  if (shape == "bridge") {
    need(shape, nodes, 3);
    auto v = shuffled(nodes, random);
    // v[0] is the bridge; the rest split into two halves that drop each other.
    std::vector<std::string> rest(v.begin() + 1, v.end());
    return split_at(rest, rest.size() / 2);
  }
  std::string known;
  for (const auto& s : grudge_shapes()) known += (known.empty() ? "" : ", ") + s;
  throw ConfigError("unknown partition shape '" + shape + "' (known: " + known + ")");
}

Grudge grudge_from_json(const Json& j, const std::vector<std::string>& nodes) {
  if (!j.is_object()) throw ConfigError("grudge: must be an object of node lists");
  std::set<std::string> known(nodes.begin(), nodes.end());
  Grudge g;
  for (const auto& [k, v] : j.items()) {
    if (!known.count(k)) throw ConfigError("grudge/" + k + ": not a node of the test");
    if (!v.is_array()) throw ConfigError("grudge/" + k + ": must be a list of nodes");
    g[k];  // present, possibly empty
    for (const auto& x : v) {
      if (!x.is_string() || !known.count(x.get<std::string>())) {
        throw ConfigError("grudge/" + k + ": " + x.dump() + " is not a node of the test");
      }
      if (x.get<std::string>() == k) {
        throw ConfigError("grudge/" + k + ": a node cannot drop itself");
      }
      g[k].insert(x.get<std::string>());
    }
  }
  return g;
}

Json grudge_to_json(const Grudge& g) {
  Json j = Json::object();
  for (const auto& [k, v] : g) j[k] = Json(std::vector<std::string>(v.begin(), v.end()));
  return j;
}

std::set<std::string> visible(const Grudge& g, const std::vector<std::string>& nodes,
                              const std::string& node) {
  std::set<std::string> out;
  auto it = g.find(node);
  for (const auto& n : nodes) {
    if (it == g.end() || !it->second.count(n)) out.insert(n);
  }
  return out;
}

}  // namespace faultline::nemeses
