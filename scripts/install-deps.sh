#!/usr/bin/env bash
# Installs every Debian 12 package Faultline needs, and nothing that is already there.
# Idempotent: runs `apt-get update` only when something is missing. Needs root.
#   scripts/install-deps.sh            build + test + cluster packages (what ./test.sh needs)
#   scripts/install-deps.sh --build    only what building needs
#   scripts/install-deps.sh --run      building and running (./demo.sh), without the test tools
set -euo pipefail

# Building: compiler toolchain and libraries (headers).
BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config
  libssh-dev libboost-dev nlohmann-json3-dev libz3-dev catch2 libcli11-dev
  libmariadb-dev libpq-dev libcurl4-openssl-dev libcpp-httplib-dev
  clang-14 libclang-rt-14-dev
  # Style gate of ./test.sh (scripts/check-style.sh): formatting and clang-tidy.
  clang-format-14 clang-tidy-14
)
# Running: tools the harness shells out to, and the systems under test on the local cluster.
RUN_PKGS=(
  openssh-server openssh-client iproute2 iptables procps util-linux
  gnuplot-nox graphviz
  iputils-ping
  libfaketime faketime socat libnetfilter-queue-dev
  # The power-loss file system (clusters/common/lossyfs/lossyfs.c), built on each node.
  libfuse3-dev fuse3
  # The systems under test (started only by Faultline, per node, never as services).
  mariadb-server mariadb-client galera-4 galera-arbitrator-4 rsync
  postgresql-15 postgresql-15-pglogical
  etcd-server etcd-client
)
# Testing only: headless Chromium renders report.html as a person sees it
# (tests/integration/report_render_test.cc, bench/render_report.sh).
TEST_PKGS=(chromium)

mode=${1:-all}
pkgs=("${BUILD_PKGS[@]}")
[ "$mode" = "--build" ] || pkgs+=("${RUN_PKGS[@]}")
[ "$mode" = "--build" ] || [ "$mode" = "--run" ] || pkgs+=("${TEST_PKGS[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Database packages would start their system services on install; Faultline starts its own
# per-node processes instead, so forbid service starts while installing (policy-rc.d, exit 101).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
