#include <surge/limit/token_bucket.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <random>
#include <ratio>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "far_readings.hpp"
#include "phase_driver.hpp"
#include "still_clock.hpp"
#include "surge_test.hpp"
#include "watchdog.hpp"

using namespace std::chrono_literals;
using clock_t_ = surge_test::manual_clock<struct token_bucket_tag>;
using bucket = surge::token_bucket<clock_t_>;
using tp = clock_t_::time_point;

namespace {

// x/time/rate's test times: t_k = t0 + k * 100ms.
constexpr auto d = std::chrono::duration_cast<clock_t_::duration>(100ms);
tp t(int k) { return tp{} + k * d; }

struct allow {
  int at;
  double toks;  // TokensAt before the call
  std::size_t n;
  bool ok;
};

void run(bucket& b, const std::vector<allow>& steps) {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    INFO("step " << i);
    CHECK(b.tokens(t(steps[i].at)) == Approx(steps[i].toks).margin(1e-9));
    CHECK(b.try_acquire(steps[i].n, t(steps[i].at)) == steps[i].ok);
  }
}

// x/time/rate runReserve: reserve n at t(at); expect ok and time to act t(act).
bucket::reservation reserve(bucket& b, int at, std::size_t n, int act, bool ok,
                            clock_t_::duration max_wait = clock_t_::duration::max()) {
  auto r = b.reserve(n, max_wait, t(at));
  CHECK(r.ok() == ok);
  if (ok && r.ok()) {
    CHECK(r.time_to_act == t(act));
    CHECK(r.delay == t(act) - t(at));
  }
  if (!ok) CHECK(r.delay == clock_t_::duration::max());
  return r;
}

}  // namespace

TEST_CASE("token_bucket rejects nonsensical arguments", "[limit][token_bucket]") {
  CHECK_THROWS_AS(bucket(0.0, 1, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(bucket(-1.0, 1, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(bucket(std::nan(""), 1, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(bucket(std::numeric_limits<double>::infinity(), 1, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(bucket(2e12, 1, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(bucket(1.0, 0, tp{}), std::invalid_argument);
  // below 1e-18/s (about 7e-21 and below were read as about 7e-21)
  surge_test::check_names([] { bucket(9e-19, 1, tp{}); }, "rate_per_second");
  surge_test::check_names([] { bucket(1e-40, 1, tp{}); }, "rate_per_second");
  bucket slowest(1e-18, 1, tp{});
  CHECK(slowest.try_acquire(1, tp{}));
  const tp later = tp{} + std::chrono::hours(24 * 365 * 200);                      // 6.3e9 s: 6.3e-9 tokens
  CHECK(slowest.tokens(later) == Approx(6.3072e-9).margin(std::ldexp(1.0, -32)));  // to a unit, 2^-32 token
  CHECK(slowest.time_until_available(1, later) == clock_t_::duration::max());
  bucket b(1.0, 1, tp{});
  CHECK_THROWS_AS(b.set_rate(0.0, tp{}), std::invalid_argument);
  CHECK_THROWS_AS(b.set_burst(0, tp{}), std::invalid_argument);
  try {
    bucket bad(1.0, 0, tp{});
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("burst") != std::string::npos);
  }
}

TEST_CASE("token_bucket AllowN matches x/time/rate, burst 1", "[limit][token_bucket]") {
  bucket b(10, 1, tp{});
  run(b, {{0, 1, 1, true},
          {0, 0, 1, false},
          {0, 0, 1, false},
          {1, 1, 1, true},
          {1, 0, 1, false},
          {1, 0, 1, false},
          {2, 1, 2, false},  // burst 1: n = 2 never passes
          {2, 1, 1, true},
          {2, 0, 1, false}});
}

TEST_CASE("token_bucket AllowN matches x/time/rate, burst 3", "[limit][token_bucket]") {
  bucket b(10, 3, tp{});
  run(b, {{0, 3, 2, true},
          {0, 1, 2, false},
          {0, 1, 1, true},
          {0, 0, 1, false},
          {1, 1, 4, false},
          {2, 2, 1, true},
          {3, 2, 1, true},
          {4, 2, 1, true},
          {4, 1, 1, true},
          {4, 0, 1, false},
          {4, 0, 1, false},
          {9, 3, 3, true},
          {9, 0, 0, true}});
}

namespace {

// One step of x/time/rate's reservation tests: reserve n at t(at) expecting
// ok and time to act t(act) (kept as reservation #slot), cancel #slot at
// t(at), allow n at t(at), or set the rate / burst at t(at).
struct step {
  enum kind { reserve, reserve_max_d, cancel, allow, set_rate, set_burst } op;
  int at;
  std::size_t n = 0;  // tokens, or the new rate / burst
  int act = 0;
  bool ok = true;
  int slot = -1;
};

void play(double rate, std::size_t burst, const std::vector<step>& steps) {
  bucket b(rate, burst, tp{});
  std::vector<bucket::reservation> kept(8);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const step& s = steps[i];
    INFO("step " << i);
    switch (s.op) {
      case step::reserve:
      case step::reserve_max_d: {
        auto r = reserve(b, s.at, s.n, s.act, s.ok, s.op == step::reserve_max_d ? d : clock_t_::duration::max());
        if (s.slot >= 0) kept[static_cast<std::size_t>(s.slot)] = std::move(r);
        break;
      }
      case step::cancel:
        b.cancel(kept[static_cast<std::size_t>(s.slot)], t(s.at));
        break;
      case step::allow:
        CHECK(b.try_acquire(s.n, t(s.at)) == s.ok);
        break;
      case step::set_rate:
        b.set_rate(static_cast<double>(s.n), t(s.at));
        break;
      case step::set_burst:
        b.set_burst(s.n, t(s.at));
        break;
    }
  }
}

}  // namespace

TEST_CASE("token_bucket reservations match x/time/rate", "[limit][token_bucket]") {
  using S = step;
  // each row: x/time/rate's test of the same name (rate, burst, steps)
  SECTION("simple") { play(10, 2, {{S::reserve, 0, 2, 0}, {S::reserve, 0, 2, 2}, {S::reserve, 3, 2, 4}}); }
  SECTION("mix") {
    play(10, 2,
         {{S::reserve, 0, 3, 1, false},  // n > burst
          {S::reserve, 0, 2, 0},
          {S::allow, 1, 2, 0, false},
          {S::reserve, 1, 2, 2},
          {S::allow, 1, 1, 0, false},  // negative tokens
          {S::allow, 3, 1, 0, true}});
  }
  SECTION("cancel invalid") {
    play(
        10, 2,
        {{S::reserve, 0, 2, 0}, {S::reserve, 0, 3, 3, false, 0}, {S::cancel, 0, 0, 0, true, 0}, {S::reserve, 0, 2, 2}});
  }
  SECTION("cancel last") {
    play(10, 2,
         {{S::reserve, 0, 2, 0}, {S::reserve, 0, 2, 2, true, 0}, {S::cancel, 1, 0, 0, true, 0}, {S::reserve, 1, 2, 2}});
  }
  SECTION("cancel too late") {
    play(10, 2,
         {{S::reserve, 0, 2, 0}, {S::reserve, 0, 2, 2, true, 0}, {S::cancel, 3, 0, 0, true, 0}, {S::reserve, 3, 2, 4}});
  }
  SECTION("cancel 0 tokens") {
    play(10, 2,
         {{S::reserve, 0, 2, 0},
          {S::reserve, 0, 1, 1, true, 0},
          {S::reserve, 0, 1, 2},
          {S::cancel, 0, 0, 0, true, 0},
          {S::reserve, 0, 1, 3}});
  }
  SECTION("cancel 1 token") {
    play(10, 2,
         {{S::reserve, 0, 2, 0},
          {S::reserve, 0, 2, 2, true, 0},
          {S::reserve, 0, 1, 3},
          {S::cancel, 2, 0, 0, true, 0},
          {S::reserve, 2, 2, 4}});
  }
  SECTION("cancel multi") {
    play(10, 4,
         {{S::reserve, 0, 4, 0},
          {S::reserve, 0, 3, 3, true, 0},
          {S::reserve, 0, 1, 4},
          {S::reserve, 0, 1, 5, true, 1},
          {S::cancel, 1, 0, 0, true, 1},
          {S::cancel, 1, 0, 0, true, 0},
          {S::reserve, 1, 3, 5}});
  }
  SECTION("max wait") {
    play(10, 2,
         {{S::reserve_max_d, 0, 2, 0},
          {S::reserve_max_d, 0, 1, 1},
          {S::reserve_max_d, 0, 1, 2, false},
          {S::reserve, 0, 1, 2}});  // the refused reservation changed nothing
  }
  SECTION("set limit") {
    play(5, 2, {{S::reserve, 0, 2, 0}, {S::reserve, 0, 2, 4}, {S::set_rate, 2, 10}, {S::reserve, 2, 1, 4}});
  }
  SECTION("set burst") {
    // x/time/rate's test reserves at t0 (a jump back) after SetBurstAt(t3) and
    // gets t9; surge reserves at t3: the same 0.9 s wait (tokens -0.5, n 4)
    play(5, 2, {{S::reserve, 0, 2, 0}, {S::reserve, 0, 2, 4}, {S::set_burst, 3, 4}, {S::reserve, 3, 4, 12}});
  }
  SECTION("statuses and a refused reservation's delay") {
    bucket b(10, 2, tp{});
    CHECK(b.reserve(3, clock_t_::duration::max(), t(0)).status == surge::reserve_status::exceeds_burst);
    CHECK(b.reserve(2, clock_t_::duration::max(), t(0)).ok());
    const auto r = b.reserve(1, d / 2, t(0));
    CHECK(r.status == surge::reserve_status::exceeds_max_wait);
    CHECK(r.delay == clock_t_::duration::max());
    CHECK(b.tokens(t(0)) == Approx(0));
  }
  SECTION("cancel after set_rate restores nothing (documented difference)") {
    bucket b(5, 2, tp{});
    reserve(b, 0, 2, 0, true);
    auto r = reserve(b, 0, 2, 4, true);
    b.set_rate(10, t(2));
    b.cancel(r, t(2));
    CHECK(b.tokens(t(2)) == Approx(-1));  // x/time/rate would give 2 back (tokens 1)
  }
}

TEST_CASE("token_bucket set_rate and set_burst keep the tokens present", "[limit][token_bucket]") {
  bucket b(10, 4, tp{});
  REQUIRE(b.try_acquire(4, t(0)));
  CHECK(b.tokens(t(2)) == Approx(2));
  b.set_rate(20, t(2));  // 2 tokens kept, then 20/s
  CHECK(b.rate() == 20);
  CHECK(b.tokens(t(2)) == Approx(2));
  CHECK(b.tokens(t(3)) == Approx(4));
  b.set_burst(8, t(3));  // a larger burst does not fill the bucket
  CHECK(b.burst() == 8);
  CHECK(b.tokens(t(3)) == Approx(4));
  CHECK(b.tokens(t(5)) == Approx(8));
  b.set_burst(2, t(5));  // a smaller one caps it
  CHECK(b.tokens(t(5)) == Approx(2));
  CHECK(b.try_acquire(2, t(5)));
  CHECK_FALSE(b.try_acquire(1, t(5)));
  CHECK(b.time_until_available(1, t(5)) == 50ms);
  // a debt of 20 s at 1e6/s is 20e6 tokens: 231 days at 1/s, more than the
  // reservation horizon, so it is cut to the horizon (over 100 days)
  bucket big(1e6, 1'000'000, tp{});
  for (int i = 0; i < 21; ++i) REQUIRE(big.reserve(1'000'000, clock_t_::duration::max(), tp{}).ok());
  CHECK(big.tokens(tp{}) == Approx(-20e6));
  big.set_rate(1, tp{});
  CHECK(big.tokens(tp{}) < -8.64e6);  // more than 100 days of debt kept
  CHECK(big.tokens(tp{}) > -20e6);
  CHECK(big.time_until_available(1, tp{}) > std::chrono::hours(24 * 100));
  CHECK_FALSE(big.reserve(1, clock_t_::duration::max(), tp{}).ok());  // at the horizon
}

TEST_CASE("token_bucket: a reading older than the latest admitted one counts as it", "[limit][token_bucket]") {
  // x/time/rate's TestLimiterJumpBackwards up to its return to t1: a jump back
  // to t0 elapses no time (two tokens remain and are taken) ...
  bucket b(10, 3, tp{});
  run(b, {{1, 3, 1, true},
          {0, 2, 1, true},
          {0, 1, 1, true},
          {0, 0, 1, false},
          {0, 0, 1, false},
          // ... but where x/time/rate moved `last` back to t0 and now credits
          // t0..t1 a second time ({t1, 1, 1, true}), surge's state never went
          // back: nothing more at t1, and one token at t2
          {1, 0, 1, false},
          {2, 1, 1, true},
          {2, 0, 1, false}});
  // reservations and waits from an older reading count from the caller's
  // reading: time_to_act is the latest reading's answer
  bucket c(10, 1, tp{});
  CHECK(c.try_acquire(1, t(5)));
  CHECK(c.time_until_available(1, t(4)) == t(6) - t(4));  // judged at t5: one token 100 ms on
  auto r = c.reserve(1, clock_t_::duration::max(), t(4));
  CHECK(r.time_to_act == t(6));
  CHECK(r.delay == t(6) - t(4));
  // a copy judges an older reading as its original does
  bucket e(10, 2, tp{});
  REQUIRE(e.try_acquire(1, t(5)));  // one token left at t5, none at t4
  bucket copy(e);
  CHECK(copy.tokens(t(4)) == Approx(1));
  CHECK(copy.try_acquire(1, t(4)));  // judged at t5, as e would
  // max_wait bounds that same delay: 150 ms from t4 is short of t6 (200 ms)
  bucket d(10, 1, tp{});
  CHECK(d.try_acquire(1, t(5)));
  const auto m = d.reserve(1, std::chrono::milliseconds(150), t(4));
  CHECK(m.status == surge::reserve_status::exceeds_max_wait);
  CHECK(d.reserve(1, std::chrono::milliseconds(200), t(4)).delay == t(6) - t(4));
}

TEST_CASE("token_bucket: two threads with interleaved readings are not refused for them", "[limit][token_bucket]") {
  // Two callers whose readings interleave out of order by up to 20 us (each
  // reads its clock, then calls): at 1e9/s with burst 1000 (1 us of tolerance)
  // a call judged at its own older reading would be refused whenever the
  // other had been admitted later; judged at the latest admitted reading,
  // every call passes while the rate covers them.
  bucket b(1e9, 1000, tp{});
  std::mt19937_64 rng(3);
  std::int64_t base = 1'000'000;
  int refused = 0;
  for (int i = 0; i < 100'000; ++i) {
    base += 50;  // 50 ns of real time per call: well within the rate
    const std::int64_t stale = base - static_cast<std::int64_t>(rng() % 20'000);
    if (!b.try_acquire(1, tp{} + std::chrono::nanoseconds(i % 2 ? base : stale))) ++refused;
  }
  CHECK(refused == 0);
}

TEST_CASE("token_bucket: a clock going backwards never credits tokens", "[limit][token_bucket]") {
  // random jumps: every window's admissions stay within burst + rate * span of
  // the readings seen so far, and the state never moves back.
  std::mt19937_64 rng(7);
  bucket c(1000, 5, tp{});
  std::int64_t max_seen = 0;
  std::int64_t admitted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::int64_t now = max_seen + static_cast<std::int64_t>(rng() % 2'000'000) - 1'000'000;
    now = std::max<std::int64_t>(now, 0);
    max_seen = std::max(max_seen, now);
    const double before = c.tokens(tp{} + std::chrono::nanoseconds(max_seen + 10'000'000));
    if (c.try_acquire(1, tp{} + std::chrono::nanoseconds(now))) ++admitted;
    const double after = c.tokens(tp{} + std::chrono::nanoseconds(max_seen + 10'000'000));
    REQUIRE(after <= before);  // nothing was credited
  }
  CHECK(admitted <= 5 + max_seen / 1'000'000);
}

TEST_CASE("token_bucket n > burst never passes and says so", "[limit][token_bucket]") {
  bucket b(100, 3, tp{});
  CHECK_FALSE(b.try_acquire(4, t(100)));
  auto r = b.reserve(4, clock_t_::duration::max(), t(100));
  CHECK(r.status == surge::reserve_status::exceeds_burst);
  CHECK_FALSE(r);
  CHECK(b.time_until_available(4, t(100)) == clock_t_::duration::max());
  CHECK(b.tokens(t(100)) == Approx(3));  // unchanged
  CHECK(b.try_acquire(3, t(100)));
}

TEST_CASE("token_bucket: a refusal at a far reading changes nothing (no re-base to a full bucket)",
          "[limit][token_bucket]") {
  // n > burst with a reading 200 days on re-based the bucket first, which
  // left it full at any reading: the drained bucket had its tokens back
  const auto ns = [](std::int64_t n) { return tp{} + std::chrono::nanoseconds(n); };
  constexpr std::int64_t day = 86'400'000'000'000, T = 1'000'000'000;
  for (const bool by_reserve : {false, true}) {
    INFO((by_reserve ? "reserve" : "try_acquire"));
    bucket b(1e9, 10, tp{});
    int drained = 0;
    while (b.try_acquire(1, ns(T))) ++drained;
    CHECK(drained == 10);
    if (by_reserve) {
      CHECK(b.reserve(11, clock_t_::duration::max(), ns(T + 200 * day)).status == surge::reserve_status::exceeds_burst);
    } else {
      CHECK_FALSE(b.try_acquire(11, ns(T + 200 * day)));
    }
    int again = 0;
    while (b.try_acquire(1, ns(T + 1))) ++again;
    CHECK(again <= 1);  // 1 ns at 1e9/s: one token
  }
}

TEST_CASE("token_bucket: a reading far before a set_rate's epoch credits nothing to a bucket in debt",
          "[limit][token_bucket]") {
  // set_rate at a reading 2^53 ns after the last admitted one moves the epoch
  // there; a call at the latest admitted reading is then 2^53 units before
  // it. It re-based backwards, and a debt reaching more than 2^54 units past
  // the earlier epoch was cut to 2^54: a refused call gave back 2^42 tokens.
  const auto ns = [](std::int64_t n) { return tp{} + std::chrono::nanoseconds(n); };
  constexpr std::size_t burst = std::size_t{1} << 38;
  constexpr std::int64_t J = std::int64_t{1} << 53;
  for (const bool by_reserve : {false, true}) {
    INFO((by_reserve ? "reserve" : "try_acquire"));
    bucket b(1e9, burst, tp{});  // one token = one unit = 1 ns
    // reservations at reading 0 until the debt reaches J + 1.5 * 2^43 ns
    while (b.tokens(ns(0)) > static_cast<double>(burst) - static_cast<double>(J + 3 * (std::int64_t{1} << 42)))
      REQUIRE(b.reserve(burst, clock_t_::duration::max(), ns(0)).ok());
    b.set_rate(1e9 / 1024, ns(J));  // a unit is still 1 ns; the debt, 1.5 * 2^53 units
    const double before = b.tokens(ns(J));
    if (by_reserve) {
      const auto r = b.reserve(1, clock_t_::duration::max(), ns(0));
      CHECK(r.ok());
      CHECK(b.tokens(ns(J)) == before - 1);
    } else {
      CHECK_FALSE(b.try_acquire(1, ns(0)));
      CHECK(b.tokens(ns(J)) == before);  // before: 2^42 tokens more
    }
  }
}

TEST_CASE("token_bucket: set_rate and set_burst with an older reading are judged at the latest one",
          "[limit][token_bucket]") {
  // set_rate with a reading 1 s before the latest admitted one re-expressed
  // the state from there: that second was credited again at the new rate
  bucket b(1.0, 10, tp{});
  while (b.try_acquire(1, t(1000))) {
  }
  b.set_rate(1000.0, t(990));  // 1 s before t(1000) (t counts 100 ms)
  CHECK_FALSE(b.try_acquire(1, t(1000)));
  bucket c(1.0, 10, tp{});
  while (c.try_acquire(1, t(1000))) {
  }
  c.set_burst(20, tp{});  // far back: not a full bucket
  CHECK_FALSE(c.try_acquire(1, t(1000)));
  // a reading older than an earlier reconfiguration's (but not than the
  // latest admitted one) moved the state back to it the same way: the 1 s
  // between the two set_rate calls was credited again at the new rate
  bucket d(1.0, 1, tp{});
  CHECK(d.try_acquire(1, t(0)));
  CHECK(d.reserve(1, clock_t_::duration::max(), t(0)).delay == 1s);  // 1 token owed until t(10)
  d.set_rate(1.0, t(10));     // the same rate: at t(10) the bucket is empty
  d.set_rate(1000.0, t(0));   // 1 s before the last reconfiguration: judged at it
  CHECK(d.tokens(t(10)) == Approx(0.0).margin(1e-6));
  CHECK_FALSE(d.try_acquire(1, t(10)));
  CHECK(d.time_until_available(1, t(10)) == 1ms);
}

TEST_CASE("token_bucket tiny and huge rates do not overflow", "[limit][token_bucket]") {
  SECTION("1e-9 per second") {
    bucket b(1e-9, 1, tp{});
    CHECK(b.try_acquire(1, tp{}));
    CHECK_FALSE(b.try_acquire(1, tp{}));
    const auto wait = b.time_until_available(1, tp{});
    CHECK(std::abs(static_cast<double>(wait.count()) - 1e18) < 1e6);  // 1e9 s, to < 1 ms
    CHECK_FALSE(b.try_acquire(1, tp{} + wait - 1ns));
    CHECK(b.try_acquire(1, tp{} + wait));
    // reservations are granted until the wait would end 2^62 ns (146 years)
    // after the epoch, which this rate reaches a few tokens ahead
    bucket c(1e-9, 1, tp{});
    for (int k = 0; k < 5; ++k) CHECK(c.reserve(1, clock_t_::duration::max(), tp{}).ok());
    CHECK(c.reserve(1, clock_t_::duration::max(), tp{}).status == surge::reserve_status::exceeds_max_wait);
  }
  SECTION("1e-10 per second (x/time/rate TestTinyLimit)") {
    bucket b(1e-10, 1, tp{});
    CHECK(b.try_acquire(1, tp{}));
    CHECK_FALSE(b.try_acquire(1, tp{} + 1000h));
  }
  SECTION("x/time/rate noTruncationErrors") {
    bucket b(0.7692307692307693, 1, tp{});
    CHECK(b.try_acquire(1, tp{}));
  }
  SECTION("1e9 per second: one per nanosecond, over days") {
    bucket b(1e9, 1, tp{});
    for (std::int64_t base : {std::int64_t{0}, std::int64_t{86'400'000'000'000} * 30}) {
      const tp t0 = tp{} + std::chrono::nanoseconds(base);
      CHECK(b.try_acquire(1, t0 + 1ns));  // full after the idle
      for (int i = 2; i < 1000; ++i) {
        REQUIRE(b.try_acquire(1, t0 + std::chrono::nanoseconds(i)));
        REQUIRE_FALSE(b.try_acquire(1, t0 + std::chrono::nanoseconds(i)));
      }
    }
    CHECK(b.time_until_available(1) >= 0ns);
  }
  SECTION("1e12 per second: a thousand per nanosecond, past the re-base horizon") {
    bucket b(1e12, 5000, tp{});
    for (std::int64_t base : {std::int64_t{0}, std::int64_t{1} << 44, std::int64_t{1} << 50}) {
      const tp t0 = tp{} + std::chrono::nanoseconds(base);
      CHECK(b.try_acquire(5000, t0));
      CHECK_FALSE(b.try_acquire(1, t0));
      CHECK(b.try_acquire(1000, t0 + 1ns));
      CHECK_FALSE(b.try_acquire(1, t0 + 1ns));
    }
  }
}

TEST_CASE("token_bucket unlimited grants everything", "[limit][token_bucket]") {
  auto b = bucket::unlimited();
  for (int i = 0; i < 100; ++i) CHECK(b.try_acquire(1'000'000));
  CHECK(b.reserve(5).delay == clock_t_::duration::zero());
  CHECK(b.time_until_available(1'000'000) == clock_t_::duration::zero());
  CHECK(std::isinf(b.rate()));
}

TEST_CASE("token_bucket acquire blocks only as long as needed", "[limit][token_bucket]") {
  surge::token_bucket<> b(1e9, 10);  // steady_clock; refills within nanoseconds
  for (int i = 0; i < 100; ++i) CHECK_NOTHROW(b.acquire(5));
  CHECK_NOTHROW(b.acquire());
  CHECK_NOTHROW(b.acquire(10));
}

TEST_CASE("token_bucket acquire of more than burst throws and takes nothing", "[limit][token_bucket]") {
  bucket b(10.0, 3, tp{});
  clock_t_::reset();
  CHECK_THROWS_AS(b.acquire(4), std::invalid_argument);
  CHECK_THROWS_WITH(b.acquire(4), Catch::Matchers::Contains("n = 4") && Catch::Matchers::Contains("burst = 3"));
  CHECK(b.tokens(tp{}) == Approx(3.0));  // nothing taken
  CHECK_NOTHROW(b.acquire(3));           // full at this instant: no wait
  CHECK(b.tokens(tp{}) == Approx(0.0));
  b.set_burst(2, tp{});
  CHECK_THROWS_WITH(b.acquire(3), Catch::Matchers::Contains("n = 3") && Catch::Matchers::Contains("burst = 2"));
}

namespace {

// x/time/rate's Limiter, literally (tokens, last, lastEvent), in the same
// integer token units as surge: one unit of time refills one unit of tokens.
struct xrate_model {
  std::int64_t burst_u, token_u;
  std::int64_t tokens, last = 0, last_event = 0;
  std::size_t burst;
  xrate_model(std::size_t b, std::int64_t tok)
      : burst_u(static_cast<std::int64_t>(b) * tok), token_u(tok), tokens(burst_u), burst(b) {}
  std::int64_t advance(std::int64_t t) const {
    const std::int64_t l = std::min(last, t);
    return std::min(burst_u, tokens + (t - l));
  }
  struct res {  // a Reservation
    bool ok;
    std::size_t n;
    std::int64_t act;
  };
  res reserve(std::int64_t t, std::size_t n, std::int64_t max_wait) {
    std::int64_t tok = advance(t) - static_cast<std::int64_t>(n) * token_u;
    const std::int64_t wait = tok < 0 ? -tok : 0;
    const bool ok = n <= burst && wait <= max_wait;
    if (!ok) return {false, 0, 0};
    last = t;
    tokens = tok;
    last_event = t + wait;
    return {true, n, t + wait};
  }
  void cancel(const res& r, std::int64_t t) {
    if (!r.ok || r.n == 0 || r.act < t) return;
    const std::int64_t restore = static_cast<std::int64_t>(r.n) * token_u - (last_event - r.act);
    if (restore <= 0) return;
    tokens = std::min(burst_u, advance(t) + restore);
    last = t;
    if (r.act == last_event) {
      const std::int64_t prev = r.act - static_cast<std::int64_t>(r.n) * token_u;
      if (prev >= t) last_event = prev;
    }
  }
};

}  // namespace

TEST_CASE("token_bucket equals x/time/rate's algorithm on random schedules", "[limit][token_bucket][model]") {
  std::mt19937_64 rng(42);
  for (double rate : {1.0, 3.0, 10.0, 7.5, 1000.0, 123456.789, 1e9}) {
    for (std::size_t burst : {std::size_t{1}, std::size_t{3}, std::size_t{10}}) {
      INFO("rate " << rate << " burst " << burst);
      bucket b(rate, burst, tp{});
      const surge::detail::rate_units u = surge::detail::rate_units::make(rate, burst);
      xrate_model m(burst, u.token());
      std::int64_t now = 0;
      const auto step_ns = static_cast<std::int64_t>(2e9 / rate) + 1;
      std::vector<std::pair<bucket::reservation, xrate_model::res>> pending;
      for (int i = 0; i < 4000; ++i) {
        now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(step_ns));
        const tp at = tp{} + std::chrono::nanoseconds(now);
        const std::int64_t now_u = u.units(now);
        const std::size_t n = rng() % (burst + 2);
        switch (rng() % 4) {
          case 0:
          case 1: {
            const bool ok = b.try_acquire(n, at);
            REQUIRE(ok == m.reserve(now_u, n, 0).ok);
            break;
          }
          case 2: {
            auto r = b.reserve(n, clock_t_::duration::max(), at);
            auto mr = m.reserve(now_u, n, std::numeric_limits<std::int64_t>::max());
            REQUIRE(r.ok() == mr.ok);
            if (mr.ok) {
              REQUIRE(r.time_to_act == (mr.act <= now_u ? at : tp{} + std::chrono::nanoseconds(u.ns_at(mr.act))));
              pending.emplace_back(std::move(r), mr);
            }
            break;
          }
          default:  // cancel the latest reservation (x/time/rate's lastEvent case)
            if (!pending.empty() && rng() % 2 == 0) {
              if (pending.back().first.time_to_act >= at) m.cancel(pending.back().second, now_u);
              b.cancel(pending.back().first, at);
            }
            pending.clear();
        }
        REQUIRE(b.tokens(at) == Approx(std::ldexp(static_cast<double>(m.advance(now_u)), -static_cast<int>(u.f))));
      }
    }
  }
}

TEST_CASE("token_bucket properties over random arrival schedules", "[limit][token_bucket][property]") {
  std::mt19937_64 rng(99);
  for (double rate : {10.0, 333.0, 1e6}) {
    for (std::size_t burst : {std::size_t{1}, std::size_t{4}, std::size_t{50}}) {
      INFO("rate " << rate << " burst " << burst);
      const double per_ns = rate / 1e9;
      bucket b(rate, burst, tp{});
      std::vector<std::int64_t> admitted;
      std::int64_t now = 0;
      const auto mean_gap = static_cast<std::uint64_t>(1e9 / rate / 2) + 1;
      for (int i = 0; i < 5000; ++i) {
        now += static_cast<std::int64_t>(rng() % (2 * mean_gap)) * ((rng() % 8) == 0 ? 0 : 1);
        if (b.try_acquire(1, tp{} + std::chrono::nanoseconds(now))) admitted.push_back(now);
      }
      // in any window [a, a + w]: admitted <= burst + rate * w
      for (std::size_t i = 0; i < admitted.size(); ++i) {
        for (std::size_t j = i; j < admitted.size() && j < i + 200; ++j) {
          const double w = static_cast<double>(admitted[j] - admitted[i]);
          REQUIRE(static_cast<double>(j - i + 1) <= static_cast<double>(burst) + per_ns * w + 1e-9);
        }
      }
      // a caller that always waits as told is never rejected
      bucket c(rate, burst, tp{});
      std::int64_t tnow = 0;
      for (int i = 0; i < 2000; ++i) {
        tnow += static_cast<std::int64_t>(rng() % mean_gap);
        const std::size_t n = 1 + rng() % burst;
        const auto wait = c.time_until_available(n, tp{} + std::chrono::nanoseconds(tnow));
        tnow += wait.count();
        REQUIRE(c.try_acquire(n, tp{} + std::chrono::nanoseconds(tnow)));
      }
      // and one that reserves, then acts at time_to_act, holds its tokens then
      bucket e(rate, burst, tp{});
      tnow = 0;
      for (int i = 0; i < 2000; ++i) {
        tnow += static_cast<std::int64_t>(rng() % mean_gap);
        auto r = e.reserve(1 + rng() % burst, clock_t_::duration::max(), tp{} + std::chrono::nanoseconds(tnow));
        REQUIRE(r.ok());
        REQUIRE(e.tokens(r.time_to_act) >= -1e-9);
      }
    }
  }
}

TEST_CASE("token_bucket: threads hammering one bucket admit what one thread would",
          "[limit][token_bucket][concurrency]") {
  // In each phase every thread tries until refused at that reading: the total
  // must equal what the single-threaded reference admits at the same reading.
  using cl = surge_test::manual_clock<struct hammer_tag>;
  for (unsigned threads : {2u, 4u, 8u}) {
    INFO(threads << " threads");
    cl::reset();
    surge::token_bucket<cl> shared(1000, 20, cl::time_point{});
    surge::token_bucket<cl> reference(1000, 20, cl::time_point{});
    std::mt19937 rng(threads);
    limit_test::run_phases(
        threads, 200,
        [&] {
          long mine = 0;
          while (shared.try_acquire()) ++mine;
          return mine;
        },
        [&](int) {
          cl::advance(std::chrono::microseconds(rng() % 30'000));
          long n = 0;
          while (reference.try_acquire()) ++n;
          return n;
        });
  }
}

TEST_CASE("token_bucket: concurrent set_rate keeps the hot path consistent", "[limit][token_bucket][concurrency]") {
  using cl = surge_test::manual_clock<struct reconfig_tag>;
  cl::reset();
  surge::token_bucket<cl> b(1000, 10, cl::time_point{});
  std::atomic<bool> stop{false};
  std::atomic<long> admitted{0};
  std::thread worker([&] {
    while (!stop.load(std::memory_order_acquire))
      if (b.try_acquire()) admitted.fetch_add(1, std::memory_order_relaxed);
  });
  for (int i = 0; i < 2000; ++i) {
    cl::advance(1ms);
    b.set_rate(i % 2 ? 1000.0 : 500.0);
    if (i % 7 == 0) b.set_burst(10);
  }
  stop.store(true, std::memory_order_release);
  worker.join();
  // 2 s at <= 1000/s plus the burst (and the bursts re-granted: none, tokens are kept)
  CHECK(admitted.load() <= 10 + 2000);
}

// ---- hardening: cancel once, clocks at their limits, reconfiguration stamps ----

TEST_CASE("token_bucket cancel is applied once per reservation", "[limit][token_bucket]") {
  static_assert(!std::is_copy_constructible_v<bucket::reservation>, "a reservation is one object: move-only");
  static_assert(std::is_nothrow_move_constructible_v<bucket::reservation>);
  bucket b(1.0, 10, tp{});
  auto r = b.reserve(10, clock_t_::duration::max(), t(0));
  REQUIRE(r.ok());
  CHECK(r.delay == clock_t_::duration::zero());
  b.cancel(r, t(0));
  CHECK(r.cancelled);
  CHECK(b.try_acquire(10, t(0)));  // the 10 cancelled tokens are back
  b.cancel(r, t(0));               // again: nothing (before: 10 more tokens)
  CHECK_FALSE(b.try_acquire(1, t(0)));
  CHECK(b.tokens(t(0)) == Approx(0));

  SECTION("a moved-from reservation is empty") {
    auto r2 = b.reserve(1, clock_t_::duration::max(), t(0));
    REQUIRE(r2.ok());
    auto r3 = std::move(r2);
    CHECK_FALSE(r2.ok());  // NOLINT(bugprone-use-after-move): documented state
    CHECK(r2.tokens == 0);
    CHECK(r2.delay == clock_t_::duration::max());  // as every reservation not granted
    CHECK(r2.time_to_act == tp{});
    const bucket::reservation none;
    CHECK_FALSE(none.ok());
    CHECK(none.delay == clock_t_::duration::max());
    b.cancel(r2, t(0));  // nothing
    CHECK(b.tokens(t(0)) == Approx(-1));
    b.cancel(r3, t(0));
    CHECK(b.tokens(t(0)) == Approx(0));
  }
}

TEST_CASE("token_bucket cancel across the bucket's re-base of its epoch restores nothing", "[limit][token_bucket]") {
  // 1024/s: a unit is 2^-30 s, so readings re-base 2^53 units = 2^23 s after
  // the construction time
  const tp rebase_point = tp{} + std::chrono::duration_cast<clock_t_::duration>(std::chrono::seconds(1 << 23));
  for (const bool across : {false, true}) {
    bucket b(1024, 10, tp{});
    const tp at = rebase_point - 2ms;
    REQUIRE(b.try_acquire(10, at));
    auto r = b.reserve(5, clock_t_::duration::max(), at);  // 4.9 ms of debt: acts after the re-base point
    REQUIRE(r.ok());
    REQUIRE(r.time_to_act > rebase_point);
    const tp later = across ? rebase_point + 1ms : rebase_point - 1ms;
    CHECK_FALSE(b.try_acquire(1, later));  // past the point: this call re-bases
    b.cancel(r, later);
    CHECK(b.tokens(later) == Approx(across ? -5.0 + 3.072 : 1.024).margin(1e-6));  // 1 or 3 ms refilled
  }
}

namespace {

using surge_test::seconds_clock;

template <class Clock>
void exercise_token_bucket_at(typename Clock::time_point built, typename Clock::time_point at) {
  using tb = surge::token_bucket<Clock>;
  using dur = typename Clock::duration;
  tb b(1000.0, 10, built);
  (void)b.tokens(at);
  (void)b.full(at);
  const dur wait = b.time_until_available(1, at);
  CHECK(wait >= dur::zero());
  // a fresh bucket is full at any reading, earlier than construction too
  // (nothing credited, nothing taken away); then 10 more tokens take 10 ms
  CHECK(b.try_acquire(10, at));
  auto r = b.reserve(10, dur::max(), at);
  CHECK(r.ok());
  CHECK(r.time_to_act >= at);  // saturated, never wrapped around
  CHECK(r.delay >= dur::zero());
  (void)b.time_until_available(10, at);
  b.cancel(r, at);
  (void)b.reserve(1, dur::zero(), at);
  auto s = tb::initial_state();
  (void)b.try_acquire_state(s, 3, at);
  (void)b.time_until_available_state(s, 10, at);
  (void)b.full_state(s, at);
  b.set_rate(5.0, at);
  b.set_burst(20, at);
  (void)b.try_acquire(1, at);
  (void)b.tokens(at);
}

}  // namespace

TEST_CASE("token_bucket: a fresh bucket is full at any reading before its construction", "[limit][token_bucket]") {
  // the bucket starts full; a reading before its construction time credits
  // nothing, and takes nothing away either (x/time/rate: a new Limiter is full
  // at any time). 2^54 units are ~208 days at 1/s.
  const tp built = tp{} + std::chrono::hours(24 * 365 * 50);
  for (const auto back : {std::chrono::hours(24 * 150), std::chrono::hours(24 * 300), std::chrono::hours(24 * 365 * 50),
                          std::chrono::hours(24 * 365 * 200)}) {
    INFO("reading " << back.count() / 24 << " days before construction");
    const tp at = built - back;
    bucket b(1.0, 10, built);
    CHECK(b.full(at));
    CHECK(b.tokens(at) == 10.0);
    CHECK(b.time_until_available(10, at) == clock_t_::duration::zero());
    CHECK(b.full_state(bucket::initial_state(), at));
    CHECK(b.time_until_available_state(bucket::initial_state(), 10, at) == clock_t_::duration::zero());
    auto s = bucket::initial_state();
    CHECK(b.try_acquire_state(s, 10, at));
    CHECK_FALSE(b.try_acquire_state(s, 1, at));
    bucket r(1.0, 10, built);
    r.set_rate(2.0, built);  // a full bucket reconfigured stays full at any reading
    CHECK(r.full(at));
    CHECK(r.tokens(at) == 10.0);
    CHECK(b.try_acquire(10, at));  // re-bases at the early reading: full there
    CHECK_FALSE(b.try_acquire(1, at));
  }
  bucket b(1.0, 10, built);
  CHECK(b.full(tp::min()));
  CHECK(b.full_state(bucket::initial_state(), tp::min()));
  CHECK(b.try_acquire(10, tp::min()));
  CHECK_FALSE(b.try_acquire(1, tp::min()));
}

TEST_CASE("token_bucket per-key state: readings any distance apart decide exactly", "[limit][token_bucket][horizon]") {
  using limit_test::i128;
  using limit_test::token_ns;
  // the exact model, in 128-bit nanoseconds (GCRA: the TAT and the burst)
  struct model {
    std::int64_t burst;
    bool fresh = true;
    i128 tat = 0;
    i128 base(std::int64_t t) const { return fresh ? i128{t} : std::max<i128>(tat, t); }
    bool try_acquire(std::int64_t n, std::int64_t t) {
      const i128 next = base(t) + n * token_ns;
      if (next - t > burst * token_ns) return false;
      fresh = false;
      tat = next;
      return true;
    }
    std::int64_t wait(std::int64_t n, std::int64_t t) const {
      if (n > burst) return std::numeric_limits<std::int64_t>::max();  // never
      const i128 act = base(t) + (n - burst) * token_ns;
      return act <= t ? 0 : static_cast<std::int64_t>(act - t);
    }
    bool full(std::int64_t t) const { return fresh || tat <= t; }
  };
  std::mt19937_64 rng(13);
  limit_test::for_far_starts([&](std::int64_t built, std::int64_t first) {
    for (std::int64_t burst : {1, 4, 50}) {
      INFO("built " << built << " first reading " << first << " burst " << burst);
      const bucket b(limit_test::unit_ns_rate, static_cast<std::size_t>(burst), tp{} + clock_t_::duration(built));
      auto s = bucket::initial_state();
      model m{burst};
      std::size_t admitted = 0;
      limit_test::walk(rng, first, [&](std::int64_t t) {
        const tp at = tp{} + clock_t_::duration(t);
        const auto n = static_cast<std::int64_t>(rng() % 3);
        REQUIRE(b.full_state(s, at) == m.full(t));
        REQUIRE(b.time_until_available_state(s, static_cast<std::size_t>(n), at).count() == m.wait(n, t));
        const bool ok = m.try_acquire(n, t);
        REQUIRE(b.try_acquire_state(s, static_cast<std::size_t>(n), at) == ok);
        admitted += ok;
      });
      CHECK(admitted > 100);
    }
  });
}

TEST_CASE("token_bucket at the limits of the clock saturates (no overflow)", "[limit][token_bucket]") {
  using ns_tp = tp;
  const ns_tp lo = ns_tp::min(), hi = ns_tp::max(), zero{};
  exercise_token_bucket_at<clock_t_>(zero, hi);
  exercise_token_bucket_at<clock_t_>(lo, hi);  // 584 years apart
  exercise_token_bucket_at<clock_t_>(hi, lo);
  exercise_token_bucket_at<clock_t_>(hi, hi);
  exercise_token_bucket_at<clock_t_>(lo, lo);
  exercise_token_bucket_at<clock_t_>(hi - 1ns, hi);

  using st = seconds_clock::time_point;
  exercise_token_bucket_at<seconds_clock>(st{}, st::max());
  exercise_token_bucket_at<seconds_clock>(st::min(), st::max());
  exercise_token_bucket_at<seconds_clock>(st::max(), st::min());

  SECTION("a reservation near the end of time acts at time_point::max()") {
    bucket b(1.0, 10, hi - 5s);
    REQUIRE(b.try_acquire(10, hi - 5s));
    auto r = b.reserve(10, clock_t_::duration::max(), hi - 5s);
    REQUIRE(r.ok());
    CHECK(r.time_to_act == hi);
    CHECK(b.time_until_available(10, hi - 5s) > 5s);
  }
  SECTION("after a reading 584 years later the bucket is full, then limits again") {
    bucket b(1.0, 3, lo);
    CHECK(b.try_acquire(3, lo));
    CHECK_FALSE(b.try_acquire(1, lo));
    CHECK(b.try_acquire(3, hi));
    CHECK_FALSE(b.try_acquire(1, hi));
    CHECK(b.time_until_available(1, hi) == 1s);
  }
}

TEST_CASE("token_bucket survives more than 256 reconfigurations", "[limit][token_bucket]") {
  SECTION("a reservation made 256 reconfigurations ago is not cancelled under them") {
    bucket b(1.0, 10, tp{});
    auto r = b.reserve(5, clock_t_::duration::max(), t(0));
    REQUIRE(r.ok());
    for (int i = 0; i < 256; ++i) b.set_rate(1.0, t(0));  // the 8-bit generation comes back round
    b.cancel(r, t(0));
    CHECK(b.tokens(t(0)) == Approx(5));  // before: the stale cancel gave the 5 back
  }
  SECTION("300 reconfigurations keep the tokens and apply the last configuration") {
    bucket b(1.0, 1000, tp{});
    REQUIRE(b.try_acquire(400, t(0)));
    double rate = 1.0;
    std::size_t burst = 1000;
    for (int i = 0; i < 300; ++i) {
      if (i % 2 == 0) {
        rate = (i % 3 == 0) ? 1e9 : (i % 3 == 1 ? 7.0 : 1.0);
        b.set_rate(rate, t(0));
      } else {
        burst = 1000 + static_cast<std::size_t>(i % 5);
        b.set_burst(burst, t(0));
      }
      INFO("reconfiguration " << i);
      REQUIRE(b.tokens(t(0)) == Approx(600).margin(1e-6));
      REQUIRE(b.rate() == rate);
      REQUIRE(b.burst() == burst);
    }
    // the last configuration governs: 7 tokens per second, burst 1004
    CHECK(b.try_acquire(600, t(0)));
    CHECK_FALSE(b.try_acquire(1, t(0)));
    CHECK(b.time_until_available(7, t(0)) == std::chrono::seconds(1));
  }
}

TEST_CASE("token_bucket observers never see a mixed configuration", "[limit][token_bucket][concurrency]") {
  // the configuration alternates between (rate 1, burst 1) and (rate 1e9,
  // burst 1000) at a fixed instant; every configuration keeps at least one
  // token, so an observer must see tokens in [1, 1000], no wait for one
  // token, and a rate/burst pair that exists
  using clk = surge_test::manual_clock<struct token_bucket_observer_tag>;
  using tb = surge::token_bucket<clk>;
  clk::reset();
  tb b(1.0, 1, clk::time_point{});
  const clk::time_point at{};
  constexpr int reconfigurations = 4000;
  std::atomic<bool> done{false};
  std::atomic<long> bad{0}, reads{0};
  auto observer = [&] {
    auto s = tb::initial_state();
    while (!done.load(std::memory_order_acquire)) {
      const double tok = b.tokens(at);
      if (!(tok >= 1.0 && tok <= 1000.0)) bad.fetch_add(1);
      if (b.time_until_available(1, at) != clk::duration::zero()) bad.fetch_add(1);
      const std::size_t burst = b.burst();
      if (burst != 1 && burst != 1000) bad.fetch_add(1);
      const double rate = b.rate();
      if (rate != 1.0 && rate != 1e9) bad.fetch_add(1);
      if (b.time_until_available_state(s, 1, at) != clk::duration::zero()) bad.fetch_add(1);
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread o1(observer), o2(observer);
  // The observers may not be scheduled before the loop below ends (one busy
  // core): wait for a first read, so they overlap it and `reads > 0` holds.
  while (reads.load() == 0) std::this_thread::yield();
  for (int i = 0; i < reconfigurations; ++i) {
    b.set_rate(1e9, at);
    b.set_burst(1000, at);
    b.set_rate(1.0, at);
    b.set_burst(1, at);
  }
  done.store(true, std::memory_order_release);
  o1.join();
  o2.join();
  CHECK(bad.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(b.tokens(at) == Approx(1));
}

// ---- reservation internals --------------------------------------------------

namespace {
template <class R>
concept shows_internals = requires(R r) {
  r.generation;
}
|| requires(R r) { r.tat_after; }
|| requires(R r) { r.generation_; }
|| requires(R r) { r.tat_after_; };
}  // namespace

TEST_CASE("token_bucket::reservation keeps its internals private", "[limit][token_bucket]") {
  static_assert(!shows_internals<bucket::reservation>, "only status, tokens, time_to_act, delay, cancelled are public");
  bucket b(1.0, 10, tp{});
  auto r = b.reserve(4, clock_t_::duration::max(), t(0));
  REQUIRE(r.ok());
  auto moved = std::move(r);  // the internals travel with the move: cancel still works
  CHECK_FALSE(r.ok());
  b.cancel(moved, t(0));
  CHECK(moved.cancelled);
  CHECK(b.tokens(t(0)) == Approx(10));
}

// ---- a call stalled across reconfigurations: grace periods -----------------

namespace {
using stall_clock = surge_test::manual_clock<struct stalled_cas_tag>;
using stall_bucket = surge::token_bucket<stall_clock>;
}  // namespace

namespace surge::detail {

/// The bucket's test hooks for stall_bucket: `stall` runs once, inside the
/// next try_acquire that decided to admit, right before its CAS; `quiescing`
/// runs while a reconfiguration waits for a call on another thread; `raising`
/// runs once, inside the next admitted call that is about to raise the latest
/// reading to its own; `admitted` runs once, inside the next try_acquire,
/// right after the CAS that admitted it.
template <>
struct token_bucket_hooks<stall_bucket> {
  static inline std::function<void()> stall;
  static inline std::function<void()> quiescing;
  static inline std::function<void()> raising;
  static inline std::function<void()> admitted;
  static void before_cas(stall_bucket&) noexcept {
    if (auto f = std::exchange(stall, nullptr)) f();
  }
  static void after_cas(stall_bucket&) noexcept {
    if (auto f = std::exchange(admitted, nullptr)) f();
  }
  static void while_quiescing(stall_bucket&) noexcept {
    if (quiescing) quiescing();
  }
  static void before_latest(stall_bucket&) noexcept {
    if (auto f = std::exchange(raising, nullptr)) f();
  }
};

}  // namespace surge::detail

// This file is also built with SURGE_DETAIL_NO_MEMBARRIER (surge_tests_limit_fenced):
// every test then runs with the readers' fallback of a system without membarrier.
TEST_CASE("token_bucket: read sections take a fence on entry exactly when there is no process-wide barrier",
          "[limit][token_bucket]") {
  const bool fenced = surge::detail::read_sections::mine().fenced;
#if defined(SURGE_DETAIL_NO_MEMBARRIER) || !defined(__linux__)
  CHECK(fenced);
#else
  // Linux: membarrier, unless the kernel or a sandbox refuses it
  const long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);
  const bool offered = cmds > 0 && (cmds & (MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_GLOBAL)) != 0;
  if (offered) CHECK_FALSE(fenced);
#endif
}

TEST_CASE("token_bucket: a call stalled across 256 reconfigurations decides under the current configuration",
          "[limit][token_bucket][concurrency]") {
  // The word holds 8 bits of the generation. Here a try_acquire on thread A
  // reads the word and the configuration, decides to admit and stalls before
  // its CAS, while the main thread makes 256 reconfigurations that bring the
  // word back bit for bit (the bucket is in debt, every set_rate is made at
  // the epoch with rates of the same unit size): to 1000/s at the 128th and
  // the 256th, to 1800/s otherwise. At 1800/s, 1.5 ms after t0 there are 2.7
  // tokens' worth of time for a debt of 2, so A's token passes; at 1000/s it
  // would not. Without grace periods A's CAS would succeed after the 256th
  // and commit what it computed at 1800/s. With them, the 128th waits for A
  // (the hook lets A go then), A's CAS fails, and A decides again at 1000/s:
  // the outcome of the calls in that order on one thread (the model below).
  surge_test::watchdog dog("token_bucket stalled call");
  using hooks = surge::detail::token_bucket_hooks<stall_bucket>;
  using stp = stall_clock::time_point;
  const stp t0{};
  const stp at = t0 + std::chrono::microseconds(1500);
  const auto in_debt = [&](stall_bucket& b) {
    REQUIRE(b.reserve(1, stall_clock::duration::max(), t0).ok());
    REQUIRE(b.reserve(1, stall_clock::duration::max(), t0).ok());  // one token in debt
  };
  stall_bucket b(1800.0, 1, t0);
  in_debt(b);

  std::atomic<int> phase{0};  // 1: A stalled before its CAS; 2: A may go on
  std::atomic<int> waits{0};
  int reconfigured_when_a_went = -1;
  int reconfigured = 0;
  hooks::stall = [&] {
    phase.store(1);
    phase.notify_all();
    phase.wait(1);
  };
  hooks::quiescing = [&] {
    if (waits.fetch_add(1) == 0) {
      reconfigured_when_a_went = reconfigured;
      phase.store(2);
      phase.notify_all();
    }
  };
  bool admitted = false;
  std::thread a([&] { admitted = b.try_acquire(1, at); });
  const auto rate_of = [](int i) { return i % 128 == 127 ? 1000.0 : 1800.0; };
  phase.wait(0);
  for (; reconfigured < 256; ++reconfigured) b.set_rate(rate_of(reconfigured), t0);
  if (phase.exchange(2) != 2) phase.notify_all();  // without grace periods A is still stalled
  a.join();
  hooks::quiescing = nullptr;
  CHECK(waits.load() >= 1);                // a reconfiguration waited for A
  CHECK(reconfigured_when_a_went == 127);  // set_rate number 128 (counting from 1) was under way

  stall_bucket m(1800.0, 1, t0);  // the model: the same calls in that order on one thread
  in_debt(m);
  for (int i = 0; i < 128; ++i) m.set_rate(rate_of(i), t0);
  CHECK_FALSE(m.try_acquire(1, at));
  for (int i = 128; i < 256; ++i) m.set_rate(rate_of(i), t0);
  CHECK_FALSE(admitted);
  CHECK(b.tokens(at) == m.tokens(at));
  CHECK(b.tokens(at) == Approx(0.5).margin(1e-6));
  CHECK(b.rate() == 1000.0);
}

TEST_CASE("token_bucket: a call admitted at an older reading never lowers the latest one",
          "[limit][token_bucket]") {
  // A, admitted at 0.5 s, is about to record its reading as the latest when
  // a set_rate at 1 s records 1 s. A must not then put 0.5 s back: a second
  // set_rate at 0.9 s, judged at it instead of at 1 s, re-expressed the
  // state from 0.9 s and counted 0.9 s to 1 s again at the new rate (at
  // 1000/s the bucket was full at 1 s, where 1.5 tokens were left). The
  // interleaving is played in order: the first set_rate runs, on a thread
  // of its own (read sections do not nest), inside A's hook, which waits for
  // it.
  using hooks = surge::detail::token_bucket_hooks<stall_bucket>;
  using stp = stall_clock::time_point;
  const stp t0{};
  stall_bucket b(1.0, 2, t0);
  hooks::raising = [&] { std::thread([&] { b.set_rate(1.0, t0 + 1s); }).join(); };
  CHECK(b.try_acquire(1, t0 + 500ms));  // A, and the first set_rate inside it
  CHECK(b.tokens(t0 + 1s) == Approx(1.5).margin(1e-6));
  b.set_rate(1000.0, t0 + 900ms);  // older than the first set_rate's reading: judged at 1 s
  CHECK(b.tokens(t0 + 1s) == Approx(1.5).margin(1e-6));
  CHECK(b.try_acquire(1, t0 + 1s));
  CHECK_FALSE(b.try_acquire(1, t0 + 1s));
  CHECK(b.time_until_available(1, t0 + 1s) == 500us);
}

TEST_CASE("token_bucket: a set_rate right after a later reading's admission is judged at that reading",
          "[limit][token_bucket]") {
  // A is admitted at 1 s; right after its CAS, before it has done anything
  // else, a set_rate at 0.9 s runs (on another thread: read sections do not
  // nest). It comes after A's admission, so it is judged at 1 s: one token
  // left. Recorded only after A's CAS, A's reading was not there yet, and
  // the set_rate, judged at 0.9 s, counted 0.9 s to 1 s again at 1000/s:
  // the bucket was full at 1 s.
  using hooks = surge::detail::token_bucket_hooks<stall_bucket>;
  using stp = stall_clock::time_point;
  const stp t0{};
  stall_bucket b(1.0, 2, t0);
  hooks::admitted = [&] { std::thread([&] { b.set_rate(1000.0, t0 + 900ms); }).join(); };
  CHECK(b.try_acquire(1, t0 + 1s));
  CHECK(b.rate() == 1000.0);
  CHECK(b.tokens(t0 + 1s) == Approx(1.0).margin(1e-6));
  CHECK(b.try_acquire(1, t0 + 1s));
  CHECK_FALSE(b.try_acquire(1, t0 + 1s));
}

TEST_CASE("token_bucket: re-bases on several threads during reconfigurations finish",
          "[limit][token_bucket][concurrency]") {
  // Every call below leaves the re-base horizon (readings 2^50 ns apart at
  // 10^12 tokens per second), so each re-bases: a reconfiguration from inside
  // a call, which must not wait for the other thread's call while that one
  // waits for it; meanwhile set_rate passes grace periods. The test passes
  // when it ends (a deadlock trips the watchdog) with every call answered.
  surge_test::watchdog dog("token_bucket re-bases during reconfigurations");
  using cl = surge_test::manual_clock<struct rebase_race_tag>;
  surge::token_bucket<cl> b(1e12, 5000, cl::time_point{});
  std::atomic<long> answered{0};
  const auto caller = [&](int parity) {
    for (int i = 0; i < 2000; ++i) {
      const auto at = cl::time_point{} + std::chrono::nanoseconds(((i + parity) % 2) * (std::int64_t{1} << 50));
      (void)b.try_acquire(1, at);
      answered.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread one(caller, 0), two(caller, 1);
  for (int i = 0; i < 1000; ++i) b.set_rate(i % 2 ? 1e12 : 5e11, cl::time_point{});
  one.join();
  two.join();
  CHECK(answered.load() == 4000);
  CHECK(b.rate() == 1e12);  // the last set_rate
}
