/// @file surge/cache/stats.hpp
/// Hit, miss, insertion and eviction counters of a cache.
#ifndef SURGE_CACHE_STATS_HPP
#define SURGE_CACHE_STATS_HPP

#include <cstdint>

namespace surge {

/// Counters a cache keeps since construction or its last `reset_stats()`.
///
/// - `hits`, `misses`: lookups through `get` and `get_or_insert_with` (never
///   `peek`, `contains`, `put` or `erase`). An expired entry counts as a miss.
/// - `insertions`: keys that became present (`put` of a new key, a miss of
///   `get_or_insert_with`); overwriting a present key is not an insertion.
/// - `evictions`: entries removed by the cache itself: capacity evictions and
///   expiries (TTL). `erase` and `clear` are not evictions.
///
/// A plain value type: O(1) everything, no allocation. Not thread-safe by
/// itself (a cache hands out copies). `hit_ratio()` is 0.0 when there was no
/// lookup, never NaN.
struct cache_stats {
  std::uint64_t hits = 0;        ///< Lookups that found a live entry.
  std::uint64_t misses = 0;      ///< Lookups that found nothing (or an expired entry).
  std::uint64_t insertions = 0;  ///< New keys stored (not overwrites).
  std::uint64_t evictions = 0;   ///< Entries the cache removed itself: capacity evictions and expiries.

  /// Lookups: hits + misses, modulo 2^64 (like the counters themselves, it
  /// wraps past 2^64 - 1; hit_ratio() does not).
  [[nodiscard]] constexpr std::uint64_t lookups() const noexcept { return hits + misses; }

  /// hits / (hits + misses), in [0, 1]; 0.0 when both are 0. The sum is
  /// taken in double, so it cannot wrap.
  [[nodiscard]] constexpr double hit_ratio() const noexcept {
    const double h = static_cast<double>(hits);
    const double n = h + static_cast<double>(misses);
    return n == 0.0 ? 0.0 : h / n;
  }

  /// Adds another cache's counters (aggregating shards).
  constexpr cache_stats& operator+=(const cache_stats& o) noexcept {
    hits += o.hits;
    misses += o.misses;
    insertions += o.insertions;
    evictions += o.evictions;
    return *this;
  }

  /// The counters of `a` and `b` added.
  [[nodiscard]] friend constexpr cache_stats operator+(cache_stats a, const cache_stats& b) noexcept { return a += b; }

  /// True when all four counters are equal.
  friend constexpr bool operator==(const cache_stats&, const cache_stats&) noexcept = default;
};

}  // namespace surge

#endif  // SURGE_CACHE_STATS_HPP
