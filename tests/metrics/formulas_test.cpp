#include <surge/metrics/formulas.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "surge_test.hpp"

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();
const double not_a_number = std::nan("");

using surge_test::check_names;
}  // namespace

// usable in constant expressions
static_assert(surge::throughput(1000, 2) == 500);
static_assert(surge::mean_response_time(10, 4) == 2.5);
static_assert(surge::littles_concurrency(200, 0.05) == 200 * 0.05);
static_assert(surge::littles_throughput(10, 0.05) == 10 / 0.05);
static_assert(surge::littles_latency(10, 200) == 0.05);
static_assert(surge::utilisation(100, 0.01, 2) == 0.5);
static_assert(surge::hit_ratio(3, 1) == 0.75);
static_assert(surge::hit_ratio(0, 0) == 0.0);
constexpr std::array<std::uint64_t, 4> even{5, 5, 5, 5};
static_assert(surge::balance_efficiency(std::span<const std::uint64_t>(even)) == 1.0);

TEST_CASE("formulas compute the textbook values", "[metrics][formulas]") {
  CHECK(surge::throughput(0, 1) == 0);
  CHECK(surge::throughput(1500, 0.5) == 3000);
  CHECK(surge::mean_response_time(0, 0) == 0);  // empty observation
  CHECK(surge::mean_response_time(3, 6) == 0.5);
  // Little's law and its inversions agree with each other
  const double lambda = 1234.5, w = 0.0375;
  const double l = surge::littles_concurrency(lambda, w);
  CHECK(l == Approx(46.29375));
  CHECK(surge::littles_throughput(l, w) == Approx(lambda));
  CHECK(surge::littles_latency(l, lambda) == Approx(w));
  CHECK(surge::littles_concurrency(0, 5) == 0);
  CHECK(surge::utilisation(80, 0.01) == Approx(0.8));
  CHECK(surge::utilisation(300, 0.01, 2) == Approx(1.5));  // overload: not capped
  CHECK(surge::hit_ratio(0, 7) == 0);
  CHECK(surge::hit_ratio(7, 0) == 1);
  const auto big = std::numeric_limits<std::uint64_t>::max();
  CHECK(surge::hit_ratio(big, big) == Approx(0.5));  // no overflow of hits + misses
  // X·S overflows where X/c·S does not
  CHECK(surge::utilisation(1e300, 1e10, 1'000'000'000) == Approx(1e301));
}

TEST_CASE("balance_efficiency is mean over max, 1 when even", "[metrics][formulas]") {
  const std::vector<double> skewed{10, 0, 0, 0};
  CHECK(surge::balance_efficiency(skewed) == Approx(0.25));  // 1/n when one takes all
  const std::vector<double> zero{0, 0, 0};
  CHECK(surge::balance_efficiency(zero) == 1.0);
  const std::vector<double> some{1, 2, 3};
  CHECK(surge::balance_efficiency(some) == Approx(2.0 / 3.0));
  const std::vector<double> one{42};
  CHECK(surge::balance_efficiency(one) == 1.0);
  const std::vector<double> huge{1e308, 1e308, 1e308};  // the mean does not overflow
  CHECK(surge::balance_efficiency(huge) == 1.0);
  const std::vector<std::uint64_t> counts{100, 90, 110, 100};
  CHECK(surge::balance_efficiency(std::span<const std::uint64_t>(counts)) == Approx(100.0 / 110.0));
  const std::vector<std::uint64_t> maxed(5, std::numeric_limits<std::uint64_t>::max());
  CHECK(surge::balance_efficiency(std::span<const std::uint64_t>(maxed)) == 1.0);
}

TEST_CASE("balance_efficiency of equal loads is exactly 1 and stays above 0 and at most 1", "[metrics][formulas]") {
  for (std::size_t n = 1; n <= 64; ++n) {  // a sum of l/n rounds below 1 for many n (10 among them)
    CAPTURE(n);
    const std::vector<double> loads(n, 1.0);
    CHECK(surge::balance_efficiency(loads) == 1.0);
    const std::vector<double> tenths(n, 0.1);
    CHECK(surge::balance_efficiency(tenths) == 1.0);
    const std::vector<std::uint64_t> counts(n, 7);
    CHECK(surge::balance_efficiency(std::span<const std::uint64_t>(counts)) == 1.0);
  }
  const double tiny = std::numeric_limits<double>::denorm_min();
  const std::vector<double> subnormal{tiny, tiny};  // l/n underflowed to 0
  CHECK(surge::balance_efficiency(subnormal) == 1.0);
  const std::vector<double> far_apart{1e308, tiny, 0, tiny};  // the small ones vanish: 1/n, not 0
  const double e = surge::balance_efficiency(far_apart);
  CHECK(e > 0.0);
  CHECK(e == Approx(0.25));
  const std::vector<double> lone_tiny{tiny, 0, 0};
  CHECK(surge::balance_efficiency(lone_tiny) == Approx(1.0 / 3.0));
}

TEST_CASE("formulas refuse zero divisors, negative and non-finite input", "[metrics][formulas]") {
  CHECK_THROWS_AS(surge::throughput(1, 0), std::invalid_argument);
  CHECK_THROWS_AS(surge::throughput(0, 0), std::invalid_argument);
  CHECK_THROWS_AS(surge::throughput(-1, 1), std::invalid_argument);
  CHECK_THROWS_AS(surge::throughput(not_a_number, 1), std::invalid_argument);
  CHECK_THROWS_AS(surge::throughput(1, inf), std::invalid_argument);
  CHECK_THROWS_AS(surge::throughput(1e300, 1e-300), std::invalid_argument);  // overflows
  check_names([] { (void)surge::throughput(1, 0); }, "elapsed");
  check_names([] { (void)surge::throughput(-1, 1); }, "requests");

  CHECK_THROWS_AS(surge::mean_response_time(1, 0), std::invalid_argument);
  CHECK_THROWS_AS(surge::mean_response_time(not_a_number, 1), std::invalid_argument);
  check_names([] { (void)surge::mean_response_time(-1, 1); }, "total_time");

  CHECK_THROWS_AS(surge::littles_concurrency(-1, 1), std::invalid_argument);
  CHECK_THROWS_AS(surge::littles_concurrency(inf, 1), std::invalid_argument);
  CHECK_THROWS_AS(surge::littles_concurrency(1e200, 1e200), std::invalid_argument);
  check_names([] { (void)surge::littles_concurrency(1, not_a_number); }, "latency");
  check_names([] { (void)surge::littles_throughput(1, 0); }, "latency");
  check_names([] { (void)surge::littles_latency(1, 0); }, "throughput");
  check_names([] { (void)surge::littles_latency(-0.5, 1); }, "concurrency");

  check_names([] { (void)surge::utilisation(1, 1, 0); }, "servers");
  // negative counts were wrapped to 2^64 - 1 (5e-20 utilisation, a ratio near 1)
  check_names([] { (void)surge::utilisation(100, 0.01, -1); }, "servers");
  check_names([] { (void)surge::hit_ratio(-1, 5); }, "hits");
  check_names([] { (void)surge::hit_ratio(std::int64_t{5}, std::int64_t{-1}); }, "misses");
  check_names([] { (void)surge::utilisation(1, -1); }, "service_time");

  check_names([] { (void)surge::balance_efficiency(std::span<const double>{}); }, "empty");
  const std::vector<double> bad{1, not_a_number};
  check_names([&] { (void)surge::balance_efficiency(bad); }, "load");
  const std::vector<double> neg{1, -1};
  CHECK_THROWS_AS(surge::balance_efficiency(neg), std::invalid_argument);
  check_names([] { (void)surge::balance_efficiency(std::span<const std::uint64_t>{}); }, "empty");
}

TEST_CASE("formulas name the arguments of a result that overflows", "[metrics][formulas]") {
  // each message said only "result overflows"
  const auto check_both = [](auto f, const char* a, const char* b) {
    check_names(f, a);
    check_names(f, b);
  };
  check_both([] { (void)surge::throughput(1e300, 1e-300); }, "requests", "elapsed");
  check_both([] { (void)surge::mean_response_time(1e300, 1e-300); }, "total_time", "requests");
  check_both([] { (void)surge::littles_concurrency(1e200, 1e200); }, "throughput", "latency");
  check_both([] { (void)surge::littles_throughput(1e300, 1e-300); }, "concurrency", "latency");
  check_both([] { (void)surge::littles_latency(1e300, 1e-300); }, "concurrency", "throughput");
  check_both([] { (void)surge::utilisation(1e300, 1e300); }, "throughput", "service_time");
}
