// detail::adaptive_mutex: mutual exclusion under contention (a plain counter
// that ThreadSanitizer would flag if two threads were ever inside at once),
// try_lock, and the sleeping path (a holder that stays inside long enough for
// waiters to stop spinning).
#include <surge/detail/adaptive_mutex.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "surge_test.hpp"

TEST_CASE("adaptive_mutex try_lock and unlock", "[detail][adaptive_mutex]") {
  surge::detail::adaptive_mutex m;
  REQUIRE(m.try_lock());
  CHECK_FALSE(m.try_lock());
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("adaptive_mutex excludes", "[detail][adaptive_mutex]") {
  surge::detail::adaptive_mutex m;
  std::uint64_t counter = 0;  // not atomic: only the lock protects it
  constexpr int threads = 4, rounds = 20000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < rounds; ++i) {
        std::lock_guard lock(m);
        ++counter;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(counter == std::uint64_t{threads} * rounds);
}

TEST_CASE("adaptive_mutex waiters sleep and are woken", "[detail][adaptive_mutex]") {
  surge::detail::adaptive_mutex m;
  std::atomic<int> inside{0}, arrived{0};
  int order = 0;
  m.lock();
  std::vector<std::thread> pool;
  for (int t = 0; t < 3; ++t) {
    pool.emplace_back([&] {
      arrived.fetch_add(1);
      std::lock_guard lock(m);
      inside.fetch_add(1);
      ++order;
    });
  }
  // Hold the lock until every waiter has arrived and had time to exhaust its
  // spinning (yields on this side let them run); then release.
  while (arrived.load() < 3) std::this_thread::yield();
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
  CHECK(inside.load() == 0);
  m.unlock();
  for (auto& th : pool) th.join();
  CHECK(inside.load() == 3);
  CHECK(order == 3);
}
