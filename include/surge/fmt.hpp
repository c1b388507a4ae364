/// @file surge/fmt.hpp
/// Optional bridge to {fmt}: `fmt::formatter` specialisations for surge's
/// value and stats types. The only surge header that includes fmt; include it
/// where you print, and link fmt::fmt yourself.
#ifndef SURGE_FMT_HPP
#define SURGE_FMT_HPP

#include <fmt/format.h>

#include <surge/cache/stats.hpp>
#include <surge/version.hpp>

/// Formats as "major.minor.patch".
template <>
struct fmt::formatter<surge::version_info> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const surge::version_info& v, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}.{}.{}", v.major, v.minor, v.patch);
  }
};

/// Formats as "hits H, misses M (hit ratio R %), insertions I, evictions E".
template <>
struct fmt::formatter<surge::cache_stats> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const surge::cache_stats& s, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "hits {}, misses {} (hit ratio {:.2f} %), insertions {}, evictions {}", s.hits,
                          s.misses, 100.0 * s.hit_ratio(), s.insertions, s.evictions);
  }
};

#endif  // SURGE_FMT_HPP
