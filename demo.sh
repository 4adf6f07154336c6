#!/usr/bin/env bash
# The demo: installs what is missing, builds (Release), brings up a 3-node local cluster
# (network namespaces, each with its own sshd), and runs the default test on it: MariaDB
# Galera (or DB: mariadb-async, pglogical, etcd), the workload below, partition and kill
# nemeses, 60 s. Prints the verdict, each
# anomaly on one line, and the path of report.html; then brings the cluster down again if the
# demo brought it up (keep it with --keep or KEEP_CLUSTER=1).
#
#   ./demo.sh [--keep]        environment: DB, WORKLOAD, TIME_LIMIT, NEMESIS, DB_OPTIONS (JSON)
#   DB=mariadb-async WORKLOAD=counter ./demo.sh      asynchronous multi-master: lost updates
#
# Exit code: the run's (0 valid, 1 invalid, 2 unknown, 254 bad input, 255 internal error).
set -euo pipefail
cd "$(dirname "$0")"
keep=${KEEP_CLUSTER:-0}
[ "${1:-}" = "--keep" ] && keep=1
DB=${DB:-galera}
WORKLOAD=${WORKLOAD:-list-append}
TIME_LIMIT=${TIME_LIMIT:-60}
NEMESIS=${NEMESIS:-partition,kill}
DB_OPTIONS=${DB_OPTIONS:-{\}}

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root: the local cluster needs network namespaces, a bridge and iptables" >&2
  exit 254
fi
./scripts/install-deps.sh --run
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build-release faultline
FL=build-release/faultline

brought_up=0
if ! "$FL" cluster status --name fl 2>/dev/null | grep -q ": up"; then
  echo "demo: bringing up a 3-node local cluster 'fl' (10.77.7.0/24)"
  "$FL" cluster up --name fl --nodes 3
  brought_up=1
fi
cleanup() {
  if [ "$brought_up" = 1 ] && [ "$keep" != 1 ]; then
    echo "demo: bringing the local cluster down (keep it with --keep)"
    "$FL" cluster down --name fl >/dev/null || echo "demo: cluster down failed; run: $FL cluster down --name fl" >&2
  elif [ "$keep" = 1 ] || [ "$brought_up" = 0 ]; then
    echo "demo: the local cluster 'fl' is still up ($FL cluster down --name fl removes it)"
  fi
}
trap cleanup EXIT

spec=$(mktemp /tmp/faultline-demo-spec.XXXXXX.json)
trap 'rm -f "$spec"; cleanup' EXIT
printf '{"db-options": %s}\n' "$DB_OPTIONS" > "$spec"
mkdir -p results
echo "demo: faultline run --db $DB --workload $WORKLOAD --nemesis $NEMESIS --time-limit $TIME_LIMIT"
set +e
"$FL" run --spec "$spec" --db "$DB" --workload "$WORKLOAD" --nemesis "$NEMESIS" \
  --time-limit "$TIME_LIMIT" --nemesis-interval 10 --local 3 \
  --results-dir results --no-progress 2> results/demo-controller.log
rc=$?
set -e
case $rc in
  0) echo "demo: verdict valid: no anomaly found" ;;
  1) echo "demo: verdict invalid: the anomalies above, one per line; details in report.html" ;;
  2) echo "demo: verdict unknown (a checker could not decide; see results.json)" ;;
  *) echo "demo: the run failed (exit $rc); the controller log is in results/demo-controller.log" >&2
     tail -n 20 results/demo-controller.log >&2 ;;
esac
exit $rc
