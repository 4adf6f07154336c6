// The etcd gateway protocol without a cluster: base64, prefix ranges, request bodies as etcd
// 3.4's gateway expects them, parsing of its answers (proto3 JSON: int64 as strings, default
// fields left out), error answers and which of them leave a write's outcome unknown; the
// db-options; the clients against a port where nothing listens and against a scripted fake
// gateway (ok / fail / info for each answer, timeouts, what each request carries).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "clusters/etcd/etcd_db.h"
#include "clusters/etcd/etcd_proto.h"
#include "harness/db.h"
#include "tests/support/fake_session.h"

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

TEST_CASE("etcd member answers: list, add, and the --initial-cluster of a joining node",
          "[etcd][membership]") {
  // As etcd 3.4's gateway answers /v3/cluster/member/add: the new member has no name yet.
  Json added = Json::parse(R"({"header":{"cluster_id":"7","member_id":"11","raft_term":"3"},
      "member":{"ID":"9372538179322589801","peerURLs":["http://10.0.0.12:2380"]},
      "members":[{"ID":"11","name":"n1","peerURLs":["http://10.0.0.11:2380"],
                  "clientURLs":["http://10.0.0.11:2379"]},
                 {"ID":"9372538179322589801","peerURLs":["http://10.0.0.12:2380"]},
                 {"ID":"13","name":"n3","peerURLs":["http://10.0.0.13:2380"],
                  "clientURLs":["http://10.0.0.13:2379"],"isLearner":true}]})");
  Member m = parse_added_member(added);
  CHECK(m.id == "9372538179322589801");
  CHECK(m.name.empty());
  std::vector<Member> all = parse_members(added);
  REQUIRE(all.size() == 3);
  CHECK(all[0].name == "n1");
  CHECK(all[2].is_learner);
  CHECK_FALSE(all[0].is_learner);
  CHECK(initial_cluster(all, "n2") ==
        "n1=http://10.0.0.11:2380,n2=http://10.0.0.12:2380,n3=http://10.0.0.13:2380");
  CHECK(parse_members(Json::parse(R"({"header":{}})")).empty());
  CHECK_THROWS_AS(parse_members(Json::parse(R"({"members":[{"name":"x"}]})")), ProtocolError);
  CHECK_THROWS_AS(parse_members(Json::parse(R"({"members":{}})")), ProtocolError);
  CHECK_THROWS_AS(parse_added_member(Json::parse(R"({"members":[]})")), ProtocolError);
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
       {"register", "set", "unique-ids", "counter", "lww", "list-append", "rw-register", "bank"}) {
    CHECK(db->new_client(v));
  }
  CHECK_FALSE(db->new_client("queue"));
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
  CHECK_THAT(cw.error.get<std::string>(), Catch::StartsWith("not sent"));
  Op r;
  r.f = "read";
  r.value = Json::array({1, nullptr});
  CHECK(c->invoke(r, deadline).type == OpType::kFail);
  c->close();
}

namespace {

// A scripted HTTP/1.1 server on 127.0.0.1 (an ephemeral port) standing in for etcd's gateway:
// each POST goes to `handler`, whose answer (status, body, delay before answering) is sent
// back; every request is recorded. One thread per connection; keep-alive.
class FakeGateway {
 public:
  struct Answer {
    int status = 200;
    std::string body;
    int delay_ms = 0;
  };
  using Handler = std::function<Answer(const std::string& path, const Json& body)>;

  explicit FakeGateway(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FakeGateway() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::vector<std::pair<std::string, Json>> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }
  void accept_loop() {
    while (wait_readable(fd_)) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      conns_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string in;
    char buf[4096];
    while (true) {
      size_t head_end;
      while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
        if (!wait_readable(c)) return ::close(c), void();
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return ::close(c), void();
        in.append(buf, static_cast<size_t>(n));
      }
      std::string head = in.substr(0, head_end);
      size_t length = 0;
      for (const char* name : {"Content-Length: ", "content-length: "}) {
        if (auto at = head.find(name); at != std::string::npos) {
          length = std::stoul(head.substr(at + std::strlen(name)));
        }
      }
      while (in.size() < head_end + 4 + length) {
        if (!wait_readable(c)) return ::close(c), void();
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return ::close(c), void();
        in.append(buf, static_cast<size_t>(n));
      }
      std::string path = head.substr(head.find(' ') + 1);
      path = path.substr(0, path.find(' '));
      Json body = Json::parse(in.substr(head_end + 4, length), nullptr, false);
      in.erase(0, head_end + 4 + length);
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.emplace_back(path, body);
      }
      Answer a = handler_(path, body);
      for (int waited = 0; waited < a.delay_ms && !stop_; waited += 10) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      std::string out = "HTTP/1.1 " + std::to_string(a.status) +
                        " X\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(a.body.size()) + "\r\n\r\n" + a.body;
      if (::send(c, out.data(), out.size(), MSG_NOSIGNAL) < 0) return ::close(c), void();
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> conns_;  // touched by the acceptor thread, joined after it
  std::mutex mu_;
  std::vector<std::pair<std::string, Json>> requests_;
};

std::string kv_json(const std::string& key, const std::string& value, int64_t mod) {
  return Json{{"key", base64_encode(key)},
              {"value", base64_encode(value)},
              {"mod_revision", std::to_string(mod)},
              {"create_revision", "1"},
              {"version", "1"}}
      .dump();
}

struct FakeClient {
  DbContext ctx;
  std::unique_ptr<Db> db;
  std::unique_ptr<Client> client;
  FakeClient(int port, const std::string& vocabulary, Json options = Json::object(),
             Json params = Json::object()) {
    options["client-port"] = port;
    db = DbRegistry::get("db", "etcd")(options);
    ctx.nodes = {"n1"};
    ctx.hosts = {{"n1", "127.0.0.1"}};
    client = db->new_client(vocabulary);
    ClientContext cc;
    cc.db = &ctx;
    cc.node = "n1";
    cc.op_timeout = std::chrono::seconds(5);
    cc.params = std::move(params);
    client->open(cc);
  }
  Completion run(const std::string& f, Json value, int deadline_ms = 2000) {
    Op o;
    o.f = f;
    o.value = std::move(value);
    return client->invoke(
        o, std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms));
  }
};

const char* kHeader = R"("header":{"revision":"42","raft_term":"2"})";

}  // namespace

TEST_CASE("etcd register client against a fake gateway: requests and outcomes", "[etcd]") {
  std::string put_answer = std::string("{") + kHeader + "}";
  int put_status = 200;
  int delay_ms = 0;
  bool cas_ok = true;
  FakeGateway gw([&](const std::string& path, const Json&) -> FakeGateway::Answer {
    if (path == "/v3/kv/range") {
      return {200,
              std::string("{") + kHeader + ",\"kvs\":[" + kv_json("register/3", "4", 7) +
                  "],\"count\":\"1\"}",
              delay_ms};
    }
    if (path == "/v3/kv/put") return {put_status, put_answer, delay_ms};
    if (path == "/v3/kv/txn") {
      return {200, std::string("{") + kHeader + (cas_ok ? ",\"succeeded\":true}" : "}"), delay_ms};
    }
    return {404, "{}", 0};
  });
  FakeClient c(gw.port(), "register");

  Completion r = c.run("read", {3, nullptr});
  REQUIRE(r.type == OpType::kOk);
  CHECK(r.value == Json::array({3, 4}));
  CHECK(gw.requests().back().second == Json{{"key", base64_encode("register/3")}});

  CHECK(c.run("write", {3, 5}).type == OpType::kOk);
  CHECK(gw.requests().back().second ==
        Json{{"key", base64_encode("register/3")}, {"value", base64_encode("5")}});

  Completion cas = c.run("cas", {3, {4, 6}});
  CHECK(cas.type == OpType::kOk);
  Json txn = gw.requests().back().second;
  CHECK(txn["compare"][0]["target"] == "VALUE");
  CHECK(txn["compare"][0]["value"] == base64_encode("4"));
  CHECK(txn["success"][0]["request_put"]["value"] == base64_encode("6"));
  cas_ok = false;
  Completion mismatch = c.run("cas", {3, {4, 6}});
  CHECK(mismatch.type == OpType::kFail);
  CHECK(mismatch.error == "mismatch");

  SECTION("an ambiguous error answer to a write is info; a definite one is fail") {
    put_status = 503;
    put_answer = R"({"error":"etcdserver: request timed out","code":14})";
    Completion w = c.run("write", {3, 5});
    CHECK(w.type == OpType::kInfo);
    CHECK_THAT(w.error.get<std::string>(), Catch::Contains("request timed out"));
    put_status = 429;
    put_answer = R"({"error":"etcdserver: too many requests","code":8})";
    CHECK(c.run("write", {3, 5}).type == OpType::kFail);
  }
  SECTION("a timeout is info for a write and fail for a read; the next op reconnects") {
    delay_ms = 600;
    Completion w = c.run("write", {3, 5}, 300);
    CHECK(w.type == OpType::kInfo);
    CHECK(w.error == "timeout");
    Completion rd = c.run("read", {3, nullptr}, 300);
    CHECK(rd.type == OpType::kFail);
    CHECK(rd.error == "timeout");
    delay_ms = 0;
    CHECK(c.run("read", {3, nullptr}).type == OpType::kOk);
  }
  SECTION("serializable-reads sends serializable ranges") {
    FakeClient s(gw.port(), "register", {{"serializable-reads", true}});
    CHECK(s.run("read", {3, nullptr}).type == OpType::kOk);
    CHECK(gw.requests().back().second["serializable"] == true);
  }
}

TEST_CASE("etcd list-append client: snapshot txn, then compares on every key read", "[etcd]") {
  bool commit_ok = true;
  FakeGateway gw([&](const std::string& path, const Json& body) -> FakeGateway::Answer {
    if (path != "/v3/kv/txn") return {404, "{}", 0};
    if (!body.contains("compare")) {  // the snapshot: key 1 holds [1] at revision 5
      std::string responses;
      for (const Json& op : body["success"]) {
        std::string key = base64_decode(op["request_range"]["key"].get<std::string>());
        responses += std::string(responses.empty() ? "" : ",") + R"({"response_range":{)" +
                     (key == "list-append/1" ? R"("kvs":[)" + kv_json(key, "[1]", 5) + "]" : "") +
                     "}}";
      }
      return {200,
              std::string("{") + kHeader + R"(,"succeeded":true,"responses":[)" + responses + "]}",
              0};
    }
    return {200, std::string("{") + kHeader + (commit_ok ? ",\"succeeded\":true}" : "}"), 0};
  });
  FakeClient c(gw.port(), "list-append");
  Json ops = Json::parse(R"([["r",1,null],["append",1,2],["r",1,null],["r",2,null]])");
  Completion t = c.run("txn", ops);
  REQUIRE(t.type == OpType::kOk);
  CHECK(t.value == Json::parse(R"([["r",1,[1]],["append",1,2],["r",1,[1,2]],["r",2,[]]])"));
  auto reqs = gw.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].second["success"].size() == 2);  // one range per key
  Json commit = reqs[1].second;
  REQUIRE(commit["compare"].size() == 2);
  CHECK(commit["compare"][0]["mod_revision"] == "5");
  CHECK(commit["compare"][1]["mod_revision"] == "0");  // the missing key must stay missing
  REQUIRE(commit["success"].size() == 1);              // only the written key is put
  CHECK(commit["success"][0]["request_put"]["value"] == base64_encode("[1,2]"));

  commit_ok = false;
  Completion conflict = c.run("txn", ops);
  CHECK(conflict.type == OpType::kFail);
  CHECK(conflict.error == "conflict");

  Completion read_only = c.run("txn", Json::parse(R"([["r",2,null]])"));
  CHECK(read_only.value == Json::parse(R"([["r",2,[]]])"));
}

TEST_CASE("etcd unique-ids and counter clients against a fake gateway", "[etcd]") {
  int txn_status = 200;
  std::string txn_answer = std::string("{") + kHeader + ",\"succeeded\":true}";
  bool applied = true;
  FakeGateway gw([&](const std::string& path, const Json& body) -> FakeGateway::Answer {
    if (path == "/v3/kv/put") return {200, std::string("{") + kHeader + "}", 0};
    if (path == "/v3/kv/txn") return {txn_status, txn_answer, 0};
    if (path == "/v3/kv/range") {
      std::string key = base64_decode(body["key"].get<std::string>());
      if (key == "counter/0") {
        return {200, std::string("{") + kHeader + ",\"kvs\":[" + kv_json(key, "3", 9) + "]}", 0};
      }
      return {200,
              std::string("{") + kHeader +
                  (applied ? ",\"kvs\":[" + kv_json(key, "1", 10) + "]}" : "}"),
              0};
    }
    return {404, "{}", 0};
  });
  FakeClient ids(gw.port(), "unique-ids");
  Completion g = ids.run("generate", nullptr);
  CHECK(g.type == OpType::kOk);
  CHECK(g.value == 42);

  FakeClient ctr(gw.port(), "counter", Json::object(), {{"retry", "idempotent"}});
  Completion inc = ctr.run("increment", {{"key", 0}, {"id", "a"}});
  REQUIRE(inc.type == OpType::kOk);
  CHECK(inc.value == Json{{"key", 0}, {"id", "a"}, {"read", 3}, {"wrote", 4}});
  Json txn = gw.requests().back().second;
  CHECK(txn["compare"][0]["mod_revision"] == "9");
  CHECK(txn["compare"][1]["target"] == "CREATE");  // the id not applied yet
  CHECK(txn["success"][1]["request_put"]["key"] == base64_encode("counter-applied/\"a\""));

  // The reply to the txn is lost (ambiguous): the client looks the id up.
  txn_status = 503;
  txn_answer = R"({"error":"etcdserver: request timed out","code":14})";
  Completion retried = ctr.run("increment", {{"key", 0}, {"id", "a"}});
  REQUIRE(retried.type == OpType::kOk);
  CHECK(retried.value["retried"] == true);
  applied = false;  // not applied: runs once more, whose reply is lost too -> info
  CHECK(ctr.run("increment", {{"key", 0}, {"id", "b"}}).type == OpType::kInfo);

  FakeClient plain(gw.port(), "counter");
  CHECK(plain.run("increment", {{"key", 0}, {"id", "c"}}).type == OpType::kInfo);
}

namespace {

// An HTTP server on 127.0.0.1 whose connections die on cue, one connection at a time (a
// client's kept-alive connection, then the fresh one libcurl would open to send a request
// again). `action(i)` decides for the i-th request (0-based, over all connections):
// answer it (a put answer), answer it then close the connection (it dies idle), or read it
// whole and close without answering (the node died after receiving it). With
// stop_listening(), the listening socket is closed right before that close: a reconnect is
// refused, like a killed etcd's.
class DyingGateway {
 public:
  enum class Action { kAnswer, kAnswerThenClose, kDropUnanswered };

  explicit DyingGateway(std::function<Action(int)> action) : action_(std::move(action)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_, 4) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~DyingGateway() {
    stop_ = true;
    thread_.join();
    if (listener_ >= 0) ::close(listener_);
  }
  int port() const { return port_; }
  int requests() const { return requests_; }
  void stop_listening() { close_listener_ = true; }

 private:
  bool readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }
  void run() {
    while (!stop_) {
      if (listener_ < 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      if (!readable(listener_)) return;
      int c = ::accept(listener_, nullptr, nullptr);
      if (c >= 0) serve(c);
    }
  }
  // Closes c, and first the listener when asked.
  void drop(int c) {
    if (close_listener_ && listener_ >= 0) {
      ::close(listener_);
      listener_ = -1;
    }
    ::close(c);
  }
  void serve(int c) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t head_end;
      while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
        if (!readable(c)) return ::close(c), void();
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return ::close(c), void();
        in.append(buf, static_cast<size_t>(n));
      }
      size_t length = 0;
      std::string head = in.substr(0, head_end);
      for (const char* name : {"Content-Length: ", "content-length: "}) {
        if (auto at = head.find(name); at != std::string::npos) {
          length = std::stoul(head.substr(at + std::strlen(name)));
        }
      }
      while (in.size() < head_end + 4 + length) {
        if (!readable(c)) return ::close(c), void();
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return ::close(c), void();
        in.append(buf, static_cast<size_t>(n));
      }
      in.erase(0, head_end + 4 + length);
      Action a = action_(requests_++);
      if (a == Action::kDropUnanswered) return drop(c);
      std::string body = std::string("{") + kHeader + "}";
      std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
      if (::send(c, out.data(), out.size(), MSG_NOSIGNAL) < 0) return ::close(c), void();
      if (a == Action::kAnswerThenClose) return drop(c);
    }
  }

  std::function<Action(int)> action_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> close_listener_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace

// Issue 13 item 7: an add recorded fail ("connection refused") that every later read held.
// libcurl sent the put on the kept-alive connection, the node died before answering, and
// libcurl silently sent it again on a fresh connection, which was refused.
TEST_CASE("etcd client: a request on a dying kept-alive connection is info, never sent twice",
          "[etcd][regression]") {
  using Action = DyingGateway::Action;
  SECTION("the node dies after reading the request; the reconnect is refused: info, not fail") {
    DyingGateway gw([](int i) { return i == 0 ? Action::kAnswer : Action::kDropUnanswered; });
    gw.stop_listening();  // applies at the first drop
    FakeClient c(gw.port(), "set");
    REQUIRE(c.run("add", 1).type == OpType::kOk);  // the connection is now kept alive
    Completion add = c.run("add", 2);
    CHECK(add.type == OpType::kInfo);
    CHECK_THAT(add.error.get<std::string>(), Catch::StartsWith("connection lost"));
    CHECK(gw.requests() == 2);
    Completion again = c.run("add", 3);  // nothing listens now: certainly not sent
    CHECK(again.type == OpType::kFail);
    CHECK_THAT(again.error.get<std::string>(), Catch::StartsWith("not sent"));
  }
  SECTION("the connection dies after the request but the node still listens: sent once, info") {
    DyingGateway gw([](int i) { return i == 1 ? Action::kDropUnanswered : Action::kAnswer; });
    FakeClient c(gw.port(), "register");
    REQUIRE(c.run("write", {1, 1}).type == OpType::kOk);
    Completion w = c.run("write", {1, 2});
    CHECK(w.type == OpType::kInfo);
    CHECK(gw.requests() == 2);  // libcurl's re-send would have made it 3, and answered ok
    CHECK(c.run("write", {1, 3}).type == OpType::kOk);  // a fresh connection for the next op
    CHECK(gw.requests() == 3);
  }
  SECTION("a kept-alive connection that died idle is replaced before anything is sent") {
    DyingGateway gw([](int i) { return i == 0 ? Action::kAnswerThenClose : Action::kAnswer; });
    FakeClient c(gw.port(), "register");
    REQUIRE(c.run("write", {1, 1}).type == OpType::kOk);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the server's FIN arrives
    CHECK(c.run("write", {1, 2}).type == OpType::kOk);
    CHECK(gw.requests() == 2);
  }
  SECTION("a kept-alive connection that died idle with the node gone: not sent, fail") {
    DyingGateway gw([](int i) { return i == 0 ? Action::kAnswerThenClose : Action::kAnswer; });
    gw.stop_listening();
    FakeClient c(gw.port(), "register");
    REQUIRE(c.run("write", {1, 1}).type == OpType::kOk);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Completion w = c.run("write", {1, 2});
    CHECK(w.type == OpType::kFail);
    CHECK_THAT(w.error.get<std::string>(), Catch::StartsWith("not sent"));
    CHECK(gw.requests() == 1);
  }
}

// Issue 14 items 7 and 10: etcd ran as root from /tmp/faultline-etcd (made with mkdir -p), and
// its dir option went unchecked into command lines.
TEST_CASE("etcd runs from a root-only directory, made and checked on the node",
          "[etcd][regression]") {
  CHECK(parse_etcd_options(Json::object()).dir == "/var/lib/faultline/etcd");
  for (const char* bad : {"relative", "/x\ny", "/a/../b", "/a b"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_etcd_options({{"dir", bad}}), Catch::Contains("option 'dir'"));
  }
  auto db = DbRegistry::get("db", "etcd")(Json::object());
  testing::FakeRemote remote({"n1"});
  DbContext ctx;
  ctx.nodes = {"n1"};
  ctx.remote = &remote;
  ctx.hosts["n1"] = "10.0.0.11";
  DbContextHookRegistry::get("db-hook", "clock")({{"faketime-dir", "/run/faultline/faketime"}},
                                                 ctx);
  capability<Killable>(*db)->start(ctx, "n1");
  REQUIRE(remote.script("n1").commands.size() == 2);
  // The launch files first (clusters/common/launch.h), their directory root's alone.
  const Command& prep = remote.script("n1").commands.front();
  CHECK_THAT(prep.argv[2], Catch::Contains("fl_private_dir \"$(dirname \"$1\")\" 755 || exit 3"));
  CHECK(std::find(prep.argv.begin(), prep.argv.end(), "/run/faultline/faketime/n1.rc") !=
        prep.argv.end());
  const Command& c = remote.script("n1").commands.back();
  REQUIRE(c.argv.size() > 9);
  // Daemon::script: pid file, binary, marker, then the base dir and the node dir.
  CHECK(c.argv[4] == "/var/lib/faultline/etcd/n1-10.0.0.11/etcd.pid");
  CHECK(c.argv[5] == "/usr/bin/etcd");
  CHECK(c.argv[6] == "/var/lib/faultline/etcd/n1-10.0.0.11/data");
  CHECK(c.argv[7] == "/var/lib/faultline/etcd");
  CHECK(c.argv[8] == "/var/lib/faultline/etcd/n1-10.0.0.11");
  CHECK(c.argv[9] == "env");  // etcd runs under the launch env
  CHECK(std::find(c.argv.begin(), c.argv.end(),
                  "FAKETIME_TIMESTAMP_FILE=/run/faultline/faketime/n1.rc") != c.argv.end());
  CHECK_THAT(c.argv[2], Catch::Contains("fl_private_dir \"$base\" 755 || exit 3"));
  // The pid file is believed only for a number whose process runs our data dir.
  CHECK_THAT(c.argv[2], Catch::Contains("*[!0-9]*) return 1"));
  DbContext bad = ctx;
  bad.launch = {};
  DbContextHookRegistry::get("db-hook", "clock")({{"faketime-dir", "/run/x\ny"}}, bad);
  CHECK_THROWS_WITH(capability<Killable>(*db)->start(bad, "n1"), Catch::Contains("faketime"));
}
