/// @file surge/cache/detail/basic_cache.hpp
/// The engine shared by lru_cache and lfu_cache: a node pool preallocated for
/// the capacity, an open-addressing index, stats, TTL and the eviction
/// listener. The replacement order is a policy (lru_policy, lfu_policy) that
/// links the nodes by index; the engine never allocates after construction.
#ifndef SURGE_CACHE_DETAIL_BASIC_CACHE_HPP
#define SURGE_CACHE_DETAIL_BASIC_CACHE_HPP

#include <cassert>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <surge/cache/cache_options.hpp>
#include <surge/cache/detail/index_list.hpp>
#include <surge/cache/detail/slot_index.hpp>
#include <surge/cache/stats.hpp>

namespace surge::detail {

/// A node of the pool: key and value in manually managed storage (alive only
/// while the node is in use), the policy's links, and the 32-bit index hash
/// (the next free node while the node is free).
template <class Key, class Value, class Links>
struct cache_node {
  union {
    Key key;
  };
  union {
    Value value;
  };
  Links links;
  std::uint32_t hash;

  cache_node() noexcept {}
  ~cache_node() {}
  cache_node(const cache_node&) = delete;
  cache_node& operator=(const cache_node&) = delete;
};

/// What a policy sees of the node pool: `links(i)` (call operator) yields
/// node i's `Policy::links_type&`; `hash(i)` its 32-bit index hash (policies
/// that count frequencies or remember evicted keys use it).
template <class Node>
struct node_view {
  Node* nodes;
  auto& operator()(std::uint32_t i) const noexcept { return nodes[i].links; }
  [[nodiscard]] std::uint32_t hash(std::uint32_t i) const noexcept { return nodes[i].hash; }
};

/// The engine of every single-threaded cache (surge::cache_base documents
/// the public contract); Policy decides the eviction order.
/// A Policy is constructed with the node count and offers, all noexcept and
/// O(1) (amortised): `on_insert(i, links)`, `on_access(i, links)`,
/// `on_remove(i, links)`, `victim()` or `victim(links)` (the node to evict;
/// only called when full; it may reorder the policy's own structures) and
/// `clear()`, where `links` is a node_view. Optionally `before_put(h)`: the
/// key with 32-bit index hash `h` is about to be looked up by a call that
/// inserts it when absent (put, get_or_insert_with); a hint, called before
/// the index probe, so that a policy can start loading its own per-key data.
/// Optionally `likely_victim()`: after an insertion, the node the next
/// eviction will most likely remove (or index_npos); a hint, whose index
/// slot the engine then prefetches, so that the next eviction's index erase
/// does not start with a miss.
template <class Key, class Value, class Hash, class KeyEqual, class Clock, class Policy>
class basic_cache {
  template <class K>
  static constexpr bool is_transparent = requires {
    typename Hash::is_transparent;
    typename KeyEqual::is_transparent;
  };

 public:
  using key_type = Key;
  using mapped_type = Value;
  using hasher = Hash;
  using key_equal = KeyEqual;
  using clock = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  using options = cache_options<Key, Value, Clock>;
  using eviction_listener = std::function<void(Key&&, Value&&)>;

  static_assert(std::is_nothrow_destructible_v<Key> && std::is_nothrow_destructible_v<Value>,
                "cache keys and values must have non-throwing destructors");

  /// Largest supported capacity (node indices are 32-bit).
  static constexpr std::size_t max_capacity = slot_index::max_supported - 1;

  explicit basic_cache(std::size_t capacity) : basic_cache(capacity, options{}) {}

  basic_cache(std::size_t capacity, options opts, const Hash& hash = Hash(), const KeyEqual& eq = KeyEqual())
      : capacity_(checked_capacity(capacity)),
        ttl_(checked_ttl(opts.ttl)),
        index_(capacity + 1),
        policy_(capacity + 1),
        hash_(hash),
        eq_(eq),
        on_evict_(std::move(opts.on_evict)) {
    const std::size_t n = capacity + 1;  // one spare: a new entry is built before its victim leaves
    nodes_ = std::make_unique<node[]>(n);
    if (has_ttl()) expiry_ = std::make_unique<time_point[]>(n);
    rebuild_free_list();
  }

  basic_cache(const basic_cache&) = delete;
  basic_cache& operator=(const basic_cache&) = delete;

  ~basic_cache() { clear(); }

  // ---- lookup ----------------------------------------------------------

  /// The value of `key`, or nullptr on a miss (absent or expired; an expired
  /// entry is removed now, as an eviction). A hit makes the entry the most
  /// recent / adds 1 to its use count. Counts a hit or a miss.
  [[nodiscard]] Value* get(const Key& key) { return get_impl(key); }
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] Value* get(const K& key) { return get_impl(key); }

  /// The value of `key` without touching its order or the stats; nullptr when
  /// absent or expired (an expired entry is left in place).
  [[nodiscard]] const Value* peek(const Key& key) const { return peek_impl(key); }
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] const Value* peek(const K& key) const { return peek_impl(key); }

  /// True when `key` is present and not expired; no touch, no stats.
  [[nodiscard]] bool contains(const Key& key) const { return peek_impl(key) != nullptr; }
  template <class K>
  requires is_transparent<K>
  [[nodiscard]] bool contains(const K& key) const { return peek_impl(key) != nullptr; }

  // ---- modification ----------------------------------------------------

  /// Inserts `key` -> `value`, or assigns `value` to the present `key` (which
  /// then counts as accessed, and whose TTL restarts). Evicts one entry when a
  /// new key arrives in a full cache. True when the key was new (an expired
  /// entry counts as absent: it is evicted and the key inserted anew).
  bool put(const Key& key, Value value) { return put_impl(key, value); }
  bool put(Key&& key, Value value) { return put_impl(std::move(key), value); }

  /// The value of `key`; on a miss, inserts `Value(make())` first (evicting
  /// when full). Counts a hit or a miss. The reference stays valid until the
  /// next call that modifies the cache.
  template <class F>
  Value& get_or_insert_with(const Key& key, F&& make) {
    return get_or_insert_impl(key, make);
  }
  template <class K, class F>
  requires is_transparent<K> && std::is_constructible_v<Key, const K&> Value& get_or_insert_with(const K& key,
                                                                                                 F&& make) {
    return get_or_insert_impl(key, make);
  }

  /// Removes `key`; true when it was present. An expired entry is removed as
  /// an expiry (listener, eviction count) and false is returned.
  bool erase(const Key& key) { return erase_impl(key); }
  template <class K>
  requires is_transparent<K>
  bool erase(const K& key) { return erase_impl(key); }

  /// Removes every entry (no listener, not counted as evictions). O(capacity).
  void clear() noexcept {
    for (std::size_t i = 0; i < index_.slot_count(); ++i) {
      if (const std::uint32_t n = index_.node_at(i); n != index_npos) release(n);
    }
    index_.clear();
    policy_.clear();
    size_ = 0;
  }

  /// Removes every expired entry now (each an eviction, with the listener);
  /// returns how many. O(capacity); reads the clock once. Without a TTL: 0.
  std::size_t purge_expired() {
    if (!has_ttl()) return 0;
    const time_point now = Clock::now();
    std::size_t removed = 0;
    for (std::size_t i = 0; i < index_.slot_count();) {
      const std::uint32_t n = index_.node_at(i);
      if (n != index_npos && expired_at(n, now)) {
        evict(n);  // backward shift may pull another entry into slot i: look again
        ++removed;
      } else {
        ++i;
      }
    }
    return removed;
  }

  /// Sets (or, with an empty function, removes) the eviction listener; see
  /// surge::cache_options::on_evict for what it may do.
  void set_eviction_listener(eviction_listener f) noexcept { on_evict_ = std::move(f); }

  // ---- observers -------------------------------------------------------

  /// Entries held, including expired ones not yet removed.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  /// The expire-after-write duration; nullopt when entries never expire.
  [[nodiscard]] std::optional<duration> ttl() const noexcept {
    return has_ttl() ? std::optional<duration>(ttl_) : std::nullopt;
  }
  [[nodiscard]] cache_stats stats() const noexcept { return stats_; }
  void reset_stats() noexcept { stats_ = cache_stats{}; }
  [[nodiscard]] hasher hash_function() const { return hash_; }
  [[nodiscard]] key_equal key_eq() const { return eq_; }

  /// Bytes this cache allocated (node pool, index, TTL stamps, policy), fixed
  /// at construction: the memory cost of the capacity whatever the size.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return (capacity_ + 1) * (sizeof(node) + (has_ttl() ? sizeof(time_point) : 0)) + index_.memory_bytes() +
           policy_.memory_bytes();
  }

  /// Calls f(key, value) for every entry, expired or not, in no particular
  /// order. f must not modify the cache. O(capacity).
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < index_.slot_count(); ++i) {
      const std::uint32_t n = index_.node_at(i);
      if (n != index_npos) f(std::as_const(nodes_[n].key), std::as_const(nodes_[n].value));
    }
  }

 protected:
  /// put() with the value by reference (moved from only when stored), for a
  /// wrapper whose own put takes the value by value: no second move.
  template <class K>
  bool put_from(K&& key, Value& value) {
    return put_impl(std::forward<K>(key), value);
  }

  using links_type = typename Policy::links_type;
  /// Maps a node index to its policy links.
  auto links() const noexcept { return node_view<node>{nodes_.get()}; }
  Policy& policy() noexcept { return policy_; }
  const Policy& policy() const noexcept { return policy_; }
  /// Node index of a present key (expired or not), or index_npos.
  template <class K>
  [[nodiscard]] std::uint32_t node_of(const K& key) const {
    return find(key, index_hash(hash_(key)));
  }

 private:
  using node = cache_node<Key, Value, links_type>;

  static std::size_t checked_capacity(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("surge cache: capacity must be at least 1");
    if (capacity > max_capacity) throw std::invalid_argument("surge cache: capacity is too large");
    return capacity;
  }

  /// The ttl as stored: zero stands for "none" (a set ttl is positive).
  static duration checked_ttl(const std::optional<duration>& ttl) {
    if (!ttl) return duration::zero();
    if (!(*ttl > duration::zero()))  // also refuses a NaN (a floating-point rep)
      throw std::invalid_argument("surge cache: ttl must be positive (leave it unset for no expiry)");
    return *ttl;
  }

  [[nodiscard]] bool has_ttl() const noexcept { return ttl_ != duration::zero(); }

  template <class K>
  [[nodiscard]] std::uint32_t find(const K& key, std::uint32_t h) const {
    const node* nodes = nodes_.get();
    return index_.find(h, [&](std::uint32_t n) { return static_cast<bool>(eq_(nodes[n].key, key)); });
  }

  /// now() + ttl, saturated at time_point::max(), which stands for "never"
  /// (a ttl of duration::max(), or a write at the end of the clock's range).
  /// With a floating-point rep, a sum that rounds back to now (a ttl below
  /// the clock's resolution there) is rounded up to now's next step instead:
  /// an entry is never expired the moment it is written.
  [[nodiscard]] time_point expiry_from_now() const {
    const time_point now = Clock::now();
    if (now > time_point::max() - ttl_) return time_point::max();
    const time_point expiry = now + ttl_;
    if constexpr (std::is_floating_point_v<typename duration::rep>) {
      if (!(expiry > now)) {
        const auto t = now.time_since_epoch().count();
        return time_point(duration(std::nextafter(t, std::numeric_limits<decltype(t)>::infinity())));
      }
    }
    return expiry;
  }

  /// Whether node n's entry is expired at `now` (the cache has a ttl).
  [[nodiscard]] bool expired_at(std::uint32_t n, time_point now) const {
    return expiry_[n] != time_point::max() && expiry_[n] <= now;
  }

  [[nodiscard]] bool expired(std::uint32_t n) const { return has_ttl() && expired_at(n, Clock::now()); }

  /// The key's 32-bit index hash.
  template <class K>
  [[nodiscard]] std::uint32_t key_hash_of(const K& key) const {
    return index_hash(hash_(key));
  }

  template <class K>
  Value* get_impl(const K& key) {
    const std::uint32_t n = find(key, key_hash_of(key));
    if (n == index_npos) {
      ++stats_.misses;
      return nullptr;
    }
    if (expired(n)) {
      ++stats_.misses;
      evict(n);
      return nullptr;
    }
    ++stats_.hits;
    policy_.on_access(n, links());
    return std::addressof(nodes_[n].value);
  }

  template <class K>
  const Value* peek_impl(const K& key) const {
    const std::uint32_t n = node_of(key);
    if (n == index_npos || expired(n)) return nullptr;
    return std::addressof(nodes_[n].value);
  }

  /// The key's hash for put and get_or_insert_with, told to the policy's
  /// before_put hook if it has one.
  template <class K>
  [[nodiscard]] std::uint32_t put_hash_of(const K& key) const {
    const std::uint32_t h = key_hash_of(key);
    if constexpr (requires { policy_.before_put(h); }) policy_.before_put(h);
    return h;
  }

  template <class K>
  bool put_impl(K&& key, Value& value) {
    const std::uint32_t h = put_hash_of(std::as_const(key));
    std::uint32_t n = find(std::as_const(key), h);
    if (n != index_npos) {
      if (!expired(n)) {
        // the clock is read first: if it throws, nothing changed
        const time_point expiry = has_ttl() ? expiry_from_now() : time_point::max();
        nodes_[n].value = std::move(value);  // may throw: then nothing else changed
        if (has_ttl()) expiry_[n] = expiry;
        policy_.on_access(n, links());
        return false;
      }
    }
    // nested in a make() of get_or_insert_with, build evicts the victim first,
    // which may be the expired n: then look again (by the built node's key:
    // `key` may have been moved from)
    const bool evicts = free_ == index_npos;
    const std::uint32_t built = build(std::forward<K>(key), [&](void* v) { ::new (v) Value(std::move(value)); });
    if (evicts) [[unlikely]] {
      try {
        n = find(nodes_[built].key, h);
      } catch (...) {  // KeyEqual threw: drop the new entry
        release(built);
        throw;
      }
    }
    link(built, h, n);  // an expired n is replaced: the listener runs after the new entry is in
    return true;
  }

  template <class K, class F>
  Value& get_or_insert_impl(const K& key, F& make) {
    const std::uint32_t h = put_hash_of(key);
    std::uint32_t n = find(key, h);
    if (n != index_npos) {
      if (!expired(n)) {
        ++stats_.hits;
        policy_.on_access(n, links());
        return nodes_[n].value;
      }
      ++stats_.misses;
    } else {
      ++stats_.misses;
    }
    const std::uint32_t built = build(key, [&](void* v) { ::new (v) Value(std::invoke(make)); });
    // make() may have used this cache (memoised recursion): look again, by
    // the built node's key (make may have changed what `key` refers to: a
    // value of this cache, a variable it captured). If it inserted the key
    // meanwhile, that entry stays and this one is dropped.
    bool present = false;
    try {
      n = find(nodes_[built].key, h);
      present = n != index_npos && !expired(n);
    } catch (...) {  // KeyEqual or the clock threw: drop the new entry, nothing changed
      release(built);
      throw;
    }
    if (present) {
      release(built);
      return nodes_[n].value;
    }
    link(built, h, n);
    return nodes_[built].value;
  }

  template <class K>
  bool erase_impl(const K& key) {
    const std::uint32_t n = node_of(key);
    if (n == index_npos) return false;
    if (expired(n)) {
      evict(n);
      return false;
    }
    unlink(n);
    release(n);
    return true;
  }

  /// Builds a new entry, its Key from `key`, in a node taken off the free
  /// list, not yet linked; if a constructor throws, the node goes back and
  /// nothing else changed. The free list always holds the spare node, except
  /// while make() of a get_or_insert_with holds it and calls this cache
  /// again: see build_nested.
  template <class K, class MakeValue>
  std::uint32_t build(K&& key, MakeValue&& make_value) {
    if (free_ == index_npos) [[unlikely]]
      return build_nested(std::forward<K>(key), make_value);
    const std::uint32_t n = free_;
    node& nd = nodes_[n];
    free_ = nd.hash;
    try {
      ::new (static_cast<void*>(std::addressof(nd.key))) Key(std::forward<K>(key));
      try {
        make_value(static_cast<void*>(std::addressof(nd.value)));
      } catch (...) {
        nd.key.~Key();
        throw;
      }
    } catch (...) {
      nd.hash = free_;
      free_ = n;
      throw;
    }
    return n;
  }

  /// build() with no free node (make() of a get_or_insert_with holds the
  /// spare): evicts the victim first, to free one (std::length_error when the
  /// cache is empty: nested deeper than capacity + 1 calls). The Key is built
  /// aside before that and moved in after, since `key` may refer to the
  /// victim (a reference get or peek returned); a Key that cannot be moved
  /// is built after the eviction.
  template <class K, class MakeValue>
  [[gnu::noinline]] std::uint32_t build_nested(K&& key, MakeValue& make_value) {
    if (size_ == 0) throw std::length_error("surge cache: get_or_insert_with nested deeper than capacity + 1 calls");
    if constexpr (std::is_move_constructible_v<Key>) {
      Key aside(std::forward<K>(key));
      evict(victim());
      return build(std::move(aside), make_value);
    } else {
      evict(victim());
      return build(std::forward<K>(key), make_value);
    }
  }

  /// The policy's choice of the entry to evict (the cache is not empty).
  std::uint32_t victim() noexcept {
    if constexpr (requires { policy_.victim(links()); }) {
      return policy_.victim(links());
    } else {
      return policy_.victim();
    }
  }

  /// Links the built node n with hash h: removes `replaced` (the same key's
  /// expired node, if not index_npos) or else the victim when full, links
  /// the entry, then tells the listener. The clock is read first: if it
  /// throws, node n is released and nothing else changed.
  void link(std::uint32_t n, std::uint32_t h, std::uint32_t replaced) {
    if (has_ttl()) {
      try {
        expiry_[n] = expiry_from_now();
      } catch (...) {
        release(n);
        throw;
      }
    }
    nodes_[n].hash = h;
    std::uint32_t victim = replaced;
    if (victim == index_npos && size_ == capacity_) victim = this->victim();
    if (victim != index_npos) {
      unlink(victim);
      ++stats_.evictions;
    }
    index_.insert(h, n);
    policy_.on_insert(n, links());
    if constexpr (requires { policy_.likely_victim(); }) {
      if (const std::uint32_t next = policy_.likely_victim(); next != index_npos) index_.prefetch(nodes_[next].hash);
    }
    ++size_;
    ++stats_.insertions;
    if (victim != index_npos) notify_and_release(victim);
  }

  /// Removes node n from the index and the policy (its key and value stay alive).
  void unlink(std::uint32_t n) noexcept {
    index_.erase(nodes_[n].hash, n);
    policy_.on_remove(n, links());
    --size_;
  }

  /// Destroys node n's key and value and returns it to the free list.
  void release(std::uint32_t n) noexcept {
    node& nd = nodes_[n];
    nd.key.~Key();
    nd.value.~Value();
    nd.hash = free_;
    free_ = n;
  }

  /// Removes node n as an eviction or expiry: counted, and the listener told.
  void evict(std::uint32_t n) {
    unlink(n);
    ++stats_.evictions;
    notify_and_release(n);
  }

  void notify_and_release(std::uint32_t n) {
    struct releaser {
      basic_cache* self;
      std::uint32_t n;
      ~releaser() { self->release(n); }
    } guard{this, n};
    if (on_evict_) on_evict_(std::move(nodes_[n].key), std::move(nodes_[n].value));
  }

  void rebuild_free_list() noexcept {
    const std::size_t n = capacity_ + 1;
    for (std::size_t i = 0; i < n; ++i) nodes_[i].hash = i + 1 < n ? static_cast<std::uint32_t>(i + 1) : index_npos;
    free_ = 0;
  }

  std::size_t capacity_;
  duration ttl_;  // checked before anything is allocated
  std::size_t size_ = 0;
  std::unique_ptr<node[]> nodes_;
  std::unique_ptr<time_point[]> expiry_;
  slot_index index_;
  Policy policy_;
  std::uint32_t free_ = index_npos;
  cache_stats stats_{};
  [[no_unique_address]] Hash hash_;
  [[no_unique_address]] KeyEqual eq_;
  eviction_listener on_evict_;
};

}  // namespace surge::detail

#endif  // SURGE_CACHE_DETAIL_BASIC_CACHE_HPP
