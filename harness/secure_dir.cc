#include "harness/secure_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "harness/errors.h"

namespace faultline {

namespace fs = std::filesystem;

namespace {

constexpr const char* kAdvice =
    ": root keeps files and programs there, so no other user may be able to change it or any "
    "directory above it; fix it (chown root, chmod go-w), remove it, or choose another "
    "directory";

// The components of an absolute path as prefixes: "/", "/a", "/a/b". Throws
// std::invalid_argument for a relative path or "." / ".." components.
std::vector<fs::path> prefixes(const fs::path& dir) {
  if (!dir.is_absolute()) {
    throw ConfigError("directory '" + dir.string() + "' is not an absolute path");
  }
  std::vector<fs::path> out;
  fs::path cur;
  for (const auto& part : dir) {
    std::string s = part.string();
    if (s.empty()) continue;  // a trailing '/'
    if (s == "." || s == "..") {
      throw ConfigError("directory '" + dir.string() + "' has a '" + s + "' component");
    }
    cur /= part;
    out.push_back(cur);
  }
  return out;
}

// Why one existing path fails the rule ("" when it passes); never follows a symlink.
std::string check_one(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return p.string() + ": " + std::strerror(errno);
  if (S_ISLNK(st.st_mode)) return p.string() + " is a symbolic link, not a directory";
  if (!S_ISDIR(st.st_mode)) return p.string() + " is not a directory";
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return p.string() + " is owned by uid " + std::to_string(st.st_uid) + ", not root";
  }
  if ((st.st_mode & 022) != 0) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return p.string() + " is writable by group or others (mode " + mode + ")";
  }
  return "";
}

}  // namespace

std::string unsafe_dir_reason(const fs::path& dir) {
  for (const auto& p : prefixes(dir)) {
    std::string why = check_one(p);
    if (!why.empty()) return why;
  }
  return "";
}

void make_private_dir(const fs::path& dir, mode_t mode) {
  for (const auto& p : prefixes(dir)) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno != ENOENT) {
        throw UnsafeDirError("cannot inspect " + p.string() + ": " + std::strerror(errno));
      }
      // The parent passed the check: only root (or we) can race us here, and what we find
      // after an EEXIST is checked like anything else.
      if (::mkdir(p.c_str(), mode) != 0 && errno != EEXIST) {
        throw UnsafeDirError("cannot create directory " + p.string() + ": " + std::strerror(errno));
      }
    }
    std::string why = check_one(p);
    if (!why.empty()) throw UnsafeDirError("unsafe directory: " + why + kAdvice);
  }
}

const char* const kPrivateDirShell = R"sh(
fl_private_dir() {
  _fl_me=$(id -u); _fl_p=; _fl_rest=${1#/}
  _fl_check / || return 3
  while [ -n "$_fl_rest" ]; do
    _fl_c=${_fl_rest%%/*}
    case $_fl_rest in */*) _fl_rest=${_fl_rest#*/} ;; *) _fl_rest= ;; esac
    [ -n "$_fl_c" ] || continue
    _fl_p="$_fl_p/$_fl_c"
    [ -e "$_fl_p" ] || [ -L "$_fl_p" ] || mkdir -m "$2" -- "$_fl_p" 2>/dev/null
    _fl_check "$_fl_p" || return 3
  done
}
_fl_check() {
  _fl_s=$(stat -c '%u %a %F' -- "$1" 2>/dev/null) || {
    echo "unsafe directory: $1 is missing and could not be created" >&2; return 3; }
  _fl_u=${_fl_s%% *}; _fl_s=${_fl_s#* }; _fl_a=${_fl_s%% *}; _fl_f=${_fl_s#* }
  _fl_why=
  if [ "$_fl_f" != directory ]; then _fl_why="is a $_fl_f, not a directory"
  elif [ "$_fl_u" != 0 ] && [ "$_fl_u" != "$_fl_me" ]; then _fl_why="is owned by uid $_fl_u, not root"
  elif [ $((0$_fl_a & 022)) -ne 0 ]; then _fl_why="is writable by group or others (mode $_fl_a)"
  fi
  [ -z "$_fl_why" ] && return 0
  echo "unsafe directory: $1 $_fl_why: root keeps files and programs there, so no other user may be able to change it or any directory above it; fix it (chown root, chmod go-w), remove it, or choose another directory" >&2
  return 3
}
)sh";

Command private_dir_command(const std::string& dir, mode_t mode) {
  char m[16];
  std::snprintf(m, sizeof m, "%o", static_cast<unsigned>(mode & 07777));
  Command c =
      Command::shell(std::string(kPrivateDirShell) + "fl_private_dir \"$1\" \"$2\"", {dir, m});
  c.idempotent = true;
  return c;
}

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\0", 2)) == std::string::npos;
}

void check_dir_option(const std::string& dir, const std::string& what) {
  if (dir.size() < 2 || dir[0] != '/') {
    throw ConfigError(what + ": '" + dir + "' must be an absolute path below /");
  }
  for (char c : dir) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::strchr("._+@%=,:/-", c) != nullptr;
    if (!ok || c == '\0') {
      throw ConfigError(
          what +
          ": directory may hold only letters, digits and ._+@%=,:/- (no spaces, quotes "
          "or newlines: it goes into command lines and config files)");
    }
  }
  std::string rest = dir.substr(1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find('/', start);
    if (end == std::string::npos) end = rest.size();
    std::string part = rest.substr(start, end - start);
    if (part == "." || part == ".." || (part.empty() && end != rest.size())) {
      throw ConfigError(what + ": '" + dir +
                        "' must be a plain absolute path (no '.', '..' or '//')");
    }
    start = end + 1;
  }
  if (dir.size() > 1 && dir.back() == '/') {
    throw ConfigError(what + ": '" + dir + "' must not end in '/'");
  }
}

}  // namespace faultline
