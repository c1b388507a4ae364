/// @file surge/cache/sharded.hpp
/// A thread-safe cache made of independently locked shards of a
/// single-threaded cache (any of surge's cache policies).
#ifndef SURGE_CACHE_SHARDED_HPP
#define SURGE_CACHE_SHARDED_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <surge/cache/stats.hpp>
#include <surge/detail/adaptive_mutex.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/hash.hpp>

namespace surge {

/// `Shards` copies of `Cache` (lru_cache, lfu_cache, sieve_cache,
/// s3fifo_cache, wtinylfu_cache / surge::cache), each behind its own
/// mutex on its own cache lines. `Mutex` (any Lockable) defaults to
/// detail::adaptive_mutex: critical sections here are tens of nanoseconds, so
/// a waiter spins briefly before it sleeps on a futex (std::mutex sleeps at
/// once; pass it to get exactly its behaviour). A key always lives in the same shard, chosen
/// from its hash mixed with mix64 (so low-entropy hashes such as the identity
/// hash of integers still spread evenly). Eviction, recency, frequency and TTL
/// are per shard: the cache as a whole approximates its policy (a victim is
/// the least recent / least frequent of its shard, not of all entries).
///
/// Capacity: the total is split across the shards (the first `capacity %
/// Shards` shards hold one more). Options (ttl, listener) are copied to every
/// shard. The listener runs while its shard is locked: it may be called from
/// several threads at once (for different shards), must be thread-safe, and
/// must not call this cache.
///
/// Values cross the lock as copies: `get`, `peek` and `get_or_insert_with`
/// return `std::optional<Value>` / `Value` by value (copyable values only);
/// `visit` runs a function on the value under the lock instead (works with
/// move-only values).
///
/// Complexity: that of Cache plus one mutex lock per call; `size`, `stats`,
/// `clear`, `reset_stats`, `purge_expired` lock each shard in turn (O(Shards),
/// O(capacity) for clear and purge). Thread safety: thread-safe, every member.
/// `size()` and `stats()` sum per-shard values taken one after the other, so
/// under concurrent updates they are not a single snapshot.
///
/// Bad input: capacity smaller than Shards (a shard would have no room)
/// throws std::invalid_argument, as do the Cache's own checks (negative ttl).
/// Exceptions from user code propagate with Cache's guarantees; the shard's
/// lock is released.
template <class Cache, std::size_t Shards = 16, class Mutex = detail::adaptive_mutex>
class sharded_cache {
  static_assert(Shards >= 1, "sharded_cache needs at least one shard");

 public:
  using cache_type = Cache;
  using key_type = typename Cache::key_type;
  using mapped_type = typename Cache::mapped_type;
  using hasher = typename Cache::hasher;
  using key_equal = typename Cache::key_equal;
  using options = typename Cache::options;
  static constexpr std::size_t shard_count = Shards;

 private:
  using Key = key_type;
  using Value = mapped_type;
  template <class K>
  static constexpr bool is_transparent = requires {
    typename hasher::is_transparent;
    typename key_equal::is_transparent;
  };

 public:
  explicit sharded_cache(std::size_t capacity) : sharded_cache(capacity, options{}) {}

  sharded_cache(std::size_t capacity, const options& opts, const hasher& hash = hasher(),
                const key_equal& eq = key_equal())
      : hash_(hash), capacity_(capacity) {
    if (capacity < Shards) throw std::invalid_argument("surge::sharded_cache: capacity must be at least Shards");
    for (std::size_t i = 0; i < Shards; ++i) {
      const std::size_t cap = capacity / Shards + (i < capacity % Shards ? 1 : 0);
      shards_[i] = std::make_unique<shard>(cap, opts, hash, eq);
    }
  }

  /// A copy of the value of `key` (touching it, counting a hit or a miss), or
  /// nullopt.
  [[nodiscard]] std::optional<Value> get(const Key& key) { return get_impl(key); }
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] std::optional<Value> get(const K& key) { return get_impl(key); }

  /// A copy of the value of `key` without touching it, or nullopt.
  [[nodiscard]] std::optional<Value> peek(const Key& key) const { return peek_impl(key); }
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] std::optional<Value> peek(const K& key) const { return peek_impl(key); }

  /// Whether `key` is present (and not expired); no touch, no stats.
  [[nodiscard]] bool contains(const Key& key) const { return contains_impl(key); }
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] bool contains(const K& key) const { return contains_impl(key); }

  /// Runs `f(Value&)` on the value of `key` under the shard's lock (a touch,
  /// counted like `get`); false on a miss. `f` must not call this cache.
  template <class F>
  bool visit(const Key& key, F&& f) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    Value* v = s.cache.get(key);
    if (v == nullptr) return false;
    std::forward<F>(f)(*v);
    return true;
  }

  /// Inserts or assigns; true when the key was new.
  bool put(const Key& key, Value value) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return s.cache.put(key, std::move(value));
  }
  bool put(Key&& key, Value value) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return s.cache.put(std::move(key), std::move(value));
  }

  /// A copy of the value of `key`, inserting `make()` first on a miss. `make`
  /// runs under the shard's lock (other keys of that shard wait for it).
  template <class F>
  Value get_or_insert_with(const Key& key, F&& make) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return s.cache.get_or_insert_with(key, std::forward<F>(make));
  }

  /// Removes `key`; true when it was present.
  bool erase(const Key& key) { return erase_impl(key); }
  template <class K>
  requires is_transparent<K>
  bool erase(const K& key) { return erase_impl(key); }

  /// Empties every shard (no listener, not evictions).
  void clear() {
    for_each_shard([](Cache& c) { c.clear(); });
  }

  /// Removes expired entries from every shard; returns how many.
  std::size_t purge_expired() {
    std::size_t n = 0;
    for_each_shard([&](Cache& c) { n += c.purge_expired(); });
    return n;
  }

  [[nodiscard]] std::size_t size() const {
    std::size_t n = 0;
    for_each_shard([&](const Cache& c) { n += c.size(); });
    return n;
  }
  [[nodiscard]] bool empty() const { return size() == 0; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// The sum of every shard's stats.
  [[nodiscard]] cache_stats stats() const {
    cache_stats total;
    for_each_shard([&](const Cache& c) { total += c.stats(); });
    return total;
  }
  void reset_stats() {
    for_each_shard([](Cache& c) { c.reset_stats(); });
  }

  /// The shard `key` lives in, in [0, Shards).
  template <class K>
  [[nodiscard]] std::size_t shard_index(const K& key) const {
    return static_cast<std::size_t>(detail::mix64(static_cast<std::uint64_t>(hash_(key))) % Shards);
  }

 private:
  struct alignas(detail::destructive_interference_size) shard {
    shard(std::size_t cap, const options& opts, const hasher& h, const key_equal& e) : cache(cap, opts, h, e) {}
    mutable Mutex mutex;
    Cache cache;
  };

  template <class K>
  shard& shard_for(const K& key) const {
    return *shards_[shard_index(key)];
  }

  template <class F>
  void for_each_shard(F&& f) const {
    for (const auto& s : shards_) {
      std::lock_guard lock(s->mutex);
      f(std::as_const(s->cache));
    }
  }
  template <class F>
  void for_each_shard(F&& f) {
    for (auto& s : shards_) {
      std::lock_guard lock(s->mutex);
      f(s->cache);
    }
  }

  template <class K>
  std::optional<Value> get_impl(const K& key) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    if (Value* v = s.cache.get(key)) return *v;
    return std::nullopt;
  }

  template <class K>
  std::optional<Value> peek_impl(const K& key) const {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    if (const Value* v = s.cache.peek(key)) return *v;
    return std::nullopt;
  }

  template <class K>
  bool contains_impl(const K& key) const {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return s.cache.contains(key);
  }

  template <class K>
  bool erase_impl(const K& key) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mutex);
    return s.cache.erase(key);
  }

  [[no_unique_address]] hasher hash_;
  std::size_t capacity_;
  std::array<std::unique_ptr<shard>, Shards> shards_;
};

}  // namespace surge

#endif  // SURGE_CACHE_SHARDED_HPP
