// The Galera Db without a cluster (issue 14 items 8 and 10): the commands it sends for pause and
// kill are captured from a FakeRemote, then run here through the local shell with `kill`
// replaced by a function that only records its arguments, against pid files holding what a
// mysql user could write there. Nothing is ever signalled. Also: options and names that would
// inject lines into my.cnf or escape the node's directory are refused.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "clusters/galera/arbitrator.h"
#include "clusters/galera/galera_db.h"
#include "harness/control/local_exec.h"
#include "harness/db.h"
#include "harness/remote.h"
#include "tests/support/fake_session.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Fixture {
  fs::path base = fs::temp_directory_path() / ("fl-galera-" + std::to_string(::getpid()));
  fs::path node_dir = base / "n1-10.0.0.1";
  fs::path pid_file = node_dir / "mysqld.pid";
  fs::path kills = base / "kills";
  std::unique_ptr<Db> db = DbRegistry::get("db", "galera")({{"dir", base.string()}});
  testing::FakeRemote remote{{"n1", "n2"}};
  DbContext ctx;
  std::vector<pid_t> children;

  Fixture() {
    fs::remove_all(base);
    fs::create_directories(node_dir);
    ctx.nodes = {"n1"};
    ctx.remote = &remote;
    ctx.hosts["n1"] = "10.0.0.1";
  }
  ~Fixture() {
    for (pid_t c : children) {
      ::kill(c, SIGKILL);
      ::waitpid(c, nullptr, 0);
    }
    fs::remove_all(base);
  }

  // The last command sent to n1 (or the one `back` before it), run locally with `kill` only
  // recorded (one line per call).
  ExecResult replay_last(size_t back = 0, const std::string& node = "n1") {
    const auto& commands = remote.script(node).commands;
    REQUIRE(commands.size() > back);
    Command c = commands[commands.size() - 1 - back];
    REQUIRE(c.argv.size() > 3);
    REQUIRE(c.argv[0] == "sh");
    c.argv[2] = "kill() { echo \"$*\" >> \"" + kills.string() + "\"; return 0; }\n" + c.argv[2];
    return control::make_local_session()->exec(c);
  }

  // A child whose command line is argv (argv[0] as given), sleeping until killed.
  pid_t spawn(const std::vector<std::string>& argv) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // bash -c with a second command, so bash stays (its argv is ours).
      std::vector<std::string> words = {"/bin/bash", "-c",
                                        "exec -a \"$0\" /bin/bash -c "
                                        "'sleep 30; :' \"$@\""};
      words.insert(words.end(), argv.begin(), argv.end());
      std::vector<char*> cargv;
      for (auto& w : words) cargv.push_back(w.data());
      cargv.push_back(nullptr);
      ::execv("/bin/bash", cargv.data());
      ::_exit(127);
    }
    children.push_back(pid);
    // Wait until the exec -a has happened.
    for (int i = 0; i < 200; ++i) {
      std::string cmd = slurp("/proc/" + std::to_string(pid) + "/cmdline");
      if (cmd.rfind(argv[0] + '\0', 0) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pid;
  }
};

}  // namespace

// Issue 14 item 8: pause signalled whatever the pid file named, as root.
TEST_CASE("galera pause signals only this node's mariadbd, whatever the pid file says",
          "[galera][regression]") {
  Fixture f;
  auto* pausable = capability<Pausable>(*f.db);
  REQUIRE(pausable != nullptr);
  pausable->pause(f.ctx, "n1");  // the fake answers exit 0; we replay its command below

  pid_t stranger = f.spawn({"/usr/bin/sleep-not-mariadbd"});
  pid_t other_node = f.spawn(
      {"/usr/sbin/mariadbd", "--defaults-file=" + (f.base / "n2-10.0.0.2" / "my.cnf").string()});
  for (const std::string& content :
       {std::string("-1"), std::string("0"), std::string("1"), std::string("abc"),
        std::string("1 2"), std::string(""), std::string("-9999"), std::to_string(stranger),
        std::to_string(other_node), std::string("99999999")}) {
    INFO("pid file: '" << content << "'");
    std::ofstream(f.pid_file, std::ios::trunc) << content << "\n";
    fs::remove(f.kills);
    ExecResult r = f.replay_last();
    CHECK(r.exit_status == 3);  // "not running"
    CHECK_FALSE(fs::exists(f.kills));
  }

  pid_t ours =
      f.spawn({"/usr/sbin/mariadbd", "--defaults-file=" + (f.node_dir / "my.cnf").string(), "--x"});
  std::ofstream(f.pid_file, std::ios::trunc) << ours << "\n";
  fs::remove(f.kills);
  ExecResult r = f.replay_last();
  INFO(r.err);
  CHECK(r.exit_status == 0);
  CHECK(slurp(f.kills) == "-s STOP " + std::to_string(ours) + "\n");
}

TEST_CASE("galera kill and teardown signal nothing for a pid file that is not ours",
          "[galera][regression]") {
  Fixture f;
  auto* killable = capability<Killable>(*f.db);
  REQUIRE(killable != nullptr);
  killable->kill(f.ctx, "n1");  // the pid file's process, then any other of this node
  pid_t stranger = f.spawn({"/usr/sbin/mariadbd-lookalike"});
  for (const std::string& content : {std::string("-1"), std::to_string(stranger)}) {
    INFO("pid file: '" << content << "'");
    std::ofstream(f.pid_file, std::ios::trunc) << content << "\n";
    fs::remove(f.kills);
    ExecResult r = f.replay_last(1);
    CHECK(r.exit_status == 0);
    CHECK_FALSE(fs::exists(f.kills));
    CHECK_FALSE(fs::exists(f.pid_file));  // the stale file is removed
  }
  // The sweep for mariadbds without a pid file goes by command line: a stranger and another
  // node's server are left alone (this node's: the Galera integration test).
  pid_t other_node = f.spawn(
      {"/usr/sbin/mariadbd", "--defaults-file=" + (f.base / "n2-10.0.0.2" / "my.cnf").string()});
  (void)other_node;
  fs::remove(f.kills);
  ExecResult sweep = f.replay_last();
  INFO(sweep.err);
  CHECK(sweep.exit_status == 0);
  CHECK_FALSE(fs::exists(f.kills));
}

// Issue 14 item 10: a newline in `dir` added my.cnf lines; node names went into paths unchecked.
TEST_CASE("galera refuses a dir option or node name that would escape my.cnf or the node dir",
          "[galera][regression]") {
  auto make = DbRegistry::get("db", "galera");
  CHECK_THROWS_WITH(make({{"dir", "/var/lib/x\nwsrep_provider=/tmp/evil.so"}}),
                    Catch::Contains("option 'dir'"));
  CHECK_THROWS_AS(make({{"dir", "/var/lib/../../etc"}}), std::invalid_argument);
  CHECK_NOTHROW(make({{"dir", "/srv/galera"}}));

  Fixture f;
  auto* pausable = capability<Pausable>(*f.db);
  for (const char* node : {"../../etc", "n1\nwsrep_on=OFF"}) {
    INFO(node);
    testing::FakeRemote remote{{node}};
    DbContext ctx = f.ctx;
    ctx.remote = &remote;
    ctx.nodes = {node};
    CHECK_THROWS_WITH(pausable->pause(ctx, node), Catch::Contains("may hold only"));
    CHECK(remote.script(node).commands.empty());
  }
  DbContext ctx = f.ctx;
  ctx.hosts["n1"] = "10.0.0.1/../../x";
  CHECK_THROWS_WITH(pausable->pause(ctx, "n1"), Catch::Contains("may hold only"));
}

TEST_CASE("galera: data centres become gmcast segments, in sorted order", "[galera]") {
  using galera::galera_segments;
  CHECK(galera_segments({"n1", "n2", "n3"}, {}).empty());
  CHECK(galera_segments({"n1", "n2", "n3"}, {{"n1", "west"}, {"n2", "east"}, {"n3", "west"}}) ==
        std::map<std::string, int>{{"n1", 1}, {"n2", 0}, {"n3", 1}});
  // A node without a dc is in dc "", which sorts first.
  CHECK(galera_segments({"n1", "n2"}, {{"n2", "b"}}) ==
        std::map<std::string, int>{{"n1", 0}, {"n2", 1}});
  std::vector<std::string> nodes;
  std::map<std::string, std::string> dcs;
  for (int i = 0; i < 257; ++i) {
    nodes.push_back("n" + std::to_string(i));
    dcs[nodes.back()] = "dc" + std::to_string(i);
  }
  CHECK_THROWS_WITH(galera_segments(nodes, dcs), Catch::Contains("0-255"));
}

TEST_CASE("galera arbitrator: which nodes run garbd and its configuration and its clients",
          "[galera]") {
  using galera::arbitrator_nodes;
  using V = std::vector<std::string>;
  const V three = {"n1", "n2", "n3"};
  CHECK(arbitrator_nodes(three, {}, false).empty());
  CHECK(arbitrator_nodes(three, {}, true) == V{"n3"});
  // An inventory role wins over the option's choice of the last node.
  CHECK(arbitrator_nodes(three, {{"n1", "arbitrator"}}, true) == V{"n1"});
  CHECK(arbitrator_nodes(three, {{"n2", "arbitrator"}}, false) == V{"n2"});
  CHECK(arbitrator_nodes(three, {{"n2", "primary"}}, false).empty());
  CHECK_THROWS_WITH(arbitrator_nodes({"n1"}, {}, true), Catch::Contains("none would hold data"));
  CHECK_THROWS_WITH(
      arbitrator_nodes({"n1", "n2"}, {{"n1", "arbitrator"}, {"n2", "arbitrator"}}, false),
      Catch::Contains("none would hold data"));
  CHECK(galera::garbd_config({"10.0.0.1", "10.0.0.2"}, "faultline", "evs.suspect_timeout=PT2S",
                             "/d/garbd.log") ==
        "# garbd of Faultline's galera adapter\naddress=\"gcomm://10.0.0.1,10.0.0.2\"\n"
        "group=\"faultline\"\noptions=\"evs.suspect_timeout=PT2S\"\nlog=\"/d/garbd.log\"\n");
  auto db = DbRegistry::get("db", "galera")({{"arbitrator", true}});
  CHECK(db->client_nodes(three, {}) == V{"n1", "n2"});
  CHECK(db->client_nodes(three, {{"n1", "arbitrator"}}) == V{"n2", "n3"});
  CHECK_THROWS_WITH(DbRegistry::get("db", "galera")({{"arbitrator", "yes"}}),
                    Catch::Contains("arbitrator"));
}

TEST_CASE("galera arbitrator: pause and kill signal only this node's garbd", "[galera]") {
  Fixture f;
  f.db = DbRegistry::get("db", "galera")({{"dir", f.base.string()}, {"arbitrator", true}});
  f.ctx.nodes = {"n1", "n2"};
  f.ctx.hosts["n2"] = "10.0.0.2";
  const fs::path dir = f.base / "n2-10.0.0.2";
  fs::create_directories(dir);
  const fs::path pid_file = dir / "garbd.pid";
  auto* pausable = capability<Pausable>(*f.db);
  REQUIRE(pausable != nullptr);
  pausable->pause(f.ctx, "n2");  // the fake answers exit 0; replayed below
  // n1's mariadbd in garbd's pid file, or another node's garbd: nothing signalled.
  pid_t mariadbd = f.spawn({"/usr/sbin/mariadbd", "--defaults-file=" + (dir / "my.cnf").string()});
  pid_t other = f.spawn({"/usr/bin/garbd", "--cfg=" + (f.base / "n3-10.0.0.3/garbd.cfg").string()});
  for (pid_t p : {mariadbd, other}) {
    std::ofstream(pid_file, std::ios::trunc) << p << "\n";
    fs::remove(f.kills);
    ExecResult r = f.replay_last(0, "n2");
    CHECK(r.exit_status == 3);
    CHECK_FALSE(fs::exists(f.kills));
  }
  pid_t ours = f.spawn({"/usr/bin/garbd", "--cfg=" + (dir / "garbd.cfg").string()});
  std::ofstream(pid_file, std::ios::trunc) << ours << "\n";
  fs::remove(f.kills);
  ExecResult r = f.replay_last(0, "n2");
  INFO(r.err);
  CHECK(r.exit_status == 0);
  CHECK(slurp(f.kills) == "-s STOP " + std::to_string(ours) + "\n");
  // Kill goes to garbd's pid file too (never to a mariadbd on that node).
  capability<Killable>(*f.db)->kill(f.ctx, "n2");
  const Command& sent = f.remote.script("n2").commands.back();
  std::set<std::string> args(sent.argv.begin(), sent.argv.end());
  CHECK(args.count(pid_file.string()) == 1);
  CHECK(args.count("--cfg=" + (dir / "garbd.cfg").string()) == 1);
  CHECK(args.count("KILL") == 1);
}

namespace {

// A Percona XtraDB Cluster as the adapter sees it through its commands: mysqld processes that
// run or not, SHOW STATUS answers of a Synced primary component of the running nodes, and
// --wsrep-recover positions (n2 the most advanced). Everything else succeeds silently.
struct FakePxc {
  std::mutex mu;
  std::map<std::string, bool> up;

  ExecResult answer(const std::string& node, const Command& c) {
    std::lock_guard<std::mutex> lk(mu);
    std::string all;
    for (const auto& a : c.argv) all += a + "\n";
    auto has = [&](const std::string& x) { return all.find(x) != std::string::npos; };
    int size = 0;
    for (const auto& [n, u] : up) size += u ? 1 : 0;
    if (has("pid=$(fl_daemon_launch")) {
      up[node] = true;
      return {0, "4242\n", ""};
    }
    if (has("kill -s CONT \"$p\"")) {  // Daemon::stop
      up[node] = false;
      return {0, "gone\n", ""};
    }
    if (has("fl_daemon_pid \"$1\" \"$2\" \"$3\" > /dev/null ||")) return {up[node] ? 0 : 1, "", ""};
    if (c.argv.size() == 3 && c.argv[0] == "kill" && c.argv[1] == "-0") {
      return {up[node] ? 0 : 1, "", ""};
    }
    if (has("SHOW STATUS")) {
      if (!up[node]) return {1, "", "ERROR 2002 (HY000): Can't connect"};
      return {0,
              "wsrep_ready\tON\nwsrep_local_state_comment\tSynced\nwsrep_cluster_size\t" +
                  std::to_string(size) +
                  "\nwsrep_cluster_status\tPrimary\nwsrep_last_committed\t7\n",
              ""};
    }
    if (c.argv.size() == 2 && c.argv[0] == "cat" &&
        c.argv[1].find("recover.log") != std::string::npos) {
      const std::string seqno = node == "n2" ? "42" : "17";
      return {
          0,
          "[Note] WSREP: Recovered position: 6f1c2d3e-0000-11ee-8000-000000000001:" + seqno + "\n",
          ""};
    }
    return {0, "", ""};
  }
};

// The commands sent to `node` whose argv holds every one of `parts` (as whole words).
std::vector<Command> sent(testing::FakeRemote& remote, const std::string& node,
                          const std::vector<std::string>& parts) {
  std::vector<Command> out;
  for (const auto& c : remote.script(node).commands) {
    bool all = true;
    for (const auto& p : parts)
      all = all && std::find(c.argv.begin(), c.argv.end(), p) != c.argv.end();
    if (all) out.push_back(c);
  }
  return out;
}

// The launches of a server on `node` (Daemon::launch scripts) whose argv holds every one of
// `parts`.
std::vector<Command> launches(testing::FakeRemote& remote, const std::string& node,
                              const std::vector<std::string>& parts = {}) {
  std::vector<Command> out;
  for (const auto& c : sent(remote, node, parts)) {
    if (c.argv.size() > 2 && c.argv[2].find("pid=$(fl_daemon_launch") != std::string::npos) {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

// Issue 18 part 3: Percona XtraDB Cluster is not in Debian; the adapter's commands for it are
// checked against a recording fake: mysqld --initialize-insecure, Percona's provider and
// xtrabackup-v2 SST in my.cnf, the mysql client, bootstrap then joins, kill, rejoin, and the
// whole-cluster recovery from the most advanced node.
TEST_CASE("galera flavor pxc: the commands of setup and kill and restart and recovery",
          "[galera]") {
  const fs::path base = fs::temp_directory_path() / ("fl-pxc-" + std::to_string(::getpid()));
  const std::vector<std::string> nodes = {"n1", "n2", "n3"};
  testing::FakeRemote remote{nodes};
  FakePxc pxc;
  for (const auto& n : nodes) {
    remote.script(n).fallback = [&pxc, n](const Command& c) { return pxc.answer(n, c); };
  }
  DbContext ctx;
  ctx.nodes = nodes;
  ctx.remote = &remote;
  for (int i = 1; i <= 3; ++i) ctx.hosts["n" + std::to_string(i)] = "10.0.0." + std::to_string(i);
  auto db = DbRegistry::get("db", "galera")({{"flavor", "pxc"}, {"dir", base.string()}});
  db->setup(ctx);
  auto dir = [&](const std::string& n) { return base.string() + "/" + n + "-" + ctx.hosts[n]; };
  auto cnf = [&](const std::string& n) { return "--defaults-file=" + dir(n) + "/my.cnf"; };

  for (const auto& n : nodes) {
    INFO(n);
    // my.cnf: Percona's Galera, xtrabackup-v2, strict mode, cluster traffic unencrypted.
    std::string config;
    for (const auto& c : remote.script(n).commands) {
      if (c.stdin_data.find("[mysqld]") != std::string::npos) config = c.stdin_data;
    }
    CHECK_THAT(config,
               Catch::Contains("wsrep_provider=/usr/lib/galera4/libgalera_smm.so\n") &&
                   Catch::Contains("wsrep_sst_method=xtrabackup-v2\n") &&
                   Catch::Contains("pxc_strict_mode=ENFORCING\n") &&
                   Catch::Contains("pxc-encrypt-cluster-traffic=OFF\n") &&
                   Catch::Contains("wsrep_cluster_address=gcomm://10.0.0.1,10.0.0.2,10.0.0.3\n"));
    CHECK(sent(remote, n, {"mariadb"}).empty());                           // never MariaDB's client
    CHECK(launches(remote, n, {"/usr/sbin/mysqld", cnf(n)}).size() == 1);  // launched once
  }
  // n1: initialized, bootstrapped, then the user made through the mysql client.
  const auto& c1 = remote.script("n1").commands;
  auto index_of = [&](const std::vector<Command>& cs, const std::vector<std::string>& parts) {
    for (size_t i = 0; i < cs.size(); ++i) {
      bool all = true;
      for (const auto& p : parts)
        all = all && std::find(cs[i].argv.begin(), cs[i].argv.end(), p) != cs[i].argv.end();
      if (all) return static_cast<int>(i);
    }
    return -1;
  };
  const int init =
      index_of(c1, {"/usr/sbin/mysqld", cnf("n1"), "--initialize-insecure", "--user=mysql"});
  const int boot = index_of(c1, {"mysql", "/usr/sbin/mysqld", cnf("n1"), "--wsrep-new-cluster"});
  int user = -1;
  for (size_t i = 0; i < c1.size(); ++i) {
    if (c1[i].argv.at(0) == "mysql" && c1[i].argv.back().find("CREATE USER") != std::string::npos)
      user = static_cast<int>(i);
  }
  CHECK(init >= 0);
  CHECK(boot > init);
  CHECK(user > boot);
  for (const auto& n : {"n2", "n3"}) {
    CHECK(sent(remote, n, {"--wsrep-new-cluster"}).empty());  // joiners join
  }

  // Kill n2: SIGKILL to this node's mysqld only; start: it rejoins the primary component.
  auto* killable = capability<Killable>(*db);
  REQUIRE(killable != nullptr);
  killable->kill(ctx, "n2");
  CHECK(sent(remote, "n2", {dir("n2") + "/mysqld.pid", "/usr/sbin/mysqld", cnf("n2"), "KILL"})
            .size() == 1);
  killable->start(ctx, "n2");
  CHECK(launches(remote, "n2", {"/usr/sbin/mysqld", cnf("n2")}).size() == 2);
  CHECK(sent(remote, "n2", {"--wsrep-new-cluster"}).empty());

  // Every node killed: starting n1 recovers each node's position and bootstraps from n2.
  for (const auto& n : nodes) killable->kill(ctx, n);
  killable->start(ctx, "n1");
  for (const auto& n : nodes) {
    INFO(n);  // mysqld --wsrep-recover as mysql (setpriv), its log read back
    CHECK(
        sent(remote, n, {dir(n) + "/recover.log", "/usr/sbin/mysqld", dir(n) + "/my.cnf"}).size() ==
        1);
  }
  CHECK(launches(remote, "n2",
                 {"/usr/sbin/mysqld", cnf("n2"), "--wsrep-new-cluster",
                  "--wsrep-start-position=6f1c2d3e-0000-11ee-8000-000000000001:42"})
            .size() == 1);
  CHECK(launches(remote, "n1",
                 {"/usr/sbin/mysqld", cnf("n1"),
                  "--wsrep-start-position=6f1c2d3e-0000-11ee-8000-000000000001:17"})
            .size() == 1);
  CHECK(sent(remote, "n1", {"--wsrep-new-cluster"}).size() == 1);  // only at setup
  fs::remove_all(base);
}
