#!/usr/bin/env bash
# Linearizability benchmarks (issue 3): wall time and peak memory of `faultline check`, parsing
# included, median of RUNS runs (default 3). Needs a Release build (build-release/). Every row
# runs under a 2 GiB memory limit (issue 21: a row that hits it says unknown, with the reason).
#   bench/lin_bench.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
B=build-release
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C $B faultline lin_gen >/dev/null
FL=$B/faultline
CHECK=("$FL" check --memory-limit 2048)
SHARED=${FAULTLINE_SHARED:-../shared}/histories/porcupine
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

# median wall seconds and max RSS (MiB) of a command over RUNS runs
measure() {
  local name=$1; shift
  local walls=() cpus=() rss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %U %S %M' -o "$TMP/t" "$@" >/dev/null 2>&1 || true
    read -r w u s m < <(tail -1 "$TMP/t"); walls+=("$w"); cpus+=("$(awk "BEGIN{print $u + $s}")")
    [ "$m" -gt "$rss" ] && rss=$m
  done
  local med cpu
  med=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-44s median wall %6.2f s  cpu %6.2f s  max RSS %6d MiB  (walls: %s)\n' \
    "$name" "$med" "$cpu" $((rss / 1024)) "${walls[*]}"
}

measure "etcd suite (102 files, one process)" "${CHECK[@]}" --no-explain "$SHARED"/etcd/*.log
measure "etcd suite, with explanations" "${CHECK[@]}" "$SHARED"/etcd/*.log
measure "kv c10-ok unsplit" "${CHECK[@]}" --independent false "$SHARED"/kv/c10-ok.txt
measure "kv c10-bad unsplit" "${CHECK[@]}" --no-explain --independent false "$SHARED"/kv/c10-bad.txt
measure "kv c50-ok unsplit (by locality)" "${CHECK[@]}" --no-explain --independent false "$SHARED"/kv/c50-ok.txt
measure "kv c50-bad unsplit (by locality)" "${CHECK[@]}" --no-explain --independent false "$SHARED"/kv/c50-bad.txt
measure "kv c50-bad (key 0 needs Z3)" "${CHECK[@]}" --no-explain "$SHARED"/kv/c50-bad.txt
measure "kv c50-bad, search engine alone" "${CHECK[@]}" --engine search --no-explain "$SHARED"/kv/c50-bad.txt
G=$B/bench/lin_gen
$G --clients 50 --keys 10 --ops 10000 > "$TMP/c50k10n10k.txt" 2>/dev/null
$G --clients 50 --keys 10 --ops 100000 > "$TMP/c50k10n100k.txt" 2>/dev/null
$G --clients 10 --keys 10 --ops 1000000 > "$TMP/c10k10n1m.txt" 2>/dev/null
$G --clients 50 --keys 1000 --ops 1000000 > "$TMP/c50k1000n1m.txt" 2>/dev/null
$G --clients 50 --keys 10 --ops 10000 --stale > "$TMP/stale.txt" 2>/dev/null
measure "synthetic kv 50 clients/10 keys/10k ops" "${CHECK[@]}" "$TMP/c50k10n10k.txt"
measure "synthetic kv 50 clients/10 keys/100k ops" "${CHECK[@]}" "$TMP/c50k10n100k.txt"
measure "synthetic kv 10 clients/10 keys/1M ops" "${CHECK[@]}" "$TMP/c10k10n1m.txt"
measure "synthetic kv 50 clients/1000 keys/1M ops" "${CHECK[@]}" "$TMP/c50k1000n1m.txt"
measure "synthetic kv 50c/10k/10k + stale read" "${CHECK[@]}" "$TMP/stale.txt"
# Heavy-tailed latencies (issue 21): closed-loop clients, 1 op in 10 20x slower, distinct put
# values; decided by the unique-values zone check, and (one row) by the search alone.
$G --shape heavy --clients 50 --keys 10 --ops 100000 > "$TMP/h50k10n100k.txt" 2>/dev/null
$G --shape heavy --clients 50 --keys 10 --ops 100000 --stale > "$TMP/h-stale.txt" 2>/dev/null
$G --shape heavy --clients 20 --keys 1 --ops 1000 > "$TMP/h20k1n1k.txt" 2>/dev/null
$G --shape heavy --clients 50 --keys 1 --ops 10000 > "$TMP/h50k1n10k.txt" 2>/dev/null
measure "heavy kv 50 clients/10 keys/100k ops" "${CHECK[@]}" "$TMP/h50k10n100k.txt"
measure "heavy kv 50c/10k/100k + stale read" "${CHECK[@]}" "$TMP/h-stale.txt"
measure "heavy, one key, 20 clients/1000 ops" "${CHECK[@]}" "$TMP/h20k1n1k.txt"
measure "heavy, one key, 50 clients/10k ops" "${CHECK[@]}" "$TMP/h50k1n10k.txt"
measure "heavy, one key, 20c/1000, search alone" \
  "${CHECK[@]}" -o unique-values=false --time-limit 120 "$TMP/h20k1n1k.txt"
# The same clients on cas registers with distinct values (reads, writes, cas): cas chains in
# the zone check.
$G --shape heavy-cas --clients 20 --keys 1 --ops 1000 > "$TMP/c20k1n1k.edn" 2>/dev/null
$G --shape heavy-cas --clients 50 --keys 1 --ops 10000 > "$TMP/c50k1n10k.edn" 2>/dev/null
$G --shape heavy-cas --clients 50 --keys 10 --ops 100000 > "$TMP/c50k10n100k.edn" 2>/dev/null
$G --shape heavy-cas --clients 50 --keys 10 --ops 100000 --stale > "$TMP/c-stale.edn" 2>/dev/null
CAS=("${CHECK[@]}" -m cas-register)
measure "heavy cas, one key, 20 clients/1000 ops" "${CAS[@]}" "$TMP/c20k1n1k.edn"
measure "heavy cas, one key, 50 clients/10k ops" "${CAS[@]}" "$TMP/c50k1n10k.edn"
measure "heavy cas, 50 clients/10 keys/100k ops" "${CAS[@]}" "$TMP/c50k10n100k.edn"
measure "heavy cas 50c/10k/100k + stale read" "${CAS[@]}" "$TMP/c-stale.edn"
measure "heavy cas, one key, 50c/10k, search alone" \
  "${CAS[@]}" -o unique-values=false --time-limit 120 "$TMP/c50k1n10k.edn"
# Jepsen's own register values (0..4, repeating): no zone check, the search decides.
$G --shape heavy-cas --values 5 --clients 20 --keys 1 --ops 1000 > "$TMP/v5c20.edn" 2>/dev/null
$G --shape heavy-cas --values 5 --clients 50 --keys 1 --ops 10000 > "$TMP/v5c50.edn" 2>/dev/null
measure "heavy cas, values 0-4, one key, 20c/1000" "${CAS[@]}" --time-limit 120 "$TMP/v5c20.edn"
measure "heavy cas, values 0-4, one key, 50c/10k" "${CAS[@]}" --time-limit 120 "$TMP/v5c50.edn"
# Minimal counterexample of each illegal etcd history: the explanation time from --json timing.
illegal=$(awk -F'\t' '$2=="false" && $1 ~ /etcd/ {print $1}' "$SHARED/expected.tsv")
(cd "$SHARED" && "$OLDPWD/$FL" check --json $illegal || true) | python3 -c '
import json, sys
d = json.load(sys.stdin)["files"]
t = sorted(f["results"]["linearizable"]["timing"]["explain_s"] for f in d)
print("minimal counterexamples, %d illegal etcd histories: median %.3f s, worst %.3f s" % (len(t), t[len(t)//2], t[-1]))'
