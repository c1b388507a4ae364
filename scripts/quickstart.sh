#!/usr/bin/env bash
# The README's first command: install what the example tour needs and this
# machine lacks (a C++20 compiler, CMake, Ninja and {fmt}; not the test
# framework or the benchmark peers), build the tour (optimised), and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh g++ cmake ninja-build libfmt-dev
cmake --workflow --preset tour
build/tour/examples/surge_example_tour
