#include <surge/metrics/histogram.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <random>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "surge_test.hpp"
#include "watchdog.hpp"

using surge::latency_histogram;

namespace {

constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();

std::int64_t pow10(int d) {
  std::int64_t p = 1;
  for (int i = 0; i < d; ++i) p *= 10;
  return p;
}

/// The nearest-rank percentile of sorted samples: the smallest x with at
/// least ceil(p/100 * n) (at least 1) samples <= x, for a p of at most three
/// decimals read as the decimal it is meant to be (integer arithmetic).
std::int64_t exact_percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (p <= 0) return sorted.front();
  const auto thousandths = static_cast<std::uint64_t>(std::llround(p * 1000));
  const std::uint64_t n = sorted.size();
  auto rank = static_cast<std::size_t>((thousandths * n + 99'999) / 100'000);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

/// Every percentile r of h is within [x, x + x / 10^d] of the exact x.
void check_percentiles(const latency_histogram& h, std::vector<std::int64_t> samples, int digits) {
  std::sort(samples.begin(), samples.end());
  std::vector<double> ps = {0, 0.1, 1, 5, 10, 25, 33.3, 50, 66.6, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100};
  // every half percent at low precision; at 4-5 digits the layout has 10^6
  // counters or more and each query scans them (twice): keep the list short
  if (digits <= 3)
    for (double p = 0.5; p < 100; p += 0.5) ps.push_back(p);
  const std::int64_t scale = pow10(digits);
  for (const double p : ps) {
    const std::int64_t x = exact_percentile(samples, p);
    const std::int64_t r = h.value_at_percentile(p);
    INFO("p = " << p << ", exact " << x << ", histogram " << r << ", digits " << digits);
    CHECK(r >= x);
    CHECK((r - x) * scale <= x);  // relative error <= 10^-d (values * 10^5 stay far below 2^63)
  }
  CHECK(h.count() == samples.size());
  CHECK(h.min() == samples.front());
  CHECK(h.max() == samples.back());
  // mean and stddev within the precision of the exact ones
  long double sum = 0;
  for (auto v : samples) sum += static_cast<long double>(v);
  const long double mean = sum / static_cast<long double>(samples.size());
  long double sq = 0;
  for (auto v : samples) sq += (v - mean) * (v - mean);
  const double sd = static_cast<double>(std::sqrt(sq / static_cast<long double>(samples.size())));
  const double tol = 1.0 / static_cast<double>(scale);
  CHECK(std::abs(h.mean() - static_cast<double>(mean)) <= tol * static_cast<double>(mean) + 1.0);
  CHECK(std::abs(h.stddev() - sd) <= tol * (static_cast<double>(mean) + sd) + 1.0);
  // the documented bound of the standard deviation: absolute, max() * 10^-d / 2
  CHECK(std::abs(h.stddev() - sd) <= static_cast<double>(samples.back()) * tol / 2 * (1 + 1e-9) + 1e-6);
}

template <class Gen>
std::vector<std::int64_t> draw(Gen gen, std::size_t n, std::mt19937_64& rng, std::int64_t highest) {
  std::vector<std::int64_t> v(n);
  for (auto& x : v) {
    const double d = gen(rng);
    x = d < 0 ? 0 : (d >= static_cast<double>(highest) ? highest : static_cast<std::int64_t>(d));
  }
  return v;
}

}  // namespace

TEST_CASE("latency_histogram rejects bad constructor arguments, naming them", "[metrics][histogram]") {
  CHECK_THROWS_AS(latency_histogram(1, 3), std::invalid_argument);
  CHECK_THROWS_AS(latency_histogram(0, 3), std::invalid_argument);
  CHECK_THROWS_AS(latency_histogram(-5, 3), std::invalid_argument);
  CHECK_THROWS_AS(latency_histogram(1000, 0), std::invalid_argument);
  CHECK_THROWS_AS(latency_histogram(1000, 6), std::invalid_argument);
  try {
    latency_histogram h(1000, 9);
    FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("significant_digits") != std::string::npos);
  }
  try {
    latency_histogram h(1, 3);
    FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("highest_trackable") != std::string::npos);
  }
  CHECK_NOTHROW(latency_histogram(2, 1));
  CHECK_NOTHROW(latency_histogram(i64_max, 1));
  for (const std::size_t bad :
       {std::size_t{0}, std::size_t{3}, std::size_t{6}, std::size_t{512}, std::numeric_limits<std::size_t>::max()}) {
    INFO("stripes " << bad);
    try {
      latency_histogram h(1000, 2, surge::histogram_stripes{bad});
      FAIL("no throw");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("stripes.count") != std::string::npos);
    }
  }
  for (const std::size_t good : {std::size_t{1}, std::size_t{2}, std::size_t{256}}) {
    const latency_histogram h(1000, 2, surge::histogram_stripes{good});
    CHECK(h.stripes() == good);
    CHECK(h.memory_size() >= good * h.counter_count() * sizeof(std::uint64_t));
  }
  CHECK(latency_histogram().stripes() == 1);
  CHECK(latency_histogram().memory_size() == latency_histogram().counter_count() * sizeof(std::uint64_t));
  const latency_histogram defaults(surge::histogram_stripes{4});
  CHECK(defaults.stripes() == 4);
  CHECK(defaults.highest_trackable() == latency_histogram::one_hour_ns);
  CHECK(defaults.significant_digits() == 3);
}

TEST_CASE("latency_histogram layout is HdrHistogram's", "[metrics][histogram]") {
  // HdrHistogram with lowest 1, highest 3600e9, 3 digits: sub-bucket count
  // 2048, 32 buckets (2048 << 31 > 3.6e12) -> (32 + 1) * 1024 counters
  latency_histogram h;
  CHECK(h.highest_trackable() == latency_histogram::one_hour_ns);
  CHECK(h.significant_digits() == 3);
  CHECK(h.counter_count() == 33u * 1024u);
  CHECK(h.memory_size() == h.counter_count() * 8);
  // values below 2048 are exact; above, buckets of width 2^k
  CHECK(h.lowest_equivalent(2047) == 2047);
  CHECK(h.highest_equivalent(2047) == 2047);
  CHECK(h.lowest_equivalent(2048) == 2048);
  CHECK(h.highest_equivalent(2048) == 2049);
  CHECK(h.lowest_equivalent(10007) == 10000);
  CHECK(h.highest_equivalent(10007) == 10007);
  CHECK(h.lowest_equivalent(1'000'000) == 999'936);  // width 512
  CHECK(h.highest_equivalent(1'000'000) == 1'000'447);
  // digits 5: 2^18 sub-buckets
  latency_histogram h5(latency_histogram::one_hour_ns, 5);
  CHECK(h5.lowest_equivalent(262'143) == 262'143);
  CHECK(h5.highest_equivalent(262'144) == 262'145);
  // every value's bucket is within the precision, at every digit count
  for (int d = 1; d <= 5; ++d) {
    latency_histogram hd(i64_max, d);
    std::mt19937_64 rng(static_cast<unsigned>(d));
    for (int i = 0; i < 10000; ++i) {
      const std::int64_t v = static_cast<std::int64_t>(rng() >> (rng() % 63 + 1));
      const std::int64_t lo = hd.lowest_equivalent(v), hi = hd.highest_equivalent(v);
      INFO("d " << d << " v " << v << " [" << lo << ", " << hi << "]");
      REQUIRE(lo <= v);
      REQUIRE(v <= hi);
      REQUIRE(static_cast<long double>(hi - lo) * static_cast<long double>(pow10(d)) <= static_cast<long double>(v));
    }
    CHECK(hd.highest_equivalent(i64_max) == i64_max);
  }
}

TEST_CASE("latency_histogram on an empty histogram", "[metrics][histogram]") {
  latency_histogram h(1'000'000, 2);
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0.0);
  CHECK(h.stddev() == 0.0);
  CHECK(h.value_at_percentile(50) == 0);
  CHECK(h.value_at_percentile(100) == 0);
  CHECK(h.begin() == h.end());
  CHECK(h.summary() == surge::histogram_summary{});
}

TEST_CASE("latency_histogram percentiles match sorted samples within the precision", "[metrics][histogram]") {
  std::mt19937_64 rng(42);
  const std::int64_t highest = latency_histogram::one_hour_ns;
  for (int digits = 1; digits <= 5; ++digits) {
    DYNAMIC_SECTION("digits " << digits) {
      const std::size_t n = digits == 5 ? 20000 : 50000;
      std::vector<std::vector<std::int64_t>> sets;
      sets.push_back(draw(std::uniform_real_distribution<double>(0, 1e9), n, rng, highest));
      sets.push_back(draw(std::exponential_distribution<double>(1.0 / 2e6), n, rng, highest));
      sets.push_back(draw(std::lognormal_distribution<double>(13.0, 2.0), n, rng, highest));
      // Pareto (heavy tail): x_m / U^(1/alpha)
      sets.push_back(draw(
          [](std::mt19937_64& g) {
            const double u = std::uniform_real_distribution<double>(1e-12, 1.0)(g);
            return 1e4 / std::pow(u, 1.0 / 1.2);
          },
          n, rng, highest));
      sets.push_back(draw(std::uniform_int_distribution<std::int64_t>(0, 100), n, rng, highest));  // small, exact
      sets.push_back(std::vector<std::int64_t>(1000, 123'456'789));                                // constant
      sets.push_back({7});                                                                         // one value
      if (digits == 5) sets.erase(sets.begin() + 1, sets.begin() + 4);  // uniform, small, constant, single
      for (auto& s : sets) {
        latency_histogram h(digits == 5 ? 1'000'000'000 : highest, digits);  // 5 digits: fewer buckets to scan
        for (auto v : s) h.record(v);
        check_percentiles(h, s, digits);
      }
    }
  }
}

TEST_CASE("latency_histogram record with a count equals repeated records", "[metrics][histogram]") {
  latency_histogram a(1'000'000'000, 3), b(1'000'000'000, 3);
  std::mt19937_64 rng(7);
  std::vector<std::int64_t> all;
  for (int i = 0; i < 500; ++i) {
    const auto v = static_cast<std::int64_t>(rng() % 1'000'000'000);
    const auto c = rng() % 5;
    a.record(v, c);
    for (std::uint64_t k = 0; k < c; ++k) {
      b.record(v);
      all.push_back(v);
    }
  }
  CHECK(a.count() == b.count());
  CHECK(a.count() == all.size());
  CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  check_percentiles(a, all, 3);
}

TEST_CASE("latency_histogram clamps out-of-range values and counts them", "[metrics][histogram]") {
  latency_histogram h(10'000, 3);
  h.record(-1);
  h.record(std::numeric_limits<std::int64_t>::min());
  h.record(10'001);
  h.record(i64_max, 3);
  h.record(5'000);
  CHECK(h.clamped() == 6);
  CHECK(h.count() == 7);
  CHECK(h.min() == 0);
  CHECK(h.max() == 10'000);
  CHECK(h.value_at_percentile(100) == 10'000);
  CHECK(h.value_at_percentile(0) == 0);
  // sorted: 0 0 5000 10000 10000 10000 10000
  CHECK(h.value_at_percentile(20) == 0);                            // rank 2
  CHECK(h.value_at_percentile(30) == h.highest_equivalent(5'000));  // rank 3: 5003
  CHECK(h.value_at_percentile(50) == 10'000);                       // rank 4
  // p outside [0, 100] and NaN are clamped
  CHECK(h.value_at_percentile(-5) == 0);
  CHECK(h.value_at_percentile(std::nan("")) == 0);
  CHECK(h.value_at_percentile(1e9) == 10'000);
  CHECK(h.value_at_percentile(std::numeric_limits<double>::infinity()) == 10'000);
  h.record(5, 0);  // count 0 records nothing
  CHECK(h.count() == 7);
}

TEST_CASE("latency_histogram counters saturate instead of wrapping", "[metrics][histogram]") {
  latency_histogram h(1000, 2);
  const auto big = std::numeric_limits<std::uint64_t>::max();
  h.record(10, big - 1);
  h.record(10);
  h.record(10);  // would wrap to 0
  h.record(10, 5);
  h.record(20, big);
  CHECK(h.count() == big);  // the sum saturates too
  CHECK(*h.begin() == latency_histogram::bucket{10, 10, big});
  CHECK(h.value_at_percentile(50) == 10);
  CHECK(h.value_at_percentile(100) == 20);
  CHECK(std::isfinite(h.mean()));
  CHECK(std::isfinite(h.stddev()));
}

TEST_CASE("latency_histogram: a saturated counter never reads as wrapped", "[metrics][histogram]") {
  // before: record(v) added 1 and then stored the maximum back; in between
  // the counter read 0, and a reset() there left it at the maximum again
  latency_histogram h(1000, 2);
  const auto big = std::numeric_limits<std::uint64_t>::max();
  h.record(5, big);
  std::atomic<bool> stop{false};
  std::uint64_t lowest = big;
  std::thread reader([&] {
    while (!stop.load()) lowest = std::min(lowest, h.count());
  });
  for (int i = 0; i < 200'000; ++i) h.record(5);
  stop.store(true);
  reader.join();
  CHECK(lowest == big);
  CHECK(h.count() == big);
}

TEST_CASE("latency_histogram: the percentile rank is exact for decimal percentiles", "[metrics][histogram]") {
  latency_histogram h;
  h.record(100, 40'959);  // 99.9 % of 41,000 is rank 40,959 exactly: the value 100
  h.record(5'000'000, 41);
  CHECK(h.value_at_percentile(99.9) == 100);  // before: 99.9 * 41000 / 100 rounded up to rank 40,960
  CHECK(h.summary().p999 == 100);
  CHECK(h.value_at_percentile(99.91) > 100);
  // totals past 2^53: rank ceil(3 % of 7,000,000,000,000,067) = 210,000,000,000,003
  latency_histogram g(1000, 2);
  const std::uint64_t total = 7'000'000'000'000'067;
  g.record(1, 210'000'000'000'002);
  g.record(2, total - 210'000'000'000'002);
  CHECK(g.value_at_percentile(3) == 2);  // before: 1
  g.reset();
  g.record(1, 210'000'000'000'003);
  g.record(2, total - 210'000'000'000'003);
  CHECK(g.value_at_percentile(3) == 1);
  // a percentile with more decimals than millionths: ceil in long double
  latency_histogram k(1000, 2);
  k.record(1, 1);
  k.record(2, 999'999'999);
  CHECK(k.value_at_percentile(1e-7) == 1);       // rank ceil(1e-9 * 1e9) = 1
  CHECK(k.value_at_percentile(1.00000001e-7) == 2);  // rank 2
  // a p far below a millionth is not taken for 0: rank ceil(1e-14 * (1e15 + 5)) = 11
  latency_histogram tiny(1000, 2);
  tiny.record(1, 5);
  tiny.record(2, 1'000'000'000'000'000);
  CHECK(tiny.value_at_percentile(1e-12) == 2);  // before: rank 1, the value 1
  CHECK(tiny.value_at_percentile(4e-13) == 1);  // rank ceil(4.00...) = 5
}

TEST_CASE("latency_histogram: min, max and percentiles agree with the buckets after a racing reset",
          "[metrics][histogram]") {
  // A record racing reset() may keep its count and lose its min/max. The
  // percentiles then read the bucket's own bounds rather than a cleared max.
  latency_histogram h(1000, 3);
  int seen_inconsistent = 0;
  for (int trial = 0; trial < 2000 && seen_inconsistent < 3; ++trial) {
    h.reset();
    std::atomic<int> step{0};
    std::thread resetter([&] {
      step.store(1);
      while (step.load() != 2) {
      }
      h.reset();
    });
    while (step.load() != 1) {
    }
    step.store(2);
    for (int i = 0; i < (trial % 200) * 5; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
    h.record(5);
    resetter.join();
    if (h.count() == 1) {
      if (h.max() != 5) ++seen_inconsistent;
      CHECK(h.value_at_percentile(0) == 5);
      CHECK(h.value_at_percentile(50) == 5);
      CHECK(h.value_at_percentile(100) == 5);
      CHECK(h.summary().p99 == 5);
    }
  }
}

TEST_CASE("latency_histogram iterates recorded buckets in order", "[metrics][histogram]") {
  latency_histogram h(1'000'000, 2);  // sub-bucket count 256: exact below 256
  h.record(3);
  h.record(3);
  h.record(100);
  h.record(300, 4);  // width 2 above 256
  h.record(301);
  h.record(999'999);
  std::vector<latency_histogram::bucket> got(h.begin(), h.end());
  REQUIRE(got.size() == 4);
  CHECK(got[0] == latency_histogram::bucket{3, 3, 2});
  CHECK(got[1] == latency_histogram::bucket{100, 100, 1});
  CHECK(got[2] == latency_histogram::bucket{300, 301, 5});
  CHECK(got[3].lowest <= 999'999);
  CHECK(got[3].highest >= 999'999);
  CHECK(got[3].count == 1);
  std::uint64_t total = 0;
  for (const auto b : h) total += b.count;
  CHECK(total == h.count());
}

TEST_CASE("latency_histogram's iterator is a C++20 forward iterator and an input iterator to the older rules",
          "[metrics][histogram]") {
  // it claimed std::forward_iterator_tag while *it is a bucket by value: the
  // older forward iterator requirements want a reference there (algorithms
  // may keep &*it), so its category is input, its C++20 concept forward
  using it = latency_histogram::const_iterator;
  CHECK(std::is_same_v<std::iterator_traits<it>::iterator_category, std::input_iterator_tag>);
  CHECK(std::forward_iterator<it>);
  CHECK(std::ranges::forward_range<const latency_histogram&>);
  latency_histogram h(1'000'000, 2);
  for (std::int64_t v : {5, 5, 9, 300, 70'000}) h.record(v);
  CHECK(std::ranges::distance(h) == 4);
  const auto b = std::ranges::find_if(h, [](const latency_histogram::bucket& x) { return x.count == 2; });
  REQUIRE(b != h.end());
  CHECK((*b).lowest == 5);
  CHECK(std::ranges::max(h, {}, &latency_histogram::bucket::count).lowest == 5);
  std::vector<latency_histogram::bucket> got(h.begin(), h.end());
  CHECK(got.size() == 4);
  CHECK(std::count_if(h.begin(), h.end(), [](const auto& x) { return x.lowest >= 300; }) == 2);
}

TEST_CASE("latency_histogram merge adds counts, same and different layouts", "[metrics][histogram]") {
  std::mt19937_64 rng(3);
  std::vector<std::int64_t> xs, ys;
  latency_histogram a(1'000'000'000, 3), b(1'000'000'000, 3);
  for (int i = 0; i < 20000; ++i) {
    xs.push_back(static_cast<std::int64_t>(rng() % 1'000'000));
    a.record(xs.back());
    ys.push_back(static_cast<std::int64_t>(rng() % 1'000'000'000));
    b.record(ys.back());
  }
  b.record(-3);  // clamped, carried over
  ys.push_back(0);
  a.merge(b);
  std::vector<std::int64_t> all = xs;
  all.insert(all.end(), ys.begin(), ys.end());
  check_percentiles(a, all, 3);
  CHECK(a.clamped() == 1);

  SECTION("into a coarser histogram with a smaller range") {
    latency_histogram c(100'000, 2);
    c.merge(a);
    CHECK(c.count() == a.count());
    CHECK(c.max() == 100'000);
    CHECK(c.min() == 0);
    const auto above =
        static_cast<std::uint64_t>(std::count_if(all.begin(), all.end(), [](auto v) { return v > 100'000; }));
    CHECK(c.clamped() >= above + 1);
  }
  SECTION("into itself doubles every count") {
    const auto n = a.count();
    a.merge(a);
    CHECK(a.count() == 2 * n);
    CHECK(a.clamped() == 2);
  }
  SECTION("reset empties it") {
    a.reset();
    CHECK(a.count() == 0);
    CHECK(a.clamped() == 0);
    CHECK(a.min() == 0);
    CHECK(a.max() == 0);
    CHECK(a.begin() == a.end());
    a.record(5);
    CHECK(a.min() == 5);
    CHECK(a.max() == 5);
  }
}

TEST_CASE("latency_histogram: percentiles 0 and 100 are min() and max() after a merge from a coarser layout",
          "[metrics][histogram]") {
  // other's buckets were recorded here at their lowest value, which lies below
  // other's min and max in a coarser bucket: p0 and p100 read 992 and 4865
  // (this layout's buckets of those values) while min() and max() said 1000
  // and 5000
  latency_histogram coarse(1'000'000, 1), fine(1'000'000, 3);
  coarse.record(1'000);  // bucket [992, 1023]
  coarse.record(5'000);  // bucket [4864, 5119]
  fine.merge(coarse);
  CHECK(fine.min() == 1'000);
  CHECK(fine.max() == 5'000);
  CHECK(fine.value_at_percentile(0) == 1'000);
  CHECK(fine.value_at_percentile(100) == 5'000);
  CHECK(fine.count() == 2);
  fine.record(3);  // a value of this histogram's own
  CHECK(fine.value_at_percentile(0) == 3);
  CHECK(fine.value_at_percentile(100) == 5'000);
}

TEST_CASE("latency_histogram: no percentile reads below its value after a merge from a coarser layout",
          "[metrics][histogram]") {
  // other's buckets were recorded here at their lowest value, below the
  // values they hold: a 1-digit histogram of 1000 and 5000 merged into a
  // 3-digit one read p99 = 4867 < 5000
  latency_histogram coarse(1'000'000, 1), fine(1'000'000, 3);
  coarse.record(1'000);
  coarse.record(5'000);
  fine.merge(coarse);
  CHECK(fine.value_at_percentile(50) == 1'000);
  CHECK(fine.value_at_percentile(99) == 5'000);

  // every percentile within the precision of the coarser layout, with values
  // of the finer histogram's own among them, and either way round
  std::mt19937_64 rng(11);
  for (int coarse_digits = 1; coarse_digits <= 2; ++coarse_digits) {
    const std::int64_t highest = 1'000'000'000;
    std::vector<std::int64_t> xs = draw(std::lognormal_distribution<double>(10.0, 2.0), 20000, rng, highest);
    std::vector<std::int64_t> ys = draw(std::uniform_int_distribution<std::int64_t>(0, 5000), 5000, rng, highest);
    latency_histogram c(highest, coarse_digits), f(highest, 3), g(highest, coarse_digits);
    for (auto v : xs) c.record(v);
    for (auto v : ys) f.record(v);
    for (auto v : ys) g.record(v);
    f.merge(c);  // coarse into fine
    g.merge(f);  // and back into a coarse one: ys twice, xs once
    std::vector<std::int64_t> all = xs;
    all.insert(all.end(), ys.begin(), ys.end());
    INFO("coarse digits " << coarse_digits);
    check_percentiles(f, all, coarse_digits);
    all.insert(all.end(), ys.begin(), ys.end());
    check_percentiles(g, all, coarse_digits);
  }
}

TEST_CASE("latency_histogram merge from a wider range with the same counters clamps the excess",
          "[metrics][histogram]") {
  latency_histogram a(3000, 3), b(4000, 3);  // one counter layout, different highest_trackable
  REQUIRE(a.counter_count() == b.counter_count());
  b.record(3999);
  b.record(100);
  a.merge(b);
  latency_histogram direct(3000, 3);  // what recording the values here gives
  direct.record(3999);
  direct.record(100);
  CHECK(a.count() == 2);
  CHECK(a.clamped() == 1);
  CHECK(a.clamped() == direct.clamped());
  CHECK(a.max() == 3000);
  CHECK(a.mean() <= 3000.0);
  CHECK(a.mean() == direct.mean());
  CHECK(a.value_at_percentile(100) == 3000);
  for (const auto bk : a) CHECK(bk.lowest <= a.highest_trackable());
  // the other way round every value fits: nothing clamped
  latency_histogram wide(4000, 3), narrow(3000, 3);
  narrow.record(2999);
  wide.merge(narrow);
  CHECK(wide.clamped() == 0);
  CHECK(wide.count() == 1);
  CHECK(wide.max() == 2999);
  // a value other clamped is counted once here (before: twice, clamped() > count())
  latency_histogram big(1'000'000'000, 3), small(1'000'000, 3);
  big.record(5'000'000'000);  // clamped in big
  big.record(-1);             // clamped low in big
  big.record(2'000'000);      // fits big, clamped here
  small.merge(big);
  CHECK(small.count() == 3);
  CHECK(small.clamped() == 3);
  latency_histogram recorded(1'000'000, 3);
  for (const std::int64_t v : {std::int64_t{5'000'000'000}, std::int64_t{-1}, std::int64_t{2'000'000}}) recorded.record(v);
  CHECK(small.clamped() == recorded.clamped());
}

namespace {
/// Every observable of a and b is the same.
void check_same(const latency_histogram& a, const latency_histogram& b) {
  CHECK(std::vector<latency_histogram::bucket>(a.begin(), a.end()) ==
        std::vector<latency_histogram::bucket>(b.begin(), b.end()));
  CHECK(a.summary() == b.summary());
  for (double p = 0; p <= 100; p += 2.5) CHECK(a.value_at_percentile(p) == b.value_at_percentile(p));
}
}  // namespace

TEST_CASE("latency_histogram with stripes reads as one with a single set of counters", "[metrics][histogram]") {
  std::mt19937_64 rng(11);
  std::vector<std::vector<std::int64_t>> per_thread(6);
  for (auto& v : per_thread)
    for (int i = 0; i < 5000; ++i)  // out-of-range values too
      v.push_back(static_cast<std::int64_t>(rng() % 3'000'000) - 1000);
  const std::size_t stripes = GENERATE(2u, 4u, 8u);
  INFO("stripes " << stripes);
  latency_histogram model(2'000'000, 3);  // one thread, one set of counters
  for (const auto& v : per_thread)
    for (const auto x : v) model.record(x);
  // six threads record at once: with 8 stripes each has a stripe of its
  // own, with 2 and 4 some share
  latency_histogram h(2'000'000, 3, surge::histogram_stripes{stripes});
  std::vector<std::thread> ts;
  for (const auto& v : per_thread)
    ts.emplace_back([&h, &v] {
      for (const auto x : v) h.record(x);
    });
  for (auto& t : ts) t.join();
  check_same(h, model);
  CHECK(h.clamped() == model.clamped());
  SECTION("merge, either way, and into itself") {
    latency_histogram one(2'000'000, 3);
    one.merge(h);
    check_same(one, model);
    latency_histogram other(2'000'000, 3, surge::histogram_stripes{stripes});
    std::thread([&] { other.merge(model); }).join();  // into another thread's stripe
    check_same(other, model);
    latency_histogram coarse(1'000'000, 2, surge::histogram_stripes{2}), coarse_model(1'000'000, 2);
    coarse.merge(h);
    coarse_model.merge(model);
    check_same(coarse, coarse_model);
    h.merge(h);
    model.merge(model);
    check_same(h, model);
  }
  SECTION("reset empties every stripe") {
    h.reset();
    CHECK(h.count() == 0);
    CHECK(h.begin() == h.end());
    CHECK(h.summary() == surge::histogram_summary{});
  }
}

TEST_CASE("latency_histogram with stripes saturates the sum of a bucket's counters", "[metrics][histogram]") {
  const auto big = std::numeric_limits<std::uint64_t>::max();
  latency_histogram h(1000, 2, surge::histogram_stripes{2});
  h.record(10, big - 1);
  std::thread([&] { h.record(10, big - 1); }).join();  // the other stripe, or this one: either way saturated
  h.record(10);
  CHECK(h.count() == big);
  CHECK(*h.begin() == latency_histogram::bucket{10, 10, big});
  CHECK(h.value_at_percentile(100) == 10);
}

TEST_CASE("latency_histogram summary", "[metrics][histogram]") {
  latency_histogram h(1'000'000, 3);
  for (int i = 1; i <= 1000; ++i) h.record(i);
  const auto s = h.summary();
  CHECK(s.count == 1000);
  CHECK(s.clamped == 0);
  CHECK(s.min == 1);
  CHECK(s.max == 1000);
  CHECK(s.mean == Approx(500.5));
  CHECK(s.stddev == Approx(std::sqrt((1000.0 * 1000.0 - 1.0) / 12.0)));
  CHECK(s.p50 == 500);
  CHECK(s.p90 == 900);
  CHECK(s.p99 == 990);
  CHECK(s.p999 == 999);
}

TEST_CASE("latency_histogram: the standard deviation's error is absolute, not relative", "[metrics][histogram]") {
  // values sharing a bucket count as equal: a spread within one bucket reads 0
  latency_histogram h(1'000'000'000, 3);
  h.record(2048);
  h.record(2049);  // [2048, 2049] is one bucket at 3 digits; the exact stddev is 0.5
  CHECK(h.stddev() == 0.0);
  CHECK(std::abs(h.mean() - 2048.5) <= 2048.5 / 1000);  // the mean keeps the relative precision
  latency_histogram wide(1'000'000'000, 3);
  wide.record(1'000'000);
  wide.record(1'000'100);  // one bucket of 512 values; the exact stddev is 50
  CHECK(wide.stddev() == 0.0);
  CHECK(50.0 <= static_cast<double>(wide.max()) / 1000 / 2);  // within the documented max() * 10^-d / 2
}

TEST_CASE("latency_histogram: 4 threads recording concurrently lose no count", "[metrics][histogram]") {
  surge_test::watchdog dog("histogram concurrent record");
  const std::size_t stripes = GENERATE(1u, 2u, 4u);
  INFO("stripes " << stripes);
  latency_histogram h(latency_histogram::one_hour_ns, 3, surge::histogram_stripes{stripes});
  constexpr int threads = 4;
  const int per = surge_test::scaled(200'000);
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<unsigned>(t));
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      for (int i = 0; i < per; ++i) {
        // half the records on one hot value (the same counter for every thread)
        if (i % 2) {
          h.record(1000);
        } else {
          h.record(static_cast<std::int64_t>(rng() % 10'000'000) + 1, 1);
        }
      }
      h.record(-1);       // every thread sets the minimum...
      h.record(i64_max);  // ...and the maximum, racing
    });
  // a racing reader sees a growing count and valid percentiles
  std::uint64_t last = 0;
  while (ready.load() < threads) std::this_thread::yield();
  for (int i = 0; i < 20; ++i) {
    const auto c = h.count();
    CHECK(c >= last);
    last = c;
    CHECK(h.value_at_percentile(50) <= h.highest_trackable());
  }
  for (auto& t : ts) t.join();
  CHECK(h.count() == static_cast<std::uint64_t>(threads) * (static_cast<std::uint64_t>(per) + 2));
  CHECK(h.clamped() == 2 * threads);
  CHECK(h.min() == 0);
  CHECK(h.max() == h.highest_trackable());
  std::uint64_t hot = 0;
  for (const auto b : h)
    if (b.lowest <= 1000 && 1000 <= b.highest) hot = b.count;
  CHECK(hot >= static_cast<std::uint64_t>(threads) * static_cast<std::uint64_t>(per / 2));
}
