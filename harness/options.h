// Options: how an extension (database, nemesis, workload, checker, model) reads its options
// from the spec, with every key declared once, with its default and a line of doc.
//
//   const OptionDecls kOptions = {
//       {"keys", 3, "number of keys written at once"},
//       {"read-fraction", 0.2, "share of ops that are reads"},
//       {"engine", nullptr, "auto | search | smt (default: auto)"},  // null: no fixed default
//   };
//   WorkloadRegistry::add("workload", "lww", "...", factory, kOptions);  // `faultline list`
//   ...
//   Options o(json, kOptions, "workload 'lww'");   // unknown keys: ConfigError naming them
//   int64_t keys = o.integer("keys", 1);           // the declared default when not given
//
// Every getter checks the JSON type and range of a given value and throws ConfigError naming
// `where` and the key; asking for a key that was not declared, or for the default of a key
// declared without one, is a bug (std::logic_error, exit 255). The declaration is what
// `faultline list` prints, so the defaults it shows are the ones used.
//
// Thread safety: an Options is read by the one thread that builds the extension.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "harness/op.h"

namespace faultline {

struct OptionDecl {
  std::string key;
  Json default_value;  // null: no fixed default (the extension computes one, or it is optional)
  std::string doc;     // one line; says the default in words when default_value is null
};
using OptionDecls = std::vector<OptionDecl>;

// "key = default: doc" lines, one per option, for `faultline list`.
std::vector<std::string> describe_options(const OptionDecls& decls);

class Options {
 public:
  // Throws ConfigError unless `options` is null or an object whose keys are all declared.
  Options(const Json& options, const OptionDecls& decls, std::string where);

  // Whether the spec gave the key.
  bool has(const std::string& key) const;
  // The value given, else the declared default (null when there is none).
  const Json& raw(const std::string& key) const;

  int64_t integer(const std::string& key, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const;
  double number(const std::string& key, double min = -std::numeric_limits<double>::infinity(),
                double max = std::numeric_limits<double>::infinity()) const;
  // A number in [0, 1].
  double fraction(const std::string& key) const { return number(key, 0, 1); }
  bool flag(const std::string& key) const;
  // A string; when `choices` is not empty, one of them.
  std::string text(const std::string& key, std::initializer_list<const char*> choices = {}) const;
  // A list of strings.
  std::vector<std::string> texts(const std::string& key) const;
  // A list of integers.
  std::vector<int64_t> integers(const std::string& key) const;

  const std::string& where() const { return where_; }
  // ConfigError("<where>: option '<key>' <what>").
  ConfigError error(const std::string& key, const std::string& what) const;

 private:
  const OptionDecl& decl(const std::string& key) const;
  // The value to read for `key`: the given one, else the default; a key with neither is a bug.
  const Json& value(const std::string& key) const;

  Json given_;
  OptionDecls decls_;
  std::string where_;
};

}  // namespace faultline
