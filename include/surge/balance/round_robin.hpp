/// @file surge/balance/round_robin.hpp
/// Plain round robin over a fixed number of backends, lock-free.
#ifndef SURGE_BALANCE_ROUND_ROBIN_HPP
#define SURGE_BALANCE_ROUND_ROBIN_HPP

#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/count_checks.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace surge {

/// Round robin: backends 0, 1, ..., n-1, 0, 1, ... in that order; a backend
/// marked down is skipped (its turn goes to the next backend in the cycle, so
/// the backends that are up share the picks evenly). When every backend is
/// down the policy ignores health (panic mode) and cycles over all.
///
/// Complexity: `pick()` O(1) when all are up — one relaxed fetch_add on a
/// shared counter and a modulo — and O(number down) otherwise.
/// Thread safety: lock-free; `pick`, `set_healthy` and `healthy` may be called
/// from any threads concurrently. From one thread the sequence is exact; with
/// several threads each pick takes the next turn of one shared cycle.
/// Bad input: `n == 0` throws std::invalid_argument; `set_healthy` with an
/// index out of range returns false.
class round_robin {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T, class... Rest>
  explicit round_robin(const T& n, Rest&&... rest) : round_robin(detail::refuse_count(n), std::forward<Rest>(rest)...) {}
  /// n backends, all up; throws std::invalid_argument when n is 0.
  explicit round_robin(std::size_t n) : n_(detail::check_count(n, "round_robin: n")), health_(n) {}

  /// The next backend index in the cycle.
  [[nodiscard]] std::size_t pick() noexcept {
    std::size_t i = static_cast<std::size_t>(next_.fetch_add(1, std::memory_order_relaxed) % n_);
    if (health_.all_up()) return i;
    for (std::size_t tries = 1; tries < n_ && !health_.usable(i); ++tries)
      i = static_cast<std::size_t>(next_.fetch_add(1, std::memory_order_relaxed) % n_);
    // other threads' draws interleave with these, so n of them may all have
    // been down backends: go on from the last one without the counter
    for (std::size_t k = 1; k < n_ && !health_.usable(i); ++k) i = i + 1 == n_ ? 0 : i + 1;
    return i;  // none usable: panic mode, any index
  }

  /// Marks backend i up or down. O(1), lock-free. False if i >= size().
  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  /// True when backend i is marked up (false when i is out of range). Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  std::size_t n_;
  detail::health_set health_;
  alignas(detail::destructive_interference_size) std::atomic<std::uint64_t> next_{0};
};

}  // namespace surge

#endif  // SURGE_BALANCE_ROUND_ROBIN_HPP
