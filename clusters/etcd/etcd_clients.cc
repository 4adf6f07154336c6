#include "clusters/etcd/etcd_clients.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "clusters/etcd/etcd_http.h"
#include "clusters/etcd/etcd_proto.h"
#include "harness/db.h"

namespace faultline {
namespace {

using etcd::Compare;
using etcd::HttpResult;
using Clock = std::chrono::steady_clock;

// Time kept back from the op's deadline, so the client answers before the interpreter gives
// up on it.
constexpr auto kDeadlineMargin = std::chrono::milliseconds(20);

// The value stored under a key: JSON text; anything else is returned as a string.
Json parse_value(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json(text) : j;
}

// An HTTP exchange's result: the parsed answer, or why there is none and whether a write may
// have been applied anyway.
struct Reply {
  bool ok = false;
  Json body;
  std::string error;
  bool may_have_applied = false;
};

class EtcdClient : public Client {
 public:
  EtcdClient(std::string vocabulary, EtcdClientOptions options)
      : vocabulary_(std::move(vocabulary)), options_(options) {}

  void open(const ClientContext& ctx) override {
    std::string url = ctx.db ? etcd_client_url(*ctx.db, ctx.node, options_.client_port)
                             : "http://" + ctx.node + ":" + std::to_string(options_.client_port);
    http_ = std::make_unique<etcd::EtcdHttp>(url);
    op_timeout_ = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.op_timeout);
    retry_idempotent_ =
        ctx.params.is_object() && ctx.params.value("retry", std::string("none")) == "idempotent";
    negative_balances_ = ctx.params.is_object() && ctx.params.value("negative-balances", false);
    process_ = ctx.process;
  }

  void close() noexcept override { http_.reset(); }

  Completion invoke(const Op& op, Clock::time_point deadline) override {
    if (!http_) return Completion::fail("client not open");
    try {
      return run(op, deadline);
    } catch (const etcd::ProtocolError& e) {
      return Completion::info(std::string("bad answer from ") + http_->base_url() + ": " +
                              e.what());
    } catch (const Json::exception& e) {
      return Completion::info(std::string("bad op value or answer: ") + e.what());
    }
  }

 protected:
  virtual Completion run(const Op& op, Clock::time_point deadline) = 0;

  std::string key_of(const Json& k) const { return vocabulary_ + "/" + json_text(k); }
  std::string prefix() const { return vocabulary_ + "/"; }
  bool serializable() const { return options_.serializable_reads; }

  Reply call(const char* path, const Json& request, Clock::time_point deadline) {
    Reply r;
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now() -
                                                                           kDeadlineMargin);
    auto timeout = options_.request_timeout_ms > 0
                       ? std::chrono::milliseconds(options_.request_timeout_ms)
                       : op_timeout_;
    timeout = std::min(timeout, remaining);
    if (timeout.count() <= 0) {
      r.error = "timeout";  // nothing sent
      return r;
    }
    HttpResult h = http_->post(path, request.dump(), timeout);
    switch (h.kind) {
      case HttpResult::Kind::kAnswer: {
        if (auto e = etcd::parse_error(h.status, h.body)) {
          r.error = e->describe(h.status);
          r.may_have_applied = etcd::write_may_have_applied(*e);
          return r;
        }
        r.body = Json::parse(h.body, nullptr, false);
        if (r.body.is_discarded()) {
          r.error = "bad answer (not JSON): " + h.body.substr(0, 200);
          r.may_have_applied = true;
          return r;
        }
        r.ok = true;
        return r;
      }
      case HttpResult::Kind::kTimeout:
        r.error = "timeout";
        r.may_have_applied = true;
        return r;
      case HttpResult::Kind::kNotConnected:
        r.error = "not sent: " + h.error;
        return r;
      case HttpResult::Kind::kTransport:
        r.error = "connection lost: " + h.error;
        r.may_have_applied = h.sent;
        return r;
    }
    return r;
  }

  static Completion write_failed(const Reply& r) {
    return r.may_have_applied ? Completion::info(r.error) : Completion::fail(r.error);
  }
  static Completion read_failed(const Reply& r) { return Completion::fail(r.error); }

  Reply range(const std::string& key, Clock::time_point deadline, bool linearizable = false,
              const std::string& range_end = "", bool keys_only = false) {
    return call("/v3/kv/range",
                etcd::range_request(key, range_end, !linearizable && serializable(), keys_only),
                deadline);
  }
  Reply put(const std::string& key, const std::string& value, Clock::time_point deadline) {
    return call("/v3/kv/put", etcd::put_request(key, value), deadline);
  }
  Reply txn(const Json& request, Clock::time_point deadline) {
    return call("/v3/kv/txn", request, deadline);
  }
  // A blind put, sent once more after a lost reply when the params ask for idempotent retries.
  Reply put_retrying(const std::string& key, const std::string& value, Clock::time_point deadline) {
    Reply r = put(key, value, deadline);
    if (r.ok || !retry_idempotent_ || !r.may_have_applied) return r;
    Reply again = put(key, value, deadline);
    if (!again.ok) again.may_have_applied = true;  // the first may still apply
    return again;
  }
  // Every key under the vocabulary's prefix: {"<key>": value, ...}.
  Completion read_all(Clock::time_point deadline) {
    std::string p = prefix();
    Reply r = range(p, deadline, false, etcd::prefix_end(p));
    if (!r.ok) return read_failed(r);
    Json out = Json::object();
    for (const auto& kv : etcd::parse_range(r.body).kvs) {
      out[kv.key.substr(p.size())] = parse_value(kv.value);
    }
    return Completion::ok(out);
  }

  std::string vocabulary_;
  EtcdClientOptions options_;
  std::unique_ptr<etcd::EtcdHttp> http_;
  std::chrono::milliseconds op_timeout_{10000};
  bool retry_idempotent_ = false;
  bool negative_balances_ = false;  // bank
  int64_t process_ = 0;
};

class RegisterClient : public EtcdClient {
 public:
  using EtcdClient::EtcdClient;

 protected:
  Completion run(const Op& op, Clock::time_point deadline) override {
    if (!op.value.is_array() || op.value.size() != 2) {
      return Completion::fail("bad value: expected [key, value]");
    }
    const Json& k = op.value[0];
    std::string key = key_of(k);
    if (op.f == "read") {
      Reply r = range(key, deadline);
      if (!r.ok) return read_failed(r);
      etcd::RangeResult rr = etcd::parse_range(r.body);
      Json v = rr.kvs.empty() ? Json(nullptr) : parse_value(rr.kvs.front().value);
      return Completion::ok(Json::array({k, v}));
    }
    if (op.f == "write") {
      std::string value = json_text(op.value[1]);
      Reply r = put_retrying(key, value, deadline);
      if (!r.ok) return write_failed(r);
      return Completion::ok(op.value);
    }
    if (op.f == "cas") {
      const Json& arg = op.value[1];
      if (!arg.is_array() || arg.size() != 2) return Completion::fail("bad cas value");
      Json request = etcd::txn_request({Compare::value_equals(key, json_text(arg[0]))},
                                       {etcd::txn_put_op(key, json_text(arg[1]))});
      Reply r = txn(request, deadline);
      if (!r.ok) return write_failed(r);
      if (!etcd::parse_txn(r.body).succeeded) return Completion::fail("mismatch");
      return Completion::ok(op.value);
    }
    return Completion::fail("unknown op '" + op.f + "' for vocabulary register");
  }
};

class SetClient : public EtcdClient {
 public:
  using EtcdClient::EtcdClient;

 protected:
  Completion run(const Op& op, Clock::time_point deadline) override {
    if (op.f == "add") {
      std::string value = json_text(op.value);
      std::string key = key_of(op.value);
      Reply r = put_retrying(key, value, deadline);
      if (!r.ok) return write_failed(r);
      return Completion::ok(op.value);
    }
    if (op.f == "read") {
      std::string p = prefix();
      Reply r = range(p, deadline, false, etcd::prefix_end(p), true);
      if (!r.ok) return read_failed(r);
      std::vector<Json> elements;
      for (const auto& kv : etcd::parse_range(r.body).kvs) {
        elements.push_back(parse_value(kv.key.substr(p.size())));
      }
      std::sort(elements.begin(), elements.end());
      return Completion::ok(Json(elements));
    }
    return Completion::fail("unknown op '" + op.f + "' for vocabulary set");
  }
};

class UniqueIdsClient : public EtcdClient {
 public:
  using EtcdClient::EtcdClient;

 protected:
  Completion run(const Op& op, Clock::time_point deadline) override {
    if (op.f != "generate") {
      return Completion::fail("unknown op '" + op.f + "' for vocabulary unique-ids");
    }
    Reply r = put(prefix() + "id", std::to_string(process_), deadline);
    if (!r.ok) return write_failed(r);
    int64_t revision = etcd::header_revision(r.body);
    if (revision <= 0) return Completion::info("put answered without a revision");
    return Completion::ok(revision);
  }
};

class CounterClient : public EtcdClient {
 public:
  using EtcdClient::EtcdClient;

 protected:
  Completion run(const Op& op, Clock::time_point deadline) override {
    if (op.f == "increment") return increment(op, deadline, retry_idempotent_);
    if (op.f == "read") {
      const Json& k = op.value.at("key");
      Reply r = range(key_of(k), deadline);
      if (!r.ok) return read_failed(r);
      auto rr = etcd::parse_range(r.body);
      Json v = rr.kvs.empty() ? Json(0) : parse_value(rr.kvs.front().value);
      return Completion::ok({{"key", k}, {"value", v}});
    }
    if (op.f == "read-all") {
      return read_all(deadline);
    }
    return Completion::fail("unknown op '" + op.f + "' for vocabulary counter");
  }

 private:
  std::string applied_key(const Json& id) const { return "counter-applied/" + json_text(id); }

  // Whether the increment with this id was applied: true / false, nullopt when unknown.
  std::optional<bool> applied(const Json& id, Clock::time_point deadline) {
    Reply r = range(applied_key(id), deadline, /*linearizable=*/true);
    if (!r.ok) return std::nullopt;
    return !etcd::parse_range(r.body).kvs.empty();
  }

  Completion increment(const Op& op, Clock::time_point deadline, bool retry) {
    const Json& k = op.value.at("key");
    const Json id = op.value.value("id", Json(nullptr));
    std::string key = key_of(k);
    Reply r = range(key, deadline);
    if (!r.ok) return read_failed(r);
    auto rr = etcd::parse_range(r.body);
    int64_t read = 0, mod = 0;
    if (!rr.kvs.empty()) {
      Json v = parse_value(rr.kvs.front().value);
      if (!v.is_number_integer()) return Completion::fail("counter value is not an integer");
      read = v.get<int64_t>();
      mod = rr.kvs.front().mod_revision;
    }
    bool track = retry_idempotent_ && !id.is_null();
    std::vector<Compare> compares = {Compare::mod_revision_equals(key, mod)};
    std::vector<Json> puts = {etcd::txn_put_op(key, std::to_string(read + 1))};
    if (track) {
      // The id must not be applied yet: an earlier attempt that landed late fails this one.
      Compare absent;
      absent.key = applied_key(id);
      absent.target = Compare::Target::kCreate;
      absent.revision = 0;
      compares.push_back(absent);
      puts.push_back(etcd::txn_put_op(applied_key(id), "1"));
    }
    Reply t = txn(etcd::txn_request(compares, puts), deadline);
    auto retried_ok = [&] {
      return Completion::ok(
          {{"key", k}, {"id", id}, {"retried", true}, {"read", nullptr}, {"wrote", nullptr}});
    };
    if (t.ok && etcd::parse_txn(t.body).succeeded) {
      return Completion::ok({{"key", k}, {"id", id}, {"read", read}, {"wrote", read + 1}});
    }
    if (t.ok) {  // a compare failed
      if (track) {
        auto a = applied(id, deadline);
        if (!a) return Completion::info("conflict; whether an earlier attempt applied is unknown");
        if (*a) return retried_ok();
      }
      return Completion::fail("conflict");
    }
    if (!t.may_have_applied) return Completion::fail(t.error);
    if (!track || !retry) return Completion::info(t.error);
    auto a = applied(id, deadline);
    if (!a) return Completion::info(t.error);
    if (*a) return retried_ok();
    // The first attempt may still apply later unless the second one proves otherwise: only
    // its "conflict" (checked against the applied key) or ok is definite.
    Completion again = increment(op, deadline, /*retry=*/false);
    if (again.type == OpType::kFail && again.error != "conflict") return Completion::info(t.error);
    return again;
  }
};

class LwwClient : public EtcdClient {
 public:
  using EtcdClient::EtcdClient;

 protected:
  Completion run(const Op& op, Clock::time_point deadline) override {
    if (op.f == "write") {
      if (!op.value.is_array() || op.value.size() != 2) {
        return Completion::fail("bad value: expected [key, value]");
      }
      std::string key = key_of(op.value[0]);
      std::string value = json_text(op.value[1]);
      Reply r = put_retrying(key, value, deadline);
      if (!r.ok) return write_failed(r);
      return Completion::ok(op.value);
    }
    if (op.f == "read") {
      if (!op.value.is_array() || op.value.size() != 2) {
        return Completion::fail("bad value: expected [key, null]");
      }
      Reply r = range(key_of(op.value[0]), deadline);
      if (!r.ok) return read_failed(r);
      etcd::RangeResult rr = etcd::parse_range(r.body);
      Json v = rr.kvs.empty() ? Json(nullptr) : parse_value(rr.kvs.front().value);
      return Completion::ok(Json::array({op.value[0], v}));
    }
    if (op.f == "read-all") {
      return read_all(deadline);
    }
    return Completion::fail("unknown op '" + op.f + "' for vocabulary lww");
  }
};

// bank: a transfer is a snapshot of both accounts, then a txn comparing both mod_revisions
// and putting both balances; read is one range over every account.
class BankClient : public EtcdClient {
 public:
  using EtcdClient::EtcdClient;

 protected:
  Completion run(const Op& op, Clock::time_point deadline) override {
    if (op.f == "read") return read_all(deadline);
    if (op.f != "transfer") {
      return Completion::fail("unknown op '" + op.f + "' for vocabulary bank");
    }
    const Json& v = op.value;
    std::string from = key_of(v.at("from")), to = key_of(v.at("to"));
    int64_t amount = v.at("amount").get<int64_t>();
    if (from == to) return Completion::fail("a transfer needs two different accounts");
    Reply s = txn(etcd::txn_request({}, {etcd::txn_range_op(from, {}, serializable()),
                                         etcd::txn_range_op(to, {}, serializable())}),
                  deadline);
    if (!s.ok) return read_failed(s);
    etcd::TxnResult snap = etcd::parse_txn(s.body);
    if (snap.responses.size() != 2 || snap.responses[0].kvs.empty() ||
        snap.responses[1].kvs.empty()) {
      return Completion::fail("no such account (was the bank prepared?)");
    }
    const etcd::KeyValue& a = snap.responses[0].kvs.front();
    const etcd::KeyValue& b = snap.responses[1].kvs.front();
    Json ja = parse_value(a.value), jb = parse_value(b.value);
    if (!ja.is_number_integer() || !jb.is_number_integer()) {
      return Completion::fail("a balance is not an integer");
    }
    int64_t from_balance = ja.get<int64_t>() - amount;
    int64_t to_balance = jb.get<int64_t>() + amount;
    bool negative_ok = negative_balances_;
    if (from_balance < 0 && !negative_ok) return Completion::fail("insufficient-funds");
    Reply c = txn(etcd::txn_request({Compare::mod_revision_equals(from, a.mod_revision),
                                     Compare::mod_revision_equals(to, b.mod_revision)},
                                    {etcd::txn_put_op(from, std::to_string(from_balance)),
                                     etcd::txn_put_op(to, std::to_string(to_balance))}),
                  deadline);
    if (!c.ok) return write_failed(c);
    if (!etcd::parse_txn(c.body).succeeded) return Completion::fail("conflict");
    return Completion::ok(op.value);
  }
};

// list-append and rw-register: Elle's micro-op transactions.
class ElleTxnClient : public EtcdClient {
 public:
  ElleTxnClient(std::string vocabulary, EtcdClientOptions options, bool append)
      : EtcdClient(std::move(vocabulary), options), append_(append) {}

 protected:
  Completion run(const Op& op, Clock::time_point deadline) override {
    if (op.f != "txn") {
      return Completion::fail("unknown op '" + op.f + "' for vocabulary " + vocabulary_);
    }
    if (!op.value.is_array()) return Completion::fail("bad value: expected a list of micro-ops");
    const char* write_f = append_ ? "append" : "w";
    std::map<std::string, size_t> index;  // key -> position in the snapshot txn
    std::vector<std::string> keys;
    bool writes = false;
    for (const Json& m : op.value) {
      if (!m.is_array() || m.size() != 3 || !m[0].is_string()) {
        return Completion::fail("bad micro-op " + json_text(m));
      }
      const std::string f = m[0].get<std::string>();
      if (f != "r" && f != write_f) return Completion::fail("unknown micro-op '" + f + "'");
      writes = writes || f == write_f;
      std::string key = key_of(m[1]);
      if (index.emplace(key, keys.size()).second) keys.push_back(key);
    }
    // 1. One snapshot of every key the op touches.
    std::vector<Json> ranges;
    for (const auto& key : keys) ranges.push_back(etcd::txn_range_op(key, {}, serializable()));
    Reply s = txn(etcd::txn_request({}, ranges), deadline);
    if (!s.ok) return read_failed(s);
    etcd::TxnResult snap = etcd::parse_txn(s.body);
    if (snap.responses.size() != keys.size()) {
      return Completion::fail("snapshot answered " + std::to_string(snap.responses.size()) +
                              " ranges for " + std::to_string(keys.size()) + " keys");
    }
    std::vector<Json> state(keys.size());
    std::vector<int64_t> mod(keys.size(), 0);
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto& kvs = snap.responses[i].kvs;
      if (kvs.empty()) {
        state[i] = append_ ? Json::array() : Json(nullptr);
      } else {
        state[i] = parse_value(kvs.front().value);
        mod[i] = kvs.front().mod_revision;
      }
    }
    // 2. The micro-ops on the snapshot.
    Json result = Json::array();
    std::set<size_t> written;
    for (const Json& m : op.value) {
      size_t i = index.at(key_of(m[1]));
      if (m[0] == "r") {
        result.push_back(Json::array({"r", m[1], state[i]}));
      } else {
        if (append_) {
          if (!state[i].is_array()) return Completion::fail("stored value is not a list");
          state[i].push_back(m[2]);
        } else {
          state[i] = m[2];
        }
        written.insert(i);
        result.push_back(m);
      }
    }
    if (!writes) return Completion::ok(result);
    // 3. Commit: nothing the snapshot saw has changed; then the writes.
    std::vector<Compare> compares;
    for (size_t i = 0; i < keys.size(); ++i) {
      compares.push_back(Compare::mod_revision_equals(keys[i], mod[i]));
    }
    std::vector<Json> puts;
    for (size_t i : written) puts.push_back(etcd::txn_put_op(keys[i], json_text(state[i])));
    Reply c = txn(etcd::txn_request(compares, puts), deadline);
    if (!c.ok) return write_failed(c);
    if (!etcd::parse_txn(c.body).succeeded) return Completion::fail("conflict");
    return Completion::ok(result);
  }

 private:
  bool append_;
};

}  // namespace

std::string etcd_client_url(const DbContext& ctx, const std::string& node, int port) {
  auto it = ctx.hosts.find(node);
  std::string host = it == ctx.hosts.end() || it->second.empty() ? node : it->second;
  return "http://" + host + ":" + std::to_string(port);
}

std::vector<std::string> etcd_vocabularies() {
  return {"bank", "counter", "list-append", "lww", "register", "rw-register", "set", "unique-ids"};
}

std::unique_ptr<Client> make_etcd_client(const std::string& vocabulary, EtcdClientOptions options) {
  if (vocabulary == "register") return std::make_unique<RegisterClient>(vocabulary, options);
  if (vocabulary == "bank") return std::make_unique<BankClient>(vocabulary, options);
  if (vocabulary == "set") return std::make_unique<SetClient>(vocabulary, options);
  if (vocabulary == "unique-ids") return std::make_unique<UniqueIdsClient>(vocabulary, options);
  if (vocabulary == "counter") return std::make_unique<CounterClient>(vocabulary, options);
  if (vocabulary == "lww") return std::make_unique<LwwClient>(vocabulary, options);
  if (vocabulary == "list-append") {
    return std::make_unique<ElleTxnClient>(vocabulary, options, /*append=*/true);
  }
  if (vocabulary == "rw-register") {
    return std::make_unique<ElleTxnClient>(vocabulary, options, /*append=*/false);
  }
  return nullptr;
}

}  // namespace faultline
