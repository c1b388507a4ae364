#include <surge/detail/saturate.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <thread>
#include <vector>

#include "surge_test.hpp"

using namespace std::chrono_literals;
using surge::detail::from_ns_ceil;
using surge::detail::to_ns_sat;

namespace {
constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
using ticks1024 = std::chrono::duration<std::int64_t, std::ratio<1, 1024>>;  // multiplies before it divides
}  // namespace

TEST_CASE("to_ns_sat: exact where the value fits, saturated beyond, NaN 0", "[detail][saturate]") {
  CHECK(to_ns_sat(5ns) == 5);
  CHECK(to_ns_sat(3s) == 3'000'000'000);
  CHECK(to_ns_sat(std::chrono::hours::max()) == i64_max);
  CHECK(to_ns_sat(std::chrono::hours::min()) == i64_min);
  CHECK(to_ns_sat(ticks1024(1)) == 976'562);  // 976562.5 ns, truncated
  CHECK(to_ns_sat(ticks1024(-1)) == -976'562);
  // 6e12 ticks: 6e12 * 1953125 overflowed int64 inside duration_cast
  CHECK(to_ns_sat(ticks1024(6'000'000'000'000)) == 5'859'375'000'000'000'000);
  CHECK(to_ns_sat(ticks1024(-6'000'000'000'000)) == -5'859'375'000'000'000'000);
  CHECK(to_ns_sat(ticks1024::max()) == i64_max);
  // through the double (the cast overflows on the way) up to 2^63 too: 9.21e18
  // ns, and the largest double below 2^63, saturated to INT64_MAX before
  CHECK(to_ns_sat(ticks1024(9'431'040'000'000)) == 9'210'000'000'000'000'000);
  CHECK(to_ns_sat(ticks1024(-9'431'040'000'000)) == -9'210'000'000'000'000'000);
  CHECK(to_ns_sat(std::chrono::duration<double, std::nano>(0x1.fffffffffffffp62)) == 9'223'372'036'854'774'784);
  CHECK(to_ns_sat(std::chrono::duration<double, std::nano>(-0x1.0p63)) == i64_min);
  CHECK(to_ns_sat(std::chrono::duration<double, std::nano>(0x1.0p63)) == i64_max);
  CHECK(to_ns_sat(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())) == 0);
  CHECK(to_ns_sat(std::chrono::duration<double>(1e300)) == i64_max);
  CHECK(to_ns_sat(std::chrono::duration<double>(1.5)) == 1'500'000'000);
  // exact up to the int64 limit (before: saturated from 9.2e18 ns on)
  CHECK(to_ns_sat(std::chrono::microseconds(9'210'000'000'000'000)) == 9'210'000'000'000'000'000);
  CHECK(to_ns_sat(std::chrono::seconds(9'220'000'000)) == 9'220'000'000'000'000'000);
  CHECK(to_ns_sat(std::chrono::duration<long long, std::nano>(i64_max - 1)) == i64_max - 1);
  CHECK(to_ns_sat(std::chrono::duration<long long, std::nano>(-i64_max)) == -i64_max);
  // an unsigned count above INT64_MAX saturates (it must not read as negative)
  CHECK(to_ns_sat(std::chrono::duration<std::uint64_t, std::nano>(std::numeric_limits<std::uint64_t>::max())) ==
        i64_max);
  CHECK(to_ns_sat(std::chrono::duration<std::uint64_t, std::micro>(5)) == 5'000);
}

TEST_CASE("from_ns_ceil: rounded up to the tick, saturated, never early", "[detail][saturate]") {
  CHECK(from_ns_ceil<std::chrono::microseconds>(1) == 1us);
  CHECK(from_ns_ceil<std::chrono::microseconds>(1000) == 1us);
  CHECK(from_ns_ceil<std::chrono::microseconds>(0) == 0us);
  CHECK(from_ns_ceil<std::chrono::microseconds>(-5) == 0us);
  CHECK(from_ns_ceil<std::chrono::duration<std::int64_t, std::pico>>(i64_max) ==
        std::chrono::duration<std::int64_t, std::pico>::max());
  CHECK(from_ns_ceil<ticks1024>(976'562) == ticks1024(1));  // 0.9999995 tick, rounded up
  CHECK(from_ns_ceil<ticks1024>(976'563) == ticks1024(2));  // just past one tick
  // 1e17 ns: 1e17 * 128 overflowed int64 inside the cast
  CHECK(from_ns_ceil<ticks1024>(100'000'000'000'000'000) == ticks1024(102'400'000'000));
  CHECK(from_ns_ceil<ticks1024>(100'000'000'000'000'001) == ticks1024(102'400'000'001));
  // a tick whose max() is 9.21e18 ns: beyond it, max() (before: the cast overflowed to a negative count)
  using coarse = std::chrono::duration<std::int32_t, std::ratio<4289, 1000>>;
  CHECK(from_ns_ceil<coarse>(9'215'000'000'000'000'000) == coarse::max());
  CHECK(from_ns_ceil<coarse>(4'289'000'000) == coarse(1));
}

TEST_CASE("to_ns_sat: exact for an integer count whose cast overflows; from_ns_ceil never wraps past max()",
          "[detail][saturate]") {
  // the cast multiplies first and overflows; the double it went through
  // instead rounded (to the nearest 2^10 ns), not truncated toward zero
  CHECK(to_ns_sat(ticks1024(9'431'040'000'001)) == 9'210'000'000'000'976'562);  // .5 truncated
  CHECK(to_ns_sat(ticks1024(-9'431'040'000'001)) == -9'210'000'000'000'976'562);
  using pico = std::chrono::duration<std::int64_t, std::pico>;
  CHECK(to_ns_sat(pico::min()) == -9'223'372'036'854'775);  // was -...776
  CHECK(to_ns_sat(pico::max()) == 9'223'372'036'854'775);
  using upico = std::chrono::duration<std::uint64_t, std::pico>;
  CHECK(to_ns_sat(upico::max()) == 18'446'744'073'709'551);
  // a tick of 2^33 / 3 ns on an int32: max() is 6148914688373205674.67 ns,
  // which the double rounded up to ...6016; a wait between the two came
  // out as max() + 1 ticks, wrapped to a negative count
  using wide_tick = std::chrono::duration<std::int32_t, std::ratio<16'777'216, 5'859'375>>;
  CHECK(to_ns_sat(wide_tick::max()) == 6'148'914'688'373'205'674);
  CHECK(to_ns_sat(wide_tick::min()) == -6'148'914'691'236'517'205);
  CHECK(from_ns_ceil<wide_tick>(6'148'914'688'373'205'675) == wide_tick::max());
  CHECK(from_ns_ceil<wide_tick>(6'148'914'688'373'206'015) == wide_tick::max());
  CHECK(from_ns_ceil<wide_tick>(6'148'914'685'509'894'144) == wide_tick::max() - wide_tick(1));
}

TEST_CASE("from_ns_ceil: an unsigned count of ticks finer than a nanosecond past INT64_MAX, without overflow",
          "[detail][saturate]") {
  // 1e16 ns is 1e19 ps: past INT64_MAX, below an unsigned max() of 1.8e19;
  // the quotient times the numerator overflowed a signed intermediate
  using upico = std::chrono::duration<std::uint64_t, std::pico>;
  CHECK(from_ns_ceil<upico>(10'000'000'000'000'000) == upico(10'000'000'000'000'000'000u));
  CHECK(from_ns_ceil<upico>(18'446'744'073'709'551) == upico::max());
  CHECK(from_ns_ceil<upico>(18'446'744'073'709'550) == upico(18'446'744'073'709'550'000u));
}

TEST_CASE("to_ns_sat: a 128-bit count saturates (its high bits were dropped)", "[detail][saturate]") {
#if defined(__SIZEOF_INT128__)
  __extension__ using i128 = __int128;
  __extension__ using u128 = unsigned __int128;
  using us128 = std::chrono::duration<i128, std::micro>;
  // 2^64 + 5 us read as 5 us, 2^70 us as 0
  CHECK(to_ns_sat(us128((i128{1} << 64) + 5)) == i64_max);
  CHECK(to_ns_sat(us128(i128{1} << 70)) == i64_max);
  CHECK(to_ns_sat(us128(-(i128{1} << 64) + 5)) == i64_min);
  CHECK(to_ns_sat(us128(7)) == 7'000);
  CHECK(to_ns_sat(std::chrono::duration<u128, std::micro>(u128{1} << 64)) == i64_max);
  CHECK(to_ns_sat(std::chrono::duration<i128, std::atto>(i128{1} << 70)) == 1'180'591'620'717);  // 2^70 as, in range
  using ns128 = std::chrono::duration<i128, std::nano>;
  CHECK((from_ns_ceil<ns128>(123) == ns128(123)));
#else
  SUCCEED("no 128-bit integers here");
#endif
}

TEST_CASE("elapsed_sat: saturated to the duration's range, an unsigned one included", "[detail][saturate]") {
  using surge::detail::elapsed_sat;
  using stp = std::chrono::time_point<std::chrono::steady_clock, std::chrono::nanoseconds>;
  CHECK(elapsed_sat(stp{1s}, stp{3s}) == 2s);
  CHECK(elapsed_sat(stp::min(), stp::max()) == std::chrono::nanoseconds::max());
  CHECK(elapsed_sat(stp::max(), stp::min()) == std::chrono::nanoseconds::min());
  using unsigned_ns = std::chrono::duration<std::uint64_t, std::nano>;
  using utp = std::chrono::time_point<std::chrono::steady_clock, unsigned_ns>;
  CHECK(elapsed_sat(utp{unsigned_ns{5}}, utp{unsigned_ns{9}}) == unsigned_ns{4});
  CHECK(elapsed_sat(utp{unsigned_ns{9}}, utp{unsigned_ns{5}}) == unsigned_ns{0});  // before: 0, not 2^64 - 4
  CHECK(elapsed_sat(utp::max(), utp::min()) == unsigned_ns{0});
  // a period written unreduced (1000/10^9 s): to - from has the reduced one,
  // and the two branches' types differed (it did not compile)
  using unsigned_us = std::chrono::duration<std::uint64_t, std::ratio<1000, 1'000'000'000>>;
  using uutp = std::chrono::time_point<std::chrono::steady_clock, unsigned_us>;
  CHECK(elapsed_sat(uutp{unsigned_us{5}}, uutp{unsigned_us{9}}) == unsigned_us{4});
  CHECK(elapsed_sat(uutp{unsigned_us{9}}, uutp{unsigned_us{5}}) == unsigned_us{0});
}

TEST_CASE("from_ns_ceil: a floating-point duration is never below the nanoseconds asked for", "[detail][saturate]") {
  // the nearest float to 20000001 us is 20000000 us: a wait rounded to it was early
  using float_us = std::chrono::duration<float, std::micro>;
  using double_ns = std::chrono::duration<double, std::nano>;
  using exact_ns = std::chrono::duration<long double, std::nano>;
  for (const std::int64_t ns : {std::int64_t{1}, std::int64_t{999}, std::int64_t{20'000'001'000},
                                std::int64_t{123'456'789'123}, (std::int64_t{1} << 53) + 1, std::int64_t{1} << 62}) {
    INFO(ns << " ns");
    const float_us f = from_ns_ceil<float_us>(ns);
    CHECK(exact_ns(f).count() >= static_cast<long double>(ns));
    CHECK(exact_ns(float_us(std::nextafter(f.count(), 0.0f))).count() <
          static_cast<long double>(ns));  // the least such
    const double_ns d = from_ns_ceil<double_ns>(ns);
    CHECK(exact_ns(d).count() >= static_cast<long double>(ns));
  }
}

TEST_CASE("count_add: exact below the limit, saturated at 2^64 - 1 on either path", "[detail][saturate]") {
  using surge::detail::count_add;
  using surge::detail::count_add_sat;
  constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
  CHECK(count_add_sat(2, 3) == 5);
  CHECK(count_add_sat(u64_max - 3, 3) == u64_max);
  CHECK(count_add_sat(u64_max - 3, 4) == u64_max);
  CHECK(count_add_sat(u64_max, u64_max) == u64_max);

  std::atomic<std::uint64_t> c{0};
  count_add(c, 1);
  count_add(c, std::uint64_t{1} << 32);  // the largest plain add
  CHECK(c.load() == (std::uint64_t{1} << 32) + 1);
  count_add(c, (std::uint64_t{1} << 32) + 1);  // compare-and-swap from here
  CHECK(c.load() == (std::uint64_t{1} << 33) + 2);
  c.store((std::uint64_t{1} << 63) - 1);  // the last value taking the plain add
  count_add(c, 1);
  CHECK(c.load() == std::uint64_t{1} << 63);
  count_add(c, std::uint64_t{1} << 63);  // exactly 2^64: saturated
  CHECK(c.load() == u64_max);
  count_add(c, 1);
  CHECK(c.load() == u64_max);
  c.store(u64_max - 5);
  count_add(c, u64_max);
  CHECK(c.load() == u64_max);
}

TEST_CASE("count_add: racing threads lose no count and never pass the limit", "[detail][saturate]") {
  using surge::detail::count_add;
  constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
  // below the limit: every add counted, a mix of plain adds and compare-and-swap
  std::atomic<std::uint64_t> c{0};
  constexpr int threads = 4, adds = 20'000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&c, t] {
      for (int i = 0; i < adds; ++i) count_add(c, t % 2 == 0 ? 1 : (std::uint64_t{1} << 40));
    });
  for (auto& t : ts) t.join();
  CHECK(c.load() == 2 * std::uint64_t{adds} + 2 * std::uint64_t{adds} * (std::uint64_t{1} << 40));
  // near it: readers never see a value below one already seen (a wrap would)
  c.store(u64_max - 1000);
  std::atomic<bool> wrapped{false};
  ts.clear();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&c, &wrapped] {
      std::uint64_t seen = 0;
      for (int i = 0; i < adds; ++i) {
        count_add(c, 1);
        const std::uint64_t now = c.load();
        if (now < seen) wrapped = true;
        seen = now;
      }
    });
  for (auto& t : ts) t.join();
  CHECK_FALSE(wrapped.load());
  CHECK(c.load() == u64_max);
}
