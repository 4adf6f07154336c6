#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and fuzzes each parser for SECONDS (default 600),
# seeded from the shared histories and hostile shapes (deep nesting, runs of #_ discards, huge
# integers). Inputs up to MAX_LEN bytes (default 1 MiB: libFuzzer's default of 4 KiB hid stack
# overflows that need ~100 KB). Prints executions and crashes per target.
#   [MAX_LEN=N] bench/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}; shift || true
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(edn jsonl jepsen_log porcupine_kv)
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DFAULTLINE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build-fuzz $(printf 'fuzz_%s ' "${TARGETS[@]}") >/dev/null
fi
SHARED=${FAULTLINE_SHARED:-../shared}/histories/porcupine
for t in "${TARGETS[@]}"; do
  corpus=fuzz/corpus-$t; mkdir -p "$corpus" fuzz/artifacts
  case $t in
    jepsen_log) find "$SHARED"/etcd -name "*.log" 2>/dev/null | sort | head -5 | xargs -r cp -t "$corpus" || true ;;
    porcupine_kv|edn) ls "$SHARED"/kv/*.txt 2>/dev/null | xargs -r cp -t "$corpus" ;;
  esac
  python3 - "$corpus" <<'PY'
import sys
d = sys.argv[1]
seeds = {
    "deep-edn": "{:process 0, :type :invoke, :f :write, :value " + "[" * 3000 + "]" * 3000 + "}\n",
    "discards": "#_ " * 30000 + "[]\n",
    "deep-jsonl": '{"process":0,"type":"invoke","f":"write","value":' + "[" * 3000 + "]" * 3000 + "}\n",
    "log-discards": "INFO  jepsen.util - 0\t:invoke\t:write\t" + "#_ " * 30000 + "1\n",
    "bigint": '{"process":0,"type":"invoke","f":"write","value":18446744073709551616}\n',
    "negative-process": '{"process":-1,"type":"invoke","f":"write","value":1}\n',
    "completions": "{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n",
}
for name, text in seeds.items():
    open(f"{d}/seed-{name}", "w").write(text)
PY
  log=fuzz/artifacts/$t.log
  ./build-fuzz/fuzz/fuzz_$t "$corpus" -max_total_time="$SECONDS_EACH" -max_len="${MAX_LEN:-1048576}" \
    -artifact_prefix=fuzz/artifacts/$t- -print_final_stats=1 >"$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  crashes=$(find fuzz/artifacts -name "$t-crash-*" -o -name "$t-leak-*" -o -name "$t-timeout-*" | wc -l)
  echo "fuzz_$t: ${SECONDS_EACH}s, $execs executions, $crashes crashes (log: $log)"
done
