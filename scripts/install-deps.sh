#!/usr/bin/env bash
# Installs every Debian 12 package Faultline needs, and nothing that is already there.
# Idempotent: runs `apt-get update` only when something is missing. Needs root.
#   scripts/install-deps.sh            build + test + cluster packages (what ./test.sh needs)
#   scripts/install-deps.sh --build    only what building needs
set -euo pipefail

# Building: compiler toolchain and libraries (headers).
BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config
  libssh-dev libboost-dev nlohmann-json3-dev libz3-dev catch2 libcli11-dev
  libmariadb-dev libpq-dev libcurl4-openssl-dev libcpp-httplib-dev
  clang-14 libclang-rt-14-dev
)
# Running: tools the harness shells out to, and the systems under test on the local cluster.
RUN_PKGS=(
  openssh-server openssh-client iproute2 iptables procps util-linux
  gnuplot-nox graphviz
  iputils-ping
  libfaketime faketime socat libnetfilter-queue-dev
)

mode=${1:-all}
pkgs=("${BUILD_PKGS[@]}")
[ "$mode" = "--build" ] || pkgs+=("${RUN_PKGS[@]}")

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
apt-get install -y -qq --no-install-recommends "${missing[@]}"
