/// @file surge/balance/weighted_round_robin.hpp
/// Weighted round robin, two ways: nginx's smooth WRR (the exact sequence
/// nginx's upstream module produces) and gRPC's lock-free static stride
/// scheduler for hot multi-threaded paths.
#ifndef SURGE_BALANCE_WEIGHTED_ROUND_ROBIN_HPP
#define SURGE_BALANCE_WEIGHTED_ROUND_ROBIN_HPP

#include <surge/balance/detail/common.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

namespace surge {

/// nginx's smooth weighted round robin (ngx_http_upstream_get_peer): on every
/// pick each usable backend's current weight grows by its weight, the backend
/// with the largest current weight wins (ties to the earlier backend), and the
/// winner's current weight drops by the total. Weights {5, 1, 1} give
/// a a b a c a a — spread out, never a burst of five. Over any window of
/// sum(weights) picks each backend is picked exactly weight times (integer
/// weights, all up). Backends marked down are skipped and their current
/// weight frozen, as in nginx; nginx's `effective_weight` (lowered on failures)
/// is not modelled: failures are not reported to this policy. When every
/// backend is down the policy ignores health (panic mode) where nginx
/// would fail the request.
///
/// Complexity: `pick()` O(n), no allocation. Memory: two doubles per backend.
/// Thread safety: not thread-safe (like nginx's per-worker state): use one per
/// thread, or guard it; for a shared lock-free scheduler use
/// `stride_weighted_round_robin`.
/// Bad input: an empty weight list, or a weight that is zero, negative or not
/// finite, throws std::invalid_argument; `set_healthy` out of range returns false.
class weighted_round_robin {
 public:
  explicit weighted_round_robin(std::span<const double> weights)
      : weight_(detail::check_weights(weights, "weighted_round_robin: weights")),
        current_(weight_.size(), 0.0),
        health_(weight_.size()) {
    for (double w : weight_) total_ += w;
  }
  weighted_round_robin(std::initializer_list<double> weights)
      : weighted_round_robin(std::span<const double>(weights.begin(), weights.size())) {}

  /// The next backend in nginx's smooth sequence.
  [[nodiscard]] std::size_t pick() noexcept {
    return health_.all_up() || health_.panic() ? step<false>() : step<true>();
  }

  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  [[nodiscard]] std::size_t size() const noexcept { return weight_.size(); }
  [[nodiscard]] double weight(std::size_t i) const noexcept { return i < weight_.size() ? weight_[i] : 0.0; }

 private:
  // One round of ngx_http_upstream_get_peer over the usable backends.
  template <bool CheckHealth>
  std::size_t step() noexcept {
    const std::size_t n = weight_.size();
    std::size_t i = 0;
    if constexpr (CheckHealth) {
      while (i < n && !health_.up(i)) ++i;
      if (i == n) return 0;  // flags flipped down mid-pick
    }
    std::size_t best = i;
    double best_current = current_[i] + weight_[i];
    current_[i] = best_current;
    double total = CheckHealth ? weight_[i] : total_;  // all up: the sum is known
    for (++i; i < n; ++i) {
      if constexpr (CheckHealth) {
        if (!health_.up(i)) continue;
        total += weight_[i];
      }
      const double c = current_[i] + weight_[i];
      current_[i] = c;
      const bool wins = c > best_current;  // strict: ties stay with the earlier backend
      best = wins ? i : best;              // branch-free: the winner is unpredictable
      best_current = wins ? c : best_current;
    }
    current_[best] = best_current - total;
    return best;
  }

  std::vector<double> weight_;
  std::vector<double> current_;
  double total_ = 0;  // sum of the weights (summed in index order, as the loop would)
  detail::health_set health_;
};

/// gRPC's static stride scheduler: weights are scaled so the largest is 65535
/// (the smallest kept at least 1); a shared sequence number s is split into a
/// backend index i = s mod n and a generation g = s / n, and backend i is
/// taken when (w_i·g + i·32767) mod 65535 >= 65535 - w_i, i.e. w_i times in
/// every 65535 generations, spread out. The sequence from one thread is
/// exactly gRPC's (StaticStrideScheduler::Pick with a counter from 0), except
/// that the counter is 64-bit (gRPC's wraps at 2^32) and gRPC's clamping of
/// weights to [0.01, 10]·mean is not applied: proportions are the weights'
/// own, up to the 16-bit quantisation. Down backends are skipped; all down:
/// panic mode (health ignored).
///
/// Complexity: `pick()` expected O(max weight / mean weight) loop turns (one
/// relaxed fetch_add each; 1 when weights are equal), plus the skipped turns
/// of down backends. Thread safety: lock-free; every member may be called
/// concurrently. Bad input: as `weighted_round_robin`.
class stride_weighted_round_robin {
 public:
  explicit stride_weighted_round_robin(std::span<const double> weights)
      : scaled_(scale(detail::check_weights(weights, "stride_weighted_round_robin: weights"))),
        health_(scaled_.size()) {}
  stride_weighted_round_robin(std::initializer_list<double> weights)
      : stride_weighted_round_robin(std::span<const double>(weights.begin(), weights.size())) {}

  static constexpr std::uint64_t max_weight = 65535;

  [[nodiscard]] std::size_t pick() noexcept {
    const std::uint64_t n = scaled_.size();
    for (;;) {
      const std::uint64_t seq = seq_.fetch_add(1, std::memory_order_relaxed);
      const std::uint64_t i = seq % n;
      const std::uint64_t generation = seq / n;
      const std::uint64_t w = scaled_[i];
      const std::uint64_t mod = (w * generation + i * (max_weight / 2)) % max_weight;
      if (mod < max_weight - w) continue;
      if (!health_.usable(i)) continue;
      return static_cast<std::size_t>(i);
    }
  }

  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  [[nodiscard]] std::size_t size() const noexcept { return scaled_.size(); }
  /// Backend i's weight after scaling to [1, 65535].
  [[nodiscard]] std::uint32_t scaled_weight(std::size_t i) const noexcept {
    return i < scaled_.size() ? scaled_[i] : 0;
  }

 private:
  static std::vector<std::uint32_t> scale(const std::vector<double>& w) {
    const double top = *std::max_element(w.begin(), w.end());
    std::vector<std::uint32_t> out(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      const auto s = static_cast<std::uint32_t>(std::lround(w[i] * (static_cast<double>(max_weight) / top)));
      out[i] = std::max<std::uint32_t>(s, 1);
    }
    return out;
  }

  std::vector<std::uint32_t> scaled_;
  detail::health_set health_;
  alignas(detail::destructive_interference_size) std::atomic<std::uint64_t> seq_{0};
};

}  // namespace surge

#endif  // SURGE_BALANCE_WEIGHTED_ROUND_ROBIN_HPP
