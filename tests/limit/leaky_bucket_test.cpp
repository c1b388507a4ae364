#include <surge/limit/leaky_bucket.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <ratio>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "far_readings.hpp"
#include "phase_driver.hpp"
#include "still_clock.hpp"
#include "surge_test.hpp"
#include "watchdog.hpp"

using namespace std::chrono_literals;
using cl = surge_test::manual_clock<struct leaky_tag>;
using meter = surge::leaky_bucket<cl>;
using pacer = surge::leaky_bucket_pacer<cl>;
using surge::meter_decision;
using tp = cl::time_point;

namespace {

tp ms(std::int64_t v) { return tp{} + std::chrono::milliseconds(v); }

struct arrival {
  std::int64_t at_ms;
  meter_decision decision;
  std::int64_t delay_ms;
};

void run(meter& m, const std::vector<arrival>& steps) {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    INFO("arrival " << i << " at " << steps[i].at_ms << " ms");
    const auto r = m.admit(ms(steps[i].at_ms));
    CHECK(r.decision == steps[i].decision);
    CHECK(r.delay == std::chrono::milliseconds(steps[i].delay_ms));
  }
}

constexpr auto A = meter_decision::admit;
constexpr auto D = meter_decision::delay;
constexpr auto R = meter_decision::reject;

}  // namespace

TEST_CASE("leaky_bucket rejects nonsensical arguments", "[limit][leaky_bucket]") {
  CHECK_THROWS_AS(meter(0.0, 1, 0, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(meter(-5.0, 1, 0, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(meter(std::nan(""), 1, 0, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(meter(2e9, 1, 0, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(meter::nginx(0, surge::nginx_rate_unit::per_second), std::invalid_argument);
  // a unit that is neither (a cast integer) was taken for per_minute
  surge_test::check_names([] { (void)meter::nginx(60, static_cast<surge::nginx_rate_unit>(2)); }, "unit");
  // rate() is the rate as constructed (it was capped at 1e9)
  CHECK(meter::nginx(std::size_t{1} << 40, surge::nginx_rate_unit::per_second).rate() == 0x1p40);
  CHECK(meter::nginx(60, surge::nginx_rate_unit::per_minute).rate() == 1.0);
  CHECK_THROWS_AS(pacer(0.0, 10, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(pacer(1.0, std::size_t{1} << 40, tp{}), std::invalid_argument);
  surge_test::check_names([] { meter(1e-21, 1, 0, tp{}); }, "rate_per_second");
  surge_test::check_names([] { pacer(1e-21, 1, tp{}); }, "rate_per_second");
}

// limit_req rate=1r/s with each burst/delay form; both modes agree when the
// arithmetic is exact (1 r/s, whole milliseconds).
TEST_CASE("leaky_bucket meter follows nginx limit_req", "[limit][leaky_bucket]") {
  {
    const bool ng = GENERATE(false, true);
    INFO((ng ? "nginx mode" : "exact mode"));
    auto make = [&](std::size_t burst, std::size_t delay) {
      return ng ? meter::nginx(1, surge::nginx_rate_unit::per_second, burst, delay) : meter(1.0, burst, delay, tp{});
    };
    SECTION("burst 0: one per second, rejected arrivals change nothing") {
      auto m = make(0, 0);
      run(m, {{0, A, 0}, {0, R, 0}, {500, R, 0}, {999, R, 0}, {1000, A, 0}, {1500, R, 0}, {2000, A, 0}, {5000, A, 0}});
    }
    SECTION("burst 5 nodelay: B + 1 at one instant") {
      auto m = make(5, surge::nodelay);
      run(m, {{0, A, 0},
              {0, A, 0},
              {0, A, 0},
              {0, A, 0},
              {0, A, 0},
              {0, A, 0},
              {0, R, 0},
              {0, R, 0},
              {1000, A, 0},
              {1000, R, 0},
              {3000, A, 0},
              {3000, A, 0},
              {3000, R, 0}});
    }
    SECTION("burst 5, no delay= (D = 0): the excess is delayed by excess / rate") {
      auto m = make(5, 0);
      run(m, {{0, A, 0},
              {0, D, 1000},
              {0, D, 2000},
              {0, D, 3000},
              {0, D, 4000},
              {0, D, 5000},
              {0, R, 0},
              {500, R, 0},
              {1000, D, 5000},
              {1000, R, 0}});
    }
    SECTION("burst 5 delay=2: the first D + 1 pass undelayed") {
      auto m = make(5, 2);
      run(m, {{0, A, 0},
              {0, A, 0},
              {0, A, 0},
              {0, D, 1000},
              {0, D, 2000},
              {0, D, 3000},
              {0, R, 0},
              {2000, D, 2000},
              {2000, D, 3000},
              {2000, R, 0},
              {6000, A, 0},
              {6000, D, 1000}});
    }
    SECTION("delay > burst behaves as nodelay") {
      auto m = make(2, 7);
      run(m, {{0, A, 0}, {0, A, 0}, {0, A, 0}, {0, R, 0}});
    }
  }
}

TEST_CASE("leaky_bucket nginx mode reproduces nginx's millisecond arithmetic", "[limit][leaky_bucket]") {
  SECTION("r/m rates are truncated milli-requests: 30r/m = 500") {
    auto m = meter::nginx(30, surge::nginx_rate_unit::per_minute);
    run(m, {{0, A, 0}, {1999, R, 0}, {2000, A, 0}, {3999, R, 0}, {4000, A, 0}});
  }
  SECTION("3 r/s delays truncate to whole ms; exact mode rounds up to the tick") {
    auto n = meter::nginx(3, surge::nginx_rate_unit::per_second, 5);
    run(n, {{0, A, 0}, {0, D, 333}, {0, D, 666}});
    meter e(3.0, 5, 0, tp{});
    CHECK(e.admit(tp{}).decision == A);
    CHECK(e.admit(tp{}).delay == 333'333'334ns);
    CHECK(e.admit(tp{}).delay == 666'666'667ns);
  }
  SECTION("3r/m: admitted arrivals 1 ms apart drain nothing (nginx), exact mode keeps the fraction") {
    auto n = meter::nginx(3, surge::nginx_rate_unit::per_minute, 30'000, surge::nodelay);  // 50 milli-req/s
    meter e(3.0 / 60.0, 30'000, surge::nodelay, tp{});
    int n_ok = 0, e_ok = 0;
    for (std::int64_t t = 0; t < 40'000; t += 1) {  // one arrival per ms for 40 s
      n_ok += n.admit(ms(t)).admitted();
      e_ok += e.admit(ms(t)).admitted();
    }
    CHECK(n_ok == 30'001);  // 50 * 1 / 1000 == 0 at every admitted arrival
    CHECK(e_ok == 30'002);  // B + 1, plus 0.05/s over the 30 s of admitted arrivals... and after
  }
  SECTION("a fresh key admits B + 1; an idle key is the same as a fresh one") {
    auto m = meter::nginx(2, surge::nginx_rate_unit::per_second, 1, surge::nodelay);
    CHECK(m.full(ms(0)));
    run(m, {{0, A, 0}, {0, A, 0}, {0, R, 0}});
    CHECK_FALSE(m.full(ms(999)));
    CHECK(m.full(ms(1000)));  // excess 1000 - 2000*1000/1000 + 1000 <= 0
    run(m, {{1000, A, 0}, {1000, A, 0}, {1000, R, 0}});
  }
}

TEST_CASE("leaky_bucket meter: a clock going backwards never credits", "[limit][leaky_bucket]") {
  for (bool ng : {false, true}) {
    INFO((ng ? "nginx mode" : "exact mode"));
    auto m = ng ? meter::nginx(10, surge::nginx_rate_unit::per_second, 2, surge::nodelay)
                : meter(10.0, 2, surge::nodelay, tp{});
    run(m, {{1000, A, 0}, {1000, A, 0}, {1000, A, 0}, {1000, R, 0}});
    // back 500 ms: still full, nothing credited
    run(m, {{500, R, 0}, {0, R, 0}});
    run(m, {{1100, A, 0}, {1100, R, 0}});
  }
}

TEST_CASE("leaky_bucket meter: admitted arrivals in any window stay within B + 1 + rate * w",
          "[limit][leaky_bucket][property]") {
  std::mt19937_64 rng(5);
  for (double rate : {2.0, 50.0, 1e5}) {
    for (std::size_t burst : {std::size_t{0}, std::size_t{3}, std::size_t{20}}) {
      INFO("rate " << rate << " burst " << burst);
      meter m(rate, burst, surge::nodelay, tp{});
      std::vector<std::int64_t> admitted;
      std::int64_t now = 0;
      const auto gap = static_cast<std::uint64_t>(1e9 / rate) + 1;
      for (int i = 0; i < 4000; ++i) {
        now += static_cast<std::int64_t>(rng() % gap) * ((rng() % 4) == 0 ? 0 : 1);
        const auto r = m.admit(tp{} + std::chrono::nanoseconds(now));
        CHECK(r.delay == 0ns);
        if (r.admitted()) admitted.push_back(now);
      }
      for (std::size_t i = 0; i < admitted.size(); ++i)
        for (std::size_t j = i; j < admitted.size() && j < i + 100; ++j)
          REQUIRE(static_cast<double>(j - i + 1) <=
                  static_cast<double>(burst + 1) + rate * static_cast<double>(admitted[j] - admitted[i]) / 1e9 + 1e-9);
      // with delays: admitted requests served at now + delay never exceed D + 1 + rate * w
      meter dm(rate, burst, 0, tp{});
      std::vector<std::int64_t> served;
      now = 0;
      for (int i = 0; i < 4000; ++i) {
        now += static_cast<std::int64_t>(rng() % gap);
        const auto r = dm.admit(tp{} + std::chrono::nanoseconds(now));
        if (r.admitted()) served.push_back(now + r.delay.count());
      }
      std::sort(served.begin(), served.end());
      for (std::size_t i = 0; i < served.size(); ++i)
        for (std::size_t j = i; j < served.size() && j < i + 100; ++j)
          REQUIRE(static_cast<double>(j - i + 1) <=
                  1.0 + rate * static_cast<double>(served[j] - served[i]) / 1e9 + 1e-6);
    }
  }
}

namespace {

// 4 threads drain one meter at each reading of a phase; every phase's total
// must equal what a single-threaded reference admits. Phases step the clock
// by up to `max_step` (plus up to 40 ms).
template <class Tag>
void hammer_meter(std::int64_t start_ns, std::chrono::hours max_step, unsigned seed) {
  using hc = surge_test::manual_clock<Tag>;
  hc::set(typename hc::duration(start_ns));
  surge::leaky_bucket<hc> shared(1000.0, 30, surge::nodelay, typename hc::time_point{});
  surge::leaky_bucket<hc> reference(1000.0, 30, surge::nodelay, typename hc::time_point{});
  std::mt19937 rng(seed);
  limit_test::run_phases(
      4, 100,
      [&] {
        long mine = 0;
        while (shared.admit().admitted()) ++mine;
        return mine;
      },
      [&](int) {
        const auto hours = static_cast<std::uint64_t>(max_step.count());
        hc::advance(std::chrono::hours(hours == 0 ? 0 : rng() % hours) + std::chrono::microseconds(rng() % 40'000));
        long n = 0;
        while (reference.admit().admitted()) ++n;
        return n;
      });
}

}  // namespace

TEST_CASE("leaky_bucket meter: concurrent arrivals admit what one thread would", "[limit][leaky_bucket][concurrency]") {
  hammer_meter<struct meter_hammer_tag>(0, std::chrono::hours(0), 3);
}

TEST_CASE("leaky_bucket_pacer follows uber-go/ratelimit", "[limit][leaky_bucket][pacer]") {
  SECTION("without slack: evenly spaced, a gap is not banked") {
    pacer p(10.0, 0, tp{});         // 100 ms apart
    CHECK(p.take(ms(0)) == ms(0));  // first call proceeds at once
    CHECK(p.take(ms(0)) == ms(100));
    CHECK(p.take(ms(0)) == ms(200));
    CHECK(p.take(ms(250)) == ms(300));
    CHECK(p.take(ms(1000)) == ms(1000));  // long gap: start over from now
    CHECK(p.take(ms(1000)) == ms(1100));
  }
  SECTION("slack 10 (the default): after a pause, 11 callers pass at once") {
    pacer p(10.0, 10, tp{});
    CHECK(p.take(ms(0)) == ms(0));
    int at_once = 0;
    while (p.take(ms(10'000)) == ms(10'000)) ++at_once;
    CHECK(at_once == 11);
  }
  SECTION("slack 2: a short pause banks only what it skipped") {
    pacer p(10.0, 2, tp{});
    CHECK(p.take(ms(0)) == ms(0));
    CHECK(p.take(ms(150)) == ms(150));  // 100 ms issued at t=100
    CHECK(p.take(ms(150)) == ms(200));
    CHECK(p.take(ms(150)) == ms(300));
  }
  SECTION("clock going backwards never credits") {
    pacer p(10.0, 0, tp{});
    CHECK(p.take(ms(1000)) == ms(1000));
    CHECK(p.take(ms(0)) == ms(1100));
    CHECK(p.take(ms(1000)) == ms(1200));
  }
  SECTION("exact spacing: 3 per second over a long run does not drift") {
    pacer p(3.0, 0, tp{});
    tp last{};
    for (int i = 0; i < 3000; ++i) last = p.take(tp{});
    CHECK(last == tp{} + 999'666'666'667ns);  // 2999 / 3 s, rounded up to the ns
  }
}

TEST_CASE("leaky_bucket_pacer: callers far ahead of the rate saturate at time_point::max()",
          "[limit][leaky_bucket][pacer]") {
  // 1e-9 per second: one slot every 1e9 s (31.7 years). The fifth slot lies
  // 127 years after the construction time, the sixth 158 years: past what the
  // pacer tells apart (2^62 ns), so it and every later one is time_point::max(),
  // never an earlier time (and the schedule never overflows).
  pacer p(1e-9, 0, tp{});
  tp last{};
  for (int i = 0; i < 5; ++i) {
    const tp t = p.take(tp{});
    // a unit lasts 233 ns at this rate: the slots are exact to within one
    const auto off = t - (tp{} + std::chrono::seconds(std::int64_t{1'000'000'000} * i));
    CHECK(off <= 0ns);
    CHECK(off > -1us);
    last = t;
  }
  for (int i = 0; i < 100; ++i) {
    const tp t = p.take(tp{});
    CHECK(t == tp::max());
    CHECK(t >= last);
    last = t;
  }
}

TEST_CASE("leaky_bucket_pacer: a schedule that reached its limit is not kept there for ever",
          "[limit][leaky_bucket][pacer]") {
  // the saturated slot was stored and re-expressed as saturated at every
  // re-base: every later take, even centuries on, was time_point::max()
  pacer p(0.25, 0, tp{});  // one slot per 4 s
  std::int64_t granted = 0;
  while (p.take(tp{}) != tp::max()) ++granted;
  CHECK(granted > 1'000'000);  // 2^54 units ahead: about 194 days of slots
  constexpr auto year = std::chrono::hours(24 * 365);
  CHECK(p.take(tp{} + 1 * year) == tp{} + 1 * year);  // the schedule's 194 days have passed: now
  CHECK(p.take(tp{} + 10 * year) == tp{} + 10 * year);
  CHECK(p.take(tp{} + 10 * year) == tp{} + 10 * year + 4s);
}

TEST_CASE(
    "leaky_bucket meter and pacer: a move of the epoch back decided on a fresh state does not undo a racing "
    "store",
    "[limit][leaky_bucket][concurrency]") {
  // thread A's reading at time_point::min() moves the epoch of a fresh
  // limiter back; thread B's reading at 0 stores a state first: the move then
  // shifted B's state by -2^61 units, which the 56-bit field lost
  surge_test::watchdog dog("leaky_bucket backward re-base race");
  const int iterations = surge_test::scaled(4000);
  for (const bool use_pacer : {true, false}) {
    INFO((use_pacer ? "pacer" : "meter"));
    int lost = 0;
    for (int i = 0; i < iterations; ++i) {
      std::optional<pacer> p;
      std::optional<meter> m;
      if (use_pacer) {
        p.emplace(1.0, 0, tp{});
      } else {
        m.emplace(1.0, 0, 0, tp{});
      }
      std::atomic<int> ready{0};
      const auto call = [&](tp at) {
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        if (use_pacer) {
          (void)p->take(at);
        } else {
          (void)m->admit(at);
        }
      };
      std::thread a(call, tp::min()), b(call, tp{});
      a.join();
      b.join();
      // B's arrival at 0 is in the state: the next one at 0 waits a second (pacer) or is refused (meter, burst 0)
      if (use_pacer ? p->take(tp{}) < tp{} + 1s : m->admit(tp{}).decision != meter_decision::reject) ++lost;
    }
    CHECK(lost == 0);
  }
}

TEST_CASE("leaky_bucket_pacer: concurrent takers get distinct evenly spaced slots",
          "[limit][leaky_bucket][pacer][concurrency]") {
  using pc = surge_test::manual_clock<struct pacer_tag>;
  pc::reset();
  surge::leaky_bucket_pacer<pc> p(1000.0, 0, pc::time_point{});
  constexpr unsigned threads = 4;
  constexpr int per_thread = 5000;
  std::vector<std::vector<pc::time_point>> got(threads);
  std::vector<std::thread> pool;
  for (unsigned k = 0; k < threads; ++k)
    pool.emplace_back([&, k] {
      for (int i = 0; i < per_thread; ++i) got[k].push_back(p.take());
    });
  for (auto& t : pool) t.join();
  std::set<std::int64_t> all;
  for (auto& v : got)
    for (auto t : v) all.insert(t.time_since_epoch().count());
  REQUIRE(all.size() == threads * per_thread);  // every slot handed out once
  std::int64_t k = 0;
  for (auto t : all) REQUIRE(t == (k++) * 1'000'000);  // 0, 1 ms, 2 ms, ...
}

// ---- readings any distance apart: the epoch moves, decisions stay exact ----

namespace {

using limit_test::i128;
using limit_test::token_ns;
using limit_test::unit_ns_rate;
using limit_test::walk;

struct meter_model {
  std::int64_t burst, delay;
  bool fresh = true;
  i128 tat = 0;
  surge::meter_result<std::chrono::nanoseconds> admit(std::int64_t t) {
    const i128 excess = fresh ? 0 : std::max<i128>(0, tat + token_ns - t);
    if (excess > burst * token_ns) return {meter_decision::reject, 0ns};
    fresh = false;
    tat = t + excess;
    if (excess <= delay * token_ns) return {meter_decision::admit, 0ns};
    return {meter_decision::delay, std::chrono::nanoseconds(static_cast<std::int64_t>(excess - delay * token_ns))};
  }
  bool full(std::int64_t t) const { return fresh || tat + token_ns <= t; }
};

struct pacer_model {
  std::int64_t slack;
  bool fresh = true;
  i128 last = 0;
  std::int64_t take(std::int64_t t) {
    if (fresh || (slack == 0 && t - last > token_ns))
      last = t;
    else if (slack > 0 && t - last > (slack + 1) * token_ns)
      last = t - slack * token_ns;
    else
      last += token_ns;
    fresh = false;
    return static_cast<std::int64_t>(std::max<i128>(last, t));
  }
};

}  // namespace

TEST_CASE("leaky_bucket meter: readings any distance from the construction time meter exactly",
          "[limit][leaky_bucket][horizon]") {
  std::mt19937_64 rng(11);
  limit_test::for_far_starts([&](std::int64_t built, std::int64_t first) {
    for (auto [burst, delay] : {std::pair<std::int64_t, std::int64_t>{0, 0}, {5, 2}, {40, 40}}) {
      INFO("built " << built << " first reading " << first << " burst " << burst << " delay " << delay);
      meter m(unit_ns_rate, static_cast<std::size_t>(burst), static_cast<std::size_t>(delay),
              tp{} + cl::duration(built));
      auto state = meter::initial_state();
      meter_model model{burst, delay};
      std::size_t admitted = 0;
      walk(rng, first, [&](std::int64_t t) {
        const tp at = tp{} + cl::duration(t);
        const bool full = model.full(t);
        REQUIRE(m.full(at) == full);
        REQUIRE(m.full_state(state, at) == full);
        const auto want = model.admit(t);
        const auto got = m.admit(at);
        const auto got_state = m.admit_state(state, at);
        REQUIRE(got.decision == want.decision);
        REQUIRE(got.delay == want.delay);
        REQUIRE(got_state.decision == want.decision);
        REQUIRE(got_state.delay == want.delay);
        admitted += want.decision != meter_decision::reject;
      });
      CHECK(admitted > 100);
    }
  });
}

TEST_CASE("leaky_bucket_pacer: readings any distance from the construction time pace exactly",
          "[limit][leaky_bucket][pacer][horizon]") {
  std::mt19937_64 rng(12);
  limit_test::for_far_starts([&](std::int64_t built, std::int64_t first) {
    for (std::int64_t slack : {0, 1, 10}) {
      INFO("built " << built << " first reading " << first << " slack " << slack);
      pacer p(unit_ns_rate, static_cast<std::size_t>(slack), tp{} + cl::duration(built));
      pacer_model model{slack};
      walk(rng, first, [&](std::int64_t t) {
        REQUIRE(p.take(tp{} + cl::duration(t)).time_since_epoch().count() == model.take(t));
      });
    }
  });
}

TEST_CASE("leaky_bucket meter: threads moving the epoch together admit what one thread would",
          "[limit][leaky_bucket][horizon][concurrency]") {
  // from 146 years before the construction time, every phase jumps up to 120
  // days: most move the epoch, with 4 threads racing to
  hammer_meter<struct meter_rebase_tag>(std::numeric_limits<std::int64_t>::min() / 2, std::chrono::hours(24 * 120), 4);
}

// ---- clocks at their limits: every call saturates, none overflows ----------

namespace {

using surge_test::seconds_clock;

template <class Clock>
void exercise_leaky_at(typename Clock::time_point built, typename Clock::time_point at, bool forwards) {
  using dur = typename Clock::duration;
  surge::leaky_bucket<Clock> m(1.0, 3, 1, built);
  for (int i = 0; i < 6; ++i) {
    const auto r = m.admit(at);
    CHECK(r.delay >= dur::zero());
    if (forwards && i == 0) CHECK(r.decision == meter_decision::admit);
  }
  (void)m.full(at);
  auto s = surge::leaky_bucket<Clock>::initial_state();
  (void)m.admit_state(s, built);
  (void)m.admit_state(s, at);
  (void)m.full_state(s, at);

  auto ng = surge::leaky_bucket<Clock>::nginx(1, surge::nginx_rate_unit::per_minute, std::size_t{1} << 40);
  auto ns = decltype(ng)::initial_state();
  (void)ng.admit_state(ns, built);
  for (int i = 0; i < 3; ++i) CHECK(ng.admit_state(ns, at).delay >= dur::zero());
  (void)ng.full_state(ns, at);
  for (int i = 0; i < 3; ++i) (void)ng.admit(at);

  surge::leaky_bucket_pacer<Clock> p(1.0, 2, built);
  for (int i = 0; i < 6; ++i) CHECK(p.take(at) >= at);  // saturated at time_point::max(), never wrapped
}

}  // namespace

TEST_CASE("leaky_bucket and the pacer at the limits of the clock saturate", "[limit][leaky_bucket]") {
  const tp lo = tp::min(), hi = tp::max(), zero{};
  exercise_leaky_at<cl>(zero, hi, true);
  exercise_leaky_at<cl>(lo, hi, true);  // 584 years apart
  exercise_leaky_at<cl>(hi, lo, false);
  exercise_leaky_at<cl>(hi, hi, true);
  exercise_leaky_at<cl>(lo, lo, true);
  using st = seconds_clock::time_point;
  exercise_leaky_at<seconds_clock>(st{}, st::max(), true);
  exercise_leaky_at<seconds_clock>(st::min(), st::max(), true);
  exercise_leaky_at<seconds_clock>(st::max(), st::min(), false);

  SECTION("a meter read 584 years after construction is fresh, then meters again") {
    meter m(1.0, 0, 0, lo);
    CHECK(m.admit(lo).decision == meter_decision::admit);
    CHECK(m.admit(lo).decision == meter_decision::reject);
    CHECK(m.full(hi));
    CHECK(m.admit(hi).decision == meter_decision::admit);
    CHECK(m.admit(hi).decision == meter_decision::reject);
  }
  SECTION("the pacer's slot near the end of time is time_point::max()") {
    pacer p(1.0, 0, hi - 1500ms);
    CHECK(p.take(hi - 1500ms) == hi - 1500ms);
    CHECK(p.take(hi - 1500ms) == hi - 500ms);
    CHECK(p.take(hi - 1500ms) == hi);  // 1.5 s after the end: saturated
  }
  SECTION("a long nginx-mode delay saturates instead of overflowing") {
    // 1 r/m with burst 2^40: the 2^40-th queued request waits ~2^40 minutes
    auto ng = meter::nginx(1, surge::nginx_rate_unit::per_minute, std::size_t{1} << 40);
    auto s = meter::initial_state();
    (void)ng.admit_state(s, zero);
    s.excess = (std::int64_t{1} << 40) * 1000 - 1000;  // as after 2^40 queued arrivals
    const auto r = ng.admit_state(s, zero);
    CHECK(r.decision == meter_decision::delay);
    CHECK(r.delay == cl::duration::max());
  }
}

namespace {

// The double rate as an exact rational, rate = mant * 2^(ex - 53) per second:
// times are kept multiplied by mant, so a token lasts exactly
// per = 1e9 * 2^(53 - ex) of them (rates below 2^53).
struct exact_rate {
  limit_test::i128 mant, per;
  explicit exact_rate(double rate) {
    int ex = 0;
    const double fr = std::frexp(rate, &ex);
    mant = static_cast<limit_test::i128>(std::ldexp(fr, 53));
    per = limit_test::i128{1'000'000'000} << (53 - ex);
  }
  // ceil(x / mant) for x >= 0: a scaled time in whole nanoseconds, rounded up
  [[nodiscard]] std::int64_t ns_ceil(limit_test::i128 x) const {
    return static_cast<std::int64_t>((x + mant - 1) / mant);
  }
};

}  // namespace

TEST_CASE("leaky_bucket meter and pacer equal an exact rational model on random readings",
          "[limit][leaky_bucket][pacer][model]") {
  using limit_test::i128;
  std::mt19937_64 rng(2718);
  for (double rate : {1e-3, 0.3, 1.0 / 3, 3.0, 7.0, 1e3 / 7, 1e6 / 3, 1e9 / 3, 1e9}) {
    const exact_rate x(rate);
    for (std::size_t burst : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{20}}) {
      for (std::size_t delay : {std::size_t{0}, std::size_t{1}, surge::nodelay}) {
        const std::size_t slack = burst;  // the pacer's slack: 0, 1, 3 or 20
        INFO("rate " << rate << " burst " << burst << " delay " << delay);
        meter m(rate, burst, delay, tp{});
        pacer p(rate, slack, tp{});
        // the limiters see readings rounded down to a unit (at most 1 ns here,
        // or 2^-32 token at the slowest rate): decisions and times may differ
        // from the model's by two units, never more
        const i128 tol_m = 2 * (x.per >> surge::detail::rate_units::make(rate, burst + 1).f);
        const i128 tol_p = 2 * (x.per >> surge::detail::rate_units::make(rate, slack + 1).f);
        const i128 b = static_cast<i128>(burst) * x.per;
        const i128 d = delay >= burst ? b : static_cast<i128>(delay) * x.per;
        std::optional<i128> tat, last;  // the meter's TAT and the pacer's last slot, scaled
        const auto span = static_cast<std::uint64_t>(std::min(2e9 / rate, 1e15)) + 1;
        std::int64_t now = 1'000'000;
        for (int i = 0; i < 1500; ++i) {
          const auto k = rng() % 10;
          if (k < 5)
            now += static_cast<std::int64_t>(rng() % span);
          else if (k < 7)
            now -= static_cast<std::int64_t>(rng() % (span / 4 + 1));  // a reading older than the last
          else if (k < 9)
            now += static_cast<std::int64_t>(rng() % 1000);
          else
            now += static_cast<std::int64_t>(rng() % (span * 20));
          const tp at = tp{} + std::chrono::nanoseconds(now);
          const i128 t = static_cast<i128>(now) * x.mant;
          // meter: e = max(0, excess drained to now, plus this arrival), in time
          const i128 e = tat ? std::max(i128{0}, *tat + x.per - t) : i128{0};
          const auto r = m.admit(at);
          if (r.decision == meter_decision::reject) {
            REQUIRE(e + tol_m > b);
          } else {
            REQUIRE(e <= b + tol_m);
            const i128 wait = e > d ? e - d : i128{0};
            REQUIRE(r.delay.count() <= x.ns_ceil(wait + tol_m) + 1);
            REQUIRE(r.delay.count() + 1 >= x.ns_ceil(wait > tol_m ? wait - tol_m : i128{0}));
            tat = t + e;  // follow the meter's decision (they differ only within the tolerance)
          }
          // pacer: uber-go/ratelimit's slots, exact
          i128 next = t;
          if (last && !(slack == 0 && t - *last > x.per))
            next = slack > 0 && t - *last > static_cast<i128>(slack + 1) * x.per ? t - static_cast<i128>(slack) * x.per
                                                                                  : *last + x.per;
          last = next;
          const std::int64_t want = next <= t ? now : x.ns_ceil(next);
          const std::int64_t got = p.take(at).time_since_epoch().count();
          REQUIRE(got <= want + x.ns_ceil(tol_p) + 1);
          REQUIRE(got + x.ns_ceil(tol_p) + 1 >= want);
        }
      }
    }
  }
}
