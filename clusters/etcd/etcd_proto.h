// The etcd v3 HTTP/JSON gateway protocol as pure functions: request bodies for /v3/kv/range,
// /v3/kv/put, /v3/kv/txn and /v3/maintenance/status, and the parsing of their answers and
// error answers. No I/O here (the transport is etcd_http.h), so all of it is unit-tested
// without a cluster (tests/clusters/etcd_test.cc).
//
// The gateway speaks proto3 JSON: bytes fields (keys, values) are base64, 64-bit integers are
// JSON strings ("revision": "12"), and fields at their default value are left out (no "kvs"
// for an empty range, no "succeeded" for a failed txn compare, no "count" for 0). The parsers
// accept both strings and numbers for integers and treat a missing field as its default.
//
// Errors: parse_* throw ProtocolError when an answer is not what etcd sends (it names the
// field); the clients turn that into info (writes) or fail (reads).
//
// Thread safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/op.h"

namespace faultline::etcd {

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view bytes);
// Accepts padded or unpadded standard base64; throws ProtocolError on any other character.
std::string base64_decode(std::string_view text);

// The range_end that makes a range cover every key starting with `prefix` (the prefix with
// its last byte incremented, dropping trailing 0xff bytes; "\0" for an empty prefix or all
// 0xff: every key). etcdctl's GetPrefixRangeEnd.
std::string prefix_end(std::string_view prefix);

// --- requests (JSON bodies) -------------------------------------------------------------

// /v3/kv/range: one key, or [key, range_end) when range_end is non-empty.
Json range_request(std::string_view key, std::string_view range_end = {}, bool serializable = false,
                   bool keys_only = false);
// /v3/kv/put.
Json put_request(std::string_view key, std::string_view value);

// One comparison of a txn. Target kValue compares the value (always false on a missing key,
// etcd's rule); the others compare a revision (0 on a missing key).
struct Compare {
  enum class Target { kValue, kMod, kCreate, kVersion };
  std::string key;
  Target target = Target::kValue;
  std::string value;     // kValue
  int64_t revision = 0;  // kMod / kCreate / kVersion
  static Compare value_equals(std::string key, std::string value);
  static Compare mod_revision_equals(std::string key, int64_t revision);
};
// Request ops of a txn's success/failure lists.
Json txn_range_op(std::string_view key, std::string_view range_end = {}, bool serializable = false);
Json txn_put_op(std::string_view key, std::string_view value);
// /v3/kv/txn: if every compare holds, the success ops, else the failure ops (one revision).
Json txn_request(const std::vector<Compare>& compares, const std::vector<Json>& success,
                 const std::vector<Json>& failure = {});

// --- answers ----------------------------------------------------------------------------

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision the range was served at
  std::vector<KeyValue> kvs;
};

struct TxnResult {
  int64_t revision = 0;
  bool succeeded = false;
  // One entry per op of the branch taken, in order; the ranges' results (puts give an empty
  // RangeResult with the header's revision).
  std::vector<RangeResult> responses;
};

// header.revision of any answer (0 when absent).
int64_t header_revision(const Json& answer);
RangeResult parse_range(const Json& answer);
TxnResult parse_txn(const Json& answer);

// /v3/maintenance/status.
struct MemberStatus {
  std::string member_id;  // header.member_id (decimal text of a uint64)
  std::string leader;     // the member id this member believes leads; "" or "0": none
  int64_t raft_term = 0;
  std::string version;
  bool is_leader() const { return !member_id.empty() && member_id == leader; }
};
MemberStatus parse_status(const Json& answer);

// A member of the cluster as /v3/cluster/member/{list,add} name it. A member added but not
// started yet has no name.
struct Member {
  std::string id;  // decimal text of a uint64
  std::string name;
  std::vector<std::string> peer_urls;
  bool is_learner = false;
};
// The "members" of a member list or member add answer (empty when there are none).
std::vector<Member> parse_members(const Json& answer);
// The "member" of a member add answer: the one just added.
Member parse_added_member(const Json& answer);
// etcd's --initial-cluster for `members`: name=peer-url, comma-separated; a member without a
// name (added, not started) is named `unnamed` (the node about to start).
std::string initial_cluster(const std::vector<Member>& members, const std::string& unnamed);

// An error answer of the gateway: {"error": "...", "code": <gRPC code>, "message": "..."}.
struct GatewayError {
  int code = 2;  // gRPC code (2 Unknown when the body says nothing)
  std::string message;
  // "etcd: <message> (grpc code N, http S)"
  std::string describe(long http_status) const;
};
// The error of a non-2xx answer (or of a 2xx whose body carries "error"); nullopt when the
// answer is a success. A body that is not JSON gives code 2 and the body's first 200 bytes.
std::optional<GatewayError> parse_error(long http_status, std::string_view body);

// Whether a write that got this error answer may still have been applied (or be applied
// later): true unless the error certainly came before the proposal (invalid argument, not
// found, already exists, permission denied, too many requests, failed precondition, out of
// range, unimplemented, unauthenticated). "etcdserver: request timed out", "leader changed",
// Unavailable, DeadlineExceeded and anything unknown are ambiguous.
bool write_may_have_applied(const GatewayError& error);

}  // namespace faultline::etcd
