// wtinylfu_cache against a naive W-TinyLFU model (same sketch, same climber),
// its frequency sketch, hand-made admissions, scan resistance and the
// direction the adaptive window takes. Shared cache behaviour: lru_test.cpp.
#include <surge/cache/cache.hpp>
#include <surge/cache/wtinylfu.hpp>

#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "policy_models.hpp"
#include "reference_model.hpp"
#include "surge_test.hpp"

TEST_CASE("wtinylfu_cache matches the reference W-TinyLFU model on random operations", "[wtinylfu]") {
  cache_model::run_all_configurations_with<surge::wtinylfu_cache<int, int>>(
      [](std::size_t cap) { return cache_model::ordered_model<cache_model::wtinylfu_order>(cap); });
}

TEST_CASE("surge::cache is wtinylfu_cache", "[wtinylfu][cache]") {
  STATIC_REQUIRE(std::is_same_v<surge::cache<int, int>, surge::wtinylfu_cache<int, int>>);
  surge::cache<int, int> c(10);
  CHECK(c.put(1, 1));
  CHECK(*c.get(1) == 1);
}

TEST_CASE("frequency_sketch counts, saturates, ages and uses its doorkeeper", "[wtinylfu][sketch]") {
  surge::detail::frequency_sketch s(1000);  // period: 10,000 sightings
  const std::uint32_t a = cache_model::key_hash(1), b = cache_model::key_hash(2);
  CHECK(s.frequency(a) == 0);
  s.increment(a);  // the first sighting only sets the doorkeeper
  CHECK(s.frequency(a) == 1);
  for (int i = 0; i < 9; ++i) s.increment(a);
  CHECK(s.frequency(a) == 10);
  for (int i = 0; i < 30; ++i) s.increment(b);
  CHECK(s.frequency(b) == 16);  // 15 in the counters (saturated) + the doorkeeper
  CHECK(s.frequency(cache_model::key_hash(3)) == 0);
  const std::uint32_t c = cache_model::key_hash(3);
  for (std::size_t i = 40; i < s.period(); ++i) s.increment(c);  // the period's last sighting halves everything
  CHECK(s.frequency(a) == 4);                                    // 9 -> 4, doorkeeper cleared
  CHECK(s.frequency(b) == 7);                                    // 15 -> 7
  CHECK(s.frequency(c) == 7);
  s.clear();
  CHECK(s.frequency(b) == 0);
}

TEST_CASE("wtinylfu_cache admits a window candidate only when it is more popular", "[wtinylfu]") {
  std::vector<int> evicted;
  surge::wtinylfu_cache<int, int> c(100, {.on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});
  for (int k = 0; k < 100; ++k) c.put(k, k);  // window: 99; probation: 0..98, oldest first
  CHECK(c.window_capacity() == 1);
  c.put(200, 200);  // candidate 99 (seen once) vs victim 0 (seen once): not admitted
  CHECK(evicted == std::vector<int>{99});
  for (int i = 0; i < 3; ++i) (void)c.get(200);
  c.put(201, 201);  // candidate 200 (seen 4 times) beats victim 0: 0 evicted, 200 to probation
  CHECK(evicted == std::vector<int>{99, 0});
  CHECK(c.contains(200));
  c.put(202, 202);  // candidate 201 (once) vs victim 1 (once): 201 evicted
  CHECK(evicted == std::vector<int>{99, 0, 201});
}

namespace {

template <class Cache>
void request(Cache& c, int k) {
  if (c.get(k) == nullptr) c.put(k, k);
}

}  // namespace

TEST_CASE("wtinylfu_cache resists a scan larger than the cache", "[wtinylfu]") {
  surge::wtinylfu_cache<int, int> c(100);
  for (int round = 0; round < 5; ++round)
    for (int k = 0; k < 50; ++k) request(c, k);
  for (int k = 1000; k < 11000; ++k) request(c, k);
  int kept = 0;
  for (int k = 0; k < 50; ++k) kept += c.contains(k) ? 1 : 0;
  CHECK(kept >= 48);  // the window may hold a hot key it received from main when it grew
}

TEST_CASE("wtinylfu_cache's window grows on a recency trace and shrinks on a frequency trace", "[wtinylfu]") {
  constexpr std::size_t cap = 1000;
  SECTION("recency: a working set that moves on every few thousand requests") {
    surge::wtinylfu_cache<int, int> c(cap);
    std::mt19937 rng(7);
    for (int phase = 0; phase < 60; ++phase) {
      std::uniform_int_distribution<int> key(phase * 600, phase * 600 + 799);  // 800 keys, 600 new each phase
      for (int i = 0; i < 5000; ++i) request(c, key(rng));
    }
    INFO("window " << c.window_capacity());
    CHECK(c.window_capacity() >= cap / 5);
  }
  SECTION("frequency: a stable hot set that just fits main, and as many one-off keys") {
    surge::wtinylfu_cache<int, int> c(cap);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> hot(0, 949);
    int one_off = 1'000'000;
    for (int i = 0; i < 200'000; ++i) request(c, i % 2 == 0 ? hot(rng) : one_off++);
    INFO("window " << c.window_capacity());
    CHECK(c.window_capacity() <= cap / 20);  // a larger window holds one-off keys instead of hot ones
  }
}
