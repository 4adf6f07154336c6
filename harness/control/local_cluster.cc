#include "harness/control/local_cluster.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness/control/inventory.h"
#include "harness/control/local_exec.h"
#include "harness/errors.h"
#include "harness/files.h"
#include "harness/registry.h"
#include "harness/remote.h"
#include "harness/secure_dir.h"

namespace faultline::control {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

fs::path state_path(const std::string& name) {
  return fs::path("/run/faultline/clusters") / (name + ".json");
}

fs::path default_dir(const std::string& name) {
  return fs::path("/var/lib/faultline/clusters") / name;
}

namespace {

constexpr const char* kSshd = "/usr/sbin/sshd";
constexpr milliseconds kTermWait{3000};
constexpr milliseconds kKillWait{10000};
constexpr milliseconds kSshdReadyWait{10000};

void require_root(const std::string& what) {
  if (::geteuid() != 0) {
    throw ConfigError("`cluster " + what +
                      "` needs root (network namespaces, bridge, iptables): run it as root");
  }
}

void check_name(const std::string& name) {
  static const std::regex re("[a-z][a-z0-9]{0,9}");
  if (!std::regex_match(name, re)) {
    throw ConfigError("cluster name '" + name +
                      "' must be 1-10 of [a-z0-9], starting with a letter");
  }
}

// "A.B.C.0/24" -> "A.B.C"; throws ConfigError for anything but a private /24.
std::string subnet_base(const std::string& subnet) {
  static const std::regex re(R"((\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0/24)");
  std::smatch m;
  if (!std::regex_match(subnet, m, re)) {
    throw ConfigError("subnet '" + subnet + "' must look like 10.77.7.0/24");
  }
  int a = std::stoi(m[1]), b = std::stoi(m[2]), c = std::stoi(m[3]);
  if (a > 255 || b > 255 || c > 255) throw ConfigError("subnet '" + subnet + "' is not an address");
  bool priv = a == 10 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168);
  if (!priv) {
    throw ConfigError("subnet '" + subnet +
                      "' is not private (10/8, 172.16/12, 192.168/16): it could be routed off "
                      "this machine");
  }
  return m[1].str() + "." + m[2].str() + "." + m[3].str();
}

uint32_t parse_ipv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return 0;
  return ntohl(a.s_addr);
}

std::string now_text() {
  auto t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool pid_alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& text, fs::perms perms) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + p.string());
  }
  fs::permissions(p, perms);
}

// /proc/<pid>/cmdline as words.
std::vector<std::string> cmdline(int pid) {
  std::string raw = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> out;
  std::string cur;
  for (char c : raw) {
    if (c == '\0') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

int parent_pid(int pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(stat.substr(close + 2));
  char state = 0;
  int ppid = -1;
  in >> state >> ppid;
  return ppid;
}

std::vector<int> all_pids() {
  std::vector<int> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && pid > 0) out.push_back(static_cast<int>(pid));
  }
  ::closedir(d);
  return out;
}

// Every process whose network namespace is the named one (found by inode, not by name).
std::vector<int> pids_in_netns(const std::string& ns) {
  struct stat target {};
  if (::stat(("/run/netns/" + ns).c_str(), &target) != 0) return {};
  std::vector<int> out;
  int self = ::getpid();
  for (int pid : all_pids()) {
    if (pid == self) continue;
    struct stat st {};
    if (::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) != 0) continue;
    if (st.st_ino == target.st_ino && st.st_dev == target.st_dev) out.push_back(pid);
  }
  return out;
}

std::vector<int> descendants(int root) {
  std::vector<int> pids = all_pids();
  std::vector<int> out;
  std::set<int> set{root};
  bool grew = true;
  while (grew) {
    grew = false;
    for (int pid : pids) {
      if (set.count(pid) == 0 && set.count(parent_pid(pid)) != 0) {
        set.insert(pid);
        out.push_back(pid);
        grew = true;
      }
    }
  }
  return out;
}

// Waits until none of `pids` exists; returns those still there at the deadline.
std::vector<int> wait_gone(const std::vector<int>& pids, milliseconds limit) {
  auto deadline = Clock::now() + limit;
  std::vector<int> left = pids;
  while (!left.empty()) {
    std::vector<int> still;
    for (int p : left) {
      if (pid_alive(p)) still.push_back(p);
    }
    left.swap(still);
    if (left.empty() || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return left;
}

// SIGTERM, then SIGKILL for the stubborn, then waits for every pid to vanish.
std::vector<int> stop_pids(const std::vector<int>& pids, bool gentle) {
  if (pids.empty()) return {};
  std::vector<int> left = pids;
  if (gentle) {
    for (int p : left) ::kill(p, SIGTERM);
    left = wait_gone(left, kTermWait);
  }
  for (int p : left) ::kill(p, SIGKILL);
  return wait_gone(left, kKillWait);
}

bool tcp_reachable(const std::string& ip, int port, milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  bool ok = false;
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc == 0) {
    ok = true;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      ok = err == 0;
    }
  }
  ::close(fd);
  return ok;
}

// An exclusive lock on the state directory, so two faultline processes never build or remove
// clusters at once (each takes about a second). Released when destroyed or when the process
// dies; leaves no file behind.
class ClusterLock {
 public:
  explicit ClusterLock(const std::string& name) {
    fs::path dir = state_path(name).parent_path();
    try {
      make_private_dir(dir);
    } catch (const UnsafeDirError& e) {
      throw ConfigError(e.what());
    }
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("cannot open " + dir.string());
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (Clock::now() >= deadline) {
        ::close(fd_);
        throw ConfigError("another faultline process has held " + dir.string() +
                          " for 30 s while working on a cluster; is one stuck?");
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  ~ClusterLock() { ::close(fd_); }
  ClusterLock(const ClusterLock&) = delete;
  ClusterLock& operator=(const ClusterLock&) = delete;

 private:
  int fd_ = -1;
};

// Everything one cluster is made of, derived from its name, subnet, size and directory.
struct Layout {
  std::string name;
  std::string subnet;
  std::string base;  // "A.B.C"
  int nodes = 0;
  fs::path dir;

  std::string bridge() const { return name + "-br"; }
  std::string netns(int i) const { return name + "-n" + std::to_string(i); }
  std::string veth(int i) const { return name + "-v" + std::to_string(i); }
  std::string node(int i) const { return "n" + std::to_string(i); }
  std::string host_ip() const { return base + ".1"; }
  std::string ip(int i) const { return base + "." + std::to_string(10 + i); }
  fs::path ssh_dir() const { return dir / "ssh"; }
  fs::path key() const { return ssh_dir() / "id_ed25519"; }
  fs::path known_hosts() const { return ssh_dir() / "known_hosts"; }
  fs::path node_dir(int i) const { return dir / node(i); }
  fs::path sshd_dir(int i) const { return node_dir(i) / "sshd"; }
  fs::path sshd_config(int i) const { return sshd_dir(i) / "sshd_config"; }
  fs::path sshd_pidfile(int i) const { return sshd_dir(i) / "sshd.pid"; }
  fs::path etc_netns(int i) const { return fs::path("/etc/netns") / netns(i); }
  // The host iptables rules, by id: {chain, arguments after the chain}. The two drops are the
  // safety net (nothing addressed to the subnet leaves through another interface); the accept
  // keeps node-to-node traffic flowing when br_netfilter sends bridged frames through a
  // FORWARD chain whose policy is DROP (as docker sets it).
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> iptables_rules() const {
    std::string comment = "faultline cluster " + name;
    std::vector<std::string> drop = {
        "-d",      subnet,      "!",
        "-o",      bridge(),    "-m",
        "comment", "--comment", comment + ": never route the cluster subnet off this machine",
        "-j",      "DROP"};
    std::vector<std::string> accept = {"-i", bridge(),  "-o",        bridge(),
                                       "-m", "comment", "--comment", comment + ": node to node",
                                       "-j", "ACCEPT"};
    return {{"output-drop", {"OUTPUT", drop}},
            {"forward-drop", {"FORWARD", drop}},
            {"forward-accept-bridge", {"FORWARD", accept}}};
  }

  Json to_json() const {
    return {{"name", name}, {"subnet", subnet}, {"nodes", nodes}, {"dir", dir.string()}};
  }
  static Layout from_json(const Json& j) {
    Layout l;
    l.name = j.at("name").get<std::string>();
    l.subnet = j.at("subnet").get<std::string>();
    l.base = subnet_base(l.subnet);
    l.nodes = j.at("nodes").get<int>();
    l.dir = j.at("dir").get<std::string>();
    return l;
  }
};

// The state file: the layout plus a record of each thing made, written before it is made.
class State {
 public:
  explicit State(const std::string& name) : path_(state_path(name)) {}

  bool load() {
    std::error_code ec;
    if (!fs::exists(path_, ec)) return false;
    try {
      doc_ = Json::parse(read_file(path_));
    } catch (const Json::exception& e) {
      throw std::runtime_error("state file " + path_.string() + " is corrupt (" + e.what() +
                               "); inspect and remove it by hand");
    }
    return true;
  }
  void init(const Layout& l) {
    doc_ = {{"layout", l.to_json()},
            {"made", Json::object()},
            {"complete", false},
            {"started", now_text()}};
    save();
  }
  Layout layout() const { return Layout::from_json(doc_.at("layout")); }
  // Records `item` under `kind` (before it is made) and saves.
  void record(const std::string& kind, const Json& item) {
    Json& list = doc_["made"][kind];
    if (!list.is_array()) list = Json::array();
    for (const auto& x : list) {
      if (x == item) return;
    }
    list.push_back(item);
    save();
  }
  void forget(const std::string& kind, const Json& item) {
    Json& list = doc_["made"][kind];
    if (!list.is_array()) return;
    Json kept = Json::array();
    for (const auto& x : list) {
      if (x != item) kept.push_back(x);
    }
    list = kept;
    save();
  }
  Json made(const std::string& kind) const {
    if (doc_.contains("made") && doc_["made"].contains(kind)) return doc_["made"][kind];
    return Json::array();
  }
  void set(const std::string& key, const Json& value) {
    doc_[key] = value;
    save();
  }
  Json get(const std::string& key) const { return doc_.value(key, Json()); }
  void remove() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  void save() {
    fs::create_directories(path_.parent_path());
    // What `down` needs after a crash: checked writes, file and directory fsynced, whole or not
    // at all (issue 14 item 12's class).
    write_file_atomic(path_, doc_.dump(2) + "\n");
  }

  fs::path path_;
  Json doc_;
};

class Provisioner : public LocalClusterProvisioner {
 public:
  Provisioner() : local_(make_local_session("localhost", milliseconds(60000))) {}

  Inventory up(const LocalClusterOptions& o, std::ostream& log) override {
    require_root("up");
    check_name(o.name);
    if (o.nodes < 1 || o.nodes > 9) throw ConfigError("--nodes must be from 1 to 9");
    Layout l;
    l.name = o.name;
    l.subnet = o.subnet;
    l.base = subnet_base(o.subnet);
    l.nodes = o.nodes;
    l.dir = o.dir.empty() ? default_dir(o.name) : fs::path(o.dir);
    if (!l.dir.is_absolute()) l.dir = fs::absolute(l.dir).lexically_normal();
    try {
      check_dir_option(l.dir.string(), "--dir");
    } catch (const std::invalid_argument& e) {
      throw ConfigError(e.what());
    }

    ClusterLock lock(o.name);
    State old(o.name);
    if (old.load()) {
      // A healthy cluster may hold a user's databases: never replace it silently.
      if (status(o.name).value("up", false)) {
        throw ConfigError("cluster " + o.name + " is already up (`faultline cluster down --name " +
                          o.name + "` first)");
      }
      log << "cluster " << o.name << ": cleaning up what an earlier run left ("
          << old.path().string() << ")\n";
      teardown(old, log);
    }
    check_nothing_in_the_way(l);
    // Refuse an unsafe place for the cluster directory before anything is made.
    for (fs::path p = l.dir.parent_path();; p = p.parent_path()) {
      std::error_code ec;
      if (fs::exists(fs::symlink_status(p, ec)) || p == p.root_path()) {
        std::string why = unsafe_dir_reason(p);
        if (!why.empty()) {
          throw ConfigError("cannot bring up cluster " + l.name + " in " + l.dir.string() +
                            ": unsafe directory: " + why +
                            " (root's sshd trusts the keys kept there; give --dir under a "
                            "directory only root can write, such as the default " +
                            default_dir(l.name).string() + ")");
        }
        break;
      }
    }

    auto t0 = Clock::now();
    State st(o.name);
    st.init(l);
    // 1. The safety rules, before any address of the subnet exists anywhere.
    const auto rules = l.iptables_rules();
    for (const char* id : {"output-drop", "forward-drop", "forward-accept-bridge"}) {
      const auto& [chain, args] = rules.at(id);
      st.record("iptables", id);
      std::vector<std::string> check = {"iptables", "-w", "-C", chain};
      check.insert(check.end(), args.begin(), args.end());
      if (local_->exec(Command(check)).exit_status != 0) {
        std::vector<std::string> add = {"iptables", "-w", "-I", chain, "1"};
        add.insert(add.end(), args.begin(), args.end());
        run(add);
      }
    }
    // 2. Directories and keys. Parents we create are removed again if empty (deepest first).
    // The cluster directory holds what root's sshd trusts (authorized_keys, its config): it
    // and every directory above it must be root's alone (harness/secure_dir.h), and it is
    // made here, never found.
    if (!fs::exists("/etc/netns")) st.record("parents", "/etc/netns");
    for (fs::path p = l.dir.parent_path(); p != p.root_path(); p = p.parent_path()) {
      std::error_code ec;
      if (fs::exists(fs::symlink_status(p, ec))) break;
      st.record("parents", p.string());
    }
    make_private_dir(l.dir.parent_path());
    st.record("dirs", l.dir.string());
    if (::mkdir(l.dir.c_str(), 0755) != 0) {
      throw std::runtime_error("cannot create cluster directory " + l.dir.string() + ": " +
                               std::strerror(errno));
    }
    make_private_dir(l.dir);  // checks what we made
    ::chmod(l.dir.c_str(), 0755);
    if (::mkdir(l.ssh_dir().c_str(), 0700) != 0) {
      throw std::runtime_error("cannot create " + l.ssh_dir().string() + ": " +
                               std::strerror(errno));
    }
    run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "faultline-" + l.name, "-f",
         l.key().string()});
    fs::copy_file(l.key().string() + ".pub", l.ssh_dir() / "authorized_keys",
                  fs::copy_options::overwrite_existing);
    make_private_dir("/run/sshd");  // sshd refuses to start without it
    std::string known_hosts;
    for (int i = 1; i <= l.nodes; ++i) {
      fs::create_directories(l.sshd_dir(i));
      fs::create_directories(l.node_dir(i) / "data");
      fs::create_directories(l.node_dir(i) / "logs");
      fs::path hk = l.sshd_dir(i) / "ssh_host_ed25519_key";
      run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", l.node(i), "-f", hk.string()});
      std::string pub = read_file(hk.string() + ".pub");
      std::istringstream words(pub);
      std::string type, blob;
      words >> type >> blob;
      known_hosts += l.ip(i) + " " + type + " " + blob + "\n";
      write_file(l.sshd_config(i), sshd_config(l, i), fs::perms(0644));
    }
    write_file(l.known_hosts(), known_hosts, fs::perms(0644));
    auto t_keys = Clock::now();

    // 3. Bridge, namespaces, veths, addresses.
    st.record("bridge", l.bridge());
    run({"ip", "link", "add", l.bridge(), "type", "bridge"});
    run({"ip", "addr", "add", l.host_ip() + "/24", "dev", l.bridge()});
    run({"ip", "link", "set", l.bridge(), "up"});
    std::string hosts = "127.0.0.1 localhost\n" + l.host_ip() + " controller\n";
    for (int i = 1; i <= l.nodes; ++i) hosts += l.ip(i) + " " + l.node(i) + "\n";
    for (int i = 1; i <= l.nodes; ++i) {
      st.record("etc_netns", l.etc_netns(i).string());
      fs::create_directories(l.etc_netns(i));
      write_file(l.etc_netns(i) / "hosts", hosts, fs::perms(0644));
      st.record("netns", l.netns(i));
      run({"ip", "netns", "add", l.netns(i)});
      st.record("veth", l.veth(i));
      run({"ip", "link", "add", l.veth(i), "type", "veth", "peer", "name", "eth0", "netns",
           l.netns(i)});
      run({"ip", "link", "set", l.veth(i), "master", l.bridge(), "up"});
      run({"ip", "-n", l.netns(i), "addr", "add", l.ip(i) + "/24", "dev", "eth0"});
      run({"ip", "-n", l.netns(i), "link", "set", "eth0", "up"});
      run({"ip", "-n", l.netns(i), "link", "set", "lo", "up"});
    }
    auto t_net = Clock::now();

    // 4. One sshd per node, in its namespace, with its own hostname.
    for (int i = 1; i <= l.nodes; ++i) launch_sshd(l, i);
    for (int i = 1; i <= l.nodes; ++i) wait_sshd_ready(st, l, i);
    auto t_sshd = Clock::now();

    Inventory inv = inventory_of(l);
    write_file(l.dir / "inventory.json", inv.to_json().dump(2) + "\n", fs::perms(0644));
    st.set("complete", true);
    log << "cluster " << l.name << ": " << l.nodes << " nodes up on " << l.subnet << " in "
        << seconds_since(t0) << " s (keys " << std::chrono::duration<double>(t_keys - t0).count()
        << " s, network " << std::chrono::duration<double>(t_net - t_keys).count() << " s, sshd "
        << std::chrono::duration<double>(t_sshd - t_net).count() << " s)\n"
        << "inventory: " << (l.dir / "inventory.json").string() << "\n";
    return inv;
  }

  void down(const std::string& name, std::ostream& log) override {
    require_root("down");
    check_name(name);
    ClusterLock lock(name);
    State st(name);
    if (!st.load()) {
      log << "cluster " << name << ": not up (no state file " << st.path().string() << ")\n";
      return;
    }
    auto t0 = Clock::now();
    teardown(st, log);
    log << "cluster " << name << ": down in " << seconds_since(t0) << " s\n";
  }

  Json status(const std::string& name) override {
    check_name(name);
    State st(name);
    Json out = {{"name", name}, {"up", false}, {"state_file", st.path().string()}};
    if (!st.load()) return out;
    Layout l = st.layout();
    out["subnet"] = l.subnet;
    out["dir"] = l.dir.string();
    out["complete"] = st.get("complete");
    out["inventory"] = (l.dir / "inventory.json").string();
    Json sshd = st.get("sshd");
    bool all = st.get("complete") == true;
    Json nodes = Json::array();
    for (int i = 1; i <= l.nodes; ++i) {
      int pid = sshd.is_object() ? sshd.value(l.node(i), 0) : 0;
      bool ns = fs::exists("/run/netns/" + l.netns(i));
      bool alive = pid_alive(pid);
      bool reach = ns && tcp_reachable(l.ip(i), 22, milliseconds(300));
      all = all && ns && alive && reach;
      nodes.push_back({{"name", l.node(i)},
                       {"address", l.ip(i)},
                       {"netns", l.netns(i)},
                       {"netns_exists", ns},
                       {"sshd_pid", pid},
                       {"sshd_alive", alive},
                       {"reachable", reach}});
    }
    out["nodes"] = nodes;
    out["up"] = all;
    return out;
  }

  std::optional<Inventory> inventory(const std::string& name) override {
    check_name(name);
    State st(name);
    if (!st.load() || st.get("complete") != true) return std::nullopt;
    return inventory_of(st.layout());
  }

  void kill_sshd(const std::string& name, const std::string& node) override {
    require_root("kill-sshd");
    State st = loaded(name);
    Layout l = st.layout();
    int i = node_index(l, node);
    int pid = st.get("sshd").value(l.node(i), 0);
    if (!is_our_sshd(pid, l, i)) return;
    std::vector<int> pids = descendants(pid);
    pids.insert(pids.begin(), pid);
    for (int p : pids) ::kill(p, SIGKILL);
    std::vector<int> left = wait_gone(pids, kKillWait);
    if (!left.empty()) {
      throw std::runtime_error("sshd of " + node + " (pid " + std::to_string(pid) +
                               ") did not go away after SIGKILL");
    }
  }

  void start_sshd(const std::string& name, const std::string& node) override {
    require_root("start-sshd");
    State st = loaded(name);
    Layout l = st.layout();
    int i = node_index(l, node);
    int pid = st.get("sshd").value(l.node(i), 0);
    if (is_our_sshd(pid, l, i)) return;
    launch_sshd(l, i);
    wait_sshd_ready(st, l, i);
  }

  std::vector<std::string> reset(const std::string& name) override {
    require_root("reset");
    ClusterLock lock(name);
    State st = loaded(name);
    if (st.get("complete") != true) {
      throw ConfigError("local cluster '" + name + "' is not completely up: bring it up again");
    }
    Layout l = st.layout();
    std::vector<std::string> undone;
    for (int i = 1; i <= l.nodes; ++i) {
      const std::string node = l.node(i);
      int sshd = st.get("sshd").value(node, 0);
      if (!is_our_sshd(sshd, l, i)) sshd = 0;
      // Everything in the namespace but the listener and its per-connection sshd processes
      // (they end with their connection; a test's closing connections leave some for a
      // moment): whatever they run is stopped. A rescan catches what forked meanwhile.
      size_t stopped = 0;
      for (int round = 0; round < 5; ++round) {
        std::vector<int> pids;
        std::vector<int> sessions = sshd > 0 ? descendants(sshd) : std::vector<int>{};
        for (int pid : pids_in_netns(l.netns(i))) {
          if (pid == sshd) continue;
          bool session = std::find(sessions.begin(), sessions.end(), pid) != sessions.end();
          std::vector<std::string> argv = cmdline(pid);
          if (session && !argv.empty() && argv[0].rfind("sshd:", 0) == 0) continue;
          pids.push_back(pid);
        }
        if (pids.empty()) break;
        stopped += pids.size();
        std::vector<int> left = stop_pids(pids, round == 0);
        if (!left.empty()) {
          throw std::runtime_error(node + ": process " + std::to_string(left.front()) +
                                   " survived SIGKILL");
        }
      }
      if (stopped > 0)
        undone.push_back(node + ": stopped " + std::to_string(stopped) + " processes");
      if (sshd == 0) {
        launch_sshd(l, i);
        wait_sshd_ready(st, l, i);
        undone.push_back(node + ": sshd was gone: started again");
      }
      for (const char* tool : {"iptables", "ip6tables"}) {
        for (const char* table : {"filter", "nat", "mangle", "raw"}) {
          ExecResult r =
              local_->exec(Command{"ip", "netns", "exec", l.netns(i), tool, "-t", table, "-S"});
          if (!r.ok()) continue;  // no such table in this kernel
          std::istringstream lines(r.out);
          std::string line;
          bool rules = false;
          while (std::getline(lines, line)) {
            if (line.rfind("-P ", 0) == 0 && line.find(" ACCEPT") != std::string::npos) continue;
            if (!line.empty()) rules = true;
          }
          if (!rules) continue;
          for (const char* step : {"-F", "-X"}) {
            run({"ip", "netns", "exec", l.netns(i), tool, "-t", table, step});
          }
          if (std::string(table) == "filter") {
            for (const char* chain : {"INPUT", "OUTPUT", "FORWARD"}) {
              run({"ip", "netns", "exec", l.netns(i), tool, "-t", table, "-P", chain, "ACCEPT"});
            }
          }
          undone.push_back(node + ": " + tool + " table " + table + " flushed");
        }
      }
      ExecResult qd =
          local_->exec(Command{"ip", "netns", "exec", l.netns(i), "tc", "qdisc", "show"});
      std::istringstream lines(qd.out);
      std::string line;
      std::set<std::string> devs;
      while (std::getline(lines, line)) {
        // "qdisc netem 8001: dev eth0 root refcnt 2 ..." (the defaults are noqueue / "0:")
        std::istringstream words(line);
        std::string q, kind, handle, dev_word, dev, root;
        words >> q >> kind >> handle >> dev_word >> dev >> root;
        if (root == "root" && handle != "0:" && kind != "noqueue") devs.insert(dev);
      }
      for (const auto& dev : devs) {
        run({"ip", "netns", "exec", l.netns(i), "tc", "qdisc", "del", "dev", dev, "root"});
        std::string line = node;
        line += ": root qdisc of " + dev + " deleted";
        undone.push_back(line);
      }
    }
    return undone;
  }

 private:
  State loaded(const std::string& name) {
    check_name(name);
    State st(name);
    if (!st.load()) throw ConfigError("local cluster '" + name + "' is not up");
    return st;
  }

  static int node_index(const Layout& l, const std::string& node) {
    for (int i = 1; i <= l.nodes; ++i) {
      if (l.node(i) == node) return i;
    }
    throw UnknownNodeError("unknown node '" + node + "' (nodes: n1..n" + std::to_string(l.nodes) +
                           ")");
  }

  ExecResult run(const std::vector<std::string>& argv) {
    return local_->run_checked(Command(argv));
  }

  static std::string sshd_config(const Layout& l, int i) {
    std::ostringstream c;
    c << "# faultline local cluster " << l.name << ", node " << l.node(i) << "\n"
      << "ListenAddress " << l.ip(i) << ":22\n"
      << "HostKey " << (l.sshd_dir(i) / "ssh_host_ed25519_key").string() << "\n"
      << "PidFile " << l.sshd_pidfile(i).string() << "\n"
      << "AuthorizedKeysFile " << (l.ssh_dir() / "authorized_keys").string() << "\n"
      << "PermitRootLogin prohibit-password\n"
      << "PubkeyAuthentication yes\n"
      << "PasswordAuthentication no\n"
      << "KbdInteractiveAuthentication no\n"
      << "UsePAM no\n"
      // authorized_keys and every directory above it must be root's (they are: see up()).
      << "StrictModes yes\n"
      << "UseDNS no\n"
      << "X11Forwarding no\n"
      << "PrintMotd no\n"
      << "PrintLastLog no\n"
      << "MaxSessions 20\n"
      << "MaxStartups 100:30:200\n"
      << "Subsystem sftp internal-sftp\n"
      // bash run by sshd sources ~/.bashrc unless SHLVL is already set: the controller's
      // root dotfiles (pyenv init: 170 ms here) have no business in every command of a node.
      << "SetEnv SHLVL=1\n";
    return c.str();
  }

  // Whether `pid` is the sshd of node i of this cluster (guards against reused pids).
  static bool is_our_sshd(int pid, const Layout& l, int i) {
    if (!pid_alive(pid)) return false;
    // sshd rewrites its title ("sshd: /usr/sbin/sshd -f CONFIG ... [listener] ..."), so
    // look for the config path anywhere in it.
    for (const auto& w : cmdline(pid)) {
      if (w.find(l.sshd_config(i).string()) != std::string::npos) return true;
    }
    return false;
  }

  void launch_sshd(const Layout& l, int i) {
    std::error_code ec;
    fs::remove(l.sshd_pidfile(i), ec);
    run({kSshd, "-t", "-f", l.sshd_config(i).string()});
    fs::path log = l.sshd_dir(i) / "sshd.log";
    // sshd daemonizes; its parent (this shell) returns once it listens.
    Command c = Command::shell("hostname \"$1\" && exec \"$2\" -f \"$3\" -E \"$4\"",
                               {l.node(i), kSshd, l.sshd_config(i).string(), log.string()});
    std::vector<std::string> argv = {"ip", "netns", "exec", l.netns(i), "unshare", "--uts"};
    argv.insert(argv.end(), c.argv.begin(), c.argv.end());
    run(argv);
  }

  void wait_sshd_ready(State& st, const Layout& l, int i) {
    auto deadline = Clock::now() + kSshdReadyWait;
    int pid = 0;
    while (Clock::now() < deadline) {
      std::string text = read_file(l.sshd_pidfile(i));
      if (!text.empty()) {
        pid = std::atoi(text.c_str());
        if (pid > 0) break;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    if (pid <= 0) {
      throw std::runtime_error("sshd of " + l.node(i) + " wrote no pid file; see " +
                               (l.sshd_dir(i) / "sshd.log").string());
    }
    Json sshd = st.get("sshd");
    if (!sshd.is_object()) sshd = Json::object();
    sshd[l.node(i)] = pid;
    st.set("sshd", sshd);
    while (Clock::now() < deadline) {
      if (tcp_reachable(l.ip(i), 22, milliseconds(200))) return;
      std::this_thread::sleep_for(milliseconds(5));
    }
    throw std::runtime_error("sshd of " + l.node(i) + " does not accept connections on " + l.ip(i) +
                             ":22; see " + (l.sshd_dir(i) / "sshd.log").string());
  }

  static Inventory inventory_of(const Layout& l) {
    Inventory inv;
    for (int i = 1; i <= l.nodes; ++i) {
      NodeSpec n;
      n.name = l.node(i);
      n.host = l.ip(i);
      n.port = 22;
      n.user = "root";
      n.key = l.key().string();
      n.known_hosts = l.known_hosts().string();
      inv.nodes.push_back(n);
    }
    return inv;
  }

  // Refuses to start when something that is not ours uses our names or subnet.
  void check_nothing_in_the_way(const Layout& l) {
    std::vector<std::string> problems;
    std::error_code ec;
    for (int i = 1; i <= 9; ++i) {
      if (fs::exists("/run/netns/" + l.netns(i), ec)) {
        problems.push_back("network namespace " + l.netns(i) + " (`ip netns del " + l.netns(i) +
                           "`)");
      }
      if (fs::exists("/sys/class/net/" + l.veth(i), ec)) {
        problems.push_back("interface " + l.veth(i) + " (`ip link del " + l.veth(i) + "`)");
      }
    }
    if (fs::exists("/sys/class/net/" + l.bridge(), ec)) {
      problems.push_back("interface " + l.bridge() + " (`ip link del " + l.bridge() + "`)");
    }
    if (fs::exists(l.dir, ec)) problems.push_back("directory " + l.dir.string());
    // Any route or address overlapping the subnet.
    ExecResult routes = local_->exec(Command{"ip", "-j", "-4", "route", "show", "table", "all"});
    if (routes.ok()) {
      uint32_t net = parse_ipv4(l.base + ".0");
      std::map<std::string, std::string> by_dev;  // dev -> its overlapping routes
      try {
        for (const auto& r : Json::parse(routes.out)) {
          std::string dst = r.value("dst", "");
          if (dst.empty() || dst == "default") continue;
          int len = 32;
          size_t slash = dst.find('/');
          if (slash != std::string::npos) {
            len = std::stoi(dst.substr(slash + 1));
            dst = dst.substr(0, slash);
          }
          uint32_t a = parse_ipv4(dst);
          if (a == 0 && dst != "0.0.0.0") continue;
          int common = std::min(len, 24);
          uint32_t mask = common == 0 ? 0 : ~uint32_t{0} << (32 - common);
          if ((a & mask) == (net & mask)) {
            std::string& list = by_dev[r.value("dev", "?")];
            list += (list.empty() ? "" : ", ") + r.value("dst", "");
          }
        }
      } catch (const std::exception&) {
        // Unparseable output: skip this check rather than refuse to start.
      }
      for (const auto& [dev, dsts] : by_dev) {
        problems.push_back("routes on " + dev + " overlap " + l.subnet + " (" + dsts +
                           "): choose another --subnet");
      }
    }
    if (problems.empty()) return;
    std::string msg = "cannot bring up cluster " + l.name + ": in the way (not in its state file):";
    for (const auto& p : problems) msg += "\n  " + p;
    throw ConfigError(msg);
  }

  // Removes everything `st` records, in reverse order of making; what is already gone is
  // skipped. The safety rules go last. Throws if something could not be removed, keeping it
  // in the state file.
  void teardown(State& st, std::ostream& log) {
    Layout l = st.layout();
    std::vector<std::string> failed;
    // Processes: every process in the cluster's namespaces, plus the recorded sshd pids.
    std::vector<int> pids;
    Json sshd = st.get("sshd");
    if (sshd.is_object()) {
      for (int i = 1; i <= l.nodes; ++i) {
        int pid = sshd.value(l.node(i), 0);
        if (is_our_sshd(pid, l, i)) pids.push_back(pid);
      }
    }
    // Rescan: a process may have been starting in a namespace (a crashed `up`'s sshd, a
    // daemon forking) while we stopped the others.
    size_t stopped = 0;
    for (int round = 0; round < 5; ++round) {
      for (const auto& ns : st.made("netns")) {
        for (int pid : pids_in_netns(ns.get<std::string>())) pids.push_back(pid);
      }
      std::sort(pids.begin(), pids.end());
      pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
      if (pids.empty()) break;
      stopped += pids.size();
      std::vector<int> left = stop_pids(pids, round == 0);
      pids.clear();
      if (!left.empty()) {
        for (int p : left) failed.push_back("process " + std::to_string(p) + " survived SIGKILL");
        break;
      }
    }
    if (stopped > 0) log << "  stopped " << stopped << " processes\n";

    for (const auto& ns : st.made("netns")) {
      std::string name = ns.get<std::string>();
      if (fs::exists("/run/netns/" + name)) {
        ExecResult r = local_->exec(Command{"ip", "netns", "del", name});
        if (!r.ok()) failed.push_back("netns " + name + ": " + r.err);
      }
    }
    for (const auto& v : st.made("veth")) {
      std::string name = v.get<std::string>();
      if (fs::exists("/sys/class/net/" + name)) local_->exec(Command{"ip", "link", "del", name});
      if (fs::exists("/sys/class/net/" + name)) failed.push_back("interface " + name);
    }
    for (const auto& b : st.made("bridge")) {
      std::string name = b.get<std::string>();
      if (fs::exists("/sys/class/net/" + name)) local_->exec(Command{"ip", "link", "del", name});
      if (fs::exists("/sys/class/net/" + name)) failed.push_back("interface " + name);
    }
    for (const auto& kind : {"etc_netns", "dirs"}) {
      for (const auto& d : st.made(kind)) {
        std::error_code ec;
        fs::remove_all(d.get<std::string>(), ec);
        if (ec) failed.push_back("directory " + d.get<std::string>() + ": " + ec.message());
      }
    }
    for (const auto& d : st.made("parents")) {
      std::error_code ec;
      if (fs::is_empty(d.get<std::string>(), ec)) fs::remove(d.get<std::string>(), ec);
    }
    if (failed.empty()) {
      auto rules = l.iptables_rules();
      for (const auto& id : st.made("iptables")) {
        auto it = rules.find(id.get<std::string>());
        if (it == rules.end()) continue;
        const auto& [chain, args] = it->second;
        std::vector<std::string> del = {"iptables", "-w", "-D", chain};
        del.insert(del.end(), args.begin(), args.end());
        // Deleting until it fails removes duplicates too.
        for (int k = 0; k < 10 && local_->exec(Command(del)).ok(); ++k) {
        }
      }
      st.remove();
      log << "  removed namespaces, interfaces, directories and the safety rules of cluster "
          << l.name << "\n";
      return;
    }
    // Keep the safety rules while anything of the cluster is left.
    std::string msg = "cluster " + l.name + " could not be removed completely (state kept in " +
                      st.path().string() + "):";
    for (const auto& f : failed) msg += "\n  " + f;
    throw std::runtime_error(msg);
  }

  std::unique_ptr<Session> local_;
};

const bool registered = Registry<LocalClusterFactory>::add(
    "provisioner", "local",
    "N network namespaces with their own sshd on one bridge (faultline cluster up)",
    [] { return std::unique_ptr<LocalClusterProvisioner>(std::make_unique<Provisioner>()); });

}  // namespace
}  // namespace faultline::control
