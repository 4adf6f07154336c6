// Linearizability checker: micro-histories per model, the shared Porcupine histories under both
// engines, and differential tests between the search and Z3 on generated histories.
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <random>

#include "checkers/lin/linear_search.h"
#include "checkers/lin/model.h"
#include "checkers/lin/z3_linear.h"
#include "harness/checker.h"
#include "harness/formats.h"
#include "tests/support/paths.h"

using namespace faultline;

namespace {

History parse(const std::string& edn) { return load_history_text(edn, "test").history; }

CheckResult check(const History& h, Json options = Json::object()) {
  auto checker = CheckerRegistry::get("checker", "linearizable")(options);
  CheckContext ctx;
  ctx.threads = 2;
  return checker->check(h, ctx);
}

Validity verdict(const std::string& edn, const std::string& model,
                 const std::string& engine = "search", const Json& extra = Json::object()) {
  Json options = {{"model", model}, {"engine", engine}};
  options.update(extra);
  auto r = check(parse(edn), options);
  INFO(r.details.dump(2));
  return r.validity;
}

// Builds an EDN history from lines "p type f value".
std::string h(std::initializer_list<const char*> lines) {
  std::string out;
  for (const char* l : lines) {
    std::string s(l);
    std::istringstream in(s);
    std::string p, type, f;
    in >> p >> type >> f;
    std::string value;
    std::getline(in, value);
    if (value.empty()) value = " nil";
    out += "{:process " + p + ", :type :" + type + ", :f :" + f + ", :value" + value + "}\n";
  }
  return out;
}

const std::vector<std::string> kEngines = {"search", "smt"};

}  // namespace

TEST_CASE("register: stale read is illegal, concurrent read is fine", "[lin][register]") {
  for (const auto& engine : kEngines) {
    INFO(engine);
    CHECK(verdict(h({"0 invoke write 1", "0 ok write 1", "1 invoke read", "1 ok read 1"}),
                  "register", engine) == Validity::kValid);
    CHECK(verdict(h({"0 invoke write 1", "0 ok write 1", "1 invoke read", "1 ok read nil"}),
                  "register", engine) == Validity::kInvalid);
    CHECK(verdict(h({"0 invoke write 1", "1 invoke read", "1 ok read nil", "0 ok write 1"}),
                  "register", engine) == Validity::kValid);
    // Two sequential reads that see the writes in the wrong order.
    CHECK(verdict(h({"0 invoke write 1", "1 invoke write 2", "0 ok write 1", "1 ok write 2",
                     "2 invoke read", "2 ok read 2", "3 invoke read", "3 ok read 1"}),
                  "register", engine) == Validity::kInvalid);
  }
}

TEST_CASE("info ops may take effect late, or never", "[lin][info]") {
  for (const auto& engine : kEngines) {
    INFO(engine);
    // The info write is seen long after it crashed: allowed.
    CHECK(verdict(h({"0 invoke write 1", "0 info write", "1 invoke read", "1 ok read nil",
                     "2 invoke read", "2 ok read 1"}),
                  "register", engine) == Validity::kValid);
    // Never seen: allowed.
    CHECK(verdict(h({"0 invoke write 1", "0 info write", "1 invoke read", "1 ok read nil"}),
                  "register", engine) == Validity::kValid);
    // Once seen it cannot be unseen (it took effect once).
    CHECK(verdict(h({"0 invoke write 1", "0 info write", "1 invoke read", "1 ok read 1",
                     "2 invoke read", "2 ok read nil"}),
                  "register", engine) == Validity::kInvalid);
    // An info op cannot take effect before it was invoked.
    CHECK(verdict(h({"1 invoke read", "1 ok read 1", "0 invoke write 1", "0 info write"}),
                  "register", engine) == Validity::kInvalid);
    // An info read constrains nothing.
    CHECK(verdict(h({"1 invoke read", "1 info read 7"}), "register", engine) == Validity::kValid);
    // An invocation that never completed counts as info.
    CHECK(verdict(h({"0 invoke write 1", "1 invoke read", "1 ok read 1"}), "register", engine) ==
          Validity::kValid);
  }
}

TEST_CASE("cas-register: failed cas did not match", "[lin][cas]") {
  for (const auto& engine : kEngines) {
    INFO(engine);
    CHECK(verdict(h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "1 ok cas [1 2]",
                     "2 invoke read", "2 ok read 2"}),
                  "cas-register", engine) == Validity::kValid);
    // The cas matched the value there, yet failed: illegal when a failed cas means a
    // mismatch (failed-cas=mismatch, or an error saying so); by default (Knossos) a failed cas
    // with no error did not happen, whatever the compare.
    const char* failed = "1 fail cas [1 2]";
    CHECK(verdict(h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", failed}),
                  "cas-register", engine, {{"failed-cas", "mismatch"}}) == Validity::kInvalid);
    CHECK(verdict(h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", failed}),
                  "cas-register", engine) == Validity::kValid);
    CHECK(verdict("{:process 0, :type :invoke, :f :write, :value 1}\n"
                  "{:process 0, :type :ok, :f :write, :value 1}\n"
                  "{:process 1, :type :invoke, :f :cas, :value [1 2]}\n"
                  "{:process 1, :type :fail, :f :cas, :value [1 2], :error \"cas mismatch\"}\n",
                  "cas-register", engine) == Validity::kInvalid);
    // A cas cannot succeed on a value that is not there.
    CHECK(verdict(h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [3 2]", "1 ok cas [3 2]"}),
                  "cas-register", engine) == Validity::kInvalid);
    // A cas refused for another reason (an error that is not a mismatch) never happened.
    CHECK(
        verdict("{:process 0, :type :invoke, :f :write, :value 1}\n"
                "{:process 0, :type :ok, :f :write, :value 1}\n"
                "{:process 1, :type :invoke, :f :cas, :value [1 2]}\n"
                "{:process 1, :type :fail, :f :cas, :value [1 2], :error \"connection refused\"}\n",
                "cas-register", engine) == Validity::kValid);
    CHECK(verdict("{:process 0, :type :invoke, :f :write, :value 1}\n"
                  "{:process 0, :type :ok, :f :write, :value 1}\n"
                  "{:process 1, :type :invoke, :f :cas, :value [1 2]}\n"
                  "{:process 1, :type :fail, :f :cas, :value [1 2], :error \"cas mismatch\"}\n",
                  "cas-register", engine) == Validity::kInvalid);
    // A failed write never happened.
    CHECK(verdict(h({"0 invoke write 1", "0 fail write 1", "1 invoke read", "1 ok read 1"}),
                  "cas-register", engine) == Validity::kInvalid);
    // An info cas may have taken effect.
    CHECK(verdict(h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "1 info cas",
                     "2 invoke read", "2 ok read 2"}),
                  "cas-register", engine) == Validity::kValid);
  }
}

// With distinct written values, cas ops chain the values they replace (unique_values.h): the
// zone check decides these, and the search (unique-values false) must agree.
TEST_CASE("cas-register with distinct values: the zone check follows cas chains", "[lin][cas]") {
  struct Case {
    std::string edn;
    Validity expected;
    std::string why;  // a part of the explanation, for the invalid ones
  };
  const std::vector<Case> cases = {
      {h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "1 ok cas [1 2]",
          "2 invoke read", "2 ok read 2"}),
       Validity::kValid, ""},
      // A read of 1 invoked after the cas that replaced 1 returned: stale.
      {h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "1 ok cas [1 2]",
          "2 invoke read", "2 ok read 1"}),
       Validity::kInvalid, "had to take effect before"},
      // Two cas ops both replaced 1.
      {h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "2 invoke cas [1 3]",
          "1 ok cas [1 2]", "2 ok cas [1 3]"}),
       Validity::kInvalid, "both replaced"},
      // Two cas ops that replaced each other's values, and neither was first.
      {h({"1 invoke cas [1 2]", "2 invoke cas [2 1]", "1 ok cas [1 2]", "2 ok cas [2 1]"}),
       Validity::kInvalid, "cycle"},
      // A chain from the initial value, the reads in order.
      {h({"1 invoke cas [nil 1]", "1 ok cas [nil 1]", "2 invoke cas [1 2]", "3 invoke read",
          "3 ok read 1", "2 ok cas [1 2]", "3 invoke read", "3 ok read 2"}),
       Validity::kValid, ""},
      // A chain that must run back to back, but a write returned in the middle of it.
      {h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "1 ok cas [1 2]",
          "2 invoke write 3", "2 ok write 3", "3 invoke cas [2 4]", "3 ok cas [2 4]",
          "4 invoke read", "4 ok read 4", "5 invoke read", "5 ok read 3"}),
       Validity::kInvalid, ""},
      // An info cas nobody saw may not have happened.
      {h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "1 info cas [1 2]",
          "2 invoke read", "2 ok read 1"}),
       Validity::kValid, ""},
      // One somebody saw did happen, and then 1 was gone.
      {h({"0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "2 invoke read", "2 ok read 2",
          "2 invoke read", "2 ok read 1", "1 info cas [1 2]"}),
       Validity::kInvalid, ""},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i << "\n" << cases[i].edn);
    // Not split: [1 2] alone would read as Jepsen's [key value].
    auto r = check(parse(cases[i].edn),
                   {{"model", "cas-register"}, {"explain", false}, {"independent", false}});
    INFO(r.details.dump(2));
    CHECK(r.validity == cases[i].expected);
    CHECK(r.details["keys_by_unique_values"] == 1);
    if (!cases[i].why.empty()) {
      CHECK_THAT(r.details["explanation"].get<std::string>(),
                 Catch::Matchers::Contains(cases[i].why));
    }
    CHECK(verdict(cases[i].edn, "cas-register", "search",
                  {{"unique-values", false}, {"independent", false}}) == cases[i].expected);
  }
}

TEST_CASE("kv, counter, mutex micro-histories", "[lin][models]") {
  for (const auto& engine : kEngines) {
    INFO(engine);
    CHECK(verdict(h({"0 invoke append \"a\"", "0 ok append \"a\"", "1 invoke append \"b\"",
                     "1 ok append \"b\"", "2 invoke get", "2 ok get \"ab\""}),
                  "kv", engine) == Validity::kValid);
    CHECK(verdict(h({"0 invoke append \"a\"", "0 ok append \"a\"", "1 invoke append \"b\"",
                     "1 ok append \"b\"", "2 invoke get", "2 ok get \"ba\""}),
                  "kv", engine) == Validity::kInvalid);
    CHECK(verdict(h({"0 invoke put \"x\"", "1 invoke append \"b\"", "1 ok append \"b\"",
                     "0 ok put \"x\"", "2 invoke get", "2 ok get \"xb\""}),
                  "kv", engine) == Validity::kValid);
    CHECK(verdict(h({"0 invoke add 2", "0 ok add 2", "1 invoke add 3", "1 info add",
                     "2 invoke read", "2 ok read 5"}),
                  "counter", engine) == Validity::kValid);
    CHECK(verdict(h({"0 invoke add 2", "0 ok add 2", "2 invoke read", "2 ok read 1"}), "counter",
                  engine) == Validity::kInvalid);
    CHECK(verdict(h({"0 invoke acquire", "0 ok acquire", "1 invoke acquire", "1 ok acquire"}),
                  "mutex", engine) == Validity::kInvalid);
    CHECK(verdict(h({"0 invoke acquire", "0 ok acquire", "0 invoke release", "0 ok release",
                     "1 invoke acquire", "1 ok acquire"}),
                  "mutex", engine) == Validity::kValid);
  }
}

TEST_CASE("set, queues, multi-register micro-histories", "[lin][models]") {
  CHECK(verdict(h({"0 invoke add 1", "0 ok add 1", "1 invoke add 2", "2 invoke read",
                   "2 ok read [2 1]", "1 ok add 2"}),
                "set") == Validity::kValid);
  CHECK(verdict(h({"0 invoke add 1", "0 ok add 1", "2 invoke read", "2 ok read []"}), "set") ==
        Validity::kInvalid);
  CHECK(verdict(h({"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
                   "1 invoke dequeue", "1 ok dequeue 2"}),
                "fifo-queue") == Validity::kInvalid);
  CHECK(verdict(h({"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
                   "1 invoke dequeue", "1 ok dequeue 2"}),
                "unordered-queue") == Validity::kValid);
  CHECK(verdict(h({"0 invoke dequeue", "0 ok dequeue nil"}), "fifo-queue") == Validity::kValid);
  CHECK(verdict(h({"0 invoke write {:x 1, :y 2}", "0 ok write {:x 1, :y 2}", "1 invoke read",
                   "1 ok read {:x 1}"}),
                "multi-register") == Validity::kValid);
  CHECK(verdict(h({"0 invoke write {:x 1, :y 2}", "0 ok write {:x 1, :y 2}", "1 invoke read",
                   "1 ok read {:x 1, :y nil}"}),
                "multi-register") == Validity::kInvalid);
}

TEST_CASE("independent keys are checked apart and explained", "[lin][keys]") {
  auto hist = parse(h({"0 invoke write [1 5]", "0 ok write [1 5]", "1 invoke read [2 nil]",
                       "1 ok read [2 nil]", "2 invoke read [1 nil]", "2 ok read [1 nil]"}));
  auto r = check(hist, {{"model", "register"}});
  CHECK(r.validity == Validity::kInvalid);
  CHECK(r.details["split_by_key"] == true);
  CHECK(r.details["keys"] == 2);
  CHECK(r.details["illegal_keys"] == Json::array({1}));
  REQUIRE(r.details.contains("counterexamples"));
  auto ce = r.details["counterexamples"][0];
  CHECK(ce["ops"].size() == 2);
  CHECK_THAT(r.details["explanation"].get<std::string>(), Catch::Contains("key 1"));
  CHECK_THAT(r.details["explanation"].get<std::string>(), Catch::Contains("read nil"));
}

TEST_CASE("results do not depend on the number of threads", "[lin][keys]") {
  // 40 keys; keys 7 and 23 are illegal (a read of nil after a completed write).
  std::string edn;
  for (int k = 0; k < 40; ++k) {
    std::string key = std::to_string(k);
    std::string read = (k == 7 || k == 23) ? "nil" : key;
    edn += "{:process 0, :type :invoke, :f :write, :value [" + key + " " + key +
           "]}\n"
           "{:process 0, :type :ok, :f :write, :value [" +
           key + " " + key +
           "]}\n"
           "{:process 1, :type :invoke, :f :read, :value [" +
           key +
           " nil]}\n"
           "{:process 1, :type :ok, :f :read, :value [" +
           key + " " + read + "]}\n";
  }
  auto hist = parse(edn);
  std::string first;
  for (int threads : {1, 2, 4, 1, 3}) {
    auto checker = CheckerRegistry::get("checker", "linearizable")({{"model", "register"}});
    CheckContext ctx;
    ctx.threads = threads;
    auto r = checker->check(hist, ctx);
    CHECK(r.validity == Validity::kInvalid);
    CHECK(r.details["illegal_keys"] == Json::array({7}));
    if (first.empty()) first = r.details.dump();
    CHECK(r.details.dump() == first);
  }
}

TEST_CASE("a model is guessed, a wrong one is refused", "[lin]") {
  CHECK(lin::guess_model(parse(h({"0 invoke cas [1 2]", "0 ok cas [1 2]"}))) == "cas-register");
  CHECK(lin::guess_model(parse("{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}")) ==
        "kv");
  CHECK_THROWS_AS(check(parse(h({"0 invoke frob 1", "0 ok frob 1"}))), std::invalid_argument);
  CHECK_THROWS_AS(check(parse(h({"0 invoke frob 1", "0 ok frob 1"})), {{"model", "register"}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(CheckerRegistry::get("checker", "linearizable")({{"engine", "magic"}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(CheckerRegistry::get("checker", "linearizable")({{"bogus", 1}}),
                  std::invalid_argument);
}

TEST_CASE("a deadline gives unknown, never a wrong answer", "[lin][limits]") {
  // A wide, illegal history that takes the search a while; with no time at all it is unknown.
  std::string edn;
  for (int p = 0; p < 12; ++p)
    edn += h({}) + "{:process " + std::to_string(p) + ", :type :invoke, :f :write, :value " +
           std::to_string(p) + "}\n";
  for (int p = 0; p < 12; ++p)
    edn += "{:process " + std::to_string(p) + ", :type :ok, :f :write, :value " +
           std::to_string(p) + "}\n";
  edn +=
      "{:process 20, :type :invoke, :f :read, :value nil}\n"
      "{:process 20, :type :ok, :f :read, :value 99}\n";
  auto checker = CheckerRegistry::get("checker", "linearizable")({{"model", "register"}});
  CheckContext ctx;
  ctx.deadline = std::chrono::steady_clock::now();
  auto r = checker->check(parse(edn), ctx);
  CHECK(r.validity != Validity::kValid);
}

// N writers crash (info) after invoking write i; then sequential reads see 1, 2, ..., and
// finally 1 again, which needs the info write of 1 to take effect twice: illegal. Every subset
// of pending writes may have taken effect before each read, which is what makes Knossos-style
// searches blow up; Z3 reasons about them symbolically.
std::string many_pending_info(int writers, bool illegal) {
  std::string edn;
  for (int p = 0; p < writers; ++p) {
    edn += "{:process " + std::to_string(p) + ", :type :invoke, :f :write, :value " +
           std::to_string(p + 1) + "}\n{:process " + std::to_string(p) +
           ", :type :info, :f :write, :value nil}\n";
  }
  std::vector<int> reads;
  for (int i = 1; i <= 6; ++i) reads.push_back(i);
  reads.push_back(illegal ? 1 : 7);
  for (int v : reads) {
    edn +=
        "{:process 1000, :type :invoke, :f :read, :value nil}\n"
        "{:process 1000, :type :ok, :f :read, :value " +
        std::to_string(v) + "}\n";
  }
  return edn;
}

TEST_CASE("many pending info ops: Z3 decides where the search gives up", "[lin][info]") {
  for (bool illegal : {false, true}) {
    INFO("illegal " << illegal);
    auto hist = parse(many_pending_info(24, illegal));
    auto smt = check(hist, {{"model", "register"}, {"engine", "smt"}, {"explain", false}});
    CHECK(smt.validity == (illegal ? Validity::kInvalid : Validity::kValid));
    // The search with almost no time may not finish; portfolio still answers.
    auto checker = CheckerRegistry::get("checker", "linearizable")(
        {{"model", "register"}, {"engine", "portfolio"}, {"explain", false}});
    CheckContext ctx;
    ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto r = checker->check(hist, ctx);
    CHECK(r.validity == (illegal ? Validity::kInvalid : Validity::kValid));
  }
}

namespace {

// Calls fn(file, expected verdict, history) for each row of the shared Porcupine histories'
// expected.tsv whose file starts with `prefix`; returns how many.
int for_each_shared(const std::filesystem::path& shared, const std::string& prefix,
                    const std::function<void(const std::string&, bool, const History&)>& fn) {
  std::ifstream tsv(shared / "porcupine" / "expected.tsv");
  std::string line;
  std::getline(tsv, line);
  int files = 0;
  while (std::getline(tsv, line)) {
    auto tab = line.find('\t');
    std::string file = line.substr(0, tab);
    if (file.rfind(prefix, 0) != 0) continue;
    auto loaded = load_history_file((shared / "porcupine" / file).string());
    fn(file, line.substr(tab + 1) == "true", loaded.history);
    ++files;
  }
  return files;
}

void check_shared(const std::string& engine) {
  FAULTLINE_REQUIRE_SHARED(shared);
  int files = for_each_shared(
      shared, "", [&](const std::string& file, bool expected, const History& history) {
        // Porcupine's etcd client fails a cas only on a mismatch, and Porcupine's model reads it
        // so: the known verdicts hold under that reading (failed-cas=mismatch).
        auto checker = CheckerRegistry::get("checker", "linearizable")(
            {{"engine", engine}, {"explain", false}, {"failed-cas", "mismatch"}});
        CheckContext ctx;
        ctx.threads = 2;
        ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        auto r = checker->check(history, ctx);
        INFO(engine << " " << file << ": " << r.details.dump());
        CHECK(r.validity == (expected ? Validity::kValid : Validity::kInvalid));
        // Read the Knossos way (the default: a failed cas did not happen), a history can only
        // become more permissive: no valid history turns invalid.
        if (expected) {
          auto knossos = CheckerRegistry::get(
              "checker", "linearizable")({{"engine", engine}, {"explain", false}});
          CHECK(knossos->check(history, ctx).validity == Validity::kValid);
        }
      });
  CHECK(files == 108);
}

}  // namespace

TEST_CASE("the shared Porcupine histories get their known verdicts (search)", "[lin][shared]") {
  check_shared("search");
}

TEST_CASE("the shared Porcupine histories get their known verdicts (smt)", "[lin][shared]") {
  check_shared("smt");
}

// Issue 21: Porcupine's kv histories checked whole (independent false) keep their known verdicts,
// decided key by key by locality (the whole-map search of c50 runs past 300 s).
TEST_CASE("the shared kv histories unsplit: known verdicts, by locality", "[lin][shared][keys]") {
  FAULTLINE_REQUIRE_SHARED(shared);
  int files = for_each_shared(
      shared, "kv/", [](const std::string& file, bool expected, const History& history) {
        auto checker = CheckerRegistry::get("checker", "linearizable")(
            {{"model", "kv"}, {"independent", false}, {"explain", false}});
        CheckContext ctx;
        ctx.threads = 2;
        ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        auto r = checker->check(history, ctx);
        INFO(file << ": " << r.details.dump());
        CHECK(r.validity == (expected ? Validity::kValid : Validity::kInvalid));
        CHECK(r.details["split_by_key"] == false);
        CHECK(r.details["decided_by_locality"] == true);
      });
  CHECK(files == 6);
}

TEST_CASE("an illegal key cheap to decide is found before an expensive one", "[lin][shared]") {
  // kv/c50-bad: every key is illegal, but key "0" needs the search to exhaust every order of
  // its concurrent appends (it does not finish alone; the portfolio's Z3 decides it), key "1"
  // too within the quick pass's budget, while key "2" is shown illegal in it. The quick pass
  // (a step-bounded search per key: the same on every run, with any number of threads)
  // reports key "2", and keys "0" and "1" as stopped undecided, as Porcupine stops at the
  // first illegal key it finds.
  FAULTLINE_REQUIRE_SHARED(shared);
  auto loaded = load_history_file((shared / "porcupine" / "kv" / "c50-bad.txt").string());
  CheckContext ctx;
  ctx.threads = 2;
  ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (const char* engine : {"search", "portfolio"}) {
    auto checker =
        CheckerRegistry::get("checker", "linearizable")({{"engine", engine}, {"explain", false}});
    auto t = std::chrono::steady_clock::now();
    auto r = checker->check(loaded.history, ctx);
    INFO(engine << ": " << r.details.dump());
    CHECK(r.validity == Validity::kInvalid);
    CHECK(r.details["illegal_keys"] == Json::array({"2"}));
    CHECK(r.details["stopped_keys"] == Json::array({"0", "1"}));
    // The key group names its last key although keys after "2" were skipped.
    CHECK(r.details["key_groups"][0]["first"] == "0");
    CHECK(r.details["key_groups"][0]["last"] == "9");
    CHECK(std::chrono::steady_clock::now() - t < std::chrono::seconds(20));
    ctx.threads = 1;  // the same with one thread
    CHECK(checker->check(loaded.history, ctx).details == r.details);
    ctx.threads = 2;
  }
  // Key "0" alone: the portfolio decides it with Z3 once the search's step budget is spent.
  std::vector<Op> key0;
  for (const Op& op : loaded.history) {
    if (op.extra.value("key", Json()) == "0") key0.push_back(op);
  }
  History h0 = History::build_or_throw(key0, "c50-bad key 0");
  auto portfolio = CheckerRegistry::get("checker", "linearizable")({{"explain", false}});
  auto p = portfolio->check(h0, ctx);
  INFO(p.details.dump());
  CHECK(p.details["illegal_keys"] == Json::array({"0"}));
  CHECK(p.details["stopped_keys"] == Json::array());
  CHECK(p.timing["smt_s"].get<double>() > 0);
}

TEST_CASE("an explanation claims no more about the furthest order than its search showed",
          "[lin][shared]") {
  FAULTLINE_REQUIRE_SHARED(shared);
  CheckContext ctx;
  ctx.threads = 2;
  ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  auto checker = CheckerRegistry::get("checker", "linearizable")({{"failed-cas", "mismatch"}});
  // etcd_000: a small key, the search for the furthest order finishes.
  auto etcd = load_history_file((shared / "porcupine" / "etcd" / "etcd_000.log").string());
  auto e = checker->check(etcd.history, ctx);
  REQUIRE(e.validity == Validity::kInvalid);
  CHECK_THAT(
      e.details["explanation"].get<std::string>(),
      Catch::Contains("The furthest any order gets") && Catch::Contains("No order gets further"));
  // kv/c50-bad key "0": 2 ops kept and 82 relaxed on a quiet machine; the search for the
  // furthest order then stops at its step budget, and the text must say so. (How many ops the
  // shrink keeps depends on Z3's time per trial, so the test follows what it reports.)
  auto kv = load_history_file((shared / "porcupine" / "kv" / "c50-bad.txt").string());
  auto k = checker->check(kv.history, ctx);
  REQUIRE(k.validity == Validity::kInvalid);
  const std::string text = k.details["explanation"].get<std::string>();
  const Json& ce = k.details["counterexamples"][0];
  INFO(text << "\n" << ce.dump());
  if (ce["furthest_order"] == "step budget") {
    CHECK_THAT(text, Catch::Contains("a longer one may exist") &&
                         !Catch::Contains("No order gets further"));
  } else {
    CHECK(ce["furthest_order"] == "exhaustive");
    CHECK_THAT(text, Catch::Contains("No order gets further"));
  }
  CHECK(e.details["counterexamples"][0]["furthest_order"] == "exhaustive");
}
