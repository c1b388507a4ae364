// The code blocks of docs/development.md, compiled and run as tests: the page
// shows how a snippet is marked, quoting this (nested regions keep their
// marker lines in the outer snippet).
#include <surge/limit/token_bucket.hpp>

#include "surge_test.hpp"

namespace {

int served = 0;
void serve() { ++served; }

// [snippet: marked_function]
void token_bucket() {
  // [snippet: token_bucket]
  surge::token_bucket<> bucket(100.0, 10);  // what the page shows
  if (bucket.try_acquire()) serve();
  // [/snippet]
  CHECK(served == 1);  // what the test checks, not shown
}
// [/snippet]

}  // namespace

TEST_CASE("development.md snippets", "[docs]") { token_bucket(); }
