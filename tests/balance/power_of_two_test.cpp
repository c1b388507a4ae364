#include <surge/balance/power_of_two.hpp>
#include <surge/balance/random.hpp>

#include "surge_test.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

TEST_CASE("P2C picks the less loaded of two samples", "[balance][p2c]") {
  // Model: the same random draws, the fewer-active sample wins, ties to the first.
  surge::power_of_two_choices p(16);
  std::mt19937_64 g1(5), g2(5);
  std::vector<std::int64_t> model(16, 0);
  std::vector<surge::backend_lease> held;
  for (int i = 0; i < 2000; ++i) {
    const auto a = static_cast<std::size_t>(((g2() >> 32) * 16) >> 32);
    const auto b = static_cast<std::size_t>(((g2() >> 32) * 16) >> 32);
    const std::size_t want = model[b] < model[a] ? b : a;
    held.push_back(p.pick(g1));
    REQUIRE(held.back().index() == want);
    ++model[want];
  }
}

TEST_CASE("P2C: max load far below random's (balls into bins)", "[balance][p2c]") {
  constexpr std::size_t bins = 1000, balls = 100000;
  surge::power_of_two_choices p(bins);
  surge::random_balancer r(bins, {.seed = 99});
  std::vector<surge::backend_lease> held;
  held.reserve(balls);
  std::vector<std::size_t> rand_load(bins, 0);
  for (std::size_t i = 0; i < balls; ++i) {
    held.push_back(p.pick());
    ++rand_load[r.pick()];
  }
  std::int64_t p2c_max = 0;
  for (std::size_t i = 0; i < bins; ++i) p2c_max = std::max(p2c_max, p.active(i));
  const auto rand_max = static_cast<std::int64_t>(*std::max_element(rand_load.begin(), rand_load.end()));
  const std::int64_t mean = balls / bins;
  INFO("p2c max " << p2c_max << ", random max " << rand_max << ", mean " << mean);
  CHECK(p2c_max - mean <= 4);    // theory: ln ln n / ln 2 + O(1)
  CHECK(rand_max - mean >= 20);  // theory: about sqrt(2 m ln n / n)
}

TEST_CASE("P2C with weights follows weight / (active + 1)", "[balance][p2c]") {
  surge::power_of_two_choices p(surge::weights{1.0, 3.0}, {.choices = 4});
  std::vector<surge::backend_lease> held;
  for (int i = 0; i < 4000; ++i) held.push_back(p.pick());
  const double ratio = static_cast<double>(p.active(1)) / static_cast<double>(p.active(0));
  CHECK(ratio == Approx(3.0).epsilon(0.1));
  CHECK_THROWS_AS(surge::power_of_two_choices(4, {.choices = 1}), std::invalid_argument);
  surge_test::check_names([] { surge::power_of_two_choices(4, {.choices = 65537}); }, "choices");
  surge_test::check_names([] { surge::power_of_two_choices(4, {.choices = SIZE_MAX}); }, "choices");  // hung every pick
  surge::power_of_two_choices most(4, {.choices = 65536});
  CHECK(most.pick().index() < 4);
  CHECK_THROWS_AS(surge::power_of_two_choices(4, {.active_request_bias = -1}), std::invalid_argument);
  CHECK_THROWS_AS(surge::power_of_two_choices(0), std::invalid_argument);
  CHECK_THROWS_AS((surge::power_of_two_choices(surge::weights{1.0, -1.0})), std::invalid_argument);
}

TEST_CASE("P2C weights score uniform samples: 4:1 with no load splits 3:1", "[balance][p2c]") {
  // Leases released at once (no load): the heavier sample always wins, so the
  // light backend is picked only when all d samples are it, (1/2)^d of picks,
  // whatever the weights. Proportional traffic (0.8 for 4:1) is > 50 sigma away.
  struct scenario {
    double heavy_weight;
    std::size_t choices;
    double share;  // expected share of backend 0
  };
  for (const scenario sc : {scenario{4.0, 2, 0.75}, scenario{1e6, 2, 0.75}, scenario{4.0, 3, 0.875}}) {
    INFO("weight " << sc.heavy_weight << ", d = " << sc.choices);
    constexpr int picks = 200000;
    surge::power_of_two_choices p(surge::weights{sc.heavy_weight, 1.0}, {.choices = sc.choices, .seed = 7});
    int heavy = 0;
    for (int i = 0; i < picks; ++i) heavy += p.pick().index() == 0 ? 1 : 0;
    const double share = static_cast<double>(heavy) / picks;
    const double sigma = std::sqrt(sc.share * (1 - sc.share) / picks);  // binomial
    INFO("share " << share << ", sigma " << sigma);
    CHECK(std::abs(share - sc.share) < 5 * sigma);
    CHECK(p.active(0) == 0);
    CHECK(p.active(1) == 0);
  }
  // Pick by pick, against the same draws from the caller's generator: the
  // light backend exactly when both samples are it.
  surge::power_of_two_choices p(surge::weights{4.0, 1.0});
  std::mt19937_64 g1(11), g2(11);
  for (int i = 0; i < 2000; ++i) {
    const auto a = static_cast<std::size_t>(((g2() >> 32) * 2) >> 32);
    const auto b = static_cast<std::size_t>(((g2() >> 32) * 2) >> 32);
    REQUIRE(p.pick(g1).index() == (a == 1 && b == 1 ? 1U : 0U));
  }
}

TEST_CASE("P2C with weights and a large bias still balances load", "[balance][p2c]") {
  // (active + 1)^bias overflowed to inf: every loaded backend scored 0, the
  // samples tied, and P2C became random
  for (const double bias : {1.0, 50.0, 1100.0}) {
    INFO("bias " << bias);
    surge::power_of_two_choices p{surge::weights(std::vector<double>(10, 1.0)), {.active_request_bias = bias}};
    std::vector<surge::backend_lease> held;
    for (int i = 0; i < 10000; ++i) held.push_back(p.pick());
    std::int64_t lo = p.active(0), hi = p.active(0);
    for (std::size_t i = 1; i < 10; ++i) {
      lo = std::min(lo, p.active(i));
      hi = std::max(hi, p.active(i));
    }
    CHECK(hi - lo <= 10);  // two choices keep 10 equal backends within a few leases (random: ~100)
  }
}

TEST_CASE("P2C set_weight changes the weighted choice", "[balance][p2c]") {
  surge::power_of_two_choices p(surge::weights{1.0, 1.0}, {.choices = 4});
  CHECK(p.set_weight(1, 3.0));
  CHECK(p.weight(1) == 3.0);
  CHECK_FALSE(p.set_weight(2, 1.0));
  CHECK_THROWS_AS(p.set_weight(0, 0.0), std::invalid_argument);
  std::vector<surge::backend_lease> held;
  for (int i = 0; i < 4000; ++i) held.push_back(p.pick());
  const double ratio = static_cast<double>(p.active(1)) / static_cast<double>(p.active(0));
  CHECK(ratio == Approx(3.0).epsilon(0.1));
  surge::power_of_two_choices unweighted(4);
  CHECK_FALSE(unweighted.set_weight(0, 2.0));
  CHECK(unweighted.weight(0) == 1.0);
}

TEST_CASE("P2C health and determinism", "[balance][p2c]") {
  surge::power_of_two_choices a(10), b(10);
  for (int i = 0; i < 100; ++i) CHECK(a.pick().index() == b.pick().index());  // same seed, same picks
  a.set_healthy(3, false);
  a.set_healthy(7, false);
  for (int i = 0; i < 2000; ++i) {
    const auto l = a.pick();
    CHECK((l.index() != 3 && l.index() != 7));
  }
  for (std::size_t i = 0; i < 10; ++i) a.set_healthy(i, false);
  std::vector<int> seen(10, 0);
  for (int i = 0; i < 1000; ++i) ++seen[a.pick().index()];
  for (int s : seen) CHECK(s > 0);  // panic: everyone
}

TEST_CASE("P2C leases under threads", "[balance][p2c]") {
  surge::power_of_two_choices p(6);
  std::vector<std::thread> ts;
  std::atomic<int> picks{0};
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&] {
      std::mt19937_64 g(static_cast<std::uint64_t>(picks.load()) + 17);
      std::vector<surge::backend_lease> held;
      for (int i = 0; i < 20000; ++i) {
        held.push_back(i % 2 ? p.pick() : p.pick(g));
        picks.fetch_add(1, std::memory_order_relaxed);
        if (held.size() > 3) held.erase(held.begin());
      }
    });
  for (auto& t : ts) t.join();
  CHECK(picks.load() == 60000);
  for (std::size_t i = 0; i < 6; ++i) CHECK(p.active(i) == 0);
}
