// What an anomaly means and whether it breaks what the database claims, for failure reports.
//
// A database adapter says what it claims with its options (Db::claims(): the isolation level,
// the Elle model it claims, one sentence and where the claim is made, and the anomalies it
// accepts by design). Each anomaly type a checker reports has a meaning in one sentence
// (Adya's and Elle's definitions for the transactional ones) and a judgement against the
// claim:
//   - contradicts: the claimed model forbids it (Elle's lattice, checkers/elle/report.h; the
//     anomalies of non-transactional checkers map to the Elle anomaly they are an instance of:
//     a lost increment is a lost update, a non-linearizable register read a real-time cycle);
//     anomalies no model allows (an acknowledged write lost, a value nobody wrote, replicas
//     that do not converge) contradict every claim;
//   - by-design: the adapter names it as accepted (pglogical's last-update-wins loses later
//     writes under clock skew);
//   - not-claimed: the claimed model allows it (a stale read under snapshot isolation).
//
// Thread safety: pure functions over values.
#pragma once

#include <set>
#include <string>

#include "harness/op.h"

namespace faultline::report {

struct AnomalyMeaning {
  std::string meaning;  // one sentence, plain words
  // The Elle anomaly type this is an instance of ("lost-update", "G-single-realtime", ...);
  // "*" when no model allows it; "" when it is not about isolation (judged not-claimed).
  std::string elle;
};

// The meaning of `type` as reported by `checker` ("list-append", "counter", ...).
AnomalyMeaning anomaly_meaning(const std::string& checker, const std::string& type);

struct Judgement {
  std::string status;  // "contradicts" | "by-design" | "not-claimed" | "no-claim"
  std::string why;     // one sentence
};

// Judges an anomaly against `claims` (Db::claims(); null: no claim known, status no-claim
// unless no model allows it).
Judgement judge(const Json& claims, const std::string& checker, const std::string& type);

// "snapshot-isolation" for a claimed model; "" when the claims say none.
std::string claimed_model(const Json& claims);

// The anomaly types a consistency model forbids, or null for an unknown model. The lattice
// lives with the transactional checkers (checkers/elle/report.h), which set it at start-up;
// until then every model is unknown.
using ModelForbids = const std::set<std::string>* (*)(const std::string& model);
bool set_model_lattice(ModelForbids forbids);

}  // namespace faultline::report
