#include "harness/registry.h"

#include <algorithm>
#include <mutex>

namespace faultline {
namespace {
std::vector<CatalogEntry>& entries() {
  static std::vector<CatalogEntry> v;
  return v;
}
}  // namespace

void catalog_add(CatalogEntry entry) { entries().push_back(std::move(entry)); }

std::vector<CatalogEntry> catalog() {
  std::vector<CatalogEntry> out = entries();
  std::sort(out.begin(), out.end(), [](const CatalogEntry& a, const CatalogEntry& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return out;
}

}  // namespace faultline
