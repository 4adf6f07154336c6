#include "harness/run/runner.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "harness/control/local_exec.h"
#include "harness/control/preflight.h"
#include "harness/db.h"
#include "harness/errors.h"
#include "harness/formats.h"
#include "harness/nemesis.h"
#include "harness/random.h"
#include "harness/recorder.h"
#include "harness/remote.h"
#include "harness/report/failure.h"
#include "harness/report/junit.h"
#include "harness/report/report.h"
#include "harness/run/cluster_access.h"
#include "harness/run/interpreter.h"
#include "harness/run/limits.h"
#include "harness/run/results.h"
#include "harness/version.h"
#include "harness/workload.h"

namespace faultline::run {

namespace fs = std::filesystem;

namespace {

int64_t to_ns(double seconds) { return static_cast<int64_t>(seconds * 1e9); }

// What the run has set up and not yet taken down, for the message of an aborted teardown.
class LeftBehind {
 public:
  void add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.insert(what);
  }
  void remove(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.erase(what);
  }
  std::string describe() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s;
    for (const auto& i : items_) s += "  - " + i + "\n";
    return s.empty() ? "  nothing\n" : s;
  }

 private:
  std::mutex mu_;
  std::set<std::string> items_;
};

// Takes SIGINT, SIGTERM, SIGHUP (a dropped SSH session to the controller, a closed terminal) and
// SIGQUIT for its lifetime: they are blocked in every thread started after it and taken by a
// watcher thread, which calls first() on the first and second() on the next. Left to their
// default action, the last two killed the controller with every fault in place.
constexpr int kWatchedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGQUIT:
      return "SIGQUIT";
  }
  return "signal";
}

class SignalWatcher {
 public:
  SignalWatcher(std::function<void(int)> first, std::function<void(int)> second)
      : first_(std::move(first)), second_(std::move(second)) {
    sigemptyset(&set_);
    for (int sig : kWatchedSignals) sigaddset(&set_, sig);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this] {
      int count = 0;
      timespec tick{0, 50'000'000};
      while (!stop_.load()) {
        int sig = sigtimedwait(&set_, nullptr, &tick);
        if (sig <= 0) continue;
        if (++count == 1) {
          first_(sig);
        } else {
          second_(sig);
        }
      }
    });
  }
  ~SignalWatcher() {
    stop_.store(true);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  std::function<void(int)> first_, second_;
  sigset_t set_, old_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The database's report on its replication (harness/db.h ReportsReplication).
const CheckerSpec kReplicationChecker{"replication", Json::object(), "replication"};

// Did the run's faults happen (checkers/nemesis.cc)?
CheckerSpec nemesis_checker(const TestSpec& spec) {
  return {"nemesis", {{"allow-errors", spec.nemesis_errors == "allow"}}, "nemesis"};
}

// Wraps a factory's complaint with the spec path it is about: `name_path` for an unknown name,
// `path` (the options) for anything else.
template <typename Fn>
auto with_path(const std::string& path, Fn&& fn, const std::string& name_path = "") {
  try {
    return fn();
  } catch (const UnknownNameError& e) {
    throw ConfigError(std::string("spec: ") + (name_path.empty() ? path : name_path) + ": " +
                      e.what());
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("spec: ") + path + ": " + e.what());
  } catch (const Json::exception& e) {
    // A value of the wrong JSON type read by a factory (j.value("k", 1) on a string).
    throw ConfigError(std::string("spec: ") + path + ": " + e.what());
  }
}

// The nemesis ops of a fixed schedule: each at least `at` seconds into the main phase, in order.
GenPtr schedule_generator(const Json& schedule) {
  std::vector<GenPtr> steps;
  double now = 0;
  for (const auto& e : schedule) {
    double at = e["at"].get<double>();
    if (at > now) steps.push_back(sleep(to_ns(at - now)));
    now = at;
    OpTemplate op;
    op.f = e["f"].get<std::string>();
    op.value = e.value("value", Json());
    steps.push_back(once(std::move(op)));
  }
  return phases(std::move(steps));
}

WorkloadContext workload_context(const TestSpec& spec, int concurrency,
                                 const std::vector<std::string>& nodes) {
  WorkloadContext w;
  w.concurrency = concurrency;
  w.nodes = nodes;
  w.consistency_model = spec.consistency_model;
  w.routing = spec.routing;
  w.retry = spec.retry;
  w.random = Random(spec.seed.value_or(0)).fork("workload");
  return w;
}

void write_artifacts(const fs::path& dir, const std::map<std::string, std::string>& artifacts) {
  for (const auto& [name, bytes] : artifacts) {
    fs::path p = dir / name;
    if (name.find("..") != std::string::npos) continue;  // never outside the run directory
    fs::create_directories(p.parent_path());
    write_file_atomic(p, bytes);
  }
}

// junit.xml and report.html (harness/report/junit.h, harness/report/report.h). They are views of
// results.json: a failure here is logged and never changes the verdict or the exit code.
void write_reports(const RunDir& run, const CheckRunResult& r, ControllerLog* log) {
  auto t0 = std::chrono::steady_clock::now();
  try {
    write_file_atomic(run.junit_xml(),
                      report::junit_xml(r.results, run.path().parent_path().filename().string()));
    Json failure;
    try {
      failure = report::write_failure_report(run, r.results);
    } catch (const std::exception& e) {
      if (log) log->log(std::string("report: FAILURE-REPORT.md not written: ") + e.what());
    }
    report::ReportOptions ro;
    ro.failure = &failure;
    report::ReportOutput rep = report::write_report(run, r.results, r.artifacts, ro);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (log) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.3f", secs);
      log->log("report: report.html (" + std::to_string(rep.bytes) + " bytes) and junit.xml in " +
               buf + " s");
      for (const auto& n : rep.notes) log->log("report: " + n);
    }
  } catch (const std::exception& e) {
    if (log) log->log(std::string("report: not written: ") + e.what());
  }
}

// Checks the stored history and writes results.json, history.edn and artifacts.
// `controller`, when not empty, is what the controller could not do (heal, teardown), kept
// in results.json beside the verdict.
CheckRunResult check_and_write(const RunDir& run, const TestSpec& spec,
                               const std::vector<CheckerSpec>& checkers, ControllerLog* log,
                               bool progress, const Json& controller = Json::object()) {
  CheckRunOptions co;
  co.checker_time_limit_s = spec.checker_time_limit_s;
  co.seed = spec.seed.value_or(0);
  if (progress) co.progress = [](const std::string& line) { std::cerr << line << "\n"; };
  auto t0 = std::chrono::steady_clock::now();
  CheckRunResult r = check_run(run, checkers, co);
  if (!controller.empty()) r.results["controller"] = controller;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_file_atomic(run.results_json(), results_text(r.results));
  write_artifacts(run.path(), r.artifacts);
  if (log) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", secs);
    log->log("check: " + std::string(to_string(r.validity)) + " in " + buf + " s");
  }
  write_reports(run, r, log);
  return r;
}

void write_edn(const RunDir& run) {
  std::ostringstream out;
  write_history(out, run.history().history, HistoryFormat::kEdn);
  write_file_atomic(run.history_edn(), out.str());
}

std::string summary_text(const fs::path& dir, const Json& results, Validity v) {
  std::string s = "verdict: " + std::string(to_string(v)) + "\n";
  s += summarise(results);
  const Json& h = results["history"];
  s += "history: " + std::to_string(h.value("ops", 0)) + " ops (ok " +
       std::to_string(h.value("ok", 0)) + ", fail " + std::to_string(h.value("fail", 0)) +
       ", info " + std::to_string(h.value("info", 0)) + ", nemesis " +
       std::to_string(h.value("nemesis", 0)) + ")\n";
  for (const auto& w : h.value("warnings", Json::array()))
    s += "warning: " + w.get<std::string>() + "\n";
  s += "results: " + dir.string() + "\n";
  const RunDir run(dir);
  if (fs::exists(run.report_html())) s += "report: " + run.report_html().string() + "\n";
  return s;
}

// Operating system and kernel: "Debian GNU/Linux 12 (bookworm)" and "Linux 6.1.0-28-amd64".
Json os_of(Session& s) {
  Json out = Json::object();
  ExecResult r = s.exec(Command::shell(
      "uname -sr; . /etc/os-release 2>/dev/null && printf '%s\\n' \"$PRETTY_NAME\""));
  std::istringstream lines(r.out);
  std::string kernel, os;
  std::getline(lines, kernel);
  std::getline(lines, os);
  if (!kernel.empty()) out["kernel"] = kernel;
  if (!os.empty()) out["os"] = os;
  return out;
}

// environment.json: the controller's and each node's OS and kernel, and the database's
// effective non-default settings per node (Db::node_settings), for the failure report. Bounded
// by the session's command timeouts; what cannot be read is logged and left out.
void write_environment(Db& db, const DbContext& dctx, const RunDir& run, ControllerLog& log) {
  Json env = {{"controller", Json::object()}, {"nodes", Json::object()}};
  try {
    auto local = control::make_local_session();
    env["controller"] = os_of(*local);
  } catch (const std::exception& e) {
    log.log(std::string("environment: controller: ") + e.what());
  }
  std::mutex mu;
  auto one = [&](const std::string& node, size_t) {
    Json n = Json::object();
    try {
      if (dctx.remote) {
        auto s = dctx.remote->session(node);
        n = os_of(*s);
      }
      Json settings = db.node_settings(dctx, node);
      if (!settings.is_null()) n["settings"] = std::move(settings);
    } catch (const std::exception& e) {
      log.log("environment: node " + node + ": " + e.what());
    }
    std::lock_guard<std::mutex> lock(mu);
    env["nodes"][node] = std::move(n);
  };
  if (dctx.remote) {
    std::vector<std::thread> threads;
    try {
      for (size_t i = 0; i < dctx.nodes.size(); ++i) threads.emplace_back(one, dctx.nodes[i], i);
    } catch (const std::exception& e) {
      log.log(std::string("environment: ") + e.what());
    }
    for (auto& t : threads) t.join();
  } else {
    for (size_t i = 0; i < dctx.nodes.size(); ++i) one(dctx.nodes[i], i);
  }
  try {
    write_file_atomic(run.path() / "environment.json", env.dump(2) + "\n");
  } catch (const std::exception& e) {
    log.log(std::string("environment: not written: ") + e.what());
  }
}

// Copies each node's database logs into nodes/<node>/; failures are logged, never fatal.
void collect_logs(Db& db, const DbContext& dctx, Remote* remote, const fs::path& dir,
                  ControllerLog& log) {
  if (!remote) return;
  std::map<std::string, std::vector<std::string>> files;
  try {
    files = db.log_files(dctx);
  } catch (const std::exception& e) {
    log.log(std::string("logs: cannot list the database's log files: ") + e.what());
    return;
  }
  for (const auto& [node, paths] : files) {
    fs::path local = RunDir(dir).node_dir(node);
    try {
      fs::create_directories(local);
      auto session = remote->session(node);
      for (const auto& path : paths) {
        std::string base = fs::path(path).filename().string();
        if (base.empty() || base == "." || base == "..") continue;
        try {
          session->download(path, local / base);
        } catch (const std::exception& e) {
          log.log("logs: " + node + ":" + path + ": " + e.what());
        }
      }
    } catch (const std::exception& e) {
      log.log("logs: " + node + ": " + e.what());
    }
  }
}

// Everything a run is made of, built and checked from the spec before anything is created:
// a bad name, option, vocabulary, concurrency or schedule entry is refused here (ConfigError),
// with no run directory made. The only thing it reaches is the cluster (connect_cluster).
struct Plan {
  TestSpec spec;
  std::unique_ptr<Db> db;
  std::unique_ptr<Workload> workload;
  ClusterAccess cluster;
  std::vector<std::string> client_nodes;  // of cluster.nodes, those serving clients
  int concurrency = 0;
  std::vector<std::string> nemesis_names;
  std::vector<NemesisPackage> packages;
  WorkloadContext wctx;
  std::vector<CheckerSpec> checkers;
  uint64_t interpreter_seed = 0;
  std::vector<NodeCheck> node_checks;  // the database's and the nemeses', for the preflight
  Json preflight;                      // its outcomes, for test.json (null: not run)
};

void check_vocabulary(const TestSpec& spec, const Db& db, const Workload& workload) {
  auto vocab = db.vocabularies();
  if (std::find(vocab.begin(), vocab.end(), workload.vocabulary()) != vocab.end()) return;
  std::string list;
  for (const auto& v : vocab) list += (list.empty() ? "" : ", ") + v;
  throw ConfigError("spec: /workload: database '" + spec.db + "' has no client for workload '" +
                    spec.workload + "' (vocabulary '" + workload.vocabulary() +
                    "'; it speaks: " + (list.empty() ? "nothing" : list) + ")");
}

// Every scheduled op: handled by a nemesis of the run, with a value it can act on (a kill
// with no target used to kill nothing, and the run passed).
void check_schedule(const Json& schedule, const std::vector<NemesisPackage>& packages) {
  for (size_t i = 0; i < schedule.size(); ++i) {
    const Json& entry = schedule[i];
    const std::string f = entry["f"].get<std::string>();
    const std::string at = "spec: /nemesis-schedule/" + std::to_string(i);
    const NemesisPackage* handler = nullptr;
    std::string known;
    for (const auto& p : packages) {
      for (const auto& k : p.nemesis->fs()) {
        known += (known.empty() ? "" : ", ") + k;
        if (k == f) handler = &p;
      }
    }
    if (!handler) {
      std::string msg = at;
      msg += "/f: no nemesis of the run handles '" + f + "'";
      msg += known.empty() ? " (the run has no nemesis)" : " (handled: " + known + ")";
      throw ConfigError(msg);
    }
    if (handler->check_op) {
      try {
        handler->check_op(f, entry.value("value", Json()));
      } catch (const std::invalid_argument& e) {
        throw ConfigError(at + "/value: " + e.what());
      }
    }
  }
}

Plan make_plan(const TestSpec& spec_in) {
  Plan p;
  p.spec = spec_in;
  TestSpec& spec = p.spec;
  if (!spec.seed) spec.seed = random_seed_from_os();
  Random root(*spec.seed);
  p.db = with_path(
      "/db-options", [&] { return DbRegistry::get("db", spec.db)(spec.db_options); }, "/db");
  p.workload = with_path(
      "/workload-options",
      [&] { return WorkloadRegistry::get("workload", spec.workload)(spec.workload_options); },
      "/workload");
  check_vocabulary(spec, *p.db, *p.workload);
  for (const auto& name : spec.nemesis) {
    if (name != "all")
      with_path("/nemesis", [&] { return &NemesisRegistry::get("nemesis", name); });
  }
  // Only now, with the names checked, reach (or bring up) the cluster.
  p.cluster = connect_cluster(spec, *p.db);
  const std::vector<std::string>& nodes = p.cluster.nodes;
  // The nodes clients talk to (a Galera arbitrator serves none); faults go to every node.
  p.client_nodes = with_path(
      "/db-options", [&] { return p.db->client_nodes(nodes, p.cluster.roles); }, "/db");
  p.concurrency = with_path(
      "/concurrency", [&] { return resolve_concurrency(spec.concurrency, p.client_nodes.size()); });
  // One worker thread per client and one for the nemesis (plus a few of the controller's own).
  if (std::string why = thread_capacity_problem(p.concurrency + 1); !why.empty()) {
    throw ConfigError("spec: /concurrency: " + std::to_string(p.concurrency) + " clients: " + why);
  }
  p.nemesis_names = spec.nemesis;
  if (std::find(p.nemesis_names.begin(), p.nemesis_names.end(), "all") != p.nemesis_names.end()) {
    p.nemesis_names = NemesisRegistry::names();
  }
  for (const auto& [k, v] : spec.nemesis_options.items()) {
    if (std::find(p.nemesis_names.begin(), p.nemesis_names.end(), k) == p.nemesis_names.end()) {
      throw ConfigError("spec: /nemesis-options/" + k + ": options for a nemesis not in the run");
    }
  }
  for (const auto& name : p.nemesis_names) {
    NemesisOptions no;
    no.roles = p.cluster.roles;
    no.dcs = p.cluster.dcs;
    no.interval_ns = to_ns(spec.nemesis_interval_s);
    no.options = spec.nemesis_options.value(name, Json::object());
    no.nodes = nodes;
    no.db = p.db.get();
    no.random = root.fork("nemesis/" + name);
    p.packages.push_back(with_path(
        "/nemesis-options/" + name, [&] { return NemesisRegistry::get("nemesis", name)(no); },
        "/nemesis"));
    if (p.packages.back().name.empty()) p.packages.back().name = name;
  }
  check_schedule(spec.nemesis_schedule, p.packages);
  p.wctx = workload_context(spec, p.concurrency, p.client_nodes);
  p.checkers = p.workload->checkers(p.wctx);
  if (!p.nemesis_names.empty()) p.checkers.push_back(nemesis_checker(spec));
  if (capability<ReportsReplication>(*p.db)) p.checkers.push_back(kReplicationChecker);
  p.interpreter_seed = root.fork("interpreter").seed();
  p.node_checks = p.db->node_checks();
  for (const auto& pkg : p.packages) {
    for (const auto& c : pkg.node_checks) {
      bool seen = false;  // partition and packet both check iptables
      for (const auto& have : p.node_checks) {
        seen = seen || (have.name == c.name && have.script == c.script && have.args == c.args);
      }
      if (!seen) p.node_checks.push_back(c);
    }
  }
  return p;
}

Json outcomes_json(const control::PreflightResult& r) {
  Json out = Json::array();
  for (const auto& o : r.outcomes) {
    const char* status = o.status == control::CheckStatus::kOk        ? "ok"
                         : o.status == control::CheckStatus::kWarning ? "warning"
                                                                      : "problem";
    out.push_back({{"node", o.node}, {"check", o.check}, {"status", status}, {"detail", o.detail}});
  }
  return out;
}

std::string trim_newline(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The preflight of a planned run: nothing for an in-process database.
std::optional<control::PreflightResult> plan_preflight(const Plan& p) {
  if (!p.cluster.remote) return std::nullopt;
  return control::run_preflight(*p.cluster.remote, p.cluster.nodes, p.node_checks);
}

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

// A phase's deadline: its time limit and a second for ops that end right at it.
std::chrono::steady_clock::time_point deadline_after(double seconds) {
  return std::chrono::steady_clock::now() + std::chrono::nanoseconds(to_ns(seconds)) +
         std::chrono::seconds(1);
}

// One run from its plan, phase by phase (see runner.h): the constructor makes the run
// directory and test.json, run() goes through the phases. Heal and teardown run whatever
// happened before them; `error_` is a failure of the run itself (setup, main phase, the
// history on disk: no verdict, rethrown after teardown), `problems_` what failed after the
// main phase (heal, final reads, teardown: the verdict is still given, with these beside it).
class TestRun {
 public:
  TestRun(Plan plan, const RunOptions& ro);
  ~TestRun();
  TestRun(const TestRun&) = delete;
  TestRun& operator=(const TestRun&) = delete;

  RunOutcome run();

 private:
  void watch_signals();
  void build();
  void start_progress();
  void stop_progress();
  void phase(const std::string& name);
  void recovery_wait();
  void setup_and_main();
  void heal();
  void final_reads();
  void replication_report();
  void teardown();
  std::string left_behind_text();
  RunOutcome check(const std::string& left_text);

  Plan p_;
  const TestSpec& spec_;
  const RunOptions& ro_;
  std::chrono::system_clock::time_point started_;
  RunDir run_;
  ControllerLog log_;
  Json test_;

  LeftBehind left_;
  std::atomic<HistoryRecorder*> recorder_ptr_{nullptr};
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> cancel_watch_stop_{false};
  std::thread cancel_watch_;
  std::unique_ptr<SignalWatcher> watcher_;

  std::unique_ptr<HistoryRecorder> recorder_;
  // On the heap: threads of abandoned ops use them, and when such a thread outlives its bound
  // they are left behind rather than freed under it (see teardown()).
  std::unique_ptr<DbContext> dctx_;
  std::unique_ptr<DbContext> heal_dctx_;
  std::unique_ptr<std::shared_ptr<Remote>> heal_remote_;
  std::chrono::milliseconds command_deadline_{0};
  std::unique_ptr<Nemesis> nemesis_;
  NemesisContext nctx_;
  std::unique_ptr<Interpreter> interp_;

  std::atomic<bool> progress_stop_{false};
  std::mutex progress_mu_;
  std::condition_variable progress_cv_;
  std::thread progress_;

  std::exception_ptr error_;
  std::vector<std::string> problems_;
  bool db_up_ = false;
  bool nemesis_up_ = false;
  std::string db_left_;
  const std::string faults_left_ = "nemesis faults possibly active (heal not run)";
};

TestRun::TestRun(Plan plan, const RunOptions& ro)
    : p_(std::move(plan)),
      spec_(p_.spec),
      ro_(ro),
      started_(std::chrono::system_clock::now()),
      run_(make_run_dir(spec_.results_dir, spec_.test_name(), started_)) {
  log_.open(run_.controller_log(), ro_.echo_log);
  test_ = {{"spec", spec_.to_json()},
           {"test-name", spec_.test_name()},
           {"seed", *spec_.seed},
           {"faultline-version", kVersion},
           {"db-version", nullptr},
           {"nodes", p_.cluster.nodes},
           {"client-nodes", p_.client_nodes},
           {"inventory", p_.cluster.inventory},
           {"concurrency", p_.concurrency},
           {"nemeses", p_.nemesis_names},
           {"started", run_timestamp(started_)}};
  if (!spec_.matrix_cell.is_null()) test_["matrix-cell"] = spec_.matrix_cell;
  if (!p_.preflight.is_null()) test_["preflight"] = p_.preflight;
  write_file_atomic(run_.test_json(), test_.dump(2) + "\n");
  if (ro_.on_run_dir) ro_.on_run_dir(run_.path());
  log_.log("run " + run_.path().string() + " seed " + std::to_string(*spec_.seed) + ": db " +
           spec_.db + ", workload " + spec_.workload + ", concurrency " +
           std::to_string(p_.concurrency) + ", nodes " + std::to_string(p_.cluster.nodes.size()));
  db_left_ = "database '" + spec_.db + "' running on " + std::to_string(p_.cluster.nodes.size()) +
             " nodes (teardown not run)";
}

TestRun::~TestRun() {
  stop_progress();
  watcher_.reset();
  cancel_watch_stop_.store(true);
  if (cancel_watch_.joinable()) cancel_watch_.join();
}

// Signals first: threads started after the watcher inherit the blocked mask, so SIGINT and
// SIGTERM reach only the watcher. An external cancel request acts as a first interrupt.
void TestRun::watch_signals() {
  if (ro_.cancel) {
    cancel_watch_ = std::thread([this] {
      while (!cancel_watch_stop_.load()) {
        if (ro_.cancel->load() && !interrupted_.exchange(true)) {
          log_.log("cancel requested: stopping; healing and tearing down");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  if (!ro_.handle_signals) return;
  watcher_ = std::make_unique<SignalWatcher>(
      [this](int sig) {
        interrupted_.store(true);
        log_.log(std::string(signal_name(sig)) +
                 ": stopping; healing and tearing down (interrupt again to abort teardown)");
      },
      [this](int) {
        std::string what = left_.describe();
        std::cerr << "\nfaultline: second interrupt: aborting teardown. Left behind:\n"
                  << what << "faultline: history so far: " << run_.history_jsonl().string()
                  << "\nfaultline: heal it with: " << heal_command(run_.path()) << "\n";
        log_.log("second interrupt: teardown aborted; left behind:\n" + what);
        try {
          if (HistoryRecorder* r = recorder_ptr_.load()) r->sync();
        } catch (...) {
        }
        std::_Exit(130);
      });
}

// The recorder, the database and nemesis contexts, the composed nemesis and the interpreter.
void TestRun::build() {
  recorder_ =
      std::make_unique<HistoryRecorder>(HistoryRecorder::Options{run_.history_jsonl().string()});
  recorder_ptr_.store(recorder_.get());
  dctx_ = std::make_unique<DbContext>();
  DbContext& dctx = *dctx_;
  dctx.test_name = spec_.test_name();
  dctx.nodes = p_.cluster.nodes;
  dctx.remote = p_.cluster.remote.get();
  dctx.options = spec_.db_options;
  dctx.log = [this](const std::string& line) { log_.log(line); };
  dctx.run_dir = run_.path().string();
  dctx.hosts = p_.cluster.hosts;
  dctx.roles = p_.cluster.roles;
  dctx.dcs = p_.cluster.dcs;
  for (const auto& name : p_.nemesis_names) {  // e.g. the clock nemesis: ctx.launch (libfaketime)
    if (const auto* hook = DbContextHookRegistry::find(name)) {
      (*hook)(spec_.nemesis_options.value(name, Json::object()), dctx);
    }
  }

  // Nemesis, heal and teardown commands have deadlines: a node that stops answering costs a
  // timeout, never the heal (harness/remote.h make_deadline_remote).
  command_deadline_ =
      std::chrono::milliseconds(static_cast<int64_t>(spec_.nemesis_command_timeout_s * 1000));
  heal_remote_ = std::make_unique<std::shared_ptr<Remote>>(
      p_.cluster.remote ? make_deadline_remote(p_.cluster.remote, command_deadline_) : nullptr);
  heal_dctx_ = std::make_unique<DbContext>(dctx);
  heal_dctx_->remote = heal_remote_->get();
  const auto nemesis_op_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(spec_.nemesis_op_timeout_s * 1000));
  std::vector<std::unique_ptr<Nemesis>> nemesis_parts;
  for (auto& pkg : p_.packages) nemesis_parts.push_back(std::move(pkg.nemesis));
  if (!nemesis_parts.empty())
    nemesis_ = compose_nemeses(std::move(nemesis_parts), nemesis_op_timeout);
  nctx_.db_ctx = heal_dctx_.get();
  nctx_.db = p_.db.get();
  nctx_.remote = heal_remote_->get();
  nctx_.nodes = p_.cluster.nodes;

  InterpreterOptions io;
  // Time 0 of the history, on the wall clock too: the failure report aligns the nodes' logs
  // with the ops by it.
  io.start = std::chrono::steady_clock::now();
  const auto wall0 = std::chrono::system_clock::now();
  test_["time-origin"] = iso_time_us(wall0);
  test_["time-origin-unix-us"] =
      std::chrono::duration_cast<std::chrono::microseconds>(wall0.time_since_epoch()).count();
  io.concurrency = p_.concurrency;
  io.nodes = p_.client_nodes;
  io.op_timeout = std::chrono::nanoseconds(to_ns(spec_.op_timeout_s));
  std::string vocabulary = p_.workload->vocabulary();
  Db* dbp = p_.db.get();
  io.new_client = [dbp, vocabulary] { return dbp->new_client(vocabulary); };
  io.db_ctx = &dctx;
  io.client_params = p_.workload->client_params(p_.wctx);
  io.nemesis = nemesis_.get();
  io.nemesis_ctx = nctx_;
  io.nemesis_op_timeout = nemesis_op_timeout;
  io.seed = p_.interpreter_seed;
  io.start_thread = ro_.start_thread;
  interp_ = std::make_unique<Interpreter>(io, *recorder_);
}

// Progress: a live line on a terminal, a plain line every 10 s otherwise.
void TestRun::start_progress() {
  if (!ro_.progress) return;
  progress_ = std::thread([this] {
    bool tty = ::isatty(2);
    auto t0 = std::chrono::steady_clock::now();
    int64_t last_ops = 0;
    auto last = t0;
    int ticks = 0;
    while (!progress_stop_.load()) {
      {
        std::unique_lock<std::mutex> lock(progress_mu_);
        progress_cv_.wait_for(lock, std::chrono::milliseconds(250),
                              [&] { return progress_stop_.load(); });
      }
      if (progress_stop_.load()) break;
      if (++ticks % (tty ? 4 : 40) != 0) continue;
      auto now = std::chrono::steady_clock::now();
      auto c = interp_->counts();
      double dt = std::chrono::duration<double>(now - last).count();
      double rate = dt > 0 ? (c.invoked - last_ops) / dt : 0;
      last_ops = c.invoked;
      last = now;
      char buf[200];
      std::snprintf(buf, sizeof buf, "%6.1f s / %.0f s  %7.0f ops/s  ok %lld  fail %lld  info %lld",
                    std::chrono::duration<double>(now - t0).count(), spec_.time_limit_s, rate,
                    static_cast<long long>(c.ok), static_cast<long long>(c.fail),
                    static_cast<long long>(c.info));
      std::string line = buf;
      // The latest nemesis op says which fault is active (start-x) or that it was healed.
      if (c.nemesis > 0) line += "  nemesis: " + c.last_nemesis_f;
      if (tty) {
        std::cerr << "\r" << line << "\033[K" << std::flush;
      } else {
        std::cerr << line << "\n";
      }
    }
    if (tty) std::cerr << "\r\033[K" << std::flush;
  });
}

// The progress line reads the interpreter's counts: stopped before the interpreter goes.
void TestRun::stop_progress() {
  {
    std::lock_guard<std::mutex> lock(progress_mu_);
    progress_stop_.store(true);
  }
  progress_cv_.notify_all();
  if (progress_.joinable()) progress_.join();
}

// Every phase change syncs the history; a failing disk is logged and ends the run after heal
// and teardown, like any other plumbing error.
void TestRun::phase(const std::string& name) {
  try {
    recorder_->sync();
  } catch (const std::exception& e) {
    log_.log(std::string("history: ") + e.what());
    if (!error_) error_ = std::current_exception();
  }
  log_.log("phase: " + name);
}

// The recovery phase: recovery-wait seconds for the cluster to settle, cut short by SIGINT.
void TestRun::recovery_wait() {
  phase("recovery");
  auto until =
      std::chrono::steady_clock::now() + std::chrono::nanoseconds(to_ns(spec_.recovery_wait_s));
  while (std::chrono::steady_clock::now() < until && !interrupted_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Setup (database, then nemeses) and the main phase; a failure of either is the run's error.
void TestRun::setup_and_main() {
  try {
    phase("setup");
    left_.add(db_left_);
    db_up_ = true;
    DbContext& dctx = *dctx_;
    p_.db->setup(dctx);
    p_.db->prepare(dctx, p_.workload->vocabulary(), p_.workload->client_params(p_.wctx));
    test_["db-version"] = p_.db->version(dctx);
    write_file_atomic(run_.test_json(), test_.dump(2) + "\n");
    write_environment(*p_.db, dctx, run_, log_);
    if (nemesis_) {
      left_.add(faults_left_);
      nemesis_up_ = true;
      nemesis_->setup(nctx_);
    }
    if (interrupted_.load()) return;
    phase("main");
    test_["main-start-ns"] = interp_->now_ns();
    write_file_atomic(run_.test_json(), test_.dump(2) + "\n");
    std::vector<GenPtr> nemesis_gens;
    for (auto& pkg : p_.packages) {
      if (pkg.generator) nemesis_gens.push_back(std::move(pkg.generator));
    }
    GenPtr nemesis_gen = nemesis_gens.empty() ? nullptr : any(std::move(nemesis_gens));
    if (!spec_.nemesis_schedule.empty()) nemesis_gen = schedule_generator(spec_.nemesis_schedule);
    GenPtr main = time_limit(to_ns(spec_.time_limit_s),
                             clients_and_nemesis(rate(spec_.rate, p_.workload->generator(p_.wctx)),
                                                 std::move(nemesis_gen)));
    // The time limit bounds the phase: ops still running a second after it (a restart
    // waiting for its node, a client past the limit) are cut off, recorded info.
    RunControl control;
    control.cancel = &interrupted_;
    control.deadline = deadline_after(spec_.time_limit_s);
    interp_->run(*main, control);
    auto c = interp_->counts();
    log_.log("main: " + std::to_string(c.invoked) + " ops invoked (ok " + std::to_string(c.ok) +
             ", fail " + std::to_string(c.fail) + ", info " + std::to_string(c.info) + ")");
  } catch (...) {
    error_ = std::current_exception();
    log_.log("error: " + what_of(error_) + "; healing and tearing down");
  }
}

// Always, when a nemesis was set up: every package's final generator, then the nemesis's
// teardown (which heals everything), then the recovery wait.
void TestRun::heal() {
  if (!nemesis_up_) return;
  phase("heal");
  try {
    std::vector<GenPtr> finals;
    for (auto& pkg : p_.packages) {
      if (pkg.final_generator) finals.push_back(std::move(pkg.final_generator));
    }
    if (!finals.empty()) {
      GenPtr heal = time_limit(to_ns(spec_.final_time_limit_s),
                               faultline::nemesis(phases(std::move(finals))));
      RunControl control;
      control.deadline = deadline_after(spec_.final_time_limit_s);
      control.nemesis_only = true;
      control.phase = "heal";
      interp_->run(*heal, control);
    }
  } catch (const std::exception& e) {
    log_.log(std::string("heal: final generators failed: ") + e.what());
  }
  try {
    nemesis_->teardown(nctx_);
    left_.remove(faults_left_);
  } catch (const std::exception& e) {
    log_.log(std::string("heal: nemesis teardown failed: ") + e.what());
    problems_.push_back(std::string("heal failed: ") + e.what());
  }
  if (!interrupted_.load() && spec_.recovery_wait_s > 0) recovery_wait();
}

// The workload's final generator (final reads), unless the run failed or was interrupted.
void TestRun::final_reads() {
  if (error_ || interrupted_.load()) return;
  try {
    GenPtr final = p_.workload->final_generator(p_.wctx);
    if (final && !nemesis_ && p_.cluster.remote && spec_.recovery_wait_s > 0) {
      // No nemesis ran, but a real cluster's replicas may still be applying the last
      // writes: let them quiesce before the final reads judge convergence.
      recovery_wait();
    }
    if (final) {
      try {
        p_.db->before_final_reads(*dctx_, p_.workload->vocabulary(), nemesis_ != nullptr);
      } catch (const std::exception& e) {
        log_.log(std::string("before final reads: ") + e.what());
      }
      phase("final");
      GenPtr bounded = time_limit(to_ns(spec_.final_time_limit_s), clients(std::move(final)));
      RunControl control;
      control.cancel = &interrupted_;
      control.deadline = deadline_after(spec_.final_time_limit_s);
      interp_->run(*bounded, control);
    }
  } catch (const std::exception& e) {
    log_.log(std::string("final reads failed: ") + e.what());
    problems_.push_back(std::string("final reads failed: ") + e.what());
  }
  try {
    replication_report();
  } catch (const std::exception& e) {  // the history could not take it
    log_.log(std::string("replication report not recorded: ") + e.what());
    problems_.push_back(std::string("replication report not recorded: ") + e.what());
  }
}

// After the final reads (or heal, for a workload without them): the database's report on its
// replication, recorded in the history as a nemesis-process op for checker "replication". A
// report that throws is recorded as {"error": ...} (the checker says unknown).
void TestRun::replication_report() {
  auto* reports = capability<ReportsReplication>(*p_.db);
  if (!reports || error_ || interrupted_.load()) return;
  Op op;
  op.process = kNemesisProcess;
  op.type = OpType::kInfo;  // a nemesis invocation, as the interpreter records them (Jepsen)
  op.f = "replication-health";
  op.extra = {{"phase", "final"}};
  op.time_ns = interp_->now_ns();
  recorder_->record(op);
  try {
    op.value = reports->replication_health(*dctx_, p_.workload->vocabulary());
  } catch (const std::exception& e) {
    log_.log(std::string("replication report failed: ") + e.what());
    op.value = {{"error", e.what()}};
  }
  op.time_ns = interp_->now_ns();
  recorder_->record(op);
}

// Always: clients closed, logs collected, database torn down (unless leave-db-running), the
// history closed.
void TestRun::teardown() {
  phase("teardown");
  stop_progress();
  // Ops abandoned at a timeout, an interrupt or the time limit may still be running on their
  // own threads (bounded by their op timeout and command deadlines): the database goes after
  // them.
  int still_running = interp_->wait_abandoned(std::chrono::nanoseconds(to_ns(spec_.op_timeout_s)) +
                                              command_deadline_ + std::chrono::seconds(5));
  if (still_running > 0) {
    log_.log("teardown: " + std::to_string(still_running) +
             " abandoned op(s) still running; their database objects are kept until exit");
  }
  interp_.reset();  // closes clients
  if (db_up_) {
    try {
      collect_logs(*p_.db, *heal_dctx_, heal_remote_->get(), run_.path(), log_);
    } catch (const std::exception& e) {
      log_.log(std::string("logs: ") + e.what());
    }
    if (spec_.leave_db_running) {
      log_.log("teardown: leaving the database running (--leave-db-running)");
      left_.remove(db_left_);
    } else {
      try {
        p_.db->teardown(*heal_dctx_);
        left_.remove(db_left_);
      } catch (const std::exception& e) {
        log_.log(std::string("teardown failed: ") + e.what());
        problems_.push_back(std::string("teardown failed: ") + e.what());
      }
    }
  }
  if (still_running > 0) {
    // Never free what a running thread uses: leave it to the end of the process.
    (void)p_.db.release();
    (void)nemesis_.release();
    (void)dctx_.release();
    (void)heal_dctx_.release();
    (void)heal_remote_.release();
    (void)new std::shared_ptr<Remote>(p_.cluster.remote);
  }
  try {
    recorder_->close();
  } catch (const std::exception& e) {
    log_.log(std::string("history: ") + e.what());
    if (!error_) error_ = std::current_exception();
  }
  watcher_.reset();
  cancel_watch_stop_.store(true);
  if (cancel_watch_.joinable()) cancel_watch_.join();
}

// What could not be healed or torn down, and how to finish the job ("" when nothing).
std::string TestRun::left_behind_text() {
  std::string what = left_.describe();
  if (what == "  nothing\n") return "";
  std::string text = "left behind:\n" + what + "heal it with: " + heal_command(run_.path()) + "\n";
  log_.log("teardown: " + text);
  return text;
}

// The history is complete: read once for EDN, checkers and report; results.json written.
RunOutcome TestRun::check(const std::string& left_text) {
  log_.log("phase: check");
  write_edn(run_);
  Json controller = Json::object();
  if (!problems_.empty()) {
    controller["problems"] = problems_;
    if (!left_text.empty()) controller["heal-command"] = heal_command(run_.path());
  }
  CheckRunResult r = check_and_write(run_, spec_, p_.checkers, &log_, ro_.progress, controller);
  RunOutcome outcome;
  outcome.dir = run_.path();
  outcome.interrupted = interrupted_.load();
  outcome.validity = r.validity;
  outcome.results = r.results;
  outcome.summary = summary_text(run_.path(), r.results, r.validity);
  if (outcome.interrupted)
    outcome.summary = "interrupted: the main phase was cut short\n" + outcome.summary;
  for (const auto& pr : problems_) outcome.summary += "problem: " + pr + "\n";
  if (!left_text.empty()) outcome.summary += left_text;
  log_.log("verdict: " + std::string(to_string(r.validity)));
  log_.close();
  return outcome;
}

RunOutcome TestRun::run() {
  watch_signals();
  build();
  start_progress();
  setup_and_main();
  heal();
  final_reads();
  teardown();
  std::string left_text = left_behind_text();
  if (error_) {
    log_.log("history kept: " + run_.history_jsonl().string());
    if (!left_text.empty()) std::cerr << "faultline: " << left_text;
    std::rethrow_exception(error_);
  }
  return check(left_text);
}

}  // namespace

RunOutcome run_test(const TestSpec& spec, const RunOptions& options) {
  Plan plan = make_plan(spec);
  if (plan.spec.preflight) {
    if (auto pre = plan_preflight(plan)) {
      if (pre->problems() > 0) {
        throw ConfigError(
            "preflight: the nodes cannot run this test (`faultline nodes check` "
            "with the same flags prints this; preflight: false in the spec skips "
            "it):\n" +
            trim_newline(pre->text(false)));
      }
      if (options.echo_log && pre->warnings() > 0) std::cerr << pre->text(false);
      plan.preflight = outcomes_json(*pre);
    }
  }
  TestRun run(std::move(plan), options);
  return run.run();
}

PreflightCheck preflight_test(const TestSpec& spec) {
  Plan plan = make_plan(spec);
  PreflightCheck out;
  out.nodes = plan.cluster.nodes;
  out.result = plan_preflight(plan);
  return out;
}

RunOutcome analyze_run(const fs::path& arg, bool progress) {
  fs::path dir = resolve_run_dir(arg);
  const RunDir run(dir);
  if (!fs::exists(run.test_json())) {
    throw ConfigError(dir.string() + ": no test.json: cannot tell which checkers apply");
  }
  if (!fs::exists(run.history_jsonl())) {
    throw ConfigError(dir.string() + ": no history.jsonl to check");
  }
  Json test = run.test();
  TestSpec spec = parse_spec(test.value("spec", Json::object()), run.test_json().string());
  std::unique_ptr<Workload> workload = with_path(
      "/workload-options",
      [&] { return WorkloadRegistry::get("workload", spec.workload)(spec.workload_options); },
      "/workload");
  // Runs before client-nodes was recorded had clients on every node.
  std::vector<std::string> nodes =
      test.value("client-nodes", test.value("nodes", std::vector<std::string>{}));
  int concurrency = test.value("concurrency", 1);
  std::vector<CheckerSpec> checkers =
      workload->checkers(workload_context(spec, concurrency, nodes));
  if (!test.value("nemeses", Json::array()).empty()) checkers.push_back(nemesis_checker(spec));
  // The database is made only to ask whether it reports on its replication (nothing connects
  // anywhere); one this build cannot make (a run of another version) adds no checker.
  try {
    std::unique_ptr<Db> db = DbRegistry::get("db", spec.db)(spec.db_options);
    if (capability<ReportsReplication>(*db)) checkers.push_back(kReplicationChecker);
  } catch (const std::exception& e) {
    std::cerr << "analyze: database '" << spec.db << "' not checked for a replication report ("
              << e.what() << ")\n";
  }
  ControllerLog log;
  log.open(run.controller_log(), false);
  log.log("analyze: re-checking history.jsonl");
  write_edn(run);
  CheckRunResult r = check_and_write(run, spec, checkers, &log, progress);
  RunOutcome out;
  out.dir = dir;
  out.validity = r.validity;
  out.results = r.results;
  out.summary = summary_text(dir, r.results, r.validity);
  return out;
}

}  // namespace faultline::run
