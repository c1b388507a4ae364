/// @file surge/cache/sieve.hpp
/// A bounded cache with SIEVE eviction: a FIFO queue, one visited bit per
/// entry and a hand that sweeps from the oldest entry toward the newest.
#ifndef SURGE_CACHE_SIEVE_HPP
#define SURGE_CACHE_SIEVE_HPP

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

/// SIEVE (Zhang et al., NSDI'24): entries in insertion order, oldest first;
/// a hit only sets the entry's visited bit (no list surgery). To evict, the
/// hand walks from where it stopped toward newer entries (wrapping to the
/// oldest), clearing visited bits, and evicts the first unvisited entry; the
/// hand then rests on the next newer entry. Surviving entries keep their
/// place, so new entries that are not reused leave quickly (quick demotion)
/// and popular ones stay without being moved.
class sieve_policy {
 public:
  struct links_type {
    index_links order;
    bool visited = false;
  };

  explicit sieve_policy(std::size_t /*nodes*/) noexcept {}

  template <class Links>
  void on_insert(std::uint32_t i, Links&& links) noexcept {
    links(i).visited = false;
    order_.push_back(i, order_links(links));
  }
  template <class Links>
  void on_access(std::uint32_t i, Links&& links) noexcept {
    links(i).visited = true;
  }
  template <class Links>
  void on_remove(std::uint32_t i, Links&& links) noexcept {
    if (hand_ == i) hand_ = links(i).order.next;
    order_.unlink(i, order_links(links));
  }
  /// O(1) amortised: each step of the hand clears a bit that a hit set.
  template <class Links>
  [[nodiscard]] std::uint32_t victim(Links&& links) noexcept {
    std::uint32_t h = hand_ == index_npos ? order_.first : hand_;
    while (links(h).visited) {
      links(h).visited = false;
      h = links(h).order.next;
      if (h == index_npos) h = order_.first;
    }
    hand_ = h;  // on_remove moves it on to the next newer entry
    return h;
  }
  void clear() noexcept {
    order_ = index_list{};
    hand_ = index_npos;
  }
  [[nodiscard]] static constexpr std::size_t memory_bytes() noexcept { return 0; }

 private:
  template <class Links>
  static auto order_links(Links& links) noexcept {
    return [&links](std::uint32_t i) noexcept -> index_links& { return links(i).order; };
  }

  index_list order_;                 // oldest first
  std::uint32_t hand_ = index_npos;  // next entry the hand examines; npos: the oldest
};

}  // namespace detail

/// The policy class of eviction_policy::sieve.
template <>
struct detail::policy_for<eviction_policy::sieve> {
  using type = detail::sieve_policy;  ///< The policy class.
};

/// A fixed-capacity key -> value cache with SIEVE eviction (Zhang et al.,
/// NSDI'24): entries stay in insertion order; a hit sets a visited bit; a hand
/// sweeps from old to new, clearing visited bits and evicting the first entry
/// it finds unvisited. Simpler and faster than LRU on hits (a hit writes one
/// bit, no list relinking) and usually a better hit ratio on web and
/// key-value workloads, where many objects are requested once; weaker than
/// LRU when recency matters more than popularity (loops, short bursts).
///
/// `get`, `get_or_insert_with` (hit) and `put` of a present key mark the entry
/// visited; `peek` and `contains` change neither the bit nor the stats.
/// Everything else (storage, options, TTL, listener, heterogeneous lookup,
/// exception guarantees, invalidation of returned pointers, memory) is exactly
/// as for lru_cache: nodes are 32 bytes for 8-byte keys and values (the
/// visited bit sits in the padding), plus 16 to 32 bytes of index per entry of
/// capacity; no allocation after construction.
///
/// Complexity: O(1) expected for every operation; an eviction is O(1)
/// amortised (the hand clears at most one bit per earlier hit). `clear`,
/// `purge_expired`, `for_each` and the destructor are O(capacity).
///
/// Thread safety: not thread-safe. Use sharded_cache to share one.
///
/// Bad input: capacity 0 (or above `max_capacity`) and a zero, negative or NaN
/// ttl throw std::invalid_argument (a bool, a character or a floating-point
/// capacity does not compile); user exceptions as for lru_cache (basic
/// guarantee).
///
/// Members: cache_base's (all of them, constructors under this name:
/// `sieve_cache<K, V> c(capacity, options)`).
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Clock = std::chrono::steady_clock>
class sieve_cache : public cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::sieve> {
  SURGE_DETAIL_CHECK_HASHED_KEY("surge::sieve_cache", Key, Hash, KeyEqual);
  using base = cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::sieve>;

 public:
  using base::base;
};

}  // namespace surge

#endif  // SURGE_CACHE_SIEVE_HPP
