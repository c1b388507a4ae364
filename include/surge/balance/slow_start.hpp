/// @file surge/balance/slow_start.hpp
/// Envoy's slow-start weight ramp: a backend that joins (or comes back
/// healthy) gets a growing share of its weight over a window of time.
#ifndef SURGE_BALANCE_SLOW_START_HPP
#define SURGE_BALANCE_SLOW_START_HPP

#include <surge/balance/detail/validate.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/saturate.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

namespace surge {

/// Options of `slow_start` (Envoy's `slow_start_config` names in brackets).
struct slow_start_options {
  /// Length of the ramp [slow_start_window]; required, > 0.
  std::chrono::nanoseconds window{};
  /// Shape of the ramp [aggression], > 0: the factor grows as
  /// (t / window)^(1 / aggression) — 1 is linear, larger is faster early.
  double aggression = 1.0;
  /// Floor of the factor, in [0, 1] [min_weight_percent / 100; Envoy's
  /// default is 10 %]. 0 is valid: the ramp then starts from the least
  /// weight a policy accepts (see `slow_start::min_weight`).
  double min_weight_fraction = 0.1;
};

/// Slow start after Envoy: while backend i is less than `window` into its
/// ramp, its weight is scaled by
///
///     f(t) = max(min_weight_fraction, (t / window)^(1 / aggression)),
///
/// t being the time since `begin(i)` (from the `Clock` parameter), and by 1
/// from t >= window on, or when no ramp was begun. Call `begin(i)` when
/// backend i is added or comes back healthy (`set_healthy(policy, i, true)`
/// does both for a backend that was down). Unlike Envoy the elapsed time is
/// not floored at one second (Envoy uses max(t, 1 s) / window), so at t = 0
/// the factor is exactly the floor; before the start (now < begin's time
/// point) it is the floor too.
///
/// Time points are read as int64 nanoseconds since the Clock's epoch,
/// saturated to ±(2^63 − 1) ns (about ±292 years), and t = now − start
/// saturates too, so any two time points are safe (a ramp begun at
/// time_point::min() starts 1 ns later). A clock coarser than a nanosecond
/// can read beyond that range: such readings all count as the bound, so a
/// ramp begun there does not advance (its factor stays at the floor until
/// `end(i)`).
///
/// The helper only computes factors; a weighted policy consumes them through
/// its `set_weight(i, w)`: `apply(policy, base_weights)` sets base · f on
/// every backend in its ramp, and the full base weight once more when the
/// ramp ends. `power_of_two_choices` (weighted) takes a new weight lock-free,
/// O(1); `consistent_hash_ring` and `maglev` rebuild their table on each
/// `set_weight` (milliseconds at 1000 backends: apply about once a second,
/// not per request). Smooth and stride WRR and the random alias table have
/// no `set_weight`. One helper drives one policy: it remembers the factors
/// it last set there, to restore the full weight once when a ramp ends.
///
/// Weights never reach 0: the policies refuse weight 0 (for the ring and
/// Maglev it would mean "removed"), so `apply` sets max(base · f,
/// `min_weight`), the smallest positive double. A backend at that weight
/// stays in the set with the least share the policy can give it: one ring
/// point, one Maglev table entry, and with power of two choices it wins
/// only against another backend at the same floor. This is what
/// min_weight_fraction = 0 gives at the start of a ramp, and what very small
/// base weights give when base · f underflows.
///
/// Complexity: `factor` O(1) (one pow when aggression != 1); `begin`, `end`
/// O(1); `apply` O(n) plus the policy's `set_weight` for each backend in or
/// just out of its ramp. Memory: 17 bytes per backend.
/// Thread safety: `begin`, `end`, `factor`, `ramping` are lock-free from any
/// threads (start times are atomics); `apply` may run concurrently with them
/// but not with another `apply` on the same helper (call it from one timer
/// thread); `set_healthy` is thread-safe if the policy's is.
/// Bad input: n == 0, window <= 0, aggression <= 0 or not finite, or
/// min_weight_fraction outside [0, 1] throw std::invalid_argument naming it;
/// an index out of range returns false (factor: 1).
template <class Clock = std::chrono::steady_clock>
class slow_start {
 public:
  /// Clock's time point (ramp starts, readings).
  using time_point = typename Clock::time_point;

  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T>
  slow_start(const T& n, slow_start_options options) : slow_start(detail::refuse_count(n), options) {}
  /// n backends, none ramping (all at full weight).
  slow_start(std::size_t n, slow_start_options options)
      : n_(detail::check_count(n, "slow_start: n")),
        options_(check(options)),
        start_(new std::atomic<std::int64_t>[n_]),
        down_(new std::atomic<bool>[n_]),
        applied_(n_, 1.0) {
    for (std::size_t i = 0; i < n_; ++i) {
      start_[i].store(idle, std::memory_order_relaxed);
      down_[i].store(false, std::memory_order_relaxed);
    }
  }

  /// Starts (or restarts) backend i's ramp at `at`; false when out of range.
  bool begin(std::size_t i, time_point at) noexcept {
    if (i >= n_) return false;
    start_[i].store(ticks(at), std::memory_order_release);
    return true;
  }
  /// begin at Clock::now().
  bool begin(std::size_t i) { return begin(i, Clock::now()); }

  /// Ends backend i's ramp early (full weight from now on).
  bool end(std::size_t i) noexcept {
    if (i >= n_) return false;
    start_[i].store(idle, std::memory_order_release);
    return true;
  }

  /// Backend i's weight factor at `now`, in [min_weight_fraction, 1].
  [[nodiscard]] double factor(std::size_t i, time_point now) const noexcept {
    if (i >= n_) return 1.0;
    const std::int64_t start = start_[i].load(std::memory_order_acquire);
    if (start == idle) return 1.0;
    const double t = static_cast<double>(detail::sub_sat(ticks(now), start));
    const double window = static_cast<double>(window_ticks());
    if (t >= window) return 1.0;
    const double x = std::max(t, 0.0) / window;
    const double ramp = options_.aggression == 1.0 ? x : std::pow(x, 1.0 / options_.aggression);
    return std::max(options_.min_weight_fraction, ramp);
  }
  /// factor at Clock::now().
  [[nodiscard]] double factor(std::size_t i) const { return factor(i, Clock::now()); }

  /// True while backend i is inside its window at `now`.
  [[nodiscard]] bool ramping(std::size_t i, time_point now) const noexcept {
    if (i >= n_) return false;
    const std::int64_t start = start_[i].load(std::memory_order_acquire);
    return start != idle && detail::sub_sat(ticks(now), start) < window_ticks();
  }

  /// Sets policy.set_weight(i, max(base_weights[i] · factor(i, now),
  /// min_weight)) for every
  /// backend inside its ramp, and base_weights[i] once when a ramp has
  /// ended; returns how many weights it set. base_weights must hold at least
  /// n positive weights (else std::invalid_argument, nothing set).
  /// Exceptions from set_weight propagate (basic guarantee: weights already
  /// set stay set, and the next apply retries the rest).
  template <class Policy>
  std::size_t apply(Policy& policy, std::span<const double> base_weights, time_point now) {
    if (base_weights.size() < n_)
      throw std::invalid_argument("slow_start::apply: base_weights has fewer than n weights");
    for (std::size_t i = 0; i < n_; ++i) detail::check_weight(base_weights[i], "slow_start::apply: base_weights");
    std::size_t set = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      const double f = factor(i, now);
      if (f == 1.0 && applied_[i] == 1.0) continue;  // not ramping, full weight already set
      if (policy.set_weight(i, std::max(base_weights[i] * f, min_weight))) ++set;
      applied_[i] = f;
    }
    return set;
  }
  template <class Policy>
  /// apply at Clock::now().
  std::size_t apply(Policy& policy, std::span<const double> base_weights) {
    return apply(policy, base_weights, Clock::now());
  }

  /// Marks backend i up or down in the policy; a backend that goes from down
  /// to up begins its ramp now: one the policy had down, or one this helper
  /// marked down since its last ramp began (so a call marking it up that
  /// races one marking it down never brings it back at full weight). Returns
  /// what policy.set_healthy returned.
  template <class Policy>
  bool set_healthy(Policy& policy, std::size_t i, bool up) {
    if (!up) {
      if (i < n_) down_[i].store(true, std::memory_order_release);  // before the policy has it down
      return policy.set_healthy(i, false);
    }
    const bool was_up = policy.healthy(i);
    const bool ok = policy.set_healthy(i, true);
    if (ok && ((i < n_ && down_[i].exchange(false, std::memory_order_acq_rel)) || !was_up)) begin(i);
    return ok;
  }

  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  /// The options given at construction.
  [[nodiscard]] const slow_start_options& options() const noexcept { return options_; }

  /// The least weight `apply` sets: the smallest positive double.
  static constexpr double min_weight = std::numeric_limits<double>::denorm_min();

 private:
  static constexpr std::int64_t idle = std::numeric_limits<std::int64_t>::min();

  static slow_start_options check(slow_start_options o) {
    if (o.window <= std::chrono::nanoseconds::zero())
      throw std::invalid_argument("slow_start: window must be positive");
    if (!(o.aggression > 0) || !std::isfinite(o.aggression))
      throw std::invalid_argument("slow_start: aggression must be positive and finite");
    if (!(o.min_weight_fraction >= 0 && o.min_weight_fraction <= 1))
      throw std::invalid_argument("slow_start: min_weight_fraction must be in [0, 1]");
    return o;
  }
  // Time points and the window in nanoseconds. A reading is saturated to
  // [-2^63 + 1, 2^63 - 1] ns, so none is `idle` (time_point::min() of a
  // nanosecond clock reads as 1 ns later).
  static std::int64_t ticks(time_point t) noexcept {
    return std::max(detail::to_ns_sat(t.time_since_epoch()), idle + 1);
  }
  std::int64_t window_ticks() const noexcept { return static_cast<std::int64_t>(options_.window.count()); }

  std::size_t n_;
  slow_start_options options_;
  std::unique_ptr<std::atomic<std::int64_t>[]> start_;  // ns since the clock's epoch; idle: no ramp
  std::unique_ptr<std::atomic<bool>[]> down_;           // marked down by set_healthy, no ramp begun since
  std::vector<double> applied_;                         // last factor apply set (apply's own state)
};

}  // namespace surge

#endif  // SURGE_BALANCE_SLOW_START_HPP
