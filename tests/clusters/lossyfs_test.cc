// lossyfs (clusters/common/lossyfs/lossyfs.c), the power-loss file system, run for real: each test
// mounts a fresh lossyfs over a temp directory, changes files through the mount, writes a command
// to the control file and checks the backing directory byte for byte. Needs root, /dev/fuse and
// the lossyfs target (fuse3); without them each test says SKIPPED.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr size_t kPage = 4096;  // lossyfs's unit of pre-images

// Whether lossyfs can run here; WARNs why not (the test then returns, and says SKIPPED).
bool lossyfs_runs_here() {
#ifndef FAULTLINE_LOSSYFS
  WARN("SKIPPED: lossyfs was not built (fuse3 not found by CMake)");
  return false;
#else
  if (::geteuid() != 0) {
    WARN("SKIPPED: the lossyfs tests need root (to mount FUSE with allow_other)");
    return false;
  }
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    WARN("SKIPPED: /dev/fuse is missing");
    return false;
  }
  return true;
#endif
}

std::string errno_text() { return std::strerror(errno); }

// An open descriptor, closed at the end of its scope.
class Fd {
 public:
  Fd(const fs::path& path, int flags, mode_t mode = 0644)
      : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {
    if (fd_ < 0) throw std::runtime_error("open " + path.string() + ": " + errno_text());
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { ::close(fd_); }
  int get() const { return fd_; }
  void write_at(const std::string& data, off_t off) const {
    ssize_t n = ::pwrite(fd_, data.data(), data.size(), off);
    if (n != static_cast<ssize_t>(data.size())) throw std::runtime_error("pwrite: " + errno_text());
  }
  void write(const std::string& data) const {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n != static_cast<ssize_t>(data.size())) throw std::runtime_error("write: " + errno_text());
  }
  void fsync() const {
    if (::fsync(fd_) != 0) throw std::runtime_error("fsync: " + errno_text());
  }
  void fdatasync() const {
    if (::fdatasync(fd_) != 0) throw std::runtime_error("fdatasync: " + errno_text());
  }

 private:
  int fd_;
};

std::string read_file(const fs::path& path) {
  Fd fd(path, O_RDONLY);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) throw std::runtime_error("read " + path.string() + ": " + errno_text());
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Writes a whole file (created or truncated), without fsync.
void put(const fs::path& path, const std::string& data) {
  Fd(path, O_WRONLY | O_CREAT | O_TRUNC).write(data);
}

void fsync_dir(const fs::path& dir) {
  Fd fd(dir, O_RDONLY | O_DIRECTORY);
  fd.fsync();
}

// "" when equal, else where they first differ.
std::string difference(const std::string& got, const std::string& want) {
  if (got == want) return "";
  auto at = std::mismatch(got.begin(), got.end(), want.begin(), want.end());
  return "got " + std::to_string(got.size()) + " bytes, want " + std::to_string(want.size()) +
         "; first difference at byte " + std::to_string(at.first - got.begin());
}

// `n` bytes that differ from place to place (and with `salt`).
std::string pattern(size_t n, int salt) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / kPage + salt) % 26);
  return out;
}

bool present(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// A lossyfs mounted on <tmp>/mnt over <tmp>/backing, for one test: started in the foreground as
// a child, waited for; unmounted, stopped and removed at the end of the scope, also when a check
// fails.
class Lossyfs {
 public:
  Lossyfs() {
    char templ[] = "/tmp/fl-lossyfs-XXXXXX";
    if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp: " + errno_text());
    dir_ = templ;
    try {
      start();
    } catch (...) {
      stop();
      throw;
    }
  }
  Lossyfs(const Lossyfs&) = delete;
  Lossyfs& operator=(const Lossyfs&) = delete;
  ~Lossyfs() { stop(); }

  fs::path dir() const { return dir_; }
  fs::path backing() const { return dir_ / "backing"; }
  fs::path mnt() const { return dir_ / "mnt"; }

  // Writes `command` to the control file: 0, or the errno of the write.
  int control(const std::string& command) const {
    Fd fd(mnt() / ".lossyfs", O_WRONLY);
    ssize_t n = ::write(fd.get(), command.data(), command.size());
    if (n < 0) return errno;
    if (n != static_cast<ssize_t>(command.size())) return EIO;
    return 0;
  }

  nlohmann::json status() const { return nlohmann::json::parse(read_file(mnt() / ".lossyfs")); }

  std::string log() const {
    try {
      return read_file(dir_ / "lossyfs.log");
    } catch (const std::exception&) {
      return "";
    }
  }

 private:
  void start() {
    fs::permissions(dir_, fs::perms(0755));
    fs::create_directory(backing());
    fs::create_directory(mnt());
#ifdef FAULTLINE_LOSSYFS
    const std::string binary = FAULTLINE_LOSSYFS;
#else
    const std::string binary = "lossyfs";
#endif
    const std::string log_path = (dir_ / "lossyfs.log").string();
    const std::string backing_path = backing().string(), mnt_path = mnt().string();
    std::vector<const char*> args = {
        "lossyfs", "-f", "-o", "allow_other", backing_path.c_str(), mnt_path.c_str(), nullptr};
    struct stat before {};
    if (::stat(dir_.c_str(), &before) != 0) throw std::runtime_error("stat: " + errno_text());
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork: " + errno_text());
    if (pid_ == 0) {
      int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      ::execv(binary.c_str(), const_cast<char* const*>(args.data()));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      struct stat now {};
      if (::stat(mnt_path.c_str(), &now) == 0 && now.st_dev != before.st_dev) {
        mounted_ = true;
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("lossyfs exited before mounting: " + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("lossyfs did not mount within 5 s: " + log());
  }

  void stop() noexcept {
    if (mounted_) ::umount2(mnt().c_str(), MNT_DETACH);
    mounted_ = false;
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      pid_ = -1;
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  fs::path dir_;
  pid_t pid_ = -1;
  bool mounted_ = false;
};

}  // namespace

TEST_CASE("lossyfs: a write without fsync is lost at a drop") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  put(fs.backing() / "old", "the old content");
  put(fs.backing() / "grow", "abc");
  // Rewritten with O_TRUNC, appended to, created: none of it fsync'd.
  const std::string rewritten = "something else, and longer", fresh = "never synced";
  put(fs.mnt() / "old", rewritten);
  Fd(fs.mnt() / "grow", O_WRONLY | O_APPEND).write(pattern(10000, 1));
  put(fs.mnt() / "fresh", fresh);
  CHECK(read_file(fs.mnt() / "grow") == "abc" + pattern(10000, 1));
  REQUIRE(fs.control("drop") == 0);
  CHECK(read_file(fs.backing() / "old") == "the old content");
  CHECK(read_file(fs.mnt() / "old") == "the old content");
  CHECK(read_file(fs.mnt() / "grow") == "abc");
  CHECK(read_file(fs.mnt() / "fresh").empty());  // the name survives a plain drop
  auto last = fs.status()["last-drop"];
  CHECK(last["files"] == 3);
  CHECK(last["bytes-truncated"] == (rewritten.size() - 15) + 10000 + fresh.size());
}

TEST_CASE("lossyfs: fsync and fdatasync make writes survive a drop") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  put(fs.backing() / "a", "old a");
  put(fs.backing() / "b", "old b");
  {
    Fd a(fs.mnt() / "a", O_RDWR);
    a.write_at("new a, synced", 0);
    a.fsync();
    a.write_at(" and a tail that is not", 13);
    Fd b(fs.mnt() / "b", O_WRONLY);
    b.write_at("NEW", 0);
    b.fdatasync();
    b.write_at("x", 1);
  }
  put(fs.mnt() / "c", pattern(9000, 2));
  Fd(fs.mnt() / "c", O_RDONLY).fsync();  // an fsync through any descriptor of the file
  REQUIRE(fs.control("drop") == 0);
  CHECK(read_file(fs.mnt() / "a") == "new a, synced");
  CHECK(read_file(fs.mnt() / "b") == "NEW b");
  CHECK(difference(read_file(fs.backing() / "c"), pattern(9000, 2)).empty());
}

TEST_CASE("lossyfs: an overwrite in the middle of a synced file is undone") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  const std::string original = pattern(3 * kPage + 100, 3);
  put(fs.backing() / "f", original);
  {
    Fd f(fs.mnt() / "f", O_WRONLY);
    f.write_at(std::string(3000, 'X'), 6000);  // pages 1 and 2
    f.write_at("Y", 3 * kPage + 99);           // the last, partial page
  }
  std::string changed = original;
  changed.replace(6000, 3000, std::string(3000, 'X'));
  changed[3 * kPage + 99] = 'Y';
  REQUIRE(difference(read_file(fs.mnt() / "f"), changed).empty());
  REQUIRE(fs.control("drop") == 0);
  CHECK(difference(read_file(fs.backing() / "f"), original).empty());
  CHECK(fs.status()["last-drop"]["pages-restored"] == 3);
}

TEST_CASE("lossyfs: a truncation without fsync is undone") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  const std::string one = pattern(10000, 4), two = pattern(20000, 5);
  put(fs.backing() / "one", one);
  put(fs.backing() / "two", two);
  REQUIRE(::truncate((fs.mnt() / "one").c_str(), 100) == 0);
  {
    Fd f(fs.mnt() / "two", O_RDWR);
    REQUIRE(::ftruncate(f.get(), 5000) == 0);
    f.write_at("regrown", 15000);  // past the cut: the gap reads as zeros
  }
  CHECK(read_file(fs.mnt() / "one") == one.substr(0, 100));
  CHECK(read_file(fs.mnt() / "two").substr(5000, 100) == std::string(100, '\0'));
  REQUIRE(fs.control("drop") == 0);
  CHECK(difference(read_file(fs.backing() / "one"), one).empty());
  CHECK(difference(read_file(fs.backing() / "two"), two).empty());
}

TEST_CASE("lossyfs: fallocate's punch hole and zero range are undone") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  const std::string original = pattern(8 * kPage, 6);
  put(fs.backing() / "f", original);
  {
    Fd f(fs.mnt() / "f", O_RDWR);
    REQUIRE(::fallocate(f.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192) == 0);
    int zero = ::fallocate(f.get(), FALLOC_FL_ZERO_RANGE, 6 * kPage + 10, 100);
    CHECK((zero == 0 || errno == EOPNOTSUPP));
    REQUIRE(::fallocate(f.get(), FALLOC_FL_KEEP_SIZE, 0, 16 * kPage) == 0);
    REQUIRE(::fallocate(f.get(), 0, 0, 10 * kPage) == 0);  // grows the file
  }
  std::string now = read_file(fs.mnt() / "f");
  REQUIRE(now.size() == 10 * kPage);
  CHECK(now.substr(4096, 8192) == std::string(8192, '\0'));
  REQUIRE(fs.control("drop") == 0);
  CHECK(difference(read_file(fs.backing() / "f"), original).empty());
}

TEST_CASE("lossyfs: a rename without a directory fsync") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  fs::create_directory(fs.backing() / "sub");
  put(fs.backing() / "a", "content of a");
  put(fs.backing() / "b", "content of b");
  put(fs.backing() / "c", "content of c");
  put(fs.backing() / "d", "content of d");
  REQUIRE(::rename((fs.mnt() / "a").c_str(), (fs.mnt() / "x").c_str()) == 0);
  REQUIRE(::rename((fs.mnt() / "c").c_str(), (fs.mnt() / "b").c_str()) == 0);  // overwrites b
  REQUIRE(::rename((fs.mnt() / "d").c_str(), (fs.mnt() / "sub" / "d").c_str()) == 0);
  REQUIRE(fs.status()["pending-entries"] == 3);

  SECTION("drop keeps the new names") {
    REQUIRE(fs.control("drop") == 0);
    CHECK(read_file(fs.backing() / "x") == "content of a");
    CHECK(read_file(fs.backing() / "b") == "content of c");
    CHECK(read_file(fs.backing() / "sub" / "d") == "content of d");
    CHECK_FALSE(present(fs.backing() / "a"));
    CHECK_FALSE(present(fs.backing() / "c"));
    CHECK_FALSE(present(fs.backing() / "d"));
    CHECK(fs.status()["pending-entries"] == 0);
  }
  SECTION("drop entries reverses them and brings the overwritten target back") {
    REQUIRE(fs.control("drop entries") == 0);
    CHECK(read_file(fs.backing() / "a") == "content of a");
    CHECK(read_file(fs.backing() / "b") == "content of b");
    CHECK(read_file(fs.backing() / "c") == "content of c");
    CHECK(read_file(fs.mnt() / "d") == "content of d");
    CHECK_FALSE(present(fs.backing() / "x"));
    CHECK_FALSE(present(fs.backing() / "sub" / "d"));
    CHECK(fs.status()["last-drop"]["entries-undone"] == 3);
  }
  SECTION("a rename across directories needs the fsync of both") {
    fsync_dir(fs.mnt());  // both sides of a->x and c->b, the source side of d
    REQUIRE(fs.status()["pending-entries"] == 1);
    REQUIRE(fs.control("drop entries") == 0);
    CHECK(read_file(fs.backing() / "x") == "content of a");
    CHECK(read_file(fs.backing() / "b") == "content of c");
    CHECK(read_file(fs.backing() / "d") == "content of d");  // sub was never fsync'd
    CHECK_FALSE(present(fs.backing() / "sub" / "d"));
  }
  SECTION("with fsyncdir of both directories it stays") {
    fsync_dir(fs.mnt() / "sub");
    fsync_dir(fs.mnt());
    REQUIRE(fs.status()["pending-entries"] == 0);
    REQUIRE(fs.control("drop entries") == 0);
    CHECK(read_file(fs.backing() / "x") == "content of a");
    CHECK(read_file(fs.backing() / "sub" / "d") == "content of d");
    CHECK_FALSE(present(fs.backing() / "a"));
    CHECK_FALSE(present(fs.backing() / "c"));
  }
  // Whatever happened, the stash holds nothing once the log is gone.
  CHECK(fs::is_empty(fs.backing() / ".lossyfs-stash"));
}

TEST_CASE("lossyfs: a new file without a directory fsync") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  put(fs.mnt() / "new", "fresh data");

  SECTION("disappears with drop entries, and so does a new directory with its files") {
    REQUIRE(::mkdir((fs.mnt() / "dir").c_str(), 0755) == 0);
    put(fs.mnt() / "dir" / "inner", "inner");
    REQUIRE(::symlink("new", (fs.mnt() / "link").c_str()) == 0);
    REQUIRE(fs.control("drop entries") == 0);
    CHECK_FALSE(present(fs.backing() / "new"));
    CHECK_FALSE(present(fs.backing() / "dir"));
    CHECK_FALSE(present(fs.backing() / "link"));
    CHECK_FALSE(present(fs.mnt() / "new"));
  }
  SECTION("stays, empty, with drop") {
    REQUIRE(fs.control("drop") == 0);
    REQUIRE(present(fs.backing() / "new"));
    CHECK(read_file(fs.backing() / "new").empty());
  }
  SECTION("stays, empty, with drop entries after only the directory's fsync") {
    fsync_dir(fs.mnt());
    REQUIRE(fs.control("drop entries") == 0);
    REQUIRE(present(fs.backing() / "new"));
    CHECK(read_file(fs.backing() / "new").empty());
  }
  SECTION("stays with its content under drop entries after fsync of the file and the directory") {
    Fd(fs.mnt() / "new", O_RDONLY).fsync();
    fsync_dir(fs.mnt());
    REQUIRE(fs.control("drop entries") == 0);
    CHECK(read_file(fs.backing() / "new") == "fresh data");
  }
}

TEST_CASE("lossyfs: an unlink without a directory fsync") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  const std::string content = pattern(5000, 7);
  put(fs.backing() / "victim", content);
  fs::create_directory(fs.backing() / "emptydir");
  fs::permissions(fs.backing() / "emptydir", fs::perms(0750));
  REQUIRE(::unlink((fs.mnt() / "victim").c_str()) == 0);
  REQUIRE(::rmdir((fs.mnt() / "emptydir").c_str()) == 0);
  REQUIRE_FALSE(present(fs.backing() / "victim"));

  SECTION("comes back with drop entries") {
    REQUIRE(fs.control("drop entries") == 0);
    CHECK(difference(read_file(fs.backing() / "victim"), content).empty());
    struct stat st {};
    REQUIRE(::stat((fs.backing() / "emptydir").c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 0750);
  }
  SECTION("stays gone with drop") {
    REQUIRE(fs.control("drop") == 0);
    CHECK_FALSE(present(fs.backing() / "victim"));
    CHECK_FALSE(present(fs.backing() / "emptydir"));
  }
  SECTION("stays gone after the directory's fsync") {
    fsync_dir(fs.mnt());
    REQUIRE(fs.control("drop entries") == 0);
    CHECK_FALSE(present(fs.backing() / "victim"));
    CHECK_FALSE(present(fs.backing() / "emptydir"));
  }
  CHECK(fs::is_empty(fs.backing() / ".lossyfs-stash"));
}

TEST_CASE("lossyfs: O_SYNC and O_DSYNC writes survive a drop") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  put(fs.backing() / "s", "old");
  put(fs.backing() / "d", pattern(8192, 8));
  Fd(fs.mnt() / "s", O_WRONLY | O_SYNC).write("synchronous");
  Fd(fs.mnt() / "d", O_WRONLY | O_DSYNC).write_at("data-synchronous", 4000);
  Fd(fs.mnt() / "s", O_WRONLY).write_at(" but not this", 11);  // a plain write after it
  REQUIRE(fs.control("drop") == 0);
  CHECK(read_file(fs.backing() / "s") == "synchronous");
  std::string d = pattern(8192, 8);
  d.replace(4000, 16, "data-synchronous");
  CHECK(difference(read_file(fs.backing() / "d"), d).empty());
}

TEST_CASE("lossyfs: drop torn restores a random half of the sectors, the same for a seed") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  constexpr size_t kSize = size_t{64} * 1024, kSector = 512;
  put(fs.backing() / "t", std::string(kSize, 'o'));
  put(fs.backing() / "g", std::string(1000, 'o'));
  // Which sectors came back old ('o') after a 64 KiB overwrite with 'n' and `command`.
  auto torn = [&](const std::string& command) {
    Fd(fs.mnt() / "t", O_WRONLY).write_at(std::string(kSize, 'n'), 0);
    REQUIRE(fs.control(command) == 0);
    std::string got = read_file(fs.backing() / "t");
    REQUIRE(got.size() == kSize);
    std::string old_sectors;
    old_sectors.reserve(kSize / kSector);
    for (size_t s = 0; s < kSize / kSector; ++s) {
      std::string sector = got.substr(s * kSector, kSector);
      bool all_old = sector == std::string(kSector, 'o');
      CHECK((all_old || sector == std::string(kSector, 'n')));  // never torn inside a sector
      old_sectors += all_old ? 'o' : 'n';
    }
    return old_sectors;
  };
  std::string first = torn("drop torn seed=7");
  auto olds = std::count(first.begin(), first.end(), 'o');
  CHECK(olds > 0);
  CHECK(olds < static_cast<long>(first.size()));
  CHECK(torn("drop seed=7 torn") == first);
  CHECK(torn("drop torn seed=8") != first);

  // A grown file keeps a prefix of its new tail, cut at a sector boundary.
  Fd(fs.mnt() / "g", O_WRONLY | O_APPEND).write(std::string(20000, 'n'));
  REQUIRE(fs.control("drop torn seed=3") == 0);
  std::string g = read_file(fs.backing() / "g");
  REQUIRE(g.size() >= 1000);
  REQUIRE(g.size() <= 21000);
  CHECK((g.size() == 1000 || g.size() % kSector == 0));
  CHECK(g.substr(0, 1000) == std::string(1000, 'o'));
  CHECK(g.substr(1000) == std::string(g.size() - 1000, 'n'));
}

TEST_CASE("lossyfs: the status line is JSON and counts what is pending") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  put(fs.backing() / "a", pattern(kPage, 9));
  nlohmann::json s = fs.status();
  CHECK(s["dirty-files"] == 0);
  CHECK(s["dirty-bytes"] == 0);
  CHECK(s["pending-entries"] == 0);
  CHECK(s["drops"] == 0);
  Fd(fs.mnt() / "a", O_WRONLY).write_at("changed", 10);  // one saved page
  put(fs.mnt() / "b", "0123456789");                     // 10 bytes past synced_size 0
  put(fs.mnt() / "c", "abc");
  s = fs.status();
  CHECK(s["dirty-files"] == 3);
  CHECK(s["dirty-bytes"] == kPage + 10 + 3);
  CHECK(s["pending-entries"] == 2);
  Fd(fs.mnt() / "c", O_RDONLY).fsync();
  CHECK(fs.status()["dirty-files"] == 2);
  REQUIRE(fs.control("drop") == 0);
  s = fs.status();
  CHECK(s["drops"] == 1);
  CHECK(s["dirty-files"] == 0);
  CHECK(s["pending-entries"] == 0);
  CHECK(s["last-drop"]["files"] == 2);
  CHECK(s["last-drop"]["pages-restored"] == 1);
  CHECK(s["last-drop"]["bytes-truncated"] == 10);
  CHECK(s["last-drop"]["entries-undone"] == 0);
  put(fs.mnt() / "d", "x");
  REQUIRE(fs.control("sync\n") == 0);
  s = fs.status();
  CHECK(s["dirty-files"] == 0);
  CHECK(s["pending-entries"] == 0);
  CHECK(read_file(fs.backing() / "d") == "x");
}

TEST_CASE("lossyfs: what is created through the mount belongs to the creating user") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  fs::permissions(fs.backing(), fs::perms(0777));
  put(fs.backing() / "roots", "root's file");
  fs::permissions(fs.backing() / "roots", fs::perms(0644));
  const std::string mnt = fs.mnt().string();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Exit codes say which step failed.
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(10);
    int fd = ::open((mnt + "/mine").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ::write(fd, "mine", 4) != 4 || ::fsync(fd) != 0) ::_exit(11);
    ::close(fd);
    if (::mkdir((mnt + "/mydir").c_str(), 0700) != 0) ::_exit(12);
    if (::symlink("mine", (mnt + "/mylink").c_str()) != 0) ::_exit(13);
    if (::mkfifo((mnt + "/myfifo").c_str(), 0600) != 0) ::_exit(14);
    // default_permissions: the kernel refuses what the user may not do.
    if (::open((mnt + "/roots").c_str(), O_WRONLY) >= 0 || errno != EACCES) ::_exit(15);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  for (const char* name : {"mine", "mydir", "mylink", "myfifo"}) {
    INFO(name);
    struct stat st {};
    REQUIRE(::lstat((fs.backing() / name).c_str(), &st) == 0);
    CHECK(st.st_uid == 65534);
    CHECK(st.st_gid == 65534);
  }
  CHECK(read_file(fs.backing() / "mine") == "mine");
  CHECK(read_file(fs.backing() / "roots") == "root's file");
}

TEST_CASE("lossyfs: the control file and the stash are not listed") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  put(fs.mnt() / "file", "x");
  REQUIRE(::mkdir((fs.mnt() / "dir").c_str(), 0755) == 0);
  REQUIRE(::unlink((fs.mnt() / "file").c_str()) == 0);  // something in the stash
  REQUIRE(present(fs.backing() / ".lossyfs-stash"));
  REQUIRE_FALSE(fs::is_empty(fs.backing() / ".lossyfs-stash"));
  std::set<std::string> names;
  DIR* d = ::opendir(fs.mnt().c_str());
  REQUIRE(d != nullptr);
  while (struct dirent* de = ::readdir(d)) names.insert(de->d_name);
  ::closedir(d);
  CHECK(names == std::set<std::string>{".", "..", "dir"});
  struct stat st {};
  REQUIRE(::stat((fs.mnt() / ".lossyfs").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == 0);
  CHECK(::stat((fs.mnt() / ".lossyfs-stash").c_str(), &st) != 0);
  CHECK_FALSE(present(fs.backing() / ".lossyfs"));
}

TEST_CASE("lossyfs: an unknown control command fails with EINVAL") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  CHECK(fs.control("explode") == EINVAL);
  CHECK(fs.control("drop sideways") == EINVAL);
  CHECK(fs.control("drop seed=3") == EINVAL);  // a seed without torn
  CHECK(fs.control("drop torn seed=x") == EINVAL);
  CHECK(fs.control("sync now") == EINVAL);
  CHECK(fs.control("\n") == EINVAL);
  CHECK(fs.status()["drops"] == 0);
  CHECK(fs.control("drop entries torn\n") == 0);
  CHECK(fs.status()["drops"] == 1);
}

TEST_CASE("lossyfs: a drop refuses to run while a file is open, unless forced") {
  if (!lossyfs_runs_here()) return;
  Lossyfs fs;
  put(fs.backing() / "f", "durable");
  {
    Fd f(fs.mnt() / "f", O_WRONLY);
    f.write_at("LOST", 0);
    CHECK(fs.status()["open-files"] == 1);
    // The database still runs: its files would change under it.
    CHECK(fs.control("drop") == EBUSY);
    CHECK(read_file(fs.backing() / "f") == "LOSTble");
    CHECK(fs.status()["drops"] == 0);
  }
  // Closed (FUSE releases asynchronously: wait for it, as LossyFs::drop does).
  for (int i = 0; i < 100 && fs.status()["open-files"] != 0; ++i) ::usleep(10000);
  CHECK(fs.status()["open-files"] == 0);
  CHECK(fs.control("drop") == 0);
  CHECK(read_file(fs.backing() / "f") == "durable");
  Fd g(fs.mnt() / "f", O_WRONLY);
  g.write_at("GONE", 0);
  CHECK(fs.control("drop force") == 0);
  CHECK(read_file(fs.backing() / "f") == "durable");
}
