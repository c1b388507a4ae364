// cache_stats: arithmetic, hit ratio, and its {fmt} formatter.
#include <surge/cache/stats.hpp>
#include <surge/fmt.hpp>

#include <cstdint>
#include <limits>

#include "surge_test.hpp"

TEST_CASE("cache_stats hit ratio, sums and equality", "[stats]") {
  constexpr surge::cache_stats none{};
  static_assert(none.hit_ratio() == 0.0);
  surge::cache_stats a{.hits = 3, .misses = 1, .insertions = 1, .evictions = 0};
  CHECK(a.lookups() == 4);
  CHECK(a.hit_ratio() == 0.75);
  surge::cache_stats b{.hits = 0, .misses = 4, .insertions = 4, .evictions = 2};
  CHECK(b.hit_ratio() == 0.0);
  const auto sum = a + b;
  CHECK(sum == surge::cache_stats{3, 5, 5, 2});
  a += b;
  CHECK(a == sum);
  CHECK(a != b);
}

TEST_CASE("cache_stats hit ratio does not wrap when hits + misses passes 2^64", "[stats]") {
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  // hits + misses wraps to 0 (or to a small number) in 64 bits: the ratio must not
  const surge::cache_stats nearly_all_hits{.hits = max, .misses = 1};
  CHECK(nearly_all_hits.hit_ratio() > 0.999);
  CHECK(nearly_all_hits.hit_ratio() <= 1.0);
  const surge::cache_stats even{.hits = max / 2 + 1, .misses = max / 2 + 1};
  CHECK(even.hit_ratio() == 0.5);  // exact: 2^63 / 2^64
  const surge::cache_stats few_hits{.hits = 2, .misses = max};
  CHECK(few_hits.hit_ratio() > 0.0);
  CHECK(few_hits.hit_ratio() < 1e-12);
}

TEST_CASE("cache_stats formats with fmt", "[stats][fmt]") {
  const surge::cache_stats s{.hits = 3, .misses = 1, .insertions = 2, .evictions = 1};
  CHECK(fmt::format("{}", s) == "hits 3, misses 1 (hit ratio 75.00 %), insertions 2, evictions 1");
  CHECK(fmt::format("{}", surge::cache_stats{}) == "hits 0, misses 0 (hit ratio 0.00 %), insertions 0, evictions 0");
}
