#!/usr/bin/env bash
# Installs, with apt-get, whatever surge's build, tests, examples and benchmarks
# need and this Debian/Ubuntu machine lacks. Uses sudo when not root.
# (g++ and clang++, CMake, Ninja, Catch2, {fmt}, the benchmark peers, and
# hiredis + redis-server for surge::redis and its tests, python3 for the
# check that the docs quote compiled code).
# With arguments, installs those packages instead (scripts/quickstart.sh).
set -euo pipefail

packages=(g++ clang cmake ninja-build catch2 libfmt-dev
          libatomic-queue-dev libconcurrentqueue-dev libboost-dev libtbb-dev libasio-dev
          pkg-config libhiredis-dev redis-server python3
          wrk nginx-light)  # wrk and nginx: the gateway example's demo (examples/gateway/demo.sh)
if [[ $# -gt 0 ]]; then
  packages=("$@")
else
  packages+=(doxygen) # the API reference: the docs target, which CI builds
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "surge: all dependencies are installed"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "surge: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
echo "surge: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
