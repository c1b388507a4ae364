// surge caches against the textbook std::list + std::unordered_map LRU that
// most C++ services hand-write, in the same run:
//   - single thread: Zipf(0.99) keys over a 1M-key universe, capacity 64Ki
//     entries, 90 % get / 10 % put, a get miss filled with put; ops/s (a
//     get-then-fill counts as one op) and hit ratio of the gets, for every
//     policy (lru, lfu, sieve, s3fifo, wtinylfu = surge::cache);
//   - sharded_cache (16 shards of lru_cache; its default adaptive mutex and
//     std::mutex; and of surge::cache) with 1 and 2 threads against the
//     textbook LRU behind one std::mutex and 16 of them behind 16 mutexes;
// The textbook LRU rows (plain, one mutex, 16 mutexes) are hand-written
// baselines in this file.
//   - bytes per entry at 1M entries (uint64_t -> uint64_t), counting every
//     allocation's usable size plus the allocator's 8-byte header.
#include <surge/cache/cache.hpp>
#include <surge/cache/lfu.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/s3fifo.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/cache/sieve.hpp>
#include <surge/cache/wtinylfu.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/hash.hpp>

#include <malloc.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench.hpp"

// ---- allocation counting (only while `counting` is set, single-threaded) ----

namespace {
bool counting = false;
std::size_t counted_bytes = 0;

void* counted_alloc(std::size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
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

namespace {

using u64 = std::uint64_t;

/// The textbook LRU: a list in recency order and a hash map to its nodes.
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
    auto it = map_.find(k);
    if (it != map_.end()) {
      it->second->second = v;
      items_.splice(items_.begin(), items_, it->second);
      return false;
    }
    if (map_.size() == capacity_) {
      map_.erase(items_.back().first);
      items_.pop_back();
    }
    items_.emplace_front(k, v);
    map_.emplace(k, items_.begin());
    return true;
  }

 private:
  std::size_t capacity_;
  std::list<std::pair<u64, u64>> items_;
  std::unordered_map<u64, std::list<std::pair<u64, u64>>::iterator> map_;
};

/// The textbook LRU behind one mutex: what a service shares between threads.
class locked_textbook_lru {
 public:
  explicit locked_textbook_lru(std::size_t capacity) : lru_(capacity) {}
  std::optional<u64> get(u64 k) {
    std::lock_guard lock(mutex_);
    if (u64* v = lru_.get(k)) return *v;
    return std::nullopt;
  }
  bool put(u64 k, u64 v) {
    std::lock_guard lock(mutex_);
    return lru_.put(k, v);
  }

 private:
  std::mutex mutex_;
  textbook_lru lru_;
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
  struct alignas(surge::detail::destructive_interference_size) padded_shard : locked_textbook_lru {
    using locked_textbook_lru::locked_textbook_lru;
  };
  locked_textbook_lru& shard(u64 k) { return *shards_[surge::detail::mix64(k) % 16]; }
  std::array<std::unique_ptr<padded_shard>, 16> shards_;
};

/// Zipf(s) ranks over [0, n) by inverting a precomputed CDF.
class zipf {
 public:
  zipf(std::size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cdf_[i] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }
  template <class Rng>
  std::size_t operator()(Rng& rng) {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    return static_cast<std::size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

struct op {
  u64 key;
  bool is_get;
};

/// The workload: keys are scrambled ranks, so popularity is not key order.
std::vector<op> make_ops(std::size_t count, std::size_t universe, std::uint64_t seed) {
  zipf z(universe, 0.99);
  std::mt19937_64 rng(seed);
  std::vector<op> ops(count);
  for (auto& o : ops) {
    o.key = surge::detail::mix64(z(rng) + 1);
    o.is_get = rng() % 10 != 0;
  }
  return ops;
}

struct run_result {
  double ops_per_s = 0;
  double hit_ratio = 0;
};

/// Runs the ops on a cache with get(k) -> pointer-like and put(k, v).
template <class Cache>
std::pair<double, std::uint64_t> run_ops(Cache& c, const std::vector<op>& ops, std::size_t begin, std::size_t end,
                                         std::uint64_t& gets) {
  std::uint64_t hits = 0, sum = 0;
  gets = 0;
  const double ns = surge_bench::time_ns([&] {
    for (std::size_t i = begin; i < end; ++i) {
      const op& o = ops[i];
      if (o.is_get) {
        ++gets;
        if (auto v = c.get(o.key)) {
          ++hits;
          sum += *v;
        } else {
          c.put(o.key, o.key);
        }
      } else {
        c.put(o.key, o.key);
      }
    }
  });
  surge_bench::do_not_optimize(sum);
  return {ns, hits};
}

/// One single-threaded measurement: a fresh cache, warmed with `warm` ops,
/// then timed over the rest.
template <class Cache>
run_result measure(const std::vector<op>& ops, std::size_t warm, std::size_t capacity) {
  auto c = std::make_unique<Cache>(capacity);
  std::uint64_t gets = 0;
  (void)run_ops(*c, ops, 0, warm, gets);
  const auto [ns, hits] = run_ops(*c, ops, warm, ops.size(), gets);
  const auto n = static_cast<double>(ops.size() - warm);
  return {n / ns * 1e9, static_cast<double>(hits) / static_cast<double>(gets)};
}

/// `threads` threads on one shared cache, each on its own slice of the ops.
template <class Cache>
run_result measure_threads(const std::vector<op>& ops, std::size_t warm, std::size_t capacity, int threads) {
  auto c = std::make_unique<Cache>(capacity);
  std::uint64_t gets = 0;
  (void)run_ops(*c, ops, 0, warm, gets);
  const std::size_t per = (ops.size() - warm) / static_cast<std::size_t>(threads);
  std::vector<std::uint64_t> hits(static_cast<std::size_t>(threads)), g(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  const double ns = surge_bench::time_ns([&] {
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const std::size_t b = warm + per * static_cast<std::size_t>(t);
        const auto ut = static_cast<std::size_t>(t);
        hits[ut] = run_ops(*c, ops, b, b + per, g[ut]).second;
      });
    }
    for (auto& th : pool) th.join();
  });
  double h = 0, n = 0;
  for (int t = 0; t < threads; ++t) {
    h += static_cast<double>(hits[static_cast<std::size_t>(t)]);
    n += static_cast<double>(g[static_cast<std::size_t>(t)]);
  }
  return {static_cast<double>(per) * threads / ns * 1e9, h / n};
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

}  // namespace

int main(int argc, char** argv) {
  const auto opts = surge_bench::parse_args(argc, argv);
  const std::size_t universe = 1'000'000;
  const std::size_t capacity = 64 * 1024;
  const std::size_t warm = opts.quick ? 100'000 : 1'000'000;
  const std::size_t timed = opts.quick ? 200'000 : 5'000'000;
  const auto ops = make_ops(warm + timed, universe, 42);

  using lru = surge::lru_cache<u64, u64>;
  using lfu = surge::lfu_cache<u64, u64>;
  using sieve = surge::sieve_cache<u64, u64>;
  using s3fifo = surge::s3fifo_cache<u64, u64>;
  using wtinylfu = surge::cache<u64, u64>;
  using sharded_default = surge::sharded_cache<wtinylfu, 16>;
  using sharded = surge::sharded_cache<lru, 16>;
  using sharded_std = surge::sharded_cache<lru, 16, std::mutex>;
  using surge_bench::better;

  surge_bench::report rep(
      fmt::format("surge caches: Zipf(0.99) over {} keys, capacity {}, 90 % get / 10 % put, misses filled by put "
                  "({} timed ops after {} warm-up, median of {})",
                  universe, capacity, timed, warm, opts.reps));

  if (surge_bench::selected(opts, "single thread")) {
    constexpr std::size_t kinds = 6;  // lru, lfu, sieve, s3fifo, wtinylfu, textbook
    std::array<std::vector<double>, kinds> rate, hit;
    auto record = [&](std::size_t i, run_result x) {
      rate[i].push_back(x.ops_per_s);
      hit[i].push_back(x.hit_ratio);
    };
    for (int r = 0; r < opts.reps; ++r) {  // alternate so all see the same machine state
      record(0, measure<lru>(ops, warm, capacity));
      record(1, measure<lfu>(ops, warm, capacity));
      record(2, measure<sieve>(ops, warm, capacity));
      record(3, measure<s3fifo>(ops, warm, capacity));
      record(4, measure<wtinylfu>(ops, warm, capacity));
      record(5, measure<textbook_lru>(ops, warm, capacity));
    }
    using surge_bench::median;
    const double base = median(rate[5]), lru_rate = median(rate[0]);
    const std::array<const char*, kinds - 1> names{"surge lru_cache", "surge lfu_cache", "surge sieve_cache",
                                                   "surge s3fifo_cache", "surge wtinylfu_cache (surge::cache)"};
    for (std::size_t i = 0; i < names.size(); ++i) {
      const double v = median(rate[i]);
      rep.add({"single thread", names[i], v, "ops/s", better::higher,
               fmt::format("{}, {:.2f}x the textbook LRU{}", hit_note(median(hit[i])), v / base,
                           i == 0 ? "" : fmt::format(", {:.2f}x lru_cache", v / lru_rate))});
    }
    rep.add({"single thread", "textbook list+unordered_map LRU (baseline)", base, "ops/s", better::higher,
             hit_note(median(hit[5]))});
  }

  for (int threads : {1, 2}) {
    const std::string scenario = fmt::format("shared, {} thread{}", threads, threads > 1 ? "s" : "");
    if (!surge_bench::selected(opts, scenario)) continue;
    std::vector<double> a, b, c, d, e, ha, hb, hc, hd, he;
    for (int r = 0; r < opts.reps; ++r) {
      const auto v = measure_threads<sharded_default>(ops, warm, capacity, threads);
      e.push_back(v.ops_per_s), he.push_back(v.hit_ratio);
      const auto x = measure_threads<sharded>(ops, warm, capacity, threads);
      const auto y = measure_threads<sharded_std>(ops, warm, capacity, threads);
      const auto z = measure_threads<locked_textbook_lru>(ops, warm, capacity, threads);
      const auto w = measure_threads<sharded_textbook_lru>(ops, warm, capacity, threads);
      a.push_back(x.ops_per_s), ha.push_back(x.hit_ratio);
      b.push_back(y.ops_per_s), hb.push_back(y.hit_ratio);
      c.push_back(z.ops_per_s), hc.push_back(z.hit_ratio);
      d.push_back(w.ops_per_s), hd.push_back(w.hit_ratio);
    }
    using surge_bench::median;
    rep.add({scenario, "surge sharded_cache<lru_cache, 16>", median(a), "ops/s", better::higher, hit_note(median(ha))});
    rep.add({scenario, "surge sharded_cache<lru_cache, 16, std::mutex>", median(b), "ops/s", better::higher,
             hit_note(median(hb))});
    rep.add(
        {scenario, "surge sharded_cache<surge::cache, 16>", median(e), "ops/s", better::higher, hit_note(median(he))});
    rep.add({scenario, "textbook LRU + one std::mutex", median(c), "ops/s", better::higher, hit_note(median(hc))});
    rep.add({scenario, "textbook LRU, 16 std::mutex shards", median(d), "ops/s", better::higher, hit_note(median(hd))});
  }

  if (surge_bench::selected(opts, "memory")) {
    const std::size_t entries = opts.quick ? 100'000 : 1'000'000;
    const std::string scenario = fmt::format("memory, {} uint64 entries", entries);
    rep.add(
        {scenario, "surge lru_cache", bytes_per_entry<lru>(entries), "B/entry", better::lower, "counted allocations"});
    rep.add(
        {scenario, "surge lfu_cache", bytes_per_entry<lfu>(entries), "B/entry", better::lower, "counted allocations"});
    rep.add({scenario, "surge sieve_cache", bytes_per_entry<sieve>(entries), "B/entry", better::lower,
             "counted allocations"});
    rep.add({scenario, "surge s3fifo_cache", bytes_per_entry<s3fifo>(entries), "B/entry", better::lower,
             "counted allocations"});
    rep.add({scenario, "surge wtinylfu_cache", bytes_per_entry<wtinylfu>(entries), "B/entry", better::lower,
             "counted allocations"});
    rep.add({scenario, "textbook list+unordered_map LRU", bytes_per_entry<textbook_lru>(entries), "B/entry",
             better::lower, "counted allocations"});
  }

  rep.print(opts);
}
