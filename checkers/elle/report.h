// Anomalies, the consistency-model lattice, and the CheckResult of a transactional checker.
//
// Each model is defined by the anomalies it forbids (Adya's PL levels, Elle's and Cerone's
// models); model A is stronger than model B when A forbids everything B forbids and more.
// Anomalies found rule out every model that forbids one of them; the strongest models still
// possible are the maximal ones not ruled out. A checker built with a consistency model M
// answers invalid when it found an anomaly M forbids, unknown when a search that could have
// found one was incomplete (deadline, budget, or an order the checker could not decide), and
// valid otherwise.
//
// Thread safety: pure functions over values.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "checkers/elle/graph.h"
#include "harness/checker.h"

namespace faultline::elle {

struct Anomaly {
  std::string type;         // "G-single", "lost-update", ...
  std::string explanation;  // one paragraph, plain words
  Json detail;              // {"type", "ops": [...], ...}; "explanation" is added
  std::string dot;          // graphviz text of the cycle; empty when not a cycle
};

// Every model name known to the lattice, weakest first (as listed in the docs).
const std::vector<std::string>& model_names();
// Canonical name of a model (accepts aliases such as "si", "PL-3" and any case); empty when
// unknown.
std::string canonical_model(const std::string& name);
// Anomaly types the model forbids. REQUIRES: a canonical name.
const std::set<std::string>& forbidden_by(const std::string& model);
// Models ruled out by the anomaly types, and the strongest ones still possible.
std::vector<std::string> ruled_out(const std::set<std::string>& types);
std::vector<std::string> strongest_possible(const std::set<std::string>& types);

// Describes the transactions of one analysis for explanations.
class TxnDescriber {
 public:
  virtual ~TxnDescriber() = default;
  // {"index", "process", "type", "value"} of the transaction's completion (or invocation).
  virtual Json op_json(uint32_t txn) const = 0;
  // One sentence saying why a precedes b by `kind`, naming them na and nb, ending with the
  // kind in parentheses: "T1 appended 3 to 5; T2 read 5 without 3, so T2 precedes T1 (rw)".
  virtual std::string edge_sentence(uint32_t a, uint32_t b, uint8_t kind, const std::string& na,
                                    const std::string& nb) const = 0;
};

// The anomaly for a cycle: explanation, ops, steps, dot text.
Anomaly cycle_anomaly(const FoundCycle& cycle, const TxnDescriber& describer);

// The fractured reads of `g` (analysis.h) as anomalies, at most kMaxPerType of them appended
// to `out`; returns how many there are in all.
size_t add_fractured_reads(const DepGraph& g, const TxnDescriber& describer,
                           std::vector<Anomaly>* out);

struct ReportInput;

// The cycles of `g` (finished), each as an anomaly (at most kMaxPerType per type listed, every
// one counted in `counts`), then its fractured reads; types whose search was cut short go to
// `r->incomplete`, and a deadline during the search to `r->unknown_reason`.
void add_cycle_anomalies(const DepGraph& g, const TxnDescriber& describer, const CheckContext& ctx,
                         std::map<std::string, size_t>* counts, ReportInput* r);

struct ReportInput {
  std::string checker;  // "list-append", used in artifact names
  std::string model;    // canonical consistency model
  std::vector<Anomaly> anomalies;
  std::set<std::string> incomplete;  // anomaly types whose search was not complete
  std::string unknown_reason;        // non-empty: the check could not finish (deadline, ...)
  Json stats = Json::object();
  // Anomalies found per type, when more were found than listed in `anomalies`.
  std::map<std::string, size_t> total_counts;
};

// Builds the result: validity for the model, details with "summary", "explanation" (one
// paragraph per anomaly, at most kMaxExplained, but the first of every type always),
// "anomaly-types", "anomalies" (at most
// kMaxPerType per type, with "anomaly-counts"), "ruled-out", "strongest-possible",
// "incomplete"; one dot artifact per reported cycle.
inline constexpr size_t kMaxPerType = 8;
inline constexpr size_t kMaxExplained = 12;
CheckResult make_result(ReportInput input);

}  // namespace faultline::elle
