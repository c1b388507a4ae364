/// @file surge/cache/s3fifo.hpp
/// A bounded cache with S3-FIFO eviction: a small probationary FIFO, a main
/// FIFO with lazy promotion, and a ghost FIFO of recently evicted keys.
#ifndef SURGE_CACHE_S3FIFO_HPP
#define SURGE_CACHE_S3FIFO_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <surge/cache/cache_base.hpp>
#include <surge/cache/detail/index_list.hpp>
#include <surge/cache/detail/slot_index.hpp>
#include <surge/cache/stats.hpp>
#include <surge/detail/key_checks.hpp>

namespace surge {
namespace detail {

/// A bounded FIFO of 32-bit key hashes with O(1) membership: a ring of the
/// last `capacity` hashes inserted, indexed by a slot_index (hash -> ring
/// position). Remembers keys, not entries: two keys with equal 32-bit hashes
/// are one ghost (a rare, harmless false positive). Allocates only in its
/// constructor.
class ghost_fifo {
 public:
  explicit ghost_fifo(std::size_t capacity)
      : ring_(std::make_unique<entry[]>(capacity)), index_(capacity), capacity_(capacity) {}

  /// Remembers `h`, forgetting the oldest hash when full.
  void push(std::uint32_t h) noexcept {
    entry& e = ring_[head_];
    if (e.live) index_.erase(e.hash, head_);
    e = entry{h, 1};
    index_.insert(h, head_);
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
  }

  /// True when `h` is remembered; forgets it.
  bool take(std::uint32_t h) noexcept {
    const std::uint32_t pos = index_.find(h, [](std::uint32_t) noexcept { return true; });
    if (pos == index_npos) return false;
    index_.erase(h, pos);
    ring_[pos].live = 0;
    return true;
  }

  void clear() noexcept {
    for (std::size_t i = 0; i < capacity_; ++i) ring_[i] = entry{};
    index_.clear();
    head_ = 0;
  }

  [[nodiscard]] std::size_t memory_bytes() const noexcept { return capacity_ * sizeof(entry) + index_.memory_bytes(); }

 private:
  struct entry {
    std::uint32_t hash = 0;
    std::uint32_t live = 0;
  };
  std::unique_ptr<entry[]> ring_;
  slot_index index_;
  std::size_t capacity_;
  std::uint32_t head_ = 0;
};

/// S3-FIFO (Yang et al., SOSP'23). New keys enter the small FIFO (10 % of the
/// capacity); keys the ghost remembers go straight to the main FIFO. A hit
/// adds 1 to a 2-bit frequency (saturating at 3); nothing moves. Eviction:
/// while the small FIFO holds its share, its oldest entry is moved to main
/// when it was hit since insertion, else evicted and remembered by the ghost
/// (a FIFO of as many hashes as main's share of the capacity: all of it but
/// the small FIFO's, at least 1); otherwise main's oldest entry is evicted if
/// its frequency is 0, else reinserted at main's tail with the frequency
/// lowered by 1 (lazy promotion, like CLOCK with 2 bits).
class s3fifo_policy {
 public:
  struct links_type {
    index_links order;
    std::uint8_t freq = 0;
    bool main = false;
  };

  explicit s3fifo_policy(std::size_t nodes)
      : small_target_(small_share(nodes - 1)), ghost_(nodes - 1 - small_target_ > 0 ? nodes - 1 - small_target_ : 1) {}

  template <class Links>
  void on_insert(std::uint32_t i, Links&& links) noexcept {
    links_type& l = links(i);
    l.freq = 0;
    l.main = ghost_.take(links.hash(i));
    push(i, l.main, links);
  }
  template <class Links>
  void on_access(std::uint32_t i, Links&& links) noexcept {
    std::uint8_t& f = links(i).freq;
    if (f < max_freq) ++f;
  }
  template <class Links>
  void on_remove(std::uint32_t i, Links&& links) noexcept {
    const bool m = links(i).main;
    (m ? main_ : small_).unlink(i, order_links(links));
    --(m ? main_size_ : small_size_);
  }
  /// O(1) amortised: every step either moves a small entry to main once or
  /// spends one unit of frequency a hit added.
  template <class Links>
  [[nodiscard]] std::uint32_t victim(Links&& links) noexcept {
    for (;;) {
      if (!small_.empty() && (small_size_ >= small_target_ || main_.empty())) {
        const std::uint32_t t = small_.first;
        links_type& l = links(t);
        if (l.freq == 0) {
          ghost_.push(links.hash(t));
          return t;
        }
        on_remove(t, links);
        l.freq = 0;
        l.main = true;
        push(t, true, links);
        continue;
      }
      const std::uint32_t t = main_.first;
      links_type& l = links(t);
      if (l.freq == 0) return t;
      --l.freq;
      main_.move_to_back(t, order_links(links));
    }
  }
  void clear() noexcept {
    small_ = main_ = index_list{};
    small_size_ = main_size_ = 0;
    ghost_.clear();
  }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return ghost_.memory_bytes(); }

  /// The small FIFO's share of a capacity: 10 %, at least 1.
  [[nodiscard]] static constexpr std::size_t small_share(std::size_t capacity) noexcept {
    return capacity / 10 > 0 ? capacity / 10 : 1;
  }

 private:
  static constexpr std::uint8_t max_freq = 3;

  template <class Links>
  static auto order_links(Links& links) noexcept {
    return [&links](std::uint32_t i) noexcept -> index_links& { return links(i).order; };
  }
  template <class Links>
  void push(std::uint32_t i, bool main, Links& links) noexcept {
    (main ? main_ : small_).push_back(i, order_links(links));
    ++(main ? main_size_ : small_size_);
  }

  index_list small_, main_;  // oldest first
  std::size_t small_size_ = 0, main_size_ = 0;
  std::size_t small_target_;
  ghost_fifo ghost_;
};

}  // namespace detail

/// The policy class of eviction_policy::s3fifo.
template <>
struct detail::policy_for<eviction_policy::s3fifo> {
  using type = detail::s3fifo_policy;  ///< The policy class.
};

/// A fixed-capacity key -> value cache with S3-FIFO eviction (Yang et al.,
/// SOSP'23): three FIFO queues. New keys go to a small queue (10 % of the
/// capacity); when they reach its end unused they are evicted and their hash
/// is remembered by a ghost queue; used ones move to the main queue. A key the
/// ghost remembers goes straight to main on its next insertion. Main is a
/// CLOCK with a 2-bit frequency per entry. Hits only bump the frequency (no
/// list relinking). Scan-resistant: a one-pass scan stays in the small queue
/// and never flushes main. Strong on web, key-value and block workloads;
/// weaker than LRU when reuse comes in long loops.
///
/// `get`, `get_or_insert_with` (hit) and `put` of a present key count as a
/// use; `peek` and `contains` change neither frequency nor stats. Everything
/// else (options, TTL, listener, heterogeneous lookup, exception guarantees,
/// invalidation of returned pointers) is exactly as for lru_cache.
///
/// Memory: nodes are 32 bytes for 8-byte keys and values (frequency and queue
/// flag sit in the padding), plus 16 to 32 bytes of index per entry of
/// capacity, plus the ghost: for 90 % of the capacity, an 8-byte ring slot and
/// 16 to 32 bytes of its own index per remembered hash (about 22 to 36 bytes
/// per entry of capacity). All of it allocated at construction; no operation
/// allocates afterwards.
///
/// Complexity: O(1) expected for every operation; an eviction is O(1)
/// amortised (it may move small entries to main and age main entries, each
/// paid for by an earlier insertion or hit). `clear`, `purge_expired`,
/// `for_each` and the destructor are O(capacity).
///
/// Thread safety: not thread-safe. Use sharded_cache to share one.
///
/// Bad input: capacity 0 (or above `max_capacity`) and a zero, negative or NaN
/// ttl throw std::invalid_argument (a bool, a character or a floating-point
/// capacity does not compile); user exceptions as for lru_cache (basic
/// guarantee).
///
/// Members: cache_base's (all of them, constructors under this name:
/// `s3fifo_cache<K, V> c(capacity, options)`).
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Clock = std::chrono::steady_clock>
class s3fifo_cache : public cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::s3fifo> {
  SURGE_DETAIL_CHECK_HASHED_KEY("surge::s3fifo_cache", Key, Hash, KeyEqual);
  using base = cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::s3fifo>;

 public:
  using base::base;
};

}  // namespace surge

#endif  // SURGE_CACHE_S3FIFO_HPP
