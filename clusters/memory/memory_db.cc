#include "clusters/memory/memory_db.h"

#include <thread>

#include "harness/checker.h"
#include "harness/errors.h"
#include "harness/options.h"
#include "harness/random.h"

namespace faultline {
namespace {

// Values of every vocabulary are integers unless said otherwise (docs/workloads.md).
bool is_int(const Json& v) { return v.is_number_integer(); }

// What every vocabulary's client shares: the node it talks to, whether it is a lagging node of
// the stale twin, the wait for a paused node and the refusal of a killed one. Subclasses apply
// an op under the store's lock.
class MemoryClient : public Client {
 public:
  MemoryClient(std::shared_ptr<MemoryStore> store, bool stale, int64_t latency_us)
      : store_(std::move(store)), stale_(stale), latency_us_(latency_us) {}

  void open(const ClientContext& ctx) override {
    node_ = ctx.node;
    params_ = ctx.params;
    const bool multi = ctx.db && ctx.db->nodes.size() > 1;
    // A misbehaving replica on every node but the first; the set's on the last node only.
    lagging_ = stale_ && multi && ctx.node != ctx.db->nodes.front();
    last_node_ = stale_ && multi && ctx.node == ctx.db->nodes.back();
    random_ = Random(static_cast<uint64_t>(ctx.process) * 7919 + 17);
  }

  Completion invoke(const Op& op, std::chrono::steady_clock::time_point deadline) override {
    if (latency_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(latency_us_));
    std::unique_lock<std::mutex> lock(store_->mu);
    while (store_->paused.count(node_)) {
      if (store_->resumed.wait_until(lock, deadline) == std::cv_status::timeout &&
          store_->paused.count(node_)) {
        return Completion::info("timeout");
      }
    }
    if (store_->killed.count(node_)) return Completion::fail("connection refused");
    return apply(op, lock);
  }

 protected:
  // REQUIRES: `lock` holds store_->mu; it holds it again on return.
  virtual Completion apply(const Op& op, std::unique_lock<std::mutex>& lock) = 0;

  // The stale twin's non-atomic step: lets other ops run for about a millisecond.
  static void gap(std::unique_lock<std::mutex>& lock) {
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    lock.lock();
  }

  std::shared_ptr<MemoryStore> store_;
  bool stale_;
  int64_t latency_us_;
  std::string node_;
  Json params_ = Json::object();
  bool lagging_ = false;
  bool last_node_ = false;
  Random random_{0};
};

class RegisterClient : public MemoryClient {
 public:
  using MemoryClient::MemoryClient;

 protected:
  Completion apply(const Op& op, std::unique_lock<std::mutex>&) override {
    if (!op.value.is_array() || op.value.size() != 2) {
      return Completion::fail("bad value: expected [key, value]");
    }
    const Json& key = op.value[0];
    auto& reg = store_->registers[json_text(key)];
    if (op.f == "read") {
      Json v = reg.value;
      if (lagging_ && random_.chance(0.5)) v = reg.previous;
      return Completion::ok(Json::array({key, v}));
    }
    if (op.f == "write") {
      reg.previous = reg.value;
      reg.value = op.value[1];
      return Completion::ok(op.value);
    }
    if (op.f == "cas") {
      const Json& arg = op.value[1];
      if (!arg.is_array() || arg.size() != 2) return Completion::fail("bad cas value");
      if (reg.value != arg[0]) return Completion::fail("cas mismatch");
      reg.previous = reg.value;
      reg.value = arg[1];
      return Completion::ok(op.value);
    }
    return Completion::fail("unknown op '" + op.f + "'");
  }
};

class BankClient : public MemoryClient {
 public:
  using MemoryClient::MemoryClient;

 protected:
  Completion apply(const Op& op, std::unique_lock<std::mutex>& lock) override {
    auto& balances = store_->balances;
    if (op.f == "read") {
      Json out = Json::object();
      for (const auto& [account, balance] : balances) out[std::to_string(account)] = balance;
      return Completion::ok(std::move(out));
    }
    if (op.f != "transfer") return Completion::fail("unknown op '" + op.f + "'");
    const Json& v = op.value;
    if (!v.is_object() || !is_int(v.value("from", Json())) || !is_int(v.value("to", Json())) ||
        !is_int(v.value("amount", Json()))) {
      return Completion::fail("bad value: expected {from, to, amount}");
    }
    int64_t from = v["from"].get<int64_t>(), to = v["to"].get<int64_t>();
    int64_t amount = v["amount"].get<int64_t>();
    if (!balances.count(from) || !balances.count(to)) return Completion::fail("no such account");
    if (!store_->negative_balances && balances[from] < amount) {
      return Completion::fail("insufficient-funds");
    }
    balances[from] -= amount;
    if (lagging_) gap(lock);  // the money is in flight, and reads see it missing
    balances[to] += amount;
    return Completion::ok(v);
  }
};

// Elle transactions: list-append (lists) or rw-register (registers).
class TxnClient : public MemoryClient {
 public:
  TxnClient(std::shared_ptr<MemoryStore> store, bool stale, int64_t latency_us, bool lists)
      : MemoryClient(std::move(store), stale, latency_us), lists_(lists) {}

 protected:
  Completion apply(const Op& op, std::unique_lock<std::mutex>&) override {
    if (op.f != "txn") return Completion::fail("unknown op '" + op.f + "'");
    if (!op.value.is_array()) return Completion::fail("bad value: expected a list of mops");
    for (const auto& m : op.value) {
      if (!m.is_array() || m.size() != 3 || !m[0].is_string() || !is_int(m[1])) {
        return Completion::fail("bad mop " + json_text(m));
      }
    }
    Json out = op.value;
    for (auto& m : out) {
      const std::string f = m[0].get<std::string>();
      const int64_t k = m[1].get<int64_t>();
      if (lists_ && f == "append") {
        store_->lists[k].push_back(m[2]);
      } else if (lists_ && f == "r") {
        const auto& list = store_->lists[k];
        size_t n = list.size();
        if (lagging_ && n > 0 && random_.chance(0.5)) --n;  // misses the last append
        m[2] = Json(std::vector<Json>(list.begin(), list.begin() + static_cast<ptrdiff_t>(n)));
      } else if (!lists_ && f == "w") {
        auto& reg = store_->registers[std::to_string(k)];
        reg.previous = reg.value;
        reg.value = m[2];
      } else if (!lists_ && f == "r") {
        const auto& reg = store_->registers[std::to_string(k)];
        m[2] = lagging_ && random_.chance(0.5) ? reg.previous : reg.value;
      } else {
        return Completion::fail("unknown mop '" + f + "'");
      }
    }
    return Completion::ok(std::move(out));
  }

 private:
  bool lists_;
};

class SetClient : public MemoryClient {
 public:
  using MemoryClient::MemoryClient;

 protected:
  Completion apply(const Op& op, std::unique_lock<std::mutex>&) override {
    if (op.f == "add") {
      if (!is_int(op.value)) return Completion::fail("bad value: expected an integer");
      store_->set.insert(op.value.get<int64_t>());
      return Completion::ok(op.value);
    }
    if (op.f == "read") {
      Json out = Json::array();
      for (int64_t x : store_->set) {
        if (last_node_ && x % 7 == 0) continue;  // the stale twin's last node drops these
        out.push_back(x);
      }
      return Completion::ok(std::move(out));
    }
    return Completion::fail("unknown op '" + op.f + "'");
  }
};

class CounterClient : public MemoryClient {
 public:
  using MemoryClient::MemoryClient;

 protected:
  Completion apply(const Op& op, std::unique_lock<std::mutex>& lock) override {
    auto& counters = store_->counters;
    if (op.f == "read-all") {
      Json out = Json::object();
      for (const auto& [k, v] : counters) out[std::to_string(k)] = v;
      return Completion::ok(std::move(out));
    }
    if (!op.value.is_object() || !is_int(op.value.value("key", Json()))) {
      return Completion::fail("bad value: expected {key, ...}");
    }
    const int64_t k = op.value["key"].get<int64_t>();
    if (op.f == "read") {
      return Completion::ok({{"key", k}, {"value", counters[k]}});
    }
    if (op.f != "increment") return Completion::fail("unknown op '" + op.f + "'");
    const Json id = op.value.value("id", Json());
    const bool idempotent = params_.value("retry", std::string("none")) == "idempotent";
    if (idempotent && id.is_string() && store_->applied_ids.count(id.get<std::string>())) {
      return Completion::ok(
          {{"key", k}, {"id", id}, {"read", nullptr}, {"wrote", nullptr}, {"retried", true}});
    }
    const int64_t read = counters[k];
    if (lagging_) gap(lock);  // read-modify-write without holding the lock: lost updates
    counters[k] = read + 1;
    if (idempotent && id.is_string()) store_->applied_ids.insert(id.get<std::string>());
    return Completion::ok({{"key", k}, {"id", id}, {"read", read}, {"wrote", read + 1}});
  }
};

class LwwClient : public MemoryClient {
 public:
  using MemoryClient::MemoryClient;

 protected:
  Completion apply(const Op& op, std::unique_lock<std::mutex>&) override {
    if (op.f == "read-all") {
      Json out = Json::object();
      for (const auto& [k, cell] : store_->lww) {
        if (!cell.value.is_null()) out[std::to_string(k)] = cell.value;
      }
      return Completion::ok(std::move(out));
    }
    if (op.f == "read") {
      if (!op.value.is_array() || op.value.size() != 2 || !is_int(op.value[0])) {
        return Completion::fail("bad value: expected [key, null]");
      }
      auto it = store_->lww.find(op.value[0].get<int64_t>());
      return Completion::ok(
          Json::array({op.value[0], it == store_->lww.end() ? Json(nullptr) : it->second.value}));
    }
    if (op.f != "write") return Completion::fail("unknown op '" + op.f + "'");
    if (!op.value.is_array() || op.value.size() != 2 || !is_int(op.value[0])) {
      return Completion::fail("bad value: expected [key, value]");
    }
    int64_t stamp = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count();
    if (lagging_) stamp -= 1'000'000'000;  // a clock one second behind
    auto& cell = store_->lww[op.value[0].get<int64_t>()];
    if (cell.value.is_null() || stamp >= cell.stamp_ns) {
      cell.value = op.value[1];
      cell.stamp_ns = stamp;
      cell.node = node_;
    }
    return Completion::ok(op.value);  // a blind upsert: acknowledged whether it won or not
  }
};

class UniqueIdClient : public MemoryClient {
 public:
  using MemoryClient::MemoryClient;

 protected:
  Completion apply(const Op& op, std::unique_lock<std::mutex>&) override {
    if (op.f != "generate") return Completion::fail("unknown op '" + op.f + "'");
    if (lagging_ && store_->next_id > 0 && random_.chance(0.05)) {
      return Completion::ok(store_->next_id);  // hands out the last id again
    }
    return Completion::ok(++store_->next_id);
  }
};

const std::vector<std::string> kVocabularies = {
    "bank", "counter", "list-append", "lww", "register", "rw-register", "set", "unique-ids"};

}  // namespace

MemoryDb::MemoryDb(bool stale, int64_t latency_us, int64_t teardown_ms)
    : stale_(stale),
      latency_us_(latency_us),
      teardown_ms_(teardown_ms),
      store_(std::make_shared<MemoryStore>()) {}

void MemoryDb::setup(const DbContext& ctx) {
  std::lock_guard<std::mutex> lock(store_->mu);
  store_->registers.clear();
  store_->balances.clear();
  store_->negative_balances = false;
  store_->lists.clear();
  store_->set.clear();
  store_->counters.clear();
  store_->applied_ids.clear();
  store_->lww.clear();
  store_->next_id = 0;
  store_->killed.clear();
  store_->paused.clear();
  if (ctx.log)
    ctx.log(name() + ": in-process store ready on " + std::to_string(ctx.nodes.size()) + " nodes");
}

std::vector<std::string> MemoryDb::vocabularies() const { return kVocabularies; }

void MemoryDb::prepare(const DbContext& ctx, const std::string& vocabulary, const Json& params) {
  std::lock_guard<std::mutex> lock(store_->mu);
  if (vocabulary == "bank") {
    const Json accounts = params.value("accounts", Json::array());
    const Json total = params.value("total", Json(0));
    if (!accounts.is_array() || accounts.empty() || !total.is_number_integer()) {
      throw ConfigError(name() + ": bank needs params accounts (a list) and total");
    }
    const int64_t n = static_cast<int64_t>(accounts.size());
    const int64_t t = total.get<int64_t>();
    store_->balances.clear();
    for (const auto& a : accounts) {
      if (!a.is_number_integer()) throw ConfigError(name() + ": bank account ids are integers");
      store_->balances[a.get<int64_t>()] = t / n;
    }
    store_->balances[accounts[0].get<int64_t>()] += t % n;
    store_->negative_balances = params.value("negative-balances", false);
  } else if (vocabulary == "counter") {
    const int64_t keys = params.value("keys", int64_t{0});
    for (int64_t k = 0; k < keys; ++k) store_->counters[k] = 0;
  }
  if (ctx.log) ctx.log(name() + ": prepared " + vocabulary + " " + json_text(params));
}

void MemoryDb::teardown(const DbContext& ctx) {
  if (teardown_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(teardown_ms_));
  {
    std::lock_guard<std::mutex> lock(store_->mu);
    store_->paused.clear();
    store_->killed.clear();
  }
  store_->resumed.notify_all();
  if (ctx.log) ctx.log(name() + ": torn down");
}

std::unique_ptr<Client> MemoryDb::new_client(const std::string& vocabulary) {
  if (vocabulary == "register")
    return std::make_unique<RegisterClient>(store_, stale_, latency_us_);
  if (vocabulary == "bank") return std::make_unique<BankClient>(store_, stale_, latency_us_);
  if (vocabulary == "list-append")
    return std::make_unique<TxnClient>(store_, stale_, latency_us_, true);
  if (vocabulary == "rw-register")
    return std::make_unique<TxnClient>(store_, stale_, latency_us_, false);
  if (vocabulary == "set") return std::make_unique<SetClient>(store_, stale_, latency_us_);
  if (vocabulary == "counter") return std::make_unique<CounterClient>(store_, stale_, latency_us_);
  if (vocabulary == "lww") return std::make_unique<LwwClient>(store_, stale_, latency_us_);
  if (vocabulary == "unique-ids")
    return std::make_unique<UniqueIdClient>(store_, stale_, latency_us_);
  return nullptr;
}

void MemoryDb::kill(const DbContext&, const std::string& node) {
  std::lock_guard<std::mutex> lock(store_->mu);
  store_->killed.insert(node);
}

void MemoryDb::start(const DbContext&, const std::string& node) {
  std::lock_guard<std::mutex> lock(store_->mu);
  store_->killed.erase(node);
}

void MemoryDb::pause(const DbContext&, const std::string& node) {
  std::lock_guard<std::mutex> lock(store_->mu);
  store_->paused.insert(node);
}

void MemoryDb::resume(const DbContext&, const std::string& node) {
  {
    std::lock_guard<std::mutex> lock(store_->mu);
    store_->paused.erase(node);
  }
  store_->resumed.notify_all();
}

namespace {

const OptionDecls kMemoryOptions = {
    {"latency-us", 0, "added latency per op"},
    {"teardown-ms", 0, "how long teardown takes (tests of interrupted runs)"},
};

std::unique_ptr<Db> make_memory(bool stale, const Json& options) {
  const char* where = stale ? "db 'memory-stale'" : "db 'memory'";
  const Options o(options, kMemoryOptions, where);
  return std::make_unique<MemoryDb>(stale, o.integer("latency-us", 0), o.integer("teardown-ms", 0));
}

const bool memory_registered = DbRegistry::add(
    "db", "memory",
    "in-process linearizable store for every vocabulary (no cluster; for tests and demos)",
    [](const Json& options) { return make_memory(false, options); }, kMemoryOptions);
const bool stale_registered = DbRegistry::add(
    "db", "memory-stale",
    "in-process store that misbehaves per vocabulary (stale reads, lost updates, "
    "...; must be found invalid)",
    [](const Json& options) { return make_memory(true, options); }, kMemoryOptions);

}  // namespace
}  // namespace faultline
