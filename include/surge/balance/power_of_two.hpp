/// @file surge/balance/power_of_two.hpp
/// Envoy's least request: power of d choices over active-request counts.
#ifndef SURGE_BALANCE_POWER_OF_TWO_HPP
#define SURGE_BALANCE_POWER_OF_TWO_HPP

#include <surge/balance/backend_lease.hpp>
#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/streams.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/balance/weights.hpp>
#include <surge/detail/count_checks.hpp>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>

namespace surge {

/// Options of `power_of_two_choices` (designated initialisers).
struct power_of_two_options {
  /// d, how many backends are sampled per pick (Envoy's `choice_count`), in
  /// [2, 65536] (a pick costs O(d)).
  std::size_t choices = 2;
  /// Envoy's `active_request_bias`: with weights, a sample's score is
  /// weight / (active + 1)^bias and the highest wins; 0 ignores load.
  double active_request_bias = 1.0;
  /// Seed of the internal random stream used by `pick()`.
  std::uint64_t seed = 0x5eed;
};

/// Power of d choices (Envoy's least request): sample d backends uniformly at
/// random (with replacement, as Envoy does) among the usable ones and lease
/// the one with the fewest active requests (ties: the first sampled). With
/// weights the sample with the highest weight / (active + 1)^bias wins
/// (compared by cross-multiplication when bias is 1). The samples stay
/// uniform: weights only score them, so they do not give proportional
/// traffic. Two backends weighted 4:1 with no load split 3:1, not 4:1 (the
/// light one wins only when every sample is it: 1/4 of picks at d = 2); among
/// m usable backends each gets between (1/m)^d and 1 - (1 - 1/m)^d of the
/// picks whatever the weights. (Envoy, when weights differ, leaves sampling
/// for an EDF schedule over weight / (active + 1)^bias.) With n balls thrown
/// into n bins this keeps the fullest bin near ln ln n / ln d above the mean
/// instead of random's ln n / ln ln n (measured in the tests). Down backends
/// are never sampled while one is up; all down: panic mode.
///
/// Randomness: `pick()` draws from internal SplitMix64 streams, one per
/// thread slot (no shared cache line between
/// threads; seeded from the options, so a single-threaded run repeats
/// exactly); `pick(g)` draws from the caller's UniformRandomBitGenerator.
///
/// Complexity: `pick()` O(d) expected while a fair share of the backends is
/// up; a sample that 16 uniform draws all find down scans the n health flags,
/// so with few up (1 in 100 makes that 85 % of samples) a pick costs O(d·n);
/// lease release O(1). Thread safety: lock-free, every member from any
/// threads; racing picks read counts other picks are changing (the counts
/// stay exact). Leases may outlive the balancer (see `backend_lease`).
/// Bad input: n == 0, bad weights (empty, <= 0, not finite), choices < 2 or
/// > 65536 (a pick samples d times: a huge d would hang every pick) or a
/// negative / non-finite bias throw std::invalid_argument.
class power_of_two_choices {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T>
  explicit power_of_two_choices(const T& n, power_of_two_options options = {})
      : power_of_two_choices(detail::refuse_count(n), options) {}
  /// n equally weighted backends (`power_of_two_choices{3}` too: three).
  explicit power_of_two_choices(std::size_t n, power_of_two_options options = {})
      : n_(detail::check_count(n, "power_of_two_choices: n")),
        options_(check(options)),
        block_(new counters(n_)),
        active_(block_->active.get()),
        health_(n_),
        rng_(options.seed) {}
  /// Weighted backends: `power_of_two_choices(surge::weights{5, 1, 1})`.
  explicit power_of_two_choices(const weights& w, power_of_two_options options = {})
      : n_(detail::check_weights(w.values(), "power_of_two_choices: weights").size()),
        options_(check(options)),
        block_(new counters(n_)),
        active_(block_->active.get()),
        health_(n_),
        rng_(options.seed),
        weight_(new std::atomic<double>[n_]) {
    for (std::size_t i = 0; i < n_; ++i) weight_[i].store(w[i], std::memory_order_relaxed);
  }
  power_of_two_choices(const power_of_two_choices&) = delete;
  power_of_two_choices& operator=(const power_of_two_choices&) = delete;
  /// Live leases stay valid (see `backend_lease`).
  ~power_of_two_choices() = default;

  /// A lease on the best of d sampled backends (internal random stream).
  [[nodiscard]] backend_lease pick() noexcept {
    return pick_with([this] { return rng_.next(); });
  }
  /// Same, drawing from the caller's generator g.
  template <class URBG>
  [[nodiscard]] backend_lease pick(URBG& g) {
    return pick_with([&g] { return detail::random_bits(g); });
  }

  /// Backend i's active leases now (0 when out of range); a racing snapshot.
  [[nodiscard]] std::int64_t active(std::size_t i) const noexcept {
    return i < n_ ? active_[i].load(std::memory_order_acquire) : 0;
  }
  /// Marks backend i up or down; false when i is out of range. Lock-free.
  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  /// Changes backend i's weight (weighted instances only; e.g. driven by
  /// `slow_start`): lock-free, O(1), seen by picks that start after it.
  /// False when i is out of range or the instance is unweighted; a weight
  /// <= 0 or not finite throws std::invalid_argument.
  bool set_weight(std::size_t i, double weight) {
    detail::check_weight(weight, "power_of_two_choices::set_weight: weight");
    if (!weight_ || i >= n_) return false;
    weight_[i].store(weight, std::memory_order_relaxed);
    return true;
  }
  /// Backend i's current weight (1 when unweighted, 0 out of range).
  [[nodiscard]] double weight(std::size_t i) const noexcept {
    if (i >= n_) return 0.0;
    return weight_ ? weight_[i].load(std::memory_order_relaxed) : 1.0;
  }
  /// True when backend i is marked up (false when i is out of range). Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  /// The options given at construction.
  [[nodiscard]] const power_of_two_options& options() const noexcept { return options_; }

 private:
  static power_of_two_options check(power_of_two_options o) {
    if (o.choices < 2 || o.choices > 65536)
      throw std::invalid_argument("power_of_two_choices: choices must be in [2, 65536]");
    if (!(o.active_request_bias >= 0) || !std::isfinite(o.active_request_bias))
      throw std::invalid_argument("power_of_two_choices: active_request_bias must be finite and >= 0");
    return o;
  }
  // The in-flight counts, shared with the live leases (see backend_lease).
  struct counters final : detail::lease_block {
    std::size_t n;
    std::unique_ptr<std::atomic<std::int64_t>[]> active;
    explicit counters(std::size_t count) : n(count), active(new std::atomic<std::int64_t>[count]) {
      for (std::size_t i = 0; i < n; ++i) active[i].store(0, std::memory_order_relaxed);
    }
    void close() noexcept { orphan(this, active.get(), n); }
  };

  // True when candidate c (active ac) beats the current best b (active ab).
  bool better(std::size_t c, std::int64_t ac, std::size_t b, std::int64_t ab) const noexcept {
    if (!weight_) return ac < ab;
    const double wc = weight_[c].load(std::memory_order_relaxed);
    const double wb = weight_[b].load(std::memory_order_relaxed);
    const double bias = options_.active_request_bias;
    if (bias == 1.0) {  // w_c/(ac+1) > w_b/(ab+1), cross-multiplied unless that overflows
      const double l = wc * static_cast<double>(ab + 1), r = wb * static_cast<double>(ac + 1);
      if (std::isinf(l) || std::isinf(r)) [[unlikely]]
        return wc / static_cast<double>(ac + 1) > wb / static_cast<double>(ab + 1);
      return l > r;
    }
    if (bias == 0.0) return wc > wb;
    const double pc = std::pow(static_cast<double>(ac + 1), bias), pb = std::pow(static_cast<double>(ab + 1), bias);
    const double sc = wc / pc, sb = wb / pb;
    if (sc > 0 && sb > 0 && std::isfinite(sc) && std::isfinite(sb)) return sc > sb;
    // (active + 1)^bias overflowed (or a score underflowed): compare the logarithms
    return std::log(wc) - bias * std::log(static_cast<double>(ac + 1)) >
           std::log(wb) - bias * std::log(static_cast<double>(ab + 1));
  }

  template <class Draw>
  backend_lease pick_with(Draw&& draw) {
    std::size_t best = detail::sample_usable(health_, draw);
    std::int64_t best_active = active_[best].load(std::memory_order_relaxed);
    for (std::size_t k = 1; k < options_.choices; ++k) {
      const std::size_t c = detail::sample_usable(health_, draw);
      const std::int64_t a = active_[c].load(std::memory_order_relaxed);
      if (better(c, a, best, best_active)) {
        best = c;
        best_active = a;
      }
    }
    active_[best].fetch_add(1, std::memory_order_acq_rel);
    return detail::lease_factory::make(best, block_.get(), &active_[best]);
  }

  std::size_t n_;
  power_of_two_options options_;
  std::unique_ptr<counters, detail::lease_block_closer> block_;
  std::atomic<std::int64_t>* active_;  // block_->active
  detail::health_set health_;
  detail::sharded_splitmix rng_;
  std::unique_ptr<std::atomic<double>[]> weight_;  // null: unweighted (all equal)
};

}  // namespace surge

#endif  // SURGE_BALANCE_POWER_OF_TWO_HPP
