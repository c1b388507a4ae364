#!/usr/bin/env python3
"""Turns one or more benchmark --json outputs into the Markdown tables docs/ shows.

    build/release/bench/surge_bench_limit --json > limit.json
    scripts/bench_table.py limit.json --command "build/release/bench/surge_bench_limit"

Prints, for each input, a header line naming the machine, the machine's floor
measured in the same run, the date and the command, then one table: scenario,
implementation, value, unit, and "surge x" (how many times better surge is
than that row; above 1: surge wins). Nothing in a docs table is typed by hand.
"""
import argparse
import datetime
import json
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
    out = []
    out.append(f"Machine: {doc['machine']}. ")
    floor = doc.get("floor")
    if floor:
        out[-1] += (f"Floor in the same run: L1 hit {floor['l1_hit_ns']:.2f} ns, "
                    f"uncontended atomic RMW {floor['atomic_rmw_ns']:.2f} ns, "
                    f"cross-core line transfer {floor['line_transfer_ns']:.1f} ns. ")
    out[-1] += f"Date: {date}. Command: `{command}`."
    out.append("")
    out.append("| scenario | implementation | value | unit | surge × | note |")
    out.append("|---|---|---:|---|---:|---|")
    last = None
    for r in doc["rows"]:
        sc = r["scenario"] if r["scenario"] != last else ""
        last = r["scenario"]
        x = r.get("surge_x", 0)
        xs = f"{x:.2f}" if x else "–"
        out.append(f"| {sc} | {r['impl']} | {fmt_value(r['value'])} | {r['unit']} | {xs} | {r.get('note', '')} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", nargs="+", help="files written by a bench's --json")
    p.add_argument("--command", required=True, help="the command that produced them, shown with the table")
    p.add_argument("--date", default=datetime.date.today().isoformat())
    a = p.parse_args()
    for i, path in enumerate(a.json):
        with open(path) as f:
            doc = json.load(f)
        if i:
            print()
        print(table(doc, a.command, a.date))
    return 0


if __name__ == "__main__":
    sys.exit(main())
