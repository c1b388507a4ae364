#!/usr/bin/env bash
# Builds the API reference (the `docs` target: Doxygen, every warning an
# error), checks that every link and image of the pages made from docs/*.md,
# and every link of README.md, resolves (with python3), and, when chromium is
# installed, renders screenshots of its landing page, one class page per area
# and the cache page with its charts, to look at. Nothing is written into the source tree. CI runs
# it without chromium.
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

# Every link and image of the pages made from docs/*.md must resolve: the file
# and, for page#section, the section (Doxygen checks only its own references).
if command -v python3 >/dev/null; then
  python3 - "$out/html" "$PWD" <<'PY'
import glob, os, re, sys
os.chdir(sys.argv[1])
ids = {}
def anchors(page):
    if page not in ids:
        ids[page] = set(re.findall(r'\b(?:id|name)="([^"]+)"', open(page, encoding="utf-8", errors="replace").read()))
    return ids[page]
bad = []
for page in sorted(glob.glob("index.html") + glob.glob("md_*.html")):
    html = open(page, encoding="utf-8", errors="replace").read()
    for link in re.findall(r'\b(?:href|src|data)="([^"]+)"', html):
        if re.match(r"[a-z]+:", link):
            continue
        target, _, section = link.partition("#")
        target = target or page
        if not os.path.isfile(target):
            bad.append(f"{page}: {link}: no such file")
        elif section and target.endswith(".html") and section not in anchors(target):
            bad.append(f"{page}: {link}: no such section")
# The top-level README.md is not a page of the reference (docs/README.md is
# its landing page): check its links in the source tree, a docs/NAME.md#slug
# against the id the pages' filter gives that section (NAME-slug).
readme = open(os.path.join(sys.argv[2], "README.md"), encoding="utf-8").read()
for link in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", "", readme, flags=re.S)):
    if re.match(r"[a-z]+:", link):
        continue
    target, _, section = link.partition("#")
    if not os.path.exists(os.path.join(sys.argv[2], target)):
        bad.append(f"README.md: {link}: no such file")
    elif section and re.fullmatch(r"docs/\w+\.md", target):
        name = target[5:-3]
        if f"{name}-{section}" not in anchors(f"md_{name}.html"):
            bad.append(f"README.md: {link}: no such section")
for b in bad:
    print("check_docs: broken link in", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  echo "check_docs: every link of the pages resolves"
else
  echo "check_docs: no python3: skipping the link check"
fi

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
