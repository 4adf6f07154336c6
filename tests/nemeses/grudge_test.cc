// Grudge shapes: sizes, symmetry, the majorities-ring property, bridge connectivity, explicit
// grudges.
#include "nemeses/grudge.h"

#include <catch2/catch.hpp>

using namespace faultline;
using namespace faultline::nemeses;

namespace {

std::vector<std::string> names(int n) {
  std::vector<std::string> v;
  for (int i = 1; i <= n; ++i) v.push_back("n" + std::to_string(i));
  return v;
}

bool symmetric(const Grudge& g) {
  for (const auto& [a, bs] : g) {
    for (const auto& b : bs) {
      auto it = g.find(b);
      if (it == g.end() || !it->second.count(a)) return false;
    }
  }
  return true;
}

// The components of a symmetric grudge, as sorted sizes.
std::multiset<size_t> component_sizes(const Grudge& g, const std::vector<std::string>& nodes) {
  std::set<std::set<std::string>> comps;
  for (const auto& n : nodes) comps.insert(visible(g, nodes, n));
  std::multiset<size_t> out;
  for (const auto& c : comps) out.insert(c.size());
  return out;
}

}  // namespace

TEST_CASE("grudge: complete grudge of components", "[grudge]") {
  Grudge g = complete_grudge({{"n1", "n2"}, {"n3"}});
  CHECK(g["n1"] == std::set<std::string>{"n3"});
  CHECK(g["n2"] == std::set<std::string>{"n3"});
  CHECK(g["n3"] == std::set<std::string>{"n1", "n2"});
  CHECK(symmetric(g));
}

TEST_CASE("grudge: clean splits have the right sizes and are symmetric", "[grudge]") {
  for (int n : {2, 3, 4, 5, 7, 9}) {
    auto nodes = names(n);
    for (uint64_t seed = 0; seed < 20; ++seed) {
      Random r(seed);
      INFO("n=" << n << " seed=" << seed);
      auto one = plan_grudge("one", nodes, r);
      CHECK(symmetric(one));
      CHECK(component_sizes(one, nodes) == std::multiset<size_t>{1, static_cast<size_t>(n - 1)});
      auto maj = plan_grudge("majority", nodes, r);
      CHECK(symmetric(maj));
      size_t m = n / 2 + 1;
      if (m < static_cast<size_t>(n)) {
        CHECK(component_sizes(maj, nodes) == std::multiset<size_t>{m, n - m});
      }
      auto third = plan_grudge("minority-third", nodes, r);
      CHECK(symmetric(third));
      size_t t = std::max(1, (n - 1) / 3);
      CHECK(component_sizes(third, nodes) == std::multiset<size_t>{t, n - t});
      auto halves = plan_grudge("random-halves", nodes, r);
      CHECK(symmetric(halves));
      CHECK(component_sizes(halves, nodes) ==
            std::multiset<size_t>{static_cast<size_t>(n / 2), static_cast<size_t>(n - n / 2)});
    }
  }
  Random r(1);
  auto h = plan_grudge("halves", names(5), r);
  CHECK(h["n1"] == std::set<std::string>{"n3", "n4", "n5"});
  CHECK(h["n5"] == std::set<std::string>{"n1", "n2"});
}

TEST_CASE("grudge: majorities-ring: every node sees a majority, no two the same", "[grudge]") {
  for (int n : {3, 4, 5, 6, 7, 8, 9}) {
    auto nodes = names(n);
    for (uint64_t seed = 0; seed < 20; ++seed) {
      Random r(seed);
      INFO("n=" << n << " seed=" << seed);
      auto g = plan_grudge("majorities-ring", nodes, r);
      std::set<std::set<std::string>> seen;
      for (const auto& node : nodes) {
        auto v = visible(g, nodes, node);
        CHECK(v.size() >= static_cast<size_t>(n / 2 + 1));
        CHECK(v.size() < static_cast<size_t>(n));
        CHECK(v.count(node));
        seen.insert(v);
      }
      CHECK(seen.size() == static_cast<size_t>(n));
      if (n >= 4) CHECK(symmetric(g));
    }
  }
}

TEST_CASE("grudge: bridge: two halves joined only through one node", "[grudge]") {
  for (int n : {3, 5, 7, 9}) {
    auto nodes = names(n);
    for (uint64_t seed = 0; seed < 10; ++seed) {
      Random r(seed);
      auto g = plan_grudge("bridge", nodes, r);
      CHECK(symmetric(g));
      std::vector<std::string> bridges;
      for (const auto& node : nodes) {
        if (visible(g, nodes, node).size() == static_cast<size_t>(n)) bridges.push_back(node);
      }
      REQUIRE(bridges.size() == 1);
      // Without the bridge the others fall into two groups that drop each other; with it
      // every node reaches every other in at most two hops.
      for (const auto& a : nodes) {
        for (const auto& b : nodes) {
          bool direct = !g[a].count(b);
          bool via = !g[a].count(bridges[0]) && !g[bridges[0]].count(b);
          CHECK((direct || via));
        }
      }
      CHECK(component_sizes(g, nodes).size() >= 2);
    }
  }
}

TEST_CASE("grudge: too few nodes and unknown shapes are refused", "[grudge]") {
  Random r(0);
  CHECK_THROWS_WITH(plan_grudge("majorities-ring", names(2), r),
                    Catch::Contains("needs at least 3 nodes"));
  CHECK_THROWS_WITH(plan_grudge("bridge", names(2), r), Catch::Contains("at least 3"));
  CHECK_THROWS_WITH(plan_grudge("one", names(1), r), Catch::Contains("at least 2"));
  CHECK_THROWS_WITH(plan_grudge("triangle", names(3), r),
                    Catch::Contains("unknown partition shape 'triangle'"));
}

TEST_CASE("grudge: explicit grudges from JSON", "[grudge]") {
  auto nodes = names(3);
  Grudge g = grudge_from_json(Json::parse(R"({"n1": ["n2"], "n3": []})"), nodes);
  CHECK(g["n1"] == std::set<std::string>{"n2"});
  CHECK(grudge_to_json(g) == Json::parse(R"({"n1": ["n2"], "n3": []})"));
  CHECK_THROWS_WITH(grudge_from_json(Json::parse(R"({"n4": []})"), nodes),
                    Catch::Contains("grudge/n4: not a node"));
  CHECK_THROWS_WITH(grudge_from_json(Json::parse(R"({"n1": ["n1"]})"), nodes),
                    Catch::Contains("cannot drop itself"));
  CHECK_THROWS_WITH(grudge_from_json(Json::parse(R"({"n1": "n2"})"), nodes),
                    Catch::Contains("must be a list"));
}

TEST_CASE("grudge: dc cuts every data centre off from the others, and needs every node's dc",
          "[grudge]") {
  Random r(1);
  const std::vector<std::string> nodes = {"n1", "n2", "n3", "n4", "n5"};
  std::map<std::string, std::string> dcs = {
      {"n1", "east"}, {"n2", "east"}, {"n3", "west"}, {"n4", "west"}, {"n5", "south"}};
  Grudge g = plan_grudge("dc", nodes, r, dcs);
  CHECK(g["n1"] == std::set<std::string>{"n3", "n4", "n5"});
  CHECK(g["n3"] == std::set<std::string>{"n1", "n2", "n5"});
  CHECK(g["n5"] == std::set<std::string>{"n1", "n2", "n3", "n4"});
  CHECK(visible(g, nodes, "n2") == std::set<std::string>{"n1", "n2"});
  dcs.erase("n4");
  CHECK_THROWS_WITH(plan_grudge("dc", nodes, r, dcs), Catch::Contains("n4 has none"));
  CHECK_THROWS_WITH(plan_grudge("dc", nodes, r), Catch::Contains("\"dc\" in the inventory"));
  std::map<std::string, std::string> one = {
      {"n1", "x"}, {"n2", "x"}, {"n3", "x"}, {"n4", "x"}, {"n5", "x"}};
  CHECK_THROWS_WITH(plan_grudge("dc", nodes, r, one), Catch::Contains("2 data centres or more"));
}
