// Rate limiters: ns per token_bucket::try_acquire (uncontended with and
// without the clock read, and 2 threads on one bucket) against a
// mutex-protected token bucket (the x/time/rate / Guava design: a mutex around
// double tokens and a last-update stamp), and keyed_limiter operations per
// second over 1M keys against a mutex around std::unordered_map of such buckets.
// All rows of a scenario run in the same process, alternating, medians reported.
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/leaky_bucket.hpp>
#include <surge/limit/token_bucket.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench.hpp"

namespace {

using steady = std::chrono::steady_clock;

/// The baseline: a mutex around x/time/rate's float state.
class mutex_bucket {
 public:
  mutex_bucket(double rate, double burst) : rate_per_ns_(rate / 1e9), burst_(burst), tokens_(burst) {}
  mutex_bucket(const mutex_bucket& o)
      : rate_per_ns_(o.rate_per_ns_), burst_(o.burst_), tokens_(o.tokens_), last_(o.last_) {}
  bool try_acquire(double n, steady::time_point now) {
    const std::int64_t t = now.time_since_epoch().count();
    std::lock_guard lock(m_);
    const std::int64_t last = std::min(last_, t);
    const double tokens = std::min(burst_, tokens_ + static_cast<double>(t - last) * rate_per_ns_);
    last_ = t;
    if (tokens < n) {
      tokens_ = tokens;
      return false;
    }
    tokens_ = tokens - n;
    return true;
  }
  bool try_acquire(double n = 1) { return try_acquire(n, steady::now()); }

 private:
  std::mutex m_;
  double rate_per_ns_, burst_, tokens_;
  std::int64_t last_ = 0;
};

template <class B>
double uncontended_clock_ns(B& b, std::uint64_t ops) {
  std::uint64_t ok = 0;
  const double ns = surge_bench::time_ns([&] {
    for (std::uint64_t i = 0; i < ops; ++i) ok += b.try_acquire(1) ? 1 : 0;
  });
  surge_bench::do_not_optimize(ok);
  return ns / static_cast<double>(ops);
}

template <class B>
double uncontended_now_ns(B& b, std::uint64_t ops) {
  std::uint64_t ok = 0;
  steady::time_point now = steady::now();
  const double ns = surge_bench::time_ns([&] {
    for (std::uint64_t i = 0; i < ops; ++i) {
      now += std::chrono::nanoseconds(1);  // rate 1e9/s: every call is admitted
      ok += b.try_acquire(1, now) ? 1 : 0;
    }
  });
  surge_bench::do_not_optimize(ok);
  return ns / static_cast<double>(ops);
}

/// ns per operation (wall time / total operations) with `threads` threads
/// calling try_acquire() (clock read included) on one bucket.
template <class B>
double contended_ns(B& b, unsigned threads, std::uint64_t ops_per_thread, bool pre_read) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (unsigned k = 0; k < threads; ++k)
    pool.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) surge::detail::cpu_relax();
      std::uint64_t ok = 0;
      if (pre_read) {
        steady::time_point now = steady::now();
        for (std::uint64_t i = 0; i < ops_per_thread; ++i) {
          now += std::chrono::nanoseconds(1);
          ok += b.try_acquire(1, now) ? 1 : 0;
        }
      } else {
        for (std::uint64_t i = 0; i < ops_per_thread; ++i) ok += b.try_acquire(1) ? 1 : 0;
      }
      surge_bench::do_not_optimize(ok);
    });
  while (ready.load() < threads) std::this_thread::yield();
  const double ns = surge_bench::time_ns([&] {
    go.store(true, std::memory_order_release);
    for (auto& t : pool) t.join();
  });
  return ns / static_cast<double>(threads * ops_per_thread);
}

/// The keyed baseline: one mutex around an unordered_map of buckets.
class mutex_keyed {
 public:
  mutex_keyed(double rate, double burst) : rate_(rate), burst_(burst) {}
  bool try_acquire(std::uint64_t key, std::size_t n, steady::time_point now) {
    std::lock_guard lock(m_);
    auto it = map_.try_emplace(key, rate_, burst_).first;
    return it->second.try_acquire(static_cast<double>(n), now);
  }

 private:
  std::mutex m_;
  double rate_, burst_;
  std::unordered_map<std::uint64_t, mutex_bucket> map_;
};

template <class K>
double keyed_ops_per_s(K& k, unsigned threads, std::uint64_t ops_per_thread, std::uint64_t keys) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      std::vector<std::uint64_t> seq(4096);
      for (auto& s : seq) s = rng() % keys;
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) surge::detail::cpu_relax();
      const steady::time_point now = steady::now();
      std::uint64_t ok = 0, x = rng();
      for (std::uint64_t i = 0; i < ops_per_thread; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;  // LCG: uniform over the keys
        ok += k.try_acquire((x >> 20) % keys, 1, now + std::chrono::nanoseconds(i)) ? 1 : 0;
      }
      surge_bench::do_not_optimize(ok);
    });
  while (ready.load() < threads) std::this_thread::yield();
  const double ns = surge_bench::time_ns([&] {
    go.store(true, std::memory_order_release);
    for (auto& th : pool) th.join();
  });
  return static_cast<double>(threads * ops_per_thread) / (ns / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = surge_bench::parse_args(argc, argv);
  using surge_bench::better;
  const std::uint64_t ops = opts.quick ? 100'000 : 20'000'000;
  const std::uint64_t contended_ops = opts.quick ? 50'000 : 5'000'000;
  surge_bench::report rep("surge limit: token_bucket::try_acquire and keyed_limiter vs mutex-protected token buckets");

  // rate 1e9/s, burst 1000: the admit path (a CAS / a store) is what is timed
  if (surge_bench::selected(opts, "uncontended")) {
    std::vector<double> s_clock, m_clock, s_now, m_now, clock_only;
    for (int r = 0; r < opts.reps; ++r) {
      surge::token_bucket<> sb(1e9, 1000);
      mutex_bucket mb(1e9, 1000);
      s_clock.push_back(uncontended_clock_ns(sb, ops));
      m_clock.push_back(uncontended_clock_ns(mb, ops));
      s_now.push_back(uncontended_now_ns(sb, ops));
      m_now.push_back(uncontended_now_ns(mb, ops));
      std::int64_t sum = 0;
      clock_only.push_back(surge_bench::time_ns([&] {
                             for (std::uint64_t i = 0; i < ops; ++i) sum += steady::now().time_since_epoch().count();
                           }) /
                           static_cast<double>(ops));
      surge_bench::do_not_optimize(sum);
    }
    rep.add({"try_acquire, clock read", "surge token_bucket", surge_bench::median(s_clock), "ns/op", better::lower});
    rep.add({"try_acquire, clock read", "mutex token bucket", surge_bench::median(m_clock), "ns/op", better::lower});
    rep.add({"try_acquire, clock read", "steady_clock::now alone", surge_bench::median(clock_only), "ns/op",
             better::lower, "the clock's share"});
    rep.add({"try_acquire, pre-read now", "surge token_bucket", surge_bench::median(s_now), "ns/op", better::lower});
    rep.add({"try_acquire, pre-read now", "mutex token bucket", surge_bench::median(m_now), "ns/op", better::lower});
  }

  if (surge_bench::selected(opts, "contended")) {
    for (bool pre_read : {false, true}) {
      std::vector<double> s2, m2;
      for (int r = 0; r < opts.reps; ++r) {
        surge::token_bucket<> sb(1e9, 1000);
        mutex_bucket mb(1e9, 1000);
        s2.push_back(contended_ns(sb, 2, contended_ops, pre_read));
        m2.push_back(contended_ns(mb, 2, contended_ops, pre_read));
      }
      const std::string sc =
          std::string("try_acquire, 2 threads one bucket, ") + (pre_read ? "pre-read now" : "clock read");
      rep.add({sc, "surge token_bucket", surge_bench::median(s2), "ns/op", better::lower, "wall time / all ops"});
      rep.add({sc, "mutex token bucket", surge_bench::median(m2), "ns/op", better::lower});
    }
  }

  if (surge_bench::selected(opts, "keyed")) {
    const std::uint64_t keys = opts.quick ? 10'000 : 1'000'000;
    const std::uint64_t kops = opts.quick ? 50'000 : 4'000'000;
    for (unsigned threads : {1u, 2u}) {
      std::vector<double> sk, mk;
      for (int r = 0; r < std::min(opts.reps, 3); ++r) {
        {
          surge::keyed_limiter<std::uint64_t, surge::token_bucket<>> k(surge::token_bucket<>(100.0, 10), keys);
          sk.push_back(keyed_ops_per_s(k, threads, kops, keys));
        }
        {
          mutex_keyed m(100.0, 10);
          mk.push_back(keyed_ops_per_s(m, threads, kops, keys));
        }
      }
      const std::string sc = std::string("keyed try_acquire, ") + (opts.quick ? "10k" : "1M") + " keys, " +
                             std::to_string(threads) + " thread" + (threads > 1 ? "s" : "");
      rep.add({sc, "surge keyed_limiter", surge_bench::median(sk), "ops/s", better::higher});
      rep.add({sc, "mutex + unordered_map", surge_bench::median(mk), "ops/s", better::higher});
    }
  }
  rep.print(opts);
}
