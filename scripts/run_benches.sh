#!/usr/bin/env bash
# Runs benchmarks of the release build with --json, each under an exclusive
# lock (so nothing else that honours the lock runs beside it), and writes
# bench-results/NAME.json with NAME.meta.json (command, date). Then
#   scripts/bench_table.py update --results bench-results docs/*.md README.md
# puts the tables into the pages' marked places.
#
#   scripts/run_benches.sh                 # every bench, default and --sweep runs
#   scripts/run_benches.sh limit queue     # only these
#
# A bench that fails keeps its previous results; the others still run, and the
# script then exits 1 naming the ones that failed. surge_bench_redis starts
# (and stops) its own redis-server on a free loopback port; without
# redis-server it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench-results
mkdir -p "$out"
lock=${SURGE_BENCH_LOCK:-/tmp/surge-quiet.lock}
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for b in build/release/bench/surge_bench_*; do names+=("${b##*/surge_bench_}"); done
fi
run() {  # NAME-SUFFIX ARGS...
  local name=$1; shift
  local cmd="build/release/bench/surge_bench_${name%%.*}${*:+ $*}"
  echo "--- $cmd" >&2
  # a run that fails (e.g. surge_bench_redis without redis-server) keeps the previous results
  flock -x "$lock" $cmd --json > "$out/$name.json.tmp" || { rm -f "$out/$name.json.tmp"; return 1; }
  mv "$out/$name.json.tmp" "$out/$name.json" || return 1
  printf '{"command": "%s", "date": "%s"}\n' "$cmd" "$(date -u +%Y-%m-%d)" > "$out/$name.meta.json"
}
failed=()
for n in "${names[@]}"; do
  run "$n" || { failed+=("$n"); continue; }
  if "build/release/bench/surge_bench_$n" --help 2>&1 | grep -q -- --sweep && grep -qE "\b(o|opt|opts)\.sweep\b" "bench/${n}_bench.cpp"; then
    run "$n.sweep" --sweep || failed+=("$n.sweep")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_benches: failed, previous results kept: ${failed[*]}" >&2
  exit 1
fi
