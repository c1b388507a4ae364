#include <surge/resilience/circuit_breaker.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "failing_new.hpp"
#include "still_clock.hpp"
#include "surge_test.hpp"
#include "throwing_clock.hpp"
#include "watchdog.hpp"

using namespace std::chrono_literals;
using surge::breaker_state;

namespace {

template <class Tag>
using breaker = surge::circuit_breaker<surge_test::manual_clock<Tag>>;

template <class Tag>
typename surge_test::manual_clock<Tag>::time_point at(std::chrono::nanoseconds d) {
  return typename surge_test::manual_clock<Tag>::time_point{d};
}

struct event_log {
  std::mutex m;
  std::vector<std::pair<breaker_state, breaker_state>> events;
  auto listener() {
    return [this](breaker_state from, breaker_state to) {
      std::lock_guard lock(m);
      events.emplace_back(from, to);
    };
  }
};

surge::circuit_breaker_options r4j(std::size_t window, std::size_t minimum, event_log* log = nullptr) {
  surge::circuit_breaker_options o{.failure_rate_threshold = 50,
                                   .window_size = window,
                                   .minimum_calls = minimum,
                                   .wait_in_open = 10s,
                                   .half_open_calls = 4};
  if (log) o.on_state_change = log->listener();
  return o;
}

}  // namespace

TEST_CASE("circuit_breaker defaults are resilience4j's", "[circuit_breaker]") {
  const surge::circuit_breaker_options o;
  CHECK(o.failure_rate_threshold == 50.0);
  CHECK(o.slow_call_rate_threshold == 100.0);
  CHECK(o.slow_call_duration == 60s);
  CHECK(o.window == surge::window_type::count_based);
  CHECK(o.window_size == 100);
  CHECK(o.minimum_calls == 100);
  CHECK(o.wait_in_open == 60s);
  CHECK(o.half_open_calls == 10);
  CHECK(o.max_wait_in_half_open == 0ns);
  surge::circuit_breaker<> b;
  CHECK(b.state() == breaker_state::closed);
  CHECK(b.failure_rate() == -1.0);
  CHECK(b.slow_call_rate() == -1.0);
  CHECK(surge::to_string(breaker_state::half_open) == "half_open");
}

TEST_CASE("circuit_breaker rejects bad options naming the field", "[circuit_breaker]") {
  using o = surge::circuit_breaker_options;
  const auto throws_naming = [](o opts, const std::string& field) {
    try {
      surge::circuit_breaker<> b(std::move(opts));
      FAIL("no exception for " << field);
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(field) != std::string::npos);
    }
  };
  throws_naming({.failure_rate_threshold = 0}, "failure_rate_threshold");
  // an enum value that is neither window type (it built a time window)
  throws_naming({.window = static_cast<surge::window_type>(2)}, "window");
  throws_naming({.window = static_cast<surge::window_type>(7), .window_size = std::size_t{1} << 62}, "window must be");
  throws_naming({.failure_rate_threshold = 100.5}, "failure_rate_threshold");
  throws_naming({.failure_rate_threshold = std::numeric_limits<double>::quiet_NaN()}, "failure_rate_threshold");
  throws_naming({.slow_call_rate_threshold = -1}, "slow_call_rate_threshold");
  throws_naming({.slow_call_rate_threshold = std::numeric_limits<double>::quiet_NaN()}, "slow_call_rate_threshold");
  throws_naming({.slow_call_duration = 0ns}, "slow_call_duration");
  throws_naming({.window_size = 0}, "window_size");
  throws_naming({.window_size = std::size_t{1} << 20}, "window_size");
  throws_naming({.window = surge::window_type::time_based, .window_size = 86401}, "window_size");
  throws_naming({.minimum_calls = 0}, "minimum_calls");
  throws_naming({.wait_in_open = -1ns}, "wait_in_open");
  throws_naming({.half_open_calls = 0}, "half_open_calls");
  throws_naming({.half_open_calls = (std::size_t{1} << 31) + 1}, "half_open_calls");
  throws_naming({.max_wait_in_half_open = -1s}, "max_wait_in_half_open");
  // extremes that are valid
  surge::circuit_breaker<> big({.window_size = (std::size_t{1} << 20) - 1, .half_open_calls = std::size_t{1} << 31});
  CHECK(big.state() == breaker_state::closed);
}

TEST_CASE("circuit_breaker follows resilience4j's count-window vectors", "[circuit_breaker]") {
  struct tag {};
  event_log log;
  breaker<tag> b(r4j(5, 5, &log));
  const auto t0 = at<tag>(0s);
  // F,F,F,S: 4 < minimum 5 calls, no decision
  for (int i = 0; i < 3; ++i) {
    REQUIRE(b.try_acquire_permission(t0));
    b.on_failure(1ms, t0);
  }
  REQUIRE(b.try_acquire_permission(t0));
  b.on_success(1ms, t0);
  CHECK(b.state() == breaker_state::closed);
  CHECK(b.failure_rate() == -1.0);
  CHECK(b.metrics().buffered_calls == 4);
  // S: 3 of 5 failed = 60 % >= 50 % -> open
  REQUIRE(b.try_acquire_permission(t0));
  b.on_success(1ms, t0);
  CHECK(b.state() == breaker_state::open);
  CHECK(b.failure_rate() == 60.0);
  CHECK(b.slow_call_rate() == 0.0);
  CHECK_FALSE(b.try_acquire_permission(t0));
  CHECK_FALSE(b.try_acquire_permission(at<tag>(10s)));  // not strictly after wait_in_open
  // half-open: 4 probes, then refused
  const auto t1 = at<tag>(10s + 1ns);
  for (int i = 0; i < 4; ++i) CHECK(b.try_acquire_permission(t1));
  CHECK(b.state() == breaker_state::half_open);
  CHECK_FALSE(b.try_acquire_permission(t1));
  CHECK(b.failure_rate() == -1.0);
  // F,F,S,F -> 75 % -> open
  b.on_failure(1ms, t1);
  b.on_failure(1ms, t1);
  b.on_success(1ms, t1);
  CHECK(b.state() == breaker_state::half_open);
  b.on_failure(1ms, t1);
  CHECK(b.state() == breaker_state::open);
  CHECK_FALSE(b.try_acquire_permission(t1));
  // again half-open: F,S,S,S -> 25 % -> closed with a fresh window
  const auto t2 = t1 + 10s + 1ns;
  for (int i = 0; i < 4; ++i) CHECK(b.try_acquire_permission(t2));
  b.on_failure(1ms, t2);
  b.on_success(1ms, t2);
  b.on_success(1ms, t2);
  b.on_success(1ms, t2);
  CHECK(b.state() == breaker_state::closed);
  CHECK(b.failure_rate() == -1.0);
  CHECK(b.metrics().buffered_calls == 0);
  using s = breaker_state;
  const std::vector<std::pair<s, s>> expected{{s::closed, s::open},
                                              {s::open, s::half_open},
                                              {s::half_open, s::open},
                                              {s::open, s::half_open},
                                              {s::half_open, s::closed}};
  CHECK(log.events == expected);
}

TEST_CASE("circuit_breaker compares the rate it reports with the threshold: equal ratios decide alike",
          "[circuit_breaker]") {
  // the threshold was compared as products, failed * 100 >= threshold *
  // calls, and threshold * calls rounds: at a threshold of 100.0 / 3, 1
  // failure in 3 opened the breaker and 5 in 15 did not, though
  // failure_rate() read 100.0 / 3 both times
  struct tag {};
  for (const std::size_t calls : {3, 6, 15, 27, 30, 99, 300, 3000}) {
    surge::circuit_breaker_options o{.failure_rate_threshold = 100.0 / 3, .window_size = calls, .minimum_calls = calls};
    breaker<tag> b(o);
    for (std::size_t i = 0; i < calls; ++i) {
      if (i + 1 == calls) CHECK(b.failure_rate(at<tag>(0s)) == -1.0);
      if (i % 3 == 0)
        b.on_failure(1ms, at<tag>(0s));
      else
        b.on_success(1ms, at<tag>(0s));
    }
    INFO(calls << " calls, a third of them failed");
    CHECK(b.state() == breaker_state::open);
    CHECK(b.metrics(at<tag>(0s)).failure_rate == 100.0 / 3);
  }
  {  // a decimal threshold reached exactly was missed the same way: 90.4 % of 681,500 calls
    surge::circuit_breaker_options o{.failure_rate_threshold = 90.4, .window_size = 681'500, .minimum_calls = 681'500};
    breaker<tag> b(o);
    for (int i = 0; i < 681'500 - 616'076; ++i) b.on_success(1ms, at<tag>(0s));
    for (int i = 0; i < 616'076; ++i) b.on_failure(1ms, at<tag>(0s));
    CHECK(b.state() == breaker_state::open);
  }
  // the slow-call rate likewise, and the half-open probes
  surge::circuit_breaker_options o{.slow_call_rate_threshold = 100.0 / 3,
                                   .slow_call_duration = 1s,
                                   .window_size = 15,
                                   .minimum_calls = 15,
                                   .half_open_calls = 15};
  breaker<tag> b(o);
  for (int i = 0; i < 15; ++i) b.on_success(i % 3 == 0 ? 2s : 1ms, at<tag>(0s));
  CHECK(b.state() == breaker_state::open);
  b.transition_to(breaker_state::half_open, at<tag>(0s));
  for (int i = 0; i < 15; ++i) {
    REQUIRE(b.try_acquire_permission(at<tag>(0s)));
    b.on_success(i % 3 == 0 ? 2s : 1ms, at<tag>(0s));
  }
  CHECK(b.state() == breaker_state::open);
}

TEST_CASE("circuit_breaker opens on slow calls (resilience4j's vector)", "[circuit_breaker]") {
  struct tag {};
  breaker<tag> b({.slow_call_rate_threshold = 50, .slow_call_duration = 4s, .window_size = 4, .minimum_calls = 4});
  const auto t = at<tag>(0s);
  for (auto d : {5s, 5s, 5s}) b.on_success(d, t);
  CHECK(b.state() == breaker_state::closed);
  b.on_success(1s, t);
  CHECK(b.state() == breaker_state::open);
  CHECK(b.slow_call_rate() == 75.0);
  CHECK(b.failure_rate() == 0.0);
  // exactly slow_call_duration is not slow
  breaker<tag> c({.slow_call_rate_threshold = 50, .slow_call_duration = 4s, .window_size = 2, .minimum_calls = 2});
  c.on_success(4s, t);
  c.on_success(4s, t);
  CHECK(c.state() == breaker_state::closed);
  CHECK(c.slow_call_rate() == 0.0);
  c.on_failure(-5s, t);  // negative elapsed: not slow
  CHECK(c.slow_call_rate() == 0.0);
  CHECK(c.state() == breaker_state::open);  // 50 % failed
}

TEST_CASE("circuit_breaker's count window slides and minimum_calls is capped at its size", "[circuit_breaker]") {
  struct tag {};
  // minimum 100 with window 3: effective minimum 3
  breaker<tag> b({.failure_rate_threshold = 67, .window_size = 3, .minimum_calls = 100});
  const auto t = at<tag>(0s);
  b.on_failure(1ms, t);
  b.on_success(1ms, t);
  b.on_success(1ms, t);  // F S S: 33 %
  CHECK(b.failure_rate() == Approx(100.0 / 3));
  b.on_failure(1ms, t);  // S S F
  b.on_failure(1ms, t);  // S F F: 66.7 % < 67
  CHECK(b.state() == breaker_state::closed);
  CHECK(b.metrics().buffered_calls == 3);
  CHECK(b.metrics().failed_calls == 2);
  b.on_failure(1ms, t);  // F F F
  CHECK(b.state() == breaker_state::open);
  CHECK(b.failure_rate() == 100.0);
}

TEST_CASE("circuit_breaker matches a naive model on random sequences", "[circuit_breaker]") {
  struct tag {};
  std::mt19937_64 rng(42);
  for (int round = 0; round < 40; ++round) {
    const std::size_t n = 1 + rng() % (round % 4 < 2 ? 12 : 80);  // windows below and above the batch size
    const std::size_t minimum = 1 + rng() % 15;
    const std::size_t probes = 1 + rng() % 5;
    const double threshold = 10.0 + static_cast<double>(rng() % 90);
    const double slow_threshold = 10.0 + static_cast<double>(rng() % 91);
    breaker<tag> b({.failure_rate_threshold = threshold,
                    .slow_call_rate_threshold = slow_threshold,
                    .slow_call_duration = 100ms,
                    .window_size = n,
                    .minimum_calls = minimum,
                    .wait_in_open = 1s,
                    .half_open_calls = probes});
    // the model
    breaker_state st = breaker_state::closed;
    std::deque<std::pair<bool, bool>> window;  // (failed, slow)
    std::vector<std::pair<bool, bool>> half;
    std::int64_t now = 0, open_until = 0;
    std::size_t permits = 0;
    const auto above = [&](const auto& calls) {
      std::size_t f = 0, s = 0;
      for (auto [fa, sl] : calls) {
        f += fa;
        s += sl;
      }
      const double c = static_cast<double>(calls.size());
      return static_cast<double>(f) * 100.0 / c >= threshold || static_cast<double>(s) * 100.0 / c >= slow_threshold;
    };
    for (int step = 0; step < 1000; ++step) {
      now += static_cast<std::int64_t>(rng() % 300'000'000);
      const auto t = at<tag>(std::chrono::nanoseconds(now));
      // odd rounds: mostly plain successes (long runs that the breaker batches)
      const std::uint64_t r10 = rng() % 10;
      const int op = round % 2 ? (r10 < 2 ? 0 : (r10 < 9 ? 1 : 2)) : static_cast<int>(rng() % 3);
      if (op == 0) {
        bool expect = false;
        if (st == breaker_state::closed) {
          expect = true;
        } else if (st == breaker_state::open && now > open_until) {
          st = breaker_state::half_open;
          half.clear();
          permits = probes;
        }
        if (st == breaker_state::half_open && permits > 0) {
          --permits;
          expect = true;
        }
        REQUIRE(b.try_acquire_permission(t) == expect);
      } else {
        const bool failed = op == 2;
        const auto elapsed = std::chrono::milliseconds(round % 2 && rng() % 8 != 0 ? 50 : rng() % 200);
        const bool slow = elapsed > 100ms;
        if (failed) {
          b.on_failure(elapsed, t);
        } else {
          b.on_success(elapsed, t);
        }
        if (st == breaker_state::closed || st == breaker_state::open) {
          window.emplace_back(failed, slow);
          if (window.size() > n) window.pop_front();
          if (st == breaker_state::closed && window.size() >= std::min(minimum, n) && above(window)) {
            st = breaker_state::open;
            open_until = now + 1'000'000'000;
          }
        } else {
          half.emplace_back(failed, slow);
          if (half.size() == probes) {
            if (above(half)) {
              st = breaker_state::open;
              open_until = now + 1'000'000'000;
            } else {
              st = breaker_state::closed;
              window.clear();
            }
          }
        }
      }
      REQUIRE(b.state() == st);
      if (st != breaker_state::half_open) {
        const auto m = b.metrics();
        REQUIRE(m.buffered_calls == window.size());
        std::size_t failed = 0, slow = 0;
        for (auto [fa, sl] : window) {
          failed += fa;
          slow += sl;
        }
        REQUIRE(m.failed_calls == failed);
        REQUIRE(m.slow_calls == slow);
      }
    }
  }
}

TEST_CASE("circuit_breaker's time window matches a naive model on random sequences", "[circuit_breaker]") {
  // the model keeps every outcome with its second (a reading older than the
  // newest seen counts in the newest); the window is the last window_size
  // seconds up to the newest reading
  struct tag {};
  std::mt19937_64 rng(7);
  for (int round = 0; round < 100; ++round) {
    const std::size_t n = 1 + rng() % 6;
    const std::size_t minimum = 1 + rng() % 8;
    const std::size_t probes = 1 + rng() % 4;
    const double threshold = 10.0 + static_cast<double>(rng() % 90);
    const double slow_threshold = 10.0 + static_cast<double>(rng() % 91);
    breaker<tag> b({.failure_rate_threshold = threshold,
                    .slow_call_rate_threshold = slow_threshold,
                    .slow_call_duration = 100ms,
                    .window = surge::window_type::time_based,
                    .window_size = n,
                    .minimum_calls = minimum,
                    .wait_in_open = 1s,
                    .half_open_calls = probes});
    struct outcome {
      std::int64_t second;
      bool failed, slow;
    };
    breaker_state st = breaker_state::closed;
    std::vector<outcome> window, half;
    std::int64_t now = 0, open_until = 0, newest = std::numeric_limits<std::int64_t>::min();
    std::size_t permits = 0;
    const auto counts = [&] {
      std::size_t c = 0, f = 0, sl = 0;
      for (const outcome& o : window) {
        if (o.second <= newest - static_cast<std::int64_t>(n)) continue;
        ++c;
        f += o.failed;
        sl += o.slow;
      }
      return std::array<std::size_t, 3>{c, f, sl};
    };
    const auto above = [&](std::size_t c, std::size_t f, std::size_t sl) {
      return static_cast<double>(f) * 100.0 / static_cast<double>(c) >= threshold ||
             static_cast<double>(sl) * 100.0 / static_cast<double>(c) >= slow_threshold;
    };
    for (int step = 0; step < 1000; ++step) {
      now += static_cast<std::int64_t>(rng() % 700'000'000);
      const auto t = at<tag>(std::chrono::nanoseconds(now));
      const std::int64_t second = now / 1'000'000'000;
      const int op = static_cast<int>(rng() % 3);
      if (op == 0) {
        bool expect = st == breaker_state::closed;
        if (st == breaker_state::open && now > open_until) {
          st = breaker_state::half_open;
          half.clear();
          permits = probes;
        }
        if (st == breaker_state::half_open && permits > 0) {
          --permits;
          expect = true;
        }
        REQUIRE(b.try_acquire_permission(t) == expect);
      } else {
        const bool failed = op == 2;
        const auto elapsed = std::chrono::milliseconds(rng() % 200);
        const bool slow = elapsed > 100ms;
        if (failed) {
          b.on_failure(elapsed, t);
        } else {
          b.on_success(elapsed, t);
        }
        if (st == breaker_state::closed || st == breaker_state::open) {
          newest = std::max(newest, second);
          window.push_back({newest, failed, slow});
          const auto [c, f, sl] = counts();
          if (st == breaker_state::closed && c >= minimum && above(c, f, sl)) {
            st = breaker_state::open;
            open_until = now + 1'000'000'000;
          }
        } else {
          half.push_back({0, failed, slow});
          if (half.size() == probes) {
            std::size_t f = 0, sl = 0;
            for (const outcome& o : half) {
              f += o.failed;
              sl += o.slow;
            }
            if (above(probes, f, sl)) {
              st = breaker_state::open;
              open_until = now + 1'000'000'000;
            } else {
              st = breaker_state::closed;
              window.clear();
              newest = std::numeric_limits<std::int64_t>::min();
            }
          }
        }
      }
      REQUIRE(b.state() == st);
      if (st != breaker_state::half_open) {
        newest = std::max(newest, second);  // the reading slides the window
        const surge::breaker_metrics m = b.metrics(t);
        const auto [c, f, sl] = counts();
        REQUIRE(m.buffered_calls == c);
        REQUIRE(m.failed_calls == f);
        REQUIRE(m.slow_calls == sl);
      }
    }
  }
}

namespace {
struct stall_tag {};
using stall_clock = surge_test::manual_clock<stall_tag>;
using stall_breaker = surge::circuit_breaker<stall_clock>;
}  // namespace

/// Stalls a count window's publisher between its fetch_add and its ring
/// stores, and publishes plain successes without making the calls (a test
/// seam: the count of outcomes wraps after 2^24 to 2^62 of them).
template <>
struct surge::detail::circuit_breaker_hooks<stall_breaker> {
  static inline std::function<void()> stall;

  static void tickets_taken(stall_breaker&) noexcept {
    if (!stall) return;
    std::exchange(stall, nullptr)();  // the stall runs once, on the first publication after it is set
  }
  /// Leaves the window as `k` plain successes published one by one would:
  /// the word moved on by k, and the ring slots of the last of them holding
  /// the word after each (a quiescent window: no publisher in flight but the
  /// stalled one).
  static void skip_successes(stall_breaker& b, std::uint64_t k) {
    breaker_count_window& win = *b.count_;
    const std::uint64_t w0 = win.w_.load();
    win.w_.store(w0 + k);
    const std::uint64_t ring = win.mask_ + 1;
    for (std::uint64_t i = k > ring ? k - ring : 0; i < k; ++i) win.slot(w0 + i).store(w0 + i + 1);
  }
  /// Outcomes after which the window's count of outcomes (its tickets) wraps.
  static std::uint64_t outcome_wrap(const stall_breaker& b) { return b.count_->call_mask_ + 1; }
};

TEST_CASE("circuit_breaker::metrics while the outcome window_size back is still being published", "[circuit_breaker]") {
  // the window ending now cannot be read until that outcome's publisher
  // stores its word: metrics() read an empty window (0 calls, rate -1) though
  // it was full, where an observer can read the window of a few outcomes ago
  using hooks = surge::detail::circuit_breaker_hooks<stall_breaker>;
  const auto t = stall_clock::now();
  for (const std::size_t size : {std::size_t{5}, std::size_t{100}}) {  // without and with deferred successes
    INFO("window " << size);
    stall_breaker b({.failure_rate_threshold = 100, .window_size = size, .minimum_calls = size});
    for (std::size_t i = 0; i < size; ++i) b.on_success(1ms, t);
    surge::breaker_metrics during{};
    hooks::stall = [&] {  // the next outcome stalls here, after its fetch_add
      for (std::size_t i = 0; i + 1 < size; ++i) b.on_success(1ms, t);
      b.on_failure(1ms, t);  // publishes every deferred success: `size` outcomes after the stalled one
      during = b.metrics();
    };
    b.on_failure(1ms, t);
    CHECK(during.state == breaker_state::closed);
    CHECK(during.buffered_calls == size);
    CHECK(during.failed_calls >= 1);
    CHECK(during.failed_calls <= 2);
    CHECK(during.failure_rate > 0.0);
    const auto after = b.metrics();  // the stalled outcome is published now: the window ending now
    CHECK(after.buffered_calls == size);
    CHECK(after.failed_calls == 1);
  }
}

TEST_CASE("circuit_breaker's count window stays exact across the wrap of its outcome count", "[circuit_breaker]") {
  using hooks = surge::detail::circuit_breaker_hooks<stall_breaker>;
  const auto t = stall_clock::now();
  stall_breaker b({.failure_rate_threshold = 100, .window_size = 1000, .minimum_calls = 1000});
  const std::uint64_t wrap = hooks::outcome_wrap(b);
  CHECK(wrap == std::uint64_t{1} << 44);  // 64 bits less two 10-bit fields
  const auto every_fourth_fails = [&](int calls) {
    for (int i = 0; i < calls; ++i) {
      if (i % 4 == 0) {
        b.on_failure(1ms, t);
      } else {
        b.on_success(1ms, t);
      }
    }
  };
  every_fourth_fails(2000);
  hooks::skip_successes(b, wrap - 2000 - 1500);
  every_fourth_fails(3000);  // the count wraps after 1500 of them
  const auto m = b.metrics();
  CHECK(m.buffered_calls == 1000);
  CHECK(m.failed_calls == 250);
  CHECK(m.failure_rate == 25.0);
  CHECK(b.state() == breaker_state::closed);
}

TEST_CASE("circuit_breaker's count window is not taken for a filling one once its outcome count wraps",
          "[circuit_breaker]") {
  // 10 failures in the first 100 calls, then successes: once the count of
  // outcomes wraps, the count since the breaker closed reads below the window
  // size, and a window read as filling would count every failure since then
  using hooks = surge::detail::circuit_breaker_hooks<stall_breaker>;
  const auto t = stall_clock::now();
  for (const std::size_t size : {std::size_t{100}, std::size_t{5}}) {  // with and without deferred successes
    INFO("window " << size);
    stall_breaker b({.failure_rate_threshold = 50, .window_size = size, .minimum_calls = size});
    const std::uint64_t wrap = hooks::outcome_wrap(b);
    CHECK(wrap == std::uint64_t{1} << (size == 100 ? 50 : 58));
    for (std::size_t i = 0; i < size; ++i) {
      if (i % 10 == 0) {
        b.on_failure(1ms, t);
      } else {
        b.on_success(1ms, t);
      }
    }
    REQUIRE(b.state() == breaker_state::closed);
    // to 10 outcomes before the wrap, then 30 real successes: wrap + 20 in all
    hooks::skip_successes(b, wrap - 10 - size);
    for (int i = 0; i < 30; ++i) b.on_success(1ms, t);
    auto m = b.metrics();
    CHECK(m.buffered_calls == size);
    CHECK(m.failed_calls == 0);
    b.on_failure(1ms, t);  // the last `size` calls hold this one failure
    m = b.metrics();
    CHECK(m.buffered_calls == size);
    CHECK(m.failed_calls == 1);
    CHECK(b.state() == breaker_state::closed);
    if (size == 100) continue;
    // 2 wraps after the reset (published one by one: the window is too small
    // to defer successes) the count since it reads 0: still a full window
    hooks::skip_successes(b, wrap - 31);
    for (int i = 0; i < 10; ++i) b.on_success(1ms, t);
    m = b.metrics();
    CHECK(m.buffered_calls == size);
    CHECK(m.failed_calls == 0);
  }
}

TEST_CASE("circuit_breaker's time window with a manual clock", "[circuit_breaker]") {
  struct tag {};
  breaker<tag> b({.window = surge::window_type::time_based, .window_size = 10, .minimum_calls = 4});
  b.on_failure(1ms, at<tag>(0s));
  b.on_failure(1ms, at<tag>(1s));
  b.on_success(1ms, at<tag>(2s));
  CHECK(b.failure_rate(at<tag>(2s)) == -1.0);
  // at 10 s the call of second 0 has left the 10-second window [1, 10]
  b.on_success(1ms, at<tag>(10s));
  CHECK(b.metrics(at<tag>(10s)).buffered_calls == 3);
  CHECK(b.state() == breaker_state::closed);
  b.on_success(1ms, at<tag>(10s + 500ms));  // F(1) S(2) S(10) S(10.5): 25 %
  CHECK(b.failure_rate(at<tag>(10s + 500ms)) == 25.0);
  b.on_failure(1ms, at<tag>(11s));  // second 1 left: S S S F
  CHECK(b.state() == breaker_state::closed);
  b.on_failure(1ms, at<tag>(12s));  // S(10) S(10.5) F(11) F(12) -> second 2 left: 50 %
  CHECK(b.state() == breaker_state::open);
  CHECK(b.failure_rate(at<tag>(12s)) == 50.0);
  // a jump over the whole window empties it
  b.transition_to(breaker_state::closed, at<tag>(12s));
  b.on_failure(1ms, at<tag>(13s));
  CHECK(b.metrics(at<tag>(1000s)).buffered_calls == 0);
  // negative clock readings and readings near the clock's limits
  breaker<tag> c({.window = surge::window_type::time_based, .window_size = 3, .minimum_calls = 1});
  c.on_success(1ms, at<tag>(-5s));
  CHECK(c.metrics(at<tag>(-4s)).buffered_calls == 1);
  c.on_success(1ms, at<tag>(std::chrono::nanoseconds::max()));
  CHECK(c.metrics(at<tag>(std::chrono::nanoseconds::max())).buffered_calls == 1);
  c.on_failure(1ms, at<tag>(std::chrono::nanoseconds::max()));
  CHECK(c.state() == breaker_state::open);
  // open until the end of time: never half-open, no overflow
  CHECK_FALSE(c.try_acquire_permission(at<tag>(std::chrono::nanoseconds::max())));
}

/// A clock whose tick is a minute: whole seconds of its extreme readings are beyond int64.
using minutes_clock = surge_test::still_clock<std::int64_t, std::ratio<60>>;
/// A tick counter with an unsigned rep (a reading before another is no negative duration).
using unsigned_clock = surge_test::still_clock<std::uint64_t, std::nano>;

namespace {

template <class Clock>
void time_window_at_the_extremes() {
  using tp = typename Clock::time_point;
  const auto secs = [](int n) { return std::chrono::ceil<typename Clock::duration>(std::chrono::seconds(n)); };
  const typename Clock::duration d{1};
  surge::circuit_breaker<Clock> b({.window = surge::window_type::time_based, .window_size = 10});
  b.on_failure(d, tp::min());
  b.on_failure(d, tp::min());
  CHECK(b.metrics(tp::min()).buffered_calls == 2);
  CHECK(b.metrics(tp::min()).failed_calls == 2);
  b.on_success(d, tp::max());  // the window jumps to the end of time: emptied
  CHECK(b.metrics(tp::max()).buffered_calls == 1);
  b.on_success(d, tp::max());
  b.on_failure(d, tp::min());  // before the window's end: counted in its newest second
  const surge::breaker_metrics m = b.metrics(tp::max());
  CHECK(m.buffered_calls == 3);
  CHECK(m.failed_calls == 1);
  // step by step near the lowest reading: the first second leaves after 10 s
  surge::circuit_breaker<Clock> c({.window = surge::window_type::time_based, .window_size = 10});
  c.on_failure(d, tp::min());
  c.on_success(d, tp::min() + secs(9));
  CHECK(c.metrics(tp::min() + secs(9)).buffered_calls == 2);
  c.on_success(d, tp::min() + secs(10));
  if constexpr (std::ratio_less_equal_v<typename Clock::period, std::ratio<1>>) {
    CHECK(c.metrics(tp::min() + secs(10)).failed_calls == 0);
    CHECK(c.metrics(tp::min() + secs(10)).buffered_calls == 2);
  }
  // and near the highest: 9 s back is still in the window
  surge::circuit_breaker<Clock> e({.window = surge::window_type::time_based, .window_size = 10});
  e.on_failure(d, tp::max() - secs(9));
  e.on_success(d, tp::max());
  CHECK(e.metrics(tp::max()).buffered_calls == 2);
  CHECK(e.metrics(tp::max()).failed_calls == 1);
}

template <class Clock>
void permit_between_the_extremes() {
  using tp = typename Clock::time_point;
  surge::circuit_breaker<Clock> b({.slow_call_duration = 1s});
  b.try_acquire(tp::min()).success(tp::max());  // max - min: beyond the range of duration, slow
  b.try_acquire(tp::max()).failure(tp::min());  // backwards: 0, not slow
  b.try_acquire(tp::min()).success(tp::min() + std::chrono::ceil<typename Clock::duration>(2s));
  b.try_acquire(tp::max()).failure(tp::max() - typename Clock::duration{1});  // a tick backwards: 0, not slow
  const surge::breaker_metrics m = b.metrics();
  CHECK(m.buffered_calls == 4);
  CHECK(m.failed_calls == 2);
  CHECK(m.slow_calls == 2);
}

}  // namespace

TEST_CASE("circuit_breaker's time window at time_point::min() and max()", "[circuit_breaker]") {
  SECTION("a nanosecond clock") { time_window_at_the_extremes<surge_test::manual_clock<struct extremes_tag>>(); }
  SECTION("a clock whose tick is a second") { time_window_at_the_extremes<surge_test::seconds_clock>(); }
  SECTION("a clock whose tick is a minute") { time_window_at_the_extremes<minutes_clock>(); }
}

TEST_CASE("circuit_breaker's permit times a call between time_point::min() and max()", "[circuit_breaker]") {
  SECTION("a nanosecond clock") { permit_between_the_extremes<surge_test::manual_clock<struct permit_tag>>(); }
  SECTION("a clock whose tick is a second") { permit_between_the_extremes<surge_test::seconds_clock>(); }
  SECTION("a clock whose tick is a minute") { permit_between_the_extremes<minutes_clock>(); }
  SECTION("an unsigned tick count") { permit_between_the_extremes<unsigned_clock>(); }
}

TEST_CASE("circuit_breaker's watchdog closes a stuck half-open period", "[circuit_breaker]") {
  struct tag {};
  event_log log;
  auto o = r4j(2, 2, &log);
  o.max_wait_in_half_open = 5s;
  breaker<tag> b(o);
  b.transition_to(breaker_state::half_open, at<tag>(0s));
  for (int i = 0; i < 4; ++i) CHECK(b.try_acquire_permission(at<tag>(1s)));
  // the four probes are never recorded: stuck, until the watchdog
  CHECK_FALSE(b.try_acquire_permission(at<tag>(4999ms)));
  CHECK(b.state() == breaker_state::half_open);
  CHECK_FALSE(b.try_acquire_permission(at<tag>(5s)));
  CHECK(b.state() == breaker_state::open);
  // open for wait_in_open from the watchdog's reading, then fresh probes
  CHECK_FALSE(b.try_acquire_permission(at<tag>(15s)));
  CHECK(b.try_acquire_permission(at<tag>(15s + 1ns)));
  CHECK(b.available_probes() == 3);
  // an outcome reported after the deadline lands in the open state
  b.on_success(1ms, at<tag>(21s));
  CHECK(b.state() == breaker_state::open);
  using s = breaker_state;
  const std::vector<std::pair<s, s>> expected{
      {s::closed, s::half_open}, {s::half_open, s::open}, {s::open, s::half_open}, {s::half_open, s::open}};
  CHECK(log.events == expected);
}

TEST_CASE("circuit_breaker on a clock coarser than wait_in_open's unit: half-open at the first reading after it",
          "[circuit_breaker]") {
  using sclock = surge_test::seconds_clock;
  using tp = sclock::time_point;
  const auto opened_at = [](std::chrono::nanoseconds wait) {
    auto b = std::make_unique<surge::circuit_breaker<sclock>>(
        surge::circuit_breaker_options{.window_size = 1, .minimum_calls = 1, .wait_in_open = wait});
    b->on_failure(0s, tp(10s));
    REQUIRE(b->state() == breaker_state::open);
    return b;
  };
  // 1.5 s after a reading of 10 s is 11.5 s: 11 is not after it, 12 is (it refused until 13)
  auto b = opened_at(1500ms);
  CHECK_FALSE(b->try_acquire_permission(tp(10s)));
  CHECK_FALSE(b->try_acquire_permission(tp(11s)));
  CHECK(b->try_acquire_permission(tp(12s)));
  CHECK(b->state() == breaker_state::half_open);
  // half a second: the next reading (it refused until 12)
  auto c = opened_at(500ms);
  CHECK_FALSE(c->try_acquire_permission(tp(10s)));
  CHECK(c->try_acquire_permission(tp(11s)));
  // a whole number of ticks is unchanged: strictly after 10 + 2
  auto d = opened_at(2s);
  CHECK_FALSE(d->try_acquire_permission(tp(12s)));
  CHECK(d->try_acquire_permission(tp(13s)));
  // and the watchdog still counts a part of a tick as a whole one: 1 ns of
  // max_wait_in_half_open is one tick, not 0 (off)
  surge::circuit_breaker<sclock> e({.max_wait_in_half_open = 1ns});
  e.transition_to(breaker_state::half_open, tp(10s));
  CHECK(e.try_acquire_permission(tp(10s)));
  CHECK_FALSE(e.try_acquire_permission(tp(11s)));
  CHECK(e.state() == breaker_state::open);
}

namespace {
using throwing_clock = surge_test::throwing_clock<struct breaker_throwing_tag>;
}  // namespace

TEST_CASE("circuit_breaker: a throwing Clock::now() in a half-open outcome records nothing",
          "[circuit_breaker]") {
  surge::circuit_breaker<throwing_clock> b(r4j(2, 2));
  b.transition_to(breaker_state::half_open, throwing_clock::time_point{});
  for (int i = 0; i < 4; ++i) REQUIRE(b.try_acquire_permission(throwing_clock::time_point{}));
  for (int i = 0; i < 3; ++i) b.on_success(1ms);
  throwing_clock::countdown = 0;
  CHECK_THROWS_AS(b.on_success(1ms), std::runtime_error);  // the fourth probe's outcome
  throwing_clock::countdown = -1;
  // nothing was recorded: the caller still holds its probe and reports it again
  CHECK(b.state() == breaker_state::half_open);
  CHECK(b.metrics(throwing_clock::time_point{}).buffered_calls == 3);
  b.on_success(1ms);
  CHECK(b.state() == breaker_state::closed);
}

TEST_CASE("circuit_breaker: an allocation failing in a half-open outcome's transition records nothing",
          "[circuit_breaker]") {
  // The decision queues an event for on_state_change, which allocates now
  // and then (a new block of the event queue). That allocation used to fail
  // after the last probe was counted: the decision was lost, and reporting
  // again counted the probe twice. Each cycle fails the report's allocation
  // if it makes one; cycles of 2 or 3 events move the queue's block edges
  // around until one lands on it.
  using clock = surge_test::manual_clock<struct alloc_tag>;
  clock::reset();
  int events = 0;
  auto o = r4j(2, 2);
  o.half_open_calls = 2;
  o.on_state_change = [&events](breaker_state, breaker_state) { ++events; };
  surge::circuit_breaker<clock> b(o);
  bool failed_once = false;
  for (int cycle = 0; cycle < 3000 && !failed_once; ++cycle) {
    if (cycle % 3 == 0) b.transition_to(breaker_state::closed, clock::now());
    b.transition_to(breaker_state::half_open, clock::now());
    REQUIRE(b.try_acquire_permission(clock::now()));
    REQUIRE(b.try_acquire_permission(clock::now()));
    b.on_success(1ms, clock::now());
    surge_test::fail_allocation(1);
    try {
      b.on_failure(1ms, clock::now());  // the second probe: 1 failure in 2, 50 %: open
    } catch (const std::bad_alloc&) {
    }
    failed_once = surge_test::allocation_failed();
    surge_test::fail_allocation(0);
    if (failed_once) {
      CHECK(b.state() == breaker_state::half_open);
      CHECK(b.metrics(clock::now()).buffered_calls == 1);  // only the first probe
      CHECK(b.metrics(clock::now()).failed_calls == 0);
      b.on_failure(1ms, clock::now());  // reported again: counted once
    }
    CHECK(b.state() == breaker_state::open);
  }
  CHECK(failed_once);
  CHECK(events > 0);
}

TEST_CASE("circuit_breaker: a permit whose half-open outcome failed to allocate keeps its probe", "[circuit_breaker]") {
  // As above, through the RAII permit: the permit let go of its probe before
  // the outcome was recorded, so when the decision's allocation threw it was
  // neither counted nor given back, and the period, with no probe left,
  // refused every call for good.
  using clock = surge_test::manual_clock<struct permit_alloc_tag>;
  clock::reset();
  int events = 0;
  auto o = r4j(2, 2);
  o.half_open_calls = 2;
  o.on_state_change = [&events](breaker_state, breaker_state) { ++events; };
  surge::circuit_breaker<clock> b(o);
  bool failed_once = false;
  for (int cycle = 0; cycle < 3000 && !failed_once; ++cycle) {
    if (cycle % 3 == 0) b.transition_to(breaker_state::closed, clock::now());
    b.transition_to(breaker_state::half_open, clock::now());
    auto first = b.try_acquire(clock::now());
    auto second = b.try_acquire(clock::now());
    REQUIRE(first);
    REQUIRE(second);
    first.success(clock::now());
    surge_test::fail_allocation(1);
    try {
      second.failure(clock::now());  // the second probe: 1 failure in 2, 50 %: open
    } catch (const std::bad_alloc&) {
    }
    failed_once = surge_test::allocation_failed();
    surge_test::fail_allocation(0);
    if (failed_once) {
      CHECK(b.state() == breaker_state::half_open);
      CHECK(b.metrics(clock::now()).buffered_calls == 1);  // only the first probe
      CHECK(second);                                       // still holds its probe
      second.release();                                    // and gives it back
      CHECK(b.available_probes() == 1);
      auto again = b.try_acquire(clock::now());
      REQUIRE(again);
      again.failure(clock::now());
    }
    CHECK(b.state() == breaker_state::open);
  }
  CHECK(failed_once);
  CHECK(events > 0);
}

TEST_CASE("circuit_breaker: a decision to open whose event failed to allocate is taken by the next outcome",
          "[circuit_breaker]") {
  // In CLOSED the outcome is in the window before the decision to open
  // queues the listener's event; when that allocation threw, the decision
  // was lost: plain successes that followed could not open the breaker
  // (with a full count window they are not even looked at), and it stayed
  // closed while its window slid back below the threshold.
  for (const auto window : {surge::window_type::count_based, surge::window_type::time_based}) {
    using clock = surge_test::manual_clock<struct closed_alloc_tag>;
    clock::reset();
    int events = 0;
    surge::circuit_breaker_options o{
        .failure_rate_threshold = 50, .window = window, .window_size = 8, .minimum_calls = 8, .wait_in_open = 10s};
    o.on_state_change = [&events](breaker_state, breaker_state) { ++events; };
    surge::circuit_breaker<clock> b(o);
    bool failed_once = false;
    for (int cycle = 0; cycle < 3000 && !failed_once; ++cycle) {
      // 2 or 3 events a cycle move the event queue's block edges around
      if (cycle % 3 == 0) b.transition_to(breaker_state::disabled, clock::now());
      b.transition_to(breaker_state::closed, clock::now());
      for (int i = 0; i < 4; ++i) b.on_failure(1ms, clock::now());
      for (int i = 0; i < 3; ++i) b.on_success(1ms, clock::now());
      surge_test::fail_allocation(1);
      try {
        b.on_failure(1ms, clock::now());  // 5 failures in 8, 62.5 %: open
      } catch (const std::bad_alloc&) {
      }
      failed_once = surge_test::allocation_failed();
      surge_test::fail_allocation(0);
      if (failed_once) {
        CHECK(b.state() == breaker_state::closed);
        CHECK(b.failure_rate(clock::now()) == Approx(62.5));
        b.on_success(1ms, clock::now());  // decides on the window it finds first
        CHECK(b.state() == breaker_state::open);
      }
      CHECK(b.state() == breaker_state::open);
    }
    CHECK(failed_once);
    CHECK(events > 0);
  }
}

TEST_CASE("circuit_breaker: a throwing Clock::now() in a closed outcome records nothing", "[circuit_breaker]") {
  surge::circuit_breaker<throwing_clock> b({.failure_rate_threshold = 10, .window_size = 10, .minimum_calls = 10});
  for (int i = 0; i < 9; ++i) b.on_success(1ms);
  throwing_clock::countdown = 0;
  CHECK_THROWS_AS(b.on_failure(1ms), std::runtime_error);  // would make 1 failure in 10: 10 %, open
  throwing_clock::countdown = -1;
  CHECK(b.state() == breaker_state::closed);
  // nothing recorded (it used to record the failure, then lose the decision to open)
  const auto m = b.metrics();
  CHECK(m.buffered_calls == 9);
  CHECK(m.failed_calls == 0);
  b.on_failure(1ms);
  CHECK(b.state() == breaker_state::open);
}

TEST_CASE("circuit_breaker's permit is RAII and times the call", "[circuit_breaker]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  auto o = r4j(4, 4);
  o.slow_call_duration = 2s;
  o.slow_call_rate_threshold = 50;
  breaker<tag> b(o);
  {
    auto p = b.try_acquire();
    REQUIRE(p);
    clock::advance(3s);
    p.success();  // slow
    CHECK_FALSE(p);
    CHECK_THROWS_AS(p.success(), std::logic_error);
  }
  CHECK(b.metrics().slow_calls == 1);
  // half-open: a dropped permit gives its probe back; a moved one does not twice
  b.transition_to(breaker_state::half_open);
  {
    auto p = b.try_acquire();
    CHECK(b.available_probes() == 3);
    auto q = std::move(p);
    CHECK_FALSE(p);
    CHECK(q);
  }
  CHECK(b.available_probes() == 4);
  std::vector<surge::circuit_breaker<clock>::permit> held;
  for (int i = 0; i < 4; ++i) held.push_back(b.try_acquire());
  CHECK_FALSE(b.try_acquire());
  // a permit of an earlier half-open period does not feed a later one
  b.transition_to(breaker_state::half_open);
  held.clear();
  CHECK(b.available_probes() == 4);
  // a permit whose outcome is recorded does not release
  {
    auto p = b.try_acquire();
    p.failure();
  }
  CHECK(b.available_probes() == 3);
  // release_permission never raises the count above half_open_calls
  for (int i = 0; i < 10; ++i) b.release_permission();
  CHECK(b.available_probes() == 4);
  b.transition_to(breaker_state::closed);
  b.release_permission();  // nothing to do when closed
  CHECK(b.state() == breaker_state::closed);
}

TEST_CASE("circuit_breaker::call records and refuses", "[circuit_breaker]") {
  struct tag {};
  breaker<tag> b(r4j(2, 2));
  CHECK(b.call([] { return 7; }) == 7);
  CHECK_THROWS_AS(b.call([]() -> int { throw std::runtime_error("backend"); }), std::runtime_error);
  CHECK(b.state() == breaker_state::open);
  bool ran = false;
  try {
    b.call([&] { ran = true; });
    FAIL("not refused");
  } catch (const surge::breaker_open& e) {
    CHECK(e.state() == breaker_state::open);
    CHECK(std::string(e.what()).find("open") != std::string::npos);
  }
  CHECK_FALSE(ran);
  // move-only results and references
  b.transition_to(breaker_state::closed);
  auto up = b.call([] { return std::make_unique<int>(3); });
  CHECK(*up == 3);
  int x = 1;
  int& rx = b.call([&]() -> int& { return x; });
  CHECK(&rx == &x);
}

TEST_CASE("circuit_breaker::call: a refusal names the state that refused, never one that permits",
          "[circuit_breaker]") {
  // call() threw breaker_open(state()), reading the state again after the
  // refusal: a transition in between (here the listener's, run by the
  // watchdog's half-open -> open inside the permission request) made it
  // report "closed", a state that permits every call
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  breaker<tag>* self = nullptr;
  auto o = r4j(2, 2);
  o.max_wait_in_half_open = 5s;
  o.on_state_change = [&](breaker_state from, breaker_state to) {
    if (from == breaker_state::half_open && to == breaker_state::open) self->transition_to(breaker_state::closed);
  };
  breaker<tag> b(o);
  self = &b;
  b.transition_to(breaker_state::half_open);
  clock::set(5s);  // the watchdog's deadline: the next request moves to open, and the listener closes it
  bool ran = false;
  try {
    b.call([&] { ran = true; });
  } catch (const surge::breaker_open& e) {
    CHECK(e.state() != breaker_state::closed);
  }
  // decided in the state it found after the watchdog's transition: closed
  CHECK(ran);
  CHECK(b.state() == breaker_state::closed);
  // a refusal in OPEN or FORCED_OPEN names that state
  b.transition_to(breaker_state::open);
  try {
    b.call([] {});
    FAIL("not refused");
  } catch (const surge::breaker_open& e) {
    CHECK(e.state() == breaker_state::open);
  }
  b.transition_to(breaker_state::forced_open);
  try {
    b.call([] {});
    FAIL("not refused");
  } catch (const surge::breaker_open& e) {
    CHECK(e.state() == breaker_state::forced_open);
  }
  clock::reset();
}

TEST_CASE("circuit_breaker disabled and forced_open", "[circuit_breaker]") {
  struct tag {};
  event_log log;
  breaker<tag> b(r4j(2, 2, &log));
  b.transition_to(breaker_state::disabled, at<tag>(0s));
  for (int i = 0; i < 10; ++i) {
    CHECK(b.try_acquire_permission(at<tag>(0s)));
    b.on_failure(1ms, at<tag>(0s));
  }
  CHECK(b.state() == breaker_state::disabled);
  CHECK(b.failure_rate() == -1.0);
  b.transition_to(breaker_state::forced_open, at<tag>(0s));
  CHECK_FALSE(b.try_acquire_permission(at<tag>(1000s)));
  CHECK(b.state() == breaker_state::forced_open);
  b.transition_to(breaker_state::forced_open, at<tag>(0s));  // same state: no event
  // a cast from a bad integer is refused, and changes nothing (it used to be
  // stored, and the next outcome spun for ever)
  try {
    b.transition_to(static_cast<breaker_state>(5), at<tag>(0s));
    FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("to is not a breaker_state") != std::string::npos);
  }
  CHECK(b.state() == breaker_state::forced_open);
  b.on_success(1ms, at<tag>(0s));
  b.reset();
  CHECK(b.state() == breaker_state::closed);
  using s = breaker_state;
  const std::vector<std::pair<s, s>> expected{
      {s::closed, s::disabled}, {s::disabled, s::forced_open}, {s::forced_open, s::closed}};
  CHECK(log.events == expected);
}

TEST_CASE("circuit_breaker's listener runs outside the lock and may call back", "[circuit_breaker]") {
  struct tag {};
  std::vector<std::pair<breaker_state, breaker_state>> seen;
  surge::circuit_breaker<surge_test::manual_clock<tag>>* self = nullptr;
  auto o = r4j(2, 2);
  o.on_state_change = [&](breaker_state from, breaker_state to) {
    seen.emplace_back(from, to);
    CHECK(self->state() == to);  // would deadlock if called under the breaker's lock
    (void)self->metrics();
    if (to == breaker_state::open) self->transition_to(breaker_state::forced_open, at<tag>(0s));
  };
  breaker<tag> b(o);
  self = &b;
  b.on_failure(1ms, at<tag>(0s));
  b.on_failure(1ms, at<tag>(0s));
  using s = breaker_state;
  const std::vector<std::pair<s, s>> expected{{s::closed, s::open}, {s::open, s::forced_open}};
  CHECK(seen == expected);
  CHECK(b.state() == breaker_state::forced_open);
}

TEST_CASE("circuit_breaker: 4 threads never exceed half_open_calls probes", "[circuit_breaker][concurrency]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  const surge_test::watchdog dog("half-open hammer");
  constexpr std::size_t probes = 3;
  std::atomic<std::uint64_t> transitions{0};
  breaker<tag> b({.window_size = 4,
                  .minimum_calls = 4,
                  .wait_in_open = 0ns,
                  .half_open_calls = probes,
                  .on_state_change = [&](breaker_state, breaker_state) { transitions.fetch_add(1); }});
  b.transition_to(breaker_state::open);
  std::atomic<int> inflight{0};
  std::atomic<int> max_inflight{0};
  std::atomic<std::uint64_t> granted{0};
  const int iterations = surge_test::scaled(100000);
  std::vector<std::thread> threads;
  for (int id = 0; id < 4; ++id) {
    threads.emplace_back([&, id] {
      std::minstd_rand rng(static_cast<unsigned>(id) + 1);
      for (int i = 0; i < iterations; ++i) {
        clock::advance(1ns);
        auto p = b.try_acquire();
        if (!p) continue;
        granted.fetch_add(1, std::memory_order_relaxed);
        const int now = inflight.fetch_add(1) + 1;
        int seen = max_inflight.load();
        while (now > seen && !max_inflight.compare_exchange_weak(seen, now)) {
        }
        inflight.fetch_sub(1);
        if (rng() % 3 == 0) {
          p.release();
        } else {
          p.failure();  // every decided half-open period re-opens
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(max_inflight.load() <= static_cast<int>(probes));
  CHECK(granted.load() > 0);
  CHECK(transitions.load() > 2);
  CHECK(b.state() != breaker_state::closed);
}

TEST_CASE("circuit_breaker: threads racing the open -> half-open transition", "[circuit_breaker][concurrency]") {
  struct tag {};
  const surge_test::watchdog dog("open -> half-open race");
  constexpr std::size_t probes = 5;
  breaker<tag> b({.wait_in_open = 1s, .half_open_calls = probes});
  const int rounds = surge_test::scaled(100);
  for (int round = 0; round < rounds; ++round) {
    const auto opened = at<tag>(std::chrono::seconds(10 * round));
    b.transition_to(breaker_state::open, opened);
    std::atomic<int> granted{0};
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int id = 0; id < 4; ++id) {
      threads.emplace_back([&] {
        ready.fetch_add(1);
        while (ready.load() < 4) std::this_thread::yield();
        for (int i = 0; i < 20; ++i)
          if (b.try_acquire_permission(opened + 2s)) granted.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    REQUIRE(granted.load() == static_cast<int>(probes));
  }
}

TEST_CASE("circuit_breaker: concurrent outcomes in the count window", "[circuit_breaker][concurrency]") {
  struct tag {};
  const surge_test::watchdog dog("count window hammer");
  std::atomic<int> opened{0};
  breaker<tag> b({.window_size = 64, .minimum_calls = 64, .on_state_change = [&](breaker_state, breaker_state to) {
                    if (to == breaker_state::open) opened.fetch_add(1);
                  }});
  const int per_thread = surge_test::scaled(200000);
  std::vector<std::thread> threads;
  for (int id = 0; id < 4; ++id) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        if (b.try_acquire_permission(at<tag>(0s))) b.on_success(1ms, at<tag>(0s));
      }
    });
  }
  for (auto& t : threads) t.join();
  auto m = b.metrics();
  CHECK(m.buffered_calls == 64);
  CHECK(m.failure_rate == 0.0);
  CHECK(opened.load() == 0);
  // now only failures: opens exactly once
  threads.clear();
  for (int id = 0; id < 4; ++id) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) b.on_failure(1ms, at<tag>(0s));
    });
  }
  for (auto& t : threads) t.join();
  CHECK(opened.load() == 1);
  CHECK(b.state() == breaker_state::open);
  m = b.metrics();
  CHECK(m.failure_rate == 100.0);
}

TEST_CASE("circuit_breaker: another thread's deferred successes stay older than later failures",
          "[circuit_breaker][concurrency]") {
  struct tag {};
  breaker<tag> b({.window_size = 64, .minimum_calls = 64});
  const auto t = at<tag>(0s);
  // 64 successes fill the window, 5 more wait on this thread's stripe
  std::thread([&] {
    for (int i = 0; i < 69; ++i) b.on_success(1ms, t);
  }).join();
  // failures from another thread (another stripe): the window is the last
  // 64 outcomes, and it opens on the 32nd failure (32 of 64 = 50 %)
  std::thread([&] {
    for (int i = 1; i <= 64; ++i) {
      b.on_failure(1ms, t);
      const auto m = b.metrics(t);
      CHECK(m.buffered_calls == 64);
      CHECK(m.failed_calls == static_cast<std::uint64_t>(i));
      CHECK(b.state() == (i < 32 ? breaker_state::closed : breaker_state::open));
    }
  }).join();
  CHECK(b.metrics(t).failure_rate == 100.0);
}

TEST_CASE("circuit_breaker: each owned stripe has one live thread; the rest share one; exits give stripes back",
          "[circuit_breaker][concurrency]") {
  using owner = surge::detail::breaker_stripe_owner;
  const surge_test::watchdog dog("stripe owners");
  constexpr std::size_t n = owner::owned_stripes + 6;
  std::vector<std::size_t> index(n);
  std::barrier all(static_cast<std::ptrdiff_t>(n));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      index[i] = owner::index();
      all.arrive_and_wait();  // every claim is made while all n threads live
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> holders(owner::owned_stripes + 1);
  for (const std::size_t i : index) {
    REQUIRE(i <= owner::owned_stripes);
    ++holders[i];
  }
  for (std::size_t i = 0; i < owner::owned_stripes; ++i) CHECK(holders[i] <= 1);
  CHECK(holders[owner::owned_stripes] >= 6);
  // those threads have exited: a new one owns a stripe again
  std::size_t later = owner::owned_stripes;
  std::thread([&] { later = owner::index(); }).join();
  CHECK(later < owner::owned_stripes);
}

TEST_CASE("circuit_breaker: deferred successes from more threads than stripes are each counted once",
          "[circuit_breaker][concurrency]") {
  struct tag {};
  const surge_test::watchdog dog("deferred successes, many threads");
  // threshold 100 %: 999,999 failures in a window of 10^6 keep it closed
  constexpr int window = 1'000'000;
  breaker<tag> b({.failure_rate_threshold = 100, .window_size = window, .minimum_calls = window});
  const auto t = at<tag>(0s);
  b.on_success(1ms, t);
  for (int i = 1; i < window; ++i) b.on_failure(1ms, t);
  REQUIRE(b.metrics(t).failed_calls == window - 1);
  // 24 threads at once (more than the owned stripes), 40,000 successes each:
  // deferred, and published whenever a stripe holds 32
  constexpr int threads_n = 24;
  constexpr int per_thread = 40'000;
  std::barrier all(threads_n);
  std::vector<std::thread> threads;
  for (int k = 0; k < threads_n; ++k) {
    threads.emplace_back([&] {
      b.on_success(1ms, t);
      all.arrive_and_wait();  // every thread holds its stripe before the rest
      for (int i = 1; i < per_thread; ++i) b.on_success(1ms, t);
    });
  }
  for (auto& th : threads) th.join();
  // the failure publishes the rest first: the window is the 960,000
  // successes, this failure and the newest 39,999 failures before them (a
  // success lost or counted twice would show in the failures)
  b.on_failure(1ms, t);
  const auto m = b.metrics(t);
  CHECK(m.buffered_calls == window);
  CHECK(m.failed_calls == window - threads_n * per_thread);
  CHECK(b.state() == breaker_state::closed);
}

TEST_CASE("circuit_breaker: batched successes keep the window exact on one thread", "[circuit_breaker]") {
  struct tag {};
  breaker<tag> b({.window_size = 100, .minimum_calls = 100});
  const auto t = at<tag>(0s);
  std::deque<bool> window;  // the model: last 100 outcomes, true = failed
  const auto add = [&](bool failed) {
    if (failed) {
      b.on_failure(1ms, t);
    } else {
      b.on_success(1ms, t);
    }
    window.push_back(failed);
    if (window.size() > 100) window.pop_front();
    return static_cast<double>(std::count(window.begin(), window.end(), true));
  };
  for (int i = 0; i < 237; ++i) add(false);  // fills, then batches (25 per stripe for a window of 100)
  CHECK(b.metrics().buffered_calls == 100);
  CHECK(b.failure_rate() == 0.0);
  for (int k = 1; b.state() == breaker_state::closed; ++k) {
    REQUIRE(k < 1000);
    const double failed = add(true);
    if (failed >= 50) break;
    REQUIRE(b.failure_rate() == failed);
    for (int j = 0; j < k % 2; ++j) REQUIRE(b.failure_rate() == add(false));  // deferred successes
    REQUIRE(b.state() == breaker_state::closed);
  }
  // the breaker opened exactly when the window reached 50 failures
  CHECK(b.state() == breaker_state::open);
  CHECK(b.failure_rate() == 50.0);
}

TEST_CASE("circuit_breaker: threads cycling through every state", "[circuit_breaker][concurrency]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  const surge_test::watchdog dog("state cycling");
  std::atomic<int> events{0};
  std::atomic<int> bad{0};  // snapshots with more than the window or more failures than calls
  breaker<tag> b({.window_size = 40,
                  .minimum_calls = 20,
                  .wait_in_open = 0ns,
                  .half_open_calls = 3,
                  .on_state_change = [&](breaker_state, breaker_state) { events.fetch_add(1); }});
  const int iterations = surge_test::scaled(50000);
  std::vector<std::thread> threads;
  for (int id = 0; id < 4; ++id) {
    threads.emplace_back([&, id] {
      std::minstd_rand rng(static_cast<unsigned>(id) + 11);
      for (int i = 0; i < iterations; ++i) {
        clock::advance(1ns);
        auto p = b.try_acquire();
        if (!p) continue;
        const auto r = rng() % 100;
        if (r < 30) {
          p.failure();
        } else if (r < 95) {
          p.success();
        }  // else dropped: released
        // Catch2 assertions are not thread-safe: count here, check after the join
        if (i % 1000 == 0) {
          const auto m = b.metrics();
          if (m.buffered_calls > 40 || m.failed_calls > m.buffered_calls) bad.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(bad.load() == 0);
  CHECK(events.load() > 0);
  const auto m = b.metrics();
  CHECK(m.buffered_calls <= 40);
}

namespace {
struct wrap_tag {};
using wrap_clock = surge_test::manual_clock<wrap_tag>;
using wrap_breaker = surge::circuit_breaker<wrap_clock>;
}  // namespace

/// Moves a breaker's transition count on without making the transitions (a
/// test seam: 2^29 real transitions take many seconds).
template <>
struct surge::detail::circuit_breaker_hooks<wrap_breaker> {
  static void tickets_taken(wrap_breaker&) noexcept {}
  static void skip_transitions(wrap_breaker& b, std::uint64_t n) {
    std::lock_guard lock(b.mutex_);
    const std::uint64_t w = b.word_.load();
    const std::uint64_t period = b.period_.load() + n;
    b.period_.store(period);
    b.word_.store(wrap_breaker::make_word(wrap_breaker::state_of(w), wrap_breaker::permits_of(w),
                                          period & wrap_breaker::gen_mask));
  }
};

TEST_CASE("circuit_breaker: a permit held across 2^29 transitions gives nothing back to a later period",
          "[circuit_breaker]") {
  // The state word keeps 29 bits of the transition count: a permit from a
  // period exactly 2^29 transitions back saw its own generation again and
  // gave its probe to the new period (two probes with half_open_calls = 1).
  wrap_clock::reset();
  wrap_breaker b({.wait_in_open = 0ns, .half_open_calls = 1});
  b.transition_to(breaker_state::open, wrap_clock::now());
  wrap_clock::advance(1ns);
  auto p = b.try_acquire(wrap_clock::now());  // open -> half-open: p holds its only probe
  REQUIRE(p);
  b.on_failure(0ns, wrap_clock::now());  // the period ends without p: open
  surge::detail::circuit_breaker_hooks<wrap_breaker>::skip_transitions(b, (std::uint64_t{1} << 29) - 2);
  wrap_clock::advance(1ns);
  auto q = b.try_acquire(wrap_clock::now());  // half-open again, 2^29 transitions after p's period
  REQUIRE(q);
  REQUIRE(b.state() == breaker_state::half_open);
  CHECK(b.available_probes() == 0);
  p.release();  // p's period is over: nothing given back
  CHECK(b.available_probes() == 0);
  CHECK_FALSE(b.try_acquire(wrap_clock::now()));
  q.release();  // q's own period: given back
  CHECK(b.available_probes() == 1);
}

TEST_CASE("circuit_breaker: a decision deferred by a recorder still publishing is taken by the next outcome",
          "[circuit_breaker]") {
  // A failure whose window starts right after a batch of successes still
  // being published cannot read that window, and defers its decision. The
  // next outcome was to take it, but a plain success on a full window is
  // not looked at: with successes only after it, the breaker stayed closed
  // although its window had reached the threshold.
  using hooks = surge::detail::circuit_breaker_hooks<stall_breaker>;
  stall_clock::reset();
  const auto t = stall_clock::now();
  // window 8: plain successes on a full window are published two at a time
  stall_breaker b({.failure_rate_threshold = 50, .window_size = 8, .minimum_calls = 8});
  for (int i = 0; i < 8; ++i) b.on_success(0ns, t);  // tickets 0-7: the window is full
  bool stalled = false;
  // (runs inside a noexcept publication: CHECK, never REQUIRE)
  hooks::stall = [&] {
    stalled = true;
    for (int i = 0; i < 3; ++i) b.on_success(0ns, t);  // tickets 10-12
    for (int i = 0; i < 3; ++i) b.on_failure(0ns, t);  // tickets 13-15: 3 failures in 8 (tickets 8-15)
    CHECK(b.state() == breaker_state::closed);
    b.on_failure(0ns, t);  // ticket 16: 4 in 8, 50 %, but the window starts after ticket 8, not stored yet
    CHECK(b.state() == breaker_state::closed);
  };
  b.on_success(0ns, t);
  b.on_success(0ns, t);  // tickets 8 and 9, published together: stalls, then stores
  REQUIRE(stalled);
  b.on_success(0ns, t);  // the next outcome takes the decision on the window it finds
  CHECK(b.state() == breaker_state::open);
}

TEST_CASE("circuit_breaker: a recorder stalled across 2^22 outcomes leaves the count window exact",
          "[circuit_breaker]") {
  // The recorder of ticket 10 takes its ticket, then stalls while 2^22 more
  // outcomes are published; ticket 2^22 + 10 shares its ring slot. When it
  // resumes it stores the word after ticket 10 there. A 22-bit ticket stamp
  // could not tell the two apart: the failure at 2^22 + 15 read the window
  // (10, 2^22 + 15] as its own five calls, 3 failures in 5 (the failure at
  // 11, its own, and one carried out of the 22-bit count), and opened the
  // breaker at 60 % where its last five calls hold one failure.
  using hooks = surge::detail::circuit_breaker_hooks<stall_breaker>;
  stall_clock::reset();
  const auto t = stall_clock::now();
  // window 5: no deferred successes, every outcome is published on its own
  stall_breaker b({.failure_rate_threshold = 50, .window_size = 5, .minimum_calls = 5});
  for (int i = 0; i < 10; ++i) b.on_success(0ns, t);  // tickets 0-9
  bool stalled = false;
  // (runs inside a noexcept publication: CHECK, never REQUIRE)
  hooks::stall = [&] {
    stalled = true;
    b.on_failure(0ns, t);                                    // ticket 11
    hooks::skip_successes(b, (std::uint64_t{1} << 22) - 2);  // tickets 12 to 2^22 + 9
    b.on_success(0ns, t);                                    // ticket 2^22 + 10: the stalled recorder's slot
    CHECK(b.state() == breaker_state::closed);
    const auto m = b.metrics();
    CHECK(m.buffered_calls == 5);
    CHECK(m.failed_calls == 0);
  };
  b.on_success(0ns, t);  // ticket 10: stalls, then stores into its slot
  REQUIRE(stalled);
  for (int i = 0; i < 4; ++i) b.on_success(0ns, t);  // tickets 2^22 + 11 to 2^22 + 14
  b.on_failure(0ns, t);                              // ticket 2^22 + 15: 1 failure in the last 5 calls
  CHECK(b.state() == breaker_state::closed);
  b.on_success(0ns, t);
  const auto m = b.metrics();
  CHECK(m.buffered_calls == 5);
  CHECK(m.failed_calls == 1);
  CHECK(m.failure_rate == 20.0);
  b.on_failure(0ns, t);
  b.on_failure(0ns, t);  // 3 in the last 5: 60 %
  CHECK(b.state() == breaker_state::open);
}
