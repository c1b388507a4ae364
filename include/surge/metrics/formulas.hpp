/// @file surge/metrics/formulas.hpp
/// The classic formulas of throughput design as small constexpr helpers:
/// throughput, mean response time, Little's law and its two inversions,
/// utilisation, hit ratio, and load-balance efficiency.
///
/// Units are the caller's, as long as they agree: pass seconds and get per
/// second, pass milliseconds and get per millisecond.
///
/// **Bad input, the same rule for every helper.** A negative, NaN or infinite
/// argument throws std::invalid_argument naming the argument (in a constant
/// expression that is a compile error). A zero divisor throws too, except in
/// the three cases where an empty observation has an accepted answer, each
/// documented at its helper: hit_ratio(0, 0) is 0 (as cache_stats::hit_ratio),
/// mean_response_time(0, 0) is 0, and the balance efficiency of all-zero loads
/// is 1 (perfectly even). A result that would overflow to infinity (e.g.
/// 1e300 requests in 1e-300 s) throws as well, naming the arguments it came
/// from: no helper returns inf or NaN.
#ifndef SURGE_METRICS_FORMULAS_HPP
#define SURGE_METRICS_FORMULAS_HPP

#include <surge/detail/count_checks.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace surge {

namespace detail {

/// Throws unless x is finite and >= 0. (Written without <cmath> so that it is
/// usable in constant expressions.)
constexpr double formula_nonnegative(double x, const char* what) {
  if (!(x >= 0.0) || x > std::numeric_limits<double>::max()) throw std::invalid_argument(what);
  return x;
}

/// Throws unless x is finite and > 0.
constexpr double formula_positive(double x, const char* what) {
  if (!(x > 0.0) || x > std::numeric_limits<double>::max()) throw std::invalid_argument(what);
  return x;
}

/// Throws when a result left the finite range.
constexpr double formula_finite(double x, const char* what) {
  if (x > std::numeric_limits<double>::max()) throw std::invalid_argument(what);
  return x;
}

/// n / d for n finite >= 0 and d finite > 0, throwing the given messages.
constexpr double formula_quotient(double n, double d, const char* bad_n, const char* bad_d, const char* overflow) {
  formula_nonnegative(n, bad_n);
  formula_positive(d, bad_d);
  return formula_finite(n / d, overflow);
}

/// mean ÷ max of loads whose largest is max (>= 0), in (0, 1]. Each load is
/// scaled by the max before summing: equal loads sum n ones exactly (so give
/// exactly 1, even subnormal ones), the max itself adds 1 (so the result is at
/// least 1/n when the others underflow), and nothing overflows.
template <class T>
constexpr double balance_mean_over_max(std::span<const T> loads, double max) noexcept {
  if (max == 0.0) return 1.0;
  double sum = 0.0;
  for (const T l : loads) sum += static_cast<double>(l) / max;
  const double e = sum / static_cast<double>(loads.size());
  return e > 1.0 ? 1.0 : e;  // only for n beyond 2^53, where n itself rounds
}

}  // namespace detail

/// Throughput X = completed requests ÷ elapsed time. O(1).
/// Throws std::invalid_argument for negative/non-finite input, elapsed == 0,
/// or an infinite result.
[[nodiscard]] constexpr double throughput(double requests, double elapsed) {
  return detail::formula_quotient(requests, elapsed, "surge::throughput: requests must be finite and >= 0",
                                  "surge::throughput: elapsed must be finite and > 0",
                                  "surge::throughput: requests / elapsed overflows");
}

/// Mean response time R = total time spent in the system ÷ completed requests.
/// 0 when both are 0 (no request, no time). O(1). Throws
/// std::invalid_argument for negative/non-finite input, requests == 0 with
/// total_time > 0, or an infinite result.
[[nodiscard]] constexpr double mean_response_time(double total_time, double requests) {
  detail::formula_nonnegative(total_time, "surge::mean_response_time: total_time must be finite and >= 0");
  detail::formula_nonnegative(requests, "surge::mean_response_time: requests must be finite and >= 0");
  if (requests == 0.0) {
    if (total_time == 0.0) return 0.0;
    throw std::invalid_argument("surge::mean_response_time: requests is 0 but total_time > 0");
  }
  return detail::formula_finite(total_time / requests, "surge::mean_response_time: total_time / requests overflows");
}

/// Little's law, L = λ·W: the mean number of requests in the system
/// (concurrency, in flight) from throughput λ and mean latency W. O(1).
/// Throws std::invalid_argument for negative/non-finite input or an infinite
/// result.
[[nodiscard]] constexpr double littles_concurrency(double throughput, double latency) {
  detail::formula_nonnegative(throughput, "surge::littles_concurrency: throughput must be finite and >= 0");
  detail::formula_nonnegative(latency, "surge::littles_concurrency: latency must be finite and >= 0");
  return detail::formula_finite(throughput * latency, "surge::littles_concurrency: throughput * latency overflows");
}

/// Little's law solved for throughput, λ = L / W: what a system holding
/// `concurrency` requests with mean latency W completes per unit time. O(1).
/// Throws std::invalid_argument for negative/non-finite input, latency == 0,
/// or an infinite result.
[[nodiscard]] constexpr double littles_throughput(double concurrency, double latency) {
  return detail::formula_quotient(concurrency, latency,
                                  "surge::littles_throughput: concurrency must be finite and >= 0",
                                  "surge::littles_throughput: latency must be finite and > 0",
                                  "surge::littles_throughput: concurrency / latency overflows");
}

/// Little's law solved for latency, W = L / λ: the mean time in the system
/// when `concurrency` requests are in it at throughput λ. O(1). Throws
/// std::invalid_argument for negative/non-finite input, throughput == 0, or an
/// infinite result.
[[nodiscard]] constexpr double littles_latency(double concurrency, double throughput) {
  return detail::formula_quotient(concurrency, throughput,
                                  "surge::littles_latency: concurrency must be finite and >= 0",
                                  "surge::littles_latency: throughput must be finite and > 0",
                                  "surge::littles_latency: concurrency / throughput overflows");
}

/// Utilisation law, U = X·S / c: the fraction of time each of `servers`
/// servers is busy at throughput X with mean service time S. Above 1 means
/// the offered load exceeds capacity (returned as is, not capped). O(1).
/// Throws std::invalid_argument for negative/non-finite input, servers < 1
/// (any integer type: a negative count is refused, not wrapped), or an
/// infinite result. A bool or a character as servers does not compile (it
/// would count as 1, or as its code).
template <std::integral Servers = std::size_t>
[[nodiscard]] constexpr double utilisation(double throughput, double service_time, Servers servers = 1) {
  static_assert(!detail::not_a_count<Servers>,
                "surge::utilisation: servers must be an integer, not a bool or a character");
  detail::formula_nonnegative(throughput, "surge::utilisation: throughput must be finite and >= 0");
  detail::formula_nonnegative(service_time, "surge::utilisation: service_time must be finite and >= 0");
  if (servers < 1) throw std::invalid_argument("surge::utilisation: servers must be >= 1");
  const double c = static_cast<double>(servers);
  const double u = throughput * service_time / c;
  // X·S may overflow where X/c·S does not (1e300 / s at 1e10 s on 1e9 servers)
  return detail::formula_finite(u > std::numeric_limits<double>::max() ? throughput / c * service_time : u,
                                "surge::utilisation: throughput * service_time / servers overflows");
}

/// Cache hit ratio, hits ÷ (hits + misses), in [0, 1]; 0 when there was no
/// lookup (as cache_stats::hit_ratio). O(1). Counts of any integer type; a
/// negative one throws std::invalid_argument naming it (it would have wrapped
/// to 2^64 − 1), and a bool or a character does not compile. The sum is
/// taken in double, so it cannot overflow.
template <std::integral Hits, std::integral Misses>
[[nodiscard]] constexpr double hit_ratio(Hits hits, Misses misses) {
  static_assert(!detail::not_a_count<Hits> && !detail::not_a_count<Misses>,
                "surge::hit_ratio: hits and misses must be integers, not bools or characters");
  if constexpr (std::is_signed_v<Hits>) {
    if (hits < 0) throw std::invalid_argument("surge::hit_ratio: hits must be >= 0");
  }
  if constexpr (std::is_signed_v<Misses>) {
    if (misses < 0) throw std::invalid_argument("surge::hit_ratio: misses must be >= 0");
  }
  const double h = static_cast<double>(hits);
  const double n = h + static_cast<double>(misses);
  return n == 0.0 ? 0.0 : h / n;
}

/// Load-balance efficiency: mean backend load ÷ max backend load, in (0, 1];
/// exactly 1 when perfectly even (all loads equal, including all zero and
/// subnormal ones), 1/n when one of n backends takes everything, never below
/// 1/n. O(n) (two passes: the max, then the loads scaled by it). Throws std::invalid_argument for an
/// empty span or a negative/non-finite load.
[[nodiscard]] constexpr double balance_efficiency(std::span<const double> loads) {
  if (loads.empty()) throw std::invalid_argument("surge::balance_efficiency: loads must not be empty");
  double max = 0.0;
  for (const double l : loads) {
    detail::formula_nonnegative(l, "surge::balance_efficiency: every load must be finite and >= 0");
    if (l > max) max = l;
  }
  return detail::balance_mean_over_max(loads, max);
}

/// balance_efficiency over integer loads (requests per backend). Throws
/// std::invalid_argument for an empty span.
[[nodiscard]] constexpr double balance_efficiency(std::span<const std::uint64_t> loads) {
  if (loads.empty()) throw std::invalid_argument("surge::balance_efficiency: loads must not be empty");
  std::uint64_t max = 0;
  for (const std::uint64_t l : loads) max = l > max ? l : max;
  return detail::balance_mean_over_max(loads, static_cast<double>(max));
}

}  // namespace surge

#endif  // SURGE_METRICS_FORMULAS_HPP
