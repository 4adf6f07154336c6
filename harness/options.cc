#include "harness/options.h"

#include <cmath>
#include <stdexcept>

namespace faultline {

namespace {

std::string known_keys(const OptionDecls& decls) {
  std::string list;
  for (const auto& d : decls) list += (list.empty() ? "" : ", ") + d.key;
  return list.empty() ? "none" : list;
}

// 1 as "1", 0.5 as "0.5" (JSON would say "1.0").
std::string number_text(double x) {
  if (x == std::floor(x) && std::abs(x) < 1e15) return std::to_string(static_cast<int64_t>(x));
  return Json(x).dump();
}

}  // namespace

std::vector<std::string> describe_options(const OptionDecls& decls) {
  std::vector<std::string> out;
  for (const auto& d : decls) {
    std::string line = d.key;
    if (!d.default_value.is_null()) line += " = " + d.default_value.dump();
    if (!d.doc.empty()) line += ": " + d.doc;
    out.push_back(std::move(line));
  }
  return out;
}

Options::Options(const Json& options, const OptionDecls& decls, std::string where)
    : given_(options.is_null() ? Json::object() : options),
      decls_(decls),
      where_(std::move(where)) {
  if (!given_.is_object()) throw ConfigError(where_ + ": options must be a JSON object");
  for (const auto& item : given_.items()) {
    bool known = false;
    for (const auto& d : decls_) known = known || d.key == item.key();
    if (!known) {
      throw ConfigError(where_ + ": unknown option '" + item.key() +
                        "' (known: " + known_keys(decls_) + ")");
    }
  }
}

const OptionDecl& Options::decl(const std::string& key) const {
  for (const auto& d : decls_) {
    if (d.key == key) return d;
  }
  throw std::logic_error(where_ + ": option '" + key + "' is read but not declared");
}

bool Options::has(const std::string& key) const {
  decl(key);
  return given_.contains(key);
}

const Json& Options::raw(const std::string& key) const {
  const OptionDecl& d = decl(key);
  auto it = given_.find(key);
  return it != given_.end() ? *it : d.default_value;
}

const Json& Options::value(const std::string& key) const {
  const Json& v = raw(key);
  if (v.is_null() && !given_.contains(key)) {
    throw std::logic_error(where_ + ": option '" + key + "' has no default and was not given");
  }
  return v;
}

ConfigError Options::error(const std::string& key, const std::string& what) const {
  return ConfigError(where_ + ": option '" + key + "' " + what);
}

int64_t Options::integer(const std::string& key, int64_t min, int64_t max) const {
  constexpr int64_t kLow = std::numeric_limits<int64_t>::min();
  constexpr int64_t kHigh = std::numeric_limits<int64_t>::max();
  const std::string range = min != kLow && max != kHigh
                                ? " from " + std::to_string(min) + " to " + std::to_string(max)
                            : min != kLow  ? " >= " + std::to_string(min)
                            : max != kHigh ? " <= " + std::to_string(max)
                                           : "";
  const Json& v = value(key);
  bool ok = v.is_number_integer();
  // Integers above INT64_MAX arrive as unsigned.
  if (ok && v.is_number_unsigned()) ok = v.get<uint64_t>() <= static_cast<uint64_t>(max);
  if (ok) ok = v.get<int64_t>() >= min && v.get<int64_t>() <= max;
  if (!ok) throw error(key, "must be an integer" + range + ", not " + v.dump());
  return v.get<int64_t>();
}

double Options::number(const std::string& key, double min, double max) const {
  const std::string range = !std::isinf(min) && !std::isinf(max)
                                ? " in [" + number_text(min) + ", " + number_text(max) + "]"
                            : !std::isinf(min) ? " >= " + number_text(min)
                            : !std::isinf(max) ? " <= " + number_text(max)
                                               : "";
  const Json& v = value(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < min ||
      v.get<double>() > max) {
    throw error(key, "must be a number" + range + ", not " + v.dump());
  }
  return v.get<double>();
}

bool Options::flag(const std::string& key) const {
  const Json& v = value(key);
  if (!v.is_boolean()) throw error(key, "must be true or false, not " + v.dump());
  return v.get<bool>();
}

std::string Options::text(const std::string& key,
                          std::initializer_list<const char*> choices) const {
  const Json& v = value(key);
  std::string list;
  for (const char* c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
  if (!v.is_string()) {
    throw error(key, "must be a string" + (list.empty() ? "" : " (one of " + list + ")") +
                         ", not " + v.dump());
  }
  std::string s = v.get<std::string>();
  if (choices.size() == 0) return s;
  for (const char* c : choices) {
    if (s == c) return s;
  }
  throw error(key, "must be one of " + list + ", not " + v.dump());
}

std::vector<std::string> Options::texts(const std::string& key) const {
  const Json& v = value(key);
  std::vector<std::string> out;
  bool ok = v.is_array();
  for (size_t i = 0; ok && i < v.size(); ++i) {
    ok = v[i].is_string();
    if (ok) out.push_back(v[i].get<std::string>());
  }
  if (!ok) throw error(key, "must be a list of strings, not " + v.dump());
  return out;
}

std::vector<int64_t> Options::integers(const std::string& key) const {
  const Json& v = value(key);
  std::vector<int64_t> out;
  bool ok = v.is_array();
  for (size_t i = 0; ok && i < v.size(); ++i) {
    ok = v[i].is_number_integer();
    if (ok) out.push_back(v[i].get<int64_t>());
  }
  if (!ok) throw error(key, "must be a list of integers, not " + v.dump());
  return out;
}

}  // namespace faultline
