/// @file surge/balance/outlier_detector.hpp
/// Passive outlier ejection after Envoy's outlier detection (consecutive
/// failures): eject a backend that fails k times in a row, for a time that
/// grows with each ejection, never ejecting more than a set share at once.
#ifndef SURGE_BALANCE_OUTLIER_DETECTOR_HPP
#define SURGE_BALANCE_OUTLIER_DETECTOR_HPP

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
#include <mutex>
#include <stdexcept>
#include <vector>

namespace surge {

/// Options of `outlier_detector` (Envoy's names in brackets).
struct outlier_detector_options {
  /// Consecutive failures that eject a backend [consecutive_5xx], >= 1.
  std::uint32_t consecutive_failures = 5;
  /// Ejection time of the first ejection [base_ejection_time]; the k-th
  /// ejection of the same backend lasts k times this.
  std::chrono::nanoseconds base_ejection_time = std::chrono::seconds(30);
  /// Cap on one ejection's time [max_ejection_time].
  std::chrono::nanoseconds max_ejection_time = std::chrono::seconds(300);
  /// Most backends ejected at once, in percent of all [max_ejection_percent];
  /// at least one backend can always be ejected, as in Envoy.
  double max_ejection_percent = 10;
};

/// Passive outlier detection. Feed it each request's outcome with
/// `record(i, success)`; when backend i reaches `consecutive_failures` failures
/// in a row (and the ejection budget allows) it is ejected: `record` returns
/// true and, in the overload taking a policy, marks it down there
/// (`set_healthy(i, false)`). It stays ejected for min(k·base, max) where k
/// counts its ejections so far (saturating at 2^32 − 1), rounded up to the
/// Clock's tick; k·base and now plus that time saturate (at max and at
/// time_point::max()) instead of overflowing, so any accepted times are safe
/// (max_ejection_time = nanoseconds::max() as "no cap" included).
/// `release_expired` (call it periodically, or before picks) returns
/// backends whose time is up and marks them up again.
/// The multiplier k never decays (Envoy lowers it while the backend stays
/// healthy). Works with every surge policy, since each has `set_healthy`.
///
/// Complexity: `record` O(1) — one relaxed load or fetch_add; the mutex is
/// taken only when a backend reaches the threshold; `release_expired` O(n).
/// Thread safety: thread-safe; `record` is lock-free except on ejection.
/// Bad input: n == 0, consecutive_failures == 0, a negative time, max below
/// base, or a percent outside [0, 100] throw std::invalid_argument; `record`
/// with an index out of range returns false and does nothing.
template <class Clock = std::chrono::steady_clock>
class outlier_detector {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T>
  explicit outlier_detector(const T& n, outlier_detector_options options = {})
      : outlier_detector(detail::refuse_count(n), options) {}
  /// Watches n backends, none ejected; throws std::invalid_argument for the
  /// bad input listed in the class comment.
  explicit outlier_detector(std::size_t n, outlier_detector_options options = {})
      : n_(detail::check_count(n, "outlier_detector: n")),
        options_(check(options)),
        failures_(new std::atomic<std::uint32_t>[n_]),
        ejected_(new std::atomic<bool>[n_]),
        times_(n_, 0),
        until_(n_),
        owed_(n_, 0) {
    for (std::size_t i = 0; i < n_; ++i) {
      failures_[i].store(0, std::memory_order_relaxed);
      ejected_[i].store(false, std::memory_order_relaxed);
    }
  }

  /// Records one outcome on backend i; true when this failure ejected it.
  bool record(std::size_t i, bool success) {
    if (i >= n_) return false;
    if (success) {
      if (failures_[i].load(std::memory_order_relaxed) != 0) failures_[i].store(0, std::memory_order_relaxed);
      return false;
    }
    if (ejected_[i].load(std::memory_order_acquire)) return false;  // already out (panic-mode traffic)
    if (failures_[i].fetch_add(1, std::memory_order_acq_rel) + 1 < options_.consecutive_failures) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (ejected_[i].load(std::memory_order_relaxed)) return false;
    if (failures_[i].load(std::memory_order_relaxed) < options_.consecutive_failures) return false;  // a success won
    failures_[i].store(0, std::memory_order_relaxed);
    if (ejected_count_ >= budget()) return false;  // over the budget: stays in, counting starts over
    if (times_[i] != std::numeric_limits<std::uint32_t>::max()) ++times_[i];
    owe(i, false);  // a return still owed from its last ejection is void now
    until_[i] = detail::later_sat(Clock::now(), detail::from_ns_ceil<typename Clock::duration>(span(times_[i])));
    ejected_[i].store(true, std::memory_order_release);
    ++ejected_count_;
    return true;
  }

  /// Same, and marks backend i down in `policy` when it is ejected. The
  /// policy calls of this form and of release_expired(policy) are ordered
  /// with the ejections: each marks the backend as the detector has it when
  /// the call is made, so a release racing an ejection never leaves the
  /// policy and the detector disagreeing. An exception from the policy's
  /// `set_healthy` (std::bad_alloc from `shared_weighted_round_robin`, say)
  /// propagates and undoes the ejection, so the backend is in on both sides
  /// and takes no place in the budget; it still counts in `times_ejected`,
  /// its failures start over, and the next `release_expired` reports it.
  /// A policy that refuses the mark (its `set_healthy` returns false: a ring
  /// or Maglev backend removed since, an index beyond the policy's) undoes
  /// the ejection the same way, and `record` returns false.
  template <class Policy>
  bool record(Policy& policy, std::size_t i, bool success) {
    if (!record(i, success)) return false;
    std::lock_guard<std::mutex> lock(policy_mutex_);
    try {
      if (ejected(i) && !policy.set_healthy(i, false)) {  // not if released since
        reinstate(i);
        return false;
      }
    } catch (...) {
      reinstate(i);
      throw;
    }
    return true;
  }

  /// Un-ejects every backend whose ejection time has passed, calling
  /// on_return(i) for each; returns how many. An exception from on_return
  /// (or std::bad_alloc) propagates; the backends whose on_return was not
  /// made, the one that threw included, are handed to the next call.
  template <class F>
  std::size_t release_expired(F&& on_return) {
    std::vector<std::size_t> back;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (ejected_count_ == 0 && owed_count_ == 0) return 0;
      const auto now = Clock::now();
      for (std::size_t i = 0; i < n_; ++i) {
        if (ejected_[i].load(std::memory_order_relaxed) && until_[i] <= now) {
          ejected_[i].store(false, std::memory_order_release);
          failures_[i].store(0, std::memory_order_relaxed);
          --ejected_count_;
          owe(i, true);
        }
      }
      back.reserve(owed_count_);
      for (std::size_t i = 0; i < n_; ++i) {
        if (owed_[i]) back.push_back(i);
        owe(i, false);
      }
    }
    std::size_t done = 0;
    try {  // outside the lock: user code (it may race a new ejection of a backend)
      for (; done < back.size(); ++done) on_return(back[done]);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (std::size_t k = done; k < back.size(); ++k)
        if (!ejected_[back[k]].load(std::memory_order_relaxed)) owe(back[k], true);
      throw;
    }
    return back.size();
  }
  /// Same, marking the returned backends up in `policy` (ordered with
  /// record(policy, ...): a backend ejected again meanwhile stays down).
  template <class Policy>
  requires requires(Policy& p) { p.set_healthy(std::size_t{0}, true); }
  std::size_t release_expired(Policy& policy) {
    return release_expired([&](std::size_t i) {
      std::lock_guard<std::mutex> lock(policy_mutex_);
      if (!ejected(i)) policy.set_healthy(i, true);
    });
  }

  /// True while backend i is ejected (false when i is out of range). Lock-free.
  [[nodiscard]] bool ejected(std::size_t i) const noexcept {
    return i < n_ && ejected_[i].load(std::memory_order_acquire);
  }
  /// Backends ejected now.
  [[nodiscard]] std::size_t ejected_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ejected_count_;
  }
  /// How many times backend i has been ejected so far (saturating at
  /// 2^32 − 1).
  [[nodiscard]] std::uint32_t times_ejected(std::size_t i) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return i < n_ ? times_[i] : 0;
  }
  /// The most backends ejected at once.
  [[nodiscard]] std::size_t budget() const noexcept {
    const auto b =
        static_cast<std::size_t>(std::floor(static_cast<double>(n_) * options_.max_ejection_percent / 100.0));
    return std::max<std::size_t>(b, 1);
  }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  // min(k · base, max) in ns, without overflow (base <= max, both >= 0).
  std::int64_t span(std::uint32_t k) const noexcept {
    const std::int64_t base = options_.base_ejection_time.count(), top = options_.max_ejection_time.count();
    return base <= top / k ? base * k : top;
  }

  // Undoes the ejection of backend i after the policy call marking it down
  // threw or was refused (the policy does not have it down): un-ejected,
  // owed its return (a return owed from before the ejection was voided by it).
  void reinstate(std::size_t i) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!ejected_[i].load(std::memory_order_relaxed)) return;
    ejected_[i].store(false, std::memory_order_release);
    --ejected_count_;
    owe(i, true);
  }

  // Marks backend i as un-ejected with its on_return not made yet (or not).
  // Under mutex_.
  void owe(std::size_t i, bool owed) noexcept {
    if ((owed_[i] != 0) == owed) return;
    owed_[i] = owed ? 1 : 0;
    owed ? ++owed_count_ : --owed_count_;
  }

  static outlier_detector_options check(outlier_detector_options o) {
    if (o.consecutive_failures == 0)
      throw std::invalid_argument("outlier_detector: consecutive_failures must be at least 1");
    if (o.base_ejection_time.count() < 0) throw std::invalid_argument("outlier_detector: base_ejection_time < 0");
    if (o.max_ejection_time < o.base_ejection_time)
      throw std::invalid_argument("outlier_detector: max_ejection_time must be >= base_ejection_time");
    if (!(o.max_ejection_percent >= 0 && o.max_ejection_percent <= 100))
      throw std::invalid_argument("outlier_detector: max_ejection_percent must be in [0, 100]");
    return o;
  }

  std::size_t n_;
  outlier_detector_options options_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> failures_;
  std::unique_ptr<std::atomic<bool>[]> ejected_;
  mutable std::mutex mutex_;
  std::mutex policy_mutex_;                        // orders the policy calls of the Policy forms with ejections
  std::vector<std::uint32_t> times_;               // under mutex_
  std::vector<typename Clock::time_point> until_;  // under mutex_
  std::size_t ejected_count_ = 0;                  // under mutex_
  std::vector<std::uint8_t> owed_;                 // under mutex_: un-ejected, on_return not made yet
  std::size_t owed_count_ = 0;                     // under mutex_
};

}  // namespace surge

#endif  // SURGE_BALANCE_OUTLIER_DETECTOR_HPP
