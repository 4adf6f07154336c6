// Client: one connection of one process to one node of the database under test, speaking one
// workload vocabulary (e.g. "register": read / write / cas). Implemented per database in
// clusters/<db>/ (Db::new_client), faked in tests/support/.
//
// Contract:
//   - open() connects and sends nothing of any op; it may throw (the interpreter records the op
//     it was opened for as fail, since it certainly did not happen, and opens again for the
//     process's next op).
//   - invoke() returns a Completion and never throws for anything the database does: ok (it
//     took effect), fail (it definitely did not), info (unknown: connection lost mid-op, a
//     timeout). A timeout is always info. Past `deadline` the interpreter stops waiting, records
//     info and continues the worker as a new process with a fresh client; the old client is
//     closed by its thread whenever invoke() returns.
//   - close() releases the connection and never throws.
//
// Thread safety: one client object is used by one thread at a time.
#pragma once

#include <chrono>
#include <string>

#include "harness/op.h"

namespace faultline {

struct DbContext;

struct Completion {
  OpType type = OpType::kOk;  // kOk, kFail or kInfo
  Json value;                 // result (ok); null otherwise unless the vocabulary says so
  Json error;                 // why (fail, info); null for ok
  // What the client sent for the op, in order, e.g. the SQL statements (each with " -- error:
  // ..." when it failed); recorded in the completion's "sql" field. Null when not recorded.
  Json statements;

  static Completion ok(Json value = nullptr) {
    return {OpType::kOk, std::move(value), nullptr, nullptr};
  }
  static Completion fail(Json error) { return {OpType::kFail, nullptr, std::move(error), nullptr}; }
  static Completion info(Json error) { return {OpType::kInfo, nullptr, std::move(error), nullptr}; }
};

struct ClientContext {
  const DbContext* db = nullptr;  // the run's database context (nodes, remote, options)
  std::string node;               // the node this client talks to
  int64_t process = 0;            // the process it serves
  std::chrono::nanoseconds op_timeout{std::chrono::seconds(10)};
  Json params = Json::object();  // the workload's client_params() (docs/workloads.md)
};

class Client {
 public:
  virtual ~Client() = default;
  virtual void open(const ClientContext& ctx) = 0;
  virtual Completion invoke(const Op& op, std::chrono::steady_clock::time_point deadline) = 0;
  virtual void close() noexcept {}
};

}  // namespace faultline
