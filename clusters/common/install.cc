#include "clusters/common/install.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

#include "clusters/common/nodes.h"
#include "clusters/common/text.h"
#include "harness/control/local_exec.h"
#include "harness/errors.h"
#include "harness/secure_dir.h"

namespace faultline::clusters {

namespace fs = std::filesystem;

namespace {

constexpr const char* kInstallDir = "/var/lib/faultline/install";

// The sha256 of a file on the controller (coreutils' sha256sum).
std::string local_sha256(const std::string& path) {
  auto session = control::make_local_session("controller", std::chrono::milliseconds(120000));
  ExecResult r = session->exec(Command{"sha256sum", "--", path});
  std::string sum = r.out.substr(0, r.out.find(' '));
  if (!r.ok() || sum.size() != 64) {
    throw ConfigError("cannot compute the sha256 of " + path + ": " + r.err);
  }
  return sum;
}

// The concatenation of `parts` (messages), built in one string.
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  ((s += parts), ...);
  return s;
}

bool is_hex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string mb(uintmax_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

Command as_root(Command c, bool root) {
  if (!root) c.as_sudo();
  return c;
}

ExecResult run(Session& s, const Command& c, bool root, const std::string& what) {
  ExecResult r = s.exec(as_root(c, root));
  if (!r.ok()) {
    const std::string why = trim(r.err.empty() ? r.out : r.err);
    throw RemoteError(s.node(), "install: " + what + " failed (exit " +
                                    std::to_string(r.exit_status) + "): " + why);
  }
  return r;
}

}  // namespace

OptionDecl install_option() {
  return {"install", Json{{"method", "none"}},
          "how the software gets onto the nodes: {method: none | apt (packages, repositories, "
          "keys) | tarball (url file:// or https://, sha256)}"};
}

InstallSpec parse_install(const Json& value, const std::string& where) {
  InstallSpec s;
  if (value.is_null()) return s;
  if (!value.is_object()) throw ConfigError(where + ": expected an object {\"method\": ...}");
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    if (!value.contains(key)) return out;
    const Json& v = value[key];
    if (!v.is_array()) throw ConfigError(where + "/" + key + ": expected a list of strings");
    for (const auto& x : v) {
      if (!x.is_string() || x.get<std::string>().empty()) {
        throw ConfigError(where + "/" + key + ": expected a list of non-empty strings");
      }
      out.push_back(x.get<std::string>());
    }
    return out;
  };
  auto text = [&](const char* key) -> std::string {
    if (!value.contains(key)) return "";
    if (!value[key].is_string()) throw ConfigError(where + "/" + key + ": expected a string");
    return value[key].get<std::string>();
  };
  for (const auto& [k, v] : value.items()) {
    static const std::vector<std::string> known = {"method", "packages", "repositories",
                                                   "keys",   "url",      "sha256"};
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      throw ConfigError(cat(where, "/", k,
                            ": unknown key (known: method, packages, repositories, "
                            "keys, url, sha256)"));
    }
  }
  s.method = value.contains("method") ? text("method") : "none";
  if (s.method == "none") return s;
  if (s.method == "apt") {
    s.packages = strings("packages");
    s.repositories = strings("repositories");
    s.keys = strings("keys");
    if (s.packages.empty()) throw ConfigError(where + "/packages: apt needs at least one package");
    for (const auto& p : s.packages) {
      if (p.find_first_of(" \t\n'\"\\;&|$`") != std::string::npos || p[0] == '-') {
        throw ConfigError(cat(where, "/packages: '", p, "' is not a package name[=version]"));
      }
    }
    for (const auto& r : s.repositories) {
      if (r.find('\n') != std::string::npos || r.rfind("deb", 0) != 0) {
        throw ConfigError(cat(where, "/repositories: '", r,
                              "' is not one sources.list line (deb ... or deb-src ...)"));
      }
    }
    for (const auto& k : s.keys) {
      if (!fs::is_regular_file(k)) {
        throw ConfigError(cat(where, "/keys: ", k, ": no such file on the controller"));
      }
      if (!is_plain_file_name(fs::path(k).filename().string())) {
        throw ConfigError(cat(where, "/keys: ", k, ": not a plain file name"));
      }
    }
    return s;
  }
  if (s.method == "tarball") {
    s.url = text("url");
    s.sha256 = text("sha256");
    if (!s.sha256.empty() && !is_hex64(s.sha256)) {
      throw ConfigError(where + "/sha256: expected 64 lower-case hex digits");
    }
    if (s.url.rfind("file://", 0) == 0) {
      std::string path = s.url.substr(7);
      if (path.empty() || path[0] != '/' || !fs::is_regular_file(path)) {
        throw ConfigError(where + "/url: " + s.url +
                          ": no such file on the controller (file:// takes an absolute path)");
      }
      std::string sum = local_sha256(path);
      if (!s.sha256.empty() && s.sha256 != sum) {
        throw ConfigError(where + "/sha256: " + path + " has sha256 " + sum + ", not " + s.sha256);
      }
      s.sha256 = sum;
    } else if (s.url.rfind("https://", 0) == 0 || s.url.rfind("http://", 0) == 0) {
      if (s.url.find_first_of(" \t\n'\"\\`") != std::string::npos) {
        throw ConfigError(where + "/url: no spaces or quotes in a URL");
      }
    } else {
      throw ConfigError(where + "/url: expected file:///ABSOLUTE/PATH, https:// or http://");
    }
    return s;
  }
  throw ConfigError(where + "/method: '" + s.method + "' is none of none, apt, tarball");
}

InstallSpec parse_package_install(const Json& value, const std::string& where) {
  InstallSpec s = parse_install(value, where);
  if (s.method == "tarball") {
    throw ConfigError(where +
                      "/method: tarball is not supported for this database (it runs "
                      "from its Debian packages): use apt or none");
  }
  return s;
}

std::string Installer::unpack_dir() const {
  if (spec_.method != "tarball") return "";
  // An https URL without a sha256 is cached under the sha256 of the URL itself.
  std::string key = spec_.sha256;
  if (key.empty()) {
    std::hash<std::string> h;
    char buf[32];
    std::snprintf(buf, sizeof buf, "url-%016zx", h(spec_.url));
    key = buf;
  }
  return std::string(kInstallDir) + "/" + key;
}

void Installer::install(Session& s, const std::function<void(const std::string&)>& log) const {
  if (spec_.method == "none") return;
  const std::string& node = s.node();
  Command id{"id", "-u"};
  id.idempotent = true;
  const bool root = trim(s.run_checked(id).out) == "0";
  auto say = [&](const std::string& line) {
    if (log) log("install: " + node + ": " + line);
  };
  if (spec_.method == "apt") {
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& k : spec_.keys) {
      const std::string name = fs::path(k).filename().string();
      const std::string tmp = "/tmp/faultline-key-" + name;
      s.upload(k, tmp);
      ExecResult r = run(s,
                         Command::shell("mkdir -p /etc/apt/keyrings; "
                                        "if cmp -s \"$1\" \"/etc/apt/keyrings/$2\"; then "
                                        "rm -f \"$1\"; echo same; else "
                                        "install -m 644 \"$1\" \"/etc/apt/keyrings/$2\" && "
                                        "rm -f \"$1\" && echo new; fi",
                                        {tmp, name}),
                         root, "key " + name);
      if (r.out.find("new") != std::string::npos) {
        say("key /etc/apt/keyrings/" + name + " installed");
      }
    }
    if (!spec_.repositories.empty()) {
      std::string list = "# written by faultline (db-options install)\n";
      for (const auto& r : spec_.repositories) list += r + "\n";
      Command c = Command::shell(
          "f=/etc/apt/sources.list.d/faultline.list; t=$f.new; cat > \"$t\" && "
          "if cmp -s \"$t\" \"$f\"; then rm -f \"$t\"; echo same; else mv \"$t\" \"$f\" && echo "
          "new; fi");
      c.with_stdin(list);
      ExecResult r = run(s, c, root, "writing the repository list");
      if (r.out.find("new") != std::string::npos) {
        say("repositories written to /etc/apt/sources.list.d/faultline.list");
      }
    }
    // Which packages are missing (or at another version than pinned).
    Command q = Command::shell(
        "for p in \"$@\"; do n=${p%%=*}; v=; case \"$p\" in *=*) v=${p#*=};; esac; "
        "have=$(dpkg-query -W -f='${Status} ${Version}' \"$n\" 2>/dev/null); "
        "case \"$have\" in 'install ok installed '*) iv=${have#install ok installed }; "
        "if [ -z \"$v\" ] || [ \"$v\" = \"$iv\" ]; then echo \"have $n $iv\"; continue; fi;; "
        "esac; echo \"need $p\"; done",
        spec_.packages);
    q.idempotent = true;
    ExecResult have = run(s, q, root, "dpkg-query");
    std::vector<std::string> need;
    std::istringstream in(have.out);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("have ", 0) == 0) say(line.substr(5) + " already installed");
      if (line.rfind("need ", 0) == 0) need.push_back(line.substr(5));
    }
    if (need.empty()) return;
    std::vector<std::string> args = need;
    Command inst = Command::shell(
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && "
        "apt-get install -y -q --no-install-recommends \"$@\" >/dev/null",
        args);
    inst.with_timeout(std::chrono::minutes(15));
    run(
        s, inst, root, "apt-get install " + [&] {
          std::string j;
          for (const auto& n : need) j += (j.empty() ? "" : " ") + n;
          return j;
        }());
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char buf[64];
    std::snprintf(buf, sizeof buf, " in %.1f s", secs);
    for (const auto& n : need) say(n + " installed" + buf);
    return;
  }
  // tarball
  const std::string dir = unpack_dir();
  const std::string key = fs::path(dir).filename().string();
  const std::string cache = std::string(kInstallDir) + "/cache/" + key + ".tar";
  Command prep = Command::shell(std::string(kPrivateDirShell) +
                                    "fl_private_dir \"$1\" 755 && fl_private_dir \"$1/cache\" 700 "
                                    "&& if [ -f \"$2/.faultline-unpacked\" ]; then echo unpacked; "
                                    "elif [ -n \"$4\" ] && [ -f \"$3\" ] && "
                                    "printf '%s  %s\\n' \"$4\" \"$3\" | sha256sum -c --status; "
                                    "then echo cached; else echo missing; fi",
                                {kInstallDir, dir, cache, spec_.sha256});
  prep.idempotent = true;
  ExecResult state = run(s, prep, root, "preparing " + std::string(kInstallDir));
  if (state.out.find("unpacked") != std::string::npos) {
    say("tarball " + key.substr(0, 12) + " already unpacked in " + dir);
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  if (state.out.find("missing") != std::string::npos) {
    if (spec_.url.rfind("file://", 0) == 0) {
      const std::string local = spec_.url.substr(7);
      // Per node: nodes of the local cluster share one filesystem.
      const std::string part = cache + ".part-" + node;
      // Uploaded as the SSH user to a temporary place it can write, then moved by root.
      const std::string tmp = "/tmp/faultline-install-" + key + "-" + node + ".tar";
      s.upload(local, root ? part : tmp);
      if (!root) run(s, Command{"mv", tmp, part}, root, "moving the upload");
      run(s,
          Command::shell("printf '%s  %s\\n' \"$1\" \"$2\" | sha256sum -c --status || "
                         "{ rm -f \"$2\"; echo 'the upload does not have the expected sha256' >&2; "
                         "exit 1; }; mv \"$2\" \"$3\"",
                         {spec_.sha256, part, cache}),
          root, "checking the upload");
      std::error_code ec;
      say("uploaded " + fs::path(local).filename().string() + " (" + mb(fs::file_size(local, ec)) +
          ")");
    } else {
      Command fetch = Command::shell(
          "p=\"$2.part\"; rm -f \"$p\"; "
          "if command -v curl >/dev/null; then curl -fsSL --retry 3 -o \"$p\" \"$1\"; "
          "elif command -v wget >/dev/null; then wget -q -O \"$p\" \"$1\"; "
          "else echo 'neither curl nor wget on the node' >&2; exit 1; fi || exit 1; "
          "if [ -n \"$3\" ]; then printf '%s  %s\\n' \"$3\" \"$p\" | sha256sum -c --status || "
          "{ rm -f \"$p\"; echo \"$1 does not have sha256 $3\" >&2; exit 1; }; fi; "
          "mv \"$p\" \"$2\"",
          {spec_.url, cache, spec_.sha256});
      fetch.with_timeout(std::chrono::minutes(15));
      run(s, fetch, root, "fetching " + spec_.url);
      say("fetched " + spec_.url);
    }
  } else {
    say("tarball " + key.substr(0, 12) + " cached on the node");
  }
  // Into a directory of this node's, then renamed into place; where another node sharing the
  // filesystem was first (the local cluster), its copy is kept and ours dropped.
  run(s,
      Command::shell("t=\"$1.tmp-$3\"; rm -rf \"$t\" && mkdir -p \"$t\" && "
                     "tar -xf \"$2\" -C \"$t\" && touch \"$t/.faultline-unpacked\" || exit 1; "
                     "if [ -f \"$1/.faultline-unpacked\" ]; then rm -rf \"$t\"; exit 0; fi; "
                     "rm -rf \"$1\"; mv -T \"$t\" \"$1\" 2>/dev/null || "
                     "{ [ -f \"$1/.faultline-unpacked\" ] && rm -rf \"$t\"; }",
                     {dir, cache, node}),
      root, "unpacking");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f s", secs);
  say("unpacked into " + dir + " in " + buf);
}

std::string Installer::install_all(const DbContext& ctx, const std::string& binary_name,
                                   const std::string& default_path) const {
  if (spec_.method == "none") return default_path;
  if (!ctx.remote) throw ConfigError("install: " + spec_.method + " needs nodes reached over SSH");
  std::mutex mu;
  std::map<std::string, std::string> paths;
  on_every_node(ctx.nodes, [&](const std::string& node, size_t) {
    auto s = ctx.remote->session(node);
    install(*s, [&](const std::string& line) { clusters::log(ctx, line); });
    std::string path = binary(*s, binary_name, default_path);
    std::lock_guard<std::mutex> lock(mu);
    paths[node] = path;
  });
  std::string path = paths.begin()->second;
  for (const auto& [node, p] : paths) {
    if (p != path) {
      throw RemoteError(node, cat("install: '", binary_name, "' is at ", p, " here but at ", path,
                                  " on ", paths.begin()->first));
    }
  }
  clusters::log(ctx, "install: " + binary_name + " is " + path + " on every node");
  return path;
}

std::string Installer::binary(Session& s, const std::string& name,
                              const std::string& default_path) const {
  if (spec_.method != "tarball") return default_path;
  Command find = Command::shell(
      "find \"$1\" -name \"$2\" -type f -perm -u+x 2>/dev/null | "
      "awk -F/ '{ print NF \" \" $0 }' | sort -n | head -n 1 | cut -d' ' -f2-",
      {unpack_dir(), name});
  find.idempotent = true;
  ExecResult r = s.exec(find);
  std::string path = r.out.substr(0, r.out.find('\n'));
  if (!r.ok() || path.empty()) {
    throw RemoteError(s.node(), "install: no executable '" + name + "' in the tarball (" +
                                    spec_.url + ", unpacked in " + unpack_dir() + ")");
  }
  return path;
}

std::vector<NodeCheck> Installer::node_checks() const {
  std::vector<NodeCheck> c;
  if (spec_.method == "apt") {
    c.push_back({"apt-get",
                 "command -v apt-get >/dev/null && command -v dpkg-query >/dev/null || "
                 "{ echo 'no apt-get/dpkg-query: not a Debian-family node'; exit 1; }; "
                 "apt-get --version | head -n 1",
                 {},
                 "install: apt needs a Debian or Ubuntu node; use install: tarball otherwise",
                 true});
  } else if (spec_.method == "tarball") {
    c.push_back({"tar",
                 "command -v tar >/dev/null && command -v sha256sum >/dev/null || "
                 "{ echo 'no tar or sha256sum'; exit 1; }; tar --version | head -n 1",
                 {},
                 "install tar and coreutils (install: tarball unpacks with them)",
                 true});
    if (spec_.url.rfind("file://", 0) != 0) {
      c.push_back({"curl or wget",
                   "command -v curl || command -v wget || { echo 'neither curl nor wget'; exit "
                   "1; }",
                   {},
                   "install curl (install: tarball fetches the URL on the node)",
                   true});
    }
  }
  return c;
}

}  // namespace faultline::clusters
