/// @file surge/cache/lru.hpp
/// A bounded cache that evicts the least recently used entry.
#ifndef SURGE_CACHE_LRU_HPP
#define SURGE_CACHE_LRU_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include <surge/cache/cache_base.hpp>
#include <surge/cache/detail/index_list.hpp>
#include <surge/cache/stats.hpp>
#include <surge/detail/key_checks.hpp>

namespace surge {
namespace detail {

/// Recency order: one index-linked list, least recent first.
class lru_policy {
 public:
  using links_type = index_links;

  explicit lru_policy(std::size_t /*nodes*/) noexcept {}

  template <class Links>
  void on_insert(std::uint32_t i, Links&& links) noexcept {
    order_.push_back(i, links);
  }
  template <class Links>
  void on_access(std::uint32_t i, Links&& links) noexcept {
    order_.move_to_back(i, links);
  }
  template <class Links>
  void on_remove(std::uint32_t i, Links&& links) noexcept {
    order_.unlink(i, links);
  }
  [[nodiscard]] std::uint32_t victim() const noexcept { return order_.first; }
  /// The next eviction's victim, for the engine to prefetch its index slot
  /// after an insertion (a hint: the next eviction erases it, unless a hit
  /// moves it first).
  [[nodiscard]] std::uint32_t likely_victim() const noexcept { return victim(); }
  void clear() noexcept { order_ = index_list{}; }
  [[nodiscard]] static constexpr std::size_t memory_bytes() noexcept { return 0; }

 private:
  index_list order_;
};

}  // namespace detail

/// The policy class of eviction_policy::lru.
template <>
struct detail::policy_for<eviction_policy::lru> {
  using type = detail::lru_policy;  ///< The policy class.
};

/// A fixed-capacity key -> value cache that evicts the least recently used
/// entry. `get`, `get_or_insert_with` (hit) and `put` of a present key make
/// the entry the most recent; `peek` and `contains` change neither the order
/// nor the stats.
///
/// Storage: every node is allocated at construction (capacity + 1 nodes, one a
/// spare so a new entry is built before its victim leaves), linked by 32-bit
/// indices, and found through an open-addressing index of 8-byte slots sized
/// for the capacity. No operation allocates afterwards (only the user's key or
/// value constructors may). `memory_bytes()` reports the fixed footprint; for
/// `lru_cache<std::uint64_t, std::uint64_t>` it is 32 bytes per node plus 16
/// to 32 bytes of index per entry of capacity.
///
/// Options (`options{.ttl = ..., .on_evict = ...}` at construction):
/// - TTL (`std::optional<duration>`; absent by default: nothing expires),
///   expire-after-write with `Clock` (any Cpp17Clock; if its `now()` throws,
///   the exception propagates as below): an entry expires once now() >=
///   last write + ttl.
///   An expired entry behaves as absent: `get` misses, `peek`/`contains` say
///   no, `put` inserts anew, `erase` returns false. It is removed (and its
///   memory, the node, reused) when a non-const operation touches it, when
///   it becomes the eviction victim, or by `purge_expired()`; until then it
///   counts in `size()`. Removal of an expired entry is an eviction (stats,
///   listener). The clock is read only when a TTL is set.
/// - Eviction listener: called with key and value (rvalues) for every
///   capacity eviction and expiry, never for `erase`, `clear`, overwrite or
///   destruction; it must not call back into this cache (see
///   cache_options::on_evict).
///
/// Heterogeneous lookup: when both `Hash` and `KeyEqual` have an
/// `is_transparent` member type, `get`, `peek`, `contains`, `erase` and
/// `get_or_insert_with` accept any key type they can hash and compare (a
/// `std::string` key found by `std::string_view` or `const char*`, with no
/// temporary key; `get_or_insert_with` builds the Key only when inserting).
///
/// Complexity: every operation is O(1) expected (one hash, probes of an index
/// kept at most half full); `clear`, `purge_expired`, `for_each` and the
/// destructor are O(capacity). Pointers and references returned by `get`,
/// `peek` and `get_or_insert_with` stay valid until the next call that
/// modifies the cache (`get` included: it may expire an entry).
///
/// Thread safety: not thread-safe (one thread at a time; even `get` writes).
/// Use sharded_cache to share a cache between threads.
///
/// Bad input: capacity 0 (or above `max_capacity`) and a zero, negative or NaN ttl
/// throw std::invalid_argument; a bool, a character or a floating-point
/// capacity does not compile. A Key that Hash cannot hash or KeyEqual cannot
/// compare, and a character pointer Key with std::hash or std::equal_to (they
/// would use the address, not the text: use std::string), fail to compile
/// with a one-line message. Exceptions from `Hash`, `KeyEqual`, Key/Value
/// copies and moves, `make`, the listener and `Clock::now()` propagate; the
/// cache then stays valid with its invariants (basic guarantee). A failed
/// lookup, a failed construction (or clock reading) for the new entry, and a
/// failed clock reading in a `put` over a live entry (read before its value
/// is assigned), change nothing (strong guarantee) but the miss `get_or_insert_with`
/// counted (and, nested in a `make`, the victim evicted to make room: see
/// cache_base::get_or_insert_with) and a key given to `put` as an rvalue
/// (it may be moved from though not inserted); a value
/// assignment that throws in `put` leaves that value as its assignment
/// operator left it; a listener that throws finds its entry already removed
/// (and, in `put` and `get_or_insert_with`, the new entry already inserted,
/// also when the entry removed was the same key's expired one; not in a call
/// nested in a `make`, which evicts before it builds: there the new entry is
/// not inserted). Keys and values must not
/// throw from their destructors. Move-only values work everywhere (move them
/// into `put`); values that can be neither copied nor moved (atomics, a
/// mutex) work through `get_or_insert_with` with a `make` returning a prvalue.
/// `make` may call this cache (see cache_base::get_or_insert_with).
///
/// Not copyable or movable (hold it by `std::unique_ptr` to move it around).
///
/// Members: cache_base's (all of them, constructors under this name:
/// `lru_cache<K, V> c(capacity, options)`).
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Clock = std::chrono::steady_clock>
class lru_cache : public cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::lru> {
  SURGE_DETAIL_CHECK_HASHED_KEY("surge::lru_cache", Key, Hash, KeyEqual);
  using base = cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::lru>;

 public:
  using base::base;
};

}  // namespace surge

#endif  // SURGE_CACHE_LRU_HPP
