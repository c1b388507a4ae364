// A manual clock whose now() can be made to throw, for the tests of what a
// throwing Clock::now() leaves behind (the caches, the breaker, the timer).
#ifndef SURGE_TESTS_SUPPORT_THROWING_CLOCK_HPP
#define SURGE_TESTS_SUPPORT_THROWING_CLOCK_HPP

#include <chrono>
#include <cstdint>
#include <ratio>
#include <stdexcept>

namespace surge_test {

/// now() reads `ticks`, and throws std::runtime_error on its countdown-th
/// call from now (0: the next one; < 0: never) and on every call while
/// `failing` is set. One clock per Tag; for one thread at a time (plain
/// statics).
template <class Tag, class Period = std::nano>
struct throwing_clock {
  using rep = std::int64_t;
  using period = Period;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<throwing_clock>;
  static constexpr bool is_steady = false;
  static inline rep ticks = 0;
  static inline int countdown = -1;
  static inline bool failing = false;
  static time_point now() {
    if (failing || (countdown >= 0 && countdown-- == 0)) throw std::runtime_error("clock");
    return time_point{duration{ticks}};
  }
};

}  // namespace surge_test

#endif  // SURGE_TESTS_SUPPORT_THROWING_CLOCK_HPP
