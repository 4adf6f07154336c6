#include "checkers/lin/model.h"

#include <set>
#include <stdexcept>

#include "harness/errors.h"

namespace faultline::lin {

ValueTable::ValueTable() { intern_text("null"); }

int64_t ValueTable::intern(const Json& value) { return intern_text(json_text(value)); }

int64_t ValueTable::intern_text(const std::string& text) {
  auto [it, inserted] = ids_.emplace(text, static_cast<int64_t>(texts_.size()));
  if (inserted) texts_.push_back(text);
  return it->second;
}

size_t VectorTable::Hash::operator()(const std::vector<int64_t>& v) const {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ v.size();
  for (int64_t x : v) {
    h ^= static_cast<uint64_t>(x) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  }
  return static_cast<size_t>(h);
}

int64_t VectorTable::intern(const std::vector<int64_t>& v) {
  auto [it, inserted] = ids_.emplace(v, static_cast<int64_t>(vecs_.size()));
  if (inserted) vecs_.push_back(v);
  return it->second;
}

void bad_op(const Operation& op, const std::string& model, const std::string& why) {
  std::string where = op.invoke->line > 0 ? "line " + std::to_string(op.invoke->line)
                                          : "op " + std::to_string(op.invoke->index);
  throw ConfigError(where + ": " + op.invoke->f + " " + json_text(op.invoke->value) +
                    " does not fit the " + model + " model: " + why);
}

Outcome outcome_of(const Operation& op) {
  switch (op.type()) {
    case OpType::kOk:
      return Outcome::kOk;
    case OpType::kFail:
      return Outcome::kFail;
    default:
      return Outcome::kInfo;
  }
}

std::string describe_value(const std::string& text) { return text == "null" ? "nil" : text; }

std::string guess_model(const History& history) {
  std::set<std::string> fs;
  bool keyed = false;
  for (const Op& op : history) {
    if (op.is_nemesis() || !op.is_invoke()) continue;
    fs.insert(op.f);
    if (op.extra.contains("key")) keyed = true;
  }
  auto only = [&](std::initializer_list<const char*> allowed) {
    if (fs.empty()) return false;
    for (const auto& f : fs) {
      bool ok = false;
      for (const char* a : allowed) ok = ok || f == a;
      if (!ok) return false;
    }
    return true;
  };
  if (only({"get", "put", "append"})) return "kv";
  if (only({"read", "write"})) return keyed ? "kv" : "register";
  if (only({"read", "write", "cas"})) return "cas-register";
  if (only({"add", "read"})) {
    for (const Op& op : history) {
      if (op.type == OpType::kOk && op.f == "read") {
        return op.value.is_array() ? "set" : "counter";
      }
    }
    return "set";
  }
  if (only({"enqueue", "dequeue"})) return "fifo-queue";
  if (only({"acquire", "release"})) return "mutex";
  return "";
}

}  // namespace faultline::lin
