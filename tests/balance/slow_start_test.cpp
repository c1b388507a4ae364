#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/maglev.hpp>
#include <surge/balance/power_of_two.hpp>
#include <surge/balance/slow_start.hpp>

#include "still_clock.hpp"
#include "surge_test.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <functional>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

struct ss_clock_tag {};
using test_clock = surge_test::manual_clock<ss_clock_tag>;
using namespace std::chrono_literals;

// The formula, written out independently: Envoy's
// max(min, (t / window)^(1 / aggression)) inside the window, 1 outside.
double expected_factor(double t_ns, double window_ns, double aggression, double min_fraction) {
  if (t_ns >= window_ns) return 1.0;
  return std::max(min_fraction, std::pow(std::max(t_ns, 0.0) / window_ns, 1.0 / aggression));
}

// A policy stand-in that records set_weight calls.
struct recording_policy {
  std::vector<double> weights;
  std::vector<bool> up;
  int calls = 0;
  bool set_weight(std::size_t i, double w) {
    ++calls;
    weights.at(i) = w;
    return true;
  }
  bool set_healthy(std::size_t i, bool u) {
    if (i >= up.size()) return false;
    up[i] = u;
    return true;
  }
  bool healthy(std::size_t i) const { return i < up.size() && up[i]; }
};

}  // namespace

TEST_CASE("slow start follows Envoy's formula on a manual clock", "[balance][slow_start]") {
  test_clock::reset();
  std::mt19937_64 rng(5);
  for (int round = 0; round < 40; ++round) {
    const double aggression = round % 4 == 0 ? 1.0 : 0.25 + static_cast<double>(rng() % 400) / 100.0;
    const double min_fraction = static_cast<double>(rng() % 101) / 100.0;
    const auto window = std::chrono::milliseconds(1 + rng() % 60000);
    surge::slow_start<test_clock> ss(3,
                                     {.window = window, .aggression = aggression, .min_weight_fraction = min_fraction});
    test_clock::advance(std::chrono::seconds(rng() % 100));
    const auto start = test_clock::now();
    CHECK(ss.factor(1) == 1.0);  // no ramp begun
    ss.begin(1);
    for (int k = 0; k < 50; ++k) {
      const auto t = std::chrono::nanoseconds(static_cast<std::int64_t>(
          rng() % static_cast<std::uint64_t>(std::chrono::nanoseconds(window).count() * 5 / 4)));
      test_clock::set(start.time_since_epoch() + t);
      const double want =
          expected_factor(static_cast<double>(t.count()), static_cast<double>(std::chrono::nanoseconds(window).count()),
                          aggression, min_fraction);
      CHECK(ss.factor(1) == Approx(want).epsilon(1e-12));
      CHECK(ss.ramping(1, test_clock::now()) == (t < window));
      CHECK(ss.factor(0) == 1.0);
      CHECK(ss.factor(2) == 1.0);
    }
  }
  {
    surge::slow_start<test_clock> ss(1, {.window = 10s, .aggression = 1.0, .min_weight_fraction = 0.1});
    const auto t0 = test_clock::now();
    ss.begin(0, t0);
    CHECK(ss.factor(0, t0) == 0.1);        // floor at t = 0
    CHECK(ss.factor(0, t0 + 5s) == 0.5);   // linear
    CHECK(ss.factor(0, t0 + 10s) == 1.0);  // window over
    CHECK(ss.factor(0, t0 - 1s) == 0.1);   // clock before the start: the floor
    surge::slow_start<test_clock> fast(1, {.window = 10s, .aggression = 2.0, .min_weight_fraction = 0.0});
    fast.begin(0, t0);
    CHECK(fast.factor(0, t0 + 2500ms) == Approx(0.5));  // (1/4)^(1/2)
    ss.end(0);
    CHECK(ss.factor(0, t0 + 1s) == 1.0);
  }
}

TEST_CASE("slow start: bad options throw, bad indices are refused", "[balance][slow_start]") {
  using ss = surge::slow_start<test_clock>;
  CHECK_THROWS_AS(ss(0, {.window = 1s}), std::invalid_argument);
  CHECK_THROWS_AS(ss(2, {}), std::invalid_argument);  // window 0
  CHECK_THROWS_AS(ss(2, {.window = -1s}), std::invalid_argument);
  CHECK_THROWS_AS(ss(2, {.window = 1s, .aggression = 0}), std::invalid_argument);
  CHECK_THROWS_AS(ss(2, {.window = 1s, .aggression = -1}), std::invalid_argument);
  CHECK_THROWS_AS(ss(2, {.window = 1s, .aggression = INFINITY}), std::invalid_argument);
  CHECK_THROWS_AS(ss(2, {.window = 1s, .min_weight_fraction = -0.1}), std::invalid_argument);
  CHECK_THROWS_AS(ss(2, {.window = 1s, .min_weight_fraction = 1.5}), std::invalid_argument);
  CHECK_THROWS_AS(ss(2, {.window = 1s, .min_weight_fraction = NAN}), std::invalid_argument);
  ss s(2, {.window = 1s});
  CHECK_FALSE(s.begin(2));
  CHECK_FALSE(s.end(2));
  CHECK(s.factor(7) == 1.0);
  recording_policy p{{1, 1}, {true, true}};
  const std::vector<double> short_list{1.0};
  CHECK_THROWS_AS(s.apply(p, short_list), std::invalid_argument);
  const std::vector<double> zero{1.0, 0.0};
  CHECK_THROWS_AS(s.apply(p, zero), std::invalid_argument);
  CHECK(p.calls == 0);
}

TEST_CASE("slow start drives a policy's weights through set_weight", "[balance][slow_start]") {
  test_clock::reset();
  surge::slow_start<test_clock> ss(3, {.window = 10s, .aggression = 1.0, .min_weight_fraction = 0.1});
  recording_policy p{{2, 4, 6}, {true, false, true}};
  const std::vector<double> base{2, 4, 6};
  CHECK(ss.apply(p, base) == 0);      // nobody ramps: nothing to set
  CHECK(ss.set_healthy(p, 1, true));  // down -> up: the ramp begins now
  CHECK(ss.apply(p, base) == 1);
  CHECK(p.weights[1] == Approx(0.4));  // 4 · 0.1 (floor)
  test_clock::advance(4s);
  CHECK(ss.apply(p, base) == 1);
  CHECK(p.weights[1] == Approx(1.6));  // 4 · 0.4
  test_clock::advance(6s);
  CHECK(ss.apply(p, base) == 1);  // ramp over: full weight, once
  CHECK(p.weights[1] == 4.0);
  CHECK(ss.apply(p, base) == 0);
  CHECK(ss.set_healthy(p, 0, true));  // already up: no ramp
  CHECK(ss.apply(p, base) == 0);
  CHECK(p.weights == std::vector<double>{2, 4, 6});
}

TEST_CASE("slow start: a backend marked down while a call marks it up still ramps", "[balance][slow_start]") {
  // set_healthy(policy, i, true) read the backend up, then another thread's
  // set_healthy(policy, i, false) marked it down, then the first call marked
  // it up: it came back at full weight, with no ramp. The policy runs the
  // other call between the first one's read and its mark.
  struct interleaving_policy {
    std::vector<bool> up = std::vector<bool>(2, true);
    std::function<void()> after_read;
    bool healthy(std::size_t i) {
      const bool u = up[i];
      if (auto f = std::exchange(after_read, nullptr)) f();
      return u;
    }
    bool set_healthy(std::size_t i, bool u) {
      up[i] = u;
      return true;
    }
  } p;
  test_clock::reset();
  surge::slow_start<test_clock> ss(2, {.window = 10s});
  p.after_read = [&] { CHECK(ss.set_healthy(p, 1, false)); };
  CHECK(ss.set_healthy(p, 1, true));
  CHECK(p.up[1]);
  CHECK(ss.ramping(1, test_clock::now()));
  CHECK(ss.factor(1) == Approx(0.1));
  CHECK(ss.set_healthy(p, 1, true));  // up already, no down since: the ramp goes on
  test_clock::advance(5s);
  CHECK(ss.factor(1) == Approx(0.5));
}

TEST_CASE("slow start with real policies (P2C lock-free, Maglev rebuild)", "[balance][slow_start]") {
  test_clock::reset();
  const std::vector<double> base{1, 1, 1, 1};
  surge::slow_start<test_clock> ss(4, {.window = 10s, .aggression = 1.0, .min_weight_fraction = 0.1});
  surge::power_of_two_choices p2c{surge::weights(base)};
  surge::maglev<> mg{surge::weights(base)};
  ss.begin(3);
  CHECK(ss.apply(p2c, base) == 1);
  CHECK(p2c.weight(3) == Approx(0.1));
  surge::slow_start<test_clock> ss_mg(4, {.window = 10s});  // one helper per policy (it remembers what it set)
  ss_mg.begin(3);
  CHECK(ss_mg.apply(mg, base) == 1);  // a rebuild: backend 3 holds about 0.1 / 3.1 of the table
  std::size_t to3 = 0;
  for (std::uint64_t k = 0; k < 20000; ++k) to3 += mg.pick(k) == 3 ? 1 : 0;
  CHECK(static_cast<double>(to3) / 20000 == Approx(0.1 / 3.1).epsilon(0.25));
  test_clock::advance(5s);
  ss.apply(p2c, base);
  CHECK(p2c.weight(3) == Approx(0.5));
  test_clock::advance(5s);
  ss.apply(p2c, base);
  CHECK(p2c.weight(3) == 1.0);
}

TEST_CASE("slow start with min_weight_fraction 0 or tiny weights never sets weight 0", "[balance][slow_start]") {
  test_clock::reset();
  const std::vector<double> base{1, 1, 1, 1};
  const surge::slow_start_options zero{.window = 10s, .aggression = 1.0, .min_weight_fraction = 0.0};
  surge::power_of_two_choices p2c{surge::weights(base)};
  surge::maglev<> mg(surge::weights(base), {.table_size = 1009});
  surge::consistent_hash_ring<> ring{surge::weights(base)};
  surge::slow_start<test_clock> for_p2c(4, zero), for_mg(4, zero), for_ring(4, zero);
  for_p2c.begin(3);
  for_mg.begin(3);
  for_ring.begin(3);
  CHECK(for_p2c.factor(3, test_clock::now()) == 0.0);
  // At the start of the ramp: the floor, never weight 0 (which the policies refuse).
  CHECK(for_p2c.apply(p2c, base) == 1);
  CHECK(p2c.weight(3) == surge::slow_start<test_clock>::min_weight);
  CHECK(for_mg.apply(mg, base) == 1);
  const auto entries = mg.entries();
  CHECK(std::count(entries.begin(), entries.end(), 3U) == 1);  // the least share: one entry
  CHECK(for_ring.apply(ring, base) == 1);
  CHECK(ring.points() == 3 * 160 + 1);  // one point
  // P2C: the floored backend loses every comparison with a full-weight one.
  std::size_t to3 = 0;
  for (int k = 0; k < 4000; ++k) {
    auto l = p2c.pick();
    to3 += l.index() == 3;
  }
  CHECK(to3 < 4000 / 16 + 200);  // only when both samples are 3 (1/16)
  // Tiny base weights whose product with the factor underflows.
  const std::vector<double> tiny{5e-324, 5e-324, 5e-324, 5e-324};
  surge::maglev<> tiny_mg(surge::weights(tiny), {.table_size = 1009});
  surge::slow_start<test_clock> tiny_ss(4, {.window = 10s, .min_weight_fraction = 0.1});
  tiny_ss.begin(0);
  test_clock::advance(1s);
  CHECK_NOTHROW(tiny_ss.apply(tiny_mg, tiny));
  CHECK_NOTHROW(tiny_ss.apply(p2c, tiny));
  CHECK(p2c.weight(0) == surge::slow_start<test_clock>::min_weight);
  // Ramps end at the full weight.
  test_clock::advance(10s);
  CHECK(for_mg.apply(mg, base) == 1);
  CHECK(for_ring.apply(ring, base) == 1);
  CHECK(ring.points() == 4 * 160);
}

TEST_CASE("slow start: time points far apart saturate instead of overflowing", "[balance][slow_start]") {
  using tp = test_clock::time_point;
  surge::slow_start<test_clock> ss(2, {.window = 30s});
  // now - start is beyond the int64 range: long past the window.
  CHECK(ss.begin(1, tp(-1ns)));
  CHECK(ss.factor(1, tp::max()) == 1.0);
  CHECK_FALSE(ss.ramping(1, tp::max()));
  // now long before start: the floor, as for any reading before the start.
  CHECK(ss.begin(0, tp::max()));
  CHECK(ss.factor(0, tp::min()) == 0.1);
  CHECK(ss.ramping(0, tp::min()));
}

TEST_CASE("slow start: a ramp begun at time_point::min() ramps", "[balance][slow_start]") {
  using tp = test_clock::time_point;
  surge::slow_start<test_clock> ss(1, {.window = 30s});
  CHECK(ss.begin(0, tp::min()));
  CHECK(ss.ramping(0, tp::min()));
  CHECK(ss.factor(0, tp::min()) == 0.1);
  CHECK(ss.factor(0, tp::min() + 15s) == Approx(0.5));
  CHECK(ss.ramping(0, tp::min() + 15s));
  CHECK(ss.factor(0, tp::min() + 31s) == 1.0);
  CHECK_FALSE(ss.ramping(0, tp::min() + 31s));
}

TEST_CASE("slow start with a clock coarser than a nanosecond and readings past 292 years", "[balance][slow_start]") {
  using st = surge_test::seconds_clock::time_point;
  surge::slow_start<surge_test::seconds_clock> ss(1, {.window = 30s});
  const st near{std::chrono::seconds(9'000'000'000)};  // 285 years: in nanosecond range
  CHECK(ss.begin(0, near));
  CHECK(ss.factor(0, near + 15s) == Approx(0.5));
  CHECK(ss.factor(0, near + 30s) == 1.0);
  // 2e10 s (634 years) is beyond int64 nanoseconds: the readings saturate
  // (no overflow), so the factor stays within [floor, 1].
  const st far{std::chrono::seconds(20'000'000'000)};
  CHECK(ss.begin(0, far));
  CHECK(ss.factor(0, far) == 0.1);
  CHECK(ss.ramping(0, far));
  CHECK(ss.factor(0, st::max()) >= 0.1);
  CHECK(ss.factor(0, st::min()) == 0.1);
  CHECK(ss.end(0));
  CHECK(ss.factor(0, far) == 1.0);
}
