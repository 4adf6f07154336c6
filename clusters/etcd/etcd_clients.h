// Clients of the database "etcd" for each workload vocabulary (docs/workloads.md), over the v3
// HTTP/JSON gateway of the member the client is opened on (etcd_http.h, etcd_proto.h).
//
// Keys are "<vocabulary>/<key as JSON text>" (set: "set/<element>"; unique-ids: the one key
// "unique-ids/id"); values are JSON text ("3", "[1,2]").
//   register     read = range; write = put; cas = txn(value == old -> put new), else fail
//                "mismatch".
//   set          add = put "set/<x>"; read = range over the prefix (keys only), sorted.
//   unique-ids   generate = put; the id is the put's header revision (unique and increasing:
//                every write makes a new revision of the whole store).
//   counter      increment = range, then txn(mod_revision == seen -> put read+1), else fail
//                "conflict"; with params "retry": "idempotent" the txn also puts
//                "counter-applied/<id>", and after a lost reply the client looks that key up
//                (linearizably) and answers ok with "retried": true, or runs the increment
//                once more (safe: both attempts compare the same mod_revision chain, so at
//                most one applies). read = range; read-all = range over the prefix.
//   lww          write = blind put; read-all = range over the prefix.
//   bank         transfer = one snapshot txn of both accounts, then txn(both mod_revisions
//                unchanged -> put both balances), else fail "conflict"; fail
//                "insufficient-funds" when the source would go negative (unless the params
//                allow negative balances); read = range over "bank/" ({"<account>": balance}).
//   list-append, rw-register
//                one snapshot txn of ranges over every key the op touches, the micro-ops
//                applied to that snapshot locally (reads see the op's own earlier writes),
//                then, when the op writes, one txn comparing the mod_revision of every key
//                read to the snapshot's and putting the written keys; a failed compare is
//                fail "conflict". Read-only ops are the snapshot alone.
// Reads are linearizable, or serializable (served by the member alone) with the db-option
// "serializable-reads"; compares always go through the leader, so written ops stay strictly
// serializable either way.
//
// Outcomes: an HTTP timeout, or a connection that broke after the request went out, is info
// for an op that writes and fail for a read; a connection that was never made is fail; an
// error answer is fail, except an ambiguous one for a write ("request timed out", "leader
// changed", Unavailable, ...: etcd_proto.h's write_may_have_applied), which is info.
//
// Thread safety: one client per thread (Client's contract).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "harness/client.h"
#include "harness/db.h"

namespace faultline {

struct EtcdClientOptions {
  bool serializable_reads = false;
  int64_t request_timeout_ms = 0;  // 0: ClientContext::op_timeout
  int client_port = 2379;
};

// http://<ctx.hosts[node], or node when it has no host>:<port>
std::string etcd_client_url(const DbContext& ctx, const std::string& node, int port);

// The vocabularies make_etcd_client knows.
std::vector<std::string> etcd_vocabularies();
// A fresh client for `vocabulary`, or nullptr when unknown. The client's node URL comes from
// ClientContext at open(): etcd_client_url(*ctx.db, ctx.node, options.client_port).
std::unique_ptr<Client> make_etcd_client(const std::string& vocabulary, EtcdClientOptions options);

}  // namespace faultline
