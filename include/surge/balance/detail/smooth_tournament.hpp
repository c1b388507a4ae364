/// @file surge/balance/detail/smooth_tournament.hpp
/// nginx's smooth weighted round robin in O(log n) per pick: a heap per
/// distinct weight and a kinetic tournament between the heaps' tops
/// (internal to the balancers).
#ifndef SURGE_BALANCE_DETAIL_SMOOTH_TOURNAMENT_HPP
#define SURGE_BALANCE_DETAIL_SMOOTH_TOURNAMENT_HPP

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace surge::detail {

/// Exact simulation of nginx's smooth WRR (every member's current weight
/// grows by its weight, the largest wins with ties to the lower index, the
/// winner drops by the total) over a fixed set of members with integer
/// weights, without touching every member on every pick.
///
/// After t picks member k's current weight is a_k + t·w_k: a line in t whose
/// intercept a_k drops by the total each time k wins. Members of equal weight
/// grow alike, so their order changes only when one of them is picked: each
/// distinct weight keeps its members in a binary heap by (intercept, lower
/// index first). Between the heaps' tops — lines of different slopes — a
/// kinetic tournament tree keeps, in each node, the winner at the current
/// step and the first later step at which the loser overtakes (lines cross
/// once until one of them changes), plus the earliest such step in its
/// subtree. A pick replays the expired matches (each recomputes a node and its
/// ancestors), takes the root's winner, lowers its line, restores its heap and
/// recomputes its class's path.
///
/// Complexity, with n members in c distinct weights: O(n log n) to build; a
/// pick O(log n) for the heap plus O(log c) per tournament match recomputed
/// (the path, and each match that changed hands since the last pick). Every
/// n picks the time origin moves to now (O(n), O(1) amortised), keeping the
/// intercepts small; exact integer arithmetic, usable when `fits()` holds.
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
  /// (ascending backend indices: ties go to the lower index), their weights
  /// `weight[members[k]]` summing to `total`. Requires fits().
  void reset(std::span<const std::uint32_t> members, const std::int64_t* weight, const std::int64_t* current,
             std::int64_t total) {
    const std::size_t m = members.size();
    id_.assign(members.begin(), members.end());
    a_.resize(m);
    for (std::size_t k = 0; k < m; ++k) a_[k] = current[members[k]];
    // classes: distinct weights, ascending
    w_.clear();
    for (std::size_t k = 0; k < m; ++k) w_.push_back(weight[members[k]]);
    std::sort(w_.begin(), w_.end());
    w_.erase(std::unique(w_.begin(), w_.end()), w_.end());
    const std::size_t c = w_.size();
    class_of_.resize(m);
    heap_start_.assign(c + 1, 0);
    for (std::size_t k = 0; k < m; ++k) {
      class_of_[k] =
          static_cast<std::uint32_t>(std::lower_bound(w_.begin(), w_.end(), weight[members[k]]) - w_.begin());
      ++heap_start_[class_of_[k] + 1];
    }
    for (std::size_t j = 0; j < c; ++j) heap_start_[j + 1] += heap_start_[j];
    heap_.resize(m);
    std::vector<std::uint32_t> fill(heap_start_.begin(), heap_start_.end() - 1);
    for (std::size_t k = 0; k < m; ++k) heap_[fill[class_of_[k]]++] = static_cast<std::uint32_t>(k);
    for (std::size_t j = 0; j < c; ++j) {
      const std::uint32_t size = heap_start_[j + 1] - heap_start_[j];
      for (std::uint32_t i = size / 2; i-- > 0;) sift_down(static_cast<std::uint32_t>(j), i);
    }
    total_ = total;
    t_ = 0;
    rebase_every_ = static_cast<std::int64_t>(std::max<std::size_t>(m, 1));
    leaves_ = std::bit_ceil(std::max<std::size_t>(c, 1));
    win_.assign(2 * leaves_, none);
    own_.assign(2 * leaves_, never);
    sub_.assign(2 * leaves_, never);
    for (std::size_t j = 0; j < c; ++j) win_[leaves_ + j] = static_cast<std::uint32_t>(j);
    for (std::size_t v = leaves_ - 1; v >= 1; --v) recompute(v, 1);
  }

  /// The next pick: the backend index of the winning member.
  [[nodiscard]] std::uint32_t pick() noexcept {
    if (t_ == rebase_every_) rebase();
    const std::int64_t step = t_ + 1;
    while (sub_[1] <= step) replay(step);
    const std::uint32_t j = win_[1];
    const std::uint32_t k = top(j);
    a_[k] -= total_;
    sift_down(j, 0);
    t_ = step;
    for (std::size_t v = (leaves_ + j) / 2; v >= 1; v /= 2) recompute(v, step + 1);
    return id_[k];
  }

  /// Writes the members' current weights back: current[members[k]].
  void store(std::int64_t* current) const noexcept {
    for (std::size_t k = 0; k < id_.size(); ++k) current[id_[k]] = a_[k] + t_ * w_[class_of_[k]];
  }

 private:
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

  std::uint32_t top(std::uint32_t j) const noexcept { return heap_[heap_start_[j]]; }

  // Member x ranks before y in a heap (same weight): higher intercept, then
  // lower index.
  bool before(std::uint32_t x, std::uint32_t y) const noexcept { return a_[x] > a_[y] || (a_[x] == a_[y] && x < y); }

  void sift_down(std::uint32_t j, std::uint32_t i) noexcept {
    std::uint32_t* h = heap_.data() + heap_start_[j];
    const std::uint32_t size = heap_start_[j + 1] - heap_start_[j];
    const std::uint32_t x = h[i];
    for (;;) {
      std::uint32_t child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && before(h[child + 1], h[child])) ++child;
      if (!before(h[child], x)) break;
      h[i] = h[child];
      i = child;
    }
    h[i] = x;
  }

  // floor(n / d) and ceil(n / d) for d > 0.
  static std::int64_t floor_div(std::int64_t n, std::int64_t d) noexcept {
    const std::int64_t q = n / d;
    return (n % d != 0 && n < 0) ? q - 1 : q;
  }
  static std::int64_t ceil_div(std::int64_t n, std::int64_t d) noexcept {
    const std::int64_t q = n / d;
    return (n % d != 0 && n > 0) ? q + 1 : q;
  }

  // Node v's winner at `step` from its children's winners (classes), the
  // first later step at which the loser takes over, and its subtree's
  // earliest such step. A tie goes to the lower member index.
  void recompute(std::size_t v, std::int64_t step) noexcept {
    const std::uint32_t l = win_[2 * v], r = win_[2 * v + 1];
    if (l == none || r == none) {
      win_[v] = l == none ? r : l;
      own_[v] = never;
    } else {
      const std::uint32_t kl = top(l), kr = top(r);
      const std::int64_t vl = a_[kl] + step * w_[l], vr = a_[kr] + step * w_[r];
      const bool left = vl > vr || (vl == vr && kl < kr);
      const std::uint32_t win = left ? l : r, lose = left ? r : l;
      const std::uint32_t kw = left ? kl : kr, kq = left ? kr : kl;
      win_[v] = win;
      if (w_[lose] <= w_[win]) {
        own_[v] = never;  // the loser never gains
      } else {
        // first s with a_q + s·w_q > a_w + s·w_w (>= when the loser has the
        // lower index)
        const std::int64_t gap = a_[kw] - a_[kq], slope = w_[lose] - w_[win];
        own_[v] = kq < kw ? ceil_div(gap, slope) : floor_div(gap, slope) + 1;
      }
    }
    sub_[v] = std::min({own_[v], sub_[2 * v], sub_[2 * v + 1]});
  }

  // Finds one node whose match has changed hands by `step`, and recomputes it
  // and its ancestors.
  void replay(std::int64_t step) noexcept {
    std::size_t v = 1;
    while (own_[v] > step) v = sub_[2 * v] <= step ? 2 * v : 2 * v + 1;
    for (; v >= 1; v /= 2) recompute(v, step);
  }

  // Moves the time origin to now: intercepts become current weights, and
  // the steps of the matches shift by the same amount (heap orders stay).
  void rebase() noexcept {
    for (std::size_t k = 0; k < a_.size(); ++k) a_[k] += t_ * w_[class_of_[k]];
    for (std::size_t v = 1; v < leaves_; ++v) {
      if (own_[v] != never) own_[v] -= t_;
      if (sub_[v] != never) sub_[v] -= t_;
    }
    t_ = 0;
  }

  std::vector<std::uint32_t> id_;          // member -> backend index
  std::vector<std::int64_t> a_;            // member intercepts: current weight = a + t·w
  std::vector<std::uint32_t> class_of_;    // member -> class (distinct weight)
  std::vector<std::int64_t> w_;            // class -> weight, ascending
  std::vector<std::uint32_t> heap_start_;  // class -> first heap slot (c + 1 entries)
  std::vector<std::uint32_t> heap_;        // per-class heaps of members, back to back
  std::int64_t total_ = 0;
  std::int64_t t_ = 0;  // picks since the time origin
  std::int64_t rebase_every_ = 1;
  std::size_t leaves_ = 1;
  std::vector<std::uint32_t> win_;  // tree over classes, 1-based: winning class per node
  std::vector<std::int64_t> own_;   // node's match: first step its loser wins
  std::vector<std::int64_t> sub_;   // earliest such step in the subtree
};

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_SMOOTH_TOURNAMENT_HPP
