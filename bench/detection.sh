#!/usr/bin/env bash
# Detection power (issue #15): runs a matrix spec (test-count runs per combination) on the
# local cluster and prints, per combination, in how many runs each anomaly type was found,
# the verdicts, and the median ops per run. By hand, as root; minutes per run.
#
#   bench/detection.sh SPEC.json [RESULTS_DIR]      run the matrix, then tally it
#   bench/detection.sh --tally RESULTS_DIR          tally a matrix already run
#
# The specs of docs/detection.md are in bench/detection/. Each run's directory keeps its
# history: `faultline analyze DIR` re-checks it after a checker change, and --tally reads the
# new results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
FL=${FL:-build/faultline}
if [ "${1:-}" = "--tally" ]; then
  dir=${2:?usage: bench/detection.sh --tally RESULTS_DIR}
else
  spec=${1:?usage: bench/detection.sh SPEC.json [RESULTS_DIR]}
  dir=${2:-results/detection-$(basename "$spec" .json)-$(date +%Y%m%dT%H%M%S)}
  [ -x "$FL" ] || { echo "detection: $FL not built (run ./test.sh or ninja -C build)" >&2; exit 254; }
  set +e
  "$FL" run --spec "$spec" --results-dir "$dir" --no-progress > "$dir.log" 2>&1
  rc=$?
  set -e
  echo "detection: faultline run exited $rc (0 valid, 1 invalid, 2 unknown); log: $dir.log"
fi
[ -f "$dir/matrix.json" ] || { echo "detection: $dir/matrix.json not found" >&2; exit 254; }
python3 - "$dir" <<'PY'
import json, os, statistics, sys
root = sys.argv[1]
m = json.load(open(os.path.join(root, "matrix.json")))
cells = {}
for run in m["runs"]:
    key = json.dumps(run.get("values", {}), sort_keys=True)
    c = cells.setdefault(key, {"runs": 0, "verdicts": {}, "types": {}, "ops": []})
    c["runs"] += 1
    c["verdicts"][run.get("valid", run.get("verdict", "?"))] = c["verdicts"].get(run.get("valid", run.get("verdict", "?")), 0) + 1
    path = os.path.join(root, run.get("dir", ""), "results.json")
    try:
        r = json.load(open(path))
    except Exception:
        continue
    c["ops"].append(r.get("history", {}).get("ok", 0))
    seen = set()
    for label, cr in r.get("checkers", {}).items():
        for t in (cr.get("anomaly-counts") or {}):
            seen.add(label + ":" + t)
        if not cr.get("anomaly-counts") and cr.get("valid") == "invalid":
            seen.add(label + ":invalid")
    for t in seen:
        c["types"][t] = c["types"].get(t, 0) + 1
for key, c in cells.items():
    ops = int(statistics.median(c["ops"])) if c["ops"] else 0
    verdicts = ", ".join(f"{v} {n}" for v, n in sorted(c["verdicts"].items()))
    print(f"{key}: {c['runs']} runs ({verdicts}); median ok ops {ops}")
    for t, n in sorted(c["types"].items(), key=lambda x: (-x[1], x[0])):
        print(f"    {t:45s} {n}/{c['runs']}")
PY
