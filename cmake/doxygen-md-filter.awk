# Doxygen input filter for docs/*.md (FILTER_PATTERNS in docs/Doxyfile.in):
# makes the links that work on a source browser work in the HTML reference.
# - Headings lose their backticks (see below); those of level 2 and below
#   get an id, {#PAGE-SLUG}, SLUG as a source browser makes it (lowercase;
#   letters, digits, '-' and '_' kept; spaces become '-'; -1, -2 ... for
#   repeats), PAGE the file's name: ids are global in Doxygen.
# - [t](#slug) becomes [t](#PAGE-slug); [t](other.md#slug) becomes
#   [t](md_other.html#other-slug) (README.md: index.html).
# - [t](../examples/NAME.cpp) becomes [t](NAME_8cpp-example.html), the
#   example's page.
# Lines inside ``` fences are left alone. Line numbers are kept.
function page(name) {
  sub(/^.*\//, "", name)
  sub(/\.md$/, "", name)
  return name
}
function html(name) { return name == "README" ? "index.html" : "md_" name ".html" }
BEGIN { fence = 0 }
FNR == 1 { self = page(FILENAME); delete seen }
/^[ \t]*```/ { fence = !fence; print; next }
fence { print; next }
{
  line = $0
  # Doxygen 1.9.4 shows a code span in a title as a literal <tt> in the
  # navigation tree and the page list: titles go without backticks.
  if (line ~ /^#+ /) gsub(/`/, "", line)
  if (line ~ /^##+ / && line !~ /\{#[^}]*\}[ \t]*$/) {
    slug = line
    sub(/^#+ +/, "", slug)
    slug = tolower(slug)
    gsub(/[^a-z0-9 _-]/, "", slug)
    gsub(/ /, "-", slug)
    if (slug in seen) { seen[slug]++; slug = slug "-" seen[slug] } else seen[slug] = 0
    line = line " {#" self "-" slug "}"
  }
  out = ""
  while (match(line, /\]\([^)]*\)/)) {
    target = substr(line, RSTART + 2, RLENGTH - 3)
    if (target ~ /^#/) {
      target = "#" self "-" substr(target, 2)
    } else if (target ~ /^[A-Za-z0-9_]+\.md#/) {
      other = target; sub(/\.md#.*$/, "", other)
      frag = target; sub(/^[^#]*#/, "", frag)
      target = html(other) "#" other "-" frag
    } else if (target ~ /^\.\.\/examples\/[A-Za-z0-9_]+\.cpp$/) {
      name = target; sub(/^\.\.\/examples\//, "", name); sub(/\.cpp$/, "", name)
      target = name "_8cpp-example.html"
    }
    out = out substr(line, 1, RSTART - 1) "](" target ")"
    line = substr(line, RSTART + RLENGTH)
  }
  print out line
}
