/// @file surge/metrics/meter.hpp
/// A throughput meter: lock-free mark(), the rate over a sliding window, and
/// 1-, 5- and 15-minute exponentially weighted moving averages in the Unix
/// load-average form (as Dropwizard Metrics' Meter computes them).
#ifndef SURGE_METRICS_METER_HPP
#define SURGE_METRICS_METER_HPP

#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/saturate.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace surge {

/// What a rate_meter reports at one instant (all rates per second); what
/// `surge/fmt.hpp` prints. A plain value type.
struct meter_stats {
  std::uint64_t count = 0;      ///< events marked since construction (saturating)
  double rate = 0.0;            ///< over the sliding window
  double mean_rate = 0.0;       ///< count ÷ time since construction
  double one_minute = 0.0;      ///< 1-minute EWMA
  double five_minute = 0.0;     ///< 5-minute EWMA
  double fifteen_minute = 0.0;  ///< 15-minute EWMA

  /// True when every field is equal.
  friend bool operator==(const meter_stats&, const meter_stats&) noexcept = default;
};

/// Configuration of a rate_meter (designated initialisers).
struct rate_meter_options {
  /// Length of the sliding window of rate(), > 0.
  std::chrono::nanoseconds window = std::chrono::seconds(10);
  /// The window moves in `slots` steps of window / slots each; in [1, 4096],
  /// dividing the window exactly into slots of at least 1 ns.
  std::size_t slots = 10;
};

/// Counts events and reports their rate.
///
/// **EWMAs** follow the Unix load average as Dropwizard Metrics' Meter ticks
/// it: every 5 s (measured from construction) each average moves towards the
/// rate of that interval, `m += α·(instant − m)` with α = 1 − e^(−5 s / M)
/// for M = 1, 5 and 15 minutes. Intervals are [5k s, 5(k + 1) s): a reading
/// at exactly 5(k + 1) s ticks, and an event marked at it counts in the next
/// interval (Dropwizard ticks only once more than 5 s have passed since its
/// last tick: a reading at exactly a boundary does not tick yet, and an
/// event marked there counts in the interval the boundary ends). The first
/// tick sets m to the instant rate (Dropwizard's `initialized`), and
/// intervals with no call at all are caught up on the next call (the first
/// missed interval gets the events marked since the last tick, the rest
/// decay by e^(−5 s·k / M) at once). Ticks happen
/// lazily inside mark() and the readers; nothing runs in the background.
///
/// **rate()** is events per second over the sliding window: the window is
/// cut into `slots` slots of `window / slots`; rate(now) counts the events
/// from the start of the oldest of the `slots` most recent slots to now and
/// divides by that time, which is between window − slot and window (less
/// shortly after construction: never reaching before it).
///
/// **Attribution.** An event counts in the slot and EWMA interval in which
/// the meter ticks after it: single-threaded with increasing clock readings
/// this is exactly the slot of its `now`. With several threads, an event
/// marked during another thread's tick may land in the neighbouring slot.
///
/// **Clock readings going backwards** (another thread's older reading, or a
/// non-steady clock) are treated as the latest reading already seen; before
/// construction time as construction time. Readings are nanoseconds,
/// saturating at the int64 range, whatever the clock's tick and
/// representation (finer than 1 ns, a 32-bit count; a NaN reading of a
/// floating-point clock reads as 0); never UB.
///
/// Complexity: mark() O(1); a tick O(slots) at worst (after a long idle),
/// O(1) amortised; the readers O(1) plus a tick.
/// Thread safety: mark() and count() are lock-free (one atomic add, and when
/// a slot or 5-second boundary has passed a try-lock; a mark that finds the
/// lock taken leaves the tick to its holder and never waits). The rate
/// readers take a short internal spin lock. Every member may be called from
/// any number of threads.
/// Bad input: window <= 0, slots outside [1, 4096], a window that slots do
/// not divide exactly, or window / slots < 1 ns throw std::invalid_argument
/// naming the field. The count saturates at
/// 2^64 − 1 instead of wrapping.
template <class Clock = std::chrono::steady_clock>
class rate_meter {
 public:
  /// The clock the meter reads.
  using clock_type = Clock;
  /// Clock's duration.
  using duration = typename Clock::duration;
  /// Clock's time point.
  using time_point = typename Clock::time_point;
  /// The configuration type.
  using options = rate_meter_options;

  /// The EWMA tick interval of the Unix load average: 5 s.
  static constexpr std::int64_t tick_ns = std::int64_t{5} * 1000 * 1000 * 1000;

  /// A meter starting now. Throws std::invalid_argument naming a bad field.
  explicit rate_meter(const options& o = options{}) : rate_meter(o, Clock::now()) {}

  /// A meter whose construction time is `now`.
  rate_meter(const options& o, time_point now) : start_ns_(ns_of(now)) {
    if (o.window <= std::chrono::nanoseconds::zero())
      throw std::invalid_argument("surge::rate_meter: options.window must be > 0");
    if (o.slots < 1 || o.slots > 4096)
      throw std::invalid_argument("surge::rate_meter: options.slots must be in [1, 4096]");
    slot_ns_ = o.window.count() / static_cast<std::int64_t>(o.slots);
    if (slot_ns_ < 1) throw std::invalid_argument("surge::rate_meter: options.window / options.slots must be >= 1 ns");
    // a remainder would shorten the window the rate covers (by up to half)
    if (o.window.count() % static_cast<std::int64_t>(o.slots) != 0)
      throw std::invalid_argument(
          "surge::rate_meter: options.window must be a whole number of nanoseconds times "
          "options.slots, got " +
          std::to_string(o.window.count()) + " ns and " + std::to_string(o.slots) + " slots");
    ring_.assign(o.slots, 0);
    next_due_.store(std::min(slot_ns_, tick_ns), std::memory_order_relaxed);
  }

  rate_meter(const rate_meter&) = delete;
  rate_meter& operator=(const rate_meter&) = delete;

  /// Counts n events now. O(1), lock-free. A bool, a character or a
  /// floating-point count does not compile (2.5 would count 2 events).
  void mark(std::uint64_t n = 1) noexcept { mark(n, Clock::now()); }
  /// mark with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <detail::not_a_count N>
  void mark(const N&, time_point = {}) noexcept {
    static_assert(detail::refused_count<N>,
                  "surge::rate_meter::mark: n must be an integer, not a bool, a character or a floating-point number");
  }

  /// Counts n events at the clock reading `now`. O(1), lock-free.
  void mark(std::uint64_t n, time_point now) noexcept {
    const std::int64_t e = elapsed_of(now);
    if (e >= next_due_.load(std::memory_order_relaxed)) [[unlikely]] {
      if (!lock_.exchange(true, std::memory_order_acquire)) {
        tick(e);
        lock_.store(false, std::memory_order_release);
      }
    }
    detail::count_add(count_, n);
  }

  /// Events marked since construction (saturating at 2^64 − 1). O(1),
  /// lock-free; a racing reader.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

  /// Events per second over the sliding window (see the class comment).
  [[nodiscard]] double rate() const noexcept { return stats(Clock::now()).rate; }
  /// rate at the given clock reading.
  [[nodiscard]] double rate(time_point now) const noexcept { return stats(now).rate; }

  /// Events per second since construction; 0 at construction time.
  [[nodiscard]] double mean_rate() const noexcept { return stats(Clock::now()).mean_rate; }
  /// mean_rate at the given clock reading.
  [[nodiscard]] double mean_rate(time_point now) const noexcept { return stats(now).mean_rate; }

  /// The 1-minute EWMA, events per second.
  [[nodiscard]] double one_minute_rate() const noexcept { return stats(Clock::now()).one_minute; }
  /// one_minute_rate at the given clock reading.
  [[nodiscard]] double one_minute_rate(time_point now) const noexcept { return stats(now).one_minute; }

  /// The 5-minute EWMA, events per second.
  [[nodiscard]] double five_minute_rate() const noexcept { return stats(Clock::now()).five_minute; }
  /// five_minute_rate at the given clock reading.
  [[nodiscard]] double five_minute_rate(time_point now) const noexcept { return stats(now).five_minute; }

  /// The 15-minute EWMA, events per second.
  [[nodiscard]] double fifteen_minute_rate() const noexcept { return stats(Clock::now()).fifteen_minute; }
  /// fifteen_minute_rate at the given clock reading.
  [[nodiscard]] double fifteen_minute_rate(time_point now) const noexcept { return stats(now).fifteen_minute; }

  /// Every figure at once, consistent with each other (one tick, one lock).
  [[nodiscard]] meter_stats stats() const noexcept { return stats(Clock::now()); }

  /// stats at the clock reading `now`.
  [[nodiscard]] meter_stats stats(time_point now) const noexcept {
    std::int64_t e = elapsed_of(now);
    detail::backoff<> bo;
    while (lock_.exchange(true, std::memory_order_acquire)) bo.pause();
    tick(e);
    e = std::max(e, seen_ns_);
    meter_stats s;
    s.count = count_.load(std::memory_order_relaxed);
    const std::int64_t oldest = std::max<std::int64_t>(0, last_slot_ - static_cast<std::int64_t>(ring_.size()) + 1);
    const std::int64_t from = oldest * slot_ns_;
    const std::uint64_t base = ring_[static_cast<std::size_t>(oldest) % ring_.size()];
    if (e > from) s.rate = static_cast<double>(s.count - std::min(base, s.count)) / seconds(e - from);
    if (e > 0) s.mean_rate = static_cast<double>(s.count) / seconds(e);
    s.one_minute = ewma_[0];
    s.five_minute = ewma_[1];
    s.fifteen_minute = ewma_[2];
    lock_.store(false, std::memory_order_release);
    return s;
  }

 private:
  static double seconds(std::int64_t ns) noexcept { return static_cast<double>(ns) / 1e9; }

  /// A clock reading in ns since its epoch, saturating (detail::to_ns_sat).
  static std::int64_t ns_of(time_point t) noexcept { return detail::to_ns_sat(t.time_since_epoch()); }

  /// ns since construction, >= 0, saturating.
  std::int64_t elapsed_of(time_point now) const noexcept {
    const std::int64_t t = ns_of(now);
    return t <= start_ns_ ? 0 : detail::sub_sat(t, start_ns_);
  }

  /// (k + 1) · step, saturating (it fits while k + 1 <= INT64_MAX / step).
  static std::int64_t boundary_after(std::int64_t k, std::int64_t step) noexcept {
    return k >= std::numeric_limits<std::int64_t>::max() / step ? std::numeric_limits<std::int64_t>::max()
                                                                : (k + 1) * step;
  }

  /// Moves the slots and the EWMAs up to elapsed time e. Caller holds lock_.
  void tick(std::int64_t e) const noexcept {
    if (e <= seen_ns_) return;
    seen_ns_ = e;
    const std::uint64_t c = count_.load(std::memory_order_relaxed);
    const std::int64_t slot = e / slot_ns_;
    if (slot > last_slot_) {
      const auto n = static_cast<std::int64_t>(ring_.size());
      const std::int64_t first = std::max(last_slot_ + 1, slot - n + 1);
      for (std::int64_t k = 0; k <= slot - first; ++k)  // never past slot, which may be INT64_MAX
        ring_[static_cast<std::size_t>((first + k) % n)] = c;
      last_slot_ = slot;
    }
    const std::int64_t t = e / tick_ns;
    if (t > last_tick_) {
      static constexpr double minutes[3] = {1.0, 5.0, 15.0};
      const double instant = static_cast<double>(c - std::min(c, count_at_tick_)) / seconds(tick_ns);
      const double idle = static_cast<double>(t - last_tick_ - 1);
      for (int i = 0; i < 3; ++i) {
        const double decay = std::exp(-5.0 / (60.0 * minutes[i]));
        ewma_[i] = initialized_ ? ewma_[i] + (1.0 - decay) * (instant - ewma_[i]) : instant;
        if (idle > 0) ewma_[i] *= std::exp(-5.0 * idle / (60.0 * minutes[i]));
      }
      initialized_ = true;
      count_at_tick_ = c;
      last_tick_ = t;
    }
    next_due_.store(std::min(boundary_after(last_slot_, slot_ns_), boundary_after(last_tick_, tick_ns)),
                    std::memory_order_relaxed);
  }

  std::int64_t start_ns_;
  std::int64_t slot_ns_ = 1;
  alignas(detail::cache_line_size) std::atomic<std::uint64_t> count_{0};
  alignas(detail::cache_line_size) mutable std::atomic<std::int64_t> next_due_{0};  // read by every mark
  mutable std::atomic<bool> lock_{false};
  // guarded by lock_
  mutable std::int64_t seen_ns_ = 0;
  mutable std::int64_t last_slot_ = 0;
  mutable std::vector<std::uint64_t> ring_;  // ring_[k % slots]: count at the start of slot k
  mutable std::int64_t last_tick_ = 0;
  mutable std::uint64_t count_at_tick_ = 0;
  mutable double ewma_[3] = {0.0, 0.0, 0.0};
  mutable bool initialized_ = false;
};

}  // namespace surge

#endif  // SURGE_METRICS_METER_HPP
