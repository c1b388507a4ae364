// Metrics: ns per latency_histogram::record at 1 and 2 threads, with one set
// of counters and with two stripes, against two hand-written baselines (a
// mutex-protected std::vector of samples, sorted for percentiles; and a
// mutex-protected copy of the same HdrHistogram bucket layout), beside the
// floor of one uncontended atomic increment measured in the same run; and ns
// per rate_meter::mark at 1 and 2 threads. All rows of a scenario run in the
// same process, alternating, medians reported.
//
// --sweep: record at 1, 2 and 4 threads (4 on a 2-core machine is the
// oversubscribed case) into histograms of 1, 2, 4 and 8 stripes, beside the
// floor; and what the stripes cost the readers: one value_at_percentile(99)
// at 2, 3 and 4 significant digits (more counters) and 1 to 8 stripes.
#include <surge/detail/backoff.hpp>
#include <surge/metrics/histogram.hpp>
#include <surge/metrics/meter.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench.hpp"

namespace {

/// Baseline 1 (hand-written): every sample kept in a vector under a mutex;
/// percentiles by sorting a copy.
class mutex_vector {
 public:
  void record(std::int64_t v) {
    std::lock_guard lock(m_);
    samples_.push_back(v);
  }
  std::int64_t percentile(double p) {
    std::vector<std::int64_t> s;
    {
      std::lock_guard lock(m_);
      s = samples_;
    }
    std::sort(s.begin(), s.end());
    return s.empty() ? 0 : s[static_cast<std::size_t>(p / 100.0 * static_cast<double>(s.size() - 1))];
  }
  void reserve(std::size_t n) { samples_.reserve(n); }

 private:
  std::mutex m_;
  std::vector<std::int64_t> samples_;
};

/// Baseline 2 (hand-written): the same HdrHistogram layout (3 digits, one
/// hour in ns) as plain counters under one mutex.
class mutex_buckets {
 public:
  mutex_buckets() : counts_(33 * 1024, 0) {}
  void record(std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(std::clamp<std::int64_t>(v, 0, highest));
    const unsigned pow2ceiling = 64u - static_cast<unsigned>(std::countl_zero(u | 2047u));
    const unsigned bucket = pow2ceiling - 11u;
    const auto index = ((bucket + 1u) << 10) + (u >> bucket) - 1024u;
    std::lock_guard lock(m_);
    ++counts_[index];
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }

 private:
  static constexpr std::int64_t highest = surge::latency_histogram::one_hour_ns;
  std::mutex m_;
  std::vector<std::uint64_t> counts_;
  std::int64_t min_ = highest, max_ = 0;
};

/// Values with a spread like latencies: 1 us .. ~1 ms, precomputed.
std::vector<std::int64_t> values() {
  std::vector<std::int64_t> v(4096);
  std::uint64_t x = 88172645463325252ULL;
  for (auto& e : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    e = 1000 + static_cast<std::int64_t>(x % 1'000'000);
  }
  return v;
}

/// Wall ns per call with `threads` threads each making `ops` calls of f(i).
template <class F>
double per_call_ns(unsigned threads, std::uint64_t ops, F f) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) surge::detail::cpu_relax();
      for (std::uint64_t i = 0; i < ops; ++i) f(t, i);
    });
  while (ready.load() < threads) std::this_thread::yield();
  const double ns = surge_bench::time_ns([&] {
    go.store(true, std::memory_order_release);
    for (auto& th : pool) th.join();
  });
  return ns / static_cast<double>(threads * ops);
}

/// The floor: ns per call of one uncontended atomic increment, a counter per
/// thread.
double floor_ns(unsigned threads, std::uint64_t ops) {
  struct alignas(128) counter {
    std::atomic<std::uint64_t> n{0};
  };
  std::vector<counter> counters(threads);
  return per_call_ns(threads, ops,
                     [&](unsigned t, std::uint64_t) { counters[t].n.fetch_add(1, std::memory_order_relaxed); });
}

/// --sweep rows (see the header comment).
void sweep(surge_bench::report& rep, const surge_bench::options& opt, const std::vector<std::int64_t>& vals,
           std::uint64_t ops) {
  constexpr std::size_t stripe_counts[] = {1, 2, 4, 8};
  const auto name = [](std::size_t k) {
    return fmt::format("surge latency_histogram, {} stripe{}", k, k > 1 ? "s" : "");
  };
  for (unsigned threads : {1u, 2u, 4u}) {
    const std::string scenario = fmt::format("sweep: record, {} thread{}", threads, threads > 1 ? "s" : "");
    std::vector<std::vector<double>> t(std::size(stripe_counts));
    std::vector<double> floor;
    for (int r = 0; r < opt.reps; ++r) {
      for (std::size_t k = 0; k < std::size(stripe_counts); ++k) {
        surge::latency_histogram h(surge::histogram_stripes{stripe_counts[k]});
        t[k].push_back(per_call_ns(threads, ops, [&](unsigned, std::uint64_t i) { h.record(vals[i & 4095]); }));
      }
      floor.push_back(floor_ns(threads, ops));
    }
    const double fv = surge_bench::median(floor);
    for (std::size_t k = 0; k < std::size(stripe_counts); ++k) {
      const double v = surge_bench::median(t[k]);
      rep.add({scenario, name(stripe_counts[k]), v, "ns/op", surge_bench::better::lower,
               fmt::format("{:.2f}x the floor", v / fv)});
    }
    rep.add({scenario, "floor: uncontended atomic increment", fv, "ns/op", surge_bench::better::lower,
             "a counter per thread, measured beside the rows"});
  }
  for (int digits : {2, 3, 4}) {
    const std::string scenario = fmt::format("sweep: p99 read, {} digits", digits);
    std::vector<std::vector<double>> t(std::size(stripe_counts));
    std::vector<std::size_t> counters(std::size(stripe_counts));
    for (int r = 0; r < opt.reps; ++r)
      for (std::size_t k = 0; k < std::size(stripe_counts); ++k) {
        surge::latency_histogram h(surge::latency_histogram::one_hour_ns, digits,
                                   surge::histogram_stripes{stripe_counts[k]});
        for (const auto v : vals) h.record(v);
        counters[k] = h.counter_count() * stripe_counts[k];
        constexpr int reads = 20;
        const double ns = surge_bench::time_ns([&] {
          for (int i = 0; i < reads; ++i) surge_bench::do_not_optimize(h.value_at_percentile(99));
        });
        t[k].push_back(ns / reads / 1000.0);
      }
    for (std::size_t k = 0; k < std::size(stripe_counts); ++k)
      rep.add({scenario, name(stripe_counts[k]), surge_bench::median(t[k]), "us/op", surge_bench::better::lower,
               fmt::format("{} counters in all", counters[k])});
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto opt = surge_bench::parse_args(argc, argv);
  const std::uint64_t ops = opt.quick ? 20'000 : 2'000'000;
  const auto vals = values();
  if (opt.sweep) {
    surge_bench::report rep(
        "surge latency_histogram by threads and stripes: ns per record (wall time / all calls of all threads), and "
        "us per p99 read by digits and stripes (lower is better)");
    sweep(rep, opt, vals, opt.quick ? 20'000 : 1'000'000);
    rep.print(opt);
    return 0;
  }
  surge_bench::report rep("surge metrics: ns per call (lower is better) against hand-written mutex baselines");

  for (unsigned threads : {1u, 2u}) {
    const std::string scenario = "histogram record, " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : "");
    if (!surge_bench::selected(opt, scenario)) continue;
    std::vector<double> s, st, v, b, floor;
    for (int r = 0; r < opt.reps; ++r) {
      surge::latency_histogram h;
      s.push_back(per_call_ns(threads, ops, [&](unsigned, std::uint64_t i) { h.record(vals[i & 4095]); }));
      surge::latency_histogram striped(surge::histogram_stripes{2});
      st.push_back(per_call_ns(threads, ops, [&](unsigned, std::uint64_t i) { striped.record(vals[i & 4095]); }));
      mutex_buckets mb;
      b.push_back(per_call_ns(threads, ops, [&](unsigned, std::uint64_t i) { mb.record(vals[i & 4095]); }));
      mutex_vector mv;
      mv.reserve(threads * ops);
      v.push_back(per_call_ns(threads, ops, [&](unsigned, std::uint64_t i) { mv.record(vals[i & 4095]); }));
      surge_bench::do_not_optimize(mv.percentile(99));
      floor.push_back(floor_ns(threads, ops));
    }
    const double bv = surge_bench::median(b), fv = surge_bench::median(floor);
    const auto goals = [&](double sv) {
      std::string g = fmt::format("{:.2f}x the floor (goal <= 2x: {})", sv / fv, sv <= 2 * fv ? "met" : "MISSED");
      if (threads > 1)
        g += fmt::format("; {:.2f}x the same-layout mutex (goal >= 3x: {})", bv / sv, bv >= 3 * sv ? "met" : "MISSED");
      return g;
    };
    const double sv = surge_bench::median(s), stv = surge_bench::median(st);
    rep.add({scenario, "surge latency_histogram", sv, "ns/op", surge_bench::better::lower, goals(sv)});
    rep.add({scenario, "surge latency_histogram, 2 stripes", stv, "ns/op", surge_bench::better::lower,
             goals(stv) + "; a set of counters per thread"});
    rep.add({scenario, "mutex + same bucket layout (hand-written)", bv, "ns/op", surge_bench::better::lower,
             "hand-written baseline"});
    rep.add({scenario, "mutex + vector, sort for percentiles (hand-written)", surge_bench::median(v), "ns/op",
             surge_bench::better::lower, "hand-written baseline"});
    rep.add({scenario, "floor: uncontended atomic increment", fv, "ns/op", surge_bench::better::lower,
             "a counter per thread, measured beside the rows"});
  }

  for (unsigned threads : {1u, 2u}) {
    const std::string scenario = "meter mark, " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : "");
    if (!surge_bench::selected(opt, scenario)) continue;
    std::vector<double> s, floor;
    for (int r = 0; r < opt.reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      surge::rate_meter<> m({}, t0);
      // pre-read clock (1 ns per call): the meter's own cost, ticking slots as time passes
      s.push_back(per_call_ns(threads, ops,
                              [&](unsigned, std::uint64_t i) { m.mark(1, t0 + std::chrono::nanoseconds(i * 50)); }));
      surge_bench::do_not_optimize(m.count());
      std::atomic<std::uint64_t> shared{0};
      floor.push_back(
          per_call_ns(threads, ops, [&](unsigned, std::uint64_t) { shared.fetch_add(1, std::memory_order_relaxed); }));
    }
    const double sv = surge_bench::median(s), fv = surge_bench::median(floor);
    rep.add({scenario, "surge rate_meter", sv, "ns/op", surge_bench::better::lower,
             fmt::format("clock pre-read; slot ticks included; {:.2f}x the floor", sv / fv)});
    rep.add({scenario, "floor: one shared atomic increment", fv, "ns/op", surge_bench::better::lower,
             "what any shared counter pays, measured beside the rows"});
  }
  rep.print(opt);
}
