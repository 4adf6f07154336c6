// The jsonl reader's two paths: the direct reader for the common op shape and the general path
// (nlohmann's parser). Wherever the fast path answers it must give the same Op as the general
// path, JSON value types included (nlohmann reads 3 as unsigned, -3 as signed); everything it
// declines goes to the general path, which also names file and line of every error.
// Randomised: FAULTLINE_SEED to replay.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>
#include <random>

#include "harness/formats.h"

using namespace faultline;

namespace {

// Equal values of equal JSON types all the way down (Json's == says 3u == 3).
bool same_json(const Json& a, const Json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!same_json(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (ia.key() != ib.key() || !same_json(ia.value(), ib.value())) return false;
    }
    return true;
  }
  return a == b;
}

void require_same_op(const Op& a, const Op& b) {
  CHECK(a.index == b.index);
  CHECK(a.time_ns == b.time_ns);
  CHECK(a.process == b.process);
  CHECK(a.type == b.type);
  CHECK(a.f == b.f);
  CHECK(a.node == b.node);
  CHECK(a.line == b.line);
  INFO("value " << a.value.dump() << " vs " << b.value.dump());
  CHECK(same_json(a.value, b.value));
  INFO("error " << a.error.dump() << " vs " << b.error.dump());
  CHECK(same_json(a.error, b.error));
  INFO("extra " << a.extra.dump() << " vs " << b.extra.dump());
  CHECK(same_json(a.extra, b.extra));
}

// Compares the paths on one line; returns whether the fast path answered.
bool compare_paths(const std::string& line) {
  INFO("line: " << line);
  std::optional<Op> fast = read_jsonl_line_fast(line);
  std::optional<Op> general;
  std::string general_error;
  try {
    general = read_jsonl_line_general(line, 1, "f.jsonl");
  } catch (const HistoryError& e) {
    general_error = e.what();
  }
  if (fast) {
    // The fast path only answers for lines the general path reads.
    INFO("general path error: " << general_error);
    REQUIRE(general.has_value());
    fast->line = 1;
    require_same_op(*fast, *general);
  }
  return fast.has_value();
}

uint64_t test_seed() {
  if (const char* s = std::getenv("FAULTLINE_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

}  // namespace

TEST_CASE("jsonl fast reader: common lines take the fast path, same ops as the general path",
          "[formats][jsonl]") {
  const std::vector<std::string> fast = {
      R"({"index":0,"time":12,"process":3,"type":"invoke","f":"txn","value":[["append",5,3],["r",4,null]]})",
      R"({"index":1,"time":13,"process":3,"type":"ok","f":"txn","value":[["append",5,3],["r",4,[1,2,3]]],"node":"n1"})",
      R"({"process":"nemesis","type":"info","f":"kill","value":{"n1":"killed","n2":[1,{"a":true}]}})",
      R"({"type":"fail","process":0,"f":"write","value":-7,"error":"timed-out","key":[1,"x"]})",
      R"(  { "process" : 1 , "type" : ":ok" , "f" : "read" , "value" : false , "extra" : {} , "e2" : [] }  )",
      R"({"process":2,"type":"info","f":"cas","value":[0,-0,123456789012345678],"error":{"why":"a\"b\\c\/d\n\t\r\b\f"}})",
      R"({"process":2,"type":"invoke","f":"","value":"","node":"","weird key \" \\":null})",
      R"({"process":2,"type":"invoke","f":"txn","value":[[[[[]]]]],"x":{"k":1,"k":2}})",
  };
  for (const auto& l : fast) CHECK(compare_paths(l));
  const std::vector<std::string> general = {
      // unicode, \u escapes, floats, big integers, deep nesting: the general path
      R"({"process":1,"type":"ok","f":"read","value":"héllo"})",
      R"({"process":1,"type":"ok","f":"read","value":"\u00e9\ud83d\ude00"})",
      R"({"process":1,"type":"ok","f":"read","value":1.5})",
      R"({"process":1,"type":"ok","f":"read","value":1e3})",
      R"({"process":1,"type":"ok","f":"read","value":12345678901234567890})",
      R"({"process":1,"type":"ok","f":"read","value":-1234567890123456789})",
      R"({"process":1,"type":"ok","f":"read","time":1.5e9})",
      std::string(R"({"process":1,"type":"ok","f":"read","value":)") + std::string(100, '[') +
          std::string(100, ']') + "}",
      // fields the general path reads differently or rejects
      R"({"process":1,"type":"ok","f":7})",
      R"({"process":1,"type":"ok","f":"r","node":3})",
      R"({"process":1,"type":"ok","type":"fail","f":"r"})",
      R"({"process":1,"process":2,"type":"ok","f":"r"})",
      R"({"process":1,"f":"r"})",
      R"({"type":"ok","f":"r"})",
      R"({"process":"n","type":"ok","f":"r"})",
      R"({"process":1,"type":"done","f":"r"})",
      R"({"process":1,"type":"ok","f":"r","time":"x"})",
      R"({"process":1,"type":"ok","f":"r","value":01})",
      R"({"process":1,"type":"ok","f":"r","value":[1,]})",
      R"({"process":1,"type":"ok","f":"r","value":[1 2]})",
      R"({"process":1,"type":"ok","f":"r","value":tru})",
      R"({"process":1,"type":"ok","f":"r"} x)",
      R"({"process":1,"type":"ok","f":"r")",
      R"([1,2])",
      R"({"process":1,"type":"ok","f":"r","value":"a	b"})",  // raw tab in a string
      R"({"process":1,"type":"ok","f":"r","value":"\x"})",
  };
  for (const auto& l : general) CHECK_FALSE(compare_paths(l));
}

TEST_CASE("jsonl fast reader: errors still name the file and the line", "[formats][jsonl]") {
  const std::string good = R"({"process":1,"type":"invoke","f":"r","value":null})"
                           "\n"
                           R"({"process":1,"type":"ok","f":"r","value":1})"
                           "\n";
  struct Case {
    std::string line, fragment;
  };
  const std::vector<Case> cases = {
      {R"({"process":1,"f":"r"})", "op has no :type"},
      {R"({"type":"invoke","f":"r"})", "op has no :process"},
      {R"({"process":1,"type":"done","f":"r"})", "unknown op type"},
      {R"({"process":"x","type":"invoke","f":"r"})",
       "process must be a non-negative integer or nemesis"},
      {R"({"process":1,"type":"invoke","f":"r","time":"x"})", "time must be a number"},
      {R"({"process":1,"type":"invoke","f":"r")", "truncated JSON object"},
      {R"([1])", "expected a JSON object"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    const std::string text = good + "\n" + c.line + "\n" + good;  // the bad line is line 4
    try {
      load_history_text(text, "dir/h.jsonl", HistoryFormat::kJsonl);
      FAIL("expected a HistoryError");
    } catch (const HistoryError& e) {
      INFO(e.what());
      REQUIRE(!e.problems().empty());
      CHECK(e.problems().front().line == 4);
      CHECK(e.source() == "dir/h.jsonl");
      CHECK_THAT(e.what(), Catch::StartsWith("dir/h.jsonl:4: "));
      CHECK_THAT(e.what(), Catch::Contains(c.fragment));
    }
  }
  // Lines are counted across blank lines and fast and general lines alike.
  auto loaded = load_history_text(good + "\n" + R"({"process":2,"type":"invoke","f":"é"})" + "\n" +
                                      R"({"process":2,"type":"ok","f":"é","value":1.5})",
                                  "h.jsonl", HistoryFormat::kJsonl);
  REQUIRE(loaded.history.size() == 4);
  CHECK(loaded.history[1].line == 2);
  CHECK(loaded.history[2].line == 4);
  CHECK(loaded.history[3].line == 5);
  CHECK(loaded.history[3].value.is_number_float());
}

TEST_CASE("jsonl fast reader: random lines, same ops on both paths", "[formats][jsonl]") {
  const uint64_t seed = test_seed();
  std::cout << "jsonl reader random test: seed " << seed << " (FAULTLINE_SEED to replay)\n";
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const std::vector<std::string> pieces = {"a",  "x",  " ",    "\"", "\\", "/", "\n", "\t", "\r",
                                           "\b", "\f", "\x01", "é",  "😀",  "{", "]",  ":",  ","};
  auto random_string = [&]() {
    std::string s;
    for (int i = pick(6); i > 0; --i)
      s += pieces[static_cast<size_t>(pick(static_cast<int>(pieces.size())))];
    return s;
  };
  std::function<Json(int)> random_value = [&](int depth) -> Json {
    switch (pick(depth > 3 ? 6 : 9)) {
      case 0:
        return nullptr;
      case 1:
        return pick(2) == 0;
      case 2:
        return static_cast<int64_t>(rng() % 2000) - 1000;
      case 3:
        return static_cast<int64_t>(rng() >> pick(64));
      case 4:
        return random_string();
      case 5:
        return pick(4) == 0 ? Json(static_cast<double>(pick(1000)) / 8) : Json(pick(100));
      case 6:
      case 7: {
        Json a = Json::array();
        for (int i = pick(4); i > 0; --i) a.push_back(random_value(depth + 1));
        return a;
      }
      default: {
        Json o = Json::object();
        for (int i = pick(4); i > 0; --i) o[random_string()] = random_value(depth + 1);
        return o;
      }
    }
  };
  int fast = 0, total = 0;
  for (int i = 0; i < 3000; ++i) {
    // A record with the op fields (each sometimes missing, wrong or odd) and extra fields,
    // in a random order, with random spacing.
    std::vector<std::pair<std::string, Json>> fields;
    if (pick(20))
      fields.push_back({"type", std::vector<std::string>{"invoke", "ok", "fail", "info", ":ok",
                                                         "bad"}[static_cast<size_t>(pick(6))]});
    if (pick(20)) fields.push_back({"process", pick(10) ? Json(pick(50) - 1) : Json("nemesis")});
    if (pick(10)) fields.push_back({"f", pick(10) ? Json("txn") : random_value(3)});
    if (pick(2)) fields.push_back({"time", pick(10) ? Json(rng() >> 8) : random_value(3)});
    if (pick(2)) fields.push_back({"index", random_value(2)});
    if (pick(5)) fields.push_back({"value", random_value(0)});
    if (pick(3) == 0)
      fields.push_back({"node", pick(10) ? Json("n" + std::to_string(pick(5))) : random_value(3)});
    if (pick(3) == 0) fields.push_back({"error", random_value(1)});
    for (int k = pick(3); k > 0; --k) fields.push_back({random_string(), random_value(1)});
    if (pick(10) == 0 && !fields.empty())
      fields.push_back(fields[static_cast<size_t>(pick(static_cast<int>(fields.size())))]);
    std::shuffle(fields.begin(), fields.end(), rng);
    std::string line = "{";
    const char* space[] = {"", " ", "  ", "\t"};
    for (size_t f = 0; f < fields.size(); ++f) {
      if (f) line += std::string(",") + space[pick(4)];
      line += Json(fields[f].first).dump() + space[pick(4)] + ":" + space[pick(4)] +
              (pick(5) ? fields[f].second.dump() : fields[f].second.dump(pick(2) ? -1 : 1));
    }
    line += "}";
    // Newlines from pretty printing would split the record: keep it on one line.
    for (char& c : line) {
      if (c == '\n') c = ' ';
    }
    ++total;
    fast += compare_paths(line);
  }
  std::cout << "jsonl reader random test: " << fast << " of " << total
            << " lines on the fast path\n";
  CHECK(fast > total / 10);
  CHECK(fast < total);
}

TEST_CASE("jsonl fast reader: a written history reads back the same on both paths",
          "[formats][jsonl]") {
  std::string text;
  std::vector<Op> general;
  for (int i = 0; i < 50; ++i) {
    Op op;
    op.process = i % 3 == 2 ? kNemesisProcess : i % 3;
    op.type = i % 2 ? OpType::kOk : OpType::kInvoke;
    op.f = i % 3 == 2 ? "kill" : "txn";
    op.time_ns = i * 1000;
    op.value = Json::array(
        {Json::array({"append", i, i + 1}), Json::array({"r", i, Json::array({1, 2})})});
    if (i % 5 == 0) op.node = "n1";
    if (i % 7 == 0) op.error = "timed-out";
    if (i % 11 == 0) op.extra["key"] = i;
    op.index = i;
    std::string l = op_to_jsonl(op);
    text += l + "\n";
    general.push_back(read_jsonl_line_general(l, i + 1, "g"));
  }
  std::vector<Op> ops = read_ops(text, HistoryFormat::kJsonl, "g");
  REQUIRE(ops.size() == general.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    INFO("op " << i);
    require_same_op(ops[i], general[i]);
  }
}

TEST_CASE("jsonl reader: several threads give the same ops and the same first error",
          "[formats][jsonl]") {
  std::string text;
  for (int i = 0; i < 400; ++i) {
    if (i % 37 == 0) text += "\n   \n";  // blank lines shift line numbers
    if (i % 2 == 0) {
      text += R"({"process":)" + std::to_string(i % 7) +
              R"(,"type":"invoke","f":"txn","value":[["append",)" + std::to_string(i) + ",1]]}\n";
    } else {
      // every other line unusual enough for the general path
      text += R"({"process":)" + std::to_string(i % 7) + R"(,"type":"ok","f":"é","value":)" +
              std::to_string(i) + ".5}\n";
    }
  }
  text += R"({"process":1,"type":"ok","f":"r"})";  // no trailing newline
  const std::vector<Op> one = read_jsonl_parallel(text, "t", 1);
  REQUIRE(one.size() == 401);
  for (size_t threads : {2, 3, 4, 7, 1000}) {
    INFO(threads << " threads");
    const std::vector<Op> many = read_jsonl_parallel(text, "t", threads);
    REQUIRE(many.size() == one.size());
    for (size_t i = 0; i < one.size(); ++i) {
      INFO("op " << i);
      require_same_op(one[i], many[i]);
    }
  }
  // Two bad lines: whichever thread reads them, the first is the one reported.
  std::string bad = text;
  const size_t first = bad.find("\"append\",250,");
  const size_t second = bad.find("\"append\",350,");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  bad.replace(second, 1, "!");
  bad.replace(first, 1, "!");
  int64_t want = 1;
  for (size_t i = 0; i < first; ++i) want += bad[i] == '\n';
  for (size_t threads : {1, 2, 3, 4, 7}) {
    INFO(threads << " threads");
    try {
      read_jsonl_parallel(bad, "t.jsonl", threads);
      FAIL("expected a HistoryError");
    } catch (const HistoryError& e) {
      CHECK(e.problems().front().line == want);
      CHECK_THAT(e.what(), Catch::StartsWith("t.jsonl:" + std::to_string(want) + ": "));
    }
  }
}
