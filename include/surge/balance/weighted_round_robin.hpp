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
/// Layout: when every weight is an integer (and their sum is below 2^52) the
/// state is two plain int64 arrays (weights, current weights), as in nginx;
/// otherwise two double arrays. Either way the arithmetic is exact for
/// integer weights, so the sequence is nginx's. The pick loop is branch-free
/// (conditional moves, two or four independent running maxima); down backends are folded in
/// by scanning a compact ascending list of the up indices, rebuilt by
/// `set_healthy`.
///
/// Complexity: `pick()` O(n) (O(up backends) while some are down), no
/// allocation — nginx's algorithm is linear per pick; for an O(1) pick use
/// `stride_weighted_round_robin`. `set_healthy` O(n) when it changes a flag.
/// Memory: two 8-byte numbers plus one index and one flag per backend.
/// Thread safety: not thread-safe, `set_healthy` included (like nginx's
/// per-worker state): use one per thread, or guard it; for a shared lock-free
/// scheduler use `stride_weighted_round_robin`.
/// Bad input: an empty weight list, or a weight that is zero, negative or not
/// finite, throws std::invalid_argument; `set_healthy` out of range returns false.
class weighted_round_robin {
 public:
  explicit weighted_round_robin(std::span<const double> weights)
      : weight_(detail::check_weights(weights, "weighted_round_robin: weights")), up_(weight_.size(), 1) {
    double sum = 0;
    bool integral = true;
    for (double w : weight_) {
      sum += w;
      integral = integral && w == std::floor(w);
    }
    integral_ = integral && sum < 0x1.0p52;
    if (integral_) {
      iweight_.reserve(weight_.size());
      for (double w : weight_) iweight_.push_back(static_cast<std::int64_t>(w));
      icurrent_.assign(weight_.size(), 0);
      itotal_ = iup_total_ = static_cast<std::int64_t>(sum);
    } else {
      dcurrent_.assign(weight_.size(), 0.0);
      dtotal_ = dup_total_ = sum;
    }
    up_list_.reserve(weight_.size());
  }
  weighted_round_robin(std::initializer_list<double> weights)
      : weighted_round_robin(std::span<const double>(weights.begin(), weights.size())) {}

  /// The next backend in nginx's smooth sequence.
  [[nodiscard]] std::size_t pick() noexcept {
    const std::size_t n = weight_.size();
    if (up_count_ == n || up_count_ == 0) {  // all up, or panic: every backend
      return integral_ ? step_all(icurrent_.data(), iweight_.data(), n, itotal_)
                       : step_all(dcurrent_.data(), weight_.data(), n, dtotal_);
    }
    return integral_ ? step_up(icurrent_.data(), iweight_.data(), iup_total_)
                     : step_up(dcurrent_.data(), weight_.data(), dup_total_);
  }

  /// Marks backend i up or down; false when i is out of range. O(n) when the
  /// flag changes (rebuilds the list of up backends), O(1) otherwise.
  bool set_healthy(std::size_t i, bool up) noexcept {
    if (i >= weight_.size()) return false;
    if ((up_[i] != 0) == up) return true;
    up_[i] = up ? 1 : 0;
    up_list_.clear();
    double dsum = 0;
    std::int64_t isum = 0;
    for (std::size_t k = 0; k < up_.size(); ++k) {
      if (!up_[k]) continue;
      up_list_.push_back(static_cast<std::uint32_t>(k));
      dsum += weight_[k];
      if (integral_) isum += iweight_[k];
    }
    up_count_ = up_list_.size();
    dup_total_ = dsum;
    iup_total_ = isum;
    return true;
  }
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return i < up_.size() && up_[i] != 0; }
  [[nodiscard]] std::size_t size() const noexcept { return weight_.size(); }
  [[nodiscard]] double weight(std::size_t i) const noexcept { return i < weight_.size() ? weight_[i] : 0.0; }

 private:
  // One round of ngx_http_upstream_get_peer over every backend, with L
  // independent running maxima (lane k sees indices = k mod L; strict `>`
  // keeps the earliest within a lane) merged with ties to the lower index:
  // L short compare chains instead of one long one.
  template <class T>
  static std::size_t step_all(T* cur, const T* w, std::size_t n, T total) noexcept {
    return n >= 32 ? step_lanes<4>(cur, w, n, total) : n >= 4 ? step_lanes<2>(cur, w, n, total)
                                                              : step_lanes<1>(cur, w, n, total);
  }
  template <std::size_t L, class T>
  static std::size_t step_lanes(T* cur, const T* w, std::size_t n, T total) noexcept {
    std::size_t best[L];
    T top[L];
    for (std::size_t k = 0; k < L; ++k) {
      top[k] = cur[k] += w[k];
      best[k] = k;
    }
    std::size_t i = L;
    for (; i + L <= n; i += L) {
      for (std::size_t k = 0; k < L; ++k) {
        const T c = cur[i + k] += w[i + k];
        const bool wins = c > top[k];  // branch-free: the winner is unpredictable
        best[k] = wins ? i + k : best[k];
        top[k] = wins ? c : top[k];
      }
    }
    for (std::size_t k = 1; k < L; ++k) {
      const bool wins = top[k] > top[0] || (top[k] == top[0] && best[k] < best[0]);
      best[0] = wins ? best[k] : best[0];
      top[0] = wins ? top[k] : top[0];
    }
    for (; i < n; ++i) {  // the tail: later indices, so strict `>` keeps ties earlier
      const T c = cur[i] += w[i];
      const bool wins = c > top[0];
      best[0] = wins ? i : best[0];
      top[0] = wins ? c : top[0];
    }
    cur[best[0]] = top[0] - total;
    return best[0];
  }

  // The same over the up backends only (ascending indices, so the first
  // maximum is the earliest backend); down backends keep their current weight.
  template <class T>
  std::size_t step_up(T* cur, const T* w, T total) const noexcept {
    const std::uint32_t* up = up_list_.data();
    const std::size_t m = up_list_.size();
    std::size_t best = up[0];
    T top = cur[best] += w[best];
    for (std::size_t k = 1; k < m; ++k) {
      const std::size_t i = up[k];
      const T c = cur[i] += w[i];
      const bool wins = c > top;
      best = wins ? i : best;
      top = wins ? c : top;
    }
    cur[best] = top - total;
    return best;
  }

  std::vector<double> weight_;
  std::vector<std::uint8_t> up_;         // 1 = up
  std::vector<std::uint32_t> up_list_;   // ascending indices of the up backends (when some are down)
  std::size_t up_count_ = weight_.size();
  bool integral_ = false;
  std::vector<std::int64_t> iweight_;    // integral_: the weights as integers
  std::vector<std::int64_t> icurrent_;   // integral_: current weights
  std::vector<double> dcurrent_;         // !integral_: current weights
  std::int64_t itotal_ = 0, iup_total_ = 0;  // sums of all / of the up weights
  double dtotal_ = 0, dup_total_ = 0;        // the same, summed in index order as the loop would
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
