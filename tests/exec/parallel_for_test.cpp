// Tests for surge/exec/parallel_for.hpp.
#include <surge/exec/parallel_for.hpp>

#include "surge_test.hpp"

#include <atomic>
#include <cstdint>
#include <vector>

TEST_CASE("parallel_for: smoke", "[parallel_for]") {
  surge::thread_pool pool(2);
  std::vector<std::atomic<int>> hits(10000);
  surge::parallel_for(pool, 0, 10000, [&](int i) { hits[static_cast<std::size_t>(i)].fetch_add(1); });
  for (auto& h : hits) REQUIRE(h.load() == 1);
}
