// surge caches against real cache libraries and the textbook LRU, in the same
// run, alternating run by run:
//   - single thread: Zipf(0.99) keys over a 1M-key universe, capacity 64Ki
//     entries, 90 % get / 10 % put, a get miss filled with put; ops/s (a
//     get-then-fill counts as one op) and the hit ratio of the gets, for every
//     policy (lru, lfu, sieve, s3fifo, wtinylfu = surge::cache), the textbook
//     LRU and Boost.Compute's detail::lru_cache;
//   - shared, 1 and 2 threads, the same operations split over the threads:
//     sharded_cache (16 shards of lru_cache with its default adaptive mutex
//     and with std::mutex; of surge::cache), lru_cache behind one std::mutex,
//     tbb::concurrent_lru_cache, the textbook LRU behind one std::mutex and
//     split into 16 shards behind 16 mutexes;
//   - bytes per entry at 1M entries (uint64_t -> uint64_t), counting every
//     allocation's usable size plus the allocator's 8-byte header.
// --sweep: capacity 10^4 .. 10^7 (universe 10x the capacity, Zipf 0.99, the
// same 90/10 mix), one thread, ns/op and the ratio to the textbook LRU for
// every surge policy and every peer (--quick: 10^4 and 10^5 only).
//
// Which rows are what: "surge ..." rows are this library; "tbb::" and "boost::"
// rows are the libraries as installed (libtbb-dev, libboost-dev; a missing one
// drops its rows); "(hand-written baseline)" rows are written in this file.
//
// The peers' semantics differ from surge's, and the adapters below map the
// same operation stream onto each:
//   - tbb::concurrent_lru_cache<K, V, F> is a value-function cache: operator[]
//     returns a handle to the value, computing it with F on a miss, and pins
//     the entry until the handle is destroyed; it has no put. A get is
//     operator[] (a miss is when F ran: the same work as a miss filled by
//     put); a put of a present key is operator[] too (it makes the key the
//     most recent, as put does; the value is the key in this workload, so
//     nothing is lost by not assigning). Its capacity counts unpinned entries
//     only (here at most one pinned per thread). Every operator[] goes through
//     its aggregator twice (look up, then release the handle) into a std::map.
//   - boost::compute::detail::lru_cache<K, V> is an internal header of
//     Boost.Compute (its kernel-program cache), not a public Boost API: a
//     std::map plus a std::list of keys; get returns a boost::optional copy,
//     insert of a present key does nothing (so a put of a present key changes
//     neither value nor recency here, which only makes it cheaper).
#define TBB_PREVIEW_CONCURRENT_LRU_CACHE 1  // NOLINT: tbb's opt-in for concurrent_lru_cache

#include <surge/cache/cache.hpp>
#include <surge/cache/lfu.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/s3fifo.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/cache/sieve.hpp>
#include <surge/cache/wtinylfu.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/hash.hpp>

#if defined(SURGE_BENCH_HAVE_TBB)
#include <tbb/concurrent_lru_cache.h>
#endif
#if defined(SURGE_BENCH_HAVE_BOOST)
#include <boost/compute/detail/lru_cache.hpp>
#endif

#include <malloc.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench.hpp"

// ---- allocation counting (only while `counting` is set, single-threaded) ----

namespace {
bool counting = false;
std::size_t counted_bytes = 0;

void* counted_alloc(std::size_t n, std::size_t align = alignof(std::max_align_t)) {
  n = n == 0 ? 1 : n;
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n) : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  if (counting) counted_bytes += malloc_usable_size(p) + sizeof(std::size_t);
  return p;
}
void counted_free(void* p) noexcept {
  if (p != nullptr && counting) counted_bytes -= malloc_usable_size(p) + sizeof(std::size_t);
  std::free(p);
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
// the over-aligned forms too (the W-TinyLFU sketch's 64-byte blocks)
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }

namespace {

using u64 = std::uint64_t;
using surge_bench::better;
using surge_bench::median;

/// The textbook LRU: a list in recency order and a hash map to its nodes,
/// written as a competent engineer would: the map reserved for the capacity,
/// one lookup per get, and on an eviction the list node reused for the new
/// entry (no free and malloc of a node).
class textbook_lru {
 public:
  explicit textbook_lru(std::size_t capacity) : capacity_(capacity) { map_.reserve(capacity); }

  u64* get(u64 k) {
    auto it = map_.find(k);
    if (it == map_.end()) return nullptr;
    items_.splice(items_.begin(), items_, it->second);
    return &it->second->second;
  }

  bool put(u64 k, u64 v) {
    auto [it, inserted] = map_.try_emplace(k);
    if (!inserted) {
      it->second->second = v;
      items_.splice(items_.begin(), items_, it->second);
      return false;
    }
    if (map_.size() > capacity_) {  // full: reuse the least recent node for the new entry
      map_.erase(items_.back().first);
      items_.splice(items_.begin(), items_, std::prev(items_.end()));
      items_.front() = {k, v};
    } else {
      items_.emplace_front(k, v);
    }
    it->second = items_.begin();
    return true;
  }

 private:
  std::size_t capacity_;
  std::list<std::pair<u64, u64>> items_;
  std::unordered_map<u64, std::list<std::pair<u64, u64>>::iterator> map_;
};

/// Any single-threaded cache behind one std::mutex: what a service shares
/// between threads first.
template <class Cache>
class one_mutex {
 public:
  explicit one_mutex(std::size_t capacity) : cache_(capacity) {}
  std::optional<u64> get(u64 k) {
    std::lock_guard lock(mutex_);
    if (u64* v = cache_.get(k)) return *v;
    return std::nullopt;
  }
  bool put(u64 k, u64 v) {
    std::lock_guard lock(mutex_);
    return cache_.put(k, v);
  }

 private:
  std::mutex mutex_;
  Cache cache_;
};

/// What a careful engineer writes next: 16 locked textbook LRUs, by hash.
class sharded_textbook_lru {
 public:
  explicit sharded_textbook_lru(std::size_t capacity) {
    for (auto& s : shards_) s = std::make_unique<padded_shard>(capacity / 16);
  }
  std::optional<u64> get(u64 k) { return shard(k).get(k); }
  bool put(u64 k, u64 v) { return shard(k).put(k, v); }

 private:
  struct alignas(surge::detail::destructive_interference_size) padded_shard : one_mutex<textbook_lru> {
    using one_mutex<textbook_lru>::one_mutex;
  };
  one_mutex<textbook_lru>& shard(u64 k) { return *shards_[surge::detail::mix64(k) % 16]; }
  std::array<std::unique_ptr<padded_shard>, 16> shards_;
};

#if defined(SURGE_BENCH_HAVE_TBB)
thread_local u64 tbb_loads = 0;  // value-function calls on this thread: its misses

/// tbb::concurrent_lru_cache's value function: the value of a key is the key.
struct load_key {
  u64 operator()(u64 k) const {
    ++tbb_loads;
    return k;
  }
};

/// The operation stream mapped onto tbb::concurrent_lru_cache (see the file comment).
class tbb_lru {
 public:
  explicit tbb_lru(std::size_t capacity) : cache_(load_key{}, capacity) {}
  /// A get, filled on a miss by the value function: true on a hit.
  bool get_or_fill(u64 k, u64& sum) {
    const u64 before = tbb_loads;
    auto handle = cache_[k];
    sum += handle.value();
    return tbb_loads == before;
  }
  void put(u64 k, u64 /*v == k*/) {
    auto handle = cache_[k];
    surge_bench::do_not_optimize(handle.value());
  }

 private:
  tbb::concurrent_lru_cache<u64, u64, load_key> cache_;
};
#endif

#if defined(SURGE_BENCH_HAVE_BOOST)
/// The operation stream mapped onto boost::compute::detail::lru_cache.
class boost_compute_lru {
 public:
  explicit boost_compute_lru(std::size_t capacity) : cache_(capacity) {}
  boost::optional<u64> get(u64 k) { return cache_.get(k); }
  void put(u64 k, u64 v) { cache_.insert(k, v); }

 private:
  boost::compute::detail::lru_cache<u64, u64> cache_;
};
#endif

/// A get; on a miss, the fill (put). True on a hit.
template <class Cache>
bool get_or_fill(Cache& c, u64 k, u64& sum) {
  if constexpr (requires { c.get_or_fill(k, sum); }) {
    return c.get_or_fill(k, sum);
  } else {
    if (auto v = c.get(k)) {
      sum += *v;
      return true;
    }
    c.put(k, k);
    return false;
  }
}

/// Zipf(s) ranks in [0, n) by rejection-inversion (Hörmann and Derflinger,
/// 1996): O(1) memory and time per draw, so a universe of 10^8 keys needs no
/// table. H is an antiderivative of h(x) = x^-s, written with expm1/log1p so
/// it stays exact near s = 1.
class zipf {
 public:
  zipf(std::size_t n, double s)
      : s_(s),
        h_x1_(big_h(1.5) - 1.0),
        h_n_(big_h(static_cast<double>(n) + 0.5)),
        cut_(2.0 - big_h_inv(big_h(2.5) - h(2.0))),
        n_(static_cast<double>(n)) {}

  template <class Rng>
  std::size_t operator()(Rng& rng) const {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (;;) {
      const double u = h_n_ + uniform(rng) * (h_x1_ - h_n_);
      const double x = big_h_inv(u);
      const double k = std::clamp(std::floor(x + 0.5), 1.0, n_);
      if (k - x <= cut_ || u >= big_h(k + 0.5) - h(k)) return static_cast<std::size_t>(k) - 1;
    }
  }

 private:
  [[nodiscard]] double h(double x) const { return std::exp(-s_ * std::log(x)); }
  // H(x) = (x^(1-s) - 1) / (1 - s), and log(x) at s = 1.
  [[nodiscard]] double big_h(double x) const {
    const double lx = std::log(x);
    const double t = (1.0 - s_) * lx;
    return (std::abs(t) > 1e-8 ? std::expm1(t) / t : 1.0 + t / 2.0) * lx;
  }
  [[nodiscard]] double big_h_inv(double y) const {
    const double t = std::max(-1.0, y * (1.0 - s_));
    return std::exp((std::abs(t) > 1e-8 ? std::log1p(t) / t : 1.0 - t / 2.0) * y);
  }

  double s_, h_x1_, h_n_, cut_, n_;
};

/// The key of popularity rank r: scrambled, so popularity is not key order.
u64 key_of_rank(std::size_t r) { return surge::detail::mix64(static_cast<u64>(r) + 1); }

struct op {
  u64 key;
  bool is_get;
};

/// The workload: Zipf(0.99) ranks over `universe` keys, 90 % get / 10 % put.
std::vector<op> make_ops(std::size_t count, std::size_t universe, std::uint64_t seed) {
  const zipf z(universe, 0.99);
  std::mt19937_64 rng(seed);
  std::vector<op> ops(count);
  for (auto& o : ops) {
    o.key = key_of_rank(z(rng));
    o.is_get = rng() % 10 != 0;
  }
  return ops;
}

struct run_result {
  double ops_per_s = 0;
  double hit_ratio = 0;
};

/// Runs ops [begin, end) on `c`; returns (ns, hits) and the number of gets.
template <class Cache>
std::pair<double, std::uint64_t> run_ops(Cache& c, const std::vector<op>& ops, std::size_t begin, std::size_t end,
                                         std::uint64_t& gets) {
  std::uint64_t hits = 0, sum = 0, g = 0;
  const double ns = surge_bench::time_ns([&] {
    for (std::size_t i = begin; i < end; ++i) {
      const op& o = ops[i];
      if (o.is_get) {
        ++g;
        hits += get_or_fill(c, o.key, sum) ? 1 : 0;
      } else {
        c.put(o.key, o.key);
      }
    }
  });
  surge_bench::do_not_optimize(sum);
  gets = g;
  return {ns, hits};
}

/// A fresh cache, optionally filled with the `prefill` most popular keys (the
/// least popular first, so the most popular is the most recent), then warmed
/// with ops [0, warm).
template <class Cache>
std::unique_ptr<Cache> warmed(const std::vector<op>& ops, std::size_t warm, std::size_t capacity, std::size_t prefill) {
  auto c = std::make_unique<Cache>(capacity);
  for (std::size_t r = prefill; r-- > 0;) c->put(key_of_rank(r), key_of_rank(r));
  std::uint64_t gets = 0;
  (void)run_ops(*c, ops, 0, warm, gets);
  return c;
}

/// One single-threaded measurement over ops [warm, end).
template <class Cache>
run_result measure(const std::vector<op>& ops, std::size_t warm, std::size_t capacity, std::size_t prefill = 0) {
  auto c = warmed<Cache>(ops, warm, capacity, prefill);
  std::uint64_t gets = 0;
  const auto [ns, hits] = run_ops(*c, ops, warm, ops.size(), gets);
  const auto n = static_cast<double>(ops.size() - warm);
  return {n / ns * 1e9, static_cast<double>(hits) / static_cast<double>(gets)};
}

/// `threads` threads on one shared cache, each on its own slice of the ops.
template <class Cache>
run_result measure_threads(const std::vector<op>& ops, std::size_t warm, std::size_t capacity, int threads) {
  auto c = warmed<Cache>(ops, warm, capacity, 0);
  const auto ut = static_cast<std::size_t>(threads);
  const std::size_t per = (ops.size() - warm) / ut;
  std::vector<std::uint64_t> hits(ut), gets(ut);
  std::vector<std::thread> pool;
  const double ns = surge_bench::time_ns([&] {
    for (std::size_t t = 0; t < ut; ++t) {
      pool.emplace_back([&, t] {
        const std::size_t b = warm + per * t;
        hits[t] = run_ops(*c, ops, b, b + per, gets[t]).second;
      });
    }
    for (auto& th : pool) th.join();
  });
  double h = 0, n = 0;
  for (std::size_t t = 0; t < ut; ++t) {
    h += static_cast<double>(hits[t]);
    n += static_cast<double>(gets[t]);
  }
  return {static_cast<double>(per * ut) / ns * 1e9, h / n};
}

/// Bytes allocated per entry by a cache of `entries` capacity holding as many.
template <class Cache>
double bytes_per_entry(std::size_t entries) {
  counted_bytes = 0;
  counting = true;
  double per = 0;
  {
    auto c = std::make_unique<Cache>(entries);
    for (std::size_t i = 0; i < entries; ++i) c->put(surge::detail::mix64(i), i);
    per = static_cast<double>(counted_bytes) / static_cast<double>(entries);
  }
  counting = false;
  return per;
}

std::string hit_note(double h) { return fmt::format("hit ratio {:.2f} %", 100.0 * h); }

/// One implementation in a comparison: its row name, a note, and how to
/// measure it once.
struct contender {
  std::string name;
  std::function<run_result()> run;
  std::string note = {};
  std::vector<double> rates = {}, hits = {};
};

/// Runs every contender `reps` times, alternating (all see the same machine
/// state), who goes first rotating from rep to rep.
void alternate(std::vector<contender>& cs, int reps) {
  for (int r = 0; r < reps; ++r) {
    for (std::size_t i = 0; i < cs.size(); ++i) {
      auto& c = cs[(i + static_cast<std::size_t>(r)) % cs.size()];
      const run_result x = c.run();
      c.rates.push_back(x.ops_per_s);
      c.hits.push_back(x.hit_ratio);
    }
  }
}

using lru = surge::lru_cache<u64, u64>;
using lfu = surge::lfu_cache<u64, u64>;
using sieve = surge::sieve_cache<u64, u64>;
using s3fifo = surge::s3fifo_cache<u64, u64>;
using wtinylfu = surge::cache<u64, u64>;

const char* const textbook_name = "textbook list+unordered_map LRU (hand-written baseline)";
const char* const boost_name = "boost::compute::detail::lru_cache (library, internal header)";
const char* const tbb_name = "tbb::concurrent_lru_cache (library)";

/// The single-thread contenders: every surge policy, the textbook LRU and the
/// single-threaded library peers. `measure_one` is called as
/// measure_one.template operator()<Cache>().
template <class Measure>
std::vector<contender> single_thread_contenders(Measure measure_one, bool with_tbb) {
  std::vector<contender> cs = {
      {"surge lru_cache", [=] { return measure_one.template operator()<lru>(); }},
      {"surge lfu_cache", [=] { return measure_one.template operator()<lfu>(); }},
      {"surge sieve_cache", [=] { return measure_one.template operator()<sieve>(); }},
      {"surge s3fifo_cache", [=] { return measure_one.template operator()<s3fifo>(); }},
      {"surge wtinylfu_cache (surge::cache)", [=] { return measure_one.template operator()<wtinylfu>(); }},
      {textbook_name, [=] { return measure_one.template operator()<textbook_lru>(); }},
  };
#if defined(SURGE_BENCH_HAVE_BOOST)
  cs.push_back({boost_name, [=] { return measure_one.template operator()<boost_compute_lru>(); },
                "std::map + std::list; insert of a present key is a no-op"});
#endif
#if defined(SURGE_BENCH_HAVE_TBB)
  if (with_tbb)
    cs.push_back({tbb_name, [=] { return measure_one.template operator()<tbb_lru>(); },
                  "std::map + aggregator, get-or-compute through handles; one thread"});
#else
  (void)with_tbb;
#endif
  return cs;
}

/// "goal met/MISSED" for a ratio against its target.
std::string goal(double ratio, double target) {
  return fmt::format("{:.2f}x (goal >= {:.2f}x: {})", ratio, target, ratio >= target ? "met" : "MISSED");
}

void single_thread(surge_bench::report& rep, const surge_bench::options& opts, const std::vector<op>& ops,
                   std::size_t warm, std::size_t capacity) {
  const std::string scenario = "single thread";
  if (!surge_bench::selected(opts, scenario)) return;
  auto cs = single_thread_contenders([&]<class C>() { return measure<C>(ops, warm, capacity); }, false);
  alternate(cs, opts.reps);
  const double base = median(cs[5].rates), lru_rate = median(cs[0].rates), lru_hit = median(cs[0].hits);
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const double v = median(cs[i].rates), h = median(cs[i].hits);
    std::string note = hit_note(h);
    if (i < 5) {
      note += fmt::format(", {} the textbook LRU", goal(v / base, i == 0 ? 2.0 : 1.5));
      if (i == 4) note += fmt::format(", {} lru_cache", goal(v / lru_rate, 0.75));
      if (i > 0 && std::abs(h - lru_hit) > 0.0005)
        note += fmt::format(" (at its own hit ratio: {:+.2f} points vs LRU, fewer fills)", 100.0 * (h - lru_hit));
    } else if (i > 5) {
      note += fmt::format(", {:.2f}x the textbook LRU; {}", v / base, cs[i].note);
    }
    rep.add({scenario, cs[i].name, v, "ops/s", better::higher, std::move(note)});
  }
}

void shared(surge_bench::report& rep, const surge_bench::options& opts, const std::vector<op>& ops, std::size_t warm,
            std::size_t capacity, int threads) {
  const std::string scenario = fmt::format("shared, {} thread{}", threads, threads > 1 ? "s" : "");
  if (!surge_bench::selected(opts, scenario)) return;
  const auto m = [&]<class C>() { return [&] { return measure_threads<C>(ops, warm, capacity, threads); }; };
  std::vector<contender> cs = {
      {"surge sharded_cache<lru_cache, 16>", m.template operator()<surge::sharded_cache<lru, 16>>()},
      {"surge sharded_cache<lru_cache, 16, std::mutex>",
       m.template operator()<surge::sharded_cache<lru, 16, std::mutex>>()},
      {"surge sharded_cache<surge::cache, 16>", m.template operator()<surge::sharded_cache<wtinylfu, 16>>()},
      {"surge lru_cache + one std::mutex", m.template operator()<one_mutex<lru>>()},
  };
#if defined(SURGE_BENCH_HAVE_TBB)
  cs.push_back({tbb_name, m.template operator()<tbb_lru>(),
                "one lock-free aggregator around std::map; two aggregator trips per op (look up, release handle)"});
#endif
  cs.push_back(
      {"textbook LRU + one std::mutex (hand-written baseline)", m.template operator()<one_mutex<textbook_lru>>()});
  cs.push_back(
      {"textbook LRU, 16 std::mutex shards (hand-written baseline)", m.template operator()<sharded_textbook_lru>()});
  alternate(cs, opts.reps);
  for (auto& c : cs) {
    std::string note = hit_note(median(c.hits));
    if (!c.note.empty()) note += "; " + c.note;
    rep.add({scenario, c.name, median(c.rates), "ops/s", better::higher, std::move(note)});
  }
}

void memory(surge_bench::report& rep, const surge_bench::options& opts) {
  const std::size_t entries = opts.quick ? 100'000 : 1'000'000;
  const std::string scenario = fmt::format("memory, {} uint64 entries", entries);
  if (!surge_bench::selected(opts, scenario)) return;
  const std::string note = "counted allocations";
  rep.add({scenario, "surge lru_cache", bytes_per_entry<lru>(entries), "B/entry", better::lower, note});
  rep.add({scenario, "surge lfu_cache", bytes_per_entry<lfu>(entries), "B/entry", better::lower, note});
  rep.add({scenario, "surge sieve_cache", bytes_per_entry<sieve>(entries), "B/entry", better::lower, note});
  rep.add({scenario, "surge s3fifo_cache", bytes_per_entry<s3fifo>(entries), "B/entry", better::lower, note});
  rep.add({scenario, "surge wtinylfu_cache", bytes_per_entry<wtinylfu>(entries), "B/entry", better::lower, note});
  rep.add({scenario, textbook_name, bytes_per_entry<textbook_lru>(entries), "B/entry", better::lower, note});
#if defined(SURGE_BENCH_HAVE_BOOST)
  rep.add({scenario, boost_name, bytes_per_entry<boost_compute_lru>(entries), "B/entry", better::lower, note});
#endif
#if defined(SURGE_BENCH_HAVE_TBB)
  rep.add({scenario, tbb_name, bytes_per_entry<tbb_lru>(entries), "B/entry", better::lower, note});
#endif
}

// --sweep: how the cost per operation grows with the capacity (and so with
// the working set against the CPU caches). Each capacity is one scenario;
// the cache is filled with the capacity's most popular keys, then warmed
// with `warm` operations before `timed` are timed.
void sweep(surge_bench::report& rep, const surge_bench::options& opts) {
  for (const std::size_t capacity :
       {std::size_t{10'000}, std::size_t{100'000}, std::size_t{1'000'000}, std::size_t{10'000'000}}) {
    if (opts.quick && capacity > 100'000) break;
    const std::string scenario =
        fmt::format("sweep: capacity 10^{}", static_cast<int>(std::lround(std::log10(static_cast<double>(capacity)))));
    if (!surge_bench::selected(opts, scenario)) continue;
    const std::size_t universe = 10 * capacity;
    const std::size_t warm = opts.quick ? 50'000 : std::min<std::size_t>(capacity, 500'000);
    const std::size_t timed = opts.quick ? 100'000 : 1'000'000;
    const int reps = capacity >= 1'000'000 ? 1 : std::min(opts.reps, 3);  // the large ones: time-bounded
    const auto ops = make_ops(warm + timed, universe, 42 + capacity);
    auto cs = single_thread_contenders([&]<class C>() { return measure<C>(ops, warm, capacity, capacity); }, true);
    alternate(cs, reps);
    const double base_ns = 1e9 / median(cs[5].rates);
    for (auto& c : cs) {
      const double ns = 1e9 / median(c.rates);
      std::string note = fmt::format("{:.2f}x the textbook LRU's speed, {}", base_ns / ns, hit_note(median(c.hits)));
      if (!c.note.empty()) note += "; " + c.note;
      rep.add({scenario, c.name, ns, "ns/op", better::lower, std::move(note)});
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = surge_bench::parse_args(argc, argv);
  if (opts.sweep) {
    surge_bench::report rep(fmt::format(
        "surge caches by capacity: Zipf(0.99) over 10x the capacity, 90 % get / 10 % put, misses filled by put, "
        "one thread; filled with the most popular keys, warmed with {} ops, then {} ops timed; "
        "median of {} (one run at 10^6 and 10^7)",
        opts.quick ? "50k" : "min(capacity, 500k)", opts.quick ? 100'000 : 1'000'000, std::min(opts.reps, 3)));
    sweep(rep, opts);
    rep.print(opts);
    return 0;
  }

  const std::size_t universe = 1'000'000;
  const std::size_t capacity = 64 * 1024;
  const std::size_t warm = opts.quick ? 100'000 : 500'000;
  const std::size_t timed = opts.quick ? 200'000 : 2'000'000;
  const auto ops = make_ops(warm + timed, universe, 42);

  surge_bench::report rep(
      fmt::format("surge caches: Zipf(0.99) over {} keys, capacity {}, 90 % get / 10 % put, misses filled by put "
                  "({} timed ops after {} warm-up, median of {} alternating runs)",
                  universe, capacity, timed, warm, opts.reps));
  single_thread(rep, opts, ops, warm, capacity);
  for (int threads : {1, 2}) shared(rep, opts, ops, warm, capacity, threads);
  memory(rep, opts);
  rep.print(opts);
}
