/// @file surge/balance/least_connections.hpp
/// Least connections (nginx `least_conn`), with leases that count in-flight
/// requests per backend.
#ifndef SURGE_BALANCE_LEAST_CONNECTIONS_HPP
#define SURGE_BALANCE_LEAST_CONNECTIONS_HPP

#include <surge/balance/detail/common.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

namespace surge {

/// Least connections: `pick()` returns a `backend_lease` on the usable backend
/// with the fewest active leases relative to its weight — backend i beats b
/// when active_i·w_b < active_b·w_i (nginx least_conn's cross-multiplication,
/// no division) — and counts one more active request on it until the lease is
/// released or destroyed. Ties go round robin: the scan starts one backend
/// further on each pick and the first minimum wins (nginx breaks ties by
/// smooth weighted round robin instead). Down backends are skipped; all down:
/// panic mode (health ignored).
///
/// Complexity: `pick()` O(n) (a scan of the active counts, like nginx; with
/// equal weights, all backends up and n >= 32 a specialised two-pass scan: the minimum
/// by four independent running minima, then the first backend from the
/// rotation point holding it), lease release O(1). Memory: one 8-byte counter and one weight per backend.
/// Thread safety: lock-free; `pick`, lease release, `set_healthy`, `active`
/// from any threads. Concurrent picks read counts that other picks are
/// changing, so two racing picks may both choose the same backend; the counts
/// themselves are exact. Leases must not outlive the balancer.
/// Bad input: n == 0, an empty weight list, or a weight <= 0 / not finite
/// throws std::invalid_argument; `set_healthy` out of range returns false.
class least_connections {
 public:
  /// n equally weighted backends.
  explicit least_connections(std::size_t n)
      : weight_(),
        n_(detail::check_count(n, "least_connections: n")),
        active_(new std::atomic<std::int64_t>[n_]),
        health_(n_) {
    init();
  }
  explicit least_connections(std::span<const double> weights)
      : weight_(detail::check_weights(weights, "least_connections: weights")),
        n_(weight_.size()),
        active_(new std::atomic<std::int64_t>[n_]),
        health_(n_) {
    init();
  }
  least_connections(std::initializer_list<double> weights)
      : least_connections(std::span<const double>(weights.begin(), weights.size())) {}

  /// A lease on the least loaded usable backend.
  [[nodiscard]] backend_lease pick() noexcept {
    const std::size_t start = static_cast<std::size_t>(rotor_.fetch_add(1, std::memory_order_relaxed) % n_);
    const bool check = !health_.all_up() && !health_.panic();
    std::size_t best;
    if (weight_.empty()) {
      best = check ? scan<false, true>(start) : n_ >= 32 ? scan_equal(start) : scan<false, false>(start);
    } else {
      best = check ? scan<true, true>(start) : scan<true, false>(start);
    }
    if (best == n_) best = start;  // every flag flipped down mid-scan
    active_[best].fetch_add(1, std::memory_order_acq_rel);
    return backend_lease(best, &active_[best]);
  }

  /// Backend i's current number of active leases (0 when out of range).
  [[nodiscard]] std::int64_t active(std::size_t i) const noexcept {
    return i < n_ ? active_[i].load(std::memory_order_acquire) : 0;
  }
  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  void init() noexcept {
    for (std::size_t i = 0; i < n_; ++i) active_[i].store(0, std::memory_order_relaxed);
    // Equal weights order backends exactly as no weights do: take the
    // unweighted path (its specialised scan).
    if (!weight_.empty() &&
        std::all_of(weight_.begin(), weight_.end(), [&](double w) { return w == weight_[0]; }))
      weight_.clear();
  }

  // Equal weights, every backend usable (used from 32 backends; below that
  // the one-pass scan is quicker): the first backend in rotation order
  // from `start` with the fewest active leases. Two passes over the counters
  // (relaxed loads): the minimum, kept in four independent running minima
  // so the loads pipeline instead of waiting on one compare chain; then the
  // first backend from `start` holding it (with all counts equal, the first
  // one looked at). A count that changed between the passes may leave no
  // match: then `start`, as a racing pick may choose any backend.
  std::size_t scan_equal(std::size_t start) const noexcept {
    const std::atomic<std::int64_t>* a = active_.get();
    const auto at = [a](std::size_t i) { return a[i].load(std::memory_order_relaxed); };
    // Unrolled by hand: compilers neither unroll nor keep in registers an
    // array indexed inside a loop of atomic loads.
    std::int64_t l0 = at(0), l1 = l0, l2 = l0, l3 = l0;
    std::size_t i = 1;
    for (; i + 4 <= n_; i += 4) {
      const std::int64_t v0 = at(i), v1 = at(i + 1), v2 = at(i + 2), v3 = at(i + 3);
      l0 = v0 < l0 ? v0 : l0;
      l1 = v1 < l1 ? v1 : l1;
      l2 = v2 < l2 ? v2 : l2;
      l3 = v3 < l3 ? v3 : l3;
    }
    for (; i < n_; ++i) {
      const std::int64_t v = at(i);
      l0 = v < l0 ? v : l0;
    }
    const std::int64_t min = std::min(std::min(l0, l1), std::min(l2, l3));
    for (std::size_t k = start; k < n_; ++k)
      if (at(k) <= min) return k;
    for (std::size_t k = 0; k < start; ++k)
      if (at(k) <= min) return k;
    return start;
  }
  // The first usable backend, in order start, start+1, ..., n-1, 0, ...,
  // start-1, with the least active/weight; n_ if none is usable.
  template <bool Weighted, bool CheckHealth>
  std::size_t scan(std::size_t start) const noexcept {
    std::size_t best = start;
    if constexpr (CheckHealth) {
      std::size_t k = 0;
      while (k < n_ && !health_.up(best)) {
        best = best + 1 == n_ ? 0 : best + 1;
        ++k;
      }
      if (k == n_) return n_;
    }
    std::int64_t best_active = active_[best].load(std::memory_order_relaxed);
    auto visit = [&](std::size_t from, std::size_t to) {
      for (std::size_t i = from; i < to; ++i) {
        if constexpr (CheckHealth) {
          if (!health_.up(i)) continue;
        }
        const std::int64_t a = active_[i].load(std::memory_order_relaxed);
        bool wins;
        if constexpr (Weighted) {
          wins = static_cast<double>(a) * weight_[best] < static_cast<double>(best_active) * weight_[i];
        } else {
          wins = a < best_active;
        }
        if (wins) {
          best = i;
          best_active = a;
        }
      }
    };
    // Candidates after the first usable one, in rotation order.
    if (best >= start) {
      visit(best + 1, n_);
      visit(0, start);
    } else {
      visit(best + 1, start);
    }
    return best;
  }

  std::vector<double> weight_;  // empty: all equal
  std::size_t n_;
  std::unique_ptr<std::atomic<std::int64_t>[]> active_;
  detail::health_set health_;
  alignas(detail::destructive_interference_size) std::atomic<std::uint64_t> rotor_{0};
};

}  // namespace surge

#endif  // SURGE_BALANCE_LEAST_CONNECTIONS_HPP
