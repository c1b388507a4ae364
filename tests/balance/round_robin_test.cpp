#include <surge/balance/round_robin.hpp>

#include "surge_test.hpp"
#include "watchdog.hpp"

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

TEST_CASE("round_robin cycles in order", "[balance][round_robin]") {
  surge::round_robin rr(4);
  for (int lap = 0; lap < 3; ++lap)
    for (std::size_t i = 0; i < 4; ++i) CHECK(rr.pick() == i);
  CHECK(rr.size() == 4);
}

TEST_CASE("round_robin rejects an empty set", "[balance][round_robin]") {
  CHECK_THROWS_AS(surge::round_robin(0), std::invalid_argument);
}

TEST_CASE("round_robin skips down backends evenly and panics when all are down", "[balance][round_robin]") {
  surge::round_robin rr(5);
  CHECK(rr.set_healthy(1, false));
  CHECK(rr.set_healthy(3, false));
  CHECK_FALSE(rr.set_healthy(5, false));
  CHECK_FALSE(rr.healthy(1));
  std::vector<int> count(5, 0);
  for (int i = 0; i < 3000; ++i) ++count[rr.pick()];
  CHECK(count[1] == 0);
  CHECK(count[3] == 0);
  CHECK(count[0] == 1000);
  CHECK(count[2] == 1000);
  CHECK(count[4] == 1000);
  for (std::size_t i = 0; i < 5; ++i) rr.set_healthy(i, false);
  std::vector<int> panic(5, 0);
  for (int i = 0; i < 50; ++i) ++panic[rr.pick()];
  for (int c : panic) CHECK(c == 10);  // panic mode: all backends, in order
  rr.set_healthy(2, true);
  for (int i = 0; i < 10; ++i) CHECK(rr.pick() == 2);
}

TEST_CASE("round_robin never picks a down backend while one is up, from several threads", "[balance][round_robin]") {
  // each pick's draws interleave with other threads': n of them could all
  // land on down backends, and the pick returned a down one
  surge::round_robin rr(2);
  rr.set_healthy(0, false);
  std::atomic<long> down_picks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < surge_test::scaled(200'000); ++i)
        if (rr.pick() == 0) down_picks.fetch_add(1, std::memory_order_relaxed);
    });
  for (auto& th : threads) th.join();
  CHECK(down_picks.load() == 0);
}

TEST_CASE("round_robin shares picks exactly among threads", "[balance][round_robin]") {
  surge::round_robin rr(7);
  constexpr int per_thread = 7000;
  std::vector<std::vector<int>> seen(2, std::vector<int>(7, 0));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) ++seen[t][rr.pick()];
    });
  for (auto& th : threads) th.join();
  for (std::size_t b = 0; b < 7; ++b) CHECK(seen[0][b] + seen[1][b] == 2 * per_thread / 7);
}

TEST_CASE("round_robin takes a count of any integer type, with its value", "[balance][round_robin]") {
  // a bool, a character or a floating-point count does not compile (the
  // compile_fail tests, for every policy); every integer type still does
  CHECK(surge::round_robin(std::uint8_t{3}).size() == 3);
  CHECK(surge::round_robin(5L).size() == 5);
  CHECK(surge::round_robin(std::int16_t{4}).size() == 4);
  CHECK_THROWS_AS(surge::round_robin(-1), std::invalid_argument);  // SIZE_MAX: too many backends
}
