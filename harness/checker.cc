#include "harness/checker.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "harness/errors.h"

namespace faultline {

std::string_view to_string(Validity v) {
  switch (v) {
    case Validity::kValid:
      return "valid";
    case Validity::kInvalid:
      return "invalid";
    case Validity::kUnknown:
      return "unknown";
  }
  return "?";
}

Validity merge(Validity a, Validity b) {
  if (a == Validity::kInvalid || b == Validity::kInvalid) return Validity::kInvalid;
  if (a == Validity::kUnknown || b == Validity::kUnknown) return Validity::kUnknown;
  return Validity::kValid;
}

int exit_code_of(Validity v) {
  switch (v) {
    case Validity::kValid:
      return 0;
    case Validity::kInvalid:
      return 1;
    case Validity::kUnknown:
      return 2;
  }
  return 255;
}

std::vector<bool> first_of_each_type(const std::vector<std::string>& types, size_t cap,
                                     size_t per_type) {
  std::vector<bool> shown(types.size(), false);
  std::map<std::string, size_t> of_type;
  size_t n = 0;
  for (size_t i = 0; i < types.size(); ++i) {
    if (!types[i].empty() && of_type[types[i]]++ == 0) {
      shown[i] = true;
      ++n;
    }
  }
  of_type.clear();
  for (size_t i = 0; i < types.size(); ++i) {
    if (shown[i]) ++of_type[types[i]];
  }
  for (size_t i = 0; i < types.size() && n < cap; ++i) {
    if (shown[i] || of_type[types[i]] >= per_type) continue;
    shown[i] = true;
    ++of_type[types[i]];
    ++n;
  }
  return shown;
}

}  // namespace faultline
