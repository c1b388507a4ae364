#include <surge/balance/random.hpp>

#include "surge_test.hpp"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {
// Chi-square statistic of observed counts against expected probabilities.
double chi2(const std::vector<double>& obs, const std::vector<double>& p, double total) {
  double x = 0;
  for (std::size_t i = 0; i < obs.size(); ++i) {
    const double e = p[i] * total;
    if (e > 0) x += (obs[i] - e) * (obs[i] - e) / e;
  }
  return x;
}
}  // namespace

TEST_CASE("random_balancer: uniform and alias-table weighted distributions", "[balance][random]") {
  constexpr int draws = 400000;
  {
    surge::random_balancer r(8);
    std::vector<double> c(8, 0);
    for (int i = 0; i < draws; ++i) ++c[r.pick()];
    CHECK(chi2(c, std::vector<double>(8, 1.0 / 8), draws) < 30);  // 7 dof, p ~ 1e-4
  }
  {
    const std::vector<double> w{1, 2, 3, 4, 0.5, 9.5};
    surge::random_balancer r{surge::weights(w)};
    std::vector<double> p;
    for (double x : w) p.push_back(x / 20.0);
    for (std::size_t i = 0; i < w.size(); ++i) CHECK(r.probability(i) == Approx(p[i]));
    std::vector<double> c(w.size(), 0);
    for (int i = 0; i < draws; ++i) ++c[r.pick()];
    CHECK(chi2(c, p, draws) < 30);
    // Health: renormalised among the up ones.
    r.set_healthy(5, false);
    r.set_healthy(0, false);
    std::vector<double> q{0, 2.0 / 9.5, 3.0 / 9.5, 4.0 / 9.5, 0.5 / 9.5, 0};
    std::vector<double> d(w.size(), 0);
    for (int i = 0; i < draws; ++i) ++d[r.pick()];
    CHECK(d[0] == 0);
    CHECK(d[5] == 0);
    CHECK(chi2(d, q, draws) < 30);
  }
}

TEST_CASE("random_balancer: deterministic, injectable URBG, panic, bad input", "[balance][random]") {
  surge::random_balancer a(10, {.seed = 42}), b(10, {.seed = 42});
  for (int i = 0; i < 1000; ++i) CHECK(a.pick() == b.pick());
  std::mt19937_64 g1(1), g2(1);
  for (int i = 0; i < 1000; ++i) CHECK(a.pick(g1) == b.pick(g2));
  std::minstd_rand small(3);  // a 31-bit generator works too
  for (int i = 0; i < 100; ++i) CHECK(a.pick(small) < 10);
  for (std::size_t i = 0; i < 9; ++i) a.set_healthy(i, false);
  for (int i = 0; i < 100; ++i) CHECK(a.pick() == 9);  // one up: always it (fallback scan path)
  a.set_healthy(9, false);
  std::vector<int> seen(10, 0);
  for (int i = 0; i < 1000; ++i) ++seen[a.pick()];
  for (int s : seen) CHECK(s > 0);
  CHECK_THROWS_AS(surge::random_balancer(0), std::invalid_argument);
  CHECK_THROWS_AS((surge::random_balancer(surge::weights{1.0, 0.0})), std::invalid_argument);
  CHECK_THROWS_AS((surge::random_balancer(surge::weights{1.0, NAN})), std::invalid_argument);
}

TEST_CASE("random_balancer: a generator of a few bits a draw still picks uniformly", "[balance][random]") {
  constexpr int draws = 160000;
  surge::random_balancer r(16);
  const auto check = [&](auto g) {
    std::vector<double> c(16, 0);
    for (int i = 0; i < draws; ++i) ++c[r.pick(g)];
    CHECK(chi2(c, std::vector<double>(16, 1.0 / 16), draws) < 45);  // 15 dof, p ~ 1e-4
  };
  check(std::independent_bits_engine<std::mt19937, 1, std::uint32_t>(7));
  check(std::independent_bits_engine<std::mt19937, 5, std::uint32_t>(8));
  check(std::mt19937(9));
}

TEST_CASE("random_balancer from several threads", "[balance][random]") {
  surge::random_balancer r(surge::weights{1.0, 1.0, 2.0});
  std::atomic<int> total{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (r.pick() < 3) total.fetch_add(1, std::memory_order_relaxed);
      }
    });
  for (auto& t : ts) t.join();
  CHECK(total.load() == 40000);
}

TEST_CASE("random_balancer: weights whose sum overflows, shares that underflow", "[balance][random]") {
  // 100 × 1e307: each finite, the sum is not; scaled exactly, picks stay proportional.
  surge::random_balancer r(surge::weights(std::vector<double>(100, 1e307)));
  double total = 0;
  for (std::size_t i = 0; i < 100; ++i) {
    CHECK(r.probability(i) == Approx(0.01));
    total += r.probability(i);
  }
  CHECK(total == Approx(1.0));
  for (std::size_t i = 0; i < 100; ++i)
    if (i % 10 != 0) r.set_healthy(i, false);
  for (int k = 0; k < 20000; ++k) {
    const std::size_t i = r.pick();
    REQUIRE(i % 10 == 0);  // never a down backend while one is up
  }
  // A share that underflows to 0 beside a huge one, and that backend the only one up.
  surge::random_balancer skew(surge::weights{1e300, 1e-30});
  CHECK(skew.probability(1) == 0.0);
  skew.set_healthy(0, false);
  for (int k = 0; k < 1000; ++k) REQUIRE(skew.pick() == 1);
}

TEST_CASE("random_balancer: a weight the scaling of an overflowing sum would round is refused", "[balance][random]") {
  // {1.7e308, 1.7e308} is scaled by 2^-1; 3 · 2^-1074 scaled so is 1.5 · 2^-1074,
  // which rounds to 2 · 2^-1074: not the weights as given, whose probabilities
  // the header promises. Refused like a weight the scaling takes to 0.
  const double odd = 3 * std::numeric_limits<double>::denorm_min();
  CHECK_THROWS_WITH(surge::random_balancer(surge::weights{1.7e308, 1.7e308, odd}),
                    Catch::Matchers::Contains("weight[2]"));
  const double even = 2 * std::numeric_limits<double>::denorm_min();  // kept exactly: taken
  CHECK_NOTHROW(surge::random_balancer(surge::weights{1.7e308, 1.7e308, even}));
}
