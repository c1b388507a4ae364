/// @file surge/detail/sharded_locks.hpp
/// The shard-and-lock mechanism behind sharded_cache and keyed_limiter: up to
/// MaxShards values, each behind its own mutex on its own cache lines, and the
/// choice of a shard from a key's hash.
#ifndef SURGE_DETAIL_SHARDED_LOCKS_HPP
#define SURGE_DETAIL_SHARDED_LOCKS_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include <surge/detail/cache_line.hpp>
#include <surge/detail/hash.hpp>

namespace surge::detail {

/// Share `i` of `total` split into `parts` near-equal shares (the first
/// `total % parts` shares hold one more). O(1); `parts` must be positive.
[[nodiscard]] constexpr std::size_t share_of(std::size_t total, std::size_t parts, std::size_t i) noexcept {
  return total / parts + (i < total % parts ? 1 : 0);
}

/// Checks the total capacity of a sharded container: returns `n` when it is
/// in [1, max], else throws std::invalid_argument with a message naming the
/// argument (`what`, e.g. "surge::sharded_cache: capacity") and the limit
/// (`max_name`).
inline std::size_t checked_total(std::size_t n, std::size_t max, const char* what, const char* max_name) {
  if (n == 0) throw std::invalid_argument(std::string(what) + " must be at least 1");
  if (n > max)
    throw std::invalid_argument(std::string(what) + " " + std::to_string(n) + " is above " + max_name + " (" +
                                std::to_string(max) + ")");
  return n;
}

/// `count()` shards (1 to MaxShards, fixed at construction), each a T with
/// its own `Mutex` (any Lockable), allocated separately and aligned to
/// destructive_interference_size so that two shards never share a cache line
/// or a prefetched pair.
///
/// A hash picks a shard by mixing it (mix64, so identity hashes of integers
/// spread evenly) and scaling the high 32 bits to the count (multiply and
/// shift: no division, any count).
///
/// Complexity: `shard_of` O(1); `for_each` locks each shard in turn.
/// Thread safety: the object itself is immutable after construction; each
/// shard's T is guarded by that shard's mutex, which callers take.
template <class T, std::size_t MaxShards, class Mutex>
class sharded_locks {
  static_assert(MaxShards >= 1, "at least one shard");
  // the shard pointers sit inside the object: 4096 of them are 32 KiB (a
  // million would be 8 MiB, past the stack of a thread that holds one)
  static_assert(MaxShards <= 4096, "at most 4096 shards");

 public:
  struct alignas(destructive_interference_size) shard {
    template <class Make>
    shard(Make& make, std::size_t i) : value(make(i)) {}
    mutable Mutex mutex;
    T value;
  };

  /// `count` shards (the caller keeps it in [1, MaxShards]); shard i holds
  /// the T returned (as a prvalue: T need not be movable) by `make(i)`.
  template <class Make>
  sharded_locks(std::size_t count, Make make) : count_(count) {
    for (std::size_t i = 0; i < count; ++i) shards_[i] = std::make_unique<shard>(make, i);
  }

  [[nodiscard]] std::size_t count() const noexcept { return count_; }

  /// The index of the shard for a key of this hash, in [0, count()).
  [[nodiscard]] std::size_t index_of(std::size_t hash) const noexcept {
    const std::uint64_t high = mix64(static_cast<std::uint64_t>(hash)) >> 32;
    return static_cast<std::size_t>((high * count_) >> 32);
  }

  /// Shard i (i < count()). Like a pointer, a const sharded_locks still gives
  /// access to its shards: their state is guarded by their mutexes, not by
  /// the constness of this object.
  [[nodiscard]] shard& operator[](std::size_t i) const noexcept { return *shards_[i]; }

  /// Calls f(T&) for each shard with its lock held, one shard at a time.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < count_; ++i) {
      std::lock_guard lock(shards_[i]->mutex);
      f(shards_[i]->value);
    }
  }
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < count_; ++i) {
      std::lock_guard lock(shards_[i]->mutex);
      f(std::as_const(shards_[i]->value));
    }
  }

  /// Bytes of the shards themselves (not what their T allocates).
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return sizeof(*this) + count_ * sizeof(shard); }

 private:
  std::size_t count_;
  std::array<std::unique_ptr<shard>, MaxShards> shards_;
};

}  // namespace surge::detail

#endif  // SURGE_DETAIL_SHARDED_LOCKS_HPP
