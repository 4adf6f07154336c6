// Directories root keeps things in (issue 14 item 7): made one component at a time, refused when
// a component is a symlink, someone else's, or writable by group or others; the same rule on
// nodes through private_dir_command (run here through the local session); directory options
// that could break a command line or a config file; names from a node's directory listing.
#include "harness/secure_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <vector>

#include "harness/control/local_exec.h"
#include "harness/remote.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

// A fresh root-owned base under /run (0755, so it passes), removed at the end.
struct Base {
  fs::path dir = fs::path("/run") / ("faultline-secure-dir-test-" + std::to_string(::getpid()));
  Base() {
    fs::remove_all(dir);
    fs::create_directory(dir);
    fs::permissions(dir, fs::perms(0755));
  }
  ~Base() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("make_private_dir makes what is missing and refuses what another user could change",
          "[secure-dir]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: needs root (a root-owned base under /run)");
    return;
  }
  Base b;
  SECTION("missing components are made with the mode, existing good ones accepted") {
    make_private_dir(b.dir / "a" / "b", 0700);
    CHECK(fs::is_directory(b.dir / "a" / "b"));
    CHECK(mode_of(b.dir / "a" / "b") == 0700);
    CHECK_NOTHROW(make_private_dir(b.dir / "a" / "b"));
    CHECK(unsafe_dir_reason(b.dir / "a" / "b").empty());
  }
  SECTION("anything under /tmp (mode 1777) is refused, and nothing is made") {
    fs::path t = fs::path("/tmp") / ("faultline-secure-dir-test-" + std::to_string(::getpid()));
    CHECK_THROWS_WITH(make_private_dir(t), Catch::Contains("/tmp is writable by group or others"));
    CHECK_FALSE(fs::exists(t));
  }
  SECTION("a symlink on the way is refused, never followed") {
    fs::create_directory(b.dir / "real");
    fs::create_directory_symlink(b.dir / "real", b.dir / "link");
    CHECK_THROWS_WITH(make_private_dir(b.dir / "link" / "x"),
                      Catch::Contains("link is a symbolic link"));
    CHECK_FALSE(fs::exists(b.dir / "real" / "x"));
  }
  SECTION("a directory of another user, or group-writable, is refused") {
    fs::create_directory(b.dir / "theirs");
    REQUIRE(::chown((b.dir / "theirs").c_str(), 65534, 65534) == 0);
    CHECK_THROWS_WITH(make_private_dir(b.dir / "theirs" / "x"),
                      Catch::Contains("owned by uid 65534"));
    fs::create_directory(b.dir / "open");
    fs::permissions(b.dir / "open", fs::perms(0775));
    CHECK_THROWS_AS(make_private_dir(b.dir / "open"), UnsafeDirError);
    CHECK_FALSE(unsafe_dir_reason(b.dir / "open").empty());
  }
  SECTION("a file in the way is refused") {
    { std::ofstream(b.dir / "file") << "x"; }
    CHECK_THROWS_WITH(make_private_dir(b.dir / "file"), Catch::Contains("not a directory"));
  }
  CHECK_THROWS_AS(make_private_dir("relative/dir"), std::invalid_argument);
  CHECK_THROWS_AS(make_private_dir(b.dir / ".." / "x"), std::invalid_argument);
}

TEST_CASE("private_dir_command applies the same rule on a node", "[secure-dir]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: needs root (a root-owned base under /run)");
    return;
  }
  Base b;
  auto local = control::make_local_session();
  ExecResult ok = local->exec(private_dir_command((b.dir / "n" / "m").string(), 0750));
  INFO(ok.err);
  CHECK(ok.exit_status == 0);
  CHECK(mode_of(b.dir / "n" / "m") == 0750);
  CHECK(local->exec(private_dir_command((b.dir / "n" / "m").string())).exit_status == 0);

  ExecResult tmp = local->exec(private_dir_command("/tmp/faultline-secure-dir-test-x/y"));
  CHECK(tmp.exit_status == 3);
  CHECK_THAT(tmp.err, Catch::Contains("/tmp is writable by group or others"));
  CHECK_FALSE(fs::exists("/tmp/faultline-secure-dir-test-x"));

  fs::create_directory(b.dir / "real");
  fs::create_directory_symlink(b.dir / "real", b.dir / "link");
  ExecResult link = local->exec(private_dir_command((b.dir / "link" / "x").string()));
  CHECK(link.exit_status == 3);
  CHECK_THAT(link.err, Catch::Contains("is a symbolic link, not a directory"));
  CHECK_FALSE(fs::exists(b.dir / "real" / "x"));

  fs::create_directory(b.dir / "theirs");
  REQUIRE(::chown((b.dir / "theirs").c_str(), 65534, 65534) == 0);
  ExecResult theirs = local->exec(private_dir_command((b.dir / "theirs").string()));
  CHECK(theirs.exit_status == 3);
  CHECK_THAT(theirs.err, Catch::Contains("owned by uid 65534"));
}

TEST_CASE("directory options: absolute, plain, nothing a command line or config file would split",
          "[secure-dir]") {
  CHECK_NOTHROW(check_dir_option("/var/lib/faultline/galera", "dir"));
  CHECK_NOTHROW(check_dir_option("/srv/db_1/x-y.z", "dir"));
  for (const char* bad :
       {"", "/", "relative", "/a/../b", "/a/./b", "/a//b", "/a/", "/var/lib/x\nwsrep_on=OFF",
        "/a b", "/a\"b", "/a'b", "/a$b", "/a;b", "/a\tb"}) {
    INFO(bad);
    CHECK_THROWS_AS(check_dir_option(bad, "db 'x': option 'dir'"), std::invalid_argument);
  }
  CHECK_THROWS_AS(check_dir_option(std::string("/a\0b", 4), "dir"), std::invalid_argument);
  CHECK_THROWS_WITH(check_dir_option("/x\ny", "db 'galera': option 'dir'"),
                    Catch::Contains("db 'galera': option 'dir'"));
}

TEST_CASE("names from a node's directory listing must be one plain component", "[secure-dir]") {
  CHECK(is_plain_file_name("error.log"));
  CHECK(is_plain_file_name("a b\nc"));  // odd but harmless as one component
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "../x", "a/b", "/etc", std::string("a\0b", 3)}) {
    INFO(bad);
    CHECK_FALSE(is_plain_file_name(bad));
  }
}
