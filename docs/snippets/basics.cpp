// The code blocks of docs/basics.md, compiled and run as tests. The regions
// between "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the
// page (scripts/doc_snippets.py keeps them equal).
// [snippet: fmt]
#include <surge/fmt.hpp>
// [/snippet]

#include "surge_test.hpp"

namespace {

void print_version() {
  // [snippet: fmt]
  fmt::print("surge {}\n", surge::version);
  // [/snippet]
  CHECK(fmt::format("{}", surge::version) == surge::version_string);
}

}  // namespace

TEST_CASE("basics.md snippets", "[docs]") { print_version(); }
