// wtinylfu_cache against a naive W-TinyLFU model (same sketch, same climber),
// its frequency sketch, hand-made admissions, scan resistance and the
// direction the adaptive window takes. Shared cache behaviour: lru_test.cpp.
#include <surge/cache/cache.hpp>
#include <surge/cache/wtinylfu.hpp>

#include <algorithm>
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

TEST_CASE("wtinylfu_cache matches the model at every capacity from 1 to 8", "[wtinylfu]") {
  // below 8 the sketch keeps its minimum size (8 words) and period (80
  // counted sightings); small key universes saturate its counters
  std::uint64_t seed = 100;
  for (std::size_t cap = 1; cap <= 8; ++cap) {
    const int c = static_cast<int>(cap);
    for (const int universe : {c + 1, 3 * c + 2, 20 * c})
      cache_model::run_with_model<surge::wtinylfu_cache<int, int>>(
          cache_model::ordered_model<cache_model::wtinylfu_order>(cap), cap, universe, 20'000, seed++);
  }
}

TEST_CASE("frequency_sketch below 8 entries keeps 8 words and halves every 80 counted sightings",
          "[wtinylfu][sketch]") {
  for (std::size_t cap = 1; cap <= 8; ++cap) {
    INFO("capacity " << cap);
    surge::detail::frequency_sketch s(cap);
    CHECK(s.period() == 80);
    CHECK(s.memory_bytes() == 8 * sizeof(std::uint64_t));
    const std::uint16_t e = s.epoch();
    int k = 0;
    for (; s.epoch() == e; ++k) {
      s.increment(cache_model::key_hash(k));
      REQUIRE(k < 1000);
    }
    CHECK(s.size() <= s.period() / 2);
  }
}

TEST_CASE("surge::cache is wtinylfu_cache", "[wtinylfu][cache]") {
  STATIC_REQUIRE(std::is_same_v<surge::cache<int, int>, surge::wtinylfu_cache<int, int>>);
  surge::cache<int, int> c(10);
  CHECK(c.put(1, 1));
  CHECK(*c.get(1) == 1);
}

TEST_CASE("frequency_sketch counts, saturates and ages", "[wtinylfu][sketch]") {
  surge::detail::frequency_sketch s(1000);  // 1024 words, halving after 10,000 counted sightings
  CHECK(s.period() == 10'000);
  CHECK(s.memory_bytes() == 1024 * sizeof(std::uint64_t));
  const std::uint32_t a = cache_model::key_hash(1), b = cache_model::key_hash(2);
  CHECK(s.frequency(a) == 0);
  s.increment(a);
  CHECK(s.frequency(a) == 1);
  for (int i = 0; i < 9; ++i) s.increment(a);
  CHECK(s.frequency(a) == 10);
  for (int i = 0; i < 30; ++i) s.increment(b);
  CHECK(s.frequency(b) == 15);  // saturated
  CHECK(s.frequency(cache_model::key_hash(3)) == 0);
  // Once every counter of b is saturated its sightings are not counted: the
  // period measures sightings that added something.
  const std::size_t counted = s.size();
  CHECK(counted <= 25);
  s.increment(b);
  CHECK(s.size() == counted);
  // Distinct keys, one sighting each, until the halving.
  int k = 100;
  std::size_t before = s.size();
  for (; s.size() >= before; ++k) {
    before = s.size();
    s.increment(cache_model::key_hash(k));
    REQUIRE(k < 20'000);
  }
  CHECK(before == s.period() - 1);
  CHECK(s.size() <= s.period() / 2);  // halved, less the halves lost to rounding
  CHECK(s.size() >= s.period() / 4);
  CHECK(s.frequency(a) >= 5);  // 10 -> 5; the 10,000 other keys may share its counters (count-min: never below)
  CHECK(s.frequency(a) <= 7);
  CHECK(s.frequency(b) == 7);  // 15 -> 7
  s.clear();
  CHECK(s.frequency(b) == 0);
  CHECK(s.size() == 0);
}

TEST_CASE("frequency_sketch reports saturation and changes its epoch at each halving", "[wtinylfu][sketch]") {
  surge::detail::frequency_sketch s(8);  // 80 counted sightings per period
  const std::uint32_t a = cache_model::key_hash(1);
  const std::uint16_t e = s.epoch();
  CHECK(e != 0);
  bool saturated = false;
  int n = 0;
  for (; !saturated; ++n) {
    saturated = s.increment(a);
    REQUIRE(n < 15);
  }
  CHECK(s.frequency(a) == 15);  // true exactly when every counter of a reached 15
  CHECK(s.increment(a));        // and stays true: nothing to add
  CHECK(s.epoch() == e);
  for (int k = 2; s.epoch() == e; ++k) {
    s.increment(cache_model::key_hash(k));
    REQUIRE(k < 10'000);
  }
  CHECK(s.epoch() != 0);
  CHECK(s.frequency(a) == 7);
  CHECK_FALSE(s.increment(a));  // halved: not saturated any more
  const std::uint16_t before_clear = s.epoch();
  s.clear();
  CHECK(s.epoch() != before_clear);
  CHECK(s.epoch() != 0);
}

TEST_CASE("frequency_sketch's estimate never undercounts (count-min)", "[wtinylfu][sketch]") {
  surge::detail::frequency_sketch s(64);  // 640 counted sightings per period; stay below it
  std::vector<int> truth(200, 0);
  std::mt19937 rng(3);
  for (int i = 0; i < 600; ++i) {
    const auto key = static_cast<int>(rng() % truth.size());
    s.increment(cache_model::key_hash(key));
    ++truth[static_cast<std::size_t>(key)];
  }
  for (std::size_t key = 0; key < truth.size(); ++key) {
    INFO("key " << key);
    CHECK(s.frequency(cache_model::key_hash(static_cast<int>(key))) >= static_cast<unsigned>(std::min(truth[key], 15)));
  }
}

TEST_CASE("wtinylfu_cache admits a window candidate only when it is more popular by 2 sightings", "[wtinylfu]") {
  std::vector<int> evicted;
  surge::wtinylfu_cache<int, int> c(100, {.on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});
  for (int k = 0; k < 100; ++k) c.put(k, k);  // window: 99; probation: 0..98, oldest first
  CHECK(c.window_capacity() == 1);
  c.put(200, 200);  // candidate 99 (seen once) vs victim 0 (seen once): not admitted
  CHECK(evicted == std::vector<int>{99});
  for (int i = 0; i < 3; ++i) (void)c.get(200);
  c.put(201, 201);  // candidate 200 (seen 4 times) beats victim 0 (once) by 2 or more: 0 evicted
  CHECK(evicted == std::vector<int>{99, 0});
  CHECK(c.contains(200));
  c.put(202, 202);  // candidate 201 (once) vs victim 1 (once): 201 evicted
  CHECK(evicted == std::vector<int>{99, 0, 201});
  (void)c.get(202);
  c.put(203, 203);  // candidate 202 (twice) vs victim 1 (once): one ahead is not enough
  CHECK(evicted == std::vector<int>{99, 0, 201, 202});
  for (int i = 0; i < 2; ++i) (void)c.get(203);
  c.put(204, 204);  // candidate 203 (3 times) vs victim 1 (once): admitted, 1 evicted
  CHECK(evicted == std::vector<int>{99, 0, 201, 202, 1});
  CHECK(c.contains(203));
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
  // The climber keeps probing (it moves every sample), so the window is read
  // every 1000 requests over the second half of each run and its median
  // checked, not one reading at an arbitrary moment.
  constexpr std::size_t cap = 1000;
  std::vector<std::size_t> windows;
  auto median = [&windows] {
    std::sort(windows.begin(), windows.end());
    return windows[windows.size() / 2];
  };
  SECTION("recency: a working set that moves on every few thousand requests") {
    surge::wtinylfu_cache<int, int> c(cap);
    std::mt19937 rng(7);
    for (int phase = 0; phase < 60; ++phase) {
      std::uniform_int_distribution<int> key(phase * 600, phase * 600 + 799);  // 800 keys, 600 new each phase
      for (int i = 0; i < 5000; ++i) {
        request(c, key(rng));
        if (phase >= 30 && i % 1000 == 0) windows.push_back(c.window_capacity());
      }
    }
    const std::size_t m = median();
    INFO("median window " << m);
    CHECK(m >= cap / 5);
  }
  SECTION("frequency: a stable hot set that just fits main, and as many one-off keys") {
    surge::wtinylfu_cache<int, int> c(cap);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> hot(0, 949);
    int one_off = 1'000'000;
    for (int i = 0; i < 200'000; ++i) {
      request(c, i % 2 == 0 ? hot(rng) : one_off++);
      if (i >= 100'000 && i % 1000 == 0) windows.push_back(c.window_capacity());
    }
    const std::size_t m = median();
    INFO("median window " << m);
    CHECK(m <= cap / 20);  // a larger window holds one-off keys instead of hot ones
  }
}

TEST_CASE("wtinylfu_cache's window stays at one entry below a capacity of 16", "[wtinylfu]") {
  // the climber moves whole entries, 6.25 % of the capacity: below 16 a step
  // is less than one; from 16 on, a moving working set grows the window
  for (const std::size_t cap : {std::size_t{1}, std::size_t{2}, std::size_t{4}, std::size_t{15}, std::size_t{16}}) {
    INFO("capacity " << cap);
    surge::wtinylfu_cache<int, int> c(cap);
    std::mt19937 rng(7);
    const int keys = static_cast<int>(cap) + 2;
    std::size_t widest = 0;
    for (int phase = 0; phase < 200; ++phase) {
      std::uniform_int_distribution<int> key(phase * keys / 2, phase * keys / 2 + keys - 1);
      for (int i = 0; i < 500; ++i) {
        request(c, key(rng));
        widest = std::max(widest, c.window_capacity());
      }
    }
    if (cap < 16) {
      CHECK(widest == 1);
    } else {
      CHECK(widest > 1);
    }
  }
}
