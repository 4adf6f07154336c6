#include "checkers/lin/unique_values.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

namespace faultline::lin {
namespace {

// Time never reached by an op: before the first and after the last position of a history.
constexpr int64_t kBefore = INT64_MIN;
constexpr int64_t kNever = INT64_MAX;
constexpr size_t kNoCluster = SIZE_MAX;

// A written value: its write and the reads that saw it.
struct Cluster {
  const LinOp* write = nullptr;  // nullptr: the initial value
  bool cas = false;              // the write is a cas, which replaced `compare`
  int64_t compare = 0;
  std::vector<const LinOp*> reads;  // completed, definite reads (a cas out of it is not one)
  size_t next = kNoCluster;         // the cluster a cas made of this value, and the way back
  size_t prev = kNoCluster;
  bool in = false;  // it takes part: its write happened for sure, or somebody saw the value
};

// Clusters chained by cas, placed like one cluster (see the header): its first write after c,
// at a point before f, and the next run after s.
struct Run {
  size_t first = 0, length = 0;
  int64_t c = kBefore, f = kNever, s = kBefore;
  const LinOp* f_op = nullptr;  // whose return is f
  const LinOp* s_op = nullptr;  // whose invocation is s
};

bool definite(const LinOp& op) { return op.ret_pos != kNever && !op.optional; }

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

// A written value, in words: "the value of write 3 (invoked line 7)", or "the initial value".
std::string value_words(const LinOp* write, const Model& model) {
  return write ? "the value of " + op_words(write, model) : "the initial value";
}

// The zone of a run, in words: "the value of write 3 (invoked line 7) had to stay from when
// read 3 (invoked line 9) returned until read 3 (invoked line 12) was invoked".
std::string zone_words(const Run& run, const std::vector<Cluster>& clusters, const Model& model) {
  const LinOp* first = clusters[run.first].write;
  std::string what = value_words(first, model);
  std::string verb = "had to stay";
  if (run.length > 1) {
    what += " and the values of the " + std::to_string(run.length - 1) + " cas op" +
            (run.length > 2 ? "s" : "") + " after it";
    verb = "had to follow one another";
  }
  if (first == nullptr)
    return what + " " + verb + " until " + op_words(run.s_op, model) + " was invoked";
  return what + " " + verb + " from when " + op_words(run.f_op, model) + " returned until " +
         op_words(run.s_op, model) + " was invoked";
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
    if (y.effect == E::kSet && (y.guard == G::kNone || y.guard == G::kEq)) {
      const bool cas = y.guard == G::kEq;
      if (cas && y.guard_value == y.effect_value) return std::nullopt;
      if (!by_value.emplace(y.effect_value, clusters.size()).second) return std::nullopt;
      Cluster& c = clusters.emplace_back();
      c.write = &op;
      c.cas = cas;
      c.compare = y.guard_value;
    } else if (y.guard == G::kEq && y.effect == E::kKeep) {
      // A read that never returned, or an optional one, may never have happened: it
      // constrains nothing.
      if (definite(op)) reads.emplace_back(&op, y.guard_value);
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
  // Who takes part: a definite write or cas, any value somebody saw (its write then happened,
  // within its interval) and, through a cas that happened, the value it replaced. An info or
  // optional write or cas whose value nobody saw may never have happened: it constrains
  // nothing.
  std::vector<size_t> work;
  auto take_part = [&](size_t i) {
    if (!clusters[i].in) {
      clusters[i].in = true;
      work.push_back(i);
    }
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
    take_part(it->second);
  }
  for (size_t i = 1; i < clusters.size(); ++i) {
    if (definite(*clusters[i].write)) take_part(i);
  }
  while (!work.empty()) {
    const size_t i = work.back();
    work.pop_back();
    Cluster& c = clusters[i];
    if (!c.cas) continue;
    auto it = by_value.find(c.compare);
    if (it == by_value.end()) {
      return illegal(op_words(c.write, model) + " replaced a value no write wrote");
    }
    Cluster& from = clusters[it->second];
    if (from.next != kNoCluster) {
      return illegal(op_words(clusters[from.next].write, model) + " and " +
                     op_words(c.write, model) + " both replaced " + value_words(from.write, model) +
                     ", which nobody wrote again");
    }
    from.next = i;
    c.prev = it->second;
    take_part(it->second);
  }

  // Runs: each chain of clusters from one that no cas made. With t the point of its first
  // write, the k-th write goes right after max(t, K), K the latest invocation among the writes
  // up to it and the reads of the clusters before it; it must precede U, the earliest return
  // among its own write and reads.
  std::vector<Run> runs;
  std::vector<bool> placed(clusters.size());
  for (size_t i = 0; i < clusters.size(); ++i) {
    if (!clusters[i].in || clusters[i].prev != kNoCluster) continue;
    Run run;
    run.first = i;
    const LinOp* first = clusters[i].write;
    if (first) {
      run.c = first->call_pos;
      run.s = first->call_pos;
      run.s_op = first;
    }
    auto raise_s = [&](const LinOp* o) {
      if (o->call_pos > run.s) {
        run.s = o->call_pos;
        run.s_op = o;
      }
    };
    size_t last = i;
    for (size_t v = i, before = kNoCluster; v != kNoCluster; before = v, v = clusters[v].next) {
      placed[v] = true;
      ++run.length;
      last = v;
      const Cluster& cl = clusters[v];
      int64_t u = kNever;
      const LinOp* u_op = nullptr;
      auto lower_u = [&](const LinOp* o) {
        if (o->ret_pos < u) {
          u = o->ret_pos;
          u_op = o;
        }
      };
      if (cl.write) lower_u(cl.write);
      for (const LinOp* r : cl.reads) lower_u(r);
      if (before != kNoCluster) {
        raise_s(cl.write);
        for (const LinOp* r : clusters[before].reads) raise_s(r);
        if (run.s >= u) {
          const std::string s_words = op_words(run.s_op, model), u_words = op_words(u_op, model);
          std::string why = "the cas ops after " + op_words(first, model);
          why.append(" replaced the values one after another, so ").append(s_words);
          why.append(" had to take effect before ").append(u_words).append(", but ");
          why.append(u_words).append(" returned before ").append(s_words).append(" was invoked");
          return illegal(std::move(why));
        }
      }
      if (u < run.f) {
        run.f = u;
        run.f_op = u_op;
      }
    }
    for (const LinOp* r : clusters[last].reads) raise_s(r);
    if (first == nullptr) {
      run.f = kBefore;  // the initial write precedes everything
    } else if (run.f <= run.c) {
      return illegal(
          op_words(run.f_op, model) + " returned before " + op_words(first, model) +
          " was invoked" +
          (run.length > 1 ? ", yet the cas ops after it put their values in order" : ""));
    }
    runs.push_back(run);
  }
  for (size_t i = 0; i < clusters.size(); ++i) {
    if (clusters[i].in && !placed[i]) {
      return illegal(op_words(clusters[i].write, model) +
                     " is one of the cas ops that replaced each other's values in a cycle: none of "
                     "them can have been first");
    }
  }

  // Zones of the runs.
  struct Zone {
    int64_t lo, hi;
    size_t run;
  };
  std::vector<Zone> forward, backward;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& r = runs[i];
    if (r.f < r.s) {
      forward.push_back({r.f, r.s, i});
    } else {
      backward.push_back({r.s, r.f, i});
    }
  }
  std::sort(forward.begin(), forward.end(),
            [](const Zone& a, const Zone& b) { return a.lo < b.lo; });
  for (size_t i = 1; i < forward.size(); ++i) {
    const Zone &a = forward[i - 1], &b = forward[i];
    if (b.lo < a.hi) {
      return illegal(zone_words(runs[a.run], clusters, model) + ", and " +
                     zone_words(runs[b.run], clusters, model) + ": the two overlap");
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
      const Run& rb = runs[b.run];
      const Cluster& cb = clusters[rb.first];
      std::string what = op_words(cb.write, model);
      if (rb.length > 1) {
        what += " and the cas ops after it";
      } else if (!cb.reads.empty()) {
        what += " and its reads";
      }
      return illegal(what + " ran entirely while " + zone_words(runs[a.run], clusters, model));
    }
  }
  return out;
}

}  // namespace faultline::lin
