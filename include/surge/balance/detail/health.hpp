/// @file surge/balance/detail/health.hpp
/// The up/down flags every policy keeps (`health_set`, with Envoy-style panic
/// mode) and the uniform draw of a usable backend (`sample_usable`).
#ifndef SURGE_BALANCE_DETAIL_HEALTH_HPP
#define SURGE_BALANCE_DETAIL_HEALTH_HPP

#include <surge/balance/detail/streams.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace surge::detail {

/// Up/down flags of a fixed number of backends plus the count of those up.
/// A backend is *usable* when it is up, or when none is up: that is Envoy's
/// panic mode, shared by every policy (when everything is down, balancing
/// ignores health rather than failing). Lock-free: flags are relaxed atomics,
/// so a pick racing a `set` sees either state.
class health_set {
 public:
  explicit health_set(std::size_t n) : flags_(new std::atomic<std::uint8_t>[n]), size_(n), up_(n) {
    for (std::size_t i = 0; i < n; ++i) flags_[i].store(1, std::memory_order_relaxed);
  }
  /// A copy of `other` grown to `n` backends (the new ones up). Not
  /// thread-safe against concurrent `set` on `other` (callers hold their
  /// writer lock).
  health_set(const health_set& other, std::size_t n) : flags_(new std::atomic<std::uint8_t>[n]), size_(n), up_(0) {
    std::size_t up = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t f = i < other.size_ ? other.flags_[i].load(std::memory_order_relaxed) : 1;
      flags_[i].store(f, std::memory_order_relaxed);
      up += f;
    }
    up_.store(up, std::memory_order_relaxed);
  }

  /// Marks backend i up or down; false when i is out of range. Concurrent
  /// `set` calls for the same index are serialised by an exchange: only the
  /// one that flips the flag moves the count. The count goes up before the
  /// flag does (taken back if the flag was up already) and down after it, so
  /// it is never below the number of flags up: racing calls may leave it
  /// above for a moment, never wrapped below 0 (a down racing an up on the
  /// same index could subtract first), and it reads 0 only when every flag
  /// was down.
  bool set(std::size_t i, bool up) noexcept {
    if (i >= size_) return false;
    if (!up) {
      if (flags_[i].exchange(0, std::memory_order_acq_rel)) up_.fetch_sub(1, std::memory_order_acq_rel);
    } else if (!flags_[i].load(std::memory_order_acquire)) {
      up_.fetch_add(1, std::memory_order_acq_rel);
      if (flags_[i].exchange(1, std::memory_order_acq_rel)) up_.fetch_sub(1, std::memory_order_acq_rel);
    }
    return true;
  }
  [[nodiscard]] bool up(std::size_t i) const noexcept {
    return i < size_ && flags_[i].load(std::memory_order_relaxed) != 0;
  }
  [[nodiscard]] std::size_t up_count() const noexcept { return up_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool all_up() const noexcept { return up_count() == size_; }
  [[nodiscard]] bool panic() const noexcept { return up_count() == 0; }
  /// Up, or everything is down (panic mode).
  [[nodiscard]] bool usable(std::size_t i) const noexcept { return up(i) || panic(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  std::unique_ptr<std::atomic<std::uint8_t>[]> flags_;
  std::size_t size_;
  std::atomic<std::size_t> up_;
};

/// Draws a uniformly random *usable* backend: rejection sampling (up to 16
/// tries), then a uniform pick among the usable ones by one linear scan, so
/// the result is exactly uniform over the backends that are up (over all of
/// them in panic mode). `draw()` returns 64 random bits.
template <class Draw>
[[nodiscard]] std::size_t sample_usable(const health_set& health, Draw&& draw) {
  const std::size_t n = health.size();
  if (health.all_up() || health.panic()) return bounded(draw(), n);
  for (int t = 0; t < 16; ++t) {
    const std::size_t i = bounded(draw(), n);
    if (health.up(i)) return i;
  }
  const std::size_t up = health.up_count();
  if (up == 0) return bounded(draw(), n);  // everything went down meanwhile: panic
  std::size_t k = bounded(draw(), up);
  for (std::size_t i = 0; i < n; ++i) {
    if (health.up(i) && k-- == 0) return i;
  }
  return bounded(draw(), n);  // flags changed under us: any answer is acceptable
}

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_HEALTH_HPP
