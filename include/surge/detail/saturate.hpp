/// @file surge/detail/saturate.hpp
/// Saturating arithmetic shared by several areas: time (limit, balance,
/// metrics, resilience read clocks) and event counters (metrics). Clock
/// readings may lie anywhere in their int64 range (a manual clock at its
/// limits, readings more than 292 years apart, a clock whose tick is coarser
/// than a nanosecond): every sum and difference of readings goes through
/// these, so it saturates instead of overflowing. Counters stop at
/// 2^64 − 1 and never read as wrapped.
#ifndef SURGE_DETAIL_SATURATE_HPP
#define SURGE_DETAIL_SATURATE_HPP

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

namespace surge::detail {

/// a + b, saturated to the int64 range.
[[nodiscard]] inline std::int64_t add_sat(std::int64_t a, std::int64_t b) noexcept {
  constexpr std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min();
#if defined(__GNUC__)  // g++ and clang: one add and a branch on the overflow flag
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? hi : lo;
  return r;
#endif
  if (b > 0 && a > hi - b) return hi;
  if (b < 0 && a < lo - b) return lo;
  return a + b;
}

/// a + b for counts, saturated at 2^64 − 1.
[[nodiscard]] constexpr std::uint64_t count_add_sat(std::uint64_t a, std::uint64_t b) noexcept {
  return a > std::numeric_limits<std::uint64_t>::max() - b ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

/// Adds n to a counter shared by racing threads, saturating at 2^64 − 1; no
/// reader ever sees it wrapped. While the counter is below 2^63 and n at most
/// 2^32, a plain fetch_add: only adds that read it below 2^63 take that path,
/// so carrying it past 2^64 would take 2^31 of them in flight at once, more
/// threads than a process can have. Otherwise compare-and-swap. Lock-free.
inline void count_add(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
  if (n <= (std::uint64_t{1} << 32) && c.load(std::memory_order_relaxed) < (std::uint64_t{1} << 63)) [[likely]] {
    c.fetch_add(n, std::memory_order_relaxed);
    return;
  }
  std::uint64_t cur = c.load(std::memory_order_relaxed);
  while (!c.compare_exchange_weak(cur, count_add_sat(cur, n), std::memory_order_relaxed)) {
  }
}

/// a - b, saturated to the int64 range.
[[nodiscard]] inline std::int64_t sub_sat(std::int64_t a, std::int64_t b) noexcept {
  constexpr std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min();
#if defined(__GNUC__)
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? lo : hi;
  return r;
#endif
  if (b > 0 && a < lo + b) return lo;
  if (b < 0 && a > hi + b) return hi;
  return a - b;
}

/// True when std::chrono::duration_cast of `d` to a duration of period
/// `ToPeriod` cannot overflow on the way: an integer count times the ratio's
/// numerator stays within intmax_t (the cast multiplies before it divides).
template <class ToPeriod, class Rep, class Period>
[[nodiscard]] constexpr bool cast_fits(std::chrono::duration<Rep, Period> d) noexcept {
  if constexpr (std::chrono::treat_as_floating_point_v<Rep>) {
    return false;  // computed in floating point: may round up past the range
  } else {
    using factor = std::ratio_divide<Period, ToPeriod>;
    if constexpr (sizeof(Rep) > sizeof(std::intmax_t)) {  // a 128-bit count would lose its high bits below
      if (d.count() > static_cast<Rep>(INTMAX_MAX)) return false;
      if constexpr (Rep(-1) < Rep(0)) {
        if (d.count() < static_cast<Rep>(INTMAX_MIN)) return false;
      }
    } else if constexpr (std::is_unsigned_v<Rep>) {  // a count above INTMAX_MAX would read as negative below
      if (static_cast<std::uintmax_t>(d.count()) > static_cast<std::uintmax_t>(INTMAX_MAX)) return false;
    }
    const auto count = static_cast<std::intmax_t>(d.count());
    const std::uintmax_t mag =
        count < 0 ? std::uintmax_t(0) - static_cast<std::uintmax_t>(count) : static_cast<std::uintmax_t>(count);
    return mag <= static_cast<std::uintmax_t>(INTMAX_MAX / factor::num);
  }
}

/// A duration in whole nanoseconds (truncated toward zero), saturated to the
/// int64 range (NaN gives 0). Exact for an integer count of up to 64 bits
/// (but for a tick whose ratio to a nanosecond, reduced, has a numerator
/// times denominator past 2^64: within 2^10 ns). Free for
/// std::chrono::nanoseconds.
template <class Rep, class Period>
[[nodiscard]] std::int64_t to_ns_sat(std::chrono::duration<Rep, Period> d) noexcept {
  using ns = std::chrono::nanoseconds;
  using factor = std::ratio_divide<Period, std::nano>;
  if constexpr (std::is_same_v<std::chrono::duration<Rep, Period>, ns>) {
    return d.count();
  } else {
    // exact when the cast cannot overflow on the way (its result then fits too)
    if (cast_fits<std::nano>(d)) return std::chrono::duration_cast<ns>(d).count();
    if constexpr (!std::chrono::treat_as_floating_point_v<Rep> && sizeof(Rep) <= sizeof(std::uintmax_t) &&
                  static_cast<std::uintmax_t>(factor::den - 1) <=
                      std::numeric_limits<std::uintmax_t>::max() / factor::num) {
      // the cast overflows on the way (1/1024 s ticks multiply by 1953125
      // first): in magnitudes, |count| = q * den + r, so |count| * num / den
      // is q * num + r * num / den, truncated toward zero as the cast is
      std::uintmax_t mag = static_cast<std::uintmax_t>(d.count());
      bool negative = false;
      if constexpr (std::is_signed_v<Rep>) {
        negative = d.count() < 0;
        if (negative) mag = std::uintmax_t(0) - mag;
      }
      constexpr std::int64_t hi = std::numeric_limits<std::int64_t>::max();
      const std::uintmax_t bound = negative ? std::uintmax_t{hi} + 1 : std::uintmax_t{hi};
      const std::uintmax_t q = mag / factor::den, r = mag % factor::den;
      // q * num <= 2^63 and r * num / den < num < 2^63: the sum cannot wrap
      const std::uintmax_t total =
          q > bound / factor::num ? bound + 1 : q * factor::num + r * factor::num / factor::den;
      if (total > bound) return negative ? std::numeric_limits<std::int64_t>::min() : hi;
      return negative ? static_cast<std::int64_t>(std::uintmax_t(0) - total) : static_cast<std::int64_t>(total);
    } else {
      // a floating or 128-bit count (or a tick too far from a nanosecond for
      // the above): the double's value, within 2^10 ns of it; ±2^63 are doubles,
      // and every double strictly between them converts without overflow
      // (the largest below 2^63 is 2^63 - 2^10)
      const double x = std::chrono::duration<double, std::nano>(d).count();
      if (std::isnan(x)) return 0;
      if (x >= 0x1.0p63) return std::numeric_limits<std::int64_t>::max();
      if (x <= -0x1.0p63) return std::numeric_limits<std::int64_t>::min();
      return static_cast<std::int64_t>(x);
    }
  }
}

/// ns nanoseconds (>= 0) as a Duration rounded up to its tick, saturated to
/// Duration::max().
template <class Duration>
[[nodiscard]] Duration from_ns_ceil(std::int64_t ns) noexcept {
  if (ns <= 0) return Duration::zero();
  if constexpr (std::is_same_v<Duration, std::chrono::nanoseconds>) {
    return Duration(ns);
  } else {
    if (ns >= to_ns_sat(Duration::max())) return Duration::max();
    using rep = typename Duration::rep;
    if constexpr (std::is_floating_point_v<rep>) {
      // the nearest float may be below ns: step up to the first that is not
      // (long double holds every int64 exactly on x86-64)
      using exact_ns = std::chrono::duration<long double, std::nano>;
      rep r = static_cast<rep>(
          std::chrono::duration_cast<std::chrono::duration<long double, typename Duration::period>>(exact_ns(ns))
              .count());
      while (exact_ns(Duration(r)).count() < static_cast<long double>(ns))
        r = std::nextafter(r, std::numeric_limits<rep>::infinity());
      return Duration(r);
    }
    const std::chrono::nanoseconds d(ns);
    if (cast_fits<typename Duration::period>(d)) return std::chrono::ceil<Duration>(d);
    // ns times the ratio's numerator overflows (ns to 1/1024 s ticks
    // multiplies by 128 first): the same ceiling from the quotient and the
    // remainder. q * num is at most the result, below Duration::max(), which
    // may lie past INTMAX_MAX (an unsigned count of picoseconds): unsigned.
    using factor = std::ratio_divide<std::nano, typename Duration::period>;
    static_assert(factor::den <= INTMAX_MAX / factor::num, "surge: the clock's period is too far from a nanosecond");
    const std::uintmax_t q = static_cast<std::uintmax_t>(ns) / factor::den;
    const std::uintmax_t r = static_cast<std::uintmax_t>(ns) % factor::den;
    return Duration(
        static_cast<typename Duration::rep>(q * factor::num + (r * factor::num + factor::den - 1) / factor::den));
  }
}

/// t + d for d >= 0, saturated to TimePoint::max().
template <class TimePoint>
[[nodiscard]] TimePoint later_sat(TimePoint t, typename TimePoint::duration d) noexcept {
  const auto since = t.time_since_epoch();
  if (since > TimePoint::duration::zero() && d > TimePoint::duration::max() - since) return TimePoint::max();
  return t + d;
}

/// to - from: the time between two readings of a clock, however far apart,
/// saturated to the range of TimePoint::duration (an integral rep: for an
/// unsigned one, 0 when `to` is before `from`; a floating rep subtracts as
/// is).
template <class TimePoint>
[[nodiscard]] typename TimePoint::duration elapsed_sat(TimePoint from, TimePoint to) noexcept {
  using duration = typename TimePoint::duration;
  using rep = typename duration::rep;
  if constexpr (std::is_integral_v<rep> && std::is_signed_v<rep> && sizeof(rep) <= sizeof(std::int64_t)) {
    const std::int64_t d = sub_sat(to.time_since_epoch().count(), from.time_since_epoch().count());
    if (d > std::int64_t{std::numeric_limits<rep>::max()}) return duration(std::numeric_limits<rep>::max());
    if (d < std::int64_t{std::numeric_limits<rep>::min()}) return duration(std::numeric_limits<rep>::min());
    return duration(static_cast<rep>(d));
  } else if constexpr (std::is_unsigned_v<rep>) {
    return to < from ? duration::zero() : duration(to - from);
  } else {
    return to - from;
  }
}

}  // namespace surge::detail

#endif  // SURGE_DETAIL_SATURATE_HPP
