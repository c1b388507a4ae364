// Clocks for tests at the limits of a clock's representation (the limiters',
// slow start's, the breaker's, the meter's, the caches' TTL checks): any rep
// and tick, a whole second, a minute, a picosecond, a 32-bit or a
// floating-point count. Tests pass them time points explicitly; now() is the
// epoch.
#ifndef SURGE_TESTS_SUPPORT_STILL_CLOCK_HPP
#define SURGE_TESTS_SUPPORT_STILL_CLOCK_HPP

#include <chrono>
#include <cstdint>
#include <ratio>

namespace surge_test {

template <class Rep, class Period>
struct still_clock {
  using rep = Rep;
  using period = Period;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<still_clock>;
  static constexpr bool is_steady = false;
  static time_point now() noexcept { return time_point{}; }
};

/// A whole second per tick: its readings overflow int64 nanoseconds beyond
/// 292 years.
using seconds_clock = still_clock<std::int64_t, std::ratio<1>>;

}  // namespace surge_test

#endif  // SURGE_TESTS_SUPPORT_STILL_CLOCK_HPP
