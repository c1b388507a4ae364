// s3fifo_cache against a naive S3-FIFO model, hand-made eviction orders, the
// ghost queue, and scan resistance. Shared cache behaviour: lru_test.cpp.
#include <surge/cache/s3fifo.hpp>

#include <vector>

#include "policy_models.hpp"
#include "reference_model.hpp"
#include "surge_test.hpp"

TEST_CASE("s3fifo_cache matches the reference S3-FIFO model on random operations", "[s3fifo]") {
  cache_model::run_all_configurations_with<surge::s3fifo_cache<int, int>>(
      [](std::size_t cap) { return cache_model::ordered_model<cache_model::s3fifo_order>(cap); });
}

TEST_CASE("s3fifo_cache: unused entries leave the small queue first, used ones move to main", "[s3fifo]") {
  std::vector<int> evicted;
  surge::s3fifo_cache<int, int> c(10, {.on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});  // small: 1
  for (int k = 1; k <= 10; ++k) c.put(k, k);
  c.put(11, 11);  // 1 is the oldest in small, unused: evicted (and remembered by the ghost)
  CHECK(evicted == std::vector<int>{1});
  (void)c.get(2);
  c.put(12, 12);  // 2 was used: moves to main; 3 evicted
  CHECK(evicted == std::vector<int>{1, 3});
  c.put(1, 1);  // the ghost remembers 1: straight to main
  CHECK(evicted == std::vector<int>{1, 3, 4});
  for (int k = 100; k < 200; ++k) c.put(k, k);  // one-hit wonders pass through small only
  CHECK(c.contains(1));
  CHECK(c.contains(2));
  CHECK(c.size() == 10);
}

TEST_CASE("s3fifo_cache: main is a CLOCK with 2-bit frequencies", "[s3fifo]") {
  std::vector<int> evicted;
  surge::s3fifo_cache<int, int> c(3, {.on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});  // small: 1
  for (int k = 1; k <= 3; ++k) c.put(k, k);
  for (int r = 0; r < 5; ++r) (void)c.get(1);  // frequency saturates at 3
  (void)c.get(2);
  c.put(4, 4);  // small (1 2 3 4... all in small): 1 and 2 move to main, 3 evicted
  CHECK(evicted == std::vector<int>{3});
  c.put(5, 5);  // small holds 4 (its share): 4 evicted
  CHECK(evicted == std::vector<int>{3, 4});
  (void)c.get(1);  // main: 1 (freq 1), 2 (freq 0); small: 5
  (void)c.get(5);
  c.put(6, 6);  // 5 moves to main, small is empty: main's CLOCK spares 1 (freq 1 -> 0), evicts 2
  CHECK(evicted == std::vector<int>{3, 4, 2});
  CHECK(c.contains(1));
  CHECK(c.contains(5));
  CHECK(c.contains(6));
}

TEST_CASE("s3fifo_cache resists a scan larger than the cache", "[s3fifo]") {
  surge::s3fifo_cache<int, int> c(100);
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 50; ++k) {
      if (c.get(k) == nullptr) c.put(k, k);
    }
  }
  for (int k = 1000; k < 11000; ++k) {
    if (c.get(k) == nullptr) c.put(k, k);
  }
  for (int k = 0; k < 50; ++k) CHECK(c.contains(k));
}
