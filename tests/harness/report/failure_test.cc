// FAILURE-REPORT.md: golden text for a lost update (counter) and a stale read (register) of
// memory-stale, judged against its claim; node logs aligned to the history's clock; claims
// judged per anomaly type; the bundle unpacks and holds history.edn.
#include "harness/report/failure.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/control/local_exec.h"
#include "harness/files.h"
#include "harness/remote.h"
#include "harness/report/claims.h"
#include "harness/run/runner.h"

using namespace faultline;
namespace fs = std::filesystem;

namespace {

fs::path run_dir(const std::string& name, const std::string& workload, const std::string& history,
                 const std::string& extra_test = "") {
  fs::path root =
      fs::temp_directory_path() / ("faultline-failure-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::path dir = root / ("memory-stale-" + workload) / "20261204T030000";
  fs::create_directories(dir);
  std::ofstream(dir / "history.jsonl") << history;
  std::ofstream(dir / "test.json")
      << R"({"test-name":"memory-stale-)" << workload
      << R"(","seed":7,"db-version":"in-process","faultline-version":"0.1.0",)"
      << R"("nodes":["n1","n2"],"time-origin":"2026-12-04T03:00:00.000000Z",)"
      << R"("time-origin-unix-us":1796353200000000,"main-start-ns":1000000,)" << extra_test
      << R"("spec":{"db":"memory-stale","workload":")" << workload
      << R"(","seed":7,"results-dir":"r","time-limit":1.0,"nemesis":[]}})";
  return dir;
}

const char* kCounterHistory =
    R"({"index":0,"time":2000000,"process":0,"type":"invoke","f":"increment","value":{"id":"i0","key":0},"node":"n1"}
{"index":1,"time":2500000,"process":1,"type":"invoke","f":"increment","value":{"id":"i1","key":0},"node":"n2"}
{"index":2,"time":3000000,"process":0,"type":"ok","f":"increment","value":{"id":"i0","key":0,"read":0,"wrote":1},"node":"n1","sql":["BEGIN","SELECT v FROM fl_counter WHERE k = 0","UPDATE fl_counter SET v = 1 WHERE k = 0","COMMIT"]}
{"index":3,"time":3500000,"process":1,"type":"ok","f":"increment","value":{"id":"i1","key":0,"read":0,"wrote":1},"node":"n2"}
{"index":4,"time":9000000,"process":0,"type":"invoke","f":"read-all","value":null,"node":"n1","final":true}
{"index":5,"time":9500000,"process":0,"type":"ok","f":"read-all","value":{"0":1},"node":"n1","final":true}
{"index":6,"time":9600000,"process":1,"type":"invoke","f":"read-all","value":null,"node":"n2","final":true}
{"index":7,"time":9700000,"process":1,"type":"ok","f":"read-all","value":{"0":1},"node":"n2","final":true}
)";

const char* kRegisterHistory =
    R"({"index":0,"time":2000000,"process":0,"type":"invoke","f":"write","value":[0,1],"node":"n1"}
{"index":1,"time":3000000,"process":0,"type":"ok","f":"write","value":[0,1],"node":"n1"}
{"index":2,"time":4000000,"process":1,"type":"invoke","f":"read","value":[0,null],"node":"n2"}
{"index":3,"time":5000000,"process":1,"type":"ok","f":"read","value":[0,null],"node":"n2"}
)";

const std::string kCounterGolden = R"(# Failure report: memory-stale-counter 20261204T030000

Verdict: **invalid**

## Summary

memory-stale in-process at one in-process store claims strict-serializable (clusters/memory/memory_db.h); observed: lost-update-pair (1), lost-updates (1), contradicting the claim.

Claim: claims what memory claims, and misbehaves on purpose (stale reads, lost updates, ...): every checker must find it invalid Source: clusters/memory/memory_db.h.

| anomaly | checker | count | per 1,000 ok ops | what it means | against the claim |
| --- | --- | ---: | ---: | --- | --- |
| lost-update-pair | counter | 1 | 250.00 | lost update: two increments read the same value and both wrote value + 1; one was lost | contradicts the claim: strict-serializable forbids lost-update |
| lost-updates | counter | 1 | 250.00 | acknowledged increments are missing from the final value on every node | contradicts the claim: no consistency model allows it |
)";

}  // namespace

TEST_CASE("failure report: golden text for a lost update of memory-stale") {
  fs::path dir = run_dir("counter", "counter", kCounterHistory);
  run::analyze_run(dir);
  const std::string md = read_file(dir / "FAILURE-REPORT.md");
  INFO(md);
  CHECK(md.substr(0, kCounterGolden.size()) == kCounterGolden);
  // The smallest witness, in time order, with the statements the op sent.
  CHECK(md.find("### lost-update-pair (counter): 1 of 1\n\n"
                "lost update: two increments read the same value and both wrote value + 1; one "
                "was lost.\n\n"
                "- **op 2**, process 0 on n1, 0.001 s → 0.002 s, ok: `increment "
                "{\"id\":\"i0\",\"key\":0} → {\"id\":\"i0\",\"key\":0,\"read\":0,\"wrote\":1}`\n"
                "  ```sql\n  BEGIN\n  SELECT v FROM fl_counter WHERE k = 0\n"
                "  UPDATE fl_counter SET v = 1 WHERE k = 0\n  COMMIT\n  ```\n"
                "- **op 3**, process 1 on n2, 0.002 s → 0.003 s, ok: ") != std::string::npos);
  CHECK(md.find("faultline run --spec repro.json") != std::string::npos);
  const Json repro = Json::parse(read_file(dir / "repro.json"));
  CHECK(repro["seed"] == 7);
  CHECK(repro["db"] == "memory-stale");
  CHECK_FALSE(repro.contains("results-dir"));
  // report.html carries the same summary and the witness table at its top.
  const std::string html = read_file(dir / "report.html");
  CHECK(html.find("id=\"witness-table\"") != std::string::npos);
  CHECK(html.find("id=\"witness-table\"") < html.find("id=\"checkers\""));
}

TEST_CASE("failure report: a stale read of memory-stale contradicts its claim") {
  fs::path dir = run_dir("register", "register", kRegisterHistory);
  run::analyze_run(dir);
  const std::string md = read_file(dir / "FAILURE-REPORT.md");
  INFO(md);
  CHECK(md.find("observed: nonlinearizable (1), contradicting the claim.") != std::string::npos);
  CHECK(md.find("| nonlinearizable | linearizable | 1 | 500.00 | not linearizable: no order of "
                "the operations that respects real time gives these results (a stale or "
                "impossible read) | contradicts the claim: strict-serializable forbids "
                "G-single-realtime |") != std::string::npos);
  CHECK(md.find("- **op 1**, process 0 on n1, 0.001 s → 0.002 s, ok: `write [0 1]`\n"
                "- **op 3**, process 1 on n2, 0.003 s → 0.004 s, ok: `read [0 null]`") !=
        std::string::npos);
}

TEST_CASE("failure report: node log lines near a witness, on the history's clock") {
  // The node's clock ran 2 s ahead (clock nemesis): its log says 03:00:02.002, which is 2 ms
  // into the history.
  const std::string history =
      std::string(
          R"({"index":0,"time":1000,"process":"nemesis","type":"info","f":"bump-clock","value":null}
{"index":1,"time":1500,"process":"nemesis","type":"info","f":"bump-clock","value":{"offsets-ms":{"n1":2000}}}
)") +
      R"({"index":2,"time":2000000,"process":0,"type":"invoke","f":"write","value":[0,1],"node":"n1"}
{"index":3,"time":3000000,"process":0,"type":"ok","f":"write","value":[0,1],"node":"n1"}
{"index":4,"time":4000000,"process":1,"type":"invoke","f":"read","value":[0,null],"node":"n2"}
{"index":5,"time":5000000,"process":1,"type":"ok","f":"read","value":[0,null],"node":"n2"}
)";
  fs::path dir = run_dir("logs", "register", history);
  fs::create_directories(dir / "nodes" / "n1");
  std::ofstream(dir / "nodes" / "n1" / "mariadb.err")
      << "2026-12-04  2:59:00 0 [Note] long before\n"
      << "2026-12-04  3:00:02 0 [Note] WSREP: near the witness\n"
      << "no timestamp here\n"
      << "2026-12-04  3:10:00 0 [Note] long after\n";
  run::analyze_run(dir);
  const Json results = Json::parse(read_file(dir / "results.json"));
  const Json m = report::failure_model(RunDir(dir), results);
  REQUIRE(m["witnesses"].size() == 1);
  const Json& w = m["witnesses"][0];
  REQUIRE(w["logs"].contains("n1"));
  REQUIRE(w["logs"]["n1"]["lines"].size() == 1);
  CHECK(w["logs"]["n1"]["lines"][0]["line"] ==
        "2026-12-04  3:00:02 0 [Note] WSREP: near the witness");
  CHECK(w["logs"]["n1"]["lines"][0]["t-ns"] == 0);
  CHECK(w["ops"][0]["clock-offset-ms"] == 2000.0);
}

TEST_CASE("failure report: a witness op during a clock strobe names the strobe") {
  // The strobe flips n1's clock between 1 ms and 6 ms and ends at n1's offset before (0): the
  // held offset alone (+0 ms) would hide why the write lost. Nemesis invocations are info ops,
  // as the runner (and Jepsen) records them.
  const std::string history =
      R"({"index":0,"time":1000000,"process":"nemesis","type":"info","f":"strobe-clock","value":{"nodes":["n1"],"delta-ms":13000,"period-ms":50}}
{"index":1,"time":2000000,"process":0,"type":"invoke","f":"write","value":[0,1],"node":"n1"}
{"index":2,"time":3000000,"process":0,"type":"ok","f":"write","value":[0,1],"node":"n1"}
{"index":3,"time":4000000,"process":1,"type":"invoke","f":"read","value":[0,null],"node":"n2"}
{"index":4,"time":5000000,"process":1,"type":"ok","f":"read","value":[0,null],"node":"n2"}
{"index":5,"time":6000000,"process":"nemesis","type":"info","f":"strobe-clock","value":{"offsets-ms":{"n1":0,"n2":0}}}
)";
  fs::path dir = run_dir("strobe", "register", history);
  run::analyze_run(dir);
  const Json results = Json::parse(read_file(dir / "results.json"));
  const Json m = report::failure_model(RunDir(dir), results);
  REQUIRE(m["witnesses"].size() == 1);
  const Json& w = m["witnesses"][0];
  REQUIRE(w["ops"].size() == 2);
  CHECK(w["ops"][0]["clock-offset-ms"] == 0.0);
  CHECK(w["ops"][0]["clock-moving"] == "strobe-clock flipping it by 13000 ms every 50 ms");
  CHECK_FALSE(w["ops"][1].contains("clock-moving"));  // n2 was not strobed
  report::write_failure_report(RunDir(dir), results);
  const std::string md = read_file(dir / "FAILURE-REPORT.md");
  CHECK(md.find("clock offset +0 ms (while strobe-clock flipping it by 13000 ms every 50 ms)") !=
        std::string::npos);
}

TEST_CASE("failure report: anomalies judged against a claim") {
  const Json si = {{"model", "snapshot-isolation"},
                   {"by-design", {{"lww/lost-later-write", "last update wins"}}}};
  CHECK(report::judge(si, "list-append", "G2-item").status == "not-claimed");
  CHECK(report::judge(si, "list-append", "lost-update").status == "contradicts");
  CHECK(report::judge(si, "list-append", "G-single-process").status == "not-claimed");
  CHECK(report::judge(si, "counter", "lost-update-pair").status == "contradicts");
  CHECK(report::judge(si, "linearizable", "nonlinearizable").status == "not-claimed");
  CHECK(report::judge(si, "set-full", "lost").status == "contradicts");
  CHECK(report::judge(si, "lww", "lost-later-write").status == "by-design");
  const Json none = {{"model", "none"}};
  CHECK(report::judge(none, "list-append", "G0").status == "not-claimed");
  CHECK(report::judge(none, "counter", "divergence").status == "contradicts");
  CHECK(report::judge(nullptr, "list-append", "G0").status == "no-claim");
  const Json ss = {{"model", "strict-serializable"}};
  CHECK(report::judge(ss, "list-append", "G-single-realtime").status == "contradicts");
  CHECK(report::judge(ss, "unique-ids", "non-monotonic").status == "contradicts");
}

TEST_CASE("failure report: the bundle unpacks with history.edn and the report") {
  fs::path dir = run_dir("bundle", "register", kRegisterHistory);
  run::analyze_run(dir);
  report::write_failure_report(RunDir(dir), Json::parse(read_file(dir / "results.json")));
  const fs::path out = dir.parent_path() / "bundle.tar.gz";
  report::write_bundle(RunDir(dir), out);
  auto s = control::make_local_session();
  ExecResult r = s->exec(Command{"tar", "-tzf", out.string()});
  REQUIRE(r.ok());
  CHECK(r.out.find("memory-stale-register-20261204T030000/history.edn") != std::string::npos);
  CHECK(r.out.find("memory-stale-register-20261204T030000/FAILURE-REPORT.md") != std::string::npos);
  CHECK(r.out.find("memory-stale-register-20261204T030000/repro.json") != std::string::npos);
}
