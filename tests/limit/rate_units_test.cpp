#include <surge/limit/detail/rate_units.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "surge_test.hpp"

using surge::detail::rate_units;

TEST_CASE("128-bit helpers agree with schoolbook arithmetic", "[detail][rate_units]") {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 10000; ++i) {
    const std::uint64_t a = rng(), b = rng() >> (rng() % 64);
    const auto p = surge::detail::mul_64x64(a, b);
    // check with 32-bit limbs
    const std::uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
    const std::uint64_t mid = (al * bl >> 32) + (al * bh & 0xffffffffu) + (ah * bl & 0xffffffffu);
    CHECK(p.lo == a * b);
    CHECK(p.hi == ah * bh + (al * bh >> 32) + (ah * bl >> 32) + (mid >> 32));
    if (b != 0 && p.hi < b) {
      std::uint64_t rem = 0;
      CHECK(surge::detail::div_128_64(p, b, rem) == a);
      CHECK(rem == 0);
    }
  }
  CHECK(surge::detail::shr(surge::detail::u128{1, 0}, 64).lo == 1);
  CHECK(surge::detail::shl(surge::detail::u128{0, 1}, 127).hi == (std::uint64_t{1} << 63));
}

TEST_CASE("rate_units converts exactly and inverts", "[detail][rate_units]") {
  std::mt19937_64 rng(2);
  for (double rate : {1e-9, 0.3, 1.0, 3.0, 10.0, 7.5, 1000.0, 123456.789, 1e9, 1e12}) {
    INFO("rate " << rate);
    const rate_units u = rate_units::make(rate, 1000);
    CHECK(u.m >= (std::uint64_t{1} << 62));
    // units per second equals rate tokens (to one unit)
    const double per_s = static_cast<double>(u.units(1'000'000'000)) / static_cast<double>(u.token());
    CHECK(per_s == Approx(rate).epsilon(1e-6).margin(1.0 / static_cast<double>(u.token())));
    std::int64_t prev = u.units(-(std::int64_t{1} << 50));
    for (int i = 0; i < 2000; ++i) {
      const auto ns = static_cast<std::int64_t>(rng() >> 12) - (std::int64_t{1} << 51);
      const std::int64_t v = u.units(ns);
      // ns_at is the least reading reaching v
      const std::int64_t back = u.ns_at(v);
      REQUIRE(u.units(back) >= v);
      REQUIRE(u.units(back - 1) < v);
      REQUIRE(back <= ns);
      (void)prev;
    }
    for (std::int64_t ns = 0; ns < 3000; ++ns) {
      const std::int64_t v = u.units(ns);
      REQUIRE(v >= prev);
      prev = v;
    }
  }
  // exact rates convert exactly at whole intervals: 10/s -> 100 ms per token
  const rate_units ten = rate_units::make(10.0, 1);
  CHECK(ten.units(100'000'000) == ten.token());
  CHECK(ten.ns_at(ten.token()) == 100'000'000);
  CHECK(ten.units(-100'000'000) <= -ten.token());  // floor of a value rounded away from 0
  CHECK(ten.units(-100'000'000) >= -ten.token() - 1);
}

TEST_CASE("rate_units: a unit lasts at most 1 ns unless the burst takes more than 6.5 days to refill",
          "[detail][rate_units]") {
  // the docs said "at most 1 ns for rates >= 0.24/s" whatever the burst; the
  // burst's bits (burst * 2^F < 2^50) can make it longer
  const auto unit_s = [](double rate, std::uint64_t burst) {
    return 1.0 / std::ldexp(rate, static_cast<int>(rate_units::make(rate, burst).f));
  };
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20'000; ++i) {
    const double rate = std::exp(std::uniform_real_distribution<>(std::log(0.24), std::log(1e12))(rng));
    const std::uint64_t burst = 1 + rng() % (std::uint64_t{1} << 40);
    const double unit = unit_s(rate, burst);
    if (static_cast<double>(burst) <= 5.6e5 * rate) REQUIRE(unit <= 1e-9);
    REQUIRE(unit <= std::max(1e-9, 2.0 * static_cast<double>(burst) / std::ldexp(rate, 50)));
  }
  CHECK(unit_s(1e6 / (30 * 86400.0), 1'000'000) > 2.4e-9);           // a million tokens a month
  CHECK(unit_s(100.0, std::uint64_t{1} << 40) == Approx(1.953e-5).epsilon(1e-3));  // 20 us
}
