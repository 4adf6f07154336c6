#include "harness/control/inventory.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/cli/cli.h"
#include "harness/control/ssh.h"
#include "harness/errors.h"
#include "harness/remote.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

fs::path temp_file(const std::string& name, const std::string& text) {
  fs::path p = fs::temp_directory_path() / ("fl-inv-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << text;
  return p;
}

}  // namespace

TEST_CASE("parse_node reads host, user, port and IPv6", "[inventory]") {
  control::NodeSpec d;
  d.user = "admin";
  d.port = 2222;
  control::NodeSpec a = control::parse_node("db1", d);
  CHECK(a.name == "db1");
  CHECK(a.host == "db1");
  CHECK(a.user == "admin");
  CHECK(a.port == 2222);
  control::NodeSpec b = control::parse_node(" root@10.0.0.5:22 ", d);
  CHECK(b.name == "10.0.0.5");
  CHECK(b.user == "root");
  CHECK(b.port == 22);
  control::NodeSpec c = control::parse_node("[fe80::1]:2200", d);
  CHECK(c.host == "fe80::1");
  CHECK(c.port == 2200);
  CHECK(control::parse_node("fe80::2", d).host == "fe80::2");
  CHECK_THROWS_AS(control::parse_node("db1:99999", d), ConfigError);
  CHECK_THROWS_AS(control::parse_node("db1:abc", d), ConfigError);
  CHECK_THROWS_AS(control::parse_node("@db1", d), ConfigError);
  CHECK_THROWS_AS(control::parse_node("db 1", d), ConfigError);
  CHECK_THROWS_AS(control::parse_node("db1;rm", d), ConfigError);
  CHECK_THROWS_AS(control::parse_node("-oProxyCommand=x", d), ConfigError);
}

TEST_CASE("inventory from --nodes and the --ssh flags", "[inventory]") {
  control::InventoryOptions o;
  o.nodes = "n1,n2, n3:2022";
  o.ssh_user = "admin";
  o.ssh_key = "/keys/id";
  o.ssh_port = 2200;
  control::Inventory inv = control::resolve_inventory(o);
  REQUIRE(inv.nodes.size() == 3);
  CHECK(inv.names() == std::vector<std::string>{"n1", "n2", "n3"});
  CHECK(inv.nodes[0].user == "admin");
  CHECK(inv.nodes[0].port == 2200);
  CHECK(inv.nodes[2].port == 2022);
  CHECK(inv.nodes[1].key == "/keys/id");
  CHECK(inv.nodes[0].strict_host_key_checking);
  CHECK(inv.node("n2").host == "n2");
  CHECK_THROWS_AS(inv.node("n9"), UnknownNodeError);
  try {
    inv.node("n9");
  } catch (const UnknownNodeError& e) {
    CHECK_THAT(e.what(), Catch::Contains("n9") && Catch::Contains("n1, n2, n3"));
  }
  o.strict_host_key_checking = "no";
  CHECK_FALSE(control::resolve_inventory(o).nodes[0].strict_host_key_checking);
}

TEST_CASE("bad inventories are refused with a clear message", "[inventory]") {
  control::InventoryOptions dup;
  dup.nodes = "a,b,a";
  CHECK_THROWS_WITH(control::resolve_inventory(dup), Catch::Contains("'a' is listed twice"));
  control::InventoryOptions both;
  both.nodes = "a";
  both.nodes_file = "/x";
  CHECK_THROWS_AS(control::resolve_inventory(both), ConfigError);
  control::InventoryOptions missing;
  missing.nodes_file = "/nonexistent/nodes";
  CHECK_THROWS_WITH(control::resolve_inventory(missing), Catch::Contains("/nonexistent/nodes"));
  control::InventoryOptions strict;
  strict.nodes = "a";
  strict.strict_host_key_checking = "maybe";
  CHECK_THROWS_AS(control::resolve_inventory(strict), ConfigError);
}

TEST_CASE("nodes files: text with comments, and JSON inventories", "[inventory]") {
  fs::path text = temp_file("nodes.txt", "# cluster\nn1\n\nadmin@n2:2022  # second\n");
  control::NodeSpec d;
  d.key = "/k";
  control::Inventory inv = control::load_nodes_file(text.string(), d);
  REQUIRE(inv.nodes.size() == 2);
  CHECK(inv.nodes[1].user == "admin");
  CHECK(inv.nodes[1].port == 2022);
  CHECK(inv.nodes[0].key == "/k");

  control::Inventory j;
  control::NodeSpec n;
  n.name = "n1";
  n.host = "10.77.7.11";
  n.key = "/tmp/k";
  n.known_hosts = "/tmp/kh";
  j.nodes.push_back(n);
  fs::path js = temp_file("inv.json", j.to_json().dump());
  control::Inventory back = control::load_nodes_file(js.string(), control::NodeSpec{});
  REQUIRE(back.nodes.size() == 1);
  CHECK(back.nodes[0].name == "n1");
  CHECK(back.nodes[0].host == "10.77.7.11");
  CHECK(back.nodes[0].known_hosts == "/tmp/kh");
  CHECK(back.to_json() == j.to_json());

  fs::path bad = temp_file("bad.json", R"({"nodes": [{"host": "a", "colour": "red"}]})");
  CHECK_THROWS_WITH(control::load_nodes_file(bad.string(), control::NodeSpec{}),
                    Catch::Contains("colour"));
  fs::path badline = temp_file("bad.txt", "n1\nn2:0\n");
  CHECK_THROWS_WITH(control::load_nodes_file(badline.string(), control::NodeSpec{}),
                    Catch::Contains(":2:"));
  for (const auto& p : {text, js, bad, badline}) fs::remove(p);
}

TEST_CASE("ssh remote: unreadable key, missing known_hosts, unknown node", "[inventory]") {
  control::Inventory inv;
  control::NodeSpec n;
  n.name = "n1";
  n.host = "127.0.0.1";
  n.key = "/nonexistent/id_ed25519";
  inv.nodes.push_back(n);
  try {
    control::make_ssh_remote(inv);
    FAIL("expected AuthError");
  } catch (const AuthError& e) {
    CHECK(e.node() == "n1");
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/id_ed25519"));
  }
  inv.nodes[0].key.clear();
  inv.nodes[0].known_hosts = "/nonexistent/known_hosts";
  CHECK_THROWS_AS(control::make_ssh_remote(inv), HostKeyError);
  inv.nodes[0].strict_host_key_checking = false;  // opt-out: warns, does not need the file
  auto remote = control::make_ssh_remote(inv);
  CHECK_THROWS_AS(remote->session("n2"), UnknownNodeError);
}

TEST_CASE("ssh remote: a refused connection is a transport error naming the node", "[inventory]") {
  control::Inventory inv;
  control::NodeSpec n;
  n.name = "n1";
  n.host = "127.0.0.1";
  n.port = 1;  // nothing listens there
  n.strict_host_key_checking = false;
  inv.nodes.push_back(n);
  auto remote = control::make_ssh_remote(inv);
  auto s = remote->session("n1");
  try {
    s->exec(Command{"true"});
    FAIL("expected TransportError");
  } catch (const TransportError& e) {
    CHECK(e.node() == "n1");
    CHECK_FALSE(e.may_have_run());
    CHECK_THAT(e.what(), Catch::Contains("127.0.0.1:1"));
  }
}

// Issue 14 item 10: node names go into paths on the nodes and into database config files.
TEST_CASE("inventory: node names and users that could escape a path or a config line are refused",
          "[inventory]") {
  CHECK(control::valid_node_name("n1"));
  CHECK(control::valid_node_name("db-1.example.com"));
  CHECK(control::valid_node_name("fe80::1"));
  for (const char* bad : {"", "../etc", "a/b", "n1\nwsrep_on=OFF", "n 1", ".hidden", "-x", "..",
                          "n1\t", "n1\"", "n1;rm"}) {
    INFO(bad);
    CHECK_FALSE(control::valid_node_name(bad));
  }
  for (const char* name : {"../../etc", "n1\\nwsrep_provider=/tmp/evil.so", "a/b"}) {
    INFO(name);
    nlohmann::json doc = {{"nodes", {{{"name", name}, {"host", "10.0.0.1"}}}}};
    if (std::string(name).find("\\n") != std::string::npos) {
      doc["nodes"][0]["name"] = "n1\nwsrep_provider=/tmp/evil.so";
    }
    fs::path f = temp_file("badname.json", doc.dump());
    CHECK_THROWS_WITH(control::load_nodes_file(f.string(), control::NodeSpec{}),
                      Catch::Contains("bad node name"));
    fs::remove(f);
  }
  fs::path u = temp_file("baduser.json",
                         R"({"nodes": [{"name": "n1", "host": "a", "user": "-oProxyCommand=x"}]})");
  CHECK_THROWS_WITH(control::load_nodes_file(u.string(), control::NodeSpec{}),
                    Catch::Contains("bad user"));
  fs::remove(u);
  CHECK_THROWS_WITH(control::parse_node("ro ot@host", control::NodeSpec{}),
                    Catch::Contains("bad user"));
}

// Issue 14 item 9: a per-node false in a nodes file beat an explicit
// --ssh-strict-host-key-checking yes.
TEST_CASE("inventory: an explicit --ssh-strict-host-key-checking wins over the nodes file",
          "[inventory]") {
  fs::path f =
      temp_file("strict.json",
                R"({"nodes": [{"name": "n1", "host": "a", "strict_host_key_checking": false},
                    {"name": "n2", "host": "b", "strict_host_key_checking": true},
                    {"name": "n3", "host": "c"}]})");
  control::InventoryOptions o;
  o.nodes_file = f.string();
  SECTION("not given: the file's per-node values, yes for the rest") {
    control::Inventory inv = control::resolve_inventory(o);
    CHECK_FALSE(inv.nodes[0].strict_host_key_checking);
    CHECK(inv.nodes[1].strict_host_key_checking);
    CHECK(inv.nodes[2].strict_host_key_checking);
  }
  SECTION("yes: every node is checked strictly") {
    o.strict_host_key_checking = "yes";
    for (const auto& n : control::resolve_inventory(o).nodes) {
      INFO(n.name);
      CHECK(n.strict_host_key_checking);
    }
  }
  SECTION("no: every node accepts new keys") {
    o.strict_host_key_checking = "no";
    for (const auto& n : control::resolve_inventory(o).nodes) {
      INFO(n.name);
      CHECK_FALSE(n.strict_host_key_checking);
    }
  }
  fs::remove(f);
}

TEST_CASE("inventory: role, dc and rack per node, kept in to_json, checked", "[inventory]") {
  nlohmann::json doc = {
      {"nodes",
       {{{"name", "n1"}, {"host", "10.0.0.11"}, {"role", "master"}, {"dc", "east"}},
        {{"name", "n2"}, {"host", "10.0.0.12"}, {"dc", "west"}, {"rack", "r2"}},
        {{"name", "n3"}, {"host", "10.0.0.13"}}}}};
  control::Inventory inv = control::Inventory::from_json(doc, "inv.json");
  CHECK(inv.node("n1").role == "master");
  CHECK(inv.node("n1").dc == "east");
  CHECK(inv.node("n2").rack == "r2");
  CHECK(inv.node("n3").dc.empty());
  nlohmann::json back = inv.to_json();
  CHECK(back["nodes"][0]["dc"] == "east");
  CHECK(back["nodes"][1]["rack"] == "r2");
  CHECK_FALSE(back["nodes"][2].contains("dc"));  // absent when not given
  CHECK(control::Inventory::from_json(back, "again").node("n2").dc == "west");
  doc["nodes"][0]["dc"] = "east coast";
  CHECK_THROWS_WITH(control::Inventory::from_json(doc, "inv.json"),
                    Catch::Contains("inv.json: nodes[0]: bad role, dc or rack \"east coast\""));
}
