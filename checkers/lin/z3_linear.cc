#include "checkers/lin/z3_linear.h"

#include <z3++.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace faultline::lin {

bool smt_supports(const Model& model) { return model.symbolic_domain() != SymbolicDomain::kNone; }

SmtResult smt_check(const std::vector<LinOp>& ops, const Model& model, const SmtOptions& o) {
  SmtResult result;
  const SymbolicDomain domain = model.symbolic_domain();
  if (domain == SymbolicDomain::kNone) {
    result.reason = "the " + model.name() + " model has no symbolic form for the SMT engine";
    return result;
  }
  const int n = static_cast<int>(ops.size());
  if (n == 0) {
    result.verdict = SearchVerdict::kLinearizable;
    return result;
  }
  auto is_info = [&](int i) { return ops[i].ret_pos == INT64_MAX; };

  try {
    // A bound on Z3's memory (MiB), global to the process: a runaway solve ends as unknown.
    static const bool memory_bounded = [] {
      z3::set_param("memory_max_size", 4096);
      return true;
    }();
    (void)memory_bounded;
    z3::context ctx;
    z3::solver solver(ctx);
    z3::params params(ctx);
    auto now = std::chrono::steady_clock::now();
    if (o.deadline != std::chrono::steady_clock::time_point::max()) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(o.deadline - now).count();
      params.set("timeout", static_cast<unsigned>(std::clamp<long long>(ms, 1, 1LL << 31)));
    }
    params.set("random_seed", static_cast<unsigned>(o.seed & 0x7fffffff));
    solver.set(params);
    if (o.core) {
      try {
        z3::params cp(ctx);
        cp.set("core.minimize", true);
        solver.set(cp);
      } catch (const z3::exception&) {
        // Older Z3 without the parameter: the core is still a core, perhaps not minimal.
      }
    }

    auto value = [&](int64_t id) -> z3::expr {
      if (domain == SymbolicDomain::kString) return ctx.string_val(model.symbolic_string(id));
      return ctx.int_val(static_cast<int64_t>(id));
    };
    z3::sort state_sort = domain == SymbolicDomain::kString ? ctx.string_sort() : ctx.int_sort();
    z3::expr init = o.free_init ? ctx.constant("init", state_sort) : value(model.symbolic_init());

    // e_i: took effect. Certain ops (ok or failed-with-meaning, not optional) always take
    // effect in full mode; in core mode their assumption literal a_i forces it, and without it
    // they are relaxed: they may or may not have taken effect. Info and optional ops may or may
    // not take effect.
    auto certain = [&](int i) { return !is_info(i) && !ops[i].optional; };
    std::vector<z3::expr> rank, pre, eff, assumption;
    std::vector<int> assumed;  // op index of each assumption literal
    for (int i = 0; i < n; ++i) {
      std::string s = std::to_string(i);
      rank.push_back(ctx.int_const(("r" + s).c_str()));
      pre.push_back(ctx.constant(("s" + s).c_str(), state_sort));
      if (certain(i) && !o.core) {
        eff.push_back(ctx.bool_val(true));
      } else {
        eff.push_back(ctx.bool_const(("e" + s).c_str()));
      }
      if (certain(i) && o.core) {
        assumption.push_back(ctx.bool_const(("a" + s).c_str()));
        assumed.push_back(i);
        solver.add(z3::implies(assumption.back(), eff.back()));
      }
    }
    auto add = [&](const z3::expr& e) {
      solver.add(e);
      ++result.constraints;
    };
    // Building the quadratic constraints below can itself outlast a short deadline (2,500 ops
    // of a heavy-tailed register: 2.5 s before the solver starts), and Z3 cannot be interrupted
    // there: the loops look at the clock every 64 ops.
    const bool timed = o.deadline != std::chrono::steady_clock::time_point::max();
    auto out_of_time = [&](int i) {
      return timed && (i & 63) == 0 && std::chrono::steady_clock::now() >= o.deadline;
    };
    auto too_slow = [&]() {
      result.verdict = SearchVerdict::kUnknown;
      result.reason = "interrupted (time limit reached while building the constraints)";
      return result;
    };

    // Post-states and guards.
    std::vector<z3::expr> post;
    for (int i = 0; i < n; ++i) {
      Symbolic sym = model.symbolic(ops[i].call);
      z3::expr after = pre[i];
      switch (sym.effect) {
        case Symbolic::Effect::kKeep:
          break;
        case Symbolic::Effect::kSet:
          after = value(sym.effect_value);
          break;
        case Symbolic::Effect::kAdd:
          after = pre[i] + ctx.int_val(sym.effect_value);
          break;
        case Symbolic::Effect::kConcat:
          after = z3::concat(pre[i], value(sym.effect_value));
          break;
      }
      post.push_back(after);
      switch (sym.guard) {
        case Symbolic::Guard::kNone:
          break;
        case Symbolic::Guard::kEq:
          add(z3::implies(eff[i], pre[i] == value(sym.guard_value)));
          break;
        case Symbolic::Guard::kNe:
          add(z3::implies(eff[i], pre[i] != value(sym.guard_value)));
          break;
      }
      add(rank[i] >= 1);
    }

    // Real-time order. Full mode: transitive reduction among certain ops, plus, for each info
    // op, the maximal certain ops before it. Core mode: every ordered pair.
    auto before = [&](int i, int j) { return ops[i].ret_pos < ops[j].call_pos; };
    std::vector<int> by_ret;  // certain ops by return position
    for (int i = 0; i < n; ++i) {
      if (certain(i)) by_ret.push_back(i);
    }
    std::sort(by_ret.begin(), by_ret.end(),
              [&](int a, int b) { return ops[a].ret_pos < ops[b].ret_pos; });
    // max_call_before[j] = max call position among certain ops that returned before j's call.
    std::vector<int64_t> max_call_before(n, INT64_MIN);
    {
      std::vector<int> by_call(n);
      for (int i = 0; i < n; ++i) by_call[i] = i;
      std::sort(by_call.begin(), by_call.end(),
                [&](int a, int b) { return ops[a].call_pos < ops[b].call_pos; });
      size_t k = 0;
      int64_t m = INT64_MIN;
      for (int j : by_call) {
        while (k < by_ret.size() && ops[by_ret[k]].ret_pos < ops[j].call_pos) {
          m = std::max(m, ops[by_ret[k]].call_pos);
          ++k;
        }
        max_call_before[j] = m;
      }
    }
    for (int j = 0; j < n; ++j) {
      if (out_of_time(j)) return too_slow();
      for (int i = 0; i < n; ++i) {
        if (i == j || !before(i, j)) continue;
        if (!o.core) {
          if (is_info(i)) continue;  // an info op never returns
          // i is in the reduction iff no certain k lies wholly between i and j.
          if (ops[i].ret_pos < max_call_before[j]) continue;
        }
        add(z3::implies(eff[i] && eff[j], rank[i] < rank[j]));
      }
    }

    // Distinct ranks for overlapping effective ops.
    for (int i = 0; i < n; ++i) {
      if (out_of_time(i)) return too_slow();
      for (int j = i + 1; j < n; ++j) {
        if (before(i, j) || before(j, i)) continue;
        add(z3::implies(eff[i] && eff[j], rank[i] != rank[j]));
      }
    }

    // Immediate predecessor selection.
    for (int i = 0; i < n; ++i) {
      if (out_of_time(i)) return too_slow();
      z3::expr_vector choices(ctx);
      bool init_possible = o.core || max_call_before[i] == INT64_MIN;
      if (init_possible) {
        z3::expr sel = ctx.bool_const(("p" + std::to_string(i) + "_init").c_str());
        add(z3::implies(sel, rank[i] == 1 && pre[i] == init));
        choices.push_back(sel);
      }
      for (int j = 0; j < n; ++j) {
        if (j == i || before(i, j)) continue;
        if (!o.core && ops[j].ret_pos != INT64_MAX && ops[j].ret_pos < max_call_before[i]) {
          continue;  // a certain op lies wholly between j and i
        }
        z3::expr sel = ctx.bool_const(("p" + std::to_string(i) + "_" + std::to_string(j)).c_str());
        add(z3::implies(sel, eff[j] && rank[i] == rank[j] + 1 && pre[i] == post[j]));
        choices.push_back(sel);
      }
      if (choices.empty()) {
        add(!eff[i]);
      } else {
        add(z3::implies(eff[i], z3::mk_or(choices)));
      }
    }

    // Z3's own timeout is not always kept (core minimisation ran 25 s past a 1 s timeout):
    // a watchdog interrupts the context at the deadline, and the answer is then unknown.
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;
    std::thread watchdog;
    if (o.deadline != std::chrono::steady_clock::time_point::max()) {
      watchdog = std::thread([&] {
        std::unique_lock<std::mutex> lock(mu);
        if (!cv.wait_until(lock, o.deadline + std::chrono::milliseconds(50),
                           [&] { return finished; })) {
          ctx.interrupt();
        }
      });
    }
    struct Join {
      std::mutex& mu;
      std::condition_variable& cv;
      bool& finished;
      std::thread& t;
      ~Join() {
        {
          std::lock_guard<std::mutex> lock(mu);
          finished = true;
        }
        cv.notify_all();
        if (t.joinable()) t.join();
      }
    } join{mu, cv, finished, watchdog};
    z3::check_result r;
    if (o.core) {
      z3::expr_vector assumptions(ctx);
      for (const auto& a : assumption) assumptions.push_back(a);
      r = solver.check(assumptions);
    } else {
      r = solver.check();
    }
    if (r == z3::sat) {
      result.verdict = SearchVerdict::kLinearizable;
    } else if (r == z3::unsat) {
      result.verdict = SearchVerdict::kIllegal;
      if (o.core) {
        z3::expr_vector core = solver.unsat_core();
        for (unsigned k = 0; k < core.size(); ++k) {
          std::string name = core[k].decl().name().str();
          if (name.size() > 1 && name[0] == 'a') result.core.push_back(std::stoi(name.substr(1)));
        }
        std::sort(result.core.begin(), result.core.end());
      }
    } else {
      result.verdict = SearchVerdict::kUnknown;
      result.reason = "Z3: " + solver.reason_unknown();
    }
  } catch (const z3::exception& e) {
    result.verdict = SearchVerdict::kUnknown;
    result.reason = std::string("Z3 error: ") + e.msg();
  }
  return result;
}

}  // namespace faultline::lin
