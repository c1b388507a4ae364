#include <surge/exec/task.hpp>
#include <surge/exec/timer.hpp>
#include <surge/resilience/retry.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "../exec/exec_test_util.hpp"
#include "still_clock.hpp"
#include "surge_test.hpp"
#include "watchdog.hpp"

using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

namespace {

constexpr ns ns_max = ns::max();

/// A sleeper that records the delays and never sleeps.
struct recording_sleeper {
  std::vector<ns>* log;
  bool operator()(ns d, const std::stop_token&) const {
    log->push_back(d);
    return true;
  }
};

}  // namespace

TEST_CASE("exponential_backoff: exact capped sequence, overflow-safe", "[retry][backoff]") {
  surge::exponential_backoff b(100ms, 1s);
  std::mt19937_64 g(1);
  std::vector<ns> got;
  for (int i = 0; i < 7; ++i) got.push_back(b.next(g));
  CHECK(got == std::vector<ns>{100ms, 200ms, 400ms, 800ms, 1s, 1s, 1s});
  b.reset();
  CHECK(b.next(g) == 100ms);
  surge::exponential_backoff huge(1ns, ns_max);
  CHECK(huge.delay(62) == ns(std::int64_t{1} << 62));
  CHECK(huge.delay(63) == ns_max);
  CHECK(huge.delay(std::numeric_limits<std::uint64_t>::max()) == ns_max);
  surge::exponential_backoff big(ns(ns_max.count() / 2 + 1), ns_max);
  CHECK(big.delay(0) == ns(ns_max.count() / 2 + 1));
  CHECK(big.delay(1) == ns_max);
  surge::exponential_backoff equal(5s, 5s);
  CHECK(equal.delay(0) == 5s);
  CHECK(equal.delay(40) == 5s);
  const surge::exponential_backoff defaults;
  CHECK(defaults.base() == 100ms);
  CHECK(defaults.cap() == 10s);
}

TEST_CASE("backoff generators reject bad arguments naming them", "[retry][backoff]") {
  const auto names = [](auto make, const std::string& what) {
    try {
      make();
      FAIL("no exception for " << what);
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  names([] { surge::exponential_backoff(0ns, 1s); }, "base");
  names([] { surge::exponential_backoff(-1ns, 1s); }, "base");
  names([] { surge::full_jitter_backoff(2s, 1s); }, "cap");
  names([] { surge::equal_jitter_backoff(0ns, 1s); }, "base");
  names([] { surge::decorrelated_jitter_backoff(2s, 1s); }, "cap");
  names([] { surge::grpc_backoff({.base_delay = 0ns}); }, "base_delay");
  names([] { surge::grpc_backoff({.multiplier = 0.5}); }, "multiplier");
  names([] { surge::grpc_backoff({.multiplier = std::numeric_limits<double>::quiet_NaN()}); }, "multiplier");
  names([] { surge::grpc_backoff({.multiplier = std::numeric_limits<double>::infinity()}); }, "multiplier");
  names([] { surge::grpc_backoff({.jitter = 1.5}); }, "jitter");
  names([] { surge::grpc_backoff({.jitter = std::numeric_limits<double>::quiet_NaN()}); }, "jitter");
  names([] { surge::grpc_backoff({.base_delay = 2s, .max_delay = 1s}); }, "max_delay");
}

TEST_CASE("full and equal jitter stay within the AWS bounds over many seeded draws", "[retry][backoff]") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 g(seed);
    surge::full_jitter_backoff full(10ms, 3s);
    surge::equal_jitter_backoff equal(10ms, 3s);
    const surge::exponential_backoff exp(10ms, 3s);
    for (std::uint64_t n = 0; n < 500; ++n) {
      const ns temp = exp.delay(n);
      const ns f = full.next(g);
      CHECK((f >= 0ns && f <= temp));
      const ns e = equal.next(g);
      CHECK((e >= temp - temp / 2 && e <= temp));
    }
  }
  // the whole range is reached: [0, temp] for full jitter, [temp/2, temp] for equal
  std::mt19937_64 g(7);
  ns lo_f = ns_max, hi_f = ns::zero(), lo_e = ns_max, hi_e = ns::zero();
  for (int i = 0; i < 20000; ++i) {
    surge::full_jitter_backoff full(1s, 1s);
    surge::equal_jitter_backoff equal(1s, 1s);
    const ns f = full.next(g), e = equal.next(g);
    lo_f = std::min(lo_f, f);
    hi_f = std::max(hi_f, f);
    lo_e = std::min(lo_e, e);
    hi_e = std::max(hi_e, e);
  }
  CHECK(lo_f < 1ms);
  CHECK(hi_f > 999ms);
  CHECK(lo_e < 501ms);
  CHECK(lo_e >= 500ms);
  CHECK(hi_e > 999ms);
  // no overflow at the extremes
  surge::full_jitter_backoff fx(1ns, ns_max);
  surge::equal_jitter_backoff ex(1ns, ns_max);
  for (int i = 0; i < 100; ++i) {
    CHECK(fx.next(g) >= 0ns);
    CHECK(ex.next(g) >= 0ns);
  }
}

TEST_CASE("decorrelated jitter: each delay in [base, min(cap, 3 * previous)]", "[retry][backoff]") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 g(seed);
    surge::decorrelated_jitter_backoff b(10ms, 5s);
    ns prev = 10ms;
    for (int n = 0; n < 500; ++n) {
      const ns d = b.next(g);
      CHECK(d >= 10ms);
      CHECK(d <= std::min<ns>(5s, prev * 3));
      prev = d;
    }
    b.reset();
    CHECK(b.next(g) <= 30ms);
  }
  // sleep * 3 saturates instead of overflowing
  std::mt19937_64 g(3);
  surge::decorrelated_jitter_backoff huge(ns(ns_max.count() / 2), ns_max);
  for (int i = 0; i < 100; ++i) CHECK(huge.next(g) >= ns(ns_max.count() / 2));
}

TEST_CASE("grpc_backoff: exact sequence without jitter, random(0.8, 1.2) with it", "[retry][backoff]") {
  std::mt19937_64 g(11);
  surge::grpc_backoff exact({.jitter = 0.0});
  const std::vector<double> expected_s{1.0, 1.6, 2.56, 4.096, 6.5536, 10.48576};
  for (const double s : expected_s) CHECK(static_cast<double>(exact.next(g).count()) == Approx(s * 1e9).epsilon(1e-12));
  for (int i = 0; i < 20; ++i) (void)exact.next(g);
  CHECK(exact.next(g) == 120s);
  CHECK(exact.unjittered_ns(1u << 30) == 120e9);  // pow overflows to +inf: capped
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 r(seed);
    surge::grpc_backoff b;  // 1 s, 1.6, 0.2, 120 s
    for (std::uint64_t n = 0; n < 40; ++n) {
      const double base = b.unjittered_ns(n);
      const double d = static_cast<double>(b.next(r).count());
      CHECK(d >= std::floor(base * 0.8) - 1);
      CHECK(d < base * 1.2);
    }
  }
  surge::grpc_backoff at_max({.base_delay = ns_max, .jitter = 1.0, .max_delay = ns_max});
  for (int i = 0; i < 50; ++i) CHECK(at_max.next(g) >= 0ns);
  surge::grpc_backoff flat({.multiplier = 1.0, .jitter = 0.0});
  for (int i = 0; i < 5; ++i) CHECK(flat.next(g) == 1s);
}

TEST_CASE("grpc_backoff: a delay just below the nanosecond range is exact, not saturated", "[retry][backoff]") {
  std::mt19937_64 g(5);
  // 9.21e18 ns (292 years) fits in int64 and is a double exactly: it read as nanoseconds::max()
  const ns big(9'210'000'000'000'000'000);
  surge::grpc_backoff b({.base_delay = big, .multiplier = 1.0, .jitter = 0.0, .max_delay = big});
  CHECK(b.next(g) == big);
  // the largest double below 2^63 still converts; 2^63 itself saturates
  const double below = std::nextafter(0x1p63, 0.0);
  surge::grpc_backoff top(
      {.base_delay = ns(static_cast<std::int64_t>(below)), .multiplier = 2.0, .jitter = 0.0, .max_delay = ns_max});
  CHECK(top.next(g).count() == static_cast<std::int64_t>(below));
  CHECK(top.next(g) == ns_max);
}

TEST_CASE("retry_budget: gRPC A6 arithmetic step by step, in exact thousandths", "[retry][budget]") {
  surge::retry_budget b(10, 0.1);
  CHECK(b.tokens() == 10.0);
  CHECK(b.max_tokens() == 10.0);
  CHECK(b.token_ratio() == 0.1);
  for (int i = 1; i <= 4; ++i) {
    CHECK(b.on_failure());  // 9, 8, 7, 6 > 5
    CHECK(b.milli_tokens() == (10 - i) * 1000);
  }
  CHECK_FALSE(b.on_failure());  // 5 is not > 5
  CHECK(b.milli_tokens() == 5000);
  for (int i = 0; i < 10; ++i) b.on_success();
  CHECK(b.milli_tokens() == 6000);  // exactly 6.000
  CHECK(b.tokens() == 6.0);
  CHECK_FALSE(b.can_retry());
  b.on_success();  // 6.1
  CHECK(b.milli_tokens() == 6100);
  CHECK(b.can_retry());
  CHECK(b.on_failure());  // 5.1 > 5
  CHECK(b.milli_tokens() == 5100);
  // from 5.000, 10 successes are not enough, 11 are
  surge::retry_budget c(10, 0.1);
  for (int i = 0; i < 5; ++i) (void)c.on_failure();
  for (int i = 0; i < 10; ++i) c.on_success();
  CHECK_FALSE(c.on_failure());  // 6.0 -> 5.0
  // clamps
  surge::retry_budget d(3, 0.5);
  for (int i = 0; i < 10; ++i) CHECK(d.on_failure() == (i == 0));
  CHECK(d.milli_tokens() == 0);
  for (int i = 0; i < 100; ++i) d.on_success();
  CHECK(d.milli_tokens() == 3000);
  // odd thousandths: max 0.003 -> thresh 0.0015
  surge::retry_budget tiny(0.003, 0.001);
  CHECK_FALSE(tiny.on_failure());
  // rounding of the ratio to 3 decimals
  surge::retry_budget r(1000, 0.1234);
  CHECK(r.token_ratio() == 0.123);
}

TEST_CASE("retry_budget rejects bad arguments naming them", "[retry][budget]") {
  const auto names = [](double max, double ratio, const std::string& what) {
    try {
      surge::retry_budget b(max, ratio);
      FAIL("no exception for " << what);
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  names(0, 0.1, "max_tokens");
  names(0.0004, 0.1, "max_tokens");  // rounds to 0 thousandths (it was kept as 0.001)
  names(-1, 0.1, "max_tokens");
  names(1000.5, 0.1, "max_tokens");
  names(nan, 0.1, "max_tokens");
  names(inf, 0.1, "max_tokens");
  names(10, 0, "token_ratio");
  names(10, 0.0004, "token_ratio");
  names(10, nan, "token_ratio");
  names(10, inf, "token_ratio");
  names(10, -0.1, "token_ratio");
  names(10, 1000.5, "token_ratio");
  surge::retry_budget ok(1000, 1000);
  CHECK(ok.tokens() == 1000.0);
  surge::retry_budget least(0.0005, 0.0005);  // rounds to one thousandth each
  CHECK(least.max_tokens() == 0.001);
  CHECK(least.token_ratio() == 0.001);
  surge::retry_budget most(1000.0004, 1000.0004);  // rounds to 1000 each (it was refused)
  CHECK(most.max_tokens() == 1000.0);
  CHECK(most.token_ratio() == 1000.0);
  names(1000.0006, 0.1, "max_tokens");
  names(10, 1000.0006, "token_ratio");
}

TEST_CASE("retry_budget is exact under concurrency", "[retry][budget][concurrency]") {
  const surge_test::watchdog dog("retry_budget hammer");
  surge::retry_budget b(1000, 0.001);
  for (int i = 0; i < 1000; ++i) (void)b.on_failure();
  CHECK(b.milli_tokens() == 0);
  const int per_thread = surge_test::scaled(100000);
  std::vector<std::thread> threads;
  for (int id = 0; id < 4; ++id)
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) b.on_success();
    });
  for (auto& t : threads) t.join();
  CHECK(b.milli_tokens() == std::min<std::int64_t>(1000000, 4 * std::int64_t{per_thread}));
  threads.clear();
  std::atomic<int> allowed{0};
  for (int id = 0; id < 4; ++id)
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i)
        if (b.on_failure()) allowed.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  // from T tokens, exactly the failures leaving > 500 tokens were allowed
  const std::int64_t start = std::min<std::int64_t>(1000000, 4 * std::int64_t{per_thread});
  std::int64_t expect = 0;
  for (std::int64_t t = start, i = 0; i < 1200; ++i) {
    t = std::max<std::int64_t>(0, t - 1000);
    if (2 * t > 1000000) ++expect;
  }
  CHECK(allowed.load() == expect);
}

TEST_CASE("retry: sleeps the backoff between attempts and returns the first success", "[retry]") {
  std::vector<ns> slept;
  std::mt19937_64 g(1);
  int calls = 0;
  const int r = surge::retry(
      surge::retry_policy<>{.max_attempts = 5, .backoff = {100ms, 250ms}},
      [&] {
        if (++calls < 4) throw std::runtime_error("flaky");
        return 42;
      },
      recording_sleeper{&slept}, g);
  CHECK(r == 42);
  CHECK(calls == 4);
  CHECK(slept == std::vector<ns>{100ms, 200ms, 250ms});
}

namespace {
/// A backoff in hours: 3e6 hours (342 years) is past the nanosecond range.
struct hours_backoff {
  template <class URBG>
  std::chrono::hours next(URBG&) const {
    return std::chrono::hours(3'000'000);
  }
  void reset() {}
};
}  // namespace

TEST_CASE("retry: a backoff's delay in coarse units saturates instead of wrapping", "[retry]") {
  std::vector<ns> slept;
  std::mt19937_64 g(1);
  int calls = 0;
  CHECK_THROWS_AS(surge::retry(
                      surge::retry_policy<hours_backoff>{.max_attempts = 2},
                      [&]() -> int {
                        ++calls;
                        throw std::runtime_error("down");
                      },
                      recording_sleeper{&slept}, g),
                  std::runtime_error);
  CHECK(calls == 2);
  REQUIRE(slept.size() == 1);
  CHECK(slept[0] == ns(std::int64_t{1} << 62));  // the longest delay, not a wrapped one clamped to 0
}

TEST_CASE("retry: attempts run out, non-retryable errors, result predicates", "[retry]") {
  std::vector<ns> slept;
  std::mt19937_64 g(1);
  int calls = 0;
  // attempts run out: the last exception propagates
  CHECK_THROWS_WITH(
      surge::retry(
          surge::retry_policy<>{.max_attempts = 3},
          [&]() -> int { throw std::runtime_error("try " + std::to_string(++calls)); }, recording_sleeper{&slept}, g),
      "try 3");
  CHECK(slept.size() == 2);
  // a predicate over exceptions: logic_error is not retried
  const auto transient_only = [](const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::logic_error&) {
      return false;
    } catch (...) {
      return true;
    }
  };
  calls = 0;
  slept.clear();
  CHECK_THROWS_AS(surge::retry(
                      surge::retry_policy<surge::exponential_backoff, decltype(transient_only)>{
                          .max_attempts = 9, .retryable = transient_only},
                      [&] {
                        ++calls;
                        throw std::logic_error("bug");
                      },
                      recording_sleeper{&slept}, g),
                  std::logic_error);
  CHECK(calls == 1);
  CHECK(slept.empty());
  // a predicate over results only: retries while negative, returns the last value when out of attempts;
  // exceptions are then not retried
  const auto negative = [](const int& v) { return v < 0; };
  using result_policy = surge::retry_policy<surge::exponential_backoff, decltype(negative)>;
  calls = 0;
  CHECK(surge::retry(
            result_policy{.max_attempts = 4, .retryable = negative}, [&] { return ++calls < 3 ? -1 : 7; },
            recording_sleeper{&slept}, g) == 7);
  CHECK(surge::retry(
            result_policy{.max_attempts = 2, .retryable = negative}, [] { return -5; }, recording_sleeper{&slept}, g) ==
        -5);
  calls = 0;
  CHECK_THROWS_AS(surge::retry(
                      result_policy{.max_attempts = 4, .retryable = negative},
                      [&]() -> int {
                        ++calls;
                        throw std::runtime_error("x");
                      },
                      recording_sleeper{&slept}, g),
                  std::runtime_error);
  CHECK(calls == 1);
  // void and reference results, max_attempts 1, bad max_attempts
  int x = 0;
  surge::retry(
      surge::retry_policy<>{.max_attempts = 1}, [&] { ++x; }, recording_sleeper{&slept}, g);
  CHECK(x == 1);
  int& rx = surge::retry(
      surge::retry_policy<>{}, [&]() -> int& { return x; }, recording_sleeper{&slept}, g);
  CHECK(&rx == &x);
  CHECK_THROWS_AS(surge::retry(surge::retry_policy<>{.max_attempts = 0}, [] { return 1; }), std::invalid_argument);
}

TEST_CASE("retry: the default predicate takes a returned exception_ptr or nullptr as a success", "[retry]") {
  std::vector<ns> slept;
  std::mt19937_64 g(1);
  int calls = 0;
  const std::exception_ptr err = std::make_exception_ptr(std::runtime_error("in the slot"));
  // an error slot returned, empty or filled: a success either way
  CHECK(surge::retry(
            surge::retry_policy<>{.max_attempts = 3}, [&]() -> std::exception_ptr { return ++calls, nullptr; },
            recording_sleeper{&slept}, g) == nullptr);
  CHECK(calls == 1);
  CHECK(surge::retry(
            surge::retry_policy<>{.max_attempts = 3}, [&]() -> std::exception_ptr { return ++calls, err; },
            recording_sleeper{&slept}, g) == err);
  CHECK(calls == 2);
  CHECK(surge::retry(
            surge::retry_policy<>{.max_attempts = 3}, [&]() -> std::nullptr_t { return ++calls, nullptr; },
            recording_sleeper{&slept}, g) == nullptr);
  CHECK(calls == 3);
  CHECK(slept.empty());
  // a thrown exception is still retried
  calls = 0;
  CHECK(surge::retry(
            surge::retry_policy<>{.max_attempts = 3},
            [&]() -> std::exception_ptr {
              if (++calls < 3) throw std::runtime_error("flaky");
              return nullptr;
            },
            recording_sleeper{&slept}, g) == nullptr);
  CHECK(calls == 3);
  CHECK(slept.size() == 2);
  // a predicate of one's own taking const std::exception_ptr& receives the returned ones too (documented)
  const auto failed = [](const std::exception_ptr& e) { return e != nullptr; };
  calls = 0;
  CHECK(surge::retry(
            surge::retry_policy<surge::exponential_backoff, decltype(failed)>{.max_attempts = 5, .retryable = failed},
            [&]() -> std::exception_ptr { return ++calls < 4 ? err : nullptr; }, recording_sleeper{&slept},
            g) == nullptr);
  CHECK(calls == 4);
}

TEST_CASE("retry: the budget refuses retries and is refilled by successes", "[retry][budget]") {
  std::vector<ns> slept;
  std::mt19937_64 g(1);
  surge::retry_budget budget(4, 0.5);
  int calls = 0;
  const auto failing = [&]() -> int {
    ++calls;
    throw std::runtime_error("down");
  };
  // 4 -> 3 (> 2: retry) -> 2 (not > 2: stop)
  CHECK_THROWS_AS(
      surge::retry(surge::retry_policy<>{.max_attempts = 10, .budget = &budget}, failing, recording_sleeper{&slept}, g),
      std::runtime_error);
  CHECK(calls == 2);
  CHECK(budget.tokens() == 2.0);
  // a success adds the ratio
  CHECK(surge::retry(
            surge::retry_policy<>{.budget = &budget}, [] { return 1; }, recording_sleeper{&slept}, g) == 1);
  CHECK(budget.tokens() == 2.5);
  // non-retryable failures leave the budget alone
  const auto never = [](const std::exception_ptr&) { return false; };
  CHECK_THROWS_AS(surge::retry(surge::retry_policy<surge::exponential_backoff, decltype(never)>{.budget = &budget},
                               failing, recording_sleeper{&slept}, g),
                  std::runtime_error);
  CHECK(budget.tokens() == 2.5);
}

TEST_CASE("retry: cancellation through std::stop_token", "[retry]") {
  std::mt19937_64 g(1);
  std::stop_source stop;
  int calls = 0;
  // a stop during the sleep ends the retries with operation_cancelled
  const auto stopping_sleeper = [&](ns, const std::stop_token&) {
    stop.request_stop();
    return false;
  };
  CHECK_THROWS_AS(surge::retry(
                      surge::retry_policy<>{.max_attempts = 5},
                      [&]() -> int {
                        ++calls;
                        throw std::runtime_error("x");
                      },
                      stopping_sleeper, g, stop.get_token()),
                  surge::operation_cancelled);
  CHECK(calls == 1);
  // already stopped: f is not called
  CHECK_THROWS_AS(surge::retry(
                      surge::retry_policy<>{}, [&] { return ++calls; }, stop.get_token()),
                  surge::operation_cancelled);
  CHECK(calls == 1);
  // thread_sleeper returns at once when stop was requested, true for a zero delay
  CHECK_FALSE(surge::thread_sleeper{}(1h, stop.get_token()));
  CHECK(surge::thread_sleeper{}(0ns, std::stop_token{}));
  std::stop_source other;
  CHECK(surge::thread_sleeper{}(0ns, other.get_token()));
}

TEST_CASE("retry_async sleeps on the timer, never blocking", "[retry][async]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  surge::timer<clock> t({.own_thread = false});
  std::mt19937_64 g(1);
  int calls = 0;
  std::optional<int> out;
  auto flaky = [&]() -> surge::task<int> {
    if (++calls < 3) throw std::runtime_error("flaky");
    co_return 42;
  };
  auto run = [&]() -> surge::task<void> {
    out = co_await surge::retry_async(surge::retry_policy<>{.max_attempts = 5, .backoff = {100ms, 1s}}, t, flaky, g);
  };
  exec_test::start(run());
  CHECK(calls == 1);
  CHECK(t.pending() == 1);
  CHECK(t.next_deadline() == clock::time_point{100ms});
  clock::advance(99ms);
  CHECK(t.run_due() == 0);
  clock::advance(1ms);
  CHECK(t.run_due() == 1);
  CHECK(calls == 2);
  CHECK(t.next_deadline() == clock::time_point{300ms});
  clock::advance(200ms);
  CHECK(t.run_due() == 1);
  CHECK(calls == 3);
  CHECK(out == 42);
  // void result, default engine, attempts exhausted
  int v = 0;
  std::exception_ptr err;
  auto always = [&]() -> surge::task<void> {
    ++v;
    throw std::runtime_error("down");
    co_return;
  };
  auto run2 = [&]() -> surge::task<void> {
    try {
      co_await surge::retry_async(surge::retry_policy<surge::full_jitter_backoff>{.max_attempts = 2}, t, always);
    } catch (...) {
      err = std::current_exception();
    }
  };
  exec_test::start(run2());
  clock::advance(10s);
  t.run_due();
  CHECK(v == 2);
  CHECK_THROWS_AS(std::rethrow_exception(err), std::runtime_error);
}

namespace {

// retry_async of a call that always fails, on its own timer, started at
// construction: the first call fails and the retry sleeps until the timer
// fires or `stop` is requested.
template <class Clock>
struct failing_retry {
  surge::timer<Clock> t{{.own_thread = false}};
  std::stop_source stop;
  int calls = 0;
  bool cancelled = false;
  explicit failing_retry(surge::retry_policy<> policy) { exec_test::start(run(policy)); }
  surge::task<void> run(surge::retry_policy<> policy) {
    auto failing = [this]() -> surge::task<int> {
      ++calls;
      throw std::runtime_error("x");
      co_return 0;
    };
    try {
      (void)co_await surge::retry_async(policy, t, failing, stop.get_token());
    } catch (const surge::operation_cancelled&) {
      cancelled = true;
    }
  }
};

}  // namespace

TEST_CASE("retry_async: a stop request wakes the sleep with operation_cancelled", "[retry][async]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  failing_retry<clock> r(surge::retry_policy<>{.max_attempts = 5});
  CHECK(r.t.pending() == 1);
  r.stop.request_stop();
  CHECK(r.cancelled);
  CHECK(r.calls == 1);
  CHECK(r.t.pending() == 0);
}

TEST_CASE("retry_async: a delay past a fine clock's range sleeps until stopped", "[retry][async]") {
  // int64 picoseconds span 106 days: a 200-day delay saturates to
  // time_point::max() (it overflowed the conversion)
  using ps_clock = surge_test::still_clock<std::int64_t, std::pico>;
  const std::chrono::nanoseconds days200 = std::chrono::hours(24 * 200);
  failing_retry<ps_clock> r(surge::retry_policy<>{.max_attempts = 5, .backoff = {days200, days200}});
  CHECK(r.calls == 1);
  CHECK(r.t.pending() == 1);
  CHECK(r.t.next_deadline() == ps_clock::time_point::max());
  CHECK(r.t.run_due() == 0);
  r.stop.request_stop();
  CHECK(r.cancelled);
  CHECK(r.calls == 1);
}
