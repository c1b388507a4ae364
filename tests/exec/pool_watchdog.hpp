// Test support for the thread pool tests: the shared watchdog and sanitizer
// scaling (tests/support/watchdog.hpp) under the names these tests use, and a
// busy-work helper.
#pragma once

#include "watchdog.hpp"

namespace pool_test {

using surge_test::sanitized;
using surge_test::scaled;
using surge_test::watchdog;

/// Busy work of roughly `n` steps (no sleeping): gives workers time to go idle.
inline unsigned spin_work(unsigned n) {
  volatile unsigned x = 0;
  for (unsigned i = 0; i < n; ++i) x = x + i;
  return x;
}

}  // namespace pool_test
