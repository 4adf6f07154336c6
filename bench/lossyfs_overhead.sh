#!/usr/bin/env bash
# The power-loss file system's cost (issue 22): Galera's throughput and latency with its data
# directories on lossyfs (db-options power-loss-fs) against plain directories, same spec
# otherwise, no nemesis, runs alternating; prints each run and the medians. Needs root and a
# built faultline (build/); brings up local cluster flbench (10.77.218.0/24) and takes it down.
#   bench/lossyfs_overhead.sh [RUNS] [WORKLOAD]     (default 3, list-append)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
WORKLOAD=${2:-list-append}
FL=$PWD/build/faultline
TMP=$(mktemp -d)
cleanup() { "$FL" cluster down --name flbench >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
"$FL" cluster up --name flbench --subnet 10.77.218.0/24 --nodes 3 >/dev/null
spec() {  # $1: true | false
  cat > "$TMP/spec-$1.json" <<JSON
{"db": "galera", "workload": "$WORKLOAD", "nodes-file": "/var/lib/faultline/clusters/flbench/inventory.json",
 "db-options": {"power-loss-fs": $1}, "time-limit": 10, "concurrency": "2n", "rate": 0,
 "seed": 1, "results-dir": "$TMP/results"}
JSON
}
spec true
spec false
declare -A ops
for i in $(seq "$RUNS"); do
  for fs in false true; do
    "$FL" run --spec "$TMP/spec-$fs.json" -q >/dev/null 2>&1 || true
    r=$(ls -d "$TMP"/results/*/2* | sort | tail -1)
    line=$(python3 - "$r" <<'PY'
import json, sys
inv, lat, ok = {}, [], 0
for line in open(sys.argv[1] + "/history.jsonl"):
    o = json.loads(line)
    if o.get("process") == "nemesis":
        continue
    if o["type"] == "invoke":
        inv[o["process"]] = o["time"]
    elif o["type"] == "ok":
        ok += 1
        lat.append((o["time"] - inv.pop(o["process"])) / 1e6)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(f"{ok / 10:.0f} {q(0.5):.1f} {q(0.99):.1f}")
PY
)
    read -r tput p50 p99 <<< "$line"
    setup=$(awk '/phase: main/ {print $2; exit}' "$r/controller.log")
    printf 'run %d  power-loss-fs %-5s  %6s ok ops/s  p50 %s ms  p99 %s ms  setup %s s\n' \
      "$i" "$fs" "$tput" "$p50" "$p99" "$setup"
    ops[$fs]+="$tput "
    rm -rf "$r"
  done
done
for fs in false true; do
  med=$(printf '%s\n' ${ops[$fs]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf 'power-loss-fs %-5s  median %s ok ops/s\n' "$fs" "$med"
done
