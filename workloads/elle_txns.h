// The transaction generator of the Elle workloads (list-append, rw-register), after Elle's
// own (elle.list-append/gen): transactions of min..max micro-ops over a pool of `key-count`
// hot keys; each key takes at most `max-writes-per-key` writes, then is retired and replaced by
// a fresh key, so reads stay short and version orders small. Written values are unique per key
// (1, 2, 3, ... in the order the generator makes them). Half the micro-ops read, half write.
//
// Routing home-node: each node has its own pool, of keys whose home is that node (k mod n ==
// the node's index), and a thread draws only from its node's pool.
//
// Thread safety: as any generator (none).
#pragma once

#include <cstdint>
#include <string>

#include "harness/generator.h"
#include "harness/options.h"
#include "workloads/common.h"

namespace faultline::workloads {

struct ElleTxnOptions {
  int64_t key_count = 3;
  int64_t min_txn_length = 1;
  int64_t max_txn_length = 4;
  int64_t max_writes_per_key = 32;
};

// Reads the four options above (key-count, min-txn-length, max-txn-length,
// max-writes-per-key) and rejects any other key; `workload` names it in errors.
// The options above, as `faultline list` shows them (a function: the workloads register
// from other files, during static initialisation).
const OptionDecls& elle_txn_options();

ElleTxnOptions parse_elle_txn_options(const Json& options, const std::string& workload);

// `write_f` is "append" (list-append) or "w" (rw-register); reads are ["r", k, null].
GenPtr elle_txns(ElleTxnOptions options, Routing routing, std::string write_f);

// The checker options: {"consistency-model": ctx's, or Elle's default "strict-serializable"}.
Json elle_checker_options(const WorkloadContext& ctx);

}  // namespace faultline::workloads
