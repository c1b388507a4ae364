// Shared by the limit tests: readings any distance apart, at a rate where one
// token unit is exactly one nanosecond, so a limiter that moves its epoch must
// match an exact model (in 128-bit nanoseconds) at every reading.
#pragma once

#include <cstdint>
#include <limits>
#include <random>

namespace limit_test {

// At 1e9 / 2^20 per second one token unit is exactly one nanosecond (a token
// is 2^20 ns): moving an epoch rounds nothing.
constexpr double unit_ns_rate = 1e9 / 1048576.0;
constexpr std::int64_t token_ns = 1048576;
__extension__ using i128 = __int128;  // the models' time: no overflow anywhere

// Calls f(built, first) for construction times and first readings at the
// clock's zero, at its minimum and far after (2^62 and 2^60 ns).
template <class F>
void for_far_starts(F f) {
  constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  for (std::int64_t built : {std::int64_t{0}, lo, std::int64_t{1} << 62})
    for (std::int64_t first : {std::int64_t{0}, lo + 1, std::int64_t{1} << 60}) f(built, first);
}

// Random readings from `start`: mostly steps within a few tokens (some
// backwards), some of days to years, up to the end of the clock's range.
template <class Step>
void walk(std::mt19937_64& rng, std::int64_t start, Step step) {
  std::int64_t t = start;
  for (int i = 0; i < 20'000 && t < std::numeric_limits<std::int64_t>::max() - (std::int64_t{1} << 59); ++i) {
    const auto r = rng() % 100;
    if (r < 3)
      t += static_cast<std::int64_t>(rng() % (std::uint64_t{1} << 58));  // up to 9 years
    else if (r < 10)
      t += static_cast<std::int64_t>(rng() % (std::uint64_t{1} << 50));  // up to 13 days
    else if (r < 25)  // a reading older than the last (not before the clock's range)
      t = t < std::numeric_limits<std::int64_t>::min() + 3 * token_ns
              ? std::numeric_limits<std::int64_t>::min()
              : t - static_cast<std::int64_t>(rng() % (3 * token_ns));
    else
      t += static_cast<std::int64_t>(rng() % (3 * token_ns));
    step(t);
  }
}

}  // namespace limit_test
