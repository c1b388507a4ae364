/// @file surge/cache/detail/slot_index.hpp
/// An open-addressing hash index from a 32-bit hash to a 32-bit node index,
/// sized once for a maximum number of entries: linear probing, backward-shift
/// deletion (no tombstones, so probe lengths never degrade), and 8-byte slots
/// holding the node index and the hash, so a probe compares hashes without
/// touching the nodes and a deletion shifts entries without rehashing keys.
#ifndef SURGE_CACHE_DETAIL_SLOT_INDEX_HPP
#define SURGE_CACHE_DETAIL_SLOT_INDEX_HPP

#include <cstddef>
#include <cstdint>
#include <memory>

#include <surge/cache/detail/index_list.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/hash.hpp>

namespace surge::detail {

/// The 32 hash bits a slot_index works with, from any size_t hash (mixed, so
/// identity hashes of integers still spread over the table).
[[nodiscard]] constexpr std::uint32_t index_hash(std::size_t h) noexcept {
  return static_cast<std::uint32_t>(mix64(static_cast<std::uint64_t>(h)) >> 32);
}

/// Hash index with at most `max_entries` entries at any time; the table has
/// the next power of two at or above 2 x max_entries slots (load factor at
/// most 0.5, usually 0.25 to 0.5: linear probing stays short, so a lookup, an
/// insert and a backward-shift erase touch about one slot each). find is O(1) expected, insert and erase O(1)
/// expected, none allocates; only the constructor allocates (and may throw
/// std::bad_alloc). Not thread-safe. Inserting more than max_entries, or a
/// node already present, is undefined behaviour (the callers guarantee it).
class slot_index {
 public:
  explicit slot_index(std::size_t max_entries) : mask_(static_cast<std::uint32_t>(table_size(max_entries) - 1)) {
    slots_ = std::make_unique<slot[]>(static_cast<std::size_t>(mask_) + 1);
  }

  /// Number of slots.
  [[nodiscard]] std::size_t slot_count() const noexcept { return static_cast<std::size_t>(mask_) + 1; }

  /// Bytes of the table.
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return slot_count() * sizeof(slot); }

  /// The node whose slot has hash `h` and for which `match(node)` is true, or
  /// index_npos. `match` may throw (a user's equality); nothing changes then.
  template <class Match>
  [[nodiscard]] std::uint32_t find(std::uint32_t h, Match&& match) const {
    for (std::uint32_t i = h & mask_;; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.node == index_npos) return index_npos;
      if (s.hash == h && match(s.node)) return s.node;
    }
  }

  /// Starts loading the slot where a probe for hash `h` begins (a hint: no
  /// effect on the contents), for a coming erase or find of it. O(1).
  void prefetch(std::uint32_t h) const noexcept { prefetch_for_write(&slots_[h & mask_]); }

  /// Adds node `node` with hash `h`.
  void insert(std::uint32_t h, std::uint32_t node) noexcept {
    std::uint32_t i = h & mask_;
    while (slots_[i].node != index_npos) i = (i + 1) & mask_;
    slots_[i] = slot{node, h};
  }

  /// Removes node `node`, which was inserted with hash `h`.
  void erase(std::uint32_t h, std::uint32_t node) noexcept {
    std::uint32_t i = h & mask_;
    while (slots_[i].node != node) i = (i + 1) & mask_;
    // Backward shift: pull each following entry of the probe run into the
    // hole unless that would move it before its home slot.
    for (std::uint32_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      const slot& s = slots_[j];
      if (s.node == index_npos) break;
      const std::uint32_t home = s.hash & mask_;
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = s;
        i = j;
      }
    }
    slots_[i] = slot{};
  }

  /// The node in slot `i` (< slot_count()), index_npos when the slot is empty.
  [[nodiscard]] std::uint32_t node_at(std::size_t i) const noexcept { return slots_[i].node; }

  /// The hash stored in slot `i` (meaningful only when node_at(i) is a node).
  [[nodiscard]] std::uint32_t hash_at(std::size_t i) const noexcept { return slots_[i].hash; }

  /// Empties the index. O(slots).
  void clear() noexcept {
    for (std::size_t i = 0; i <= mask_; ++i) slots_[i] = slot{};
  }

  /// Smallest power of two >= 2 x max_entries (and >= 8).
  [[nodiscard]] static std::size_t table_size(std::size_t max_entries) noexcept {
    const std::size_t want = 2 * max_entries;
    std::size_t n = 8;
    while (n < want) n *= 2;
    return n;
  }

  /// Largest max_entries the index supports (node indices and slot positions
  /// are 32-bit).
  static constexpr std::size_t max_supported = std::size_t{1} << 30;

 private:
  struct slot {
    std::uint32_t node = index_npos;
    std::uint32_t hash = 0;
  };

  std::unique_ptr<slot[]> slots_;
  std::uint32_t mask_;
};

}  // namespace surge::detail

#endif  // SURGE_CACHE_DETAIL_SLOT_INDEX_HPP
