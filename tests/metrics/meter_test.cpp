#include <surge/metrics/meter.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <ratio>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "still_clock.hpp"
#include "surge_test.hpp"
#include "watchdog.hpp"

using namespace std::chrono_literals;
using mclock = surge_test::manual_clock<struct meter_tag>;
using meter = surge::rate_meter<mclock>;
using tp = mclock::time_point;

namespace {
tp at(std::chrono::nanoseconds d) { return tp{} + d; }
const double a1 = 1 - std::exp(-5.0 / 60.0);    // 1-minute alpha
const double a5 = 1 - std::exp(-5.0 / 300.0);   // 5-minute alpha
const double a15 = 1 - std::exp(-5.0 / 900.0);  // 15-minute alpha
}  // namespace

TEST_CASE("rate_meter rejects bad options, naming the field", "[metrics][meter]") {
  CHECK_THROWS_AS(meter({.window = 0s}, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(meter({.window = -1s}, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(meter({.slots = 0}, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(meter({.slots = 5000}, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(meter({.window = 5ns, .slots = 10}, tp{}), std::invalid_argument);
  try {
    meter m({.slots = 0}, tp{});
    FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("slots") != std::string::npos);
  }
  CHECK_NOTHROW(meter({.window = 10ns, .slots = 10}, tp{}));
  // slots that do not divide the window would shorten it (7999 ns in 4096
  // slots of 1 ns covered 4096 ns)
  for (const auto& [window, slots] : {std::pair{7999ns, std::size_t{4096}}, std::pair{10001ns, std::size_t{10}},
                                      std::pair{std::chrono::nanoseconds(60s) + 1ns, std::size_t{60}}}) {
    INFO(window.count() << " ns in " << slots << " slots");
    try {
      meter m({.window = window, .slots = slots}, tp{});
      FAIL("no throw");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("options.window") != std::string::npos);
      CHECK(std::string(e.what()).find("options.slots") != std::string::npos);
    }
  }
  CHECK_NOTHROW(meter({.window = 60s, .slots = 60}, tp{}));
  CHECK_NOTHROW(meter({.window = 8192ns, .slots = 4096}, tp{}));
}

TEST_CASE("rate_meter EWMAs follow the load-average form", "[metrics][meter]") {
  meter m({}, tp{});
  // 300 events in the first 5 s: the first tick sets every EWMA to 60/s
  for (int i = 0; i < 300; ++i) m.mark(1, at(i * 10ms));
  CHECK(m.count() == 300);
  CHECK(m.one_minute_rate(at(4999ms)) == 0.0);  // no tick yet
  auto s = m.stats(at(5s));
  CHECK(s.one_minute == Approx(60.0));
  CHECK(s.five_minute == Approx(60.0));
  CHECK(s.fifteen_minute == Approx(60.0));
  // an idle interval: m += alpha (0 - m)
  s = m.stats(at(10s));
  CHECK(s.one_minute == Approx(60.0 * (1 - a1)));
  CHECK(s.five_minute == Approx(60.0 * (1 - a5)));
  CHECK(s.fifteen_minute == Approx(60.0 * (1 - a15)));
  // 50 events in [10 s, 15 s): instant 10/s
  m.mark(50, at(12s));
  s = m.stats(at(15s));
  double e1 = 60.0 * (1 - a1);
  e1 += a1 * (10.0 - e1);
  double e5 = 60.0 * (1 - a5);
  e5 += a5 * (10.0 - e5);
  CHECK(s.one_minute == Approx(e1));
  CHECK(s.five_minute == Approx(e5));
  // a long idle is caught up at once: 60 s = 12 ticks of decay
  s = m.stats(at(75s));
  CHECK(s.one_minute == Approx(e1 * std::pow(1 - a1, 12)));
  CHECK(s.five_minute == Approx(e5 * std::pow(1 - a5, 12)));
  CHECK(s.mean_rate == Approx(350.0 / 75.0));
  // 12 ticks of 1-minute decay is e^-1
  CHECK(std::pow(1 - a1, 12) == Approx(std::exp(-1.0)));
}

TEST_CASE("rate_meter catch-up: the events go into the first missed tick", "[metrics][meter]") {
  meter m({}, tp{});
  m.mark(100, at(1s));
  // next call at 17 s: ticks at 5, 10, 15 s; the 100 events belong to the first
  const auto s = m.stats(at(17s));
  CHECK(s.one_minute == Approx(20.0 * (1 - a1) * (1 - a1)));
  CHECK(s.fifteen_minute == Approx(20.0 * (1 - a15) * (1 - a15)));
}

TEST_CASE("rate_meter rate() is over the sliding window", "[metrics][meter]") {
  meter m({.window = 10s, .slots = 10}, tp{});  // slots of 1 s
  CHECK(m.rate(tp{}) == 0.0);
  m.mark(10, at(500ms));
  CHECK(m.rate(at(1s)) == Approx(10.0));  // 10 events over the first second
  CHECK(m.rate(at(2s)) == Approx(5.0));
  for (int s = 2; s < 10; ++s) m.mark(10, at(std::chrono::seconds(s)));
  // at 10 s: slots 1..10 (from 1 s): events in [1 s, 10 s) = 80, over 9 s
  CHECK(m.rate(at(10s)) == Approx(80.0 / 9.0));
  CHECK(m.rate(at(10500ms)) == Approx(80.0 / 9.5));
  // at 12 s the window starts at 3 s: events marked at 3..9 s = 70, over 9 s
  CHECK(m.rate(at(12s)) == Approx(70.0 / 9.0));
  // long idle: nothing in the window
  CHECK(m.rate(at(100s)) == 0.0);
  m.mark(9, at(101s));
  CHECK(m.rate(at(102s)) == Approx(9.0 / 9.0));
  CHECK(m.count() == 10 + 80 + 9);
}

TEST_CASE("rate_meter with one slot", "[metrics][meter]") {
  meter m({.window = 2s, .slots = 1}, tp{});
  m.mark(4, at(1s));
  CHECK(m.rate(at(1s)) == Approx(4.0));
  CHECK(m.rate(at(2s)) == 0.0);  // a new window starts at 2 s, nothing in it yet
  m.mark(6, at(3s));
  CHECK(m.rate(at(3s)) == Approx(6.0));
}

TEST_CASE("rate_meter matches a naive model on random sequences", "[metrics][meter]") {
  // the model keeps every event with its reading: rate() counts those of the
  // last `slots` slots up to now over the time since the oldest one began;
  // the EWMAs tick as Dropwizard's Meter does, one 5 s interval at a time
  std::mt19937_64 rng(17);
  for (int round = 0; round < 200; ++round) {
    const auto slots = static_cast<std::int64_t>(1 + rng() % 8);
    const auto slot_ns = static_cast<std::int64_t>(1 + rng() % 3'000'000'000);
    meter m({.window = std::chrono::nanoseconds(slots * slot_ns), .slots = static_cast<std::size_t>(slots)}, tp{});
    std::vector<std::pair<std::int64_t, std::uint64_t>> events;  // (reading, n)
    double ewma[3] = {0, 0, 0};
    const double alpha[3] = {a1, a5, a15};
    bool initialized = false;
    std::int64_t ticks = 0;
    std::uint64_t uncounted = 0;
    const auto tick_to = [&](std::int64_t now) {
      for (; ticks < now / 5'000'000'000; ++ticks) {
        const double instant = static_cast<double>(uncounted) / 5.0;
        uncounted = 0;
        for (int i = 0; i < 3; ++i) ewma[i] = initialized ? ewma[i] + alpha[i] * (instant - ewma[i]) : instant;
        initialized = true;
      }
    };
    std::int64_t now = 0;
    for (int step = 0; step < 200; ++step) {
      now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(2 * slot_ns + 1));
      tick_to(now);
      if (rng() % 4 != 0) {
        const std::uint64_t n = 1 + rng() % 5;
        m.mark(n, at(std::chrono::nanoseconds(now)));
        events.emplace_back(now, n);
        uncounted += n;
        continue;
      }
      const surge::meter_stats s = m.stats(at(std::chrono::nanoseconds(now)));
      const std::int64_t oldest = std::max<std::int64_t>(0, now / slot_ns - slots + 1);
      std::uint64_t in_window = 0;
      for (const auto& [t, n] : events)
        if (t / slot_ns >= oldest) in_window += n;
      const double span = static_cast<double>(now - oldest * slot_ns) / 1e9;
      INFO("round " << round << ", step " << step << ", slots " << slots << " of " << slot_ns << " ns, now " << now);
      CHECK(s.rate == Approx(span > 0 ? static_cast<double>(in_window) / span : 0.0).epsilon(1e-12));
      CHECK(s.one_minute == Approx(ewma[0]).epsilon(1e-12));
      CHECK(s.five_minute == Approx(ewma[1]).epsilon(1e-12));
      CHECK(s.fifteen_minute == Approx(ewma[2]).epsilon(1e-12));
    }
  }
}

TEST_CASE("rate_meter clock readings going backwards and at the limits", "[metrics][meter]") {
  meter m({}, at(100s));
  m.mark(5, at(50s));  // before construction: counted at construction time
  CHECK(m.count() == 5);
  CHECK(m.mean_rate(at(90s)) == 0.0);
  m.mark(5, at(106s));  // after the first tick at 105 s: (5 events in [100, 105)) 1/s
  CHECK(m.one_minute_rate(at(106s)) == Approx(1.0));
  // an older reading sees the latest state, never rewinds it
  CHECK(m.one_minute_rate(at(101s)) == Approx(1.0));
  CHECK(m.mean_rate(at(101s)) == Approx(10.0 / 6.0));
  // the far end of the clock: saturates, stays finite
  const tp far{mclock::duration::max()};
  m.mark(1, far);
  const auto s = m.stats(far);
  CHECK(s.count == 11);
  CHECK(std::isfinite(s.one_minute));
  CHECK(std::isfinite(s.rate));
  CHECK(s.one_minute >= 0.0);
  meter low({}, tp{mclock::duration::min()});
  low.mark(1, far);
  CHECK(std::isfinite(low.stats(far).mean_rate));
  // slots of 1 ns: the far end is slot INT64_MAX, which the ring reaches
  // without stepping past it
  meter fine({.window = 1ns, .slots = 1}, tp{});
  fine.mark(1, at(3ns));
  fine.mark(1, far);
  CHECK(fine.count() == 2);
  CHECK(std::isfinite(fine.stats(far).rate));
  meter fine4({.window = 4ns, .slots = 4}, tp{});
  fine4.mark(2, far);
  CHECK(fine4.stats(far).count == 2);
}

TEST_CASE("rate_meter: the last slot and 5 s interval before the int64 limit start at their boundary",
          "[metrics][meter]") {
  // 9,223,372,035 s = 1,844,674,407 intervals of 5 s: the last boundary below
  // INT64_MAX ns, and the one slot's end; a mark after it began the new slot
  // and interval only when a reader came by (they saturated one step early)
  meter m({.window = 9'223'372'035s, .slots = 1}, tp{});
  m.mark(1, at(9'223'372'031s));          // slot 0, interval 1,844,674,406
  m.mark(5, at(9'223'372'035s + 500ms));  // slot 1, interval 1,844,674,407
  const auto s = m.stats(at(9'223'372'036s));
  CHECK(s.count == 6);
  CHECK(s.rate == Approx(5.0));             // the 5 events of slot 1, over its 1 s so far
  CHECK(s.one_minute == Approx(a1 * 0.2));  // interval ...406 held 1 event: 0.2/s
  CHECK(s.fifteen_minute == Approx(a15 * 0.2));
}

// finer than a nanosecond: nanoseconds::max() does not fit its duration
using ps_clock = surge_test::still_clock<std::int64_t, std::pico>;
// a 32-bit millisecond counter: nanoseconds::max() truncates in its duration
using ms32_clock = surge_test::still_clock<std::int32_t, std::milli>;

TEST_CASE("rate_meter on a picosecond clock", "[metrics][meter]") {
  using ps = ps_clock::duration;
  const ps_clock::time_point start{ps{1'000'000'000'000}};  // 1 s
  surge::rate_meter<ps_clock> m({}, start);
  for (int i = 1; i <= 100; ++i) m.mark(1, start + ps{std::int64_t{i} * 100'000'000'000});  // 10/s for 10 s
  const auto s = m.stats(start + ps{10'000'000'000'000});
  CHECK(s.count == 100);
  CHECK(s.mean_rate == Approx(10.0));
  CHECK(s.rate == Approx(91.0 / 9.0));  // the window: from the start of slot 1 (9 events before it)
  // its limits saturate
  const ps_clock::time_point far{ps::max()};
  m.mark(1, far);
  CHECK(std::isfinite(m.stats(far).mean_rate));
  surge::rate_meter<ps_clock> low({}, ps_clock::time_point{ps::min()});
  low.mark(1, far);
  CHECK(std::isfinite(low.stats(far).mean_rate));
}

TEST_CASE("rate_meter on a 32-bit millisecond clock past 24 days", "[metrics][meter]") {
  using ms = ms32_clock::duration;
  for (const std::int32_t t0 : {0, 2'080'000'000}) {  // the second one ~24.07 days
    CAPTURE(t0);
    const ms32_clock::time_point start{ms{t0}};
    surge::rate_meter<ms32_clock> m({}, start);
    for (int i = 1; i <= 100; ++i) m.mark(1, start + ms{i * 100});  // 10 events/s for 10 s
    const auto s = m.stats(start + ms{10'000});
    CHECK(s.count == 100);
    CHECK(s.rate == Approx(91.0 / 9.0));  // the window: from the start of slot 1 (9 events before it)
    CHECK(s.mean_rate == Approx(10.0));
  }
  const ms32_clock::time_point low{ms::min()}, high{ms::max()};  // both ends of the counter
  surge::rate_meter<ms32_clock> m({}, low);
  m.mark(1, high);
  CHECK(m.mean_rate(high) == Approx(1.0 / (static_cast<double>(std::numeric_limits<std::uint32_t>::max()) / 1e3)));
}

TEST_CASE("rate_meter count saturates", "[metrics][meter]") {
  meter m({}, tp{});
  m.mark(std::numeric_limits<std::uint64_t>::max() - 1, tp{});
  m.mark(5, tp{});
  CHECK(m.count() == std::numeric_limits<std::uint64_t>::max());
  // never reads as wrapped, even for an instant (it added, then stored the
  // maximum back)
  std::atomic<bool> stop{false};
  std::uint64_t lowest = std::numeric_limits<std::uint64_t>::max();
  std::thread reader([&] {
    while (!stop.load()) lowest = std::min(lowest, m.count());
  });
  for (int i = 0; i < 200'000; ++i) m.mark(1, tp{});
  stop.store(true);
  reader.join();
  CHECK(lowest == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("rate_meter: 4 threads marking concurrently lose no count", "[metrics][meter]") {
  surge_test::watchdog dog("meter concurrent mark");
  meter m({.window = 1s, .slots = 4}, tp{});
  constexpr int threads = 4;
  const int per = surge_test::scaled(100'000);
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      for (int i = 0; i < per; ++i) m.mark(1, at(std::chrono::microseconds(i) + std::chrono::nanoseconds(t)));
    });
  while (ready.load() < threads) std::this_thread::yield();
  for (int i = 0; i < 50; ++i) {
    const auto s = m.stats(at(std::chrono::microseconds(i * per / 50)));
    CHECK(std::isfinite(s.rate));
  }
  for (auto& t : ts) t.join();
  CHECK(m.count() == static_cast<std::uint64_t>(threads) * static_cast<std::uint64_t>(per));
  const auto s = m.stats(at(std::chrono::microseconds(per)));
  CHECK(s.mean_rate == Approx(static_cast<double>(threads) * 1e6).epsilon(0.01));
}
