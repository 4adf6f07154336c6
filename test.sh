#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and, as root, integration).
#   ./test.sh                 everything
#   ./test.sh -L unit         only unit tests (any ctest arguments are passed on)
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh
BUILD=${BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAULTLINE_WERROR=ON >/dev/null
ninja -C "$BUILD"
cd "$BUILD"
ctest --output-on-failure --no-tests=error -j2 "$@"
