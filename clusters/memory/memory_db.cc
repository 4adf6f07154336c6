#include "clusters/memory/memory_db.h"

#include <thread>

#include "harness/checker.h"
#include "harness/random.h"

namespace faultline {
namespace {

class MemoryRegisterClient : public Client {
 public:
  MemoryRegisterClient(std::shared_ptr<MemoryStore> store, bool stale, int64_t latency_us)
      : store_(std::move(store)), stale_(stale), latency_us_(latency_us) {}

  void open(const ClientContext& ctx) override {
    node_ = ctx.node;
    // A stale replica on every node but the first.
    lagging_ = stale_ && ctx.db && !ctx.db->nodes.empty() && ctx.node != ctx.db->nodes.front();
    random_ = Random(static_cast<uint64_t>(ctx.process) * 7919 + 17);
  }

  Completion invoke(const Op& op, std::chrono::steady_clock::time_point deadline) override {
    if (!op.value.is_array() || op.value.size() != 2) {
      return Completion::fail("bad value: expected [key, value]");
    }
    if (latency_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(latency_us_));
    std::unique_lock<std::mutex> lock(store_->mu);
    while (store_->paused.count(node_)) {
      if (store_->resumed.wait_until(lock, deadline) == std::cv_status::timeout &&
          store_->paused.count(node_)) {
        return Completion::info("timeout");
      }
    }
    if (store_->killed.count(node_)) return Completion::fail("connection refused");
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

 private:
  std::shared_ptr<MemoryStore> store_;
  bool stale_;
  int64_t latency_us_;
  std::string node_;
  bool lagging_ = false;
  Random random_{0};
};

}  // namespace

MemoryDb::MemoryDb(bool stale, int64_t latency_us, int64_t teardown_ms)
    : stale_(stale),
      latency_us_(latency_us),
      teardown_ms_(teardown_ms),
      store_(std::make_shared<MemoryStore>()) {}

void MemoryDb::setup(const DbContext& ctx) {
  std::lock_guard<std::mutex> lock(store_->mu);
  store_->registers.clear();
  store_->killed.clear();
  store_->paused.clear();
  if (ctx.log)
    ctx.log(name() + ": in-process registers ready on " + std::to_string(ctx.nodes.size()) +
            " nodes");
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
  if (vocabulary != "register") return nullptr;
  return std::make_unique<MemoryRegisterClient>(store_, stale_, latency_us_);
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

std::unique_ptr<Db> make_memory(bool stale, const Json& options) {
  const char* where = stale ? "db 'memory-stale'" : "db 'memory'";
  reject_unknown_options(options, {"latency-us", "teardown-ms"}, where);
  auto option = [&](const char* key) -> int64_t {
    if (!options.is_object() || !options.contains(key)) return 0;
    const Json& v = options[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      throw std::invalid_argument(std::string(where) + ": " + key + " must be an integer >= 0");
    }
    return v.get<int64_t>();
  };
  return std::make_unique<MemoryDb>(stale, option("latency-us"), option("teardown-ms"));
}

const bool memory_registered = DbRegistry::add(
    "db", "memory", "in-process linearizable registers (no cluster; for tests and demos)",
    [](const Json& options) { return make_memory(false, options); });
const bool stale_registered = DbRegistry::add(
    "db", "memory-stale", "in-process registers that serve stale reads (must be found invalid)",
    [](const Json& options) { return make_memory(true, options); });

}  // namespace
}  // namespace faultline
