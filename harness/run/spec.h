// TestSpec: everything that defines a test run, as one JSON object whose keys are the flags of
// `faultline run` (kebab-case, without the dashes). `--spec FILE` loads one; flags given on the
// command line override its keys. parse_spec validates types and ranges and rejects unknown
// keys, naming each by its JSON path ("/nemesis-options/partition/shape").
//
//   key                 type              default     meaning
//   name                string            derived     test name: "<db>-<workload>[-<nemeses>]"
//   db                  string            "memory"    registered database
//   db-options          object            {}          checked by the database
//   workload            string            "register"  registered workload
//   workload-options    object            {}          checked by the workload
//   nemesis             [string] | string []          packages; "none", "all", or "a,b"
//   nemesis-options     object name->obj  {}          per package, checked by it
//   nemesis-interval    seconds           10          between a fault's start and stop
//   nemesis-schedule    [{at, f, value}]  []          a fixed schedule instead of the packages'
//                                                     random ones: op f (with value) at `at`
//                                                     seconds into the main phase, in order
//   time-limit          seconds           60          length of the main phase
//   concurrency         int | "Nn"        "3n"        client threads (Nn: N per node)
//   rate                ops/s             1000        over all clients; 0: unlimited
//   op-timeout          seconds           10          a client op past it is info
//   recovery-wait       seconds           5           after heal, when a nemesis ran; before
//                                                     final reads on a real cluster
//   final-time-limit    seconds           60          bound on the final reads phase
//   checker-time-limit  seconds           0           per checker, then unknown (0: none)
//   test-count          int               1           runs of the same spec
//   seed                uint64            random      recorded in test.json
//   nodes               [string]          db's        node names (in-process dbs: n1 n2 n3)
//   nodes-file          string            ""          one node per line
//   local               int               0           use the local cluster with N nodes
//   ssh                 object            {}          username, private-key-path, port,
//                                                     known-hosts, strict-host-key-checking
//   leave-db-running    bool              false       skip the database's teardown
//   preflight           bool              true        check the nodes before setup
//                                                     (control/preflight.h); refuse on a problem
//   consistency-model   string            ""          for transactional checkers
//   routing             string            "random"    random | home-node (each key written
//                                                     only through its home node)
//   retry               string            "none"      none | idempotent (writes retried with
//                                                     an idempotency key after a lost reply)
//   results-dir         string            "results"   where runs are stored
//
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "harness/op.h"

namespace faultline::run {

struct TestSpec {
  std::string name;
  std::string db = "memory";
  Json db_options = Json::object();
  std::string workload = "register";
  Json workload_options = Json::object();
  std::vector<std::string> nemesis;
  Json nemesis_options = Json::object();
  double nemesis_interval_s = 10;
  Json nemesis_schedule = Json::array();  // [{"at": s, "f": "...", "value": ...}], sorted by at
  double time_limit_s = 60;
  std::string concurrency = "3n";  // docs/detection.md: what the defaults find, measured
  double rate = 1000;
  double op_timeout_s = 10;
  double recovery_wait_s = 5;
  double final_time_limit_s = 60;
  // A nemesis op running longer is abandoned (recorded info); every nemesis, heal and teardown
  // command without a timeout of its own gets nemesis_command_timeout_s (harness/remote.h
  // make_deadline_remote).
  double nemesis_op_timeout_s = 300;
  double nemesis_command_timeout_s = 120;
  double checker_time_limit_s = 600;  // per checker; 0: none (a run's check cannot hang)
  int64_t test_count = 1;
  std::optional<uint64_t> seed;
  std::vector<std::string> nodes;
  std::string nodes_file;
  int64_t local = 0;
  Json ssh = Json::object();
  bool leave_db_running = false;
  bool preflight = true;
  std::string consistency_model;
  std::string routing = "random";
  std::string retry = "none";
  // A nemesis op that failed, timed out or acted on no node makes the verdict unknown
  // ("unknown"), or is accepted ("allow"): the checker "nemesis".
  std::string nemesis_errors = "unknown";
  std::string results_dir = "results";
  // Not a spec key: set by a matrix run to its combination's values, recorded in test.json as
  // "matrix-cell" (a baseline's cells are keyed by them, harness/run/baseline.h).
  Json matrix_cell;

  // Every key, defaults included (seed only when set): what test.json records.
  Json to_json() const;
  // name, or "<db>-<workload>[-<nemesis>...]".
  std::string test_name() const;
};

// Validates `j` (an object) and builds the spec. `source` names the file in errors.
TestSpec parse_spec(const Json& j, const std::string& source = "spec");
// The shortest nemesis-interval: a shorter one floods the nodes with fault commands.
inline constexpr double kMinNemesisInterval = 0.1;

// Reads a JSON file (parse errors name the byte offset); throws ConfigError.
Json load_spec_file(const std::string& path);
// "5" -> 5, "2n" with 3 nodes -> 6; throws ConfigError for anything else or a result < 1.
int resolve_concurrency(const std::string& concurrency, size_t node_count);
// "none" / "" -> {}, "a,b" -> {a, b}; "all" is kept for the runner to expand.
std::vector<std::string> split_nemesis_list(const std::string& text);

}  // namespace faultline::run
