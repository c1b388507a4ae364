// surge balancer policies against simple, honest baselines in the same run:
// ns per pick at 10 and 1000 backends with 1 and 2 threads, rebuild time of
// the ring and Maglev at 1000 backends, and (in the note column) the evenness
// (max/mean keys per backend, 1e6 keys over 10 backends) and the disruption
// (share of keys that move when an 11th backend is added).
//
// Baselines: a mutex-guarded counter (round robin), a mutex-guarded nginx
// smooth WRR, a mutex-guarded linear-scan least-connections, a mutex-guarded
// P2C drawing from the same SplitMix64 stream and multiply-shift reduction as
// surge, std::discrete_distribution (thread-local), a std::map ring
// (std::shared_mutex for readers), the same Maglev table read through an
// atomic pointer with the same hash and reduction, and a hash_combine + log
// weighted HRW. All baselines are hand-written (no balancer library for C++
// is packaged in Debian); std::discrete_distribution is the standard library.
// --sweep: ns per pick of every policy at 10, 1,000, 10,000 and 100,000
// backends (one thread), with the O(n) nginx loop as the reference.
#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/jump_hash.hpp>
#include <surge/balance/least_connections.hpp>
#include <surge/balance/maglev.hpp>
#include <surge/balance/power_of_two.hpp>
#include <surge/balance/random.hpp>
#include <surge/balance/rendezvous.hpp>
#include <surge/balance/round_robin.hpp>
#include <surge/balance/weighted_round_robin.hpp>

#include "bench.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using surge_bench::better;
using surge_bench::do_not_optimize;
using surge_bench::row;

// ns per pick (per thread) of `threads` threads each running body(tid, picks).
template <class Body>
double per_pick(int threads, std::size_t picks, Body& body) {
  if (threads == 1) return surge_bench::time_ns([&] { body(0, picks); }) / static_cast<double>(picks);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      body(t, picks);
    });
  while (ready.load() != threads) {
  }
  const double ns = surge_bench::time_ns([&] {
    go.store(true, std::memory_order_release);
    for (auto& t : ts) t.join();
  });
  return ns / static_cast<double>(picks);
}

struct impl {
  std::string name;
  std::function<void(int, std::size_t)> body;  // (thread id, picks)
  std::string note = {};
  std::string if_faster = {};  // why, when this row beats the scenario's first surge row
};

// Runs every impl `reps` times, alternating, and records medians. A row that
// beats the first surge row says so in its note, with its `if_faster` reason.
void measure(surge_bench::report& rep, const surge_bench::options& o, const std::string& scenario, int threads,
             std::size_t picks, std::vector<impl> impls) {
  if (!surge_bench::selected(o, scenario)) return;
  std::vector<std::vector<double>> runs(impls.size());
  for (int r = 0; r < o.reps; ++r)
    for (std::size_t i = 0; i < impls.size(); ++i) runs[i].push_back(per_pick(threads, picks, impls[i].body));
  const double surge_ns = surge_bench::median(runs[0]);
  for (std::size_t i = 0; i < impls.size(); ++i) {
    const double v = surge_bench::median(runs[i]);
    std::string note = impls[i].note;
    if (!impls[i].if_faster.empty() && v < surge_ns)
      note += (note.empty() ? "" : "; ") + std::string("faster than surge: ") + impls[i].if_faster;
    rep.add(row{scenario, impls[i].name, v, "ns/pick", better::lower, std::move(note)});
  }
}

std::uint64_t key_of(int tid, std::size_t i) {
  return (static_cast<std::uint64_t>(tid) << 40) + i * 0x9e3779b97f4a7c15ULL;
}

// ---- baselines -------------------------------------------------------------

struct mutex_rr {
  std::mutex m;
  std::size_t next = 0, n;
  explicit mutex_rr(std::size_t n_) : n(n_) {}
  std::size_t pick() {
    std::lock_guard<std::mutex> l(m);
    const std::size_t i = next;
    next = next + 1 == n ? 0 : next + 1;
    return i;
  }
};

struct mutex_nginx_wrr {
  std::mutex m;
  std::vector<long> w, cw;
  explicit mutex_nginx_wrr(const std::vector<double>& ws) : cw(ws.size(), 0) {
    for (double x : ws) w.push_back(static_cast<long>(x));
  }
  std::size_t pick() {
    std::lock_guard<std::mutex> l(m);
    long total = 0;
    std::size_t best = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      cw[i] += w[i];
      total += w[i];
      if (i == 0 || cw[i] > cw[best]) best = i;
    }
    cw[best] -= total;
    return best;
  }
};

struct mutex_least_conn {
  std::mutex m;
  std::vector<long> active;
  explicit mutex_least_conn(std::size_t n) : active(n, 0) {}
  std::size_t acquire() {
    std::lock_guard<std::mutex> l(m);
    std::size_t best = 0;
    for (std::size_t i = 1; i < active.size(); ++i)
      if (active[i] < active[best]) best = i;
    ++active[best];
    return best;
  }
  void release(std::size_t i) {
    std::lock_guard<std::mutex> l(m);
    --active[i];
  }
};

// P2C behind a mutex, drawing from a SplitMix64 stream reduced to [0, n) by
// multiply-shift: the same generator and reduction surge's shared stream uses.
struct mutex_p2c {
  std::mutex m;
  std::uint64_t state = 1;
  std::vector<long> active;
  explicit mutex_p2c(std::size_t n) : active(n, 0) {}
  std::size_t draw() noexcept {
    state += 0x9e3779b97f4a7c15ULL;
    return surge::detail::bounded(surge::detail::mix64(state), active.size());
  }
  std::size_t acquire() {
    std::lock_guard<std::mutex> l(m);
    const std::size_t a = draw(), b = draw();
    const std::size_t best = active[b] < active[a] ? b : a;
    ++active[best];
    return best;
  }
  void release(std::size_t i) {
    std::lock_guard<std::mutex> l(m);
    --active[i];
  }
};

struct map_ring {
  std::map<std::uint64_t, std::uint32_t> ring;
  mutable std::shared_mutex m;
  map_ring(std::size_t n, std::size_t vnodes) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t r = 0; r < vnodes; ++r)
        ring.emplace(std::hash<std::string>{}(std::to_string(i) + "-" + std::to_string(r)),
                     static_cast<std::uint32_t>(i));
  }
  std::size_t pick(std::uint64_t key) const {
    std::shared_lock<std::shared_mutex> l(m);
    const std::uint64_t h = std::hash<std::uint64_t>{}(key)*0x9e3779b97f4a7c15ULL;
    auto it = ring.lower_bound(h);
    if (it == ring.end()) it = ring.begin();
    return it->second;
  }
};

// The same Maglev table behind an atomic pointer to an immutable copy (the
// RCU-style publication a competent engineer writes by hand: readers load the
// pointer, a writer swaps it and retires the old table later), indexed by the
// same multiply-shift reduction of the same hash as surge.
struct atomic_ptr_maglev {
  std::vector<std::uint32_t> storage;
  std::atomic<const std::vector<std::uint32_t>*> table;
  explicit atomic_ptr_maglev(std::vector<std::uint32_t> t) : storage(std::move(t)), table(&storage) {}
  std::size_t pick(std::uint64_t key) const {
    const auto* t = table.load(std::memory_order_acquire);
    return (*t)[surge::detail::bounded(surge::key_hash{}(key), t->size())];
  }
};

struct naive_hrw {
  std::vector<double> w;
  explicit naive_hrw(std::vector<double> ws) : w(std::move(ws)) {}
  std::size_t pick(std::uint64_t key) const {
    std::size_t best = 0;
    double top = -1;
    for (std::size_t i = 0; i < w.size(); ++i) {
      std::size_t seed = std::hash<std::uint64_t>{}(key);
      seed ^= std::hash<std::size_t>{}(i) + 0x9e3779b9 + (seed << 6) + (seed >> 2);  // boost::hash_combine
      const double u = (static_cast<double>(surge::detail::mix64(seed) >> 11) + 0.5) * 0x1.0p-53;
      const double s = -w[i] / std::log(u);
      if (s > top) {
        top = s;
        best = i;
      }
    }
    return best;
  }
};

// Evenness and disruption of a hashing policy, for the note column.
template <class Policy>
std::string quality_of(std::size_t keys) {
  Policy ten(10), eleven(11);
  std::vector<double> count(10, 0);
  std::size_t moved = 0, stray = 0;
  for (std::uint64_t k = 0; k < keys; ++k) {
    const std::size_t a = ten.pick(k), b = eleven.pick(k);
    ++count[a];
    if (a != b) {
      ++moved;
      if (b != 10) ++stray;
    }
  }
  double top = 0;
  for (double c : count) top = std::max(top, c);
  return fmt::format("max/mean {:.3f}; +1 backend moves {:.2f}% (ideal {:.2f}%), {:.3f}% to old backends",
                     top / (static_cast<double>(keys) / 10),
                     100.0 * static_cast<double>(moved) / static_cast<double>(keys), 100.0 / 11,
                     100.0 * static_cast<double>(stray) / static_cast<double>(keys));
}

// A bench body picking keys key_of(tid, 0..k-1) from p.
template <class P>
std::function<void(int, std::size_t)> keyed(const P& p) {
  return [&p](int tid, std::size_t k) {
    for (std::size_t i = 0; i < k; ++i) do_not_optimize(p.pick(key_of(tid, i)));
  };
}

// --sweep: how a pick's cost grows with the number of backends. One scenario
// per policy, one row per backend count (one thread); "surge x" there is the
// cost at that n divided by the cost at n = 10 (the growth).
void sweep(surge_bench::report& rep, const surge_bench::options& o) {
  const std::size_t base_picks = o.quick ? 20'000 : 1'000'000;
  std::map<std::string, std::vector<row>> by_policy;
  std::vector<std::string> order;
  const auto add = [&](const std::string& policy, std::size_t n, std::size_t picks,
                       std::function<void(int, std::size_t)> body, std::string note = {}) {
    if (!surge_bench::selected(o, "sweep: " + policy)) return;
    std::vector<double> runs;
    for (int r = 0; r < o.reps; ++r) runs.push_back(per_pick(1, picks, body));
    if (!by_policy.count(policy)) order.push_back(policy);
    by_policy[policy].push_back(row{"sweep: " + policy, fmt::format("{} n={}", policy, n), surge_bench::median(runs),
                                    "ns/pick", better::lower, std::move(note)});
  };
  const auto each = [](auto& p) {
    return [&p](int, std::size_t k) {
      for (std::size_t i = 0; i < k; ++i) do_not_optimize(p.pick());
    };
  };
  const auto leased = [](auto& p) {
    return [&p](int, std::size_t k) {
      for (std::size_t i = 0; i < k; ++i) {
        auto l = p.pick();
        do_not_optimize(l.index());
      }
    };
  };
  for (std::size_t n : {std::size_t{10}, std::size_t{1000}, std::size_t{10'000}, std::size_t{100'000}}) {
    if (o.quick && n > 10'000) break;
    std::vector<double> weights(n);
    for (std::size_t i = 0; i < n; ++i) weights[i] = static_cast<double>(1 + i % 5);
    const std::size_t picks = base_picks;
    const std::size_t linear_picks = std::max<std::size_t>(200, base_picks * 10 / n);  // O(n) rows
    {
      surge::weighted_round_robin smooth{surge::weights(weights)};
      surge::shared_weighted_round_robin shared_smooth{surge::weights(weights)};
      surge::stride_weighted_round_robin stride{surge::weights(weights)};
      mutex_nginx_wrr base(weights);
      std::string algo = smooth.algorithm() == surge::smooth_wrr_algorithm::table
                             ? fmt::format("O(1) table of {} picks", smooth.table_size())
                         : smooth.algorithm() == surge::smooth_wrr_algorithm::tournament ? "O(log n) tournament"
                                                                                         : "O(n) scan";
      add("surge smooth WRR", n, picks, each(smooth), std::move(algo));
      add("surge shared smooth WRR", n, picks, each(shared_smooth));
      add("surge stride WRR", n, picks, each(stride), "gRPC's sequence");
      add("mutex nginx WRR, O(n) (hand-written)", n, linear_picks, each(base));
    }
    {
      surge::weighted_round_robin tournament(surge::weights(weights), 0);  // table off: the O(log n) path
      add("surge smooth WRR, table off", n, picks, each(tournament));
    }
    {
      surge::round_robin rr(n);
      surge::least_connections lc(n);
      surge::power_of_two_choices p2c(n);
      surge::random_balancer rnd{surge::weights(weights)};
      add("surge round_robin", n, picks, each(rr));
      add("surge least_connections (pick+release)", n, picks, leased(lc));
      add("surge P2C (pick+release)", n, picks, leased(p2c));
      add("surge random weighted (alias)", n, picks, each(rnd));
    }
    {
      surge::consistent_hash_ring<> ring(n);
      surge::maglev<> mg(n);
      surge::jump_hash_balancer<> jb(n);
      surge::rendezvous_hash<> hrw{surge::weights(weights)};
      add("surge consistent_hash_ring", n, picks, keyed(ring), "160 vnodes per backend");
      add("surge maglev", n, picks, keyed(mg), fmt::format("M = {}", mg.table_size()));
      add("surge jump_hash_balancer", n, picks, keyed(jb));
      add("surge rendezvous, O(n)", n, linear_picks, keyed(hrw));
    }
  }
  for (const auto& policy : order)
    for (auto& r : by_policy[policy]) rep.add(std::move(r));
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = surge_bench::parse_args(argc, argv);
  surge_bench::report rep("surge balancer policies: ns per pick (per thread), lower is better");
  const std::size_t picks = o.quick ? 100000 : 1000000;
  const std::size_t quality_keys = o.quick ? 100000 : 1000000;
  if (o.sweep) {
    sweep(rep, o);
    rep.print(o);
    return 0;
  }

  for (std::size_t n : {std::size_t{10}, std::size_t{1000}}) {
    std::vector<double> weights(n);
    for (std::size_t i = 0; i < n; ++i) weights[i] = static_cast<double>(1 + i % 5);
    for (int t : {1, 2}) {
      const std::string tag = fmt::format(" n={} t={}", n, t);

      {
        surge::round_robin rr(n);
        mutex_rr base(n);
        measure(rep, o, "round_robin" + tag, t, picks,
                {{"surge round_robin",
                  [&](int, std::size_t k) {
                    for (std::size_t i = 0; i < k; ++i) do_not_optimize(rr.pick());
                  }},
                 {"mutex counter (hand-written)",
                  [&](int, std::size_t k) {
                    for (std::size_t i = 0; i < k; ++i) do_not_optimize(base.pick());
                  },
                  "hand-written baseline"}});
      }
      {
        surge::stride_weighted_round_robin stride{surge::weights(weights)};
        surge::weighted_round_robin smooth{surge::weights(weights)};
        surge::weighted_round_robin smooth_linear(surge::weights(weights), 0);  // table off: the O(log n) tournament
        surge::shared_weighted_round_robin shared_smooth{surge::weights(weights)};
        std::mutex smooth_mutex;
        mutex_nginx_wrr base(weights);
        // smooth WRR is per-thread state: with two threads, behind a mutex
        auto smooth_body = [&](surge::weighted_round_robin& w) {
          return [&w, &smooth_mutex, t](int, std::size_t k) {
            for (std::size_t i = 0; i < k; ++i) {
              if (t > 1) {
                std::lock_guard<std::mutex> l(smooth_mutex);
                do_not_optimize(w.pick());
              } else {
                do_not_optimize(w.pick());
              }
            }
          };
        };
        const std::string guarded = t > 1 ? " + mutex" : "";
        std::vector<impl> impls{
            {"surge stride WRR",
             [&](int, std::size_t k) {
               for (std::size_t i = 0; i < k; ++i) do_not_optimize(stride.pick());
             }},
            {"surge shared smooth WRR",
             [&](int, std::size_t k) {
               for (std::size_t i = 0; i < k; ++i) do_not_optimize(shared_smooth.pick());
             },
             "nginx's exact sequence; lock-free table read"},
            {"surge smooth WRR" + guarded, smooth_body(smooth), "nginx's exact sequence; O(1) table"},
            {"surge smooth WRR, table off" + guarded, smooth_body(smooth_linear),
             "nginx's exact sequence; O(log n) tournament"},
            {"mutex nginx WRR (hand-written)",
             [&](int, std::size_t k) {
               for (std::size_t i = 0; i < k; ++i) do_not_optimize(base.pick());
             },
             "hand-written baseline: nginx's loop behind a mutex",
             "at few backends its O(n) loop under a mutex costs about what stride WRR's (the reference row's) "
             "atomic adds do: stride WRR may take several turns per pick, one atomic add each; surge's smooth WRR "
             "gives this row's sequence faster"}};
        measure(rep, o, "weighted_round_robin" + tag, t, n > 100 ? picks / 10 : picks, std::move(impls));
      }
      {
        // why the mutex scan can win with two threads (surge's per-backend counters are shared lines)
        const std::string lc_reason =
            t > 1 ? "both threads' atomic adds move the same cache lines on every pick, where the mutex serialises "
                    "whole scans; depends on how often the two vCPUs overlap"
                  : std::string();
        surge::least_connections lc(n);
        surge::least_connections weighted_lc{surge::weights(weights)};
        std::vector<double> inexact(weights);  // not multiples of a power of two: cross-multiplication
        for (auto& w : inexact) w *= 0.3;
        surge::least_connections inexact_lc{surge::weights(inexact)};
        mutex_least_conn base(n);
        const std::size_t lc_picks = n > 100 ? picks / 20 : picks;
        // k picks, each lease released at once.
        const auto pick_release = [](surge::least_connections& b) {
          return [&b](int, std::size_t k) {
            for (std::size_t i = 0; i < k; ++i) {
              auto l = b.pick();
              do_not_optimize(l.index());
            }
          };
        };
        measure(rep, o, "least_connections (pick+release)" + tag, t, lc_picks,
                {{"surge least_connections", pick_release(lc),
                  n > surge::least_connections::scan_max ? "equal weights: level index, one fetch_or + one fetch_and"
                                                         : "n <= 16: counter scan"},
                 {"surge least_connections (weights 1..5)", pick_release(weighted_lc),
                  n >= surge::least_connections::two_pass_min ? "exact integer keys, two-pass O(n) scan"
                                                              : "exact integer keys, O(n) scan"},
                 {"surge least_connections (weights 0.3·(1..5))", pick_release(inexact_lc),
                  "inexact weights: cross-multiplied O(n) scan, like nginx"},
                 {"mutex linear scan (hand-written)",
                  [&](int, std::size_t k) {
                    for (std::size_t i = 0; i < k; ++i) {
                      const std::size_t b = base.acquire();
                      do_not_optimize(b);
                      base.release(b);
                    }
                  },
                  "hand-written baseline", lc_reason}});
        // 64 leases in flight per thread (released oldest first): counts
        // spread over several levels at n = 10, a sparse level 1 at n = 1000.
        constexpr std::size_t window = 64;
        measure(rep, o, "least_connections (64 in flight)" + tag, t, lc_picks,
                {{"surge least_connections",
                  [&](int, std::size_t k) {
                    std::vector<surge::backend_lease> ring(window);
                    for (std::size_t i = 0; i < k; ++i) {
                      auto& slot = ring[i % window];
                      slot.release();
                      slot = lc.pick();
                      do_not_optimize(slot.index());
                    }
                  },
                  n > surge::least_connections::scan_max ? "level index" : "counter scan"},
                 {"mutex linear scan (hand-written)",
                  [&](int, std::size_t k) {
                    std::vector<std::size_t> ring(window, n);
                    for (std::size_t i = 0; i < k; ++i) {
                      auto& slot = ring[i % window];
                      if (slot != n) base.release(slot);
                      slot = base.acquire();
                      do_not_optimize(slot);
                    }
                    for (std::size_t b : ring)
                      if (b != n) base.release(b);
                  },
                  "hand-written baseline", lc_reason}});
      }
      {
        surge::power_of_two_choices p2c(n);
        mutex_p2c base(n);
        measure(rep, o, "power_of_two_choices (pick+release)" + tag, t, picks,
                {{"surge P2C",
                  [&](int, std::size_t k) {
                    for (std::size_t i = 0; i < k; ++i) {
                      auto l = p2c.pick();
                      do_not_optimize(l.index());
                    }
                  },
                  "shared lock-free random stream"},
                 {"surge P2C, thread-local URBG",
                  [&](int tid, std::size_t k) {
                    std::mt19937_64 g(static_cast<std::uint64_t>(tid) + 1);
                    for (std::size_t i = 0; i < k; ++i) {
                      auto l = p2c.pick(g);
                      do_not_optimize(l.index());
                    }
                  }},
                 {"mutex P2C + mt19937_64 (hand-written)",
                  [&](int, std::size_t k) {
                    for (std::size_t i = 0; i < k; ++i) {
                      const std::size_t b = base.acquire();
                      do_not_optimize(b);
                      base.release(b);
                    }
                  },
                  "hand-written baseline"}});
      }
      {
        surge::random_balancer weighted{surge::weights(weights)};
        measure(rep, o, "random weighted" + tag, t, picks,
                {{"surge alias table",
                  [&](int, std::size_t k) {
                    for (std::size_t i = 0; i < k; ++i) do_not_optimize(weighted.pick());
                  },
                  "shared lock-free random stream"},
                 {"surge alias, thread-local URBG",
                  [&](int tid, std::size_t k) {
                    std::mt19937_64 g(static_cast<std::uint64_t>(tid) + 1);
                    for (std::size_t i = 0; i < k; ++i) do_not_optimize(weighted.pick(g));
                  }},
                 {"std::discrete_distribution (thread-local)",
                  [&](int tid, std::size_t k) {
                    std::mt19937_64 g(static_cast<std::uint64_t>(tid) + 1);
                    std::discrete_distribution<std::size_t> d(weights.begin(), weights.end());
                    for (std::size_t i = 0; i < k; ++i) do_not_optimize(d(g));
                  },
                  "the standard library (real)"}});
      }
      {
        const std::string note =
            n == 10 ? quality_of<surge::consistent_hash_ring<>>(quality_keys) : std::string("160 vnodes per backend");
        surge::consistent_hash_ring<> ring(n);
        const auto view = ring.snapshot();
        map_ring base(n, 160);
        measure(rep, o, "consistent_hash_ring" + tag, t, picks,
                {{"surge ring", keyed(ring), note},
                 {"surge ring, snapshot view", keyed(view)},
                 {"std::map ring + shared_mutex (hand-written)", keyed(base), "hand-written baseline",
                  "with every point in cache a std::map lookup costs about what surge's radix-indexed array does"}});
      }
      {
        const std::string note = n == 10 ? quality_of<surge::maglev<>>(quality_keys)
                                         : fmt::format("M = {}", surge::maglev<>(n).table_size());
        surge::maglev<> mg(n);
        const auto view = mg.snapshot();
        atomic_ptr_maglev base(mg.entries());
        measure(rep, o, "maglev" + tag, t, picks,
                {{"surge maglev", keyed(mg), note},
                 {"surge maglev, snapshot view", keyed(view)},
                 {"atomic pointer table (hand-written)", keyed(base), "hand-written baseline",
                  "one acquire load of a table it never frees; surge's pick enters the read section that lets a "
                  "rebuild free the old table (its snapshot view skips it)"}});
      }
      {
        const std::string note = n == 10 ? quality_of<surge::jump_hash_balancer<>>(quality_keys) : std::string();
        const auto buckets = static_cast<std::int32_t>(n);
        surge::jump_hash_balancer<> jb(n);
        measure(rep, o, "jump_hash" + tag, t, picks,
                {{"surge jump_hash(mix64(key), n)",
                  [&](int tid, std::size_t k) {
                    for (std::size_t i = 0; i < k; ++i)
                      do_not_optimize(surge::jump_hash(surge::detail::mix64(key_of(tid, i)), buckets));
                  },
                  note},
                 {"surge jump_hash_balancer (health)", keyed(jb)},
                 {"mix64(key) % n (not consistent)",
                  [&](int tid, std::size_t k) {
                    for (std::size_t i = 0; i < k; ++i)
                      do_not_optimize(surge::detail::mix64(key_of(tid, i)) % static_cast<std::uint64_t>(n));
                  },
                  "not a peer: the cost of the hash alone",
                  "% n moves almost every key when n changes; jump hash moves 1/(n+1)"}});
      }
      {
        const std::string note = n == 10 ? quality_of<surge::rendezvous_hash<>>(quality_keys) : std::string();
        surge::rendezvous_hash<> uniform(n);
        surge::rendezvous_hash<> weighted{surge::weights(weights)};
        naive_hrw base(weights);
        const std::size_t k_picks = n > 100 ? picks / 50 : picks;
        measure(rep, o, "rendezvous_hash" + tag, t, k_picks,
                {{"surge rendezvous (weighted)", keyed(weighted), note},
                 {"surge rendezvous (unweighted)", keyed(uniform)},
                 {"hash_combine + log HRW (weighted, hand-written)", keyed(base), "hand-written baseline",
                  "both spend their time in one log per backend"}});
      }
    }
  }

  // Rebuild time at 1000 backends: add one backend to a 1000-backend policy.
  const std::string ring_sc = "rebuild ring n=1000 (160 vnodes)";
  if (surge_bench::selected(o, ring_sc)) {
    std::vector<double> ring_ns, map_ns;
    for (int r = 0; r < o.reps; ++r) {
      surge::consistent_hash_ring<> ring(1000);
      ring_ns.push_back(surge_bench::time_ns([&] { ring.add_backend(); }));
      map_ns.push_back(surge_bench::time_ns([&] {
        map_ring m(1001, 160);
        do_not_optimize(m.ring.size());
      }));
    }
    rep.add(row{ring_sc, "surge ring add_backend", surge_bench::median(ring_ns) / 1e6, "ms", better::lower,
                "160,160 points sorted, published RCU-style"});
    rep.add(row{ring_sc, "std::map ring build (hand-written)", surge_bench::median(map_ns) / 1e6, "ms", better::lower,
                "hand-written baseline"});
  }
  surge::maglev<> sized(1000);
  sized.add_backend();
  const std::string maglev_sc = fmt::format("rebuild maglev n=1000 (M={})", sized.table_size());
  if (surge_bench::selected(o, maglev_sc)) {
    std::vector<double> maglev_ns;
    for (int r = 0; r < o.reps; ++r) {
      surge::maglev<> mg(1000);
      maglev_ns.push_back(surge_bench::time_ns([&] { mg.add_backend(); }));
    }
    rep.add(row{maglev_sc, "surge maglev add_backend", surge_bench::median(maglev_ns) / 1e6, "ms", better::lower});
  }
  // Smooth WRR table at 1000 backends, weights 1 + i % 5 (W = 3000):
  // construction (one period from zero), and a health change in mid-table
  // (fold the position back, then transient + period from the new state).
  const std::string wrr_sc = "rebuild smooth WRR n=1000 (W=3000)";
  if (surge_bench::selected(o, wrr_sc)) {
    std::vector<double> wrr_weights(1000), build_ns, down_ns, up_ns;
    for (std::size_t i = 0; i < wrr_weights.size(); ++i) wrr_weights[i] = static_cast<double>(1 + i % 5);
    std::size_t down_entries = 0;
    for (int r = 0; r < o.reps; ++r) {
      std::optional<surge::weighted_round_robin> w;
      build_ns.push_back(surge_bench::time_ns([&] { w.emplace(surge::weights(wrr_weights)); }));
      for (int i = 0; i < 1234; ++i) do_not_optimize(w->pick());
      down_ns.push_back(surge_bench::time_ns([&] { w->set_healthy(500, false); }));
      down_entries = w->table_size();
      for (int i = 0; i < 777; ++i) do_not_optimize(w->pick());
      up_ns.push_back(surge_bench::time_ns([&] { w->set_healthy(500, true); }));
    }
    rep.add(row{wrr_sc, "surge smooth WRR construct", surge_bench::median(build_ns) / 1e6, "ms", better::lower,
                "table of 3000 picks, O(W*n)"});
    rep.add(row{wrr_sc, "surge smooth WRR set_healthy down", surge_bench::median(down_ns) / 1e6, "ms", better::lower,
                fmt::format("fold + new table of {} entries", down_entries)});
    rep.add(row{wrr_sc, "surge smooth WRR set_healthy up", surge_bench::median(up_ns) / 1e6, "ms", better::lower});
  }
  rep.print(o);
}
