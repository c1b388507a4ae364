#include <surge/balance/consistent_hash.hpp>

#include "balance_test_support.hpp"
#include "surge_test.hpp"
#include "watchdog.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

TEST_CASE("ring: evenness with enough vnodes, minimal disruption on add", "[balance][ring]") {
  surge::consistent_hash_ring<> ring(10, {.vnodes_per_weight = 4000});
  surge::consistent_hash_ring<> eleven(11, {.vnodes_per_weight = 4000});
  balance_test::check_even_and_minimal([&](std::uint64_t k) { return ring.pick(k); },
                                       [&](std::uint64_t k) { return eleven.pick(k); }, true);
  // Adding a backend gives the ring built with 11; removing it restores the original.
  const auto a = balance_test::assign([&](std::uint64_t k) { return ring.pick(k); }, 100000);
  CHECK(ring.add_backend() == 10);
  CHECK(ring.size() == 11);
  CHECK(balance_test::assign([&](std::uint64_t k) { return ring.pick(k); }, 100000) ==
        balance_test::assign([&](std::uint64_t k) { return eleven.pick(k); }, 100000));
  CHECK(ring.remove_backend(10));
  CHECK_FALSE(ring.remove_backend(10));
  CHECK(ring.live() == 10);
  CHECK(balance_test::assign([&](std::uint64_t k) { return ring.pick(k); }, 100000) == a);
}

TEST_CASE("ring: health walks clockwise, weights, bad input", "[balance][ring]") {
  surge::consistent_hash_ring<> ring(surge::weights{1.0, 1.0, 2.0, 1.0});
  CHECK(ring.points() == 5 * 160);
  const auto a = balance_test::assign([&](std::uint64_t k) { return ring.pick(k); }, 100000);
  const auto c = balance_test::counts(a, 4);
  CHECK(static_cast<double>(c[2]) / static_cast<double>(c[0] + c[1] + c[3]) == Approx(2.0 / 3).epsilon(0.15));
  balance_test::check_health_moves_only_its_keys(ring, 4, 2, 100000);
  CHECK(ring.set_weight(0, 3.0));
  CHECK_FALSE(ring.set_healthy(9, true));
  CHECK(ring.pick(std::string("k")) == ring.pick(std::string("k")));
  CHECK_THROWS_AS(surge::consistent_hash_ring<>(0), std::invalid_argument);
  CHECK_THROWS_AS((surge::consistent_hash_ring<>(surge::weights{1.0, -1.0})), std::invalid_argument);
  CHECK_THROWS_AS(surge::consistent_hash_ring<>(3, {.vnodes_per_weight = 0}), std::invalid_argument);
  CHECK_THROWS_AS(surge::consistent_hash_ring<>(3, {.load_factor = -0.5}), std::invalid_argument);
  CHECK_THROWS_AS(ring.add_backend(0.0), std::invalid_argument);
  surge::consistent_hash_ring<> one(1);
  CHECK_FALSE(one.remove_backend(0));  // never empty
}

TEST_CASE("ring bounded load never exceeds its cap", "[balance][ring]") {
  const double eps = 0.25;
  surge::consistent_hash_ring<> ring(8, {.vnodes_per_weight = 40, .load_factor = eps});
  std::mt19937_64 rng(1);
  std::vector<surge::backend_lease> held;
  // Skewed keys: a few hot keys that an unbounded ring would pile on one backend.
  for (int step = 0; step < 20000; ++step) {
    if (!held.empty() && rng() % 3 == 0) {
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(rng() % held.size()));
      continue;
    }
    const std::uint64_t key = rng() % 4 == 0 ? rng() : rng() % 3;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < 8; ++i) total += ring.load(i);
    const auto cap = static_cast<std::int64_t>(std::ceil(static_cast<double>(total + 1) * (1 + eps) / 8));
    REQUIRE(ring.capacity() == cap);
    held.push_back(ring.pick_bounded(key));
    REQUIRE(ring.load(held.back().index()) <= cap);  // the pick stayed within the cap
  }
  // Without pressure a key gets its own backend.
  held.clear();
  for (std::uint64_t k = 0; k < 100; ++k) CHECK(ring.pick_bounded(k).index() == ring.pick(k));
  for (std::size_t i = 0; i < 8; ++i) CHECK(ring.load(i) == 0);
}

TEST_CASE("ring bounded pick: the last up backend going down mid-pick means panic, not a spin", "[balance][ring]") {
  // the pick read the panic flag once: when the last up backend went down
  // during its walk, it skipped every point as down and walked for ever
  surge_test::watchdog dog("ring bounded pick while the last backend goes down");
  surge::consistent_hash_ring<> ring(1000, {.load_factor = 0.25});
  for (std::size_t i = 1; i < 1000; ++i) ring.set_healthy(i, false);
  std::atomic<bool> stop{false};
  std::atomic<long> picks{0};
  std::thread picker([&] {
    std::uint64_t key = 0;
    while (!stop.load(std::memory_order_acquire)) {
      const surge::backend_lease l = ring.pick_bounded(++key);
      picks.fetch_add(1, std::memory_order_release);
    }
  });
  while (picks.load(std::memory_order_acquire) < 100) std::this_thread::yield();
  for (int flip = 0; flip < 200; ++flip) {  // down and up while the picker walks
    ring.set_healthy(0, false);
    const long before = picks.load(std::memory_order_acquire);
    while (picks.load(std::memory_order_acquire) < before + 2) std::this_thread::yield();  // picks go on
    ring.set_healthy(0, true);
  }
  stop.store(true, std::memory_order_release);
  picker.join();
  CHECK(picks.load() >= 500);
}

TEST_CASE("ring: readers never see a torn table while writers rebuild", "[balance][ring]") {
  surge::consistent_hash_ring<> ring(4, {.vnodes_per_weight = 50});
  balance_test::read_while_rebuilding(
      [&](std::uint64_t k) {
        if (ring.pick(k) >= 64) std::abort();
        auto lease = ring.pick_bounded(k);
      },
      [&] {
        for (int i = 0; i < 40; ++i) {
          const std::size_t added = ring.add_backend(1.0 + i % 3);
          ring.set_healthy(added, i % 2 == 0);
          if (i % 2) ring.remove_backend(added - 1);
        }
      });
  for (std::size_t i = 0; i < ring.size(); ++i) CHECK(ring.load(i) == 0);
}

TEST_CASE("ring snapshot view picks like the policy", "[balance][ring]") {
  surge::consistent_hash_ring<> ring(5);
  const auto v = ring.snapshot();
  for (std::uint64_t k = 0; k < 1000; ++k) CHECK(v.pick(k) == ring.pick(k));
  ring.remove_backend(0);
  CHECK(v.size() == 5);
  for (std::uint64_t k = 0; k < 1000; ++k) CHECK(ring.pick(k) != 0);
}

TEST_CASE("ring: total points are bounded by max_points", "[balance][ring]") {
  // weight 10^6 at 160 vnodes: 1.6·10^8 points, refused before any allocation.
  CHECK_THROWS_WITH(surge::consistent_hash_ring<>(surge::weights{1.0, 1e6}),
                    Catch::Matchers::Contains("max_points") && Catch::Matchers::Contains("weight[1]"));
  CHECK_THROWS_AS(surge::consistent_hash_ring<>(surge::weights{1e17}), std::invalid_argument);  // llround overflow
  CHECK_THROWS_AS(surge::consistent_hash_ring<>(surge::weights{1e300}), std::invalid_argument);
  // The sum counts: each backend alone fits, together they do not.
  CHECK_THROWS_AS(surge::consistent_hash_ring<>(surge::weights{6.0, 6.0}, {.vnodes_per_weight = 10, .max_points = 100}),
                  std::invalid_argument);
  surge::consistent_hash_ring<> fits(surge::weights{5.0, 5.0}, {.vnodes_per_weight = 10, .max_points = 100});
  CHECK(fits.points() == 100);
  CHECK_THROWS_AS(fits.add_backend(0.1), std::invalid_argument);  // one more point is one too many
  CHECK_THROWS_AS(fits.set_weight(0, 5.1), std::invalid_argument);
  CHECK(fits.points() == 100);  // strong guarantee: unchanged
  CHECK(fits.size() == 2);
  CHECK(fits.set_weight(0, 4.0));
  CHECK(fits.points() == 90);
  CHECK_THROWS_AS(surge::consistent_hash_ring<>(3, {.max_points = 0}), std::invalid_argument);
  CHECK_THROWS_AS(surge::consistent_hash_ring<>(3, {.max_points = std::size_t{1} << 32}), std::invalid_argument);
  surge::consistent_hash_ring<> ring(4);
  CHECK_THROWS_AS(ring.add_backend(1e12), std::invalid_argument);
  CHECK(ring.size() == 4);
}

TEST_CASE("ring: a huge load_factor saturates the capacity instead of overflowing", "[balance][ring]") {
  // ceil(avg · (1 + 1e30)) is far beyond the int64 range: the capacity
  // saturates at INT64_MAX (it never binds) and pick_bounded still returns.
  surge::consistent_hash_ring<> ring(3, {.load_factor = 1e30});
  REQUIRE(ring.capacity() == std::numeric_limits<std::int64_t>::max());
  const auto lease = ring.pick_bounded(42);
  CHECK(lease.index() == ring.pick(42));
  CHECK(ring.load(lease.index()) == 1);
  REQUIRE(ring.capacity() == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("ring: key-to-backend assignments are pinned, so an upgrade moves no key", "[balance][ring]") {
  // FNV-1a over the backends of 200,000 keys, recorded from an earlier
  // version: a faster lookup (or any other change) must pick the same points
  surge::consistent_hash_ring<> ring(10), weighted(surge::weights{1.0, 3.0, 0.5, 2.0}), big(1000);
  std::uint64_t f[3] = {1469598103934665603ULL, 1469598103934665603ULL, 1469598103934665603ULL};
  for (std::uint64_t k = 0; k < 200000; ++k) {
    f[0] = (f[0] ^ ring.pick(k)) * 1099511628211ULL;
    f[1] = (f[1] ^ weighted.pick(k)) * 1099511628211ULL;
    f[2] = (f[2] ^ big.pick(k * 0x9e3779b97f4a7c15ULL)) * 1099511628211ULL;
  }
  CHECK(f[0] == 8847582051622344264ULL);
  CHECK(f[1] == 814378220890656642ULL);
  CHECK(f[2] == 8278962275445891373ULL);
}

TEST_CASE("ring: with load_factor 0, capacity() reports no cap, as pick_bounded applies none", "[balance][ring]") {
  // capacity() reported ceil((in-flight + 1) / backends up) although
  // pick_bounded with load_factor 0 leases without any cap
  surge::consistent_hash_ring<> ring(2, {.load_factor = 0});
  std::vector<surge::backend_lease> held;
  for (int i = 0; i < 10; ++i) held.push_back(ring.pick_bounded(7));
  CHECK(ring.load(held[0].index()) == 10);
  CHECK(ring.capacity() == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("ring: a backend count beyond max_points is refused before its weights are allocated", "[balance][ring]") {
  // n weights of 1.0 were allocated (and copied) before the points were
  // counted: 2^32 - 1 backends threw std::bad_alloc, or exhausted memory
  surge_test::check_names([] { static_cast<void>(surge::consistent_hash_ring<>(surge::detail::max_backends)); },
                          "max_points");
  // and the message names n (it named weight[10], of weights never given)
  surge_test::check_names([] { surge::consistent_hash_ring<>(11, {.vnodes_per_weight = 10, .max_points = 100}); },
                          "n = 11");
  CHECK(surge::consistent_hash_ring<>(10, {.vnodes_per_weight = 10, .max_points = 100}).points() == 100);
}

TEST_CASE("ring: random adds, removals, re-weights and health flips pick as a brute-force ring", "[balance][ring]") {
  // The model rebuilds the ring from the documented point positions on every
  // pick and walks it clockwise by brute force.
  struct model {
    std::vector<double> weight;  // 0: removed
    std::vector<bool> up;
    std::size_t vnodes;
    std::size_t pick(std::uint64_t h) const {
      std::vector<std::pair<std::uint64_t, std::uint32_t>> points;
      bool any_up = false;
      for (std::size_t i = 0; i < weight.size(); ++i) {
        if (weight[i] == 0) continue;
        any_up = any_up || up[i];
        const auto count =
            std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(weight[i] * static_cast<double>(vnodes))));
        const std::uint64_t base = surge::detail::mix64((i + 1) * 0x9e3779b97f4a7c15ULL);
        for (std::size_t r = 0; r < count; ++r)
          points.emplace_back(surge::detail::mix64(base + r * 0xd1b54a32d192ed03ULL), static_cast<std::uint32_t>(i));
      }
      std::sort(points.begin(), points.end());
      const std::size_t first =
          static_cast<std::size_t>(std::lower_bound(points.begin(), points.end(), std::make_pair(h, std::uint32_t{0})) -
                                   points.begin());
      for (std::size_t k = 0; k < points.size(); ++k) {
        const std::uint32_t owner = points[(first + k) % points.size()].second;
        if (!any_up || up[owner]) return owner;
      }
      return 0;
    }
  };
  std::mt19937_64 rng(20261206);
  for (int trial = 0; trial < 12; ++trial) {
    const std::size_t n = 1 + rng() % 5;
    surge::consistent_hash_ring<> ring(n, {.vnodes_per_weight = 3});
    model m{std::vector<double>(n, 1.0), std::vector<bool>(n, true), 3};
    for (int op = 0; op < 40; ++op) {
      const std::size_t i = rng() % (m.weight.size() + 1);  // sometimes out of range
      const double w = 0.5 * static_cast<double>(1 + rng() % 4);
      std::size_t live = 0;
      for (const double x : m.weight) live += x != 0 ? 1 : 0;
      const bool present = i < m.weight.size() && m.weight[i] != 0;
      switch (rng() % 4) {
        case 0:
          REQUIRE(ring.add_backend(w) == m.weight.size());
          m.weight.push_back(w);
          m.up.push_back(true);
          break;
        case 1:
          REQUIRE(ring.remove_backend(i) == (present && live > 1));
          if (present && live > 1) {
            m.weight[i] = 0;
            m.up[i] = false;
          }
          break;
        case 2:
          REQUIRE(ring.set_weight(i, w) == present);
          if (present) m.weight[i] = w;
          break;
        default: {
          const bool up = rng() % 2 == 0;
          REQUIRE(ring.set_healthy(i, up) == present);
          if (present) m.up[i] = up;
        }
      }
      const auto view = ring.snapshot();
      for (int k = 0; k < 30; ++k) {
        const std::uint64_t key = rng();
        const std::size_t want = m.pick(surge::key_hash{}(key));
        REQUIRE(ring.pick(key) == want);
        REQUIRE(view.pick(key) == want);
      }
    }
  }
}
