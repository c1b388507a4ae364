#!/usr/bin/env python3
"""Before/after benchmark of two revisions of surge, in one run.

Builds one benchmark program (release preset) at each of two revisions, each
in a temporary git worktree, then runs the two builds alternately (who goes
first alternates too), each run under the exclusive benchmark lock, and
writes the surge rows as one table: per row, the median over the runs of each
revision, every run's figure in the note, and "surge ×" = how many times
better AFTER is than BEFORE (above 1: AFTER is faster). Peer rows are left
out: only surge changed between the revisions.

    scripts/ab_bench.py BEFORE AFTER BENCH --name NAME [--runs N] \\
        --args "--filter '1P1C try_' --reps 3" [--args "..."]

BEFORE and AFTER are anything `git rev-parse` takes; BENCH is the program's
short name (queue for surge_bench_queue); each --args is one invocation's
arguments, run --runs times per revision (default 3). Writes
bench-results/NAME.json and NAME.meta.json, which
    scripts/bench_table.py update --results bench-results docs/PAGE.md
puts into the page's <!-- bench: NAME --> table.
"""
import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def git(*args, cwd=ROOT):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def build(rev, bench, scratch, lock):
    """The path of surge_bench_BENCH built at rev in a worktree under scratch
    (holding the lock shared, so no benchmark runs beside the compiler)."""
    tree = os.path.join(scratch, rev)
    git("worktree", "add", "--detach", tree, rev)
    for step in (["cmake", "--preset", "release"],
                 ["cmake", "--build", "build/release", "-j2", "--target", f"surge_bench_{bench}"]):
        subprocess.run(["flock", "-s", lock, *step], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(tree, "build", "release", "bench", f"surge_bench_{bench}")


def run(program, args, lock):
    out = subprocess.run(["flock", "-x", lock, program, *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def quote(text):
    """text as one shell word, in double quotes when that needs no escapes."""
    return f'"{text}"' if not any(c in text for c in '"$`\\!') else shlex.quote(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("bench")
    p.add_argument("--name", required=True)
    p.add_argument("--args", action="append", required=True)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    revs = [git("rev-parse", "--short", a.before), git("rev-parse", "--short", a.after)]
    lock = os.environ.get("SURGE_BENCH_LOCK", "/tmp/surge-quiet.lock")
    rows, machine, floor = [], "?", None
    with tempfile.TemporaryDirectory(prefix="surge-ab-") as scratch:
        try:
            programs = [build(r, a.bench, scratch, lock) for r in revs]
            for args_text in a.args:
                args = shlex.split(args_text)
                figures = {}  # (scenario, impl) -> ([before...], [after...]), in the programs' order of rows
                meta = {}
                for i in range(a.runs):
                    for side in ((0, 1) if i % 2 == 0 else (1, 0)):
                        print(f"--- {revs[side]}: surge_bench_{a.bench} {args_text} (run {i + 1})", file=sys.stderr)
                        doc = run(programs[side], args, lock)
                        machine, floor = doc["machine"], doc.get("floor", floor)
                        for r in doc["rows"]:
                            if not r["impl"].startswith("surge"):
                                continue
                            key = (r["scenario"], r["impl"])
                            figures.setdefault(key, ([], []))[side].append(r["value"])
                            meta[key] = (r["unit"], r["better"])
                for (scenario, impl), (before, after) in figures.items():
                    if not before or not after:  # a row one revision does not print (renamed, or filtered out)
                        print(f"ab_bench: left out '{scenario} / {impl}': only "
                              f"{revs[1] if after else revs[0]} printed it", file=sys.stderr)
                        continue
                    unit, better = meta[(scenario, impl)]
                    b, f = statistics.median(before), statistics.median(after)
                    x = (f / b if better == "higher" else b / f) if b > 0 and f > 0 else 0
                    runs = lambda v: ", ".join(f"{y:.4g}" for y in v)
                    rows.append({"scenario": scenario, "impl": f"{impl}, after ({revs[1]})", "value": f, "unit": unit,
                                 "better": better, "surge_x": 1, "note": f"runs: {runs(after)}; `{args_text}`"})
                    rows.append({"scenario": scenario, "impl": f"{impl}, before ({revs[0]})", "value": b, "unit": unit,
                                 "better": better, "surge_x": x,
                                 "note": f"runs: {runs(before)}; after is {x:.2f}x before"})
        finally:
            for r in revs:
                subprocess.run(["git", "worktree", "remove", "--force", os.path.join(scratch, r)], cwd=ROOT,
                               capture_output=True)
    if not rows:
        print("ab_bench: no surge row was printed by both revisions: nothing to compare", file=sys.stderr)
        return 1
    out = os.path.join(ROOT, "bench-results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, a.name + ".json"), "w") as f:
        json.dump({"title": f"{revs[0]} against {revs[1]}", "machine": machine, "floor": floor, "rows": rows}, f)
    command = (f"scripts/ab_bench.py {a.before} {a.after} {a.bench} --name {a.name} --runs {a.runs} " +
               " ".join(f"--args {quote(x)}" for x in a.args))
    with open(os.path.join(out, a.name + ".meta.json"), "w") as f:
        json.dump({"command": command, "date": datetime.datetime.utcnow().strftime("%Y-%m-%d")}, f)
    print(f"wrote {os.path.join(out, a.name)}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
