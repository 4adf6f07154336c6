#include "harness/formats.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "tests/support/paths.h"

using namespace faultline;

namespace {

LoadedHistory load(const std::string& text, std::optional<HistoryFormat> f = std::nullopt) {
  return load_history_text(text, "test", f);
}

// Expects loading to fail with a HistoryError whose first problem is on `line`.
void expect_bad(const std::string& text, int64_t line, const std::string& fragment) {
  try {
    load(text);
    FAIL("expected a HistoryError for: " << text);
  } catch (const HistoryError& e) {
    INFO(e.what());
    REQUIRE(!e.problems().empty());
    CHECK(e.problems().front().line == line);
    CHECK_THAT(e.what(), Catch::Contains(fragment));
  }
}

std::string write(const History& h, HistoryFormat f) {
  std::ostringstream out;
  write_history(out, h, f);
  return out.str();
}

void require_same(const History& a, const History& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("op " << i);
    CHECK(a[i].process == b[i].process);
    CHECK(a[i].type == b[i].type);
    CHECK(a[i].f == b[i].f);
    CHECK(a[i].value == b[i].value);
    CHECK(a[i].time_ns == b[i].time_ns);
    CHECK(a[i].node == b[i].node);
    CHECK(a[i].error == b[i].error);
    CHECK(a[i].extra == b[i].extra);
    CHECK(a.pair_of(i) == b.pair_of(i));
  }
}

}  // namespace

TEST_CASE("EDN values map to JSON", "[formats][edn]") {
  CHECK(parse_edn("nil").is_null());
  CHECK(parse_edn("true") == true);
  CHECK(parse_edn("-42") == -42);
  CHECK(parse_edn("+7") == 7);
  CHECK(parse_edn("3.5") == 3.5);
  CHECK(parse_edn("12N") == 12);
  CHECK(parse_edn(":read") == "read");
  CHECK(parse_edn(":jepsen.history/op") == "jepsen.history/op");
  CHECK(parse_edn(R"("a\"b\n\u00e9")") == "a\"b\n\xc3\xa9");
  CHECK(parse_edn("[1 2, 3]") == Json::array({1, 2, 3}));
  CHECK(parse_edn("(1 (2))") == Json::parse("[1,[2]]"));
  CHECK(parse_edn("#{1}") == Json::array({1}));
  CHECK(parse_edn("{:a 1, 0 [:r 5 nil], \"s\" x}") ==
        Json::parse(R"({"a":1,"0":["r",5,null],"s":"x"})"));
  CHECK(parse_edn("#inst \"2020-01-01T00:00:00Z\"") == "2020-01-01T00:00:00Z");
  CHECK(parse_edn("#jepsen.history.Op{:type :ok}") == Json::parse(R"({"type":"ok"})"));
  CHECK(parse_edn("; comment\n [1 #_ 2 3]") == Json::array({1, 3}));
  CHECK(parse_edn("\\a") == "a");
  CHECK_THROWS_AS(parse_edn("99999999999999999999"), HistoryError);  // never rounded
  CHECK(parse_edn("18446744073709551615") == Json(18446744073709551615ULL));
}

TEST_CASE("EDN errors name the line", "[formats][edn]") {
  auto line_of = [](const std::string& text) {
    try {
      parse_edn(text);
    } catch (const HistoryError& e) {
      return e.problems().front().line;
    }
    return int64_t{-1};
  };
  CHECK(line_of("[1\n2\n") == 1);  // the line where the vector opens
  CHECK(line_of("{:a}") == 1);
  CHECK(line_of("\n\n]") == 3);
  CHECK(line_of("\"abc") == 1);
  CHECK(line_of("1 2") == 1);
  CHECK(line_of(std::string(1000, '[')) == 1);  // depth bound, no stack overflow
  CHECK(line_of("12abc") == 1);
}

TEST_CASE("formats are detected from content", "[formats]") {
  CHECK(detect_format("{\"index\":0}") == HistoryFormat::kJsonl);
  CHECK(detect_format("[{:type :invoke}]") == HistoryFormat::kEdn);
  CHECK(detect_format("{:process 0, :type :invoke}") == HistoryFormat::kEdn);
  CHECK(detect_format("{:process 0, :type :invoke, :f :get, :key \"1\"}") ==
        HistoryFormat::kPorcupineKv);
  CHECK(detect_format("INFO  jepsen.util - 0\t:invoke\t:read\tnil") == HistoryFormat::kJepsenLog);
  CHECK(detect_format("2020 something\nINFO  jepsen.util - 0\t:invoke\t:read\tnil") ==
        HistoryFormat::kJepsenLog);
}

TEST_CASE("a small EDN history pairs ops", "[formats][history]") {
  auto h = load(R"([{:process 0, :type :invoke, :f :write, :value 1, :time 10}
                     {:process 1, :type :invoke, :f :read, :value nil, :time 11}
                     {:process 0, :type :ok, :f :write, :value 1, :time 12}
                     {:process :nemesis, :type :info, :f :start, :value nil}
                     {:process 1, :type :info, :f :read, :value nil, :error :timeout}
                     {:process :nemesis, :type :info, :f :start, :value [:n1]}])")
               .history;
  REQUIRE(h.size() == 6);
  CHECK(h.pair_of(0) == 2);
  CHECK(h.pair_of(2) == 0);
  CHECK(h.pair_of(1) == 4);
  CHECK(h.pair_of(3) == 5);
  CHECK(h[3].is_nemesis());
  CHECK(h[4].error == "timeout");
  auto c = h.counts();
  CHECK(c.invoke == 2);
  CHECK(c.ok == 1);
  CHECK(c.info == 1);
  CHECK(c.nemesis == 2);
  auto ops = client_operations(h);
  REQUIRE(ops.size() == 2);
  CHECK(ops[1].type() == OpType::kInfo);
  CHECK(ops[1].value().is_null());
}

TEST_CASE("malformed histories give a line and a reason", "[formats][history]") {
  expect_bad("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read", 2,
             "unterminated map");
  expect_bad("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :okay, :f :read}", 2,
             "unknown op type");
  expect_bad("{:process 0, :type :invoke, :f :read}\n{:process 1, :type :ok, :f :read}", 2,
             "no open invocation");
  expect_bad("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :write}", 2,
             "completes an invocation of read");
  expect_bad("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :invoke, :f :read}", 2,
             "still open");
  expect_bad(
      "{:process 0, :type :invoke, :f :r}\n{:process 0, :type :info, :f :r}\n"
      "{:process 0, :type :invoke, :f :r}",
      3, "crashed");
  expect_bad("{:type :invoke, :f :read}", 1, "no :process");
  expect_bad("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"ty", 2,
             "truncated JSON");
  expect_bad(std::string("{:process 0, :type :invoke, :f :read}\n\x01\x02\xff\x00garbage", 49), 2,
             "");
  expect_bad("\x7f\x45\x4c\x46\x02\x01", 1, "");
  expect_bad(
      "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:bogus\t:read\tnil", 2,
      "unknown op type");
}

TEST_CASE("jsonl and EDN round-trip", "[formats][roundtrip]") {
  const std::string edn =
      R"([{:index 0, :time 5, :process 0, :type :invoke, :f :txn, :value [[:append 5 3] [:r 5 nil]], :node "n1"}
 {:index 1, :time 9, :process 0, :type :ok, :f :txn, :value [[:append 5 3] [:r 5 [1 2 3]]], :node "n1"}
 {:index 2, :time 10, :process 1, :type :invoke, :f :read, :value {0 10, 1 20}}
 {:index 3, :time 11, :process 1, :type :fail, :f :read, :value nil, :error [:bad "x\ty"]}
 {:index 4, :process :nemesis, :type :info, :f :partition, :value {"n1" ["n2"]}, :key 7}
 {:index 5, :time 12, :process 2, :type :invoke, :f :write, :value "s\"q\u00e9", :error :timeout}])";
  auto h = load(edn).history;
  REQUIRE(h.size() == 6);
  CHECK(h[1].value == Json::parse(R"([["append",5,3],["r",5,[1,2,3]]])"));
  CHECK(h[2].value == Json::parse(R"({"0":10,"1":20})"));
  CHECK(h[4].extra["key"] == 7);

  auto edn_text = write(h, HistoryFormat::kEdn);
  CHECK_THAT(edn_text, Catch::Contains("[:append 5 3]"));
  CHECK_THAT(edn_text, Catch::Contains("{0 10, 1 20}"));
  auto h2 = load(edn_text).history;
  require_same(h, h2);

  auto jsonl = write(h, HistoryFormat::kJsonl);
  auto h3 = load(jsonl).history;
  CHECK(load(jsonl).format == HistoryFormat::kJsonl);
  require_same(h, h3);
  CHECK(write(h3, HistoryFormat::kJsonl) == jsonl);
  CHECK(write(h3, HistoryFormat::kEdn) == edn_text);
}

TEST_CASE("Jepsen log lines", "[formats][log]") {
  auto h = load(
               "junk line\nINFO  jepsen.util - 3\t:invoke\t:cas\t[3 0]\n"
               "INFO  jepsen.util - 3\t:fail\t:cas\t[3 0]\n"
               "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n")
               .history;
  REQUIRE(h.size() == 3);
  CHECK(h[0].line == 2);
  CHECK(h[0].value == Json::array({3, 0}));
  CHECK(h[1].type == OpType::kFail);
  CHECK(h[2].is_nemesis());
}

TEST_CASE("split by key", "[history]") {
  auto h = load(R"({:process 0, :type :invoke, :f :write, :value [1 5]}
{:process 1, :type :invoke, :f :read, :value [2 nil]}
{:process 0, :type :info, :f :write, :value :timed-out}
{:process 1, :type :ok, :f :read, :value [2 7]}
{:process 2, :type :invoke, :f :get, :key "a", :value nil}
{:process 2, :type :ok, :f :get, :key "a", :value "x"})")
               .history;
  auto parts = split_by_key(h);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].key == 1);
  CHECK(parts[0].history.size() == 2);
  CHECK(parts[0].history[0].value == 5);
  CHECK(parts[0].history.pair_of(0) == 1);
  CHECK(parts[1].key == 2);
  CHECK(parts[1].history[1].value == 7);
  CHECK(parts[2].key == "a");
  CHECK(parts[2].history[1].value == "x");
}

TEST_CASE("every shared Porcupine history parses", "[formats][shared]") {
  FAULTLINE_REQUIRE_SHARED(shared);
  std::ifstream tsv(shared / "porcupine" / "expected.tsv");
  std::string line;
  std::getline(tsv, line);  // header
  int files = 0;
  while (std::getline(tsv, line)) {
    auto tab = line.find('\t');
    auto path = shared / "porcupine" / line.substr(0, tab);
    INFO(path);
    auto loaded = load_history_file(path.string());
    CHECK(loaded.history.size() > 0);
    ++files;
  }
  CHECK(files == 108);

  auto etcd = load_history_file((shared / "porcupine/etcd/etcd_000.log").string());
  CHECK(etcd.format == HistoryFormat::kJepsenLog);
  auto c = etcd.history.counts();
  // Counted with grep on the file: lines with :invoke, :ok, :fail, :info.
  std::ifstream raw(shared / "porcupine/etcd/etcd_000.log");
  int64_t inv = 0, ok = 0, fail = 0, info = 0;
  while (std::getline(raw, line)) {
    inv += line.find("\t:invoke\t") != std::string::npos;
    ok += line.find("\t:ok\t") != std::string::npos;
    fail += line.find("\t:fail\t") != std::string::npos;
    info += line.find("\t:info\t") != std::string::npos;
  }
  CHECK(c.invoke == inv);
  CHECK(c.ok == ok);
  CHECK(c.fail == fail);
  CHECK(c.info == info);
  CHECK(c.invoke - c.open == c.ok + c.fail + c.info);

  auto kv = load_history_file((shared / "porcupine/kv/c01-ok.txt").string());
  CHECK(kv.format == HistoryFormat::kPorcupineKv);
  CHECK(kv.history.size() == 116);
  CHECK(kv.history.counts().open == 0);
  CHECK(kv.history[0].extra["key"] == "0");
  CHECK(kv.history.pair_of(0) == 1);
}

// Regressions of issue 13 (verdicts trusted on hostile input).

TEST_CASE("a negative or out-of-range process is bad input, never the nemesis",
          "[formats][regression]") {
  // Read as -1, the op became the nemesis's and was dropped from every check.
  const std::string w = R"("type":"invoke","f":"write","value":1})";
  expect_bad(R"({"process":-1,)" + w + "\n", 1, "negative");
  expect_bad(R"({"process":18446744073709551615,)" + w + "\n", 1, "out of range");
  expect_bad(R"({"process":99999999999999999999,)" + w + "\n", 1, "64 bits");
  expect_bad("{:process -1, :type :invoke, :f :write, :value 1}\n", 1, "negative");
  expect_bad("{:process 18446744073709551615, :type :invoke, :f :write, :value 1}\n", 1,
             "out of range");
  expect_bad("INFO  jepsen.util - -1\t:invoke\t:write\t1\n", 1, "negative");
  expect_bad(R"({"process":"n1",)" + w + "\n", 1, "non-negative integer or nemesis");
  // The nemesis, by name, in each format.
  CHECK(load("{:process :nemesis, :type :info, :f :start, :value nil}\n").history[0].is_nemesis());
  CHECK(load(R"({"process":"nemesis","type":"info","f":"start","value":null})"
             "\n")
            .history[0]
            .is_nemesis());
}

TEST_CASE("integers beyond 64 bits are refused, never rounded", "[formats][regression]") {
  // As doubles, write 2^64 then read 2^64+1 compared equal.
  expect_bad(R"({"process":0,"type":"invoke","f":"write","value":18446744073709551616})"
             "\n",
             1, "does not fit in 64 bits");
  expect_bad(R"({"process":0,"type":"ok","f":"read","value":[-18446744073709551617]})"
             "\n",
             1, "does not fit in 64 bits");
  expect_bad("{:process 0, :type :invoke, :f :write, :value 18446744073709551617N}\n", 1,
             "does not fit in 64 bits");
  // Unsigned 64-bit values stay exact; floats are floats.
  auto h = load(
               "{:process 0, :type :invoke, :f :write, :value 18446744073709551615}\n"
               "{:process 0, :type :ok, :f :write, :value 18446744073709551615}\n")
               .history;
  CHECK(h[0].value.get<uint64_t>() == 18446744073709551615ULL);
  auto j = load(R"({"process":0,"type":"invoke","f":"write","value":1.5e300})"
                "\n")
               .history;
  CHECK(j[0].value.is_number_float());
}

TEST_CASE("deep nesting is bad input in every reader, not a stack overflow",
          "[formats][regression]") {
  std::string discards;
  for (int i = 0; i < 100000; ++i) discards += "#_ ";
  try {
    load(discards + "[]\n", HistoryFormat::kEdn);
    FAIL("expected a HistoryError");
  } catch (const HistoryError& e) {
    CHECK_THAT(e.what(), Catch::Contains("nesting deeper"));
  }
  try {
    load("INFO  jepsen.util - 0\t:invoke\t:write\t" + discards + "1\n", HistoryFormat::kJepsenLog);
    FAIL("expected a HistoryError");
  } catch (const HistoryError& e) {
    CHECK_THAT(e.what(), Catch::Contains("nesting deeper"));
  }
  std::string deep = R"({"process":0,"type":"invoke","f":"write","value":)" +
                     std::string(70000, '[') + std::string(70000, ']') + "}\n";
  expect_bad(deep, 1, "nesting deeper");
  std::string edn_deep = "{:process 0, :type :invoke, :f :write, :value " +
                         std::string(70000, '[') + std::string(70000, ']') + "}\n";
  expect_bad(edn_deep, 1, "nesting deeper");
  // A discard inside a collection is still read: [1 #_ 2 3] is [1 3].
  CHECK(parse_edn("[1 #_ 2 3]") == Json::array({1, 3}));
  CHECK(parse_edn("[1 #_ #_ 2 3 4]") == Json::array({1, 4}));
}

TEST_CASE("a history of completions only is accepted, with made-up invocations",
          "[formats][history][regression]") {
  // Elle's tests and several tools write only completions.
  auto h = load(
               "{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n"
               "{:process 1, :type :ok, :f :txn, :value [[:r :x [1]]]}\n"
               "{:process :nemesis, :type :info, :f :start, :value nil}\n")
               .history;
  REQUIRE(h.size() == 5);
  CHECK_FALSE(h.invocations_known());
  CHECK(h[0].is_invoke());
  CHECK(h.pair_of(0) == 1);
  CHECK(h[4].is_nemesis());
  // A history with invocations keeps them as they are.
  CHECK(load("{:process 0, :type :invoke, :f :read, :value nil}\n").history.invocations_known());
}

TEST_CASE("discards inside collections do not reset the depth (found by fuzzing)",
          "[formats][regression]") {
  // [ #_ [ #_ [ ...: each collection's own skip read its discard at depth 0, so nesting through
  // discards was unbounded (libFuzzer with 1 MB inputs, jepsen-log target).
  std::string s;
  for (int i = 0; i < 50000; ++i) s += "[#_";
  try {
    parse_edn(s + "1");
    FAIL("expected a HistoryError");
  } catch (const HistoryError& e) {
    CHECK_THAT(e.what(), Catch::Contains("nesting deeper"));
  }
  std::string m;
  for (int i = 0; i < 50000; ++i) m += "{:a #_ ";
  CHECK_THROWS_AS(parse_edn(m + "1"), HistoryError);
}

// Issue 14 item 10: the jepsen-log writer wrote f raw, so an f with a newline or tab split its
// line (4 ops became 8 lines) and could forge ops for the reader.
TEST_CASE("jepsen-log writes any f on one line and reads it back", "[formats][log][regression]") {
  auto h =
      load(
          R"({"index":0,"process":0,"type":"invoke","f":"read\nINFO  jepsen.util - 9\t:ok\t:x\tnil","value":null}
{"index":1,"process":0,"type":"ok","f":"read\nINFO  jepsen.util - 9\t:ok\t:x\tnil","value":1}
{"index":2,"process":1,"type":"invoke","f":"two words\t:tab","value":[1,"a\nb"]}
{"index":3,"process":1,"type":"ok","f":"two words\t:tab","value":[1,"a\nb"]}
)",
          HistoryFormat::kJsonl)
          .history;
  REQUIRE(h.size() == 4);
  std::string text = write(h, HistoryFormat::kJepsenLog);
  INFO(text);
  CHECK(std::count(text.begin(), text.end(), '\n') == 4);
  auto back = load(text, HistoryFormat::kJepsenLog).history;
  REQUIRE(back.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(back[i].f == h[i].f);
    CHECK(back[i].value == h[i].value);
    CHECK(back[i].type == h[i].type);
  }
  // A keyword-like f is still written as a keyword (what Jepsen writes).
  auto plain = load(
                   "INFO  jepsen.util - 3\t:invoke\t:cas\t[3 0]\n"
                   "INFO  jepsen.util - 3\t:ok\t:cas\t[3 0]\n")
                   .history;
  CHECK_THAT(write(plain, HistoryFormat::kJepsenLog), Catch::Contains("\t:cas\t"));
}
