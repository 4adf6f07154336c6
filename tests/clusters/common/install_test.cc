// db-options install (clusters/common/install.h): the command sequences of each method against a
// recording fake session (fresh, cached, unpacked; apt present, missing, through sudo), the
// binary lookup, and the option's refusals.
#include "clusters/common/install.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/fake_session.h"

using namespace faultline;
using namespace faultline::clusters;
using namespace faultline::testing;
namespace fs = std::filesystem;

namespace {

const std::string kWhere = "db 'x': option 'install'";

// A small file to stand for a tarball (only its bytes and sha256 matter here).
struct TempTarball {
  fs::path path = fs::temp_directory_path() / ("fl-install-" + std::to_string(::getpid()) + ".tar");
  TempTarball() { std::ofstream(path) << "not really a tarball\n"; }
  ~TempTarball() { fs::remove(path); }
};

std::vector<std::string> log_of(const Installer& in, FakeSession& s) {
  std::vector<std::string> lines;
  in.install(s, [&](const std::string& l) { lines.push_back(l); });
  return lines;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& l : lines) {
    if (l.find(what) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("install: a file:// tarball is uploaded, checked and unpacked, then found cached",
          "[install]") {
  TempTarball t;
  InstallSpec spec =
      parse_install({{"method", "tarball"}, {"url", "file://" + t.path.string()}}, kWhere);
  REQUIRE(spec.sha256.size() == 64);
  Installer in(spec);
  CHECK(in.unpack_dir() == "/var/lib/faultline/install/" + spec.sha256);

  // Fresh node: id, prepare (says missing), upload, check + move, unpack.
  auto script = std::make_shared<FakeScript>();
  FakeSession s("n1", script);
  script->then_return(0, "0\n");
  script->then_return(0, "missing\n");
  auto lines = log_of(in, s);
  REQUIRE(script->commands.size() == 4);
  REQUIRE(script->transfers.size() == 1);
  CHECK(script->transfers[0] == "upload " + t.path.string() +
                                    " -> /var/lib/faultline/install/cache/" + spec.sha256 +
                                    ".tar.part-n1");
  // The upload is checked against the controller's sha256 before it is used.
  CHECK(std::find(script->commands[2].argv.begin(), script->commands[2].argv.end(), spec.sha256) !=
        script->commands[2].argv.end());
  CHECK(any_contains(lines, "install: n1: uploaded"));
  CHECK(any_contains(lines, "unpacked into " + in.unpack_dir()));
  for (const auto& c : script->commands) CHECK_FALSE(c.sudo);

  // Cached tarball, not unpacked: no upload.
  script->commands.clear();
  script->transfers.clear();
  script->then_return(0, "0\n");
  script->then_return(0, "cached\n");
  lines = log_of(in, s);
  CHECK(script->transfers.empty());
  CHECK(script->commands.size() == 3);
  CHECK(any_contains(lines, "cached on the node"));

  // Unpacked already: nothing but the look.
  script->commands.clear();
  script->then_return(0, "0\n");
  script->then_return(0, "unpacked\n");
  lines = log_of(in, s);
  CHECK(script->commands.size() == 2);
  CHECK(script->transfers.empty());
  CHECK(any_contains(lines, "already unpacked"));
}

TEST_CASE("install: apt leaves installed packages alone and installs the missing through sudo",
          "[install]") {
  Installer in(parse_install(
      {{"method", "apt"}, {"packages", {"etcd-server", "mariadb-server=1:10.11.6-0+deb12u1"}}},
      kWhere));
  auto script = std::make_shared<FakeScript>();
  FakeSession s("n2", script);
  script->then_return(0, "0\n");
  script->then_return(0, "have etcd-server 3.4.23-4+b4\nhave mariadb-server 1:10.11.6-0+deb12u1\n");
  auto lines = log_of(in, s);
  CHECK(script->commands.size() == 2);  // id, dpkg-query: no apt-get
  CHECK(any_contains(lines, "install: n2: etcd-server 3.4.23-4+b4 already installed"));

  script->commands.clear();
  script->then_return(0, "1000\n");
  script->then_return(0, "have etcd-server 3.4.23-4+b4\nneed mariadb-server=1:10.11.6-0+deb12u1\n");
  lines = log_of(in, s);
  REQUIRE(script->commands.size() == 3);
  const Command& apt = script->commands[2];
  CHECK(apt.sudo);  // not root: through sudo -n
  CHECK(apt.argv.back() == "mariadb-server=1:10.11.6-0+deb12u1");
  CHECK(std::find(apt.argv.begin(), apt.argv.end(), "etcd-server") == apt.argv.end());
  CHECK(any_contains(lines, "mariadb-server=1:10.11.6-0+deb12u1 installed"));

  // A failed apt-get names the node and what failed.
  script->commands.clear();
  script->then_return(0, "0\n");
  script->then_return(0, "need mariadb-server=1:10.11.6-0+deb12u1\n");
  script->then_return(100, "",
                      "E: Version '1:10.11.6-0+deb12u1' for 'mariadb-server' was not found");
  CHECK_THROWS_WITH(log_of(in, s), Catch::Contains("n2") && Catch::Contains("apt-get install") &&
                                       Catch::Contains("was not found"));
}

TEST_CASE("install: binary() finds the tarball's executable, the default otherwise", "[install]") {
  TempTarball t;
  Installer tar(
      parse_install({{"method", "tarball"}, {"url", "file://" + t.path.string()}}, kWhere));
  auto script = std::make_shared<FakeScript>();
  FakeSession s("n1", script);
  script->then_return(0, tar.unpack_dir() + "/etcd-v3.4/etcd\n");
  CHECK(tar.binary(s, "etcd", "/usr/bin/etcd") == tar.unpack_dir() + "/etcd-v3.4/etcd");
  script->then_return(0, "");
  CHECK_THROWS_WITH(tar.binary(s, "etcd", "/usr/bin/etcd"),
                    Catch::Contains("no executable 'etcd' in the tarball"));
  Installer none(InstallSpec{});
  CHECK(none.binary(s, "etcd", "/usr/bin/etcd") == "/usr/bin/etcd");
  script->commands.clear();
  none.install(s, nullptr);
  CHECK(script->commands.empty());  // none: nothing runs
}

TEST_CASE("install: bad options are refused before anything runs", "[install]") {
  TempTarball t;
  auto refused = [](const Json& j, const std::string& what) {
    CHECK_THROWS_WITH(parse_install(j, kWhere), Catch::Contains(kWhere) && Catch::Contains(what));
  };
  refused({{"method", "rpm"}}, "/method: 'rpm' is none of none, apt, tarball");
  refused({{"method", "apt"}}, "apt needs at least one package");
  refused({{"method", "apt"}, {"packages", {"x; rm -rf /"}}}, "is not a package name");
  refused({{"method", "apt"}, {"packages", {"x"}}, {"keys", {"/nonexistent/key.gpg"}}},
          "/keys: /nonexistent/key.gpg: no such file on the controller");
  refused({{"method", "apt"}, {"packages", {"x"}}, {"repositories", {"rm -rf"}}},
          "is not one sources.list line");
  refused({{"method", "tarball"}, {"url", "file:///nonexistent.tgz"}},
          "no such file on the controller");
  refused({{"method", "tarball"}, {"url", "ftp://x/y.tgz"}}, "expected file:///ABSOLUTE/PATH");
  refused({{"method", "tarball"},
           {"url", "file://" + t.path.string()},
           {"sha256", std::string(64, 'a')}},
          "has sha256");
  refused({{"method", "tarball"}, {"url", "https://x/y.tgz"}, {"sha256", "abc"}},
          "64 lower-case hex");
  refused({{"method", "tarball"}, {"urls", "x"}}, "/urls: unknown key");
  CHECK(parse_install(nullptr, kWhere).method == "none");
}
