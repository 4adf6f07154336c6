#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and, as root, integration).
#   ./test.sh                 everything
#   ./test.sh -L unit         only unit tests (any ctest arguments are passed on)
#   ./test.sh -L slow         the long randomised tests at full size (by hand; left out of the
#                             default run, which runs them at a smaller size)
# Before the tests, scripts/check-style.sh checks formatting and runs clang-tidy on the lines
# the last commit changed (FAULTLINE_TIDY_BASE=REV for another base; FAULTLINE_SKIP_STYLE=1
# skips it while iterating by hand; CI never sets it).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh
BUILD=${BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAULTLINE_WERROR=ON >/dev/null
ninja -C "$BUILD"
if [ "${FAULTLINE_SKIP_STYLE:-0}" != 1 ]; then
  ./scripts/check-style.sh "$BUILD"
fi
cd "$BUILD"
if [ $# -eq 0 ]; then
  set -- -LE slow
fi
ctest --output-on-failure --no-tests=error -j2 "$@"
