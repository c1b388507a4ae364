/// @file surge/balance/random.hpp
/// Uniform and weighted random choice; weighted through a Walker/Vose alias
/// table (O(1) per pick).
#ifndef SURGE_BALANCE_RANDOM_HPP
#define SURGE_BALANCE_RANDOM_HPP

#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/streams.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/balance/weights.hpp>
#include <surge/detail/count_checks.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace surge {

/// Options of `random_balancer` (designated initialisers). A struct rather
/// than a bare integer, so that `random_balancer{5, 1}` does not compile
/// (it would read as five backends with seed 1).
struct random_options {
  /// Seed of the internal random streams used by `pick()`.
  std::uint64_t seed = 0x5eed;
};

/// Random balancer. Uniform over n backends, or weighted: backend i with
/// probability w_i / sum(w), by Vose's alias method — a table of n (threshold,
/// alias) pairs built in O(n); a pick draws one 64-bit number, takes a column
/// from its high half and a biased coin from its low half. Down backends are
/// rejected and redrawn (up to 16 times, then one O(n) draw among the up
/// ones), which keeps the distribution exactly proportional among the
/// backends that are up. All down: panic mode (health ignored).
///
/// Randomness: `pick()` uses internal SplitMix64 streams, one per thread slot
/// (no shared cache line between threads), seeded by the constructor (a single-threaded
/// run repeats exactly); `pick(g)` uses the caller's
/// UniformRandomBitGenerator.
/// Complexity: construction O(n); `pick()` O(1) while all are up, O(1)
/// expected while a fair share (by weight) is up, and O(n) when 16 draws all
/// land on down backends (1 in 100 up makes that 85 % of picks). Memory: one
/// health flag (1 byte) per backend, plus 20 bytes per backend when weighted.
/// Thread safety: lock-free; every member from any threads.
/// Bad input: n == 0 or bad weights (empty, <= 0, not finite) throw
/// std::invalid_argument; weights each finite but with a sum above DBL_MAX
/// are scaled down together by a power of two (exact: the probabilities are
/// those of the weights as given), and a weight that this scaling would not
/// keep exactly (a subnormal beside such weights: it would round, or become
/// 0) throws std::invalid_argument naming its index; `set_healthy` out of
/// range returns false.
/// Never picks a down backend while one is up, whatever the weights (a
/// backend whose probability underflows to 0 still gets picked when it is
/// the only one up).
class random_balancer {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T>
  explicit random_balancer(const T& n, random_options options = {})
      : random_balancer(detail::refuse_count(n), options) {}
  /// n backends, uniform (`random_balancer{3}` too: three backends).
  explicit random_balancer(std::size_t n, random_options options = {})
      : n_(detail::check_count(n, "random_balancer: n")), health_(n_), rng_(options.seed) {}
  /// Weighted: `random_balancer(surge::weights{5, 1, 1})`.
  explicit random_balancer(const weights& w, random_options options = {})
      : n_(w.size()), health_(detail::check_count(n_, "random_balancer: weights")), rng_(options.seed) {
    std::vector<double> checked = detail::check_weights(w.values(), "random_balancer: weights");
    detail::fit_sum(checked, "random_balancer: weights");
    build(checked);
  }

  /// A backend drawn at random (by weight when weighted) among the up ones,
  /// from the balancer's own generator. O(1) while all are up; lock-free.
  [[nodiscard]] std::size_t pick() noexcept {
    return pick_with([this] { return rng_.next(); });
  }
  template <class URBG>
  /// Same, drawing from the caller's generator g (not shared: the caller
  /// serialises its use of g).
  [[nodiscard]] std::size_t pick(URBG& g) {
    return pick_with([&g] { return detail::random_bits(g); });
  }

  /// The probability that a pick returns i while all backends are up.
  [[nodiscard]] double probability(std::size_t i) const noexcept {
    if (i >= n_) return 0.0;
    if (threshold_.empty()) return 1.0 / static_cast<double>(n_);
    return probability_[i];
  }
  /// Marks backend i up or down; false when i is out of range. Lock-free.
  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  /// True when backend i is marked up (false when i is out of range). Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  // One draw from the alias table (or uniform when unweighted).
  std::size_t column(std::uint64_t r) const noexcept {
    const std::size_t i = detail::bounded(r, n_);
    if (threshold_.empty()) return i;
    return (r & 0xffffffffULL) < threshold_[i] ? i : alias_[i];
  }

  template <class Draw>
  std::size_t pick_with(Draw&& draw) {
    if (health_.all_up() || health_.panic()) return column(draw());
    for (int t = 0; t < 16; ++t) {
      const std::size_t i = column(draw());
      if (health_.up(i)) return i;
    }
    // Few backends up: an exact weighted draw among them by one scan.
    double total = 0;
    for (std::size_t i = 0; i < n_; ++i)
      if (health_.up(i)) total += probability(i);
    if (!(total > 0)) return detail::sample_usable(health_, draw);  // shares too small to add up: uniform
    double x = static_cast<double>(draw() >> 11) * 0x1.0p-53 * total;
    std::size_t last = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      if (!health_.up(i)) continue;
      last = i;
      x -= probability(i);
      if (x < 0) return i;
    }
    return last;
  }

  // Vose's alias method, thresholds scaled to 2^32.
  void build(const std::vector<double>& w) {
    double sum = 0;
    for (double x : w) sum += x;
    probability_.resize(n_);
    std::vector<double> scaled(n_);
    std::vector<std::uint32_t> small, large;
    for (std::size_t i = 0; i < n_; ++i) {
      probability_[i] = w[i] / sum;
      scaled[i] = probability_[i] * static_cast<double>(n_);
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
    }
    threshold_.assign(n_, 1ULL << 32);
    alias_.resize(n_);
    for (std::size_t i = 0; i < n_; ++i) alias_[i] = static_cast<std::uint32_t>(i);
    while (!small.empty() && !large.empty()) {
      const std::uint32_t s = small.back(), l = large.back();
      small.pop_back();
      threshold_[s] = static_cast<std::uint64_t>(scaled[s] * 0x1.0p32);
      alias_[s] = l;
      scaled[l] = (scaled[l] + scaled[s]) - 1.0;
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // Leftovers (rounding) keep probability 1 for their own column.
  }

  std::size_t n_;
  std::vector<std::uint64_t> threshold_;  // empty: uniform
  std::vector<std::uint32_t> alias_;
  std::vector<double> probability_;
  detail::health_set health_;
  detail::sharded_splitmix rng_;
};

}  // namespace surge

#endif  // SURGE_BALANCE_RANDOM_HPP
