// The etcd gateway protocol without a cluster: base64, prefix ranges, request bodies as etcd
// 3.4's gateway expects them, parsing of its answers (proto3 JSON: int64 as strings, default
// fields left out), error answers and which of them leave a write's outcome unknown; the
// db-options; a client against a port where nothing listens.
#include <catch2/catch.hpp>

#include "clusters/etcd/etcd_db.h"
#include "clusters/etcd/etcd_proto.h"
#include "harness/db.h"

using namespace faultline;
using namespace faultline::etcd;

TEST_CASE("etcd base64 round-trips any bytes and matches RFC 4648 vectors", "[etcd]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("register/3") == "cmVnaXN0ZXIvMw==");
  CHECK(base64_decode("Zm9vYmE=") == "fooba");
  CHECK(base64_decode("Zm9vYmE") == "fooba");  // unpadded
  std::string all;
  for (int i = 0; i < 256; ++i) all += char(i);
  CHECK(base64_decode(base64_encode(all)) == all);
  CHECK_THROWS_AS(base64_decode("Zm9v!"), ProtocolError);
  CHECK_THROWS_AS(base64_decode("Z"), ProtocolError);
}

TEST_CASE("etcd prefix_end is etcdctl's GetPrefixRangeEnd", "[etcd]") {
  CHECK(prefix_end("set/") == "set0");
  CHECK(prefix_end("a\xff") == "b");
  CHECK(prefix_end("") == std::string(1, '\0'));
  CHECK(prefix_end("\xff\xff") == std::string(1, '\0'));
}

TEST_CASE("etcd request bodies", "[etcd]") {
  SECTION("range: one key, a prefix, serializable, keys only") {
    CHECK(range_request("register/3") == Json{{"key", "cmVnaXN0ZXIvMw=="}});
    Json r = range_request("set/", prefix_end("set/"), true, true);
    CHECK(r["key"] == base64_encode("set/"));
    CHECK(r["range_end"] == base64_encode("set0"));
    CHECK(r["serializable"] == true);
    CHECK(r["keys_only"] == true);
  }
  SECTION("put") {
    CHECK(put_request("k", "[1,2]") == Json{{"key", "aw=="}, {"value", "WzEsMl0="}});
  }
  SECTION("txn: value compare for cas, mod_revision compares, success puts and ranges") {
    Json t =
        txn_request({Compare::value_equals("register/1", "3")}, {txn_put_op("register/1", "4")});
    REQUIRE(t["compare"].size() == 1);
    CHECK(t["compare"][0] == Json{{"key", base64_encode("register/1")},
                                  {"result", "EQUAL"},
                                  {"target", "VALUE"},
                                  {"value", base64_encode("3")}});
    CHECK(t["success"][0]["request_put"]["value"] == base64_encode("4"));
    CHECK_FALSE(t.contains("failure"));

    Json m =
        txn_request({Compare::mod_revision_equals("a", 0), Compare::mod_revision_equals("b", 17)},
                    {txn_put_op("a", "1")});
    CHECK(m["compare"][0]["target"] == "MOD");
    CHECK(m["compare"][0]["mod_revision"] == "0");  // a missing key has mod_revision 0
    CHECK(m["compare"][1]["mod_revision"] == "17");

    Json snapshot = txn_request({}, {txn_range_op("a", {}, true), txn_range_op("b")});
    CHECK_FALSE(snapshot.contains("compare"));
    CHECK(snapshot["success"][0]["request_range"]["serializable"] == true);
    CHECK_FALSE(snapshot["success"][1]["request_range"].contains("serializable"));
  }
}

TEST_CASE("etcd answers: ranges, txns, headers and status as the 3.4 gateway sends them",
          "[etcd]") {
  // Copied from etcd 3.4.23's gateway.
  Json range = Json::parse(R"({"header":{"cluster_id":"14841639068965178418",
      "member_id":"10276657743932975437","revision":"7","raft_term":"2"},
      "kvs":[{"key":"cmVnaXN0ZXIvMw==","create_revision":"5","mod_revision":"7","version":"3",
      "value":"NA=="}],"count":"1"})");
  RangeResult r = parse_range(range);
  CHECK(r.revision == 7);
  REQUIRE(r.kvs.size() == 1);
  CHECK(r.kvs[0].key == "register/3");
  CHECK(r.kvs[0].value == "4");
  CHECK(r.kvs[0].create_revision == 5);
  CHECK(r.kvs[0].mod_revision == 7);
  CHECK(r.kvs[0].version == 3);

  Json empty = Json::parse(R"({"header":{"revision":"9"}})");  // no kvs, no count
  CHECK(parse_range(empty).kvs.empty());
  CHECK(header_revision(empty) == 9);

  Json failed_txn = Json::parse(R"({"header":{"revision":"9","raft_term":"2"}})");
  TxnResult f = parse_txn(failed_txn);
  CHECK_FALSE(f.succeeded);  // "succeeded": false is left out
  CHECK(f.responses.empty());

  Json ok_txn = Json::parse(R"({"header":{"revision":"10"},"succeeded":true,"responses":[
      {"response_put":{"header":{"revision":"10"}}},
      {"response_range":{"header":{"revision":"10"},"kvs":[{"key":"YQ==","value":"WzFd",
       "mod_revision":"10"}],"count":"1"}},
      {"response_range":{"header":{"revision":"10"}}}]})");
  TxnResult t = parse_txn(ok_txn);
  CHECK(t.succeeded);
  CHECK(t.revision == 10);
  REQUIRE(t.responses.size() == 3);
  CHECK(t.responses[0].kvs.empty());
  REQUIRE(t.responses[1].kvs.size() == 1);
  CHECK(t.responses[1].kvs[0].value == "[1]");
  CHECK(t.responses[2].kvs.empty());

  Json status = Json::parse(R"({"header":{"cluster_id":"1","member_id":"10276657743932975437",
      "revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"20480",
      "leader":"10276657743932975437","raftIndex":"8","raftTerm":"2","raftAppliedIndex":"8",
      "dbSizeInUse":"16384"})");
  MemberStatus s = parse_status(status);
  CHECK(s.is_leader());
  CHECK(s.raft_term == 2);
  CHECK(s.version == "3.4.23");
  Json follower = status;
  follower["leader"] = "42";
  CHECK_FALSE(parse_status(follower).is_leader());
  Json leaderless = status;
  leaderless.erase("leader");
  CHECK(parse_status(leaderless).leader.empty());

  CHECK_THROWS_AS(parse_range(Json::parse(R"({"header":{"revision":"x"}})")), ProtocolError);
  CHECK_THROWS_AS(parse_range(Json::parse(R"({"kvs":[{"key":"!!"}]})")), ProtocolError);
}

TEST_CASE("etcd error answers: which leave a write's outcome unknown", "[etcd]") {
  CHECK_FALSE(parse_error(200, R"({"header":{"revision":"3"}})"));
  auto timed_out = parse_error(
      503,
      R"({"error":"etcdserver: request timed out","code":14,"message":"etcdserver: request timed out"})");
  REQUIRE(timed_out);
  CHECK(timed_out->code == 14);
  CHECK(timed_out->message == "etcdserver: request timed out");
  CHECK(write_may_have_applied(*timed_out));
  CHECK(timed_out->describe(503) == "etcd: etcdserver: request timed out (grpc code 14, http 503)");

  auto leader_changed = parse_error(503, R"({"error":"etcdserver: leader changed","code":14})");
  CHECK(write_may_have_applied(*leader_changed));
  auto too_many = parse_error(429, R"({"error":"etcdserver: too many requests","code":8})");
  CHECK_FALSE(write_may_have_applied(*too_many));
  auto dup =
      parse_error(400, R"({"error":"etcdserver: duplicate key given in txn request","code":3})");
  CHECK_FALSE(write_may_have_applied(*dup));
  auto html = parse_error(502, "<html>Bad Gateway</html>");
  REQUIRE(html);
  CHECK(html->code == 2);
  CHECK(html->message == "<html>Bad Gateway</html>");
  CHECK(write_may_have_applied(*html));
  // A 200 whose body is an error (the gateway's stream errors look like this).
  CHECK(parse_error(200, R"({"error":"etcdserver: no leader","code":14})"));
}

TEST_CASE("etcd db-options: defaults, types, unknown keys", "[etcd]") {
  EtcdOptions d = parse_etcd_options(Json::object());
  CHECK_FALSE(d.serializable_reads);
  CHECK(d.request_timeout_ms == 0);
  EtcdOptions o = parse_etcd_options({{"serializable-reads", true}, {"request-timeout-ms", 500}});
  CHECK(o.serializable_reads);
  CHECK(o.request_timeout_ms == 500);
  CHECK_THROWS_WITH(parse_etcd_options({{"serialisable-reads", true}}),
                    Catch::Contains("unknown option 'serialisable-reads'"));
  CHECK_THROWS_AS(parse_etcd_options({{"serializable-reads", 1}}), std::invalid_argument);
  CHECK_THROWS_AS(parse_etcd_options({{"request-timeout-ms", -1}}), std::invalid_argument);
  auto db = DbRegistry::get("db", "etcd")(Json::object());
  CHECK(db->name() == "etcd");
  CHECK(capability<Killable>(*db));
  CHECK(capability<Pausable>(*db));
  CHECK(capability<HasPrimaries>(*db));
  for (const char* v :
       {"register", "set", "unique-ids", "counter", "lww", "list-append", "rw-register"}) {
    CHECK(db->new_client(v));
  }
  CHECK_FALSE(db->new_client("bank"));
}

TEST_CASE("etcd client against a closed port: reads and writes fail (never sent)", "[etcd]") {
  auto db = DbRegistry::get("db", "etcd")(Json::object());
  DbContext ctx;
  ctx.nodes = {"n1"};
  ctx.hosts = {{"n1", "127.0.0.1"}};  // nothing listens on 127.0.0.1:2379 in the test
  auto c = db->new_client("register");
  ClientContext cc;
  cc.db = &ctx;
  cc.node = "n1";
  cc.op_timeout = std::chrono::seconds(2);
  c->open(cc);
  Op w;
  w.f = "write";
  w.value = Json::array({1, 2});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  Completion cw = c->invoke(w, deadline);
  if (cw.type == OpType::kOk) {
    WARN("SKIPPED: something answers on 127.0.0.1:2379");
    return;
  }
  CHECK(cw.type == OpType::kFail);
  CHECK_THAT(cw.error.get<std::string>(), Catch::StartsWith("connection refused"));
  Op r;
  r.f = "read";
  r.value = Json::array({1, nullptr});
  CHECK(c->invoke(r, deadline).type == OpType::kFail);
  c->close();
}
