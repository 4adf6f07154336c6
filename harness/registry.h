// Registry: things that register themselves by name from their own file (models, checkers,
// workloads, nemeses, databases, CLI commands), so that adding one is adding one file.
//
//   namespace { const bool registered = faultline::Registry<Factory>::add("kind", {...}); }
//
// Every entry also lands in the catalog that `faultline list` prints. Names are kebab-case.
// A second registration of a name is refused (the first stays) and recorded; main() exits
// with an internal error naming it before doing anything.
//
// Thread safety: entries are added by static initialisers before main; after that the
// registries are only read, from any thread.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "harness/options.h"

namespace faultline {

struct CatalogEntry {
  std::string kind;  // "model", "checker", "workload", "nemesis", "db", ...
  std::string name;
  std::string description;  // one line
  OptionDecls options;      // what `faultline list` prints under the entry
};

void catalog_add(CatalogEntry entry);
// A name registered twice under one registry (which entry wins would depend on the order of
// static initialisation): recorded by Registry::add, reported by main() as a startup error.
void registry_duplicate(const std::string& kind, const std::string& name);
// "duplicate <kind> '<name>'" for each, in registration order; empty in a sound build.
std::vector<std::string> registry_duplicates();
// All entries, ordered by kind, then name.
std::vector<CatalogEntry> catalog();

// Thrown when a name is not registered; what() lists the names that are. A ConfigError (exit
// 254); its own type only so that the spec reader can name the key that held the name.
class UnknownNameError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

template <typename Entry>
class Registry {
 public:
  // `options`: the keys the entry's factory reads (with Options, harness/options.h).
  static bool add(const std::string& kind, const std::string& name, const std::string& description,
                  Entry entry, OptionDecls options = {}) {
    if (!entries().emplace(name, std::move(entry)).second) {
      registry_duplicate(kind, name);
      return false;
    }
    catalog_add({kind, name, description, std::move(options)});
    return true;
  }
  static const Entry* find(const std::string& name) {
    auto it = entries().find(name);
    return it == entries().end() ? nullptr : &it->second;
  }
  // As find, but throws UnknownNameError("unknown <kind> 'x' (known: a, b, c)").
  static const Entry& get(const std::string& kind, const std::string& name) {
    if (const Entry* e = find(name)) return *e;
    std::string known;
    for (const auto& [n, e] : entries()) known += (known.empty() ? "" : ", ") + n;
    throw UnknownNameError("unknown " + kind + " '" + name +
                           "' (known: " + (known.empty() ? std::string("none") : known) + ")");
  }
  static std::vector<std::string> names() {
    std::vector<std::string> out;
    for (const auto& [n, e] : entries()) out.push_back(n);
    return out;
  }

 private:
  static std::map<std::string, Entry>& entries() {
    static std::map<std::string, Entry> m;
    return m;
  }
};

}  // namespace faultline
