#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/maglev.hpp>

#include "balance_test_support.hpp"
#include "surge_test.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

TEST_CASE("maglev population: the paper's example, by hand", "[balance][maglev]") {
  // Eisenbud et al. 2016, table 1: M = 7; permutations
  // B0: 3 0 4 1 5 2 6 (offset 3, skip 4), B1: 0 2 4 6 1 3 5 (offset 0, skip 2),
  // B2: 3 4 5 6 0 1 2 (offset 3, skip 1).
  const std::vector<std::uint64_t> offset{3, 0, 3}, skip{4, 2, 1};
  const auto before = surge::detail::maglev_populate(7, offset, skip, std::vector<double>{1, 1, 1});
  CHECK(before == std::vector<std::uint32_t>{1, 0, 1, 0, 2, 2, 0});  // B1 B0 B1 B0 B2 B2 B0
  // B1 removed: B0 B0 B0 B0 B2 B2 B2.
  const auto after = surge::detail::maglev_populate(7, offset, skip, std::vector<double>{1, 0, 1});
  CHECK(after == std::vector<std::uint32_t>{0, 0, 0, 0, 2, 2, 2});
  // Weighted: B0 at half weight takes a turn every other round.
  // Rounds: r0 B0->3 B1->0 B2->4; r1 B1->2 B2->5; r2 B0->1 B1->6. Full.
  const auto weighted = surge::detail::maglev_populate(7, offset, skip, std::vector<double>{0.5, 1, 1});
  CHECK(weighted == std::vector<std::uint32_t>{1, 0, 1, 0, 2, 2, 1});
}

TEST_CASE("maglev: evenness, determinism, disruption (10 -> 11, 1e6 keys)", "[balance][maglev]") {
  surge::maglev<> ten(10), eleven(11), again(10);
  CHECK(ten.table_size() == 65537);
  CHECK(again.entries() == ten.entries());
  // Maglev is near-minimal, not minimal: a few keys move between old backends.
  balance_test::check_even_and_minimal([&](std::uint64_t k) { return ten.pick(k); },
                                       [&](std::uint64_t k) { return eleven.pick(k); }, false);
  ten.add_backend();  // rebuilding by adding gives the table built with 11
  CHECK(ten.entries() == eleven.entries());
}

TEST_CASE("maglev: weights, health, bad input", "[balance][maglev]") {
  surge::maglev<> m(surge::weights{1.0, 3.0}, {.table_size = 1009});
  const auto e = m.entries();
  std::size_t ones = 0;
  for (auto x : e) ones += x == 1;
  CHECK(static_cast<double>(ones) / 1009.0 == Approx(0.75).epsilon(0.02));
  surge::maglev<> h(6, {.table_size = 1009});
  balance_test::check_health_moves_only_its_keys(h, 6, 3, 50000);
  CHECK(h.set_weight(0, 2.0));
  CHECK(h.remove_backend(5));
  CHECK_FALSE(h.set_healthy(5, true));
  CHECK_THROWS_AS(surge::maglev<>(0), std::invalid_argument);
  CHECK_THROWS_AS(surge::maglev<>(3, {.table_size = 1000}), std::invalid_argument);  // not prime
  CHECK_THROWS_AS(surge::maglev<>(7, {.table_size = 7}), std::invalid_argument);     // too small
  CHECK_THROWS_AS((surge::maglev<>(surge::weights{1.0, 0.0})), std::invalid_argument);
  surge::maglev<> tiny(2, {.table_size = 3});
  CHECK_THROWS_AS(tiny.add_backend(), std::length_error);
}

TEST_CASE("maglev: picks while another thread rebuilds", "[balance][maglev]") {
  surge::maglev<> m(4, {.table_size = 1009});
  balance_test::read_while_rebuilding(
      [&](std::uint64_t k) {
        if (m.pick(k) >= 64) std::abort();
      },
      [&] {
        for (int i = 0; i < 40; ++i) {
          const std::size_t added = m.add_backend(1.0 + i % 2);
          m.set_healthy(added, i % 3 != 0);
          if (i % 2) m.remove_backend(added - 1);
        }
      });
}

TEST_CASE("maglev snapshot view picks like the policy", "[balance][maglev]") {
  surge::maglev<> m(5, {.table_size = 1009});
  const auto v = m.snapshot();
  for (std::uint64_t k = 0; k < 1000; ++k) CHECK(v.pick(k) == m.pick(k));
  m.set_healthy(1, false);  // before a rebuild the view sees health changes
  for (std::uint64_t k = 0; k < 1000; ++k) CHECK(v.pick(k) == m.pick(k));
  m.add_backend();  // the view keeps its table alive and unchanged
  CHECK(v.size() == 5);
  CHECK(m.snapshot().size() == 6);
}

TEST_CASE("maglev: the table grows with the backends (M >= 100 n, prime, bounded)", "[balance][maglev]") {
  CHECK(surge::maglev<>(655).table_size() == 65537);
  CHECK(surge::maglev<>(1000).table_size() == 100'003);                             // the smallest prime >= 100'000
  CHECK(surge::maglev<>(1000, {.max_table_size = 50'000}).table_size() == 49'999);  // the largest prime <= bound
  CHECK_THROWS_AS(surge::maglev<>(1000, {.max_table_size = 1000}), std::invalid_argument);  // 997 < n
  CHECK(surge::maglev<>(3, {.table_size = 1009}).table_size() == 1009);                     // explicit M kept
}

TEST_CASE("maglev at 10,000 backends: even shares, minimal disruption", "[balance][maglev]") {
  const std::size_t n = 10'000;
  surge::maglev<> m(n);
  REQUIRE(m.table_size() == 1'000'003);
  const auto before = m.entries();
  std::vector<std::size_t> share(n, 0);
  for (const auto b : before) ++share[b];
  const auto [lo, hi] = std::minmax_element(share.begin(), share.end());
  CHECK(*lo >= 100);  // M / n = 100.0003: every backend 100 or 101 entries
  CHECK(*hi <= 101);
  // removing one backend moves its ~100 entries, and few others
  REQUIRE(m.remove_backend(1234));
  const auto after = m.entries();
  std::size_t moved = 0, moved_other = 0;
  for (std::size_t e = 0; e < before.size(); ++e) {
    if (before[e] == after[e]) continue;
    ++moved;
    if (before[e] != 1234) ++moved_other;
  }
  CHECK(moved >= share[1234]);
  INFO("entries of other backends moved: " << moved_other);
  CHECK(moved_other <= 10 * share[1234]);  // the paper: slightly more than the minimal share
}

TEST_CASE("maglev: a prime table_size near 2^64 is refused as too large at once", "[balance][maglev]") {
  // The largest 64-bit prime: the size check comes before the primality test
  // (whose trial division would otherwise run ~2^32 steps, then wrap).
  surge_test::check_names([] { surge::maglev<>(3, {.table_size = 18446744073709551557ULL}); }, "table_size");
  CHECK_THROWS_AS(surge::maglev<>(3, {.table_size = (std::size_t{1} << 32) + 15}), std::invalid_argument);  // prime
  // is_prime above 2^32 (the loop bound is d <= m / d).
  CHECK(surge::detail::is_prime(4294967291ULL));                  // the largest 32-bit prime
  CHECK_FALSE(surge::detail::is_prime(4294967291ULL * 3));        // composite, > 2^32
  CHECK_FALSE(surge::detail::is_prime(18446744073709551615ULL));  // 2^64 - 1 = 3 · 5 · 17 · ...
}

TEST_CASE("maglev and the ring spread keys whose Hash does not mix", "[balance][maglev]") {
  // std::hash<int> is the identity in libstdc++: small keys used the table's
  // first entry (or the ring's first point) for every key before
  surge::maglev<std::hash<int>> m(5);
  surge::consistent_hash_ring<std::hash<int>> ring(5);
  std::array<int, 5> by_table{}, by_ring{};
  for (int k = 0; k < 100'000; ++k) {
    ++by_table[m.pick(k)];
    ++by_ring[ring.pick(k)];
  }
  for (int i = 0; i < 5; ++i) {
    INFO("backend " << i);
    CHECK(by_table[static_cast<std::size_t>(i)] > 15'000);
    CHECK(by_ring[static_cast<std::size_t>(i)] > 10'000);
  }
}

TEST_CASE("maglev: a backend count the table cannot hold is refused before its weights are allocated",
          "[balance][maglev]") {
  // n weights of 1.0 were allocated before the table size was checked
  // against n: 2^32 - 1 backends threw std::bad_alloc, or exhausted memory
  surge_test::check_names([] { static_cast<void>(surge::maglev<>(surge::detail::max_backends)); }, "table_size");
  surge_test::check_names([] { surge::maglev<>(7, {.table_size = 7}); }, "table_size");
}

TEST_CASE("maglev: a max_table_size with no usable prime is named, not the table_size left to choose",
          "[balance][maglev]") {
  // the automatic choice fell through to the table_size checks, whose
  // messages named table_size, an argument the caller left at 0
  surge_test::check_names([] { surge::maglev<>(1, {.max_table_size = 0}); }, "max_table_size");
  surge_test::check_names([] { surge::maglev<>(1, {.max_table_size = 1}); }, "max_table_size");
  surge_test::check_names([] { surge::maglev<>(10, {.max_table_size = 8}); }, "max_table_size");  // 7 <= 10
  CHECK(surge::maglev<>(10, {.max_table_size = 12}).table_size() == 11);
  CHECK(surge::maglev<>(1, {.max_table_size = 2}).table_size() == 2);
}

TEST_CASE("maglev: random adds, removals, re-weights and health flips pick as a brute-force table",
          "[balance][maglev]") {
  // The model fills the table by the paper's population (weighted: a turn in
  // round r only while a backend's count <= (w / max w)·r) from scratch on
  // every change, and probes past down backends entry by entry.
  constexpr std::size_t table_size = 1009;
  std::mt19937_64 rng(20261206);
  for (int trial = 0; trial < 12; ++trial) {
    const std::size_t n = 1 + rng() % 5;
    surge::maglev<> mg(n, {.table_size = table_size});
    std::vector<double> weight(n, 1.0);  // 0: removed
    std::vector<bool> up(n, true);
    for (int op = 0; op < 30; ++op) {
      const std::size_t i = rng() % (weight.size() + 1);  // sometimes out of range
      const double w = static_cast<double>(1 + rng() % 4);
      std::size_t live = 0;
      for (const double x : weight) live += x != 0 ? 1 : 0;
      const bool present = i < weight.size() && weight[i] != 0;
      switch (rng() % 4) {
        case 0:
          REQUIRE(mg.add_backend(w) == weight.size());
          weight.push_back(w);
          up.push_back(true);
          break;
        case 1:
          REQUIRE(mg.remove_backend(i) == (present && live > 1));
          if (present && live > 1) {
            weight[i] = 0;
            up[i] = false;
          }
          break;
        case 2:
          REQUIRE(mg.set_weight(i, w) == present);
          if (present) weight[i] = w;
          break;
        default: {
          const bool flag = rng() % 2 == 0;
          REQUIRE(mg.set_healthy(i, flag) == present);
          if (present) up[i] = flag;
        }
      }
      const std::size_t count = weight.size();
      const double top = *std::max_element(weight.begin(), weight.end());
      std::vector<std::uint64_t> offset(count), skip(count), next(count, 0), taken(count, 0);
      for (std::size_t b = 0; b < count; ++b) {
        const std::uint64_t h1 = surge::detail::mix64((b + 1) * 0x9e3779b97f4a7c15ULL);
        offset[b] = h1 % table_size;
        skip[b] = surge::detail::mix64(h1 ^ 0xd1b54a32d192ed03ULL) % (table_size - 1) + 1;
      }
      std::vector<long> entry(table_size, -1);
      std::size_t filled = 0;
      for (std::uint64_t round = 0; filled < table_size; ++round) {
        for (std::size_t b = 0; b < count && filled < table_size; ++b) {
          if (weight[b] == 0 || weight[b] / top * static_cast<double>(round) < static_cast<double>(taken[b])) continue;
          while (entry[(offset[b] + next[b] * skip[b]) % table_size] >= 0) ++next[b];
          entry[(offset[b] + next[b] * skip[b]) % table_size] = static_cast<long>(b);
          ++next[b];
          ++taken[b];
          ++filled;
        }
      }
      const std::vector<std::uint32_t> got = mg.entries();
      REQUIRE(std::equal(got.begin(), got.end(), entry.begin(),
                         [](std::uint32_t g, long e) { return static_cast<long>(g) == e; }));
      bool any_up = false;
      for (std::size_t b = 0; b < count; ++b) any_up = any_up || (weight[b] != 0 && up[b]);
      const auto view = mg.snapshot();
      for (int k = 0; k < 30; ++k) {
        const std::uint64_t key = rng();
        const std::size_t at = surge::detail::bounded(surge::key_hash{}(key), table_size);
        std::size_t want = static_cast<std::size_t>(entry[at]);
        for (std::size_t p = 0; any_up && p < table_size; ++p) {
          const auto b = static_cast<std::size_t>(entry[(at + p) % table_size]);
          if (up[b]) {
            want = b;
            break;
          }
        }
        REQUIRE(mg.pick(key) == want);
        REQUIRE(view.pick(key) == want);
      }
    }
  }
}
