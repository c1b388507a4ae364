// cache_stats: arithmetic, hit ratio, and its {fmt} formatter.
#include <surge/cache/stats.hpp>
#include <surge/fmt.hpp>

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

TEST_CASE("cache_stats formats with fmt", "[stats][fmt]") {
  const surge::cache_stats s{.hits = 3, .misses = 1, .insertions = 2, .evictions = 1};
  CHECK(fmt::format("{}", s) == "hits 3, misses 1 (hit ratio 75.00 %), insertions 2, evictions 1");
  CHECK(fmt::format("{}", surge::cache_stats{}) == "hits 0, misses 0 (hit ratio 0.00 %), insertions 0, evictions 0");
}
