#!/usr/bin/env bash
# The style gate that ./test.sh runs before the tests (and so CI, through .ci/run):
#   1. formatting: every tracked C/C++ file is as clang-format-14 (.clang-format) leaves it;
#   2. clang-tidy-14 (.clang-tidy) on the lines a change touches in .cc files, failing on any
#      warning there. "Changed" means since FAULTLINE_TIDY_BASE when set, else since the commit
#      in .ci/tidy-base (the last commit CI checked: a submission of many commits is checked
#      whole, not only its last commit; move it forward when a submission lands), else since
#      the parent of HEAD. Without that history (a tarball, a shallow clone) it says so and
#      skips.
#   scripts/check-style.sh [BUILD_DIR]     BUILD_DIR holds compile_commands.json (default build)
# Fix formatting with:  git ls-files '*.cc' '*.h' | xargs clang-format-14 -i
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}

mapfile -t files < <(git ls-files '*.cc' '*.h' '*.c')
if ! clang-format-14 --dry-run --Werror "${files[@]}" 2>/tmp/faultline-format.$$; then
  grep -oE '^[^ :]+:[0-9]+:[0-9]+: (warning|error)' /tmp/faultline-format.$$ | cut -d: -f1,2 |
    sort -u | awk 'NR <= 20 { print "check-style: not formatted: " $0 }' >&2
  rm -f /tmp/faultline-format.$$
  echo "check-style: run: git ls-files '*.cc' '*.h' | xargs clang-format-14 -i" >&2
  exit 1
fi
rm -f /tmp/faultline-format.$$
echo "check-style: formatting ok (${#files[@]} files)"

base=${FAULTLINE_TIDY_BASE:-}
if [ -z "$base" ] && [ -f .ci/tidy-base ]; then
  base=$(tr -d ' \n' <.ci/tidy-base)
  if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    echo "check-style: .ci/tidy-base names $base, not in this clone's history: using HEAD~1"
    base=HEAD~1
  fi
fi
base=${base:-HEAD~1}
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "check-style: clang-tidy skipped: no commit '$base' to compare with (shallow clone?)"
  exit 0
fi
mapfile -t changed < <(git diff --name-only --diff-filter=AMR "$base" -- '*.cc' | grep -v '^fuzz/' || true)
if [ ${#changed[@]} -eq 0 ]; then
  echo "check-style: clang-tidy: no .cc file changed since $base"
  exit 0
fi
if [ ! -f "$BUILD/compile_commands.json" ]; then
  echo "check-style: $BUILD/compile_commands.json missing: configure with cmake first" >&2
  exit 1
fi
# Only the lines the change touched (clang-tidy-diff): the tree has older warnings, and a change
# must not add new ones.
echo "check-style: clang-tidy on the lines of ${#changed[@]} file(s) changed since $base"
out=$(git diff -U0 --diff-filter=AMR "$base" -- "${changed[@]}" |
  clang-tidy-diff-14.py -p1 -path "$BUILD" -iregex '.*\.cc' -quiet -j 2 \
    -clang-tidy-binary clang-tidy-14 -extra-arg=-Wno-unknown-warning-option 2>&1 || true)
warnings=$(printf '%s\n' "$out" | grep -E '^/.*: (warning|error):' || true)
if [ -n "$warnings" ]; then
  printf '%s\n' "$warnings" >&2
  echo "check-style: clang-tidy: $(printf '%s\n' "$warnings" | wc -l) new warning(s) on changed lines" >&2
  exit 1
fi
echo "check-style: clang-tidy ok"
