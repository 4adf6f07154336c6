#include "clusters/etcd/etcd_proto.h"

#include <array>

namespace faultline::etcd {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;  // '-' and '_': the URL-safe alphabet, accepted too
  if (c == '/' || c == '_') return 63;
  return -1;
}

// A 64-bit integer of proto3 JSON: a string of digits or a number; absent is 0.
int64_t int_field(const Json& object, const char* name) {
  if (!object.is_object()) return 0;
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    try {
      size_t used = 0;
      int64_t v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
  }
  throw ProtocolError("etcd answer: field '" + std::string(name) +
                      "' is not an integer: " + json_text(*it));
}

std::string text_field(const Json& object, const char* name) {
  if (!object.is_object()) return "";
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_unsigned()) return std::to_string(it->get<uint64_t>());
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  throw ProtocolError("etcd answer: field '" + std::string(name) +
                      "' is not a string: " + json_text(*it));
}

std::string bytes_field(const Json& object, const char* name) {
  return base64_decode(text_field(object, name));
}

const char* target_name(Compare::Target t) {
  switch (t) {
    case Compare::Target::kValue:
      return "VALUE";
    case Compare::Target::kMod:
      return "MOD";
    case Compare::Target::kCreate:
      return "CREATE";
    case Compare::Target::kVersion:
      return "VERSION";
  }
  return "VALUE";
}

RangeResult range_of(const Json& r) {
  if (!r.is_object()) throw ProtocolError("etcd answer: a range result is not an object");
  RangeResult out;
  out.revision = header_revision(r);
  if (auto it = r.find("kvs"); it != r.end() && !it->is_null()) {
    if (!it->is_array()) throw ProtocolError("etcd answer: 'kvs' is not an array");
    for (const Json& kv : *it) {
      KeyValue k;
      k.key = bytes_field(kv, "key");
      k.value = bytes_field(kv, "value");
      k.create_revision = int_field(kv, "create_revision");
      k.mod_revision = int_field(kv, "mod_revision");
      k.version = int_field(kv, "version");
      out.kvs.push_back(std::move(k));
    }
  }
  return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = base64_value(c);
    if (v < 0) {
      throw ProtocolError("etcd answer: bad base64 character '" + std::string(1, c) + "'");
    }
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) throw ProtocolError("etcd answer: truncated base64 text");
  return out;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (uint8_t(end.back()) < 0xff) {
      end.back() = char(uint8_t(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

Json range_request(std::string_view key, std::string_view range_end, bool serializable,
                   bool keys_only) {
  Json r = {{"key", base64_encode(key)}};
  if (!range_end.empty()) r["range_end"] = base64_encode(range_end);
  if (serializable) r["serializable"] = true;
  if (keys_only) r["keys_only"] = true;
  return r;
}

Json put_request(std::string_view key, std::string_view value) {
  return {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
}

Compare Compare::value_equals(std::string key, std::string value) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kValue;
  c.value = std::move(value);
  return c;
}

Compare Compare::mod_revision_equals(std::string key, int64_t revision) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kMod;
  c.revision = revision;
  return c;
}

Json txn_range_op(std::string_view key, std::string_view range_end, bool serializable) {
  return {{"request_range", range_request(key, range_end, serializable)}};
}

Json txn_put_op(std::string_view key, std::string_view value) {
  return {{"request_put", put_request(key, value)}};
}

Json txn_request(const std::vector<Compare>& compares, const std::vector<Json>& success,
                 const std::vector<Json>& failure) {
  Json cs = Json::array();
  for (const Compare& c : compares) {
    Json j = {
        {"key", base64_encode(c.key)}, {"result", "EQUAL"}, {"target", target_name(c.target)}};
    switch (c.target) {
      case Compare::Target::kValue:
        j["value"] = base64_encode(c.value);
        break;
      case Compare::Target::kMod:
        j["mod_revision"] = std::to_string(c.revision);
        break;
      case Compare::Target::kCreate:
        j["create_revision"] = std::to_string(c.revision);
        break;
      case Compare::Target::kVersion:
        j["version"] = std::to_string(c.revision);
        break;
    }
    cs.push_back(std::move(j));
  }
  Json r = Json::object();
  if (!cs.empty()) r["compare"] = std::move(cs);
  r["success"] = Json(success);
  if (!failure.empty()) r["failure"] = Json(failure);
  return r;
}

int64_t header_revision(const Json& answer) {
  if (!answer.is_object()) return 0;
  auto it = answer.find("header");
  if (it == answer.end()) return 0;
  return int_field(*it, "revision");
}

RangeResult parse_range(const Json& answer) { return range_of(answer); }

TxnResult parse_txn(const Json& answer) {
  if (!answer.is_object()) throw ProtocolError("etcd answer: a txn answer is not an object");
  TxnResult out;
  out.revision = header_revision(answer);
  if (auto it = answer.find("succeeded"); it != answer.end() && !it->is_null()) {
    if (!it->is_boolean()) throw ProtocolError("etcd answer: 'succeeded' is not a boolean");
    out.succeeded = it->get<bool>();
  }
  if (auto it = answer.find("responses"); it != answer.end() && !it->is_null()) {
    if (!it->is_array()) throw ProtocolError("etcd answer: 'responses' is not an array");
    for (const Json& r : *it) {
      if (auto rr = r.find("response_range"); rr != r.end()) {
        out.responses.push_back(range_of(*rr));
      } else {
        RangeResult empty;
        empty.revision = out.revision;
        out.responses.push_back(std::move(empty));
      }
    }
  }
  return out;
}

MemberStatus parse_status(const Json& answer) {
  if (!answer.is_object()) throw ProtocolError("etcd answer: a status answer is not an object");
  MemberStatus s;
  if (auto it = answer.find("header"); it != answer.end())
    s.member_id = text_field(*it, "member_id");
  s.leader = text_field(answer, "leader");
  if (s.leader == "0") s.leader.clear();
  s.raft_term = int_field(answer, answer.contains("raftTerm") ? "raftTerm" : "raft_term");
  s.version = text_field(answer, "version");
  return s;
}

namespace {

Member parse_member(const Json& m) {
  if (!m.is_object()) throw ProtocolError("etcd answer: a member is not an object: " + m.dump());
  Member out;
  out.id = text_field(m, "ID");
  if (out.id.empty()) throw ProtocolError("etcd answer: a member without an ID: " + m.dump());
  out.name = text_field(m, "name");
  if (auto it = m.find("peerURLs"); it != m.end() && it->is_array()) {
    for (const auto& u : *it) {
      if (!u.is_string()) throw ProtocolError("etcd answer: a peer URL is not a string");
      out.peer_urls.push_back(u.get<std::string>());
    }
  }
  if (auto it = m.find("isLearner"); it != m.end() && it->is_boolean()) out.is_learner = *it;
  return out;
}

}  // namespace

std::vector<Member> parse_members(const Json& answer) {
  if (!answer.is_object()) throw ProtocolError("etcd answer: a member list is not an object");
  std::vector<Member> out;
  auto it = answer.find("members");
  if (it == answer.end() || it->is_null()) return out;
  if (!it->is_array()) throw ProtocolError("etcd answer: 'members' is not a list");
  for (const auto& m : *it) out.push_back(parse_member(m));
  return out;
}

Member parse_added_member(const Json& answer) {
  if (!answer.is_object() || !answer.contains("member")) {
    throw ProtocolError("etcd answer: a member add answer names no member: " + answer.dump());
  }
  return parse_member(answer["member"]);
}

std::string initial_cluster(const std::vector<Member>& members, const std::string& unnamed) {
  std::string out;
  for (const auto& m : members) {
    const std::string& name = m.name.empty() ? unnamed : m.name;
    for (const auto& u : m.peer_urls) {
      if (!out.empty()) out += ",";
      out += name;
      out += "=";
      out += u;
    }
  }
  return out;
}

std::string GatewayError::describe(long http_status) const {
  return "etcd: " + message + " (grpc code " + std::to_string(code) + ", http " +
         std::to_string(http_status) + ")";
}

std::optional<GatewayError> parse_error(long http_status, std::string_view body) {
  Json j = Json::parse(body.begin(), body.end(), nullptr, false);
  bool is_error_body =
      j.is_object() && (j.contains("error") || j.contains("code")) && !j.contains("header");
  if (http_status >= 200 && http_status < 300 && !is_error_body) return std::nullopt;
  GatewayError e;
  if (j.is_object()) {
    if (auto it = j.find("code"); it != j.end() && it->is_number_integer()) e.code = it->get<int>();
    for (const char* field : {"message", "error"}) {
      if (auto it = j.find(field);
          it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
        e.message = it->get<std::string>();
        break;
      }
    }
  }
  if (e.message.empty()) {
    e.message = std::string(body.substr(0, 200));
    if (e.message.empty()) e.message = "empty answer";
  }
  return e;
}

bool write_may_have_applied(const GatewayError& error) {
  // Messages that always mean "unknown", whatever code they came with.
  for (const char* ambiguous : {"timed out", "leader changed", "deadline exceeded", "canceled",
                                "connection", "stopped", "transport"}) {
    if (error.message.find(ambiguous) != std::string::npos) return true;
  }
  switch (error.code) {
    case 3:   // InvalidArgument (e.g. duplicate key in txn, bad request)
    case 5:   // NotFound
    case 6:   // AlreadyExists
    case 7:   // PermissionDenied
    case 8:   // ResourceExhausted: "too many requests", refused before proposing
    case 9:   // FailedPrecondition
    case 11:  // OutOfRange (compacted)
    case 12:  // Unimplemented
    case 16:  // Unauthenticated
      return false;
    default:
      return true;
  }
}

}  // namespace faultline::etcd
