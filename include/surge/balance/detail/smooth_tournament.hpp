/// @file surge/balance/detail/smooth_tournament.hpp
/// nginx's smooth weighted round robin in O(log n) per pick: a kinetic
/// tournament over the backends' current weights (internal to the balancers).
#ifndef SURGE_BALANCE_DETAIL_SMOOTH_TOURNAMENT_HPP
#define SURGE_BALANCE_DETAIL_SMOOTH_TOURNAMENT_HPP

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace surge::detail {

/// Exact simulation of nginx's smooth WRR (every member's current weight
/// grows by its weight, the largest wins with ties to the lower index, the
/// winner drops by the total) over a fixed set of members with integer
/// weights, without touching every member on every pick.
///
/// After t picks member k's current weight is a_k + t·w_k: a line in t whose
/// intercept a_k drops by the total each time k wins. The pick at step t is
/// the highest line at t. A tournament tree keeps, in each node, the winner of
/// its two children at the current step and the first later step at which the
/// loser overtakes (a certificate: lines only cross once until one of them is
/// picked); each node also keeps the earliest certificate in its subtree. A
/// pick first replays every certificate that has expired (recomputing that
/// node and its ancestors, O(log n) each), then takes the root's winner,
/// lowers its line and recomputes its path to the root.
///
/// Complexity: O(n) to build; a pick costs O(log n) plus O(log n) per expired
/// certificate (in the measured regimes a few per pick; docs/balance.md gives
/// the figures). Every `n` picks the time origin is moved to now (O(n), so
/// O(1) amortised) to keep the intercepts small. Exact integer arithmetic:
/// usable when `fits()` holds for the weights and current weights given.
/// Not thread-safe. Allocates only in `reset`.
class smooth_tournament {
 public:
  /// True when the arithmetic cannot overflow for `m` members whose weights
  /// sum to `total` and whose current weights are at most `max_abs_current`
  /// in magnitude.
  static bool fits(std::size_t m, std::int64_t total, std::int64_t max_abs_current) noexcept {
    constexpr std::int64_t limit = std::int64_t{1} << 61;
    if (total <= 0 || max_abs_current < 0 || max_abs_current >= limit) return false;
    return static_cast<std::uint64_t>(total) <= static_cast<std::uint64_t>(limit - max_abs_current) / (m + 2);
  }

  /// Starts from the current weights `current[members[k]]` of the members
  /// (ascending backend indices, so ties go to the lower index), their
  /// weights `weight[members[k]]` summing to `total`. Requires fits().
  void reset(std::span<const std::uint32_t> members, const std::int64_t* weight, const std::int64_t* current,
             std::int64_t total) {
    const std::size_t m = members.size();
    leaves_ = std::bit_ceil(std::max<std::size_t>(m, 1));
    id_.assign(members.begin(), members.end());
    w_.resize(m);
    a_.resize(m);
    for (std::size_t k = 0; k < m; ++k) {
      w_[k] = weight[members[k]];
      a_[k] = current[members[k]];
    }
    total_ = total;
    t_ = 0;
    rebase_every_ = static_cast<std::int64_t>(std::max<std::size_t>(m, 1));
    win_.assign(2 * leaves_, none);
    own_.assign(2 * leaves_, never);
    sub_.assign(2 * leaves_, never);
    for (std::size_t k = 0; k < m; ++k) win_[leaves_ + k] = static_cast<std::uint32_t>(k);
    for (std::size_t v = leaves_ - 1; v >= 1; --v) recompute(v, 1);
  }

  /// The next pick: the backend index of the winning member.
  [[nodiscard]] std::uint32_t pick() noexcept {
    if (t_ == rebase_every_) rebase();
    const std::int64_t step = t_ + 1;
    while (sub_[1] <= step) replay(step);
    const std::uint32_t k = win_[1];
    a_[k] -= total_;
    t_ = step;
    for (std::size_t v = (leaves_ + k) / 2; v >= 1; v /= 2) recompute(v, step + 1);
    return id_[k];
  }

  /// Writes the members' current weights back: current[members[k]].
  void store(std::int64_t* current) const noexcept {
    for (std::size_t k = 0; k < id_.size(); ++k) current[id_[k]] = a_[k] + t_ * w_[k];
  }

 private:
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

  std::int64_t value(std::uint32_t k, std::int64_t step) const noexcept { return a_[k] + step * w_[k]; }

  // floor(n / d) and ceil(n / d) for d > 0.
  static std::int64_t floor_div(std::int64_t n, std::int64_t d) noexcept {
    const std::int64_t q = n / d;
    return (n % d != 0 && n < 0) ? q - 1 : q;
  }
  static std::int64_t ceil_div(std::int64_t n, std::int64_t d) noexcept {
    const std::int64_t q = n / d;
    return (n % d != 0 && n > 0) ? q + 1 : q;
  }

  // Node v's winner at `step` from its children's winners, the first later
  // step at which the loser takes over, and its subtree's earliest such step.
  // Every member in v's left subtree has a lower index than every member in
  // its right one, so a tie goes left.
  void recompute(std::size_t v, std::int64_t step) noexcept {
    const std::uint32_t l = win_[2 * v], r = win_[2 * v + 1];
    if (l == none || r == none) {
      win_[v] = l == none ? r : l;
      own_[v] = never;
    } else if (value(l, step) >= value(r, step)) {
      win_[v] = l;
      // r overtakes at the first step s with a_r + s·w_r > a_l + s·w_l
      own_[v] = w_[r] > w_[l] ? floor_div(a_[l] - a_[r], w_[r] - w_[l]) + 1 : never;
    } else {
      win_[v] = r;
      // l takes back at the first step s with a_l + s·w_l >= a_r + s·w_r
      own_[v] = w_[l] > w_[r] ? ceil_div(a_[r] - a_[l], w_[l] - w_[r]) : never;
    }
    sub_[v] = std::min({own_[v], sub_[2 * v], sub_[2 * v + 1]});
  }

  // Finds one node whose certificate has expired by `step`, and recomputes it
  // and its ancestors.
  void replay(std::int64_t step) noexcept {
    std::size_t v = 1;
    while (own_[v] > step) v = sub_[2 * v] <= step ? 2 * v : 2 * v + 1;
    for (; v >= 1; v /= 2) recompute(v, step);
  }

  // Moves the time origin to now: intercepts become current weights, and
  // certificates are shifted by the same amount.
  void rebase() noexcept {
    for (std::size_t k = 0; k < a_.size(); ++k) a_[k] += t_ * w_[k];
    for (std::size_t v = 1; v < leaves_; ++v) {
      if (own_[v] != never) own_[v] -= t_;
      if (sub_[v] != never) sub_[v] -= t_;
    }
    t_ = 0;
  }

  std::size_t leaves_ = 1;
  std::vector<std::uint32_t> id_;  // member -> backend index
  std::vector<std::int64_t> w_;    // member weights
  std::vector<std::int64_t> a_;    // intercepts: current weight = a + t·w
  std::int64_t total_ = 0;
  std::int64_t t_ = 0;  // picks since the time origin
  std::int64_t rebase_every_ = 1;
  std::vector<std::uint32_t> win_;  // tree, 1-based: winner member per node
  std::vector<std::int64_t> own_;   // node's certificate: first step its loser wins
  std::vector<std::int64_t> sub_;   // earliest certificate in the subtree
};

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_SMOOTH_TOURNAMENT_HPP
