// The faultline binary: exit codes and messages of check, convert and list.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/paths.h"

using namespace faultline::testing;

namespace {

std::string write_temp(const std::string& name, const std::string& content) {
  auto dir = std::filesystem::temp_directory_path() / "faultline-cli-test";
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

CommandResult fl(const std::string& args) { return run_shell(faultline_binary() + " " + args); }

}  // namespace

TEST_CASE("check: exit codes 0 valid, 1 invalid, 254 bad input with file and line", "[cli]") {
  auto ok = write_temp("ok.edn",
                       "{:process 0, :type :invoke, :f :write, :value 1}\n"
                       "{:process 0, :type :ok, :f :write, :value 1}\n"
                       "{:process 1, :type :invoke, :f :read, :value nil}\n"
                       "{:process 1, :type :ok, :f :read, :value 1}\n");
  auto r = fl("check " + ok);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("valid"));

  auto bad = write_temp("bad.edn",
                        "{:process 0, :type :invoke, :f :write, :value 1}\n"
                        "{:process 0, :type :ok, :f :write, :value 1}\n"
                        "{:process 1, :type :invoke, :f :read, :value nil}\n"
                        "{:process 1, :type :ok, :f :read, :value 2}\n");
  r = fl("check " + bad);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("Not linearizable"));

  auto truncated = write_temp("truncated.edn",
                              "{:process 0, :type :invoke, :f :read, :value nil}\n"
                              "{:process 0, :type :ok, :f :read, :value 1\n");
  r = fl("check " + truncated);
  CHECK(r.status == 254);
  CHECK_THAT(r.output, Catch::Contains("truncated.edn:2:"));

  auto unknown_type = write_temp("type.jsonl",
                                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
                                 "{\"process\":0,\"type\":\"done\",\"f\":\"read\"}\n");
  r = fl("check " + unknown_type);
  CHECK(r.status == 254);
  CHECK_THAT(r.output, Catch::Contains("type.jsonl:2: unknown op type"));

  auto unmatched = write_temp("unmatched.edn",
                              "{:process 3, :type :invoke, :f :read, :value nil}\n"
                              "{:process 4, :type :ok, :f :read, :value 1}\n");
  r = fl("check " + unmatched);
  CHECK(r.status == 254);
  CHECK_THAT(r.output,
             Catch::Contains("unmatched.edn:2: process 4 ok read has no open invocation"));

  // Completions only: Elle's checkers take them; linearizability needs invocations.
  auto completions = write_temp("completions.edn", "{:process 4, :type :ok, :f :read, :value 1}\n");
  r = fl("check " + completions);
  CHECK(r.status == 254);
  CHECK_THAT(r.output, Catch::Contains("completions only"));

  auto garbage = write_temp("garbage.bin", std::string("\x7f"
                                                       "ELF\x02\x01\x00\x00\xff\xfe",
                                                       10));
  r = fl("check " + garbage);
  CHECK(r.status == 254);
  CHECK_THAT(r.output, Catch::Contains("garbage.bin:1:"));

  r = fl("check /nonexistent/history.edn");
  CHECK(r.status == 254);
  CHECK_THAT(r.output, Catch::Contains("/nonexistent/history.edn: cannot open"));

  r = fl("check --model no-such-model " + ok);
  CHECK(r.status == 254);
  CHECK_THAT(r.output, Catch::Contains("unknown model 'no-such-model'"));

  r = fl("check --bogus-flag " + ok);
  CHECK(r.status == 254);
}

TEST_CASE("convert round-trips through EDN and jsonl", "[cli]") {
  auto src = write_temp("src.edn",
                        "{:process 0, :type :invoke, :f :txn, :value [[:append 1 2] [:r 1 nil]]}\n"
                        "{:process 0, :type :ok, :f :txn, :value [[:append 1 2] [:r 1 [2]]]}\n");
  auto jsonl = write_temp("out.jsonl", "");
  auto edn = write_temp("out.edn", "");
  auto back = write_temp("back.jsonl", "");
  CHECK(fl("convert " + src + " " + jsonl).status == 0);
  CHECK(fl("convert " + jsonl + " " + edn).status == 0);
  CHECK(fl("convert " + edn + " " + back).status == 0);
  std::ifstream a(jsonl), b(back);
  std::string sa((std::istreambuf_iterator<char>(a)), {}),
      sb((std::istreambuf_iterator<char>(b)), {});
  CHECK(!sa.empty());
  CHECK(sa == sb);
  std::ifstream e(edn);
  std::string se((std::istreambuf_iterator<char>(e)), {});
  CHECK_THAT(se, Catch::Contains("[:append 1 2]"));
}

TEST_CASE("list names the registered models and checkers", "[cli]") {
  auto r = fl("list");
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("cas-register"));
  CHECK_THAT(r.output, Catch::Contains("linearizable"));
}

TEST_CASE("check agrees with the shared histories' verdicts through the CLI", "[cli][shared]") {
  FAULTLINE_REQUIRE_SHARED(shared);
  auto r = fl("check -o failed-cas=mismatch " + (shared / "porcupine/etcd/etcd_000.log").string());
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("Not linearizable"));
  r = fl("check " + (shared / "porcupine/etcd/etcd_002.log").string());
  CHECK(r.status == 0);
}

TEST_CASE("check: a history with nothing to judge is unknown, never valid", "[cli][regression]") {
  // Regression: an empty file, or one where nothing succeeded, came out valid (exit 0).
  auto empty = write_temp("empty.jsonl", "");
  auto r = fl("check " + empty);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("no client operation"));

  auto failed = write_temp("failed.edn",
                           "{:process 0, :type :invoke, :f :write, :value 1}\n"
                           "{:process 0, :type :fail, :f :write, :value 1}\n"
                           "{:process 1, :type :invoke, :f :read, :value nil}\n"
                           "{:process 1, :type :fail, :f :read, :value nil}\n");
  r = fl("check " + failed);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("no operation succeeded"));

  auto la = write_temp("la-failed.edn",
                       "{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n"
                       "{:process 0, :type :fail, :f :txn, :value [[:append :x 1]]}\n");
  r = fl("check -c list-append " + la);
  CHECK(r.status == 2);
}

TEST_CASE("check: a failed cas is not a mismatch unless the history says so", "[cli][regression]") {
  // Knossos: a failed op did not happen, and a client may fail a cas for other reasons than a
  // mismatch. Here the register holds 1 when the cas [1 2] fails: invalid only if the failure
  // means "the compare did not match".
  const std::string ops =
      "{:process 0, :type :invoke, :f :write, :value 1}\n"
      "{:process 0, :type :ok, :f :write, :value 1}\n"
      "{:process 1, :type :invoke, :f :cas, :value [1 2]}\n";
  auto plain = write_temp("cas-fail.edn", ops +
                                              "{:process 1, :type :fail, :f :cas, :value [1 2]}\n"
                                              "{:process 2, :type :invoke, :f :read, :value nil}\n"
                                              "{:process 2, :type :ok, :f :read, :value 1}\n");
  auto r = fl("check " + plain);
  CHECK(r.status == 0);
  r = fl("check -o failed-cas=mismatch " + plain);
  CHECK(r.status == 1);
  auto marked = write_temp(
      "cas-mismatch.edn", ops +
                              "{:process 1, :type :fail, :f :cas, :value [1 2], :error :mismatch}\n"
                              "{:process 2, :type :invoke, :f :read, :value nil}\n"
                              "{:process 2, :type :ok, :f :read, :value 1}\n");
  r = fl("check " + marked);
  CHECK(r.status == 1);
  r = fl("check -o failed-cas=maybe " + plain);
  CHECK(r.status == 254);
}

// Issue 19, item 6: a series of runs says how often each anomaly type showed.
TEST_CASE("run --test-count writes HOW-OFTEN.md beside the runs", "[cli][report]") {
  auto dir = std::filesystem::temp_directory_path() /
             ("faultline-cli-howoften-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto r =
      fl("run --db memory-stale --workload register --time-limit 0.5 --test-count 2 --seed 3 "
         "--quiet --results-dir " +
         dir.string() + " 2>&1");
  INFO(r.output);
  CHECK(r.status == 1);
  auto md_path = dir / "memory-stale-register" / "HOW-OFTEN.md";
  REQUIRE(std::filesystem::exists(md_path));
  std::ifstream in(md_path);
  std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(md.find("# How often: 2 runs of memory-stale-register") != std::string::npos);
  CHECK(md.find("verdicts: invalid 2;") != std::string::npos);
  CHECK(md.find("| linearizable/nonlinearizable | 2 of 2 | 100% |") != std::string::npos);
  std::filesystem::remove_all(dir);
}
