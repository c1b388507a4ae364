/// @file surge/fmt.hpp
/// Optional bridge to {fmt}: `fmt::formatter` specialisations for surge's
/// value and stats types. The only surge header that includes fmt; include it
/// where you print, and link fmt::fmt yourself. What each type prints as:
/// - surge::version_info: "major.minor.patch";
/// - surge::cache_stats: "hits H, misses M (hit ratio R %), insertions I,
///   evictions E";
/// - surge::breaker_state: the state's name ("closed", "open", "half_open",
///   "disabled", "forced_open");
/// - surge::breaker_metrics: "STATE: failure rate F %, slow call rate S %
///   (C calls, X failed, Y slow)", a rate reading "n/a" while the breaker
///   cannot decide yet;
/// - surge::histogram_summary: "count N (clamped C), min A, p50 B, p90 C,
///   p99 D, p99.9 E, max F, mean M, stddev S" (in the histogram's unit);
/// - surge::meter_stats: "count N, rate R/s, mean R/s, 1m R/s, 5m R/s,
///   15m R/s".
/// Each takes the format spec of a string (fill, alignment, width,
/// precision), applied to the whole text: `{:>30}` right-aligns it.
#ifndef SURGE_FMT_HPP
#define SURGE_FMT_HPP

#include <fmt/format.h>

#include <iterator>
#include <string>
#include <utility>

#include <surge/cache/stats.hpp>
#include <surge/metrics/histogram.hpp>
#include <surge/metrics/meter.hpp>
#include <surge/resilience/circuit_breaker.hpp>
#include <surge/version.hpp>

// The specialisations live in fmt's namespace, which the API reference does
// not document: the list above is their reference.
/// @cond SURGE_FMT_SPECIALISATIONS

namespace surge::detail {
/// Formats the arguments into a buffer, then writes it through `text` (fmt's
/// string formatter with the spec the user gave, so width and alignment apply
/// to the whole text rather than being parsed and dropped).
template <class FormatContext, class... Args>
auto format_as_text(const fmt::formatter<fmt::string_view>& text, FormatContext& ctx,
                    fmt::format_string<Args...> pattern, Args&&... args) -> decltype(ctx.out()) {
  fmt::memory_buffer buf;
  fmt::format_to(std::back_inserter(buf), pattern, std::forward<Args>(args)...);
  return text.format(fmt::string_view(buf.data(), buf.size()), ctx);
}
}  // namespace surge::detail

/// Formats as "major.minor.patch".
template <>
struct fmt::formatter<surge::version_info> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const surge::version_info& v, FormatContext& ctx) const -> decltype(ctx.out()) {
    return surge::detail::format_as_text(*this, ctx, "{}.{}.{}", v.major, v.minor, v.patch);
  }
};

/// Formats as "hits H, misses M (hit ratio R %), insertions I, evictions E".
template <>
struct fmt::formatter<surge::cache_stats> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const surge::cache_stats& s, FormatContext& ctx) const -> decltype(ctx.out()) {
    return surge::detail::format_as_text(*this, ctx,
                                         "hits {}, misses {} (hit ratio {:.2f} %), insertions {}, evictions {}", s.hits,
                                         s.misses, 100.0 * s.hit_ratio(), s.insertions, s.evictions);
  }
};

/// Formats as the state's name: "closed", "open", "half_open", "disabled", "forced_open".
template <>
struct fmt::formatter<surge::breaker_state> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(surge::breaker_state s, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<fmt::string_view>::format(surge::to_string(s), ctx);
  }
};

/// Formats as "STATE: failure rate F %, slow call rate S % (C calls, X failed,
/// Y slow)", a rate reading "n/a" while the breaker cannot decide yet.
template <>
struct fmt::formatter<surge::breaker_metrics> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const surge::breaker_metrics& m, FormatContext& ctx) const -> decltype(ctx.out()) {
    const auto rate = [](double r) { return r < 0 ? std::string("n/a") : fmt::format("{:.1f} %", r); };
    return surge::detail::format_as_text(
        *this, ctx, "{}: failure rate {}, slow call rate {} ({} calls, {} failed, {} slow)", surge::to_string(m.state),
        rate(m.failure_rate), rate(m.slow_call_rate), m.buffered_calls, m.failed_calls, m.slow_calls);
  }
};

/// Formats as "count N (clamped C), min A, p50 B, p90 C, p99 D, p99.9 E, max F,
/// mean M, stddev S" (values in the histogram's unit, ns by default).
template <>
struct fmt::formatter<surge::histogram_summary> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const surge::histogram_summary& s, FormatContext& ctx) const -> decltype(ctx.out()) {
    return surge::detail::format_as_text(
        *this, ctx,
        "count {} (clamped {}), min {}, p50 {}, p90 {}, p99 {}, p99.9 {}, max {}, mean {:.1f}, "
        "stddev {:.1f}",
        s.count, s.clamped, s.min, s.p50, s.p90, s.p99, s.p999, s.max, s.mean, s.stddev);
  }
};

/// Formats as "count N, rate R/s, mean R/s, 1m R/s, 5m R/s, 15m R/s".
template <>
struct fmt::formatter<surge::meter_stats> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const surge::meter_stats& s, FormatContext& ctx) const -> decltype(ctx.out()) {
    return surge::detail::format_as_text(
        *this, ctx, "count {}, rate {:.2f}/s, mean {:.2f}/s, 1m {:.2f}/s, 5m {:.2f}/s, 15m {:.2f}/s", s.count, s.rate,
        s.mean_rate, s.one_minute, s.five_minute, s.fifteen_minute);
  }
};
/// @endcond

#endif  // SURGE_FMT_HPP
