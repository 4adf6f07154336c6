// Shared pieces of the list-append and rw-register analyses: realtime and process edges,
// op descriptions, option parsing.
//
// Thread safety: pure functions over values.
#pragma once

#include <string>
#include <vector>

#include "checkers/elle/graph.h"
#include "checkers/elle/report.h"
#include "checkers/elle/txn.h"
#include "harness/options.h"

namespace faultline::elle {

// Adds process edges (consecutive ok/info transactions of one process) and a transitive
// reduction of real-time order (T1 completed ok before T2 was invoked) between ok/info
// transactions. Failed transactions are not graph nodes; info transactions never precede
// anything in real time (they may complete at any time).
void add_session_edges(const TxnHistory& th, DepGraph* g);

// {"index", "process", "type", "value"} of a transaction: its completion (or its invocation
// when it never completed).
Json txn_op_json(const History& history, const Txn& t);
// "op 12 (process 3)".
std::string txn_label(const Txn& t);

// Reads "consistency-model" from checker options (default strict-serializable, as Elle);
// throws std::invalid_argument for an unknown model, naming the known ones.
std::string model_option(const Json& options, const std::string& where);
// The "consistency-model" option as list-append and rw-register declare it (a function, not a
// constant: the checkers register during static initialisation).
OptionDecl consistency_model_option();

// "[1 2 3]" for short lists, "[... 7 8 9] (12 elements)" for long ones.
std::string list_text(const TxnHistory& th, const Mop& read, size_t tail = 6);

// Fractured reads, which monotonic atomic view forbids (Bailis et al., VLDB 2014; Cerone,
// Bernardi, Gotsman, CONCUR 2015; Elle): a transaction R that read a write of T (wr T -> R)
// but, for another key T also wrote, a version older than T's (rw R -> T): R saw only part of
// T's effects. Each is also a two-transaction G-single cycle; as its own anomaly it rules out
// monotonic-atomic-view, which the cycle classes alone cannot tell from PL-2+. Each (T, R) pair
// is one fractured read, however many keys R read too old. Returns at most `limit` of them
// (as cycles T -> R -> T named "fractured-read") and counts all in *total.
// O(edges x out-degree).
std::vector<FoundCycle> fractured_reads(const DepGraph& g, size_t limit, size_t* total);

// Sentences for process and realtime edges (see TxnDescriber::edge_sentence).
std::string session_sentence(const Txn& a, const Txn& b, uint8_t kind, const std::string& na,
                             const std::string& nb);

}  // namespace faultline::elle
