/// @file surge/cache/detail/index_list.hpp
/// Intrusive doubly-linked lists whose nodes live in an array and link to
/// each other by 32-bit index instead of by pointer: half the size of pointer
/// links, no allocation, and a node pool that can be moved as one block.
/// Used by the caches (recency lists, frequency buckets).
#ifndef SURGE_CACHE_DETAIL_INDEX_LIST_HPP
#define SURGE_CACHE_DETAIL_INDEX_LIST_HPP

#include <cstdint>

namespace surge::detail {

/// The "no node" index.
inline constexpr std::uint32_t index_npos = 0xFFFF'FFFFu;

/// The two links every list node carries.
struct index_links {
  std::uint32_t prev = index_npos;
  std::uint32_t next = index_npos;
};

/// A list: the indices of its first and last node (index_npos when empty).
/// The operations take `links`, a callable mapping a node index to its
/// `index_links&`, so one node may sit in several lists through different
/// link members. O(1) each, noexcept, not thread-safe; passing an index that
/// is not (or, for the inserts, already) in the list is undefined behaviour
/// (checked with asserts only in debug builds by the callers).
struct index_list {
  std::uint32_t first = index_npos;
  std::uint32_t last = index_npos;

  [[nodiscard]] bool empty() const noexcept { return first == index_npos; }

  /// Appends node `i` at the end.
  template <class Links>
  void push_back(std::uint32_t i, Links&& links) noexcept {
    index_links& l = links(i);
    l.prev = last;
    l.next = index_npos;
    if (last == index_npos) {
      first = i;
    } else {
      links(last).next = i;
    }
    last = i;
  }

  /// Inserts node `i` at the front.
  template <class Links>
  void push_front(std::uint32_t i, Links&& links) noexcept {
    index_links& l = links(i);
    l.prev = index_npos;
    l.next = first;
    if (first == index_npos) {
      last = i;
    } else {
      links(first).prev = i;
    }
    first = i;
  }

  /// Inserts node `i` right after node `pos`, which is in this list.
  template <class Links>
  void insert_after(std::uint32_t pos, std::uint32_t i, Links&& links) noexcept {
    index_links& p = links(pos);
    index_links& l = links(i);
    l.prev = pos;
    l.next = p.next;
    if (p.next == index_npos) {
      last = i;
    } else {
      links(p.next).prev = i;
    }
    p.next = i;
  }

  /// Removes node `i` from the list (its links are left dangling).
  template <class Links>
  void unlink(std::uint32_t i, Links&& links) noexcept {
    const index_links l = links(i);
    if (l.prev == index_npos) {
      first = l.next;
    } else {
      links(l.prev).next = l.next;
    }
    if (l.next == index_npos) {
      last = l.prev;
    } else {
      links(l.next).prev = l.prev;
    }
  }

  /// Moves node `i`, which is in this list, to the end.
  template <class Links>
  void move_to_back(std::uint32_t i, Links&& links) noexcept {
    if (last == i) return;
    unlink(i, links);
    push_back(i, links);
  }
};

}  // namespace surge::detail

#endif  // SURGE_CACHE_DETAIL_INDEX_LIST_HPP
