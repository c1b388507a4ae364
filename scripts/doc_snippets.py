#!/usr/bin/env python3
"""Keeps the code blocks of README.md and docs/*.md equal to compiled sources.

A C++ block in the documentation is quoted from a region of a source file that
CI compiles (docs/snippets/*.cpp, or an example). In the source:

    // [snippet: name]
    ...code shown in the docs...
    // [/snippet]

In the markdown, a marker line directly before the fence names the region:

    <!-- snippet: docs/snippets/cache.cpp#name -->
    ```cpp
    ...
    ```

Regions may nest (an outer snippet shows the marker lines of the regions
inside it), and several regions with the same name are joined with one blank
line between them. Each region is dedented by its common leading whitespace
and loses its leading and trailing blank lines.

    doc_snippets.py check    exit 1 listing every block that differs from its
                             source, every C++ block without a marker, every
                             block without a language, and every broken marker
    doc_snippets.py update   rewrite the marked blocks from their sources
                             (exit 1 if problems remain that update cannot fix)

Standard library only.
"""

import argparse
import difflib
import pathlib
import re
import sys

CPP_LANGUAGES = {"cpp", "c++", "cxx", "cc", "hpp", "h"}
MARKER = re.compile(r"^<!--\s*snippet:\s*(?P<path>[^#\s]+)#(?P<name>[\w.-]+)\s*-->\s*$")
BEGIN = re.compile(r"^\s*//\s*\[snippet:\s*(?P<name>[\w.-]+)\s*\]\s*$")
END = re.compile(r"^\s*//\s*\[/snippet\]\s*$")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def default_root():
    return pathlib.Path(__file__).resolve().parent.parent


def doc_files(root):
    files = [root / "README.md"]
    files += sorted((root / "docs").glob("*.md"))
    return [f for f in files if f.is_file()]


class SnippetError(Exception):
    pass


def read_regions(path):
    """All named regions of a source file: name -> list of line lists."""
    regions = {}
    stack = []  # (name, lines, begin line number)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        begin = BEGIN.match(line)
        if begin:
            for _, lines, _ in stack:
                lines.append(line)
            stack.append((begin.group("name"), [], number))
            continue
        if END.match(line):
            if not stack:
                raise SnippetError(f"{path}:{number}: [/snippet] without a [snippet: ...]")
            name, lines, _ = stack.pop()
            regions.setdefault(name, []).append(lines)
        for _, lines, _ in stack:
            lines.append(line)
    if stack:
        name, _, number = stack[-1]
        raise SnippetError(f"{path}:{number}: [snippet: {name}] is never closed")
    return regions


def dedent(lines):
    indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
    cut = min(indents, default=0)
    return [l[cut:] if l.strip() else "" for l in lines]


class Sources:
    def __init__(self, root):
        self.root = root
        self.cache = {}

    def snippet(self, rel, name):
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise SnippetError(f"{rel}: outside the repository")
        if path not in self.cache:
            if not path.is_file():
                raise SnippetError(f"{rel}: no such file")
            self.cache[path] = read_regions(path)
        regions = self.cache[path].get(name)
        if regions is None:
            raise SnippetError(f"{rel}: no snippet named '{name}'")
        out = []
        for region in regions:
            region = dedent(region)
            while region and not region[-1]:
                region.pop()
            while region and not region[0]:
                region.pop(0)
            if out and region:
                out.append("")
            out.extend(region)
        return out


def blocks(lines):
    """Fenced blocks at column 0: (open index, close index, language)."""
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m.group("fence")
        language = m.group("info").strip().split(" ")[0].lower() if m.group("info").strip() else ""
        j = i + 1
        while j < len(lines) and not (lines[j].startswith(fence[0] * len(fence)) and not lines[j].strip(fence[0]).strip()):
            j += 1
        yield i, j, language
        i = j + 1


def process(doc, root, sources, rewrite):
    """Returns (problems, new text or None)."""
    rel = doc.relative_to(root)
    text = doc.read_text(encoding="utf-8")
    lines = text.split("\n")
    problems = []
    edits = []  # (open, close, new body)
    for start, end, language in blocks(lines):
        where = f"{rel}:{start + 1}"
        if end >= len(lines):
            problems.append(f"{where}: code block never closed")
            continue
        marker = MARKER.match(lines[start - 1]) if start > 0 else None
        if not language:
            problems.append(f"{where}: code block without a language (use cpp, sh, text, ...)")
        if marker is None:
            if language in CPP_LANGUAGES:
                problems.append(f"{where}: C++ block without a '<!-- snippet: FILE#NAME -->' line before it")
            continue
        try:
            want = sources.snippet(marker.group("path"), marker.group("name"))
        except SnippetError as e:
            problems.append(f"{where}: {e}")
            continue
        have = lines[start + 1 : end]
        if have != want:
            if rewrite:
                edits.append((start, end, want))
            else:
                diff = difflib.unified_diff(want, have, f"{marker.group('path')}#{marker.group('name')}", str(rel), lineterm="", n=1)
                problems.append(f"{where}: differs from {marker.group('path')}#{marker.group('name')}\n    " + "\n    ".join(diff))
    if not edits:
        return problems, None
    for start, end, want in reversed(edits):
        lines[start + 1 : end] = want
    return problems, "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["check", "update"])
    parser.add_argument("--root", type=pathlib.Path, default=default_root(), help="repository root (default: this script's parent folder)")
    parser.add_argument("files", nargs="*", type=pathlib.Path, help="markdown files (default: README.md and docs/*.md)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    files = [f.resolve() for f in args.files] or doc_files(root)
    sources = Sources(root)
    problems = []
    checked = 0
    for doc in files:
        found, new_text = process(doc, root, sources, args.command == "update")
        problems += found
        checked += 1
        if new_text is not None:
            doc.write_text(new_text, encoding="utf-8")
            print(f"updated {doc.relative_to(root)}")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"doc_snippets: {len(problems)} problem(s) in {checked} file(s)", file=sys.stderr)
        return 1
    print(f"doc_snippets: {checked} file(s) in sync with their sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
