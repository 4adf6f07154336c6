// Issue 14 items 7, 9 and 10 against a real local cluster (needs root; skipped otherwise). Uses
// its own cluster name and subnet ("flsec", 10.77.215.0/24) and tears the cluster down however a
// test leaves.
//   - the cluster directory is root's own, sshd runs with StrictModes yes, and `up` refuses a
//     --dir inside a directory another user owns before making anything;
//   - host keys: without strict checking a new key is accepted (and written to known_hosts),
//     a changed key is refused;
//   - SFTP download does not follow the node's symlinks, does not write through local symlinks,
//     and drops setuid bits.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/control/inventory.h"
#include "harness/control/local_cluster.h"
#include "harness/control/ssh.h"
#include "harness/remote.h"
#include "tests/support/local_cluster.h"
#include "tests/support/paths.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

constexpr const char* kName = "flsec";
constexpr const char* kSubnet = "10.77.215.0/24";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

// A scratch directory of the test (root's, 0700), removed at the end.
struct Scratch {
  fs::path dir = fs::path("/run") / ("faultline-flsec-test-" + std::to_string(::getpid()));
  Scratch() {
    fs::remove_all(dir);
    fs::create_directory(dir);
    fs::permissions(dir, fs::perms(0700));
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

TEST_CASE("secure paths: the local cluster directory is root's, sshd has StrictModes yes",
          "[integration][local-cluster][secure]") {
  FAULTLINE_REQUIRE_ROOT();
  testing::LocalTestCluster c(kName, kSubnet, 1);
  fs::path dir = control::default_dir(kName);
  CHECK(dir == fs::path("/var/lib/faultline/clusters") / kName);
  CHECK(c.inv.nodes[0].key == (dir / "ssh" / "id_ed25519").string());
  struct stat d = lstat_of(dir);
  CHECK(d.st_uid == 0);
  CHECK((d.st_mode & 07777) == 0755);
  struct stat s = lstat_of(dir / "ssh");
  CHECK(s.st_uid == 0);
  CHECK((s.st_mode & 07777) == 0700);
  std::string config = slurp(dir / "n1" / "sshd" / "sshd_config");
  CHECK(config.find("StrictModes yes\n") != std::string::npos);
  CHECK(config.find("StrictModes no") == std::string::npos);
  // sshd with StrictModes yes accepts our key from there.
  CHECK(c.remote->session("n1")->run_checked(Command{"hostname"}).out == "n1\n");
}

TEST_CASE("secure paths: cluster up refuses a --dir another user could change, making nothing",
          "[integration][local-cluster][secure]") {
  FAULTLINE_REQUIRE_ROOT();
  auto p = control::make_local_cluster_provisioner();
  fs::path theirs = fs::path("/var/lib/faultline") / ("flsec-theirs-" + std::to_string(::getpid()));
  fs::remove_all(theirs);
  fs::create_directories(theirs);
  REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
  struct Cleanup {
    fs::path theirs;
    control::LocalClusterProvisioner& p;
    ~Cleanup() {
      std::ostringstream log;
      try {
        p.down(kName, log);
      } catch (const std::exception& e) {
        WARN("down: " << e.what());
      }
      std::error_code ec;
      fs::remove_all(theirs, ec);
    }
  } cleanup{theirs, *p};
  control::LocalClusterOptions o;
  o.name = kName;
  o.subnet = kSubnet;
  o.nodes = 1;
  o.dir = (theirs / "cluster").string();
  std::ostringstream log;
  CHECK_THROWS_WITH(p->up(o, log),
                    Catch::Contains("owned by uid 65534") && Catch::Contains(theirs.string()));
  CHECK_FALSE(fs::exists(theirs / "cluster"));
  CHECK_FALSE(fs::exists("/run/netns/flsec-n1"));
  CHECK_FALSE(fs::exists(control::state_path(kName)));

  o.dir = "/tmp/flsec-cluster";
  CHECK_THROWS_WITH(p->up(o, log), Catch::Contains("/tmp is writable by group or others"));
  CHECK_FALSE(fs::exists("/tmp/flsec-cluster"));
}

TEST_CASE("secure paths: without strict checking a new host key is accepted, a changed one not",
          "[integration][ssh][secure]") {
  FAULTLINE_REQUIRE_ROOT();
  testing::LocalTestCluster c(kName, kSubnet, 1);
  Scratch scratch;
  control::NodeSpec n = c.inv.nodes[0];
  // Another key for the node's address: what a man in the middle would present.
  fs::path other = scratch.dir / "other";
  auto gen = testing::run_shell("ssh-keygen -q -t ed25519 -N '' -f " + other.string());
  REQUIRE(gen.status == 0);
  std::istringstream words(slurp(other.string() + ".pub"));
  std::string type, blob;
  words >> type >> blob;
  fs::path wrong = scratch.dir / "wrong_known_hosts";
  std::ofstream(wrong) << n.host << " " << type << " " << blob << "\n";

  for (bool strict : {true, false}) {
    INFO("strict " << strict);
    control::Inventory inv;
    control::NodeSpec m = n;
    m.known_hosts = wrong.string();
    m.strict_host_key_checking = strict;
    inv.nodes.push_back(m);
    auto remote = control::make_ssh_remote(inv);
    CHECK_THROWS_AS(remote->session(m.name)->exec(Command{"true"}), HostKeyError);
  }

  // accept-new: an unknown host is accepted once and written down.
  fs::path empty = scratch.dir / "empty_known_hosts";
  std::ofstream(empty).flush();
  control::Inventory inv;
  control::NodeSpec m = n;
  m.known_hosts = empty.string();
  m.strict_host_key_checking = false;
  inv.nodes.push_back(m);
  auto remote = control::make_ssh_remote(inv);
  CHECK(remote->session(m.name)->exec(Command{"true"}).exit_status == 0);
  CHECK(slurp(empty).find(n.host) != std::string::npos);
  // Written down, it is now checked strictly too.
  inv.nodes[0].strict_host_key_checking = true;
  CHECK(control::make_ssh_remote(inv)->session(m.name)->exec(Command{"true"}).exit_status == 0);
}

TEST_CASE("secure paths: download follows no symlink of the node's and writes through none of ours",
          "[integration][ssh][secure]") {
  FAULTLINE_REQUIRE_ROOT();
  testing::LocalTestCluster c(kName, kSubnet, 1);
  Scratch scratch;
  // The node shares our filesystem: its directory, as a database user could shape it.
  fs::path secret = scratch.dir / "secret.txt";
  std::ofstream(secret) << "TOP-SECRET";
  fs::path src = control::default_dir(kName) / "n1" / "data" / "dl";
  fs::create_directories(src / "sub");
  std::ofstream(src / "a.txt") << "plain";
  fs::permissions(src / "a.txt", fs::perms(04755));
  std::ofstream(src / "sub" / "b.txt") << "nested";
  fs::create_symlink(secret, src / "link.txt");
  fs::create_directory_symlink(scratch.dir, src / "linkdir");
  fs::create_symlink(secret, src / "sub" / "error.log");

  auto s = c.remote->session("n1");
  fs::path out = scratch.dir / "out";
  s->download(src.string(), out);
  CHECK(slurp(out / "a.txt") == "plain");
  CHECK((lstat_of(out / "a.txt").st_mode & 07000) == 0);
  CHECK(slurp(out / "sub" / "b.txt") == "nested");
  CHECK_FALSE(fs::exists(fs::symlink_status(out / "link.txt")));
  CHECK_FALSE(fs::exists(fs::symlink_status(out / "linkdir")));
  CHECK_FALSE(fs::exists(fs::symlink_status(out / "sub" / "error.log")));

  // A log path that is a symlink on the node: nothing is copied.
  fs::path one = scratch.dir / "one.log";
  s->download((src / "sub" / "error.log").string(), one);
  CHECK_FALSE(fs::exists(fs::symlink_status(one)));

  // A local symlink where a file will go is not written through.
  fs::path victim = scratch.dir / "victim";
  std::ofstream(victim) << "untouched";
  fs::path out2 = scratch.dir / "out2";
  fs::create_directory(out2);
  fs::create_symlink(victim, out2 / "a.txt");
  CHECK_THROWS_AS(s->download(src.string(), out2), TransferError);
  CHECK(slurp(victim) == "untouched");
}
