#include "harness/registry.h"

#include <algorithm>
#include <mutex>
#include <string>

namespace faultline {
namespace {
std::vector<CatalogEntry>& entries() {
  static std::vector<CatalogEntry> v;
  return v;
}
std::vector<std::string>& duplicates() {
  static std::vector<std::string> v;
  return v;
}
}  // namespace

void catalog_add(CatalogEntry entry) { entries().push_back(std::move(entry)); }

void registry_duplicate(const std::string& kind, const std::string& name) {
  duplicates().push_back("duplicate " + kind + " '" + name + "'");
}

std::vector<std::string> registry_duplicates() { return duplicates(); }

std::vector<CatalogEntry> catalog() {
  std::vector<CatalogEntry> out = entries();
  std::sort(out.begin(), out.end(), [](const CatalogEntry& a, const CatalogEntry& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return out;
}

}  // namespace faultline
