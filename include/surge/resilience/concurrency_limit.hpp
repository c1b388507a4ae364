/// @file surge/resilience/concurrency_limit.hpp
/// Adaptive concurrency limits (Netflix concurrency-limits): the AIMD,
/// Gradient2 and Vegas algorithms, and a limiter that hands out RAII tokens,
/// measures each call's round-trip time and feeds it to the algorithm.
#ifndef SURGE_RESILIENCE_CONCURRENCY_LIMIT_HPP
#define SURGE_RESILIENCE_CONCURRENCY_LIMIT_HPP

#include <surge/detail/saturate.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace surge {

namespace detail {

/// Netflix's Log10RootFunction: max(1, ⌊log10 n⌋), in integers.
constexpr std::size_t log10_root(std::size_t n) noexcept {
  std::size_t digits = 0;
  for (; n >= 10; n /= 10) ++digits;
  return digits < 1 ? 1 : digits;
}

/// x as a limit: ⌊x⌋ (Java's (int) cast of a non-negative double), saturating.
inline std::size_t limit_of(double x) noexcept {
  if (!(x >= 1.0)) return 0;
  if (x >= 1e18) return static_cast<std::size_t>(1e18);
  return static_cast<std::size_t>(x);
}

/// What an algorithm's limit() returned, as a limit: a floating-point value
/// as limit_of (NaN and values below 1 give 0), a negative integer 0, any
/// other value by its own conversion to std::size_t.
template <class T>
[[nodiscard]] std::size_t as_limit(const T& v) noexcept(noexcept(static_cast<std::size_t>(v))) {
  if constexpr (std::is_floating_point_v<T>) {
    return limit_of(static_cast<double>(v));
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return v < 0 ? 0 : static_cast<std::size_t>(v);
  } else {
    return static_cast<std::size_t>(v);
  }
}

inline void check_limits(std::size_t initial, std::size_t min, std::size_t max, const char* who) {
  if (min < 1) throw std::invalid_argument(std::string(who) + ": options.min must be >= 1");
  if (max < min) throw std::invalid_argument(std::string(who) + ": options.max must be >= options.min");
  if (max > (std::size_t{1} << 40)) throw std::invalid_argument(std::string(who) + ": options.max must be <= 2^40");
  if (initial < min || initial > max)
    throw std::invalid_argument(std::string(who) + ": options.initial must be in [options.min, options.max]");
}

}  // namespace detail

/// Options of aimd_limit: Netflix AIMDLimit's builder defaults.
struct aimd_limit_options {
  std::size_t initial = 20;                                    ///< starting limit, in [min, max]
  std::size_t min = 20;                                        ///< the limit never goes below, >= 1
  std::size_t max = 200;                                       ///< the limit never goes above, in [min, 2^40]
  double backoff_ratio = 0.9;                                  ///< multiplier on a drop, in [0.5, 1)
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);  ///< an RTT above counts as a drop, > 0
};

/// Loss-based limit, Netflix's AIMDLimit exactly: on a drop or an RTT above
/// `timeout`, limit = ⌊limit · backoff_ratio⌋; otherwise, when the sample's
/// inflight · 2 >= limit, limit + 1 (no growth while the caller uses less than
/// half of it); then clamped into [min, max].
///
/// Complexity O(1). Not thread-safe (concurrency_limiter serialises
/// on_sample). Bad options throw std::invalid_argument naming the field.
/// A negative rtt counts as 0.
class aimd_limit {
 public:
  /// The configuration type.
  using options = aimd_limit_options;

  /// Starts at `o.initial`; throws std::invalid_argument naming the first
  /// bad field.
  explicit aimd_limit(const options& o = options{}) : o_(o), limit_(o.initial) {
    detail::check_limits(o.initial, o.min, o.max, "surge::aimd_limit");
    if (!(o.backoff_ratio >= 0.5 && o.backoff_ratio < 1.0))
      throw std::invalid_argument("surge::aimd_limit: options.backoff_ratio must be in [0.5, 1)");
    if (o.timeout <= std::chrono::nanoseconds::zero())
      throw std::invalid_argument("surge::aimd_limit: options.timeout must be > 0");
  }

  /// One completed call: its round-trip time, the calls in flight when it
  /// started (itself included), and whether it was dropped.
  void on_sample(std::chrono::nanoseconds rtt, std::size_t inflight, bool dropped) noexcept {
    std::size_t next = limit_;
    if (dropped || rtt > o_.timeout)
      next = static_cast<std::size_t>(static_cast<double>(limit_) * o_.backoff_ratio);
    else if (inflight >= (limit_ + 1) / 2)  // inflight · 2 >= limit, without overflow
      next = limit_ + 1;
    limit_ = std::clamp(next, o_.min, o_.max);
  }

  /// The current limit. O(1).
  [[nodiscard]] std::size_t limit() const noexcept { return limit_; }
  /// The options, as constructed.
  [[nodiscard]] const options& config() const noexcept { return o_; }

 private:
  options o_;
  std::size_t limit_;
};

/// Options of gradient2_limit: Netflix Gradient2Limit's builder defaults,
/// plus `probe_interval` (surge's; 0 gives Netflix's rule exactly).
struct gradient2_limit_options {
  std::size_t initial = 20;       ///< starting limit, in [min, max]
  std::size_t min = 20;           ///< lower bound, >= 1
  std::size_t max = 200;          ///< upper bound (Netflix's maxConcurrency), in [min, 2^40]
  double smoothing = 0.2;         ///< weight of the new estimate, in (0, 1]
  double queue_size = 4;          ///< growth allowance per sample while latency is fine, in [0, 10^12]
  double rtt_tolerance = 1.5;     ///< long/short RTT ratio tolerated before shrinking, in [1, 10^12]
  std::size_t long_window = 600;  ///< samples of the long-term RTT average, >= 1
  /// Anchors the long-term RTT (see gradient2_limit): after the warm-up a
  /// saturated sample (inflight >= limit / 2) may lower it but not raise it,
  /// and every `probe_interval` saturated samples the limit is halved (not
  /// below min) until a sample taken at that level re-measures it. In
  /// [0, 2^32]: 0 turns the anchor off (Netflix's rule exactly: the long RTT
  /// follows every sample and a saturated limit climbs to max); above 2^32
  /// (e.g. a negative count converted) throws std::invalid_argument naming
  /// probe_interval. Either way on_sample stays O(1); not thread-safe, like
  /// the algorithm (concurrency_limiter serialises it).
  std::size_t probe_interval = 60;
};

/// Latency-gradient limit after Netflix's Gradient2Limit. Per sample: the
/// long-term RTT is an exponential average over `long_window` samples (a
/// plain mean over the first 10); if it exceeds twice the sample's RTT it is
/// cut by 5 % (recovery after overload); if inflight < limit / 2 nothing else
/// changes (the caller is not using the limit); otherwise
/// gradient = clamp(rtt_tolerance · long_rtt / rtt, 0.5, 1),
/// limit = (1 − smoothing) · limit + smoothing · (gradient · limit + queue_size),
/// clamped into [min, max]. limit() is ⌊limit⌋. Drops are not an input of
/// Gradient2 (as in Netflix). With `probe_interval = 0` that is all, and it
/// is Netflix's rule exactly.
///
/// The anchor (`probe_interval` > 0, the default) is where surge differs:
/// Netflix's long-term average follows the latency the limit itself causes,
/// so in front of a backend saturated by steady demand it has no fixed point
/// and the limit climbs by up to smoothing · queue_size per update until max.
/// Anchored, after the 10-sample warm-up a saturated sample (inflight >=
/// limit / 2) enters the long-term average only when it is below it (the
/// average may fall, never rise, while the caller fills the limit); after
/// every `probe_interval` saturated samples the limit is halved (not below
/// min) and the next sample that started at or below that level replaces the
/// long-term RTT, then the limit returns to its value before the probe (as
/// BBR's ProbeRTT re-measures its minimum RTT). Samples that started above
/// the probe level are skipped; after ⌈limit⌉ + 1 of them the probe gives up
/// and keeps the old long RTT. A probe at min measures at min: a backend that
/// got slower for good becomes the new baseline there. The fixed point in
/// front of a backend whose latency rises in proportion to the calls beyond
/// its knee is latency = rtt_tolerance × the no-load latency, i.e. a limit of
/// about rtt_tolerance × knee + queue_size.
///
/// Deliberate difference in both modes: a sample with rtt <= 0 (a coarse
/// clock) is ignored; Netflix divides by it and grows the limit.
///
/// Feed it per window (windowed_limit<gradient2_limit>): per call, latency
/// noise keeps it at min, and a probe every `probe_interval` calls costs far
/// more than one every `probe_interval` windows.
///
/// Complexity O(1). Not thread-safe (concurrency_limiter serialises
/// on_sample). Bad options throw std::invalid_argument naming the field.
class gradient2_limit {
 public:
  /// The configuration type.
  using options = gradient2_limit_options;

  /// Starts at `o.initial`; throws std::invalid_argument naming the first
  /// bad field.
  explicit gradient2_limit(const options& o = options{}) : o_(o), estimate_(static_cast<double>(o.initial)) {
    detail::check_limits(o.initial, o.min, o.max, "surge::gradient2_limit");
    if (!(o.smoothing > 0.0 && o.smoothing <= 1.0))
      throw std::invalid_argument("surge::gradient2_limit: options.smoothing must be in (0, 1]");
    if (!(o.queue_size >= 0.0 && o.queue_size <= 1e12))
      throw std::invalid_argument("surge::gradient2_limit: options.queue_size must be in [0, 1e12]");
    if (!(o.rtt_tolerance >= 1.0 && o.rtt_tolerance <= 1e12))
      throw std::invalid_argument("surge::gradient2_limit: options.rtt_tolerance must be in [1, 1e12]");
    if (o.long_window < 1) throw std::invalid_argument("surge::gradient2_limit: options.long_window must be >= 1");
    if (o.probe_interval > (std::size_t{1} << 32))
      throw std::invalid_argument("surge::gradient2_limit: options.probe_interval must be in [0, 2^32]");
  }

  /// One completed call (see the class comment). `dropped` is ignored.
  void on_sample(std::chrono::nanoseconds rtt, std::size_t inflight, bool /*dropped*/) noexcept {
    if (rtt <= std::chrono::nanoseconds::zero()) return;
    const double short_rtt = static_cast<double>(rtt.count());
    if (probe_skips_left_ > 0) {  // probing: the limit is at the probe level
      if (static_cast<double>(inflight) > estimate_) {
        if (--probe_skips_left_ == 0) estimate_ = resume_;  // gave up: the old long RTT stays
        return;
      }
      probe_skips_left_ = 0;
      long_rtt_ = short_rtt;
      estimate_ = resume_;
      return;
    }
    const bool saturated = static_cast<double>(inflight) >= estimate_ / 2.0;
    const bool hold = o_.probe_interval > 0 && samples_ >= warmup && saturated;
    // Netflix's ExpAvgMeasurement(long_window, warmup 10)
    if (samples_ < warmup) {
      ++samples_;
      sum_ += short_rtt;
      long_rtt_ = sum_ / static_cast<double>(samples_);
    } else if (!hold || short_rtt < long_rtt_) {
      const double f = 2.0 / (static_cast<double>(o_.long_window) + 1.0);
      long_rtt_ = long_rtt_ * (1.0 - f) + short_rtt * f;
    }
    const double long_rtt = long_rtt_;
    if (long_rtt / short_rtt > 2.0) long_rtt_ *= 0.95;
    if (!saturated) return;
    const double gradient = std::max(0.5, std::min(1.0, o_.rtt_tolerance * long_rtt / short_rtt));
    double next = estimate_ * gradient + o_.queue_size;
    next = estimate_ * (1.0 - o_.smoothing) + next * o_.smoothing;
    estimate_ = std::max(static_cast<double>(o_.min), std::min(static_cast<double>(o_.max), next));
    if (hold && ++since_probe_ >= o_.probe_interval) {
      since_probe_ = 0;
      resume_ = estimate_;
      estimate_ = std::max(static_cast<double>(o_.min), std::floor(estimate_ / 2.0));
      // every call in flight at the cut started at most ⌈limit⌉ deep: skip that many, then give up
      probe_skips_left_ = static_cast<std::size_t>(std::ceil(resume_)) + 1;
    }
  }

  /// The current limit, ⌊estimate⌋. O(1).
  [[nodiscard]] std::size_t limit() const noexcept { return detail::limit_of(estimate_); }
  /// The unrounded estimate (the probe level while probing).
  [[nodiscard]] double estimate() const noexcept { return estimate_; }
  /// True while a probe holds the limit down (see the class comment).
  [[nodiscard]] bool probing() const noexcept { return probe_skips_left_ > 0; }
  /// The long-term RTT average, ns (0 before the first sample).
  [[nodiscard]] double long_rtt_ns() const noexcept { return long_rtt_; }
  /// The options, as constructed.
  [[nodiscard]] const options& config() const noexcept { return o_; }

 private:
  static constexpr std::size_t warmup = 10;
  options o_;
  double estimate_;
  double long_rtt_ = 0.0;
  double sum_ = 0.0;
  std::size_t samples_ = 0;
  std::size_t since_probe_ = 0;       // saturated samples since the last probe
  std::size_t probe_skips_left_ = 0;  // > 0 while probing
  double resume_ = 0.0;               // the limit to return to after a probe
};

/// Options of vegas_limit: Netflix VegasLimit's builder defaults.
struct vegas_limit_options {
  std::size_t initial = 20;           ///< starting limit, in [1, max]
  std::size_t max = 1000;             ///< upper bound (Netflix's maxConcurrency), in [1, 2^40]
  double smoothing = 1.0;             ///< weight of the new estimate, in (0, 1]
  std::size_t probe_multiplier = 30;  ///< re-probe the no-load RTT every ~that · limit samples, in [1, 2^20]
  std::uint64_t seed = 0x5eed;        ///< seed of the probe jitter (Netflix: ThreadLocalRandom)
};

/// TCP-Vegas-style limit, Netflix's VegasLimit exactly, with its default
/// functions (log = max(1, ⌊log10 ⌊limit⌋⌋)): alpha = 3·log, beta = 6·log,
/// threshold = log, increase = limit + log, decrease = limit − log.
///
/// Per sample: every `probe_multiplier · limit · jitter` samples (jitter
/// uniform in [0.5, 1), redrawn per probe) the sample becomes the new no-load
/// RTT and nothing else happens; a sample below the no-load RTT (or the first
/// one) becomes the no-load RTT. Otherwise queue = ⌈limit · (1 − noload/rtt)⌉
/// and: dropped → decrease; inflight · 2 < limit → no change; queue <=
/// threshold → limit + beta; queue < alpha → increase; queue > beta →
/// decrease; else no change. The new value is clamped into [1, max] and
/// smoothed: limit = (1 − smoothing) · limit + smoothing · new. limit() is
/// ⌊limit⌋.
///
/// Deliberate differences: the probe jitter comes from a seeded generator
/// (reproducible); a sample with rtt <= 0 is ignored (Netflix throws).
///
/// Feed it per window (windowed_limit<vegas_limit>): it then settles at the
/// knee (throughput × no-load RTT) plus alpha..beta queued calls. Per call,
/// latency noise makes the no-load RTT the fastest call ever seen and the
/// limit falls to about beta; each probe under saturation takes a loaded RTT
/// and may lift the limit by up to beta.
///
/// Complexity O(1). Not thread-safe (concurrency_limiter serialises
/// on_sample). Bad options throw std::invalid_argument naming the field.
class vegas_limit {
 public:
  /// The configuration type.
  using options = vegas_limit_options;

  /// Starts at `o.initial`; throws std::invalid_argument naming the first
  /// bad field.
  explicit vegas_limit(const options& o = options{}) : o_(o), estimate_(static_cast<double>(o.initial)), rng_(o.seed) {
    if (o.max < 1 || o.max > (std::size_t{1} << 40))
      throw std::invalid_argument("surge::vegas_limit: options.max must be in [1, 2^40]");
    if (o.initial < 1 || o.initial > o.max)
      throw std::invalid_argument("surge::vegas_limit: options.initial must be in [1, options.max]");
    if (!(o.smoothing > 0.0 && o.smoothing <= 1.0))
      throw std::invalid_argument("surge::vegas_limit: options.smoothing must be in (0, 1]");
    if (o.probe_multiplier < 1 || o.probe_multiplier > (std::size_t{1} << 20))
      throw std::invalid_argument("surge::vegas_limit: options.probe_multiplier must be in [1, 2^20]");
    redraw_jitter();
  }

  /// One completed call (see the class comment).
  void on_sample(std::chrono::nanoseconds rtt, std::size_t inflight, bool dropped) noexcept {
    if (rtt <= std::chrono::nanoseconds::zero()) return;
    ++probe_count_;
    if (jitter_ * static_cast<double>(o_.probe_multiplier) * estimate_ <= static_cast<double>(probe_count_)) {
      redraw_jitter();
      probe_count_ = 0;
      noload_ = rtt.count();
      return;
    }
    if (noload_ == 0 || rtt.count() < noload_) {
      noload_ = rtt.count();
      return;
    }
    const double queue = std::ceil(estimate_ * (1.0 - static_cast<double>(noload_) / static_cast<double>(rtt.count())));
    const std::size_t whole = detail::limit_of(estimate_);
    const auto lg = static_cast<double>(detail::log10_root(whole));
    double next = 0.0;
    if (dropped) {
      next = estimate_ - lg;
    } else if (static_cast<double>(inflight) * 2.0 < estimate_) {
      return;
    } else {
      const double alpha = 3.0 * lg, beta = 6.0 * lg, threshold = lg;
      if (queue <= threshold)
        next = estimate_ + beta;
      else if (queue < alpha)
        next = estimate_ + lg;
      else if (queue > beta)
        next = estimate_ - lg;
      else
        return;
    }
    next = std::max(1.0, std::min(static_cast<double>(o_.max), next));
    estimate_ = (1.0 - o_.smoothing) * estimate_ + o_.smoothing * next;
  }

  /// The current limit, ⌊estimate⌋. O(1).
  [[nodiscard]] std::size_t limit() const noexcept { return detail::limit_of(estimate_); }
  /// The unrounded estimate.
  [[nodiscard]] double estimate() const noexcept { return estimate_; }
  /// The no-load RTT, ns (0 before the first sample).
  [[nodiscard]] std::int64_t noload_rtt_ns() const noexcept { return noload_; }
  /// The probe jitter in force, in [0.5, 1).
  [[nodiscard]] double probe_jitter() const noexcept { return jitter_; }
  /// The options, as constructed.
  [[nodiscard]] const options& config() const noexcept { return o_; }

 private:
  void redraw_jitter() noexcept {
    // splitmix64, then 53 bits to [0, 1), mapped to [0.5, 1)
    std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    jitter_ = 0.5 + 0.5 * static_cast<double>(z >> 11) * 0x1.0p-53;
  }

  options o_;
  double estimate_;
  std::uint64_t rng_;
  double jitter_ = 0.75;
  std::size_t probe_count_ = 0;
  std::int64_t noload_ = 0;
};

/// The per-sample form of an algorithm: on_sample(rtt, inflight, dropped).
template <class A>
concept concurrency_limit_sampled = requires(A& a, std::chrono::nanoseconds rtt, std::size_t inflight, bool dropped) {
  a.on_sample(rtt, inflight, dropped);
};

/// The timed form: on_sample(rtt, inflight, dropped, end), `end` the call's
/// end as nanoseconds since the limiter's construction (windowed_limit; only
/// differences of ends matter).
template <class A>
concept concurrency_limit_timed = requires(A& a, std::chrono::nanoseconds rtt, std::size_t inflight, bool dropped,
                                           std::chrono::nanoseconds end) {
  a.on_sample(rtt, inflight, dropped, end);
};

/// What concurrency_limiter needs of an algorithm: a const limit() and either
/// form of on_sample (the timed one is preferred when both exist).
template <class A>
concept concurrency_limit_algorithm = requires(const A& ca) {
  { ca.limit() } -> std::convertible_to<std::size_t>;
}
&&(concurrency_limit_sampled<A> || concurrency_limit_timed<A>);

/// Options of windowed_limit: Netflix WindowedLimit's builder defaults.
struct windowed_limit_options {
  std::chrono::nanoseconds min_window = std::chrono::seconds(1);  ///< shortest window, > 0
  std::chrono::nanoseconds max_window = std::chrono::seconds(1);  ///< longest window, >= min_window
  std::size_t window_size = 10;                                   ///< fewest samples for a window to count, >= 1
  std::chrono::nanoseconds min_rtt_threshold = std::chrono::microseconds(100);  ///< shorter samples are ignored, >= 0
};

/// Feeds an algorithm once per sampling window instead of once per call,
/// Netflix's WindowedLimit with its average sample window: each sample with
/// rtt >= min_rtt_threshold joins the window (sum and minimum of the RTTs,
/// most calls in flight, any drop). The sample that ends after the window's
/// deadline closes it: the next deadline is its end +
/// clamp(2 · the window's lowest RTT, min_window, max_window), and a window
/// of at least window_size samples reaches the algorithm as one sample
/// (mean RTT, most in flight, dropped if any was); a smaller one is discarded.
/// The first sample closes the first window at once.
///
/// Why: Vegas and Gradient2 are written for one update per window (their
/// defaults — a probe every 30 · limit updates, a long average over 600 —
/// count windows). Fed every call, a backend's latency noise swamps the
/// queueing signal (Vegas falls to about its beta, Gradient2 to its min) and
/// their slow mechanisms run thousands of times too fast. Use
/// `concurrency_limiter<windowed_limit<vegas_limit>>`.
///
/// Complexity O(1). Not thread-safe (concurrency_limiter serialises
/// on_sample). Bad options throw std::invalid_argument naming the field.
/// Times saturate at the range of std::chrono::nanoseconds.
template <concurrency_limit_sampled Algorithm>
class windowed_limit {
 public:
  /// The algorithm fed one sample per window.
  using algorithm_type = Algorithm;
  /// The configuration type.
  using options = windowed_limit_options;

  /// Wraps `algorithm` (its options checked by its constructor).
  explicit windowed_limit(Algorithm algorithm = Algorithm{}, const options& o = options{})
      : o_(o), algo_(std::move(algorithm)) {
    if (o.min_window <= std::chrono::nanoseconds::zero())
      throw std::invalid_argument("surge::windowed_limit: options.min_window must be > 0");
    if (o.max_window < o.min_window)
      throw std::invalid_argument("surge::windowed_limit: options.max_window must be >= options.min_window");
    if (o.window_size < 1) throw std::invalid_argument("surge::windowed_limit: options.window_size must be >= 1");
    if (o.min_rtt_threshold < std::chrono::nanoseconds::zero())
      throw std::invalid_argument("surge::windowed_limit: options.min_rtt_threshold must be >= 0");
  }

  /// One completed call ending at `end` (nanoseconds from any fixed origin:
  /// concurrency_limiter counts from its construction); see the class
  /// comment.
  void on_sample(std::chrono::nanoseconds rtt, std::size_t inflight, bool dropped, std::chrono::nanoseconds end) {
    if (rtt < o_.min_rtt_threshold) return;
    sum_ += static_cast<double>(rtt.count());
    ++count_;
    min_rtt_ = std::min(min_rtt_, rtt);
    max_inflight_ = std::max(max_inflight_, inflight);
    dropped_ = dropped_ || dropped;
    if (end <= next_update_) return;
    const auto twice = min_rtt_ > std::chrono::nanoseconds::max() / 2 ? std::chrono::nanoseconds::max() : 2 * min_rtt_;
    next_update_ =
        std::chrono::nanoseconds(detail::add_sat(end.count(), std::clamp(twice, o_.min_window, o_.max_window).count()));
    const window w{sum_ / static_cast<double>(count_), count_, max_inflight_, dropped_};
    sum_ = 0.0;
    count_ = 0;
    min_rtt_ = std::chrono::nanoseconds::max();
    max_inflight_ = 0;
    dropped_ = false;
    if (w.count < o_.window_size) return;
    ++windows_;
    // the mean of values <= 2^63 - 1 may round up to 2^63 as a double: clamp to the largest double below it
    const double mean = std::min(w.mean, 0x1.fffffffffffffp62);
    algo_.on_sample(std::chrono::nanoseconds(static_cast<std::int64_t>(mean)), w.max_inflight, w.dropped);
  }

  /// The wrapped algorithm's limit. O(1).
  [[nodiscard]] std::size_t limit() const noexcept(noexcept(std::declval<const Algorithm&>().limit())) {
    return detail::as_limit(algo_.limit());
  }
  /// The wrapped algorithm (to read its state).
  [[nodiscard]] const Algorithm& algorithm() const noexcept { return algo_; }
  /// Windows passed to the algorithm so far.
  [[nodiscard]] std::uint64_t windows() const noexcept { return windows_; }
  /// The options, as constructed.
  [[nodiscard]] const options& config() const noexcept { return o_; }

 private:
  struct window {
    double mean;
    std::size_t count;
    std::size_t max_inflight;
    bool dropped;
  };
  options o_;
  Algorithm algo_;
  std::chrono::nanoseconds next_update_ = std::chrono::nanoseconds::min();
  double sum_ = 0.0;
  std::size_t count_ = 0;
  std::chrono::nanoseconds min_rtt_ = std::chrono::nanoseconds::max();
  std::size_t max_inflight_ = 0;
  bool dropped_ = false;
  std::uint64_t windows_ = 0;
};

/// An adaptive in-flight limit (Netflix's SimpleLimiter): try_acquire()
/// admits a call while fewer than limit() calls are in flight and returns a
/// token; the token's success() / dropped() feed the call's round-trip time,
/// the in-flight count at its start (itself included) and the outcome to the
/// Algorithm, which moves the limit; ignore() (or destroying an unfinished
/// token) releases the slot without a sample.
///
/// Deliberate difference: admission is one compare-and-swap on the in-flight
/// count, so the limit is never exceeded (Netflix checks, then increments,
/// and can overshoot under a race).
///
/// Complexity: try_acquire O(1) (a CAS loop, lock-free); success/dropped O(1)
/// under a mutex held for the algorithm's update only; ignore O(1), lock-free.
/// Thread safety: every member is thread-safe; tokens are move-only and each
/// used by one thread at a time.
/// An Algorithm with the timed on_sample(rtt, inflight, dropped, end) gets
/// the call's end as well, in nanoseconds since the limiter's construction
/// (exact for 292 years of readings on either side, whatever the clock's
/// epoch; saturating beyond).
/// Bad input: the Algorithm's options are checked by its constructor. A clock
/// reading earlier than the token's start gives rtt 0; an RTT or end beyond
/// the range of std::chrono::nanoseconds saturates. An Algorithm whose limit()
/// is a floating-point number has it floored (NaN and values below 1 give 0:
/// nothing is admitted) and capped at 10^18; a negative integer gives 0.
/// Exceptions (basic guarantee): one thrown by the Algorithm's on_sample() or
/// limit() propagates out of success() / dropped(), the call's slot already
/// released and the token finished; limit() then keeps the value read before
/// until a later sample. One thrown by Clock::now() leaves the token as it was.
template <class Algorithm, class Clock = std::chrono::steady_clock>
class concurrency_limiter {
  static_assert(
      concurrency_limit_algorithm<Algorithm>,
      "surge::concurrency_limiter<Algorithm>: Algorithm needs on_sample(std::chrono::nanoseconds, "
      "std::size_t, bool) or on_sample(std::chrono::nanoseconds, std::size_t, bool, std::chrono::nanoseconds) "
      "and a const limit() convertible to std::size_t");

 public:
  /// The algorithm that moves the limit.
  using algorithm_type = Algorithm;
  /// The clock that times the calls.
  using clock_type = Clock;
  /// Clock's time point (a call's start).
  using time_point = typename Clock::time_point;

  /// A call's permission to run. Move-only; `explicit operator bool` says
  /// whether it was granted. Finishing it (success, dropped, ignore) or
  /// destroying it gives the slot back; finishing an empty or finished token
  /// does nothing.
  class token {
   public:
    token() = default;
    /// Takes over `o`'s slot; `o` is left empty.
    token(token&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), start_(o.start_), inflight_(o.inflight_) {}
    /// Ignores this token's call (releasing its slot, no sample), then takes
    /// over `o`'s; `o` is left empty. Self-assignment does nothing.
    token& operator=(token&& o) noexcept {
      if (this != &o) {
        ignore();
        owner_ = std::exchange(o.owner_, nullptr);
        start_ = o.start_;
        inflight_ = o.inflight_;
      }
      return *this;
    }
    token(const token&) = delete;
    token& operator=(const token&) = delete;
    ~token() { ignore(); }

    /// True when granted and not yet finished.
    explicit operator bool() const noexcept { return owner_ != nullptr; }

    /// The call succeeded: its RTT (now − start) becomes a sample.
    void success() { success(Clock::now()); }
    /// success at the given clock reading (RTT = now − start).
    void success(time_point now) { finish(now, false); }
    /// The call was dropped (timed out, rejected downstream): a drop sample.
    void dropped() { dropped(Clock::now()); }
    /// dropped at the given clock reading.
    void dropped(time_point now) { finish(now, true); }
    /// The call ended without telling anything about the backend (e.g. the
    /// client gave up): releases the slot, no sample.
    void ignore() noexcept {
      if (owner_) std::exchange(owner_, nullptr)->release();
    }

    /// When the call started.
    [[nodiscard]] time_point start() const noexcept { return start_; }
    /// The calls in flight when it started, itself included.
    [[nodiscard]] std::size_t inflight_at_start() const noexcept { return inflight_; }

   private:
    friend class concurrency_limiter;
    token(concurrency_limiter* owner, time_point start, std::size_t inflight) noexcept
        : owner_(owner), start_(start), inflight_(inflight) {}
    void finish(time_point now, bool drop) {
      if (!owner_) return;
      using ns = std::chrono::nanoseconds;
      const ns rtt = now > start_ ? ns(detail::to_ns_sat(detail::elapsed_sat(start_, now))) : ns::zero();
      concurrency_limiter* const o = std::exchange(owner_, nullptr);
      o->sample(rtt, inflight_, drop, ns(detail::to_ns_sat(detail::elapsed_sat(o->origin_, now))));
    }

    concurrency_limiter* owner_ = nullptr;
    time_point start_{};
    std::size_t inflight_ = 0;
  };

  /// A limiter running `algorithm` (its options checked by its constructor).
  explicit concurrency_limiter(Algorithm algorithm = Algorithm{}) : algo_(std::move(algorithm)) {
    limit_.store(detail::as_limit(algo_.limit()), std::memory_order_relaxed);
  }
  concurrency_limiter(const concurrency_limiter&) = delete;
  concurrency_limiter& operator=(const concurrency_limiter&) = delete;

  /// A token if fewer than limit() calls are in flight, else an empty one.
  /// O(1), lock-free.
  [[nodiscard]] token try_acquire() { return try_acquire(Clock::now()); }

  /// try_acquire with the call's start time given.
  [[nodiscard]] token try_acquire(time_point now) noexcept {
    std::size_t cur = inflight_.load(std::memory_order_relaxed);
    do {
      if (cur >= limit_.load(std::memory_order_relaxed)) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        return token{};
      }
    } while (!inflight_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_relaxed));
    return token(this, now, cur + 1);
  }

  /// The current limit. O(1), a racing reader.
  [[nodiscard]] std::size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  /// Calls in flight. O(1), a racing reader.
  [[nodiscard]] std::size_t inflight() const noexcept { return inflight_.load(std::memory_order_relaxed); }
  /// try_acquire calls refused so far. O(1), a racing reader.
  [[nodiscard]] std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

  /// Runs f(algorithm) under the limiter's lock (to read its state).
  template <class F>
  decltype(auto) with_algorithm(F&& f) const {
    const std::lock_guard lock(mutex_);
    return std::forward<F>(f)(std::as_const(algo_));
  }

 private:
  void release() noexcept { inflight_.fetch_sub(1, std::memory_order_acq_rel); }

  void sample(std::chrono::nanoseconds rtt, std::size_t inflight, bool dropped, std::chrono::nanoseconds end) {
    release();
    const std::lock_guard lock(mutex_);
    if constexpr (concurrency_limit_timed<Algorithm>)
      algo_.on_sample(rtt, inflight, dropped, end);
    else
      algo_.on_sample(rtt, inflight, dropped);
    limit_.store(detail::as_limit(algo_.limit()), std::memory_order_relaxed);
  }

  std::atomic<std::size_t> inflight_{0};
  std::atomic<std::size_t> limit_{0};
  std::atomic<std::uint64_t> rejected_{0};
  mutable std::mutex mutex_;
  Algorithm algo_;
  // calls' ends are counted from here: from the clock's epoch they would
  // saturate for a clock whose readings lie 292 years or more after it
  time_point origin_ = Clock::now();
};

}  // namespace surge

#endif  // SURGE_RESILIENCE_CONCURRENCY_LIMIT_HPP
