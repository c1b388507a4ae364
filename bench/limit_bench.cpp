// Rate limiters: ns per token_bucket::try_acquire (uncontended with and
// without the clock read, and 2 threads on one bucket, with every call
// admitted and with almost every call rejected) against a hand-written,
// faithful port of golang.org/x/time/rate's Limiter (a mutex around float64
// tokens and time stamps; no C++ port of it is packaged in Debian), and
// keyed_limiter operations per second over 1M keys against one mutex around a
// std::unordered_map of such limiters (also hand-written); and the leaky
// bucket meter and pacer against hand-written ports of their models: nginx
// limit_req's per-key arithmetic behind a mutex, and uber-go/ratelimit's
// lock-free int64 pacer (neither is a C++ library packaged in Debian).
// All rows of a scenario run in the same process, alternating, medians reported.
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/leaky_bucket.hpp>
#include <surge/limit/token_bucket.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "bench.hpp"

namespace {

using steady = std::chrono::steady_clock;

/// The baseline (hand-written): a faithful C++ port of golang.org/x/time/rate's
/// Limiter — a mutex around float64 tokens, the time of the last update and
/// the time of the last event — with AllowN's arithmetic: advance() refills
/// `elapsed * limit` tokens capped at burst (a time before `last` counts as no
/// time elapsed), a refused call writes nothing, an admitted one stores the
/// new tokens and sets `last` to the call's time (even when that moves it back,
/// as x/time/rate does).
class xrate_limiter {
 public:
  struct state {
    double limit;  // tokens per second
    double burst;
    double tokens;
    std::int64_t last = 0;        // ns
    std::int64_t last_event = 0;  // ns
    state(double rate, double b) : limit(rate), burst(b), tokens(b) {}
    bool allow_n(double n, std::int64_t t) {
      std::int64_t last_t = last;
      if (t < last_t) last_t = t;
      const double elapsed_s = static_cast<double>(t - last_t) / 1e9;
      double tok = std::min(burst, tokens + elapsed_s * limit);
      tok -= n;
      std::int64_t wait = 0;
      if (tok < 0) wait = static_cast<std::int64_t>(1e9 * (-tok / limit));
      const bool ok = n <= burst && wait <= 0;  // AllowN: maxFutureReserve = 0
      if (ok) {
        last = t;
        tokens = tok;
        last_event = t + wait;
      }
      return ok;
    }
  };

  xrate_limiter(double rate, double burst) : s_(rate, burst) {}
  bool try_acquire(double n, steady::time_point now) {
    const std::int64_t t = now.time_since_epoch().count();
    std::lock_guard lock(m_);
    return s_.allow_n(n, t);
  }
  bool try_acquire(double n = 1) { return try_acquire(n, steady::now()); }

 private:
  std::mutex m_;
  state s_;
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

/// One timed run: ns per call, the calls made and admitted, and how far apart
/// the clock readings the limiter was given can be (at most), the time a
/// limiter model allows admissions for (see admitted_share).
struct run_result {
  double ns_per_op = 0;
  std::uint64_t calls = 0;
  std::uint64_t admitted = 0;
  double span_ns = 0;
};

template <class B>
run_result uncontended_now(B& b, std::uint64_t ops, std::chrono::nanoseconds step = std::chrono::nanoseconds(1)) {
  std::uint64_t ok = 0;
  steady::time_point now = steady::now();
  const double ns = surge_bench::time_ns([&] {
    for (std::uint64_t i = 0; i < ops; ++i) {
      now += step;  // 1 ns at rate 1e9/s: every call is admitted
      ok += b.try_acquire(1, now) ? 1 : 0;
    }
  });
  surge_bench::do_not_optimize(ok);
  return {ns / static_cast<double>(ops), ops, ok, static_cast<double>((ops - 1) * step.count())};
}

/// ns per operation (wall time / total operations) with `threads` threads
/// calling try_acquire on one bucket, and the calls admitted.
/// With `pre_read`, each thread reads the clock once every 64 calls and adds
/// 1 ns per call in between: the threads' readings stay within ~64 ns of real
/// time and of each other, so the bucket sees one coherent clock (a per-thread
/// counter from the thread's start would drift apart from the other thread's,
/// and the lagging thread would be refused, not measured on the admit path).
template <class B>
run_result contended(B& b, unsigned threads, std::uint64_t ops_per_thread, bool pre_read,
                     std::chrono::nanoseconds step = std::chrono::nanoseconds(1)) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::atomic<std::uint64_t> admitted{0};
  std::vector<std::thread> pool;
  for (unsigned k = 0; k < threads; ++k)
    pool.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) surge::detail::cpu_relax();
      std::uint64_t ok = 0;
      if (pre_read) {
        steady::time_point now{};
        for (std::uint64_t i = 0; i < ops_per_thread; ++i) {
          now = (i % 64 == 0) ? steady::now() : now + step;
          ok += b.try_acquire(1, now) ? 1 : 0;
        }
      } else {
        for (std::uint64_t i = 0; i < ops_per_thread; ++i) ok += b.try_acquire(1) ? 1 : 0;
      }
      admitted.fetch_add(ok);
    });
  while (ready.load() < threads) std::this_thread::yield();
  const double ns = surge_bench::time_ns([&] {
    go.store(true, std::memory_order_release);
    for (auto& t : pool) t.join();
  });
  const std::uint64_t total = threads * ops_per_thread;
  // every reading is taken after the start of the timing and, stepped, runs
  // at most 63 steps past its end
  return {ns / static_cast<double>(total), total, admitted.load(),
          ns + (pre_read ? 63.0 * static_cast<double>(step.count()) : 0.0)};
}

/// "admitted x%" for a row's runs, and whether a run admitted more than a
/// limiter of `rate` per second may over its readings: rate x span + `burst`
/// (pass burst + 1 for a meter, which admits B + 1 at one instant, and slack
/// + 1 for a pacer). A row over it did not do the work its scenario names.
struct admitted_share {
  std::vector<double> shares;
  std::string over;
  void add(const run_result& r, double rate, double burst) {
    shares.push_back(static_cast<double>(r.admitted) / static_cast<double>(r.calls));
    const double allowed = std::floor(rate * r.span_ns / 1e9) + burst;
    if (over.empty() && static_cast<double>(r.admitted) > allowed)
      over = fmt::format("; WRONG: admitted {} of {} calls, rate x time + burst allows {:.0f}", r.admitted, r.calls,
                         allowed);
  }
  std::string note() const { return fmt::format("admitted {:.1f}%{}", 100.0 * surge_bench::median(shares), over); }
};

/// The meter baseline (hand-written): nginx limit_req's per-key arithmetic
/// (ngx_http_limit_req_lookup and _account, nodelay: an excess in
/// milli-requests drained by rate * ms / 1000, a millisecond stamp moved only
/// when a millisecond passed, a refused request writing nothing) behind a
/// std::mutex, as one node of nginx's shared zone sits behind its mutex.
class nginx_meter_port {
 public:
  nginx_meter_port(std::int64_t rate_per_s, std::int64_t burst) : rate_m_(rate_per_s * 1000), burst_m_(burst * 1000) {}
  bool try_acquire(std::size_t, steady::time_point now) {
    const std::int64_t now_ms = now.time_since_epoch().count() / 1'000'000;
    std::lock_guard lock(m_);
    if (fresh_) {
      fresh_ = false;
      last_ms_ = now_ms;
      return true;
    }
    std::int64_t ms = now_ms - last_ms_;
    if (ms < -60'000)
      ms = 1;
    else if (ms < 0)
      ms = 0;
    const std::int64_t excess = std::max<std::int64_t>(0, excess_ - rate_m_ * ms / 1000 + 1000);
    if (excess > burst_m_) return false;
    excess_ = excess;
    if (ms != 0) last_ms_ = now_ms;
    return true;
  }
  bool try_acquire(std::size_t n) { return try_acquire(n, steady::now()); }

 private:
  std::mutex m_;
  std::int64_t rate_m_, burst_m_;
  std::int64_t excess_ = 0, last_ms_ = 0;
  bool fresh_ = true;
};

/// The pacer baseline (hand-written): uber-go/ratelimit's lock-free int64
/// limiter — one atomic int64, the time of the next permission in ns, moved by
/// CAS; the interval truncated to whole nanoseconds; `maxSlack` = slack
/// intervals — without its sleep (it returns the time to wait until, as
/// surge's take() does).
class uber_pacer_port {
 public:
  uber_pacer_port(double rate_per_s, std::int64_t slack)
      : per_(static_cast<std::int64_t>(1e9 / rate_per_s)), max_slack_(slack * per_) {}
  std::int64_t take(std::int64_t now) {
    std::int64_t next = 0;
    std::int64_t issued = state_.load(std::memory_order_acquire);
    for (;;) {
      if (issued == 0 || (max_slack_ == 0 && now - issued > per_))
        next = now;
      else if (max_slack_ > 0 && now - issued > max_slack_ + per_)
        next = now - max_slack_;
      else
        next = issued + per_;
      if (state_.compare_exchange_weak(issued, next, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    return next > now ? next : now;
  }

 private:
  std::int64_t per_, max_slack_;
  std::atomic<std::int64_t> state_{0};
};

/// try_acquire(n, now) over a meter (admitted unless rejected) or a pacer
/// (the caller may proceed at once), so the timing loops above drive them.
template <class M>
struct meter_calls {
  M& m;
  bool try_acquire(std::size_t, steady::time_point now) { return m.admit(now).admitted(); }
  bool try_acquire(std::size_t n) { return try_acquire(n, steady::now()); }
};
template <class P>
struct pacer_calls {
  P& p;
  bool try_acquire(std::size_t, steady::time_point now) {
    if constexpr (std::is_same_v<P, uber_pacer_port>)
      return p.take(now.time_since_epoch().count()) == now.time_since_epoch().count();
    else
      return p.take(now) == now;
  }
  bool try_acquire(std::size_t n) { return try_acquire(n, steady::now()); }
};

/// One cross-core cache-line transfer: two threads ping-pong a counter on one
/// line (as bench/detail_bench.cpp does); ns per transfer = round trip / 2.
/// The physical unit of every 2-thread row: a call that writes a line the
/// other core wrote last pays about one of these.
double line_transfer_ns(std::uint64_t rounds) {
  alignas(surge::detail::cache_line_size) std::atomic<std::uint64_t> ball{0};
  std::thread other([&] {
    for (std::uint64_t i = 1; i <= rounds; ++i) {
      while (ball.load(std::memory_order_acquire) != 2 * i - 1) surge::detail::cpu_relax();
      ball.store(2 * i, std::memory_order_release);
    }
  });
  const double ns = surge_bench::time_ns([&] {
    for (std::uint64_t i = 1; i <= rounds; ++i) {
      ball.store(2 * i - 1, std::memory_order_release);
      while (ball.load(std::memory_order_acquire) != 2 * i) surge::detail::cpu_relax();
    }
  });
  other.join();
  return ns / static_cast<double>(rounds) / 2.0;
}

/// Wall time per clock read with `threads` threads reading steady_clock: the
/// floor of every "clock read" row with that many threads.
double clock_only_ns(unsigned threads, std::uint64_t ops_per_thread) {
  struct no_limit {
    bool try_acquire(std::size_t) { return steady::now().time_since_epoch().count() != 0; }
    bool try_acquire(std::size_t, steady::time_point) { return true; }
  } b;
  return contended(b, threads, ops_per_thread, false).ns_per_op;
}

/// The keyed baseline (hand-written): one mutex around an unordered_map of
/// x/time/rate states, reserved for every key up front so no rehash happens
/// while timing; one lock per call. Unlike keyed_limiter its memory is not
/// bounded: it keeps every key it has seen.
class mutex_keyed {
 public:
  mutex_keyed(double rate, double burst, std::size_t keys) : rate_(rate), burst_(burst) { map_.reserve(keys); }
  bool try_acquire(std::uint64_t key, std::size_t n, steady::time_point now) {
    const std::int64_t t = now.time_since_epoch().count();
    std::lock_guard lock(m_);
    auto it = map_.try_emplace(key, rate_, burst_).first;
    return it->second.allow_n(static_cast<double>(n), t);
  }

 private:
  std::mutex m_;
  double rate_, burst_;
  std::unordered_map<std::uint64_t, xrate_limiter::state> map_;
};

template <class K>
double keyed_ops_per_s(K& k, unsigned threads, std::uint64_t ops_per_thread, std::uint64_t keys) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
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
  surge_bench::report rep(
      "surge limit: token_bucket::try_acquire and keyed_limiter vs mutex-protected token buckets; the leaky bucket "
      "meter and pacer vs ports of nginx limit_req and uber-go/ratelimit");

  // rate 1e9/s, burst 1000: the admit path (a CAS / a store) is what is timed;
  // then the reject path (a load for surge; the mutex writes either way)
  const std::string clock_sc = "try_acquire, clock read", now_sc = "try_acquire, pre-read now",
                    rej_sc = "try_acquire, rejected, pre-read now";
  const bool clock_on = surge_bench::selected(opts, clock_sc), now_on = surge_bench::selected(opts, now_sc),
             rej_on = surge_bench::selected(opts, rej_sc);
  if (clock_on || now_on || rej_on) {
    std::vector<double> s_clock, m_clock, s_now, m_now, s_rej, m_rej, clock_only;
    for (int r = 0; r < opts.reps; ++r) {
      if (clock_on || now_on) {
        surge::token_bucket<> sb(1e9, 1000);
        xrate_limiter mb(1e9, 1000);
        if (clock_on) {
          s_clock.push_back(uncontended_clock_ns(sb, ops));
          m_clock.push_back(uncontended_clock_ns(mb, ops));
        }
        if (now_on) {
          s_now.push_back(uncontended_now(sb, ops).ns_per_op);
          m_now.push_back(uncontended_now(mb, ops).ns_per_op);
        }
      }
      if (rej_on) {
        surge::token_bucket<> sr(1000.0, 10);  // rate 1000/s, burst 10: the 1 ns steps refuse almost every call
        xrate_limiter mr(1000.0, 10);
        s_rej.push_back(uncontended_now(sr, ops).ns_per_op);
        m_rej.push_back(uncontended_now(mr, ops).ns_per_op);
      }
      if (clock_on) {
        std::int64_t sum = 0;
        clock_only.push_back(surge_bench::time_ns([&] {
                               for (std::uint64_t i = 0; i < ops; ++i) sum += steady::now().time_since_epoch().count();
                             }) /
                             static_cast<double>(ops));
        surge_bench::do_not_optimize(sum);
      }
    }
    if (clock_on) {
      rep.add({clock_sc, "surge token_bucket", surge_bench::median(s_clock), "ns/op", better::lower});
      rep.add({clock_sc, "x/time/rate port (mutex)", surge_bench::median(m_clock), "ns/op", better::lower});
      rep.add({clock_sc, "steady_clock::now alone", surge_bench::median(clock_only), "ns/op", better::lower,
               "the clock's share"});
    }
    if (now_on) {
      rep.add({now_sc, "surge token_bucket", surge_bench::median(s_now), "ns/op", better::lower});
      rep.add({now_sc, "x/time/rate port (mutex)", surge_bench::median(m_now), "ns/op", better::lower});
    }
    if (rej_on) {
      rep.add({rej_sc, "surge token_bucket", surge_bench::median(s_rej), "ns/op", better::lower});
      rep.add({rej_sc, "x/time/rate port (mutex)", surge_bench::median(m_rej), "ns/op", better::lower});
    }
  }

  // 2 threads on one bucket. Admitted: rate 1e9/s, burst 1000 (every call
  // passes, so every call writes the state). Rejected: rate 1000/s, burst 10
  // (all but the first few calls are refused: the regime of a limiter that is
  // actually limiting).
  const std::string transfer_sc = "cache-line transfer between the 2 cores";
  if (surge_bench::selected(opts, transfer_sc)) {
    std::vector<double> transfer;
    for (int r = 0; r < opts.reps; ++r) transfer.push_back(line_transfer_ns(opts.quick ? 10'000 : 1'000'000));
    rep.add({transfer_sc, "atomic ping-pong / 2", surge_bench::median(transfer), "ns", better::lower,
             "reference (bench/detail_bench.cpp)"});
  }
  for (bool rejected : {false, true}) {
    for (bool pre_read : {false, true}) {
      const std::string sc = std::string("try_acquire, 2 threads one bucket, ") +
                             (rejected ? "rejected, " : "admitted, ") + (pre_read ? "now read 1 in 64" : "clock read");
      if (!surge_bench::selected(opts, sc)) continue;
      const double rate = rejected ? 1000.0 : 1e9;
      const std::size_t burst = rejected ? 10 : 1000;
      std::vector<double> s2, m2, c2;
      admitted_share sa, ma;
      for (int r = 0; r < opts.reps; ++r) {
        surge::token_bucket<> sb(rate, burst);
        xrate_limiter mb(rate, static_cast<double>(burst));
        const run_result sr = contended(sb, 2, contended_ops, pre_read);
        const run_result mr = contended(mb, 2, contended_ops, pre_read);
        s2.push_back(sr.ns_per_op);
        sa.add(sr, rate, static_cast<double>(burst));
        m2.push_back(mr.ns_per_op);
        ma.add(mr, rate, static_cast<double>(burst));
        if (!pre_read) c2.push_back(clock_only_ns(2, contended_ops));
      }
      rep.add({sc, "surge token_bucket", surge_bench::median(s2), "ns/op", better::lower,
               "wall time / all ops; " + sa.note()});
      rep.add({sc, "x/time/rate port (mutex)", surge_bench::median(m2), "ns/op", better::lower, ma.note()});
      if (!pre_read)
        rep.add({sc, "steady_clock::now alone", surge_bench::median(c2), "ns/op", better::lower,
                 "the clock's floor, 2 threads"});
    }
  }

  const std::uint64_t keys = opts.quick ? 10'000 : 1'000'000;
  const std::uint64_t kops = opts.quick ? 50'000 : 4'000'000;
  for (unsigned threads : {1u, 2u}) {
    const std::string sc = std::string("keyed try_acquire, ") + (opts.quick ? "10k" : "1M") + " keys, " +
                           std::to_string(threads) + " thread" + (threads > 1 ? "s" : "");
    if (!surge_bench::selected(opts, sc)) continue;
    std::vector<double> sk, mk;
    for (int r = 0; r < std::min(opts.reps, 3); ++r) {
      {
        surge::keyed_limiter<std::uint64_t, surge::token_bucket<>> k(surge::token_bucket<>(100.0, 10), keys);
        sk.push_back(keyed_ops_per_s(k, threads, kops, keys));
      }
      {
        mutex_keyed m(100.0, 10, keys);
        mk.push_back(keyed_ops_per_s(m, threads, kops, keys));
      }
    }
    rep.add({sc, "surge keyed_limiter", surge_bench::median(sk), "ops/s", better::higher});
    rep.add({sc, "mutex + unordered_map of x/time/rate", surge_bench::median(mk), "ops/s", better::higher,
             "hand-written; unbounded memory"});
  }
  // The leaky bucket meter (nodelay) and pacer, with the reading pre-read and
  // stepped per call. Admitted: rate 1e9/s, 1 us steps (nginx's arithmetic
  // drains only when a millisecond passes, so at 1 ns steps a burst of 1000
  // would run out within the millisecond), burst 1e6, a millisecond of rate:
  // with 2 threads nginx's arithmetic drains about once per real millisecond,
  // and a thread's stepped readings run up to 63 us ahead of the other's,
  // which the exact meter judges as that much excess (with burst 1000 both
  // refused almost every call). Rejected: rate 1000/s, burst 10, 1 ns steps. The pacer: 1e9/s, slack 10, 1 ns steps (every take writes).
  // A meter admits burst + 1 at one instant, a pacer slack + 1; nginx's
  // arithmetic, which counts whole milliseconds, up to a millisecond's rate more.
  using us = std::chrono::microseconds;
  for (unsigned threads : {1u, 2u}) {
    const std::string who = threads == 1 ? "" : ", 2 threads one limiter";
    const auto time = [&](auto& calls, std::chrono::nanoseconds step) {
      return threads == 1 ? uncontended_now(calls, ops / 4, step) : contended(calls, 2, contended_ops, true, step);
    };
    for (bool rejected : {false, true}) {
      const std::string sc = std::string("meter admit, ") + (rejected ? "rejected" : "admitted") + who;
      if (!surge_bench::selected(opts, sc)) continue;
      const double rate = rejected ? 1000.0 : 1e9;
      const std::size_t burst = rejected ? 10 : 1'000'000;
      const double meter_burst = static_cast<double>(burst) + 1, nginx_burst = meter_burst + rate / 1000;
      const std::chrono::nanoseconds step = rejected ? std::chrono::nanoseconds(1) : us(1);
      std::vector<double> se, sn, np;
      admitted_share ae, an, ap;
      for (int r = 0; r < opts.reps; ++r) {
        surge::leaky_bucket<> exact(rate, burst, surge::nodelay);
        auto ng = surge::leaky_bucket<>::nginx(static_cast<std::size_t>(rate), surge::nginx_rate_unit::per_second,
                                               burst, surge::nodelay);
        nginx_meter_port port(static_cast<std::int64_t>(rate), static_cast<std::int64_t>(burst));
        meter_calls<surge::leaky_bucket<>> ce{exact}, cn{ng};
        const run_result re = time(ce, step), rn = time(cn, step), rp = time(port, step);
        se.push_back(re.ns_per_op);
        ae.add(re, rate, meter_burst);
        sn.push_back(rn.ns_per_op);
        an.add(rn, rate, nginx_burst);
        np.push_back(rp.ns_per_op);
        ap.add(rp, rate, nginx_burst);
      }
      rep.add({sc, "surge leaky_bucket (exact)", surge_bench::median(se), "ns/op", better::lower, ae.note()});
      rep.add({sc, "surge leaky_bucket::nginx", surge_bench::median(sn), "ns/op", better::lower,
               "nginx's arithmetic, spin flag; " + an.note()});
      rep.add({sc, "nginx limit_req port (mutex)", surge_bench::median(np), "ns/op", better::lower,
               "hand-written; " + ap.note()});
    }
    const std::string sc = "pacer take" + who;
    if (!surge_bench::selected(opts, sc)) continue;
    std::vector<double> sp, up;
    admitted_share as, au;
    for (int r = 0; r < opts.reps; ++r) {
      surge::leaky_bucket_pacer<> pacer(1e9, 10);
      uber_pacer_port port(1e9, 10);
      pacer_calls<surge::leaky_bucket_pacer<>> cs{pacer};
      pacer_calls<uber_pacer_port> cu{port};
      const run_result rs = time(cs, std::chrono::nanoseconds(1)), ru = time(cu, std::chrono::nanoseconds(1));
      sp.push_back(rs.ns_per_op);
      as.add(rs, 1e9, 11);
      up.push_back(ru.ns_per_op);
      au.add(ru, 1e9, 11);
    }
    rep.add({sc, "surge leaky_bucket_pacer", surge_bench::median(sp), "ns/op", better::lower, as.note()});
    rep.add({sc, "uber-go/ratelimit port (atomic int64)", surge_bench::median(up), "ns/op", better::lower,
             "hand-written; " + au.note()});
  }
  rep.print(opts);
}
