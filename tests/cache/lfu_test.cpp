// lfu_cache against a reference model, and its frequency semantics. The
// behaviour it shares with lru_cache (listener, TTL, stats, heterogeneous
// lookup, move-only values, exceptions) is tested for both in lru_test.cpp.
#include <surge/cache/lfu.hpp>

#include <cstdint>
#include <vector>

#include "reference_model.hpp"
#include "surge_test.hpp"

TEST_CASE("lfu_cache matches the reference LFU model on random operations", "[lfu]") {
  cache_model::run_all_configurations<surge::lfu_cache<int, int>>(cache_model::policy::lfu);
}

TEST_CASE("lfu_cache evicts the lowest count, least recent among equals", "[lfu]") {
  std::vector<int> evicted;
  surge::lfu_cache<int, int> c(3, {.on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});
  c.put(1, 1);
  c.put(2, 2);
  c.put(3, 3);
  CHECK(c.frequency(1) == 1);
  (void)c.get(1);
  (void)c.get(1);   // 1: count 3
  c.put(2, 22);     // 2: count 2
  (void)c.peek(3);  // no touch: 3 stays at 1
  CHECK(!c.contains(4));
  CHECK(c.frequency(1) == 3);
  CHECK(c.frequency(2) == 2);
  CHECK(c.frequency(3) == 1);
  CHECK(c.frequency(9) == 0);
  c.put(4, 4);  // evicts 3 (count 1)
  CHECK(evicted == std::vector<int>{3});
  c.put(5, 5);  // evicts 4 (count 1, and the only one)
  CHECK(evicted == std::vector<int>{3, 4});
  (void)c.get(5);  // 5: count 2, more recent than 2
  c.put(6, 6);     // evicts 2: least recent at the lowest count (2)
  CHECK(evicted == std::vector<int>{3, 4, 2});
  CHECK(c.frequency(1) == 3);
  CHECK(c.frequency(5) == 2);
  CHECK(c.frequency(6) == 1);
}

TEST_CASE("lfu_cache relabels a lone bucket and merges into the next count", "[lfu]") {
  surge::lfu_cache<int, int> c(4);
  for (int k = 0; k < 4; ++k) c.put(k, k);
  for (int r = 0; r < 50; ++r) (void)c.get(0);  // alone at each count: relabelled in place
  for (int r = 0; r < 49; ++r) (void)c.get(1);  // walks up behind 0
  CHECK(c.frequency(0) == 51);
  CHECK(c.frequency(1) == 50);
  (void)c.get(1);  // joins 0's bucket at 51
  CHECK(c.frequency(1) == 51);
  c.erase(0);
  c.erase(1);
  c.put(7, 7);
  c.put(8, 8);
  CHECK(c.frequency(2) == 1);
  CHECK(c.size() == 4);
}

TEST_CASE("lfu_cache's footprint: nodes, index and 24 bytes of frequency bucket per node", "[lfu]") {
  // 1001 nodes of 32 bytes (8-byte key and value, links, bucket, hash),
  // 2048 index slots of 8 bytes, 1001 buckets of 24 bytes (count, links, list)
  CHECK(surge::lfu_cache<std::uint64_t, std::uint64_t>(1000).memory_bytes() == 1001 * 32 + 2048 * 8 + 1001 * 24);
}
