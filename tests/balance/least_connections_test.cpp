#include <surge/balance/least_connections.hpp>

#include "surge_test.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

TEST_CASE("least_connections leases count and release", "[balance][least_connections]") {
  surge::least_connections lc(3);
  auto a = lc.pick();
  auto b = lc.pick();
  auto c = lc.pick();
  CHECK(a.index() != b.index());
  CHECK(b.index() != c.index());
  CHECK(a.index() != c.index());
  for (std::size_t i = 0; i < 3; ++i) CHECK(lc.active(i) == 1);
  const std::size_t ai = a.index();
  a.release();
  CHECK_FALSE(a.active());
  CHECK(a.index() == ai);
  CHECK(lc.active(ai) == 0);
  a.release();  // idempotent
  CHECK(lc.active(ai) == 0);
  {
    auto d = lc.pick();
    CHECK(d.index() == ai);  // the only idle backend
    surge::backend_lease moved = std::move(d);
    CHECK_FALSE(d.active());
    CHECK(moved.active());
    CHECK(lc.active(ai) == 1);
  }
  CHECK(lc.active(ai) == 0);
}

namespace {

// Drives lc (weights w) through `steps` random picks and releases (a release
// with odds 1 in release_one_in, a health flip with odds 1 in health_one_in,
// 0: never) and checks every pick against a model: scan from the rotor over
// the usable backends (up, or all when none is up), first strict minimum of
// active/weight; and the counts after every step.
void check_against_model(surge::least_connections& lc, const std::vector<double>& w, int steps,
                         std::uint64_t release_one_in, std::mt19937_64& rng, std::uint64_t health_one_in = 0) {
  const std::size_t n = w.size();
  std::vector<surge::backend_lease> held;
  std::vector<std::int64_t> model(n, 0);
  std::vector<bool> up(n, true);
  for (std::size_t i = 0; i < n; ++i) up[i] = lc.healthy(i);
  std::uint64_t rotor = 0;
  for (int step = 0; step < steps; ++step) {
    if (health_one_in != 0 && rng() % health_one_in == 0) {
      const std::size_t i = rng() % n;
      up[i] = rng() % 3 != 0;  // mostly up
      REQUIRE(lc.set_healthy(i, up[i]));
      continue;
    }
    if (!held.empty() && rng() % release_one_in == 0) {
      const std::size_t k = rng() % held.size();
      --model[held[k].index()];
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
      continue;
    }
    const bool panic = std::find(up.begin(), up.end(), true) == up.end();
    const std::size_t start = static_cast<std::size_t>(rotor++ % n);
    std::size_t best = n;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (start + k) % n;
      if (!panic && !up[i]) continue;
      if (best == n || static_cast<double>(model[i]) * w[best] < static_cast<double>(model[best]) * w[i]) best = i;
    }
    held.push_back(lc.pick());
    REQUIRE(held.back().index() == best);
    ++model[best];
    bool counts_match = true;
    for (std::size_t i = 0; i < n; ++i) counts_match = counts_match && lc.active(i) == model[i];
    REQUIRE(counts_match);
  }
  REQUIRE(lc.index_consistent());
  held.clear();
  for (std::size_t i = 0; i < n; ++i) REQUIRE(lc.active(i) == 0);
  REQUIRE(lc.index_consistent());
}

}  // namespace

TEST_CASE("least_connections matches a linear-scan model with weights", "[balance][least_connections]") {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 20; ++round) {
    const std::size_t n = 1 + rng() % 6;
    std::vector<double> w(n);
    for (auto& x : w) x = static_cast<double>(1 + rng() % 5);
    surge::least_connections lc{surge::weights(w)};
    CHECK(lc.keyed());
    check_against_model(lc, w, 300, 3, rng, round % 2 == 0 ? 0 : 7);
  }
}

TEST_CASE("least_connections: weighted keys and the cross-multiplication fallback match the model",
          "[balance][least_connections]") {
  std::mt19937_64 rng(5);
  // kind: 0 integers 1..5, 1 integers 1..20, 2 multiples of 1/4 (dyadic),
  // 3 integers up to 10^6 (lcm too large: fallback), 4 not dyadic (fallback).
  const auto weights = [&](std::size_t n, int kind) {
    std::vector<double> w(n);
    for (auto& x : w) {
      switch (kind) {
        case 0:
          x = static_cast<double>(1 + rng() % 5);
          break;
        case 1:
          x = static_cast<double>(1 + rng() % 20);
          break;
        case 2:
          x = static_cast<double>(1 + rng() % 12) / 4.0;
          break;
        case 3:
          x = static_cast<double>(1 + rng() % 1000000);
          break;
        default:
          x = 0.1 * static_cast<double>(1 + rng() % 30);
          break;
      }
    }
    return w;
  };
  for (std::size_t n : {2, 3, 7, 16, 17, 31, 32, 33, 64, 100, 200}) {
    for (int kind = 0; kind < 5; ++kind) {
      std::vector<double> w = weights(n, kind);
      w[0] = kind == 4 ? 0.3 : w[0];                // at least one weight that is not dyadic
      if (kind == 3) w[0] = 999983, w[1] = 999979;  // two large primes: lcm > 2^32
      INFO("n = " << n << ", kind = " << kind);
      // Releases often (low counts: many ties) and rarely (higher counts).
      surge::least_connections often{surge::weights(w)};
      CHECK(often.keyed() == (kind < 3));
      check_against_model(often, w, 1500, 2, rng, n < 8 ? 5 : 9);
      surge::least_connections rarely{surge::weights(w)};
      check_against_model(rarely, w, 1500, 6, rng, kind % 2 == 0 ? 0 : 13);
    }
  }
}

TEST_CASE("least_connections: weight scaling edges", "[balance][least_connections]") {
  std::mt19937_64 rng(9);
  CHECK(surge::least_connections(surge::weights{1.0, 2.0, 3.0, 4.0, 5.0}).keyed());
  CHECK(surge::least_connections(surge::weights{0.5, 2.5, 0.75}).keyed());
  CHECK(surge::least_connections(surge::weights{100.0, 200.0, 300.0}).keyed());      // gcd taken out: steps 6, 3, 2
  CHECK(surge::least_connections(surge::weights{4294967296.0, 1.0}).keyed());        // lcm exactly 2^32
  CHECK_FALSE(surge::least_connections(surge::weights{65536.0, 65537.0}).keyed());   // lcm just above 2^32
  CHECK_FALSE(surge::least_connections(surge::weights{8589934592.0, 1.0}).keyed());  // a weight above 2^32
  CHECK_FALSE(surge::least_connections(surge::weights{1.0, 1.0 / 3}).keyed());
  for (std::vector<double> w : {std::vector<double>{4294967296.0, 1.0, 2.0}, std::vector<double>{65536.0, 65537.0},
                                std::vector<double>{1.0, 1.0 / 3, 2.0}, std::vector<double>{1e-300, 1.0}}) {
    surge::least_connections lc{surge::weights(w)};
    check_against_model(lc, w, 800, 4, rng, 11);
  }
}

TEST_CASE("least_connections: the equal-weight level index matches the model", "[balance][least_connections]") {
  std::mt19937_64 rng(11);
  SECTION("many sizes, releases often (counts stay low)") {
    for (int round = 0; round < 16; ++round) {
      const std::size_t n = round < 4 ? 1 + static_cast<std::size_t>(round) : 30 + rng() % 150;
      const bool weighted = round % 2 == 1;  // equal weights take the same path as none
      surge::least_connections lc = weighted ? surge::least_connections(surge::weights(std::vector<double>(n, 2.5)))
                                             : surge::least_connections(n);
      check_against_model(lc, std::vector<double>(n, 1.0), 2000, 2, rng);
    }
  }
  SECTION("health changes, including all down (panic mode)") {
    for (std::size_t n : {1, 2, 3, 7, 17, 20, 64, 65, 129, 200}) {
      surge::least_connections lc(n);
      check_against_model(lc, std::vector<double>(n, 1.0), 3000, 2, rng, n < 8 ? 3 : 6);
    }
  }
  SECTION("counts beyond the 64 levels (overflow) and back") {
    for (std::size_t n : {2, 17, 20, 65, 70}) {
      surge::least_connections lc(n);
      // Few releases: up to ~2100 leases held, i.e. counts above 64 (the
      // index's overflow), then releases in random order bring them down.
      check_against_model(lc, std::vector<double>(n, 1.0), n > 64 ? 6000 : 2400, 8, rng, n < 32 ? 40 : 0);
    }
  }
}

TEST_CASE("least_connections: releases out of order keep the index exact", "[balance][least_connections]") {
  constexpr std::size_t n = surge::least_connections::scan_max + 1;  // the level index
  surge::least_connections lc(n);
  std::vector<surge::backend_lease> held;
  for (std::size_t i = 0; i < 100 * n; ++i) held.push_back(lc.pick());  // 100 each: 64 in levels, 36 overflow
  for (std::size_t i = 0; i < n; ++i) CHECK(lc.active(i) == 100);
  CHECK(lc.index_consistent());
  // Release the oldest leases first (the ones taken at the lowest levels).
  held.erase(held.begin(), held.begin() + 50 * n + 7);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < n; ++i) total += lc.active(i);
  CHECK(total == static_cast<std::int64_t>(50 * n - 7));
  CHECK(lc.index_consistent());
  // The next picks go to the least loaded backends exactly.
  std::int64_t least = lc.active(0);
  for (std::size_t i = 1; i < n; ++i) least = std::min(least, lc.active(i));
  const auto l = lc.pick();
  CHECK(lc.active(l.index()) == least + 1);
}

TEST_CASE("least_connections: ties go round robin, health, bad input", "[balance][least_connections]") {
  surge::least_connections lc(4);
  for (int lap = 0; lap < 2; ++lap)
    for (std::size_t i = 0; i < 4; ++i) CHECK(lc.pick().index() == i);  // released at once: all tie
  CHECK_THROWS_AS(surge::least_connections(0), std::invalid_argument);
  CHECK_THROWS_AS((surge::least_connections(surge::weights{1.0, 0.0})), std::invalid_argument);
  lc.set_healthy(0, false);
  lc.set_healthy(2, false);
  for (int i = 0; i < 20; ++i) {
    const auto l = lc.pick();
    CHECK((l.index() == 1 || l.index() == 3));
  }
  for (std::size_t i = 0; i < 4; ++i) lc.set_healthy(i, false);
  std::vector<surge::backend_lease> all;
  for (int i = 0; i < 4; ++i) all.push_back(lc.pick());
  for (std::size_t i = 0; i < 4; ++i) CHECK(lc.active(i) == 1);  // panic: all used
}

TEST_CASE("least_connections: a down racing an up never makes a backend that stays up look down",
          "[balance][least_connections]") {
  // Backend 1 is up throughout and backend 2 down throughout, so every pick
  // must take backend 1 whatever the calls on backend 0 do meanwhile. The
  // count of backends up went below the flags up (a mark-up raised its flag
  // before the count, a mark-down in between took the count down first):
  // it read 0, panic mode, and a pick took backend 2.
  const std::size_t n = GENERATE(std::size_t{3}, std::size_t{20});  // counter scan, level index
  CAPTURE(n);
  surge::least_connections lc(n);
  for (std::size_t i = 0; i < n; ++i)
    if (i != 1) REQUIRE(lc.set_healthy(i, false));
  for (std::size_t k = 0; k < 2; ++k) CHECK(lc.pick().index() == 1);  // the rotation now starts at 2
  static surge::least_connections* balancer = nullptr;
  static std::size_t picked = 0;
  balancer = &lc;
  picked = n;
  surge::detail::set_healthy_hook = []() noexcept {
    surge::detail::set_healthy_hook = nullptr;
    balancer->set_healthy(0, false);  // a racing mark-down of the same backend
    picked = balancer->pick().index();
  };
  REQUIRE(lc.set_healthy(0, true));
  surge::detail::set_healthy_hook = nullptr;
  CHECK(picked == 1);
  CHECK(lc.pick().index() != 2);
  CHECK(lc.index_consistent());
}

TEST_CASE("least_connections leases under threads", "[balance][least_connections]") {
  surge::least_connections lc(8);
  constexpr int per_thread = 20000;
  std::atomic<std::int64_t> picks{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&, t] {
      std::vector<surge::backend_lease> held;
      for (int i = 0; i < per_thread && std::chrono::steady_clock::now() < deadline; ++i) {
        held.push_back(lc.pick());
        picks.fetch_add(1, std::memory_order_relaxed);
        if (held.size() > static_cast<std::size_t>(2 + t)) held.erase(held.begin());
      }
    });
  for (auto& th : ts) th.join();
  CHECK(picks.load() == 3 * per_thread);
  for (std::size_t i = 0; i < 8; ++i) CHECK(lc.active(i) == 0);
}

namespace {

// Threads hammer a few backends with picks and out-of-order releases (and, if
// asked, health flips); every so often all of them stop at a barrier and the
// main thread checks, with no call running, that the counts equal the leases
// held and that the level index is exactly the counts' canonical form.
// Only the first `hot` of the n backends are up (the others are marked down),
// so the threads collide on few backends while the level index is in use.
void hammer(std::size_t n, std::size_t hot, int threads, int rounds, std::size_t max_held, bool flip_health,
            int ops = 20000, std::vector<double> w = {}) {
  surge::least_connections lc = w.empty() ? surge::least_connections(n) : surge::least_connections(surge::weights(w));
  if (w.empty()) w.assign(n, 1.0);
  for (std::size_t i = hot; i < n; ++i) lc.set_healthy(i, false);
  std::vector<std::vector<surge::backend_lease>> held(static_cast<std::size_t>(threads));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int round = 0; round < rounds && std::chrono::steady_clock::now() < deadline; ++round) {
    std::vector<std::thread> ts;
    std::atomic<int> ready{0};
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        std::mt19937_64 rng(static_cast<std::uint64_t>(round * 131 + t));
        auto& mine = held[static_cast<std::size_t>(t)];
        ready.fetch_add(1);
        while (ready.load() < threads) std::this_thread::yield();  // start together
        for (int op = 0; op < ops; ++op) {
          const std::uint64_t r = rng() % 16;
          if (flip_health && r == 0) {
            lc.set_healthy(rng() % hot, rng() % 4 != 0);
          } else if (!mine.empty() && (r < 7 || mine.size() >= max_held)) {
            const std::size_t k = rng() % mine.size();
            std::swap(mine[k], mine.back());
            mine.pop_back();
          } else {
            mine.push_back(lc.pick());
          }
        }
      });
    for (auto& th : ts) th.join();
    // Quiescent: the index must equal the counts.
    std::vector<std::int64_t> expect(n, 0);
    for (const auto& v : held)
      for (const auto& l : v) ++expect[l.index()];
    bool counts_match = true;
    for (std::size_t i = 0; i < n; ++i) counts_match = counts_match && lc.active(i) == expect[i];
    REQUIRE(counts_match);
    REQUIRE(lc.index_consistent());
  }
  for (std::size_t i = 0; i < n; ++i) lc.set_healthy(i, true);
  // The index is exact again: single-threaded picks follow the model.
  std::vector<std::int64_t> model(n);
  for (std::size_t i = 0; i < n; ++i) model[i] = lc.active(i);
  for (int k = 0; k < 50; ++k) {
    held[0].push_back(lc.pick());
    const std::size_t got = held[0].back().index();
    for (std::size_t i = 0; i < n; ++i)  // no backend has a smaller active/weight
      REQUIRE(static_cast<double>(model[i]) * w[got] >= static_cast<double>(model[got]) * w[i]);
    ++model[got];
  }
  held.clear();
  for (std::size_t i = 0; i < n; ++i) REQUIRE(lc.active(i) == 0);
  REQUIRE(lc.index_consistent());
}

}  // namespace

TEST_CASE("least_connections: the level index converges after concurrent use", "[balance][least_connections]") {
  SECTION("two hot backends of 20, counts past the 64 levels") { hammer(20, 2, 3, 6, 120, false); }
  SECTION("three hot backends of 20, health flips (and panic)") { hammer(20, 3, 3, 6, 40, true); }
  SECTION("70 backends (two words), health flips") { hammer(70, 70, 3, 4, 60, true); }
  SECTION("the scan path (n <= scan_max) under threads") { hammer(3, 3, 3, 3, 40, true); }
  SECTION("weighted keys under threads, health flips") { hammer(5, 5, 3, 3, 40, true, 20000, {1, 2, 3, 4, 5}); }
  SECTION("weighted keys, two-pass scan, under threads") {
    std::vector<double> w(40);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<double>(1 + i % 7);
    hammer(40, 40, 3, 3, 60, false, 20000, w);
  }
  SECTION("weighted cross-multiplication under threads") { hammer(4, 4, 3, 2, 40, true, 10000, {0.3, 1, 2, 0.7}); }
}

TEST_CASE("least_connections: a weight about 2^1000 times smaller than the largest is refused", "[balance]") {
  // its share was clamped to the smallest subnormal and lost
  CHECK_THROWS_AS((surge::least_connections(surge::weights{1e300, 1e-300, 3e-300})), std::invalid_argument);
  CHECK_NOTHROW((surge::least_connections(surge::weights{1e300, 1e20})));
}
