#include "harness/report/claims.h"

#include <atomic>
#include <map>

namespace faultline::report {

namespace {

std::atomic<ModelForbids> g_lattice{nullptr};

struct Entry {
  const char* meaning;
  const char* elle;
};

// Elle's and Adya's anomalies (the transactional checkers report these names, with
// "-process" and "-realtime" variants: the cycle needs a process-order or real-time edge).
const std::map<std::string, Entry>& elle_meanings() {
  static const std::map<std::string, Entry> m = {
      {"G0",
       {"write cycle (dirty write): transactions overwrote each other's writes in a cycle", ""}},
      {"G1a",
       {"aborted read: a transaction read a value written by a transaction that failed", ""}},
      {"G1b",
       {"intermediate read: a transaction read a value another transaction overwrote before it "
        "committed",
        ""}},
      {"G1c",
       {"circular information flow: transactions each saw the other's writes (a cycle of "
        "write-write and write-read dependencies)",
        ""}},
      {"G-single",
       {"read skew: a cycle with exactly one anti-dependency (one transaction missed a write that "
        "another it depends on saw)",
        ""}},
      {"G-nonadjacent",
       {"a cycle whose anti-dependencies are never adjacent: snapshot isolation forbids it", ""}},
      {"G2-item",
       {"write skew: a cycle of anti-dependencies (each transaction missed the other's write), "
        "impossible in any serial order",
        ""}},
      {"lost-update",
       {"lost update (P4): two transactions read the same version of a key and both wrote it; "
        "one write was lost",
        ""}},
      {"fractured-read",
       {"fractured read: a transaction saw some but not all of another transaction's writes", ""}},
      {"internal",
       {"internal inconsistency: a transaction did not see its own earlier writes", ""}},
      {"dirty-update", {"dirty update: a failed transaction's write was built upon", ""}},
      {"duplicate-elements", {"a read showed the same appended element twice", ""}},
      {"incompatible-order",
       {"two reads of a key disagree on the order of its elements: no single version order exists",
        ""}},
      {"garbage-read", {"a read returned a value nobody wrote", ""}},
      {"future-read", {"a transaction read a value written after it", ""}},
      {"cyclic-versions", {"the version order of a key is cyclic", ""}},
  };
  return m;
}

// The non-transactional checkers' anomalies, and the Elle anomaly each is an instance of.
const std::map<std::string, Entry>& other_meanings() {
  static const std::map<std::string, Entry> m = {
      {"linearizable/nonlinearizable",
       {"not linearizable: no order of the operations that respects real time gives these "
        "results (a stale or impossible read)",
        "G-single-realtime"}},
      {"counter/lost-update-pair",
       {"lost update: two increments read the same value and both wrote value + 1; one was "
        "lost",
        "lost-update"}},
      {"counter/lost-updates",
       {"acknowledged increments are missing from the final value on every node", "*"}},
      {"counter/phantom-increments",
       {"the final value is higher than every increment that could have happened", "*"}},
      {"set-full/lost", {"acknowledged adds are missing from the final reads", "*"}},
      {"set-full/unexpected", {"a read holds an element nobody added", "*"}},
      {"set-full/stale", {"an acknowledged add was missing from reads for a while", ""}},
      {"unique-ids/duplicate-id", {"the same id was handed out twice", "*"}},
      {"unique-ids/non-monotonic",
       {"ids do not grow in real-time order: a later request got a smaller id",
        "G-single-realtime"}},
      {"bank/wrong-total",
       {"a read of every balance does not sum to the total: it saw part of a transfer (read "
        "skew)",
        "G-single"}},
      {"bank/negative-balance",
       {"a balance went negative: concurrent transfers each checked the balance and both "
        "withdrew (write skew)",
        "G2-item"}},
      {"bank/wrong-accounts", {"a read showed accounts that do not exist", "*"}},
      {"lww/lost-later-write",
       {"a write that completed before another began was overwritten by it in the final state "
        "(the surviving value is not the last in real time)",
        "G0-realtime"}},
      {"lww/failed-write-survived", {"a write that failed is the surviving value", "*"}},
      {"replication/replication-halted",
       {"a replication channel stopped applying changes: the nodes no longer replicate", "*"}},
  };
  return m;
}

// Names every checker uses alike.
const std::map<std::string, Entry>& common_meanings() {
  static const std::map<std::string, Entry> m = {
      {"divergence",
       {"the nodes do not converge: after healing, final reads on different nodes disagree", "*"}},
      {"garbage", {"a read returned a value nobody wrote", "*"}},
      {"malformed-read", {"a read returned something the workload cannot have written", "*"}},
  };
  return m;
}

// "G-single-process" -> "G-single" and " (with process order)".
std::pair<std::string, std::string> split_variant(const std::string& type) {
  for (const char* suffix : {"-process", "-realtime"}) {
    const std::string s = suffix;
    if (type.size() > s.size() && type.compare(type.size() - s.size(), s.size(), s) == 0) {
      return {type.substr(0, type.size() - s.size()),
              s == "-process" ? " (the cycle includes the order of one process's operations)"
                              : " (the cycle includes real-time order: one transaction ended "
                                "before the next began)"};
    }
  }
  return {type, ""};
}

std::string lookup_by_design(const Json& claims, const std::string& checker,
                             const std::string& type) {
  if (!claims.is_object()) return "";
  auto bd = claims.find("by-design");
  if (bd == claims.end() || !bd->is_object()) return "";
  std::string qualified = checker;
  qualified += "/";
  qualified += type;
  for (const std::string& key : {qualified, type}) {
    auto it = bd->find(key);
    if (it != bd->end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

}  // namespace

bool set_model_lattice(ModelForbids forbids) {
  g_lattice.store(forbids);
  return true;
}

std::string claimed_model(const Json& claims) {
  if (!claims.is_object()) return "";
  std::string m = claims.value("model", std::string());
  return m == "none" ? "" : m;
}

AnomalyMeaning anomaly_meaning(const std::string& checker, const std::string& type) {
  if (auto it = other_meanings().find(checker + "/" + type); it != other_meanings().end()) {
    return {it->second.meaning, it->second.elle};
  }
  if (auto it = common_meanings().find(type); it != common_meanings().end()) {
    return {it->second.meaning, it->second.elle};
  }
  auto [base, variant] = split_variant(type);
  if (auto it = elle_meanings().find(base); it != elle_meanings().end()) {
    return {std::string(it->second.meaning) + variant, type};
  }
  if (checker == "causal" || checker == "txn-causal") {
    return {
        "a causality violation: an operation missed one it depends on through a session or "
        "a read (" +
            type + ")",
        "G-single-process"};
  }
  return {type, ""};
}

Judgement judge(const Json& claims, const std::string& checker, const std::string& type) {
  const AnomalyMeaning m = anomaly_meaning(checker, type);
  if (std::string why = lookup_by_design(claims, checker, type); !why.empty()) {
    return {"by-design", why};
  }
  if (m.elle == "*") {
    return {"contradicts", "no consistency model allows it"};
  }
  const std::string model = claimed_model(claims);
  if (model.empty()) {
    if (claims.is_object()) {
      return {"not-claimed", "the database claims no isolation across nodes"};
    }
    return {"no-claim", "no claim is recorded for this database"};
  }
  if (m.elle.empty()) return {"not-claimed", "not a matter of isolation"};
  ModelForbids lattice = g_lattice.load();
  const std::set<std::string>* forbidden = lattice ? lattice(model) : nullptr;
  if (!forbidden) return {"no-claim", "the claimed model '" + model + "' is not known here"};
  if (forbidden->count(m.elle)) {
    return {"contradicts", model + " forbids " + m.elle};
  }
  return {"not-claimed", model + " allows " + m.elle};
}

}  // namespace faultline::report
