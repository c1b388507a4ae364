#include <surge/balance/least_connections.hpp>

#include "surge_test.hpp"

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
// with odds 1 in release_one_in) and checks every pick against a model: scan
// from the rotor, first strict minimum of active/weight.
void check_against_model(surge::least_connections& lc, const std::vector<double>& w, int steps,
                         std::uint64_t release_one_in, std::mt19937_64& rng) {
  const std::size_t n = w.size();
  std::vector<surge::backend_lease> held;
  std::vector<std::int64_t> model(n, 0);
  std::uint64_t rotor = 0;
  for (int step = 0; step < steps; ++step) {
    if (!held.empty() && rng() % release_one_in == 0) {
      const std::size_t k = rng() % held.size();
      --model[held[k].index()];
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
      continue;
    }
    const std::size_t start = static_cast<std::size_t>(rotor++ % n);
    std::size_t best = start;
    for (std::size_t k = 1; k < n; ++k) {
      const std::size_t i = (start + k) % n;
      if (static_cast<double>(model[i]) * w[best] < static_cast<double>(model[best]) * w[i]) best = i;
    }
    held.push_back(lc.pick());
    REQUIRE(held.back().index() == best);
    ++model[best];
    bool counts_match = true;
    for (std::size_t i = 0; i < n; ++i) counts_match = counts_match && lc.active(i) == model[i];
    REQUIRE(counts_match);
  }
}

}  // namespace

TEST_CASE("least_connections matches a linear-scan model with weights", "[balance][least_connections]") {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 20; ++round) {
    const std::size_t n = 1 + rng() % 6;
    std::vector<double> w(n);
    for (auto& x : w) x = static_cast<double>(1 + rng() % 5);
    surge::least_connections lc(w);
    check_against_model(lc, w, 300, 3, rng);
  }
}

TEST_CASE("least_connections: the equal-weight scan (n >= 32) matches the model", "[balance][least_connections]") {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 12; ++round) {
    const std::size_t n = 30 + rng() % 40;  // both sides of the two-pass scan's threshold, odd tails
    const bool weighted = round % 2 == 1;    // equal weights take the same path as none
    surge::least_connections lc = weighted ? surge::least_connections(std::vector<double>(n, 2.5))
                                           : surge::least_connections(n);
    check_against_model(lc, std::vector<double>(n, 1.0), 2000, 2, rng);
  }
}

TEST_CASE("least_connections: ties go round robin, health, bad input", "[balance][least_connections]") {
  surge::least_connections lc(4);
  for (int lap = 0; lap < 2; ++lap)
    for (std::size_t i = 0; i < 4; ++i) CHECK(lc.pick().index() == i);  // released at once: all tie
  CHECK_THROWS_AS(surge::least_connections(0), std::invalid_argument);
  CHECK_THROWS_AS((surge::least_connections{1.0, 0.0}), std::invalid_argument);
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
