// A clock whose tick is a whole second, for tests at the limits of the clock
// (the limiters', slow start's): its readings overflow int64 nanoseconds
// beyond 292 years. Tests pass it time points explicitly.
#ifndef SURGE_TESTS_SUPPORT_SECONDS_CLOCK_HPP
#define SURGE_TESTS_SUPPORT_SECONDS_CLOCK_HPP

#include <chrono>
#include <cstdint>
#include <ratio>

namespace surge_test {

struct seconds_clock {
  using rep = std::int64_t;
  using period = std::ratio<1>;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<seconds_clock>;
  static constexpr bool is_steady = false;
  static time_point now() noexcept { return time_point{}; }
};

}  // namespace surge_test

#endif  // SURGE_TESTS_SUPPORT_SECONDS_CLOCK_HPP
