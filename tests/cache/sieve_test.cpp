// sieve_cache against a naive SIEVE model, and hand-made eviction orders. The
// behaviour every cache shares (listener, TTL, stats, heterogeneous lookup,
// move-only values, exceptions) is tested for all of them in lru_test.cpp.
#include <surge/cache/sieve.hpp>

#include <vector>

#include "policy_models.hpp"
#include "reference_model.hpp"
#include "surge_test.hpp"

TEST_CASE("sieve_cache matches the reference SIEVE model on random operations", "[sieve]") {
  cache_model::run_all_configurations_with<surge::sieve_cache<int, int>>(
      [](std::size_t cap) { return cache_model::ordered_model<cache_model::sieve_order>(cap); });
}

TEST_CASE("sieve_cache: the hand skips visited entries and keeps its place", "[sieve]") {
  std::vector<int> evicted;
  surge::sieve_cache<int, int> c(4, {.on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});
  for (int k = 1; k <= 4; ++k) c.put(k, k);  // queue, oldest first: 1 2 3 4
  (void)c.get(1);
  (void)c.get(3);
  (void)c.peek(2);  // no visit
  c.put(5, 5);      // hand: 1 visited (cleared), 2 evicted; hand rests on 3
  CHECK(evicted == std::vector<int>{2});
  c.put(6, 6);  // 3 visited (cleared), 4 evicted; hand on 5
  CHECK(evicted == std::vector<int>{2, 4});
  c.put(7, 7);  // 5 unvisited: evicted (1 and 3 stay although older)
  CHECK(evicted == std::vector<int>{2, 4, 5});
  c.put(8, 8);  // hand on 6: evicted; queue 1 3 7 8, hand on 7
  CHECK(evicted == std::vector<int>{2, 4, 5, 6});
  (void)c.get(7);
  (void)c.get(8);
  c.put(9, 9);  // 7 and 8 cleared, past the newest: wraps to the oldest, 1 (cleared before), evicted
  CHECK(evicted == std::vector<int>{2, 4, 5, 6, 1});
  CHECK(c.contains(3));
  CHECK(c.contains(7));
  CHECK(c.size() == 4);
}

TEST_CASE("sieve_cache: erasing the entry under the hand moves the hand on", "[sieve]") {
  std::vector<int> evicted;
  surge::sieve_cache<int, int> c(3, {.on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});
  for (int k = 1; k <= 3; ++k) c.put(k, k);
  (void)c.get(1);
  c.put(4, 4);  // 1 cleared, 2 evicted, hand on 3
  CHECK(c.erase(3));
  c.put(5, 5);  // not full (1 4 5): no eviction
  c.put(6, 6);  // hand moved to 4 by the erase: 4 evicted
  CHECK(evicted == std::vector<int>{2, 4});
}
