#include "clusters/mariadb/server.h"

#include <sstream>

#include "clusters/common/launch.h"
#include "clusters/common/nodes.h"
#include "clusters/common/text.h"
#include "clusters/common/wait.h"
#include "harness/errors.h"
#include "harness/secure_dir.h"

namespace faultline::mariadb {

using clusters::trim;
using std::chrono::seconds;

namespace {
// `c`, marked safe to run again after a dropped connection (harness/control/retry.h).
Command idempotent(Command c) {
  c.idempotent = true;
  return c;
}
}  // namespace

std::map<std::string, std::string> status_lines(const std::string& out) {
  std::map<std::string, std::string> st;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) st[line.substr(0, tab)] = trim(line.substr(tab + 1));
  }
  return st;
}

std::string tail(const std::string& s, size_t n) {
  return s.size() <= n ? trim(s) : "..." + trim(s.substr(s.size() - n));
}

OptionDecl isolation_option() {
  return {"isolation", nullptr,
          "read-uncommitted | read-committed | repeatable-read | serializable (default: the "
          "server's, repeatable-read)"};
}

OptionDecl flush_log_option() {
  return {"flush-log-at-trx-commit", 1, "innodb_flush_log_at_trx_commit: 0, 1 or 2"};
}

OptionDecl select_for_update_option() {
  return {"select-for-update", false, "read-modify-writes read with SELECT ... FOR UPDATE"};
}

SessionOptions parse_session_options(const faultline::Options& opts) {
  SessionOptions o;
  // "" leaves the server's default, as leaving the option out does.
  if (opts.has("isolation") && opts.raw("isolation") != "") {
    o.isolation = opts.text(
        "isolation", {"read-uncommitted", "read-committed", "repeatable-read", "serializable"});
  }
  o.flush_log = static_cast<int>(opts.integer("flush-log-at-trx-commit", 0, 2));
  o.select_for_update = opts.flag("select-for-update");
  o.power_loss_fs = opts.flag("power-loss-fs");
  return o;
}

Flavor mariadb_flavor() { return {"mariadb", kMariadbd, "mariadb"}; }
Flavor mysql_flavor() { return {"mysql", kMysqld, "mysql"}; }

Servers::Servers(std::string where, std::string dir, int port, Flavor flavor)
    : where_(std::move(where)), dir_(std::move(dir)), port_(port), flavor_(std::move(flavor)) {}

void Servers::check_name(const std::string& what, const std::string& v) const {
  bool ok = !v.empty() && v.size() <= 253 && v[0] != '.' && v[0] != '-';
  for (char c : v) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-' || c == '_' || c == ':');
  }
  if (!ok) {
    throw ConfigError(where_ + ": " + what + " '" + v +
                      "' may hold only letters, digits and ._:- (it names the "
                      "node's directory and goes into my.cnf)");
  }
}

clusters::LossyFs Servers::lossy_fs(const DbContext& ctx, const std::string& node) const {
  return clusters::lossy_fs_under(paths(ctx, node).dir);
}

Json Servers::lose_unsynced(const DbContext& ctx, const std::string& node,
                            const PowerLoss& how) const {
  if (!lossy_) {
    throw ConfigError(where_ + ": power loss needs db-options {\"power-loss-fs\": true}");
  }
  auto s = ctx.remote->session(node);
  return lossy_fs(ctx, node).drop(*s, node, how);
}

void Servers::make_durable(const DbContext& ctx) const {
  if (!lossy_) return;
  clusters::sync_lossy_fs(ctx, [&](const std::string& n) { return lossy_fs(ctx, n); });
}

Paths Servers::paths(const DbContext& ctx, const std::string& node) const {
  const std::string host = clusters::host_of(ctx, node);
  check_name("node name", node);
  check_name("host of node " + node, host);
  Paths p;
  p.dir = dir_ + "/" + node + "-" + host;
  p.cnf = p.dir + "/my.cnf";
  p.data = lossy_ ? clusters::lossy_fs_under(p.dir).mount + "/data" : p.dir + "/data";
  p.tmp = p.dir + "/tmp";
  p.socket = p.dir + "/mysqld.sock";
  p.pid = p.dir + "/mysqld.pid";
  p.error_log = p.dir + "/error.log";
  p.stdout_log = p.dir + "/stdout.log";
  p.recover_log = p.dir + "/recover.log";
  return p;
}

// The pid file is in a directory the mysql user owns (common/daemon.h believes it only for
// this node's mariadbd, recognised by its --defaults-file).
clusters::Daemon Servers::daemon(const Paths& p) const {
  return {server_name(), flavor_.server, "--defaults-file=" + p.cnf, p.pid, p.stdout_log};
}

void Servers::write_file(const DbContext& ctx, Session& s, const std::string& node,
                         const std::string& file, const std::string& content) const {
  Paths p = paths(ctx, node);
  if (lossy_) {
    // data/ lives on the power-loss file system: mounted before anything is made in it.
    s.run_checked(Command::shell(
        std::string(kPrivateDirShell) + "fl_private_dir \"$2\" 755 || exit 3\nmkdir -p \"$1\"",
        {p.dir, dir_}));
    clusters::lossy_fs_under(p.dir).mount_on(s, node, "mysql:mysql");
  }
  // The base directory is root's alone (harness/secure_dir.h); the node's directory below it
  // is new (stop_node removed it) and becomes mysql's.
  s.run_checked(
      Command::shell(std::string(kPrivateDirShell) +
                         "fl_private_dir \"$4\" 755 || exit 3\n"
                         "mkdir -p \"$1\" \"$5\" && cat > \"$2\" && chown -R mysql:mysql \"$3\"",
                     {p.data, file, p.dir, dir_, p.tmp})
          .with_stdin(content));
}

void Servers::write_config(const DbContext& ctx, Session& s, const std::string& node,
                           const std::string& config) const {
  write_file(ctx, s, node, paths(ctx, node).cnf, config);
  if (auto c = clusters::prepare_launch_command(ctx, node, where_)) s.run_checked(*c);
}

void Servers::install_db(const DbContext& ctx, Session& s, const std::string& node) const {
  const Paths p = paths(ctx, node);
  for (int attempt = 1;; ++attempt) {
    const bool mysql = flavor_.name == "mysql";
    const Command init =
        mysql ? Command{flavor_.server, "--defaults-file=" + p.cnf, "--initialize-insecure",
                        "--user=mysql"}
              : Command{"mariadb-install-db", "--defaults-file=" + p.cnf, "--user=mysql",
                        "--auth-root-authentication-method=normal", "--skip-test-db"};
    const std::string tool = mysql ? "mysqld --initialize-insecure" : "mariadb-install-db";
    ExecResult r = s.exec(Command(init).with_timeout(seconds(180)));
    if (r.ok()) return;
    // The bootstrap server logs to my.cnf's log-error; its own advice fills the end of the
    // output.
    const std::string log = clusters::log_tail(s, p.error_log, 40);
    if (attempt == 1 && log.find("got signal") != std::string::npos) {
      std::string line = where_;
      line += ": ";
      line += node;
      line += ": the bootstrap server of " + tool +
              " crashed; emptying the data directory "
              "and running it again. ";
      line += p.error_log;
      line += " ends:\n";
      line += log;
      clusters::log(ctx, line);
      s.run_checked(
          Command::shell("rm -rf \"$1\" && mkdir \"$1\" && chown mysql:mysql \"$1\"", {p.data}));
      continue;
    }
    std::string errors;
    std::istringstream in(r.err + r.out);
    for (std::string l; std::getline(in, l);) {
      if (l.find("ERROR") != std::string::npos && errors.size() < 1200) errors += l + "\n";
    }
    std::string why = tool;
    why += " failed (exit " + std::to_string(r.exit_status) + "): ";
    why += errors.empty() ? tail(r.err + r.out, 300) : trim(errors);
    why += "\n" + p.error_log + " ends:\n" + log;
    throw RemoteError(node, why);
  }
}

// Started as mysql, not as root, and its stdout log opened as mysql: the node's directory is
// mysql's, so root must not open a file there (a symlink planted in place of stdout.log would
// make root append to any file). Also, libfaketime, loaded before a root mariadbd drops to
// mysql, creates a semaphore owned by whoever runs it and hands its name to every child.
// Galera's SST scripts run as mysql; they could not open a root-owned one, tried to make their
// own, and exited (killing the state transfer) whenever a leftover object of a dead process
// had their pid's name ("sem_open failed and recreation attempts failed").
std::string Servers::launch(const DbContext& ctx, Session& s, const std::string& node,
                            const std::vector<std::string>& extra) const {
  Paths p = paths(ctx, node);
  // Under libfaketime only mariadbd's clock: its helpers (SST scripts: bash, rsync) inherit the
  // preload and keep the real one.
  std::vector<std::string> args =
      clusters::launch_env_argv(ctx, node, {{"FAKETIME_ONLY_CMDS", server_name()}});
  args.push_back(flavor_.server);
  args.push_back("--defaults-file=" + p.cnf);
  args.insert(args.end(), extra.begin(), extra.end());
  // Callers launch only a node that does not run: what is left of an earlier process (killed,
  // or a launch abandoned at its deadline) goes first, with its port.
  clear_for_launch(s, node, p);
  std::string pid = trim(s.run_checked(daemon(p).launch(args, "mysql")).out);
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) {
    throw RemoteError(node, "starting " + server_name() + " printed no pid ('" + pid + "')");
  }
  return pid;
}

void Servers::launch_and_answer(const DbContext& ctx, Session& s, const std::string& node,
                                const std::vector<std::string>& extra, seconds timeout) const {
  const Paths p = paths(ctx, node);
  const std::string pid = launch(ctx, s, node, extra);
  bool died = false;
  const bool up = clusters::poll_until(std::chrono::steady_clock::now() + timeout,
                                       std::chrono::milliseconds(200), [&] {
                                         if (s.exec(cli(ctx, node, "SELECT 1")).ok()) return true;
                                         died = !s.exec(Command{"kill", "-0", pid}).ok();
                                         return died;
                                       });
  if (up && !died) return;
  if (died) remove_launch_leftovers(s, pid);
  throw RemoteError(node, server_name() + (died ? " died" : " did not answer") +
                              " after its start; " + p.error_log + " ends:\n" +
                              clusters::log_tail(s, p.error_log, 15));
}

Command Servers::cli(const DbContext& ctx, const std::string& node, const std::string& sql) const {
  Paths p = paths(ctx, node);
  return Command{flavor_.client, "--defaults-file=" + p.cnf, "-N", "-B", "-e", sql}.with_timeout(
      seconds(30));
}

Json Servers::settings(const DbContext& ctx, const std::string& node) const {
  const std::string sql =
      flavor_.name == "mysql"
          ? "SELECT i.VARIABLE_NAME, g.VARIABLE_VALUE FROM performance_schema.variables_info i "
            "JOIN performance_schema.global_variables g ON g.VARIABLE_NAME = i.VARIABLE_NAME "
            "WHERE i.VARIABLE_SOURCE <> 'COMPILED' ORDER BY 1"
          : "SELECT VARIABLE_NAME, GLOBAL_VALUE FROM information_schema.SYSTEM_VARIABLES WHERE "
            "GLOBAL_VALUE_ORIGIN IN ('CONFIG', 'COMMAND-LINE', 'SQL') ORDER BY 1";
  auto s = ctx.remote->session(node);
  ExecResult r = s->run_checked(cli(ctx, node, sql));
  Json out = Json::object();
  for (const auto& [k, v] : status_lines(r.out)) {
    std::string name = k;
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[name] = v;
  }
  return out;
}

std::string server_version_words(const std::string& out) {
  std::istringstream in(out);
  std::string word, full;
  while (in >> word) {
    if (word == "Ver" && in >> full) break;
  }
  if (full.empty()) return trim(out);
  size_t digits = full.find_first_not_of("0123456789.");
  std::string number = full.substr(0, digits);
  std::string product = "MySQL";
  if (full.find("MariaDB") != std::string::npos) {
    product = "MariaDB";
  } else if (out.find("Percona XtraDB Cluster") != std::string::npos) {
    product = "Percona XtraDB Cluster";
    number = full.substr(0, full.find_first_not_of("0123456789.-"));
  } else if (out.find("Percona") != std::string::npos) {
    product = "Percona Server";
    number = full.substr(0, full.find_first_not_of("0123456789.-"));
  }
  return product + " " + number + " (" + full + ")";
}

std::string isolation_words(const SessionOptions& o) {
  if (o.isolation.empty()) return "REPEATABLE READ (the server default)";
  std::string s = o.isolation;
  for (auto& c : s)
    c = c == '-' ? ' ' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Issue 14 item 13: a heal that missed a launch still starting launched a second one, which
// died on "Address already in use".
bool Servers::running(Session& s, const Paths& p) const { return s.exec(daemon(p).running()).ok(); }

void Servers::clear_for_launch(Session& s, const std::string& node, const Paths& p) const {
  // A killed process lets go of its sockets a moment after it dies.
  ExecResult r = s.exec(idempotent(
      daemon(p)
          .script("killed=$(fl_daemon_procs \"$2\" \"$3\")\n"
                  "for q in $killed; do kill -s KILL \"$q\" 2>/dev/null; done\n"
                  "n=0\n"
                  "while [ -n \"$(fl_daemon_procs \"$2\" \"$3\")\" ] ||\n"
                  "    { command -v ss > /dev/null && ss -Hltn \"sport = :$4\" | grep -q .; }; do\n"
                  "  n=$((n+1)); [ $n -gt 300 ] && exit 4; sleep 0.1; done\n"
                  "fl_launch_leftovers $killed\n",
                  {std::to_string(port_)})
          .with_timeout(seconds(40))));
  if (r.exit_status == 4) {
    throw RemoteError(node, "an earlier " + server_name() + " of this node, or its port " +
                                std::to_string(port_) +
                                ", was still there 30 s after SIGKILL: cannot start another");
  }
  if (!r.ok())
    throw RemoteError(node, "clearing the way for " + server_name() + " failed: " + tail(r.err));
}

void Servers::signal_pid(Session& s, const std::string& node, const Paths& p,
                         const std::string& sig) const {
  ExecResult r = s.exec(daemon(p).signal(sig));
  if (r.exit_status == 3) {
    throw RemoteError(node, server_name() + " is not running (" + p.pid +
                                " is missing or does not name this node's " + server_name() + ")");
  }
  if (!r.ok())
    throw RemoteError(node, "kill -" + sig + " " + server_name() + " failed: " + tail(r.err));
}

void Servers::remove_launch_leftovers(Session& s, const std::string& pid) {
  s.exec(Command::shell(std::string(clusters::kLaunchLeftoversShell) + "fl_launch_leftovers \"$1\"",
                        {pid}));
}

void Servers::signal_and_wait(Session& s, const std::string& node, const Paths& p,
                              const std::string& sig, seconds wait) const {
  ExecResult r = s.exec(daemon(p).stop(sig, wait));
  if (r.exit_status == 4) {
    throw RemoteError(node, server_name() + " did not exit within " + std::to_string(wait.count()) +
                                " s of SIG" + sig);
  }
  if (!r.ok()) throw RemoteError(node, "stopping " + server_name() + " failed: " + tail(r.err));
}

void Servers::stop_node(const DbContext& ctx, Session& s, const std::string& node,
                        bool wipe) const {
  Paths p = paths(ctx, node);
  try {
    signal_and_wait(s, node, p, "TERM", seconds(30));
  } catch (const RemoteError&) {
    signal_and_wait(s, node, p, "KILL", seconds(20));
  }
  clear_for_launch(s, node, p);  // and any mariadbd of this node without a pid file
  if (wipe) {
    // Also a power-loss file system an earlier run (with power-loss-fs) left mounted.
    clusters::lossy_fs_under(p.dir).unmount(s, node);
    s.run_checked(idempotent(Command{"rm", "-rf", p.dir}));
  }
}

void Servers::stop_all(const DbContext& ctx) const {
  if (!ctx.remote) return;
  clusters::on_every_node(ctx.nodes, [&](const std::string& n, size_t) {
    auto s = ctx.remote->session(n);
    stop_node(ctx, *s, n, /*wipe=*/true);
  });
}

std::map<std::string, std::vector<std::string>> Servers::log_files(const DbContext& ctx) const {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& n : ctx.nodes) {
    Paths p = paths(ctx, n);
    out[n] = {p.error_log, p.stdout_log};
  }
  return out;
}

void Servers::kill(const DbContext& ctx, const std::string& node) const {
  auto s = ctx.remote->session(node);
  signal_and_wait(*s, node, paths(ctx, node), "KILL", seconds(20));
  clear_for_launch(*s, node, paths(ctx, node));
}

void Servers::pause(const DbContext& ctx, const std::string& node) const {
  auto s = ctx.remote->session(node);
  signal_pid(*s, node, paths(ctx, node), "STOP");
}

void Servers::resume(const DbContext& ctx, const std::string& node) const {
  auto s = ctx.remote->session(node);
  if (!running(*s, paths(ctx, node))) return;
  signal_pid(*s, node, paths(ctx, node), "CONT");
}

}  // namespace faultline::mariadb
