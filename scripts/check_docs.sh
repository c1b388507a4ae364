#!/usr/bin/env bash
# Builds the API reference (the `docs` target: Doxygen, every warning an
# error) and, when chromium is installed, renders screenshots of its landing
# page, one class page per area and the cache page with its charts, to look at
# before a release. Nothing is written into the source tree.
#
#   scripts/check_docs.sh [BUILD_DIR]     (default: build/docs, a docs-only tree)
#
# Output: BUILD_DIR/docs/html/index.html and BUILD_DIR/docs/screenshots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/docs}

command -v doxygen >/dev/null || { echo "check_docs: doxygen is not installed (apt-get install doxygen)" >&2; exit 1; }
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S . -B "$build" -DSURGE_BUILD_TESTS=OFF -DSURGE_BUILD_EXAMPLES=OFF -DSURGE_BUILD_BENCH=OFF
fi
cmake --build "$build" --target docs
out=$(cd "$build" && pwd)/docs
echo "check_docs: $out/html/index.html (0 warnings)"

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
  echo "check_docs: no chromium: skipping the screenshots"
  exit 0
fi
shots="$out/screenshots"
rm -rf "$shots"
mkdir -p "$shots"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
pages=(
  index:index.html
  charts:md_cache.html
  cache:classsurge_1_1lru__cache.html
  queue:classsurge_1_1mpmc__queue.html
  exec:classsurge_1_1thread__pool.html
  limit:classsurge_1_1token__bucket.html
  balance:classsurge_1_1maglev.html
  resilience:classsurge_1_1circuit__breaker.html
  metrics:classsurge_1_1latency__histogram.html
  redis:classsurge_1_1redis_1_1token__bucket.html
)
for entry in "${pages[@]}"; do
  name=${entry%%:*}
  page=$out/html/${entry#*:}
  [[ -f "$page" ]] || { echo "check_docs: missing page $page" >&2; exit 1; }
  url="file://$page" size=1280,1000
  # charts: the hit-ratio section, tall enough for the table and two SVG charts
  [[ $name == charts ]] && url="$url#cache-hit-ratios" size=1280,2200
  # the virtual time budget lets the navigation tree's scripts finish first
  "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars --virtual-time-budget=5000 \
    --window-size="$size" --screenshot="$shots/$name.png" "$url" >/dev/null 2>&1
  echo "check_docs: $shots/$name.png"
done
