#!/usr/bin/env python3
"""Benchmark --json output to the Markdown tables docs/ shows. Nothing in a
docs table is typed by hand.

One file to stdout:
    scripts/bench_table.py show limit.json --command "build/release/bench/surge_bench_limit"

Every marked table in the docs, from a results folder written by
scripts/run_benches.sh (NAME.json and NAME.meta.json per run):
    scripts/bench_table.py update --results bench-results docs/*.md

Only the tables made from the marked tables (the peer-wins list, the summary of
ratios, the index; after merging pages regenerated elsewhere):
    scripts/bench_table.py update docs/*.md README.md

That no benchmark table is typed by hand (CTest docs_bench_tables runs this;
with --results, also that each marked table equals its results):
    scripts/bench_table.py check [--results bench-results] [PAGE ...]

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
import glob
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


def rendered(results, name):
    """The table of results/NAME.json with its NAME.meta.json, or None without results."""
    path = os.path.join(results, name + ".json")
    if not results or not os.path.exists(path):
        return None
    with open(path) as f:
        doc = json.load(f)
    meta = {}
    meta_path = os.path.join(results, name + ".meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    return table(doc, meta.get("command", "?").strip(), meta.get("date", "?"))


def rewrite(page, pattern, fill):
    """Replaces each match of `pattern` in `page` by fill(match); writes the page if it changed."""
    with open(page) as f:
        text = f.read()
    new = pattern.sub(fill, text)
    if new != text:
        with open(page, "w") as f:
            f.write(new)
        print(f"updated {page}")


def update(results, pages):
    missing = []
    for page in pages:

        def fill(m):
            body = rendered(results, m.group(2))
            if body is None:
                if results:
                    missing.append(f"{page}: {m.group(2)}")
                return m.group(0)
            return m.group(1) + body + "\n" + m.group(4)

        rewrite(page, MARK, fill)
    for m in missing:
        print(f"no results for {m}", file=sys.stderr)
    derived = update_derived(pages)
    return 1 if missing or derived else 0


# ---- tables made from the marked tables of the pages (no results needed) ----
#
#   <!-- bench-index -->    every marked table: page, section, machine, date, command
#   <!-- bench-wins -->     every row where a peer beats surge (surge × below 1), with its note
#   <!-- bench-summary -->  the ratios listed in scripts/bench_summary.json
# each closed by <!-- /bench-index --> (and so on). `update` refills them after
# the marked tables.

DERIVED = re.compile(r"(<!-- bench-(index|wins|summary) -->\n)(.*?)(<!-- /bench-\2 -->)", re.S)
CELLS = re.compile(r"(?<!\\)\|")


def read_blocks(pages):
    """The marked tables of `pages`: page, name, section, machine, date, command, rows."""
    blocks = []
    for page in pages:
        with open(page) as f:
            text = f.read()
        for m in MARK.finditer(text):
            before = re.sub(r"```.*?```", "", text[: m.start()], flags=re.S)
            headings = re.findall(r"^#+ (.+)$", before, re.M)
            body = m.group(3).split("\n")
            head = re.match(r"Machine: (.+?)\. (?:Floor .*?\. )?Date: (\S+)\. Command: `([^`]*)`", body[0])
            b = {"page": page, "name": m.group(2), "section": headings[-1] if headings else "",
                 "machine": head.group(1) if head else "?", "date": head.group(2) if head else "?",
                 "command": head.group(3) if head else "?", "rows": []}
            scenario = ""
            for line in body[2:]:
                if not line.startswith("| ") or line.startswith("|---"):
                    continue
                cells = [c.strip() for c in CELLS.split(line)[1:-1]]
                if len(cells) < 6 or cells[1] == "implementation":
                    continue
                scenario = cells[0] or scenario
                try:
                    x = float(cells[4])
                except ValueError:
                    x = 0.0
                b["rows"].append({"scenario": scenario, "impl": cells[1], "value": cells[2], "unit": cells[3],
                                  "x": x, "note": cells[5].replace("\\|", "|")})
            blocks.append(b)
    return blocks


def link(block, page):
    rel = os.path.relpath(block["page"], os.path.dirname(os.path.abspath(page)) if page else ".")
    return f"[{os.path.basename(block['page'])}]({rel})"


def index_table(blocks, page):
    out = ["| page, section | table | machine | date | command |", "|---|---|---|---|---|"]
    for b in blocks:
        out.append(f"| {link(b, page)}, {b['section']} | `{b['name']}` | {b['machine']} | {b['date']} | "
                   f"`{b['command']}` |")
    return "\n".join(out)


def wins_table(blocks, page):
    out = ["| page, table | scenario | peer | its figure | surge's figure | surge × | reason |",
           "|---|---|---|---:|---:|---:|---|"]
    for b in blocks:
        for r in b["rows"]:
            if r["impl"].startswith(("surge", "floor")) or not 0 < r["x"] < 1:
                continue
            if re.search(r"floor|not a peer|the clock's share", r["note"]):
                continue  # a reference row (the machine's or the clock's cost), not a peer
            ref = next((q for q in b["rows"] if q["scenario"] == r["scenario"] and q["impl"].startswith("surge")), None)
            if ref is None:
                continue
            note = r["note"]
            for key in ("peer wins: ", "faster than surge: "):
                if key in note:
                    note = note[note.index(key) + len(key):]
            note = note or "the page's text after the table"
            out.append(f"| {link(b, page)} `{b['name']}` | {r['scenario']} | {r['impl']} | {r['value']} {r['unit']} | "
                       f"{ref['value']} {ref['unit']} | {r['x']:.2f} | {note.replace('|', chr(92) + '|')} |")
    return "\n".join(out)


def summary_table(blocks, page, problems):
    spec_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_summary.json")
    with open(spec_path) as f:
        spec = json.load(f)
    by_name = {b["name"]: b for b in blocks}
    used = []
    out = ["| what | surge | peer (real library, or hand-written baseline) | surge × | page |", "|---|---|---|---:|---|"]
    for s in spec:
        b = by_name.get(s["table"])
        rows = b["rows"] if b else []
        def pick(scenario, impl):
            return next((r for r in rows if r["scenario"] == scenario and r["impl"] == impl), None)

        surge_row = pick(s["scenario"], s["surge_impl"]) if "surge_impl" in s else next(
            (r for r in rows if r["scenario"] == s["scenario"] and r["impl"].startswith("surge")), None)
        peer = pick(s.get("peer_scenario", s["scenario"]), s["peer_impl"])
        ratio = "?"
        if b and surge_row and peer and "peer_scenario" in s:
            # rows of two scenarios: the ratio of their values ("better" says which way)
            sv, pv = (float(r["value"].replace(",", "")) for r in (surge_row, peer))
            if sv > 0 and pv > 0:
                ratio = f"{(sv / pv if s['better'] == 'higher' else pv / sv):.2g}"  # values are rounded
        elif b and surge_row and peer and surge_row["x"] == 1 and peer["x"]:
            # rows of one scenario: the peer's "surge ×" is against the scenario's first surge row
            ratio = f"{peer['x']:.2f}"
        elif b and surge_row and peer and surge_row["x"] and peer["x"]:
            # against another surge row of the scenario: both "surge ×" are rounded, so the ratio of the
            # two would be off by up to a few percent; the values give it, the "surge ×" which way
            rounded = peer["x"] / surge_row["x"]
            sv, pv = (float(r["value"].replace(",", "")) for r in (surge_row, peer))
            ratio = f"{min((pv / sv, sv / pv), key=lambda q: abs(q - rounded)):.2f}"
        if ratio == "?":
            problems.append(f"{page}: bench-summary: no rows for {s['table']} / {s['scenario']} / {s['peer_impl']}")
        else:
            used.append(b)
        where = link(b, page) if b else s["table"]
        out.append(f"| {s['what']} | {s['surge']} | {s['peer']} | {ratio} | {where} |")
    machines = sorted({b["machine"] for b in used})
    dates = sorted({b["date"] for b in used})
    head = (f"Ratios read from the generated tables of each page ({'; '.join(machines) or '?'}; "
            f"{', '.join(dates) or '?'}); each page's table names its command.")
    return head + "\n\n" + "\n".join(out)


def derived_body(kind, blocks, page, problems):
    if kind == "summary":
        return summary_table(blocks, page, problems)
    return {"index": index_table, "wins": wins_table}[kind](blocks, page)


def update_derived(pages):
    blocks = read_blocks(pages)
    problems = []
    for page in pages:
        rewrite(page, DERIVED,
                lambda m: m.group(1) + derived_body(m.group(2), blocks, page, problems) + "\n" + m.group(4))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


HEAD = re.compile(r"^Machine: .+\. (Floor in the same run: .+\. )?Date: \d{4}-\d{2}-\d{2}\. Command: `[^`]+`\.$")


def check(results, pages):
    """Every marked table is closed, starts with its machine, date and command
    line, and holds a table; no table with a "surge ×" column (or bench text
    output with a "surge x" column) stands outside the markers."""
    bad = []
    for page in pages:
        with open(page) as f:
            lines = f.read().split("\n")
        inside, in_derived, fence, name, body = False, False, False, None, []
        for i, line in enumerate(lines, 1):
            opening = re.fullmatch(r"<!-- bench: ([\w.-]+) -->", line)
            if opening:
                if inside:
                    bad.append(f"{page}:{i}: bench block {name} is not closed before the next one")
                inside, name, body = True, opening.group(1), []
                continue
            if line == "<!-- /bench -->":
                if not inside:
                    bad.append(f"{page}:{i}: <!-- /bench --> without an opening marker")
                else:
                    bad += check_block(page, i, name, body, results)
                inside = False
                continue
            if inside:
                body.append(line)
                continue
            derived = re.fullmatch(r"<!-- (/?)bench-(index|wins|summary) -->", line)
            if derived:
                in_derived = not derived.group(1)
                continue
            if in_derived:
                continue  # checked below against the marked tables
            if line.startswith("```"):
                fence = not fence
            if re.match(r"\|.*\| surge × \|", line) or line.startswith("| scenario |") or (fence and re.match(r"scenario\s+impl.*surge x", line)):
                bad.append(f"{page}:{i}: a benchmark table outside <!-- bench: NAME --> markers (typed by hand?)")
        if inside:
            bad.append(f"{page}: bench block {name} is not closed")
    # the tables made from the marked tables must match them
    blocks = read_blocks(pages)
    for page in pages:
        with open(page) as f:
            text = f.read()
        for m in DERIVED.finditer(text):
            kind = m.group(2)
            problems = []
            want = derived_body(kind, blocks, page, problems)
            bad += problems
            if m.group(3) != want + "\n":
                bad.append(f"{page}: bench-{kind} differs from the marked tables (run `update`)")
    for b in bad:
        print("bench_table check:", b, file=sys.stderr)
    return 1 if bad else 0


def check_block(page, at, name, body, results):
    where = f"{page}:{at}: bench block {name}"
    if not body or not HEAD.match(body[0]):
        return [f"{where}: the first line must name the machine, date and command (as `update` writes it)"]
    if not any(line.startswith("| scenario | implementation |") for line in body):
        return [f"{where}: no table"]
    want = rendered(results, name)
    if want is not None and "\n".join(body) != want:
        return [f"{where}: differs from {os.path.join(results, name)}.json (run `update`)"]
    return []


def default_pages():
    """docs/*.md, and README.md once it holds a generated table."""
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    pages = sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    readme = os.path.join(root, "README.md")
    with open(readme) as f:
        if "<!-- bench" in f.read():
            pages.append(readme)
    return pages


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("show")
    s.add_argument("json", nargs="+")
    s.add_argument("--command", required=True)
    s.add_argument("--date", default=datetime.date.today().isoformat())
    u = sub.add_parser("update")
    u.add_argument("--results", default="", help="without it, only the tables made from the marked tables")
    u.add_argument("pages", nargs="+")
    c = sub.add_parser("check")
    c.add_argument("--results", default="")
    c.add_argument("pages", nargs="*")
    a = p.parse_args()
    if a.cmd == "check":
        return check(a.results, a.pages or default_pages())
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
