#include "checkers/lin/unique_values.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

namespace faultline::lin {
namespace {

// Time never reached by an op: before the first and after the last position of a history.
constexpr int64_t kBefore = INT64_MIN;

struct Cluster {
  const LinOp* write = nullptr;  // nullptr: the initial value
  std::vector<const LinOp*> reads;
  int64_t f = INT64_MAX;  // earliest return of its ops
  int64_t s = kBefore;    // latest invocation of its ops
};

std::string op_words(const LinOp* op, const Model& model);

// The zone of a cluster, in words: "the value of write 3 (op 7) had to stay from when read 3
// (op 9) returned until read 3 (op 12) was invoked".
std::string zone_words(const Cluster& c, const Model& model);

std::string op_words(const LinOp* op, const Model& model) {
  if (op == nullptr) return "the initial value";
  // Where the invocation is, as the search's explanations say it: its line in the file read,
  // else its index.
  std::string where = "op " + std::to_string(op->call_pos);
  if (op->invoke) {
    where = op->invoke->line > 0 ? "line " + std::to_string(op->invoke->line)
                                 : "op " + std::to_string(op->invoke->index);
  }
  return model.describe_call(op->call) + " (invoked " + where + ")";
}

// The op of the cluster whose return is its zone's start f, and the one whose invocation is
// its end s.
const LinOp* first_return(const Cluster& c) {
  const LinOp* best = c.write;
  for (const LinOp* r : c.reads) {
    if (best == nullptr || r->ret_pos < best->ret_pos) best = r;
  }
  return best;
}
const LinOp* last_invoke(const Cluster& c) {
  const LinOp* best = c.write;
  for (const LinOp* r : c.reads) {
    if (best == nullptr || r->call_pos > best->call_pos) best = r;
  }
  return best;
}

std::string zone_words(const Cluster& c, const Model& model) {
  if (c.write == nullptr) {
    return "the initial value had to stay until " + op_words(last_invoke(c), model) +
           " was invoked";
  }
  return "the value of " + op_words(c.write, model) + " had to stay from when " +
         op_words(first_return(c), model) + " returned until " + op_words(last_invoke(c), model) +
         " was invoked";
}

}  // namespace

std::optional<UniqueValuesResult> check_unique_values(const std::vector<LinOp>& ops,
                                                      const Model& model) {
  using G = Symbolic::Guard;
  using E = Symbolic::Effect;
  if (model.symbolic_domain() == SymbolicDomain::kNone) return std::nullopt;
  const int64_t init = model.symbolic_init();
  std::vector<Cluster> clusters(1);  // clusters[0]: the initial value
  std::unordered_map<int64_t, size_t> by_value;
  by_value.emplace(init, 0);
  std::vector<std::pair<const LinOp*, int64_t>> reads;  // (read, value)
  for (const LinOp& op : ops) {
    const Symbolic y = model.symbolic(op.call);
    if (y.guard == G::kNone && y.effect == E::kSet) {
      if (!by_value.emplace(y.effect_value, clusters.size()).second) return std::nullopt;
      clusters.emplace_back();
      clusters.back().write = &op;
    } else if (y.guard == G::kEq && y.effect == E::kKeep) {
      // A read that never returned, or an optional one, may never have happened: it
      // constrains nothing.
      if (op.ret_pos != INT64_MAX && !op.optional) reads.emplace_back(&op, y.guard_value);
    } else {
      return std::nullopt;
    }
  }
  UniqueValuesResult out;
  auto illegal = [&](std::string why) {
    out.verdict = SearchVerdict::kIllegal;
    out.why = std::move(why);
    return out;
  };
  for (const auto& [r, v] : reads) {
    auto it = by_value.find(v);
    if (it == by_value.end()) {
      return illegal(op_words(r, model) + " saw a value no write wrote");
    }
    Cluster& c = clusters[it->second];
    if (c.write && r->ret_pos < c.write->call_pos) {
      return illegal(op_words(r, model) + " returned before " + op_words(c.write, model) +
                     " was invoked");
    }
    c.reads.push_back(r);
  }
  // Zones. An info or optional write nobody read may never have happened: it constrains
  // nothing. One somebody read did happen, within its interval.
  struct Zone {
    int64_t lo, hi;
    size_t cluster;
  };
  std::vector<Zone> forward, backward;
  for (size_t i = 0; i < clusters.size(); ++i) {
    Cluster& c = clusters[i];
    if (c.reads.empty() &&
        (c.write == nullptr || c.write->ret_pos == INT64_MAX || c.write->optional)) {
      continue;
    }
    if (c.write) {
      c.f = c.write->ret_pos;
      c.s = c.write->call_pos;
    }
    for (const LinOp* r : c.reads) {
      c.f = std::min(c.f, r->ret_pos);
      c.s = std::max(c.s, r->call_pos);
    }
    if (c.write == nullptr) c.f = kBefore;  // the initial write precedes everything
    ++out.clusters;
    if (c.f < c.s) {
      forward.push_back({c.f, c.s, i});
    } else {
      backward.push_back({c.s, c.f, i});
    }
  }
  std::sort(forward.begin(), forward.end(),
            [](const Zone& a, const Zone& b) { return a.lo < b.lo; });
  for (size_t i = 1; i < forward.size(); ++i) {
    const Zone &a = forward[i - 1], &b = forward[i];
    if (b.lo < a.hi) {
      const Cluster &ca = clusters[a.cluster], &cb = clusters[b.cluster];
      return illegal(zone_words(ca, model) + ", and " + zone_words(cb, model) +
                     ": the two overlap");
    }
  }
  // Forward zones are disjoint now, so sorted by start they are sorted by end too: a backward
  // zone lies inside one iff it lies inside the last one starting before it.
  for (const Zone& b : backward) {
    auto it = std::lower_bound(forward.begin(), forward.end(), b.lo,
                               [](const Zone& z, int64_t lo) { return z.lo < lo; });
    if (it == forward.begin()) continue;
    const Zone& a = *std::prev(it);
    if (b.hi < a.hi) {
      const Cluster &ca = clusters[a.cluster], &cb = clusters[b.cluster];
      return illegal(op_words(cb.write, model) + (cb.reads.empty() ? "" : " and its reads") +
                     " ran entirely while " + zone_words(ca, model));
    }
  }
  return out;
}

}  // namespace faultline::lin
