/// @file surge/cache/sharded.hpp
/// A thread-safe cache made of independently locked shards of a
/// single-threaded cache (any of surge's cache policies).
#ifndef SURGE_CACHE_SHARDED_HPP
#define SURGE_CACHE_SHARDED_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <surge/cache/detail/single_flight.hpp>
#include <surge/cache/stats.hpp>
#include <surge/detail/adaptive_mutex.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/sharded_locks.hpp>

namespace surge {
namespace detail {
/// Defined by <surge/cache/async_load.hpp> for sharded_cache; the primary
/// template only explains what to include.
template <class Cache>
struct cache_async_load {
  template <class C = Cache>
  static constexpr bool included = !std::is_same_v<C, C>;
  static_assert(included<>, "sharded_cache::get_or_load_async needs #include <surge/cache/async_load.hpp>");
};
}  // namespace detail

/// The default shard lock of sharded_cache, usable on its own: a Lockable
/// (`lock`, `try_lock`, `unlock`; works with std::lock_guard and
/// std::unique_lock) for critical sections of tens of nanoseconds. `lock`
/// takes it with one compare-exchange when free; under contention it spins
/// briefly with exponential backoff, then sleeps in `std::atomic::wait`, and
/// an uncontended `unlock` never makes a system call. Not fair, not
/// recursive (locking it twice on one thread deadlocks; unlocking it when
/// not held is undefined). One 4-byte word; O(1) uncontended.
using adaptive_mutex = detail::adaptive_mutex;

/// `Shards` copies of `Cache` (lru_cache, lfu_cache, sieve_cache,
/// s3fifo_cache, wtinylfu_cache / surge::cache), each behind its own
/// mutex on its own cache lines. `Shards` is 1 to 4096 (a static_assert:
/// the shard table sits inside the object, 8 bytes a shard). `Mutex` (any Lockable) defaults to
/// surge::adaptive_mutex: critical sections here are tens of nanoseconds, so
/// a waiter spins briefly before it sleeps on a futex (std::mutex sleeps at
/// once; pass it to get exactly its behaviour). A key always lives in the same
/// shard, chosen from its hash mixed with SplitMix64 (so low-entropy hashes such as
/// the identity hash of integers still spread evenly). Eviction, recency,
/// frequency and TTL are per shard: the cache as a whole approximates its
/// policy (a victim is the least recent / least frequent of its shard, not of
/// all entries).
///
/// Capacity: the total is split across the shards (the first `capacity %
/// Shards` shards hold one more); a capacity below `Shards` uses `capacity`
/// shards of one entry each. Options (ttl, listener) are copied to every
/// shard. The listener runs while its shard is locked: it may be called from
/// several threads at once (for different shards), must be thread-safe, and
/// must not call this cache (a call into its own shard deadlocks with a
/// non-recursive Mutex such as the default; see cache_options::on_evict).
///
/// Values cross the lock as copies: `get`, `peek`, `get_or_insert_with` and
/// `get_or_load` return `std::optional<Value>` / `Value` by value (copyable
/// values only); `visit` runs a function on the value under the lock instead
/// (works with move-only values).
///
/// Loading: `get_or_load(key, loader)` runs `loader()` outside every lock, at
/// most once at a time per key across all threads (single flight): callers
/// that miss the same key meanwhile wait for that run's value or exception.
/// `get_or_load_async` (in <surge/cache/async_load.hpp>) is the coroutine
/// form: it suspends instead of blocking.
///
/// Complexity: that of Cache plus one mutex lock per call; `size`, `stats`,
/// `clear`, `reset_stats`, `purge_expired` lock each shard in turn (O(Shards),
/// O(capacity) for clear and purge). Thread safety: thread-safe, every member.
/// `size()` and `stats()` sum per-shard values taken one after the other, so
/// under concurrent updates they are not a single snapshot. Not copyable or
/// movable, like the caches it holds (hold it by `std::unique_ptr` to move it
/// around).
///
/// Bad input: capacity 0 or above `max_capacity` throws
/// std::invalid_argument, as do the Cache's own checks (a zero, negative or
/// NaN ttl); a bool, a character or a floating-point capacity does not
/// compile. Exceptions from user code propagate with Cache's guarantees; the
/// shard's lock is released.
template <class Cache, std::size_t Shards = 16, class Mutex = adaptive_mutex>
class sharded_cache {
  static_assert(Shards >= 1, "surge::sharded_cache: Shards must be at least 1");
  static_assert(Shards <= 4096, "surge::sharded_cache: Shards must be at most 4096");
  static_assert(
      requires {
        typename Cache::key_type;
        typename Cache::mapped_type;
        typename Cache::options;
        Cache::max_capacity;
      },
      "surge::sharded_cache: Cache must be a surge cache such as lru_cache<Key, Value>");

 public:
  using cache_type = Cache;                         ///< The cache in each shard.
  using key_type = typename Cache::key_type;        ///< Cache's Key.
  using mapped_type = typename Cache::mapped_type;  ///< Cache's Value.
  using hasher = typename Cache::hasher;            ///< Cache's Hash (also picks the shard).
  using key_equal = typename Cache::key_equal;      ///< Cache's KeyEqual.
  using options = typename Cache::options;          ///< Cache's options, given to every shard.
  /// The most shards (a capacity below it uses one shard per entry of capacity).
  static constexpr std::size_t shard_count = Shards;
  /// Largest total capacity: Shards times Cache's maximum.
  static constexpr std::size_t max_capacity = Shards * Cache::max_capacity;

 private:
  using Key = key_type;
  using Value = mapped_type;
  template <class K>
  static constexpr bool is_transparent = requires {
    typename hasher::is_transparent;
    typename key_equal::is_transparent;
  };

 public:
  /// A bool, a character or a floating-point number as the capacity does not
  /// compile (it would convert to std::size_t silently: 2.9 would be 2, '4' 52).
  template <detail::not_a_count C>
  explicit sharded_cache(const C&, const options& opts = {}, const hasher& hash = hasher(),
                         const key_equal& eq = key_equal())
      : sharded_cache(std::size_t{1}, opts, hash, eq) {
    static_assert(detail::refused_count<C>,
                  "surge::sharded_cache: the capacity must be an integer, not a bool, a character or a floating-point "
                  "number");
  }
  /// A cache of `capacity` entries in total, with default options.
  explicit sharded_cache(std::size_t capacity) : sharded_cache(capacity, options{}) {}

  /// A cache of `capacity` entries in total, split over min(Shards,
  /// capacity) shards as evenly as possible (shard capacities differ by at
  /// most 1); each shard's Cache gets `opts`, `hash` and `eq`. Throws
  /// std::invalid_argument when capacity is 0 or above max_capacity, and
  /// whatever Cache's constructor throws.
  sharded_cache(std::size_t capacity, const options& opts, const hasher& hash = hasher(),
                const key_equal& eq = key_equal())
      : hash_(hash),
        capacity_(detail::checked_total(capacity, max_capacity, "surge::sharded_cache: capacity", "max_capacity")),
        shards_(std::min(capacity, Shards), [&](std::size_t i) {
          return shard_state(detail::share_of(capacity, std::min(capacity, Shards), i), opts, hash, eq);
        }) {}
  sharded_cache(const sharded_cache&) = delete;             ///< Not copyable.
  sharded_cache& operator=(const sharded_cache&) = delete;  ///< Not copyable (nor movable).

  /// A copy of the value of `key` (touching it, counting a hit or a miss), or
  /// nullopt.
  [[nodiscard]] std::optional<Value> get(const Key& key) { return get_impl(key); }
  /// get() by any key type the transparent Hash and KeyEqual accept.
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] std::optional<Value> get(const K& key) { return get_impl(key); }

  /// A copy of the value of `key` without touching it, or nullopt.
  [[nodiscard]] std::optional<Value> peek(const Key& key) const { return peek_impl(key); }
  /// peek() by any key type the transparent Hash and KeyEqual accept.
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] std::optional<Value> peek(const K& key) const { return peek_impl(key); }

  /// Whether `key` is present (and not expired); no touch, no stats.
  [[nodiscard]] bool contains(const Key& key) const { return contains_impl(key); }
  /// contains() by any key type the transparent Hash and KeyEqual accept.
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] bool contains(const K& key) const { return contains_impl(key); }

  /// Runs `f(Value&)` on the value of `key` under the shard's lock (a touch,
  /// counted like `get`); false on a miss. `f` must not call this cache.
  template <class F>
  bool visit(const Key& key, F&& f) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    Value* v = s.value.cache.get(key);
    if (v == nullptr) return false;
    std::forward<F>(f)(*v);
    return true;
  }

  /// Inserts or assigns; true when the key was new.
  /// A load of `key` in progress (get_or_load) then does not store its value
  /// over this one (a put that throws before it stores, such as a throwing
  /// move of the value, leaves the load to store its own).
  bool put(const Key& key, Value value) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return write_over_load(s.value, key, [&] { return s.value.cache.put(key, std::move(value)); });
  }
  /// put() that moves the key in (when it is new; as Cache's put(Key&&), a
  /// put that throws may leave `key` moved from without inserting it).
  bool put(Key&& key, Value value) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return write_over_load(s.value, key, [&] { return s.value.cache.put(std::move(key), std::move(value)); });
  }

  /// A copy of the value of `key`, inserting `make()` first on a miss. `make`
  /// runs under the shard's lock (other keys of that shard wait for it, and
  /// it must not call this cache): for slow work use get_or_load. A load of
  /// `key` in progress then does not store its value over this one (unless
  /// this call throws before it stores: `make` or the new entry's
  /// construction).
  template <class F>
  Value get_or_insert_with(const Key& key, F&& make) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return write_over_load(s.value, key,
                           [&]() -> Value { return s.value.cache.get_or_insert_with(key, std::forward<F>(make)); });
  }

  /// A copy of the value of `key`; on a miss, the value `loader()` returns,
  /// which is then stored (`put`). Single flight: while one call runs the
  /// loader of a key, other calls that miss that key block until it
  /// finishes and return its value (or rethrow its exception) without
  /// running a loader of their own. The loader runs with no lock held: it may
  /// call this cache for other keys, and other keys of its shard proceed.
  ///
  /// Each call counts one hit or one miss (followers miss too); a successful
  /// load counts an insertion. A loader that throws stores nothing: its
  /// caller and every caller waiting on that run get the exception, and the
  /// next call loads again. If storing the loaded value throws (the eviction
  /// listener, a copy), the waiters still get the value and the loading
  /// caller gets the exception. A write of the key while it loads (put,
  /// get_or_insert_with, erase, clear) wins: the load's callers still get
  /// the loaded value, but it is not stored over the write (an invalidation
  /// by erase is not undone by a load that began before it, even if erase
  /// throws; a put or get_or_insert_with that throws before it stores
  /// anything is no write). A loader that asks for its own key with
  /// get_or_load (directly or through other blocking loads on its thread)
  /// throws std::logic_error rather than wait for itself; waiting for it any
  /// other way (get_or_load_async under sync_wait) or a cycle of loaders
  /// across threads deadlocks.
  ///
  /// Complexity: a hit is get(); a miss adds two allocations (the in-flight
  /// record and its entry in the shard's table of loads) and a second shard
  /// lock to store the value. Thread-safe.
  template <class F>
  Value get_or_load(const Key& key, F&& loader) {
    static_assert(std::is_invocable_v<F&>,
                  "surge::sharded_cache::get_or_load: loader must be callable with no arguments");
    static_assert(std::is_convertible_v<std::invoke_result_t<F&>, Value>,
                  "surge::sharded_cache::get_or_load: loader must return a Value");
    shard& s = shard_for(key);
    load_start start = start_load(s, key, std::this_thread::get_id());
    if (start.hit) return std::move(*start.hit);
    if (!start.leader) return start.flight->wait();
    try {
      start.flight->set_value(std::invoke(loader));
    } catch (...) {
      abandon_load(s, key, *start.flight, std::current_exception());
      throw;
    }
    return finish_load(s, key, *start.flight);
  }

  /// The coroutine form of get_or_load: `co_await cache.get_or_load_async(key,
  /// loader)`, where `loader()` returns an awaitable of a Value (such as a
  /// `task<Value>`), or `loader` is such an awaitable. Needs
  /// <surge/cache/async_load.hpp>; see it for the contract.
  template <class Loader>
  auto get_or_load_async(Key key, Loader loader) {
    return detail::cache_async_load<sharded_cache>::run(*this, std::move(key), std::move(loader));
  }

  /// Removes `key`; true when it was present.
  bool erase(const Key& key) { return erase_impl(key); }
  /// erase() by any key type the transparent Hash and KeyEqual accept.
  template <class K>
  requires is_transparent<K>
  bool erase(const K& key) { return erase_impl(key); }

  /// Empties every shard (no listener, not evictions). Loads in progress do
  /// not store their values when they finish (their callers still get them).
  void clear() {
    shards_.for_each([](shard_state& s) {
      for (auto& [key, f] : s.loads)
        if (f) f->superseded = true;
      s.cache.clear();
    });
  }

  /// Removes expired entries from every shard; returns how many.
  std::size_t purge_expired() {
    std::size_t n = 0;
    shards_.for_each([&](shard_state& s) { n += s.cache.purge_expired(); });
    return n;
  }

  /// Entries held in all shards, expired ones not yet removed included (a
  /// sum of per-shard values taken one after the other).
  [[nodiscard]] std::size_t size() const {
    std::size_t n = 0;
    shards_.for_each([&](const shard_state& s) { n += s.cache.size(); });
    return n;
  }
  /// size() == 0.
  [[nodiscard]] bool empty() const { return size() == 0; }
  /// The total capacity given at construction.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// The sum of every shard's stats.
  [[nodiscard]] cache_stats stats() const {
    cache_stats total;
    shards_.for_each([&](const shard_state& s) { total += s.cache.stats(); });
    return total;
  }
  /// Sets every shard's stats to zero.
  void reset_stats() {
    shards_.for_each([](shard_state& s) { s.cache.reset_stats(); });
  }

  /// The shard `key` lives in, in [0, min(Shards, capacity)).
  template <class K>
  [[nodiscard]] std::size_t shard_index(const K& key) const {
    return shards_.index_of(static_cast<std::size_t>(hash_(key)));
  }

 private:
  template <class>
  friend struct detail::cache_async_load;

  using flight_type = detail::flight<Value>;

  struct shard_state {
    shard_state(std::size_t cap, const options& opts, const hasher& h, const key_equal& e)
        : cache(cap, opts, h, e), loads(0, h, e) {}
    Cache cache;
    std::unordered_map<Key, std::shared_ptr<flight_type>, hasher, key_equal> loads;  // in progress
  };
  using shard_array = detail::sharded_locks<shard_state, Shards, Mutex>;
  using shard = typename shard_array::shard;

  template <class K>
  shard& shard_for(const K& key) const {
    return shards_[shard_index(key)];
  }

  /// What a get_or_load call does after its first look: return a hit, follow
  /// a load in progress, or lead a new one.
  struct load_start {
    std::optional<Value> hit;
    std::shared_ptr<flight_type> flight;
    bool leader = false;
  };

  /// One lock: a hit, or the load in progress for `key`, or a new one (this
  /// caller leads; `leader_thread` is its thread when it will block).
  load_start start_load(shard& s, const Key& key, std::thread::id leader_thread) {
    std::lock_guard lock(s.mutex);
    if (Value* v = s.value.cache.get(key)) return {*v, nullptr, false};
    auto [it, fresh] = s.value.loads.try_emplace(key);
    if (!fresh && it->second && !it->second->done()) return {std::nullopt, it->second, false};
    // (a done or null record is left by a failed erase or allocation: replace it)
    it->second = std::make_shared<flight_type>(leader_thread);
    return {std::nullopt, it->second, true};
  }

  /// The leader, with the value in `f`: stores it, ends the load, wakes the
  /// followers, returns a copy.
  Value finish_load(shard& s, const Key& key, flight_type& f) {
    std::exception_ptr store_error;
    {
      std::lock_guard lock(s.mutex);
      try {
        if (!f.superseded) s.value.cache.put(key, f.value());
      } catch (...) {
        store_error = std::current_exception();
      }
      forget_load(s, key);
    }
    f.publish();
    if (store_error) std::rethrow_exception(store_error);
    return f.value();
  }

  /// The leader, failing with `e`: ends the load, stores nothing, wakes the
  /// followers with `e`.
  void abandon_load(shard& s, const Key& key, flight_type& f, std::exception_ptr e) noexcept {
    f.set_exception(std::move(e));
    {
      std::lock_guard lock(s.mutex);
      forget_load(s, key);
    }
    f.publish();
  }

  /// An erase of `key`: a load of it in progress must not store over it. One
  /// hash lookup, only while some load of the shard is in progress.
  template <class K>
  static void supersede_load(shard_state& s, const K& key) {
    if (s.loads.empty()) return;
    const auto it = s.loads.find(key);
    if (it != s.loads.end() && it->second) it->second->superseded = true;
  }

  /// Runs `write()`, a put or get_or_insert_with of `key`: once it has
  /// stored (it returned, or it threw after counting its insertion: the
  /// eviction listener, the copy returned), a load of `key` in progress must
  /// not store over it; a write that threw before storing leaves the load
  /// alone. Costs one hash lookup, only while some load of the shard is in
  /// progress.
  template <class W>
  static auto write_over_load(shard_state& s, const Key& key, W&& write) {
    if (s.loads.empty()) return write();
    const auto it = s.loads.find(key);
    if (it == s.loads.end() || !it->second) return write();
    flight_type& f = *it->second;
    const std::uint64_t insertions = s.cache.stats().insertions;
    try {
      auto result = write();
      f.superseded = true;
      return result;
    } catch (...) {
      if (s.cache.stats().insertions != insertions) f.superseded = true;
      throw;
    }
  }

  /// Drops the record of a finished load. If the hash or comparison throws,
  /// the record stays (marked done by the caller): the next miss replaces it.
  static void forget_load(shard& s, const Key& key) noexcept {
    try {
      s.value.loads.erase(key);
    } catch (...) {
    }
  }

  template <class K>
  std::optional<Value> get_impl(const K& key) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    if (Value* v = s.value.cache.get(key)) return *v;
    return std::nullopt;
  }

  template <class K>
  std::optional<Value> peek_impl(const K& key) const {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    if (const Value* v = s.value.cache.peek(key)) return *v;
    return std::nullopt;
  }

  template <class K>
  bool contains_impl(const K& key) const {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return s.value.cache.contains(key);
  }

  template <class K>
  bool erase_impl(const K& key) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    supersede_load(s.value, key);
    return s.value.cache.erase(key);
  }

  [[no_unique_address]] hasher hash_;
  std::size_t capacity_;
  shard_array shards_;
};

}  // namespace surge

#endif  // SURGE_CACHE_SHARDED_HPP
