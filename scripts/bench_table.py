#!/usr/bin/env python3
"""Benchmark --json output to the Markdown tables docs/ shows. Nothing in a
docs table is typed by hand.

One file to stdout:
    scripts/bench_table.py show limit.json --command "build/release/bench/surge_bench_limit"

Every marked table in the docs, from a results folder written by
scripts/run_benches.sh (NAME.json and NAME.cmd per run):
    scripts/bench_table.py update --results bench-results docs/*.md

A marked table in a page is the text between
    <!-- bench: NAME -->
    <!-- /bench -->
and is replaced by the table of NAME.json. Each table starts with a line naming
the machine, the machine's floor measured in the same run, the compiler, the
date and the command; "surge ×" is how many times better surge is than that
row (above 1: surge wins).
"""
import argparse
import datetime
import json
import os
import re
import sys


def fmt_value(v):
    if v == 0:
        return "0"
    if abs(v) >= 1e6:
        return f"{v:.3g}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def table(doc, command, date):
    head = f"Machine: {doc['machine']}. "
    floor = doc.get("floor")
    if floor:
        head += (f"Floor in the same run: L1 hit {floor['l1_hit_ns']:.2f} ns, "
                 f"uncontended atomic RMW {floor['atomic_rmw_ns']:.2f} ns, "
                 f"cross-core line transfer {floor['line_transfer_ns']:.1f} ns. ")
    head += f"Date: {date}. Command: `{command}`."
    out = [head, "", "| scenario | implementation | value | unit | surge × | note |",
           "|---|---|---:|---|---:|---|"]
    last = None
    for r in doc["rows"]:
        sc = r["scenario"] if r["scenario"] != last else ""
        last = r["scenario"]
        x = r.get("surge_x", 0)
        xs = f"{x:.2f}" if x else "–"
        note = r.get("note", "").replace("|", "\\|")
        out.append(f"| {sc} | {r['impl']} | {fmt_value(r['value'])} | {r['unit']} | {xs} | {note} |")
    return "\n".join(out)


MARK = re.compile(r"(<!-- bench: ([\w.-]+) -->\n)(.*?)(<!-- /bench -->)", re.S)


def update(results, pages):
    missing = []
    for page in pages:
        with open(page) as f:
            text = f.read()

        def fill(m):
            name = m.group(2)
            path = os.path.join(results, name + ".json")
            if not os.path.exists(path):
                missing.append(f"{page}: {name}")
                return m.group(0)
            with open(path) as f:
                doc = json.load(f)
            meta = {}
            meta_path = os.path.join(results, name + ".meta.json")
            if os.path.exists(meta_path):
                with open(meta_path) as f:
                    meta = json.load(f)
            body = table(doc, meta.get("command", "?").strip(), meta.get("date", "?"))
            return m.group(1) + body + "\n" + m.group(4)

        new = MARK.sub(fill, text)
        if new != text:
            with open(page, "w") as f:
                f.write(new)
            print(f"updated {page}")
    for m in missing:
        print(f"no results for {m}", file=sys.stderr)
    return 1 if missing else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("show")
    s.add_argument("json", nargs="+")
    s.add_argument("--command", required=True)
    s.add_argument("--date", default=datetime.date.today().isoformat())
    u = sub.add_parser("update")
    u.add_argument("--results", required=True)
    u.add_argument("pages", nargs="+")
    a = p.parse_args()
    if a.cmd == "show":
        for i, path in enumerate(a.json):
            with open(path) as f:
                doc = json.load(f)
            if i:
                print()
            print(table(doc, a.command, a.date))
        return 0
    return update(a.results, a.pages)


if __name__ == "__main__":
    sys.exit(main())
