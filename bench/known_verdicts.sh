#!/usr/bin/env bash
# `faultline check` over the shared Porcupine histories with known verdicts
# (../shared/histories/porcupine), each verdict printed beside the expected one; non-zero when
# any differs. Builds (Release) first. Run from anywhere: bench/known_verdicts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build-release faultline
FL=build-release/faultline
SHARED=${FAULTLINE_SHARED:-../shared}/histories/porcupine
if [ ! -f "$SHARED/expected.tsv" ]; then
  echo "known_verdicts: $SHARED/expected.tsv not found; set FAULTLINE_SHARED to the shared folder" >&2
  exit 254
fi
agree=0; disagree=0
while IFS=$'\t' read -r file expected; do
  [ "$file" = "file" ] && continue
  set +e
  # portfolio: a key whose search runs past its budget goes to Z3 (kv/c50-bad has one).
  # How each suite is read: Porcupine's etcd client fails a cas only when the compare did not
  # match, and Porcupine's model reads a failed cas so (-o failed-cas=mismatch); Faultline's
  # default is Jepsen's and Knossos's (a failed op did not happen). kv has no cas.
  case $file in etcd/*) reading=(-o failed-cas=mismatch) ;; *) reading=() ;; esac
  out=$("$FL" check --engine portfolio --no-explain --time-limit 300 "${reading[@]}" "$SHARED/$file" 2>&1); rc=$?
  set -e
  case $rc in 0) got=true ;; 1) got=false ;; *) got="error($rc)" ;; esac
  if [ "$got" = "$expected" ]; then agree=$((agree + 1)); mark=ok; else disagree=$((disagree + 1)); mark=DIFFERS; fi
  printf '%-22s expected %-5s got %-5s %-7s %s\n' "$file" "$expected" "$got" "$mark" "${reading[*]:-default}"
done < "$SHARED/expected.tsv"
echo "known_verdicts: $agree histories agree with their known verdict, $disagree differ"
[ "$disagree" -eq 0 ]
