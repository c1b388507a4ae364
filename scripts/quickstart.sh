#!/usr/bin/env bash
# The README's first command: install what is missing, build the example tour
# (optimised), and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --workflow --preset tour
build/tour/examples/surge_example_tour
