/// @file surge/cache/cache_base.hpp
/// `surge::cache_base`: the members every single-threaded cache shares
/// (lru_cache, lfu_cache, sieve_cache, s3fifo_cache, wtinylfu_cache and so
/// surge::cache): lookup, insertion, erasure, TTL, eviction listener, stats.
#ifndef SURGE_CACHE_CACHE_BASE_HPP
#define SURGE_CACHE_CACHE_BASE_HPP

#include <cstddef>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include <surge/cache/cache_options.hpp>
#include <surge/cache/detail/basic_cache.hpp>
#include <surge/cache/stats.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/key_checks.hpp>

namespace surge {

/// Which entry a full cache evicts: the last template argument of
/// cache_base, one per cache (lru_cache is `lru`, lfu_cache `lfu`,
/// sieve_cache `sieve`, s3fifo_cache `s3fifo`, wtinylfu_cache and
/// surge::cache `wtinylfu`). Each cache's page describes its order. You name
/// a cache, not this enum.
enum class eviction_policy {
  lru,      ///< Least recently used (lru_cache).
  lfu,      ///< Least frequently used, ties by recency (lfu_cache).
  sieve,    ///< SIEVE: a FIFO with a visited bit and a moving hand (sieve_cache).
  s3fifo,   ///< S3-FIFO: small, main and ghost FIFO queues (s3fifo_cache).
  wtinylfu  ///< Adaptive W-TinyLFU, Caffeine's design (wtinylfu_cache, surge::cache).
};

namespace detail {
/// The implementation of an eviction_policy: `type`, the policy class the
/// engine runs. Specialised in each cache's header, next to its policy.
template <eviction_policy P>
struct policy_for;
}  // namespace detail

/// The public members of every single-threaded surge cache: lru_cache,
/// lfu_cache, sieve_cache, s3fifo_cache and wtinylfu_cache derive from it
/// (each cache's page lists them as its own). You name a cache, never a cache_base:
/// `Policy` is the cache's eviction_policy; the caches differ only in which
/// entry they evict and in a few extra observers of their own
/// (lfu_cache::frequency, wtinylfu_cache::window_capacity). Construct a cache
/// with the constructors below, under the cache's name: `lru_cache<K, V>
/// c(capacity)`, `c(capacity, options)`, `c(capacity, options, hash, eq)`.
///
/// Storage is fixed at construction: capacity + 1 nodes (one a spare, so a
/// new entry is built before its victim leaves) and an open-addressing index
/// sized for the capacity; no member allocates afterwards (only the user's
/// key or value constructors may). `memory_bytes()` reports the footprint.
///
/// Complexity: every member is O(1) expected (one hash, probes of an index
/// kept at most half full) unless its comment says otherwise (`clear`,
/// `purge_expired`, `for_each` and the destructor are O(capacity)); a
/// policy's amortised work is stated on its cache.
///
/// Thread safety: not thread-safe: one thread at a time, even for `get`
/// (it updates the order and the stats) and the const members while another
/// thread modifies. Use sharded_cache to share a cache between threads.
///
/// Bad input: capacity 0 or above `max_capacity`, and a zero, negative or
/// NaN `options::ttl`, throw std::invalid_argument naming the argument. A
/// bool, a character or a floating-point capacity, a Key that Hash cannot
/// hash or KeyEqual cannot compare, and a character pointer Key with
/// std::hash or std::equal_to, fail to compile with one message. Exceptions from Hash, KeyEqual, Key/Value copies and
/// moves, `make`, the listener and Clock::now() propagate; the cache stays
/// valid (basic guarantee; a failed lookup, a failed construction of the
/// new entry and a throwing clock change nothing). lru_cache spells out every
/// case.
///
/// Pointers and references returned by `get`, `peek` and
/// `get_or_insert_with` stay valid until the next call that modifies the
/// cache (`get` included: it may expire an entry). Not copyable or movable.
template <class Key, class Value, class Hash, class KeyEqual, class Clock, eviction_policy Policy>
class cache_base
    // the engine gets stand-in functors when the key type is refused, so the
    // cache's own static_assert is the only error the user reads
    : protected detail::basic_cache<Key, Value, detail::checked_key_functor<Hash, Key, Hash, KeyEqual>,
                                    detail::checked_key_functor<KeyEqual, Key, Hash, KeyEqual>, Clock,
                                    typename detail::policy_for<Policy>::type> {
  using engine_hash = detail::checked_key_functor<Hash, Key, Hash, KeyEqual>;
  using engine_equal = detail::checked_key_functor<KeyEqual, Key, Hash, KeyEqual>;
  using engine =
      detail::basic_cache<Key, Value, engine_hash, engine_equal, Clock, typename detail::policy_for<Policy>::type>;

  template <class Engine, class User>
  static Engine to_engine(const User& f) {
    if constexpr (std::is_same_v<Engine, User>) {
      return f;
    } else {
      return Engine{};  // a refused key type: the cache's static_assert reports it
    }
  }

 public:
  using key_type = Key;                                         ///< The key type.
  using mapped_type = Value;                                    ///< The value type.
  using hasher = Hash;                                          ///< The Hash argument: hashes keys.
  using key_equal = KeyEqual;                                   ///< The KeyEqual argument: compares keys.
  using clock = Clock;                                          ///< The Clock argument: measures TTLs.
  using duration = typename clock::duration;                    ///< Clock's duration (the TTL's type).
  using time_point = typename clock::time_point;                ///< Clock's time point.
  using options = cache_options<key_type, mapped_type, clock>;  ///< Construction options (TTL, eviction listener).
  using eviction_listener = std::function<void(key_type&&, mapped_type&&)>;  ///< See cache_options::on_evict.

  /// Largest supported capacity: 2^30 - 1 (the index keeps 32-bit node
  /// indices at most half full).
  static constexpr std::size_t max_capacity = engine::max_capacity;

  /// True when both Hash and KeyEqual have an `is_transparent` member type:
  /// then `get`, `peek`, `contains`, `erase` and `get_or_insert_with` also
  /// accept any key type they can hash and compare (a `std::string` key found
  /// by `std::string_view` or `const char*`, without building a Key).
  /// Hash must hash such a key as it hashes the Key it equals (as for
  /// std::unordered_map): otherwise lookups by it miss, and
  /// get_or_insert_with by it stores the key a second time.
  static constexpr bool heterogeneous_lookup = requires {
    typename Hash::is_transparent;
    typename KeyEqual::is_transparent;
  };

  /// A bool, a character or a floating-point number as the capacity does not
  /// compile (it would convert to std::size_t silently: 2.9 would be 2, '4' 52).
  template <detail::not_a_count C>
  explicit cache_base(const C&, options opts = {}, const hasher& hash = hasher(), const key_equal& eq = key_equal())
      : cache_base(std::size_t{1}, std::move(opts), hash, eq) {
    static_assert(detail::refused_count<C>,
                  "surge cache: the capacity must be an integer, not a bool, a character or a floating-point number");
  }
  /// A cache of at most `capacity` entries, default options. Allocates all
  /// its memory now. Throws std::invalid_argument when capacity is 0 or
  /// above max_capacity (and std::bad_alloc when memory runs out).
  explicit cache_base(std::size_t capacity) : engine(capacity) {}

  /// A cache of at most `capacity` entries with `opts` (TTL, listener).
  /// Throws std::invalid_argument on capacity 0, above max_capacity, or a
  /// zero, negative or NaN `opts.ttl`.
  cache_base(std::size_t capacity, options opts) : engine(capacity, std::move(opts)) {}

  /// As cache_base(capacity, opts), hashing with `hash` and comparing with
  /// `eq` (copies are kept).
  cache_base(std::size_t capacity, options opts, const hasher& hash, const key_equal& eq = key_equal())
      : engine(capacity, std::move(opts), to_engine<engine_hash>(hash), to_engine<engine_equal>(eq)) {}

  cache_base(const cache_base&) = delete;             ///< Not copyable.
  cache_base& operator=(const cache_base&) = delete;  ///< Not copyable.

  // ---- lookup ----------------------------------------------------------

  /// The value of `key`, or nullptr on a miss (absent or expired; an expired
  /// entry is removed now, as an eviction: stats and listener). A hit marks
  /// the entry used (the policy's notion: most recent, one more use, a
  /// sighting ...). Counts a hit or a miss. O(1) expected.
  [[nodiscard]] Value* get(const Key& key) { return engine::get(key); }
  /// get() by a key of another type (only with heterogeneous_lookup).
  template <class K>
  requires heterogeneous_lookup [[nodiscard]] Value* get(const K& key) { return engine::get(key); }

  /// The value of `key` without marking it used and without stats; nullptr
  /// when absent or expired (an expired entry is left in place). O(1)
  /// expected.
  [[nodiscard]] const Value* peek(const Key& key) const { return engine::peek(key); }
  /// peek() by a key of another type (only with heterogeneous_lookup).
  template <class K>
  requires heterogeneous_lookup [[nodiscard]] const Value* peek(const K& key) const { return engine::peek(key); }

  /// True when `key` is present and not expired; no touch, no stats. O(1)
  /// expected.
  [[nodiscard]] bool contains(const Key& key) const { return engine::contains(key); }
  /// contains() by a key of another type (only with heterogeneous_lookup).
  template <class K>
  requires heterogeneous_lookup [[nodiscard]] bool contains(const K& key) const { return engine::contains(key); }

  // ---- modification ----------------------------------------------------

  /// Inserts `key` -> `value`, or assigns `value` to the present `key` (which
  /// then counts as used, and whose TTL restarts). Evicts one entry (the
  /// policy's victim) when a new key arrives in a full cache. True when the
  /// key was new (an expired entry counts as absent: it is evicted and the
  /// key inserted anew). O(1) expected; allocates nothing. If a Key or Value
  /// constructor throws, nothing changed.
  bool put(const Key& key, Value value) { return engine::put_from(key, value); }
  /// put() that moves the key in when it is new. `key` may be moved from
  /// even when put throws without inserting it (a Value constructor or the
  /// clock threw, or, nested in a `make`, the listener of the victim evicted
  /// first): "nothing changed" is about the cache, not the argument.
  bool put(Key&& key, Value value) { return engine::put_from(std::move(key), value); }

  /// The value of `key`; on a miss, inserts `Value(make())` first (evicting
  /// when full), so `make` runs only on a miss and Value need not be movable
  /// when `make` returns a prvalue. Counts a hit or a miss. The reference
  /// stays valid until the next call that modifies the cache. O(1) expected
  /// plus `make`. If `make` throws, nothing changed (but what its own calls
  /// to the cache did) except the stats: the lookup counts as a miss.
  ///
  /// `make` may call this cache (memoised recursion works): the new value is
  /// built in the spare node, held aside meanwhile, and the key is looked up
  /// again after `make` returns (the node's copy of it, taken before `make`
  /// runs: `make` may change what `key` refers to); if `make` inserted it,
  /// that entry is returned and the new value dropped. While the spare node
  /// is held, an insertion by a nested call evicts its victim before building
  /// its entry (so a nested construction that throws costs that victim; its
  /// key is copied aside first, so it may refer into the victim, as a
  /// reference `get` or `peek` returned may, unless Key cannot be moved), and
  /// calls nested deeper than capacity + 1 throw std::length_error.
  template <class F>
  Value& get_or_insert_with(const Key& key, F&& make) {
    return engine::get_or_insert_with(key, std::forward<F>(make));
  }
  /// get_or_insert_with() by a key of another type (only with
  /// heterogeneous_lookup); the Key is built from it only when inserting.
  template <class K, class F>
  requires(heterogeneous_lookup&& std::is_constructible_v<Key, const K&>) Value& get_or_insert_with(const K& key,
                                                                                                    F&& make) {
    return engine::get_or_insert_with(key, std::forward<F>(make));
  }

  /// Removes `key`; true when it was present. An expired entry is removed as
  /// an expiry (listener, eviction count) and false is returned. O(1)
  /// expected.
  bool erase(const Key& key) { return engine::erase(key); }
  /// erase() by a key of another type (only with heterogeneous_lookup).
  template <class K>
  requires heterogeneous_lookup bool erase(const K& key) { return engine::erase(key); }

  /// Removes every entry (no listener, not counted as evictions); the stats
  /// and the memory stay. O(capacity).
  void clear() noexcept { engine::clear(); }

  /// Removes every expired entry now (each an eviction, with the listener);
  /// returns how many. O(capacity); reads the clock once. Without a TTL: 0,
  /// O(1).
  std::size_t purge_expired() { return engine::purge_expired(); }

  /// Sets (or, with an empty function, removes) the eviction listener; see
  /// cache_options::on_evict for what it may do. O(1).
  void set_eviction_listener(eviction_listener f) noexcept { engine::set_eviction_listener(std::move(f)); }

  // ---- observers -------------------------------------------------------

  /// Entries held, including expired ones not yet removed. O(1).
  [[nodiscard]] std::size_t size() const noexcept { return engine::size(); }
  /// The most entries held at once (the constructor's capacity). O(1).
  [[nodiscard]] std::size_t capacity() const noexcept { return engine::capacity(); }
  /// True when size() is 0. O(1).
  [[nodiscard]] bool empty() const noexcept { return engine::empty(); }
  /// The expire-after-write duration; nullopt when entries never expire. O(1).
  [[nodiscard]] std::optional<duration> ttl() const noexcept { return engine::ttl(); }
  /// The counters since construction or reset_stats() (a copy). O(1).
  [[nodiscard]] cache_stats stats() const noexcept { return engine::stats(); }
  /// Sets every counter of stats() to 0. O(1).
  void reset_stats() noexcept { engine::reset_stats(); }
  /// A copy of the hash function. O(1) (Hash's copy).
  [[nodiscard]] hasher hash_function() const { return engine::hash_function(); }
  /// A copy of the key comparison. O(1) (KeyEqual's copy).
  [[nodiscard]] key_equal key_eq() const { return engine::key_eq(); }

  /// Bytes this cache allocated (node pool, index, TTL stamps, policy), fixed
  /// at construction: the memory cost of the capacity whatever the size. O(1).
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return engine::memory_bytes(); }

  /// Calls `f(key, value)` (both const) for every entry, expired or not, in
  /// no particular order; no touch, no stats. `f` must not modify the cache;
  /// its exceptions propagate (the cache unchanged). O(capacity).
  template <class F>
  void for_each(F&& f) const {
    engine::for_each(std::forward<F>(f));
  }

 protected:
  /// @private
  /// Destroys every entry (no listener). O(capacity). Protected: a cache is
  /// destroyed as itself, never through a cache_base pointer.
  ~cache_base() = default;
};

}  // namespace surge

#endif  // SURGE_CACHE_CACHE_BASE_HPP
