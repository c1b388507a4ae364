// Tests of the balancer internals in surge/balance/detail/: the argument
// checks, health_set, sample_usable and the RCU-like snapshot_cell.
#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/snapshot.hpp>
#include <surge/balance/detail/streams.hpp>
#include <surge/balance/detail/validate.hpp>

#include "surge_test.hpp"
#include "watchdog.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("validation helpers name the argument", "[balance][detail]") {
  CHECK_THROWS_WITH(surge::detail::check_count(0, "thing: n"), Catch::Matchers::Contains("thing: n"));
  const std::vector<double> bad{1.0, 0.0};
  CHECK_THROWS_WITH(surge::detail::check_weights(bad, "w"), Catch::Matchers::Contains("weight[1]"));
  CHECK_THROWS_AS(surge::detail::check_weight(-1, "w"), std::invalid_argument);
}

TEST_CASE("fit_sum scales weights whose sum overflows by a power of two", "[balance][detail]") {
  std::vector<double> fine{1.0, 1e308};
  CHECK(surge::detail::fit_sum(fine, "w") == 0);
  CHECK(fine == std::vector<double>{1.0, 1e308});
  std::vector<double> big(100, 1e307);
  const int k = surge::detail::fit_sum(big, "w");
  CHECK(k > 0);
  double sum = 0;
  for (double x : big) {
    CHECK(x == std::ldexp(1e307, -k));  // exact: every ratio kept
    sum += x;
  }
  CHECK(std::isfinite(sum));
  std::vector<double> lost{1.7e308, 1.7e308, 5e-324};  // the last would underflow to 0
  CHECK_THROWS_WITH(surge::detail::fit_sum(lost, "w"), Catch::Matchers::Contains("weight[2]"));
}

TEST_CASE("health_set counts and panics", "[balance][detail]") {
  surge::detail::health_set h(3);
  CHECK(h.all_up());
  CHECK(h.set(1, false));
  CHECK(h.set(1, false));  // idempotent
  CHECK(h.up_count() == 2);
  CHECK_FALSE(h.usable(1));
  h.set(0, false);
  h.set(2, false);
  CHECK(h.panic());
  CHECK(h.usable(1));
  CHECK_FALSE(h.set(3, true));
  surge::detail::health_set grown(h, 5);
  CHECK(grown.up_count() == 2);
  CHECK(grown.up(4));
}

TEST_CASE("health_set: racing set calls on one backend never wrap the up count", "[balance][detail]") {
  // set(0, true) exchanged the flag up, then set(0, false) exchanged it down
  // and subtracted before the first thread added: the count went below 0
  // (to SIZE_MAX), so readers saw neither "all up" nor panic. It is now
  // never below the number of flags up, and above it by at most the racing
  // set(..., true) calls.
  surge_test::watchdog dog("health_set flipped by two threads");
  surge::detail::health_set h(1);
  std::atomic<bool> stop{false};
  std::atomic<long> flips{0};
  std::vector<std::thread> setters;
  for (int t = 0; t < 2; ++t)
    setters.emplace_back([&] {
      while (!stop.load(std::memory_order_acquire)) {
        h.set(0, false);
        h.set(0, true);
        flips.fetch_add(1, std::memory_order_relaxed);
      }
    });
  while (flips.load() == 0) std::this_thread::yield();  // setters running
  std::size_t worst = 0;
  for (long i = 0; i < surge_test::scaled(4000000L); ++i) worst = std::max(worst, h.up_count());
  stop.store(true, std::memory_order_release);
  for (auto& t : setters) t.join();
  CHECK(worst <= 3);  // 1 flag + 2 racing adds
  CHECK(h.up_count() == 1);
}

TEST_CASE("sample_usable is uniform over the up backends", "[balance][detail]") {
  surge::detail::health_set h(10);
  for (std::size_t i = 0; i < 9; ++i) h.set(i, i % 3 == 0);  // up: 0, 3, 6, 9
  surge::detail::sharded_splitmix rng(1);
  std::vector<int> c(10, 0);
  for (int i = 0; i < 40000; ++i) ++c[surge::detail::sample_usable(h, [&] { return rng.next(); })];
  for (std::size_t i = 0; i < 10; ++i) {
    if (h.up(i)) {
      CHECK(c[i] == Approx(10000).epsilon(0.05));
    } else {
      CHECK(c[i] == 0);
    }
  }
}

TEST_CASE("snapshot_cell: readers see whole values, old ones are freed", "[balance][detail]") {
  struct value {
    std::vector<int> v;
    std::atomic<int>* alive;
    value(int x, std::atomic<int>* a) : v(64, x), alive(a) { alive->fetch_add(1); }
    ~value() { alive->fetch_sub(1); }
  };
  std::atomic<int> alive{0};
  {
    surge::detail::snapshot_cell<value> cell(std::make_shared<const value>(0, &alive));
    std::atomic<bool> stop{false};
    std::atomic<long> reads{0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t)
      readers.emplace_back([&] {
        while (!stop.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline) {
          const bool same = cell.read([](const value& x) {
            for (int y : x.v)
              if (y != x.v[0]) return false;
            return true;
          });
          if (!same) std::abort();
          reads.fetch_add(1, std::memory_order_relaxed);
        }
      });
    std::shared_ptr<const value> kept;
    while (reads.load() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();  // reader running
    for (int i = 1; i <= 200; ++i) {
      cell.publish(std::make_shared<const value>(i, &alive));
      if (i == 100) kept = cell.load();
      CHECK(alive.load() <= 3);  // current + kept + at most the one being replaced
    }
    stop.store(true, std::memory_order_release);
    for (auto& r : readers) r.join();
    CHECK(kept->v[0] == 100);
    CHECK(cell.read([](const value& x) { return x.v[0]; }) == 200);
    CHECK(reads.load() > 0);
  }
  CHECK(alive.load() == 0);
}

TEST_CASE("random_bits holds 64 bits whatever the generator's width", "[balance][detail]") {
  // with a fixed three draws, a one-bit generator gave at most 8 values
  const auto distinct = [](auto g) {
    std::set<std::uint64_t> seen, high;
    for (int i = 0; i < 2000; ++i) {
      const std::uint64_t r = surge::detail::random_bits(g);
      seen.insert(r);
      high.insert(r >> 32);  // what bounded() uses
    }
    return std::min(seen.size(), high.size());
  };
  CHECK(distinct(std::independent_bits_engine<std::mt19937, 1, std::uint32_t>(1)) == 2000);
  CHECK(distinct(std::independent_bits_engine<std::mt19937, 3, std::uint32_t>(2)) == 2000);
  CHECK(distinct(std::independent_bits_engine<std::mt19937, 7, std::uint16_t>(3)) == 2000);
  CHECK(distinct(std::minstd_rand(4)) == 2000);  // 31 bits, min 1
  CHECK(distinct(std::mt19937(5)) == 2000);
  std::mt19937_64 g64(6), same(6);
  for (int i = 0; i < 100; ++i) CHECK(surge::detail::random_bits(g64) == same());  // 64 bits: the draw itself
}

TEST_CASE("scale_below_one: exact power-of-two scaling, and a weight too small beside the largest refused",
          "[balance][detail]") {
  std::vector<double> w{3.0, 1.5, 0.75};
  surge::detail::scale_below_one(w, "p", 0x1p-1010);
  CHECK(w == std::vector<double>{0.75, 0.375, 0.1875});
  std::vector<double> wide{1e300, 1e20};  // 1e280, about 2^930, apart: kept
  CHECK_NOTHROW(surge::detail::scale_below_one(wide, "p", 0x1p-1010));
  CHECK(wide[0] / wide[1] == 1e300 / 1e20);
  // tiny shares beside a huge weight: rendezvous' scores and least
  // connections' products lost them (clamped to the smallest subnormal)
  std::vector<double> skew{1e300, 1e-300, 3e-300};
  try {
    surge::detail::scale_below_one(skew, "rendezvous_hash: weights", 0x1p-1010);
    FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("weight[1]") != std::string::npos);
  }
}
