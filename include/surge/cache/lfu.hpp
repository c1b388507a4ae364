/// @file surge/cache/lfu.hpp
/// A bounded cache that evicts the least frequently used entry.
#ifndef SURGE_CACHE_LFU_HPP
#define SURGE_CACHE_LFU_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <surge/cache/cache_base.hpp>
#include <surge/cache/detail/index_list.hpp>
#include <surge/cache/stats.hpp>
#include <surge/detail/key_checks.hpp>

namespace surge {
namespace detail {

/// Frequency order in O(1) (the frequency-list design of Shah, Mitra and
/// Matani, 2010): buckets of equal use count in a list sorted by count, each
/// holding its entries least recent first. The victim is the first entry of
/// the first bucket. Buckets come from a pool sized by the node count (a
/// bucket is never empty, so there are never more buckets than entries).
class lfu_policy {
 public:
  struct links_type {
    index_links entry;
    std::uint32_t bucket = index_npos;
  };

 private:
  struct bucket {
    std::uint64_t count = 0;
    index_links links;   // neighbours in order_ (next: free list while free)
    index_list entries;  // least recent first
  };

  auto bucket_links() noexcept {
    return [b = buckets_.get()](std::uint32_t i) noexcept -> index_links& { return b[i].links; };
  }

  template <class Links>
  static auto entry_links(Links& links) noexcept {
    return [&links](std::uint32_t i) noexcept -> index_links& { return links(i).entry; };
  }

 public:
  explicit lfu_policy(std::size_t nodes) : buckets_(std::make_unique<bucket[]>(nodes)), count_(nodes) { clear(); }

  template <class Links>
  void on_insert(std::uint32_t i, Links&& links) noexcept {
    std::uint32_t b = order_.first;
    if (b == index_npos || buckets_[b].count != 1) {
      b = new_bucket(1);
      order_.push_front(b, bucket_links());
    }
    attach(i, b, links);
  }

  template <class Links>
  void on_access(std::uint32_t i, Links&& links) noexcept {
    const std::uint32_t b = links(i).bucket;
    bucket& cur = buckets_[b];
    const std::uint32_t next = cur.links.next;
    if (next != index_npos && buckets_[next].count == cur.count + 1) {
      detach(i, b, links);
      attach(i, next, links);
    } else if (cur.entries.first == cur.entries.last) {
      ++cur.count;  // alone in its bucket, and no bucket for count + 1: relabel
    } else {
      const std::uint32_t nb = new_bucket(cur.count + 1);
      order_.insert_after(b, nb, bucket_links());
      detach(i, b, links);
      attach(i, nb, links);
    }
  }

  template <class Links>
  void on_remove(std::uint32_t i, Links&& links) noexcept {
    detach(i, links(i).bucket, links);
  }

  [[nodiscard]] std::uint32_t victim() const noexcept { return buckets_[order_.first].entries.first; }
  /// The next eviction's victim, for the engine to prefetch its index slot
  /// after an insertion (a hint; called only with at least one entry).
  [[nodiscard]] std::uint32_t likely_victim() const noexcept { return victim(); }

  void clear() noexcept {
    order_ = index_list{};
    for (std::size_t i = 0; i < count_; ++i)
      buckets_[i].links.next = i + 1 < count_ ? static_cast<std::uint32_t>(i + 1) : index_npos;
    free_ = count_ ? 0 : index_npos;
  }

  /// Use count of the entry in node i.
  template <class Links>
  [[nodiscard]] std::uint64_t count(std::uint32_t i, Links&& links) const noexcept {
    return buckets_[links(i).bucket].count;
  }

  [[nodiscard]] std::size_t memory_bytes() const noexcept { return count_ * sizeof(bucket); }

 private:
  std::uint32_t new_bucket(std::uint64_t count) noexcept {
    const std::uint32_t b = free_;
    free_ = buckets_[b].links.next;
    buckets_[b].count = count;
    buckets_[b].entries = index_list{};
    return b;
  }

  template <class Links>
  void attach(std::uint32_t i, std::uint32_t b, Links& links) noexcept {
    buckets_[b].entries.push_back(i, entry_links(links));
    links(i).bucket = b;
  }

  template <class Links>
  void detach(std::uint32_t i, std::uint32_t b, Links& links) noexcept {
    bucket& bk = buckets_[b];
    bk.entries.unlink(i, entry_links(links));
    if (bk.entries.empty()) {
      order_.unlink(b, bucket_links());
      bk.links.next = free_;
      free_ = b;
    }
  }

  std::unique_ptr<bucket[]> buckets_;
  std::size_t count_;
  index_list order_;
  std::uint32_t free_ = index_npos;
};

}  // namespace detail

/// The policy class of eviction_policy::lfu.
template <>
struct detail::policy_for<eviction_policy::lfu> {
  using type = detail::lfu_policy;  ///< The policy class.
};

/// A fixed-capacity key -> value cache that evicts the entry with the lowest
/// use count, and among equal counts the least recently used one. A new entry
/// starts at count 1; each `get` / `get_or_insert_with` hit and each `put` of
/// a present key adds 1. `peek` and `contains` change neither counts nor
/// stats. Counts are 64-bit and never age: LFU suits workloads whose
/// popularity is stable (it keeps the all-time favourites); prefer lru_cache
/// when popularity drifts.
///
/// Everything else (storage, options, TTL, listener, heterogeneous lookup,
/// exception guarantees, invalidation of returned pointers) is exactly as for
/// lru_cache. Storage adds a frequency-bucket pool of 24 bytes per node to the
/// node pool and index (nodes are 32 bytes for 8-byte keys and values).
///
/// Complexity: every operation is O(1) expected (frequency lists, no heap or
/// tree); `clear`, `purge_expired`, `for_each` and the destructor are
/// O(capacity). `frequency(key)` is O(1).
///
/// Thread safety: not thread-safe. Use sharded_cache to share one.
///
/// Bad input: capacity 0 (or above `max_capacity`) and a zero, negative or NaN
/// ttl throw std::invalid_argument (a bool, a character or a floating-point
/// capacity does not compile); key types are checked as for lru_cache; user
/// exceptions as for lru_cache (basic guarantee).
///
/// Members: cache_base's (all of them, constructors under this name:
/// `lfu_cache<K, V> c(capacity, options)`).
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Clock = std::chrono::steady_clock>
class lfu_cache : public cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::lfu> {
  SURGE_DETAIL_CHECK_HASHED_KEY("surge::lfu_cache", Key, Hash, KeyEqual);
  using base = cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::lfu>;

 public:
  using base::base;

  /// The use count of `key` (expired entries included), 0 when absent. No
  /// touch, no stats.
  [[nodiscard]] std::uint64_t frequency(const Key& key) const {
    const std::uint32_t n = this->node_of(key);
    return n == detail::index_npos ? 0 : this->policy().count(n, this->links());
  }
};

}  // namespace surge

#endif  // SURGE_CACHE_LFU_HPP
