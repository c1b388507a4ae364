// Tests for surge/exec/thread_pool.hpp.
#include <surge/exec/thread_pool.hpp>

#include "surge_test.hpp"

#include <atomic>
#include <stdexcept>

TEST_CASE("thread_pool: smoke", "[thread_pool]") {
  surge::thread_pool pool(2);
  std::atomic<int> n{0};
  for (int i = 0; i < 1000; ++i) pool.post([&n] { n.fetch_add(1); });
  auto f = pool.submit([](int a, int b) { return a + b; }, 2, 3);
  CHECK(f.get() == 5);
  pool.wait_idle();
  CHECK(n.load() == 1000);
}
