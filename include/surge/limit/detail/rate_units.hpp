/// @file surge/limit/detail/rate_units.hpp
/// Exact integer time <-> token arithmetic for surge's rate limiters.
///
/// A limiter's state is kept in *token units* (2^-F of one token) rather than
/// in nanoseconds: a request for n tokens then moves the state by exactly
/// n << F, so nothing is rounded per request and nothing drifts, whatever the
/// rate (1/3 per second has no exact nanosecond interval; it has an exact
/// token step). Only the reading of the clock is converted,
///
///     units(t) = floor(t_ns * m / 2^s)      with m / 2^s = rate * 2^F / 1e9,
///
/// and m is computed from the double `rate` rounded up in its 63rd bit (m in
/// [2^62, 2^63)), so the clock conversion is off by less than one unit at any
/// time, and that error does not accumulate. F is chosen so one unit lasts at
/// most one nanosecond (whole nanosecond readings then convert without loss
/// of a tick) as far as two limits allow: F <= 32 (so rates below 0.24/s
/// have longer units), and the largest token count kept (the burst) times
/// 2^F stays below 2^50. A burst that takes more than 5.6e5 s (6.5 days) to
/// refill may therefore get units longer than 1 ns, up to 2 * burst /
/// (rate * 2^50) seconds: 2.4 ns for a million tokens a month, 20 us for a
/// burst of 2^40 at 100/s.
///
/// Everything here is constexpr-free plain integer code; 128-bit products use
/// `unsigned __int128` where the compiler has it and a portable path otherwise.
#ifndef SURGE_LIMIT_DETAIL_RATE_UNITS_HPP
#define SURGE_LIMIT_DETAIL_RATE_UNITS_HPP

#include <surge/detail/saturate.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

namespace surge::detail {

/// A 128-bit unsigned value as two halves (portable; no compiler extension).
struct u128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
};

/// Full 64x64 -> 128-bit product.
inline u128 mul_64x64(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SIZEOF_INT128__)
  __extension__ using wide = unsigned __int128;
  const wide p = static_cast<wide>(a) * b;
  return {static_cast<std::uint64_t>(p >> 64), static_cast<std::uint64_t>(p)};
#else
  const std::uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = b & 0xffffffffu, b_hi = b >> 32;
  const std::uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
  const std::uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
  return {hh + (lh >> 32) + (hl >> 32) + (mid >> 32), (mid << 32) | (ll & 0xffffffffu)};
#endif
}

/// x >> s for s in [0, 127].
inline u128 shr(u128 x, unsigned s) noexcept {
  if (s == 0) return x;
  if (s >= 64) return {0, x.hi >> (s - 64)};
  return {x.hi >> s, (x.lo >> s) | (x.hi << (64 - s))};
}

/// x << s for s in [0, 127] (bits shifted out are lost).
inline u128 shl(u128 x, unsigned s) noexcept {
  if (s == 0) return x;
  if (s >= 64) return {x.lo << (s - 64), 0};
  return {(x.hi << s) | (x.lo >> (64 - s)), x.lo << s};
}

/// floor(x / d) and x mod d for d != 0, when the quotient fits in 64 bits
/// (x.hi < d): the compiler's 128-bit division where it has one (a hardware
/// divide on x86-64), else restoring binary division (64 steps).
inline std::uint64_t div_128_64(u128 x, std::uint64_t d, std::uint64_t& rem) noexcept {
#if defined(__SIZEOF_INT128__)
  __extension__ using wide = unsigned __int128;
  const wide n = (static_cast<wide>(x.hi) << 64) | x.lo;
  rem = static_cast<std::uint64_t>(n % d);
  return static_cast<std::uint64_t>(n / d);
#else
  std::uint64_t r = x.hi;  // < d
  std::uint64_t q = 0;
  for (int i = 63; i >= 0; --i) {
    const bool carry = (r >> 63) != 0;
    r = (r << 1) | ((x.lo >> i) & 1u);
    q <<= 1;
    if (carry || r >= d) {
      r -= d;
      q |= 1u;
    }
  }
  rem = r;
  return q;
#endif
}

/// Rates below this many tokens per second (one token per 31.7 billion
/// years) are refused.
inline constexpr double min_rate = 1e-18;

/// Largest magnitude a unit count may take; conversions saturate here so that
/// sums of a few such values never overflow an int64.
inline constexpr std::int64_t unit_limit = std::int64_t{1} << 61;

/// Limiters count clock readings in units from an epoch, and a reading this
/// many units or more after the epoch moves the epoch to it. They keep their
/// TATs within 2^54 units of the epoch, so a TAT re-expressed at the new epoch
/// (shift_epoch) always fits.
inline constexpr std::int64_t rebase_at = std::int64_t{1} << 53;

/// `tat`, counted from an epoch, counted instead from an epoch `shift` units
/// later; shift is the floor of the true distance, so the TAT moves by less
/// than a unit toward later and never credits. A TAT more than 2^54 units
/// before the new epoch becomes -2^54, which decides alike for every reading
/// since. `fresh`, a state's "no TAT yet" marker, stays as it is.
[[nodiscard]] inline std::int64_t shift_epoch(std::int64_t tat, std::int64_t shift, std::int64_t fresh) noexcept {
  return tat == fresh ? fresh : std::max(tat - shift, -(std::int64_t{1} << 54));
}

/// The fixed-point conversion between a clock reading in nanoseconds and
/// token units for one rate. Copyable value; all members are total functions
/// (never UB, whatever the fields hold), so a torn read under a concurrent
/// reconfiguration can only produce a wrong number, which callers discard.
struct rate_units {
  std::uint64_t m = std::uint64_t{1} << 62;  ///< multiplier in [2^62, 2^63)
  std::uint32_t s = 62;                      ///< shift, in [0, 127]
  std::uint32_t f = 0;                       ///< one token = 2^f units

  /// True when `rate` is a usable rate in tokens per second: finite and at
  /// least min_rate (below about 7e-21 the conversion's shift would pass 127
  /// bits and the rate would be read as about 7e-21).
  static bool valid_rate(double rate) noexcept { return std::isfinite(rate) && rate >= min_rate; }

  /// The conversion for `rate` tokens per second (valid_rate(rate), rate <=
  /// max_rate), keeping `max_tokens` tokens representable: max_tokens << f
  /// stays below 2^52.
  static rate_units make(double rate, std::uint64_t max_tokens) noexcept {
    rate_units r;
    // f: the smallest in [0, 32] with rate * 2^f >= 1e9 (a unit lasts at most
    // 1 ns, so whole-nanosecond clock readings lose nothing), as long as
    // max_tokens * 2^f < 2^51.
    std::uint32_t f = 0;
    while (f < 32 && std::ldexp(rate, static_cast<int>(f)) < 1e9 && (max_tokens >> (50 - f - 1)) == 0) ++f;
    r.f = f;
    // rate = mant * 2^e exactly, mant < 2^53.
    int ex = 0;
    const double fr = std::frexp(rate, &ex);
    const auto mant = static_cast<std::uint64_t>(std::ldexp(fr, 53));
    const int e = ex - 53;
    // m = floor(mant * 2^p / 1e9) in [2^62, 2^63) for the right p; then
    // m / 2^s = rate * 2^f / 1e9 with s = p - e - f.
    constexpr std::uint64_t giga = 1'000'000'000;
    for (unsigned p = 30; p < 64; ++p) {
      std::uint64_t rem = 0;
      const u128 num = shl(u128{0, mant}, p);
      if (num.hi >= giga) break;
      std::uint64_t q = div_128_64(num, giga, rem);
      if (q >= (std::uint64_t{1} << 62)) {
        // round m up: a clock reading that is an exact whole number of units
        // then converts exactly (m is exact for dyadic rate * 2^f / 1e9 only)
        if (rem != 0) ++q;
        r.m = q;
        const int s = static_cast<int>(p) - e - static_cast<int>(f);
        r.s = static_cast<std::uint32_t>(s < 0 ? 0 : (s > 127 ? 127 : s));
        break;
      }
    }
    return r;
  }

  /// Token units at `ns` nanoseconds: floor(ns * m / 2^s), saturated to
  /// +-unit_limit. Monotone non-decreasing in ns.
  [[nodiscard]] std::int64_t units(std::int64_t ns) const noexcept {
#if defined(__SIZEOF_INT128__)
    if (ns >= 0) {  // the hot path: one multiply, one shift
      __extension__ using wide = unsigned __int128;
      const wide q = (static_cast<wide>(static_cast<std::uint64_t>(ns)) * m) >> (s & 127u);
      return q > static_cast<wide>(unit_limit) ? unit_limit : static_cast<std::int64_t>(q);
    }
#endif
    const bool neg = ns < 0;
    const std::uint64_t mag = neg ? std::uint64_t(0) - static_cast<std::uint64_t>(ns) : static_cast<std::uint64_t>(ns);
    const u128 p = mul_64x64(mag, m);
    u128 q = shr(p, s & 127u);
    if (neg) {
      // floor of a negative value: round the magnitude up when bits were dropped
      const u128 back = shl(q, s & 127u);
      if (back.hi != p.hi || back.lo != p.lo) {
        if (++q.lo == 0) ++q.hi;
      }
    }
    const std::uint64_t lim = static_cast<std::uint64_t>(unit_limit);
    const std::uint64_t v = (q.hi != 0 || q.lo > lim) ? lim : q.lo;
    return neg ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
  }

  /// The earliest nanosecond reading whose units() is >= u (the inverse of
  /// units(), rounded so that waiting until the returned time is always
  /// enough). Saturates to +-2^62.
  [[nodiscard]] std::int64_t ns_at(std::int64_t u) const noexcept {
    constexpr std::int64_t ns_limit = std::int64_t{1} << 62;
    if (m == 0) return ns_limit;
    const bool neg = u < 0;
    const std::uint64_t mag = neg ? std::uint64_t(0) - static_cast<std::uint64_t>(u) : static_cast<std::uint64_t>(u);
    // q = mag * 2^s / m, split as (mag << t) / m * 2^(s - t) so each step fits.
    const unsigned sh = s & 127u;
    const unsigned t = sh < 62 ? sh : 62;  // mag < 2^62 after saturation, so mag << 62 < 2^124
    const std::uint64_t cm =
        mag > static_cast<std::uint64_t>(unit_limit) * 2 ? static_cast<std::uint64_t>(unit_limit) * 2 : mag;
    const u128 num = shl(u128{0, cm}, t);
    if (num.hi >= m) return neg ? -ns_limit : ns_limit;
    std::uint64_t rem = 0;
    std::uint64_t q = div_128_64(num, m, rem);
    const unsigned r = sh - t;  // remaining shift
    // exact value = q * 2^r + rem * 2^r / m
    if (r >= 62 || (r > 0 && (q >> (62 - r)) != 0)) return neg ? -ns_limit : ns_limit;
    std::uint64_t frac_q = 0, frac_rem = 0;
    if (r > 0) {
      const u128 fr = shl(u128{0, rem}, r);
      frac_q = div_128_64(fr, m, frac_rem);
    } else {
      frac_rem = rem;
    }
    std::uint64_t whole = (q << r) + frac_q;
    const bool inexact = frac_rem != 0;
    // smallest ns with floor(ns*m/2^s) >= u: ceil(u*2^s/m) for u >= 0;
    // for u < 0, ns = -floor(|u|*2^s/m).
    if (!neg) {
      if (inexact) ++whole;
      return whole > static_cast<std::uint64_t>(ns_limit) ? ns_limit : static_cast<std::int64_t>(whole);
    }
    return whole > static_cast<std::uint64_t>(ns_limit) ? -ns_limit : -static_cast<std::int64_t>(whole);
  }

  /// Nanoseconds from the reading now_ns until unit reading u of a state whose
  /// epoch is `epoch` (ns), saturated; relative first (epoch - now), so a wait
  /// near the end of the clock's range is still the true wait. When u lies
  /// 2^62 ns or more after the epoch (where ns_at saturates) the wait is
  /// INT64_MAX: never a saturated time taken as a real one, so never early.
  [[nodiscard]] std::int64_t wait_ns(std::int64_t epoch, std::int64_t now_ns, std::int64_t u) const noexcept {
    const std::int64_t at = ns_at(u);
    if (at >= (std::int64_t{1} << 62)) return std::numeric_limits<std::int64_t>::max();
    return add_sat(sub_sat(epoch, now_ns), at);
  }

  /// One token in units.
  [[nodiscard]] std::int64_t token() const noexcept { return std::int64_t{1} << (f & 63u); }

  /// n tokens in units, saturated to unit_limit.
  [[nodiscard]] std::int64_t tokens(std::uint64_t n) const noexcept {
    const unsigned sh = f & 63u;
    if (n > (static_cast<std::uint64_t>(unit_limit) >> sh)) return unit_limit;
    return static_cast<std::int64_t>(n << sh);
  }
};

/// Rates above this many tokens per second are refused (a unit must not be
/// shorter than a picosecond, or the unit horizon gets too short).
inline constexpr double max_rate = 1e12;

}  // namespace surge::detail

#endif  // SURGE_LIMIT_DETAIL_RATE_UNITS_HPP
