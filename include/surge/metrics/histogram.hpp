/// @file surge/metrics/histogram.hpp
/// A lock-free latency histogram with HdrHistogram's log-linear bucket layout:
/// fixed memory, every recorded value kept within a stated relative precision,
/// percentiles, mean and standard deviation, merge and iteration.
#ifndef SURGE_METRICS_HISTOGRAM_HPP
#define SURGE_METRICS_HISTOGRAM_HPP

#include <surge/detail/cache_line.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/saturate.hpp>
#include <surge/detail/thread_slot.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

namespace surge {

/// A summary of a histogram at one moment: what `surge/fmt.hpp` prints.
/// A plain value type.
struct histogram_summary {
  std::uint64_t count = 0;    ///< values recorded (saturating)
  std::uint64_t clamped = 0;  ///< of which were outside [0, highest_trackable] and clamped
  std::int64_t min = 0;       ///< exact smallest recorded value (0 when empty)
  std::int64_t max = 0;       ///< exact largest recorded value (0 when empty)
  double mean = 0.0;          ///< within the histogram's precision (0 when empty)
  double stddev = 0.0;        ///< population standard deviation, within max · 10^−d / 2 (absolute)
  std::int64_t p50 = 0;       ///< value_at_percentile(50)
  std::int64_t p90 = 0;       ///< value_at_percentile(90)
  std::int64_t p99 = 0;       ///< value_at_percentile(99)
  std::int64_t p999 = 0;      ///< value_at_percentile(99.9)

  /// True when every field is equal.
  friend bool operator==(const histogram_summary&, const histogram_summary&) noexcept = default;
};

/// How many copies of its counters a `latency_histogram` keeps, so that
/// threads recording at once write different cache lines: a power of two in
/// [1, 256]. Each live thread records into copy `id mod count`, where the ids
/// of the threads alive at one time are distinct and small (0, 1, 2, ...,
/// recycled when threads exit). A thread takes its id the first time it uses
/// any surge structure that spreads threads (a striped histogram, a
/// balancer's random stream): with `count` at least the number of live
/// threads that have one, no two recording threads share a counter.
/// Readers add the copies up.
struct histogram_stripes {
  std::size_t count = 1;  ///< copies of the counters; a power of two in [1, 256]
};

/// A histogram of non-negative integer values (latencies in nanoseconds, by
/// default) with HdrHistogram's log-linear layout.
///
/// **Layout** (HdrHistogram's, with a lowest discernible value of 1): values
/// below 2·10^d (d = significant_digits) each have a counter of their own;
/// above, each power-of-two range [2^k, 2^(k+1)) is split into
/// `sub_bucket_count / 2` equal sub-buckets, where `sub_bucket_count` is the
/// power of two at or above 2·10^d. The bucket of a value is found from its
/// leading-zero count; no search, no floating point. So every value v is
/// represented by a bucket [lo, hi] with v in it and hi − lo < v·10^−d: the
/// relative error of every value reported (a percentile, the mean) is below
/// 10^−d.
///
/// **Memory** is fixed at construction: one 64-bit counter per sub-bucket,
/// (buckets + 1) · sub_bucket_count / 2 counters, 264 KiB (270,336 bytes) for the
/// defaults (one hour in ns, 3 digits) and 26 MiB for 5 digits, times the
/// number of stripes; see `memory_size()`. Nothing allocates afterwards,
/// except that with stripes a thread's first record registers the thread for
/// its id (a mutex and at most a few bytes, once per thread for the process).
///
/// **Stripes** (`histogram_stripes`, default 1): with one set of counters,
/// threads that record values of the same buckets at once write the same
/// cache lines, and each such record may wait for a line to come over from
/// another core. A histogram built with k stripes keeps k sets of counters,
/// each thread records into its own (see `histogram_stripes`), and the
/// observers add the k counters of each bucket up: records scale with
/// threads, memory and every observer cost k times as much. Results are the
/// same for any k.
///
/// **Percentiles** use the nearest-rank definition, as HdrHistogram does: the
/// value at percentile p is the smallest recorded value x such that at least
/// ⌈p/100 · count⌉ (at least 1) of the values are <= x. The histogram returns
/// the highest value of the bucket holding x, capped at max(): a result r
/// with x <= r <= x + x·10^−d. p = 0 gives min(), p = 100 gives max(), both exact.
///
/// **mean() and stddev()** are computed from the buckets (each value taken at
/// the middle of its bucket, as HdrHistogram does), which moves each value v by
/// less than v·10^−d / 2. So the mean carries the same relative precision;
/// the standard deviation is off by less than max() · 10^−d / 2, an absolute
/// bound, not a relative one: values that share a bucket count as equal, and
/// a spread narrower than a bucket reads 0 (2048 and 2049 at 3 digits).
/// min() and max() are exact.
///
/// **Out-of-range values**: a value below 0 is recorded as 0 and one above
/// `highest_trackable()` as highest_trackable(); either way `clamped()` counts
/// it. Never UB. Counters saturate at 2^64 − 1 instead of wrapping.
///
/// Complexity: record O(1) (one relaxed atomic add on the value's counter, plus
/// a compare-and-swap only when the value is a new minimum or maximum; with
/// stripes, a thread's first record takes a mutex once to give the thread its
/// id). count(), value_at_percentile(), mean(), stddev(), merge(), reset() and
/// iteration are O(number of counters × stripes).
///
/// Thread safety: record() is lock-free (on a striped histogram, after the
/// calling thread's first use of a striped histogram, which takes a mutex once
/// and may allocate a few bytes: record() being noexcept, running out of
/// memory there ends the program with std::terminate)
/// and may be called from any number of threads at once, together with every
/// other member. The observers (count,
/// percentiles, mean, iteration) are racing readers: while records are in
/// flight they see each counter atomically but the histogram as a whole at no
/// single instant (each record is either seen or not). merge() adds other's
/// counters one by one, atomically each, into the calling thread's stripe.
/// reset() is not atomic with respect to concurrent records: a record racing
/// with it is kept or lost, and it may be kept in count() and the buckets
/// while lost in min() and max() (which then read 0 until a later record
/// moves them), or the other way round: lost in count() and the buckets while
/// kept in min() and max(), which then report its value, even while count()
/// is 0, until a later record moves them past it or the next reset. Either
/// way percentiles stay within the bucket of the value they report (a
/// cleared extreme gives way to the bucket's own bound).
///
/// Bad input: highest_trackable < 2, significant_digits outside [1, 5], or a
/// stripe count that is not a power of two in [1, 256], throw
/// std::invalid_argument naming the argument; a bool, a character or a
/// floating-point significant_digits does not compile. p outside [0, 100] or
/// NaN is clamped into [0, 100] (NaN reads as 0).
class latency_histogram {
 public:
  /// One hour in nanoseconds: the default highest trackable value.
  static constexpr std::int64_t one_hour_ns = std::int64_t{3600} * 1000 * 1000 * 1000;

  /// A bucket that holds recorded values: every value in [lowest, highest]
  /// (inclusive) was counted here, `count` times in total.
  struct bucket {
    std::int64_t lowest = 0;   ///< The smallest value of the bucket.
    std::int64_t highest = 0;  ///< The largest value of the bucket.
    std::uint64_t count = 0;   ///< Values counted in it.
    /// True when bounds and count are equal.
    friend bool operator==(const bucket&, const bucket&) noexcept = default;
  };

  /// A bool, a character or a floating-point number as significant_digits
  /// does not compile (it would convert to int silently: 2.5 would be 2).
  template <detail::not_a_count D>
  explicit latency_histogram(std::int64_t highest_trackable, const D&, histogram_stripes stripes = {})
      : latency_histogram(highest_trackable, 3, stripes) {
    static_assert(detail::refused_count<D>,
                  "surge::latency_histogram: significant_digits must be an integer, not a bool, a character or a "
                  "floating-point number");
  }

  /// Values in [0, highest_trackable], each represented within a relative
  /// error of 10^−significant_digits, in `stripes.count` sets of counters.
  /// Throws std::invalid_argument naming the argument for highest_trackable
  /// < 2, significant_digits not in [1, 5] or a stripe count that is not a
  /// power of two in [1, 256]; std::bad_alloc when the counters do not fit.
  explicit latency_histogram(std::int64_t highest_trackable = one_hour_ns, int significant_digits = 3,
                             histogram_stripes stripes = {})
      : highest_(highest_trackable), digits_(significant_digits) {
    if (highest_trackable < 2)
      throw std::invalid_argument("surge::latency_histogram: highest_trackable must be >= 2, got " +
                                  std::to_string(highest_trackable));
    if (significant_digits < 1 || significant_digits > 5)
      throw std::invalid_argument("surge::latency_histogram: significant_digits must be in [1, 5], got " +
                                  std::to_string(significant_digits));
    if (stripes.count > max_stripes || !std::has_single_bit(stripes.count))
      throw std::invalid_argument("surge::latency_histogram: stripes.count must be a power of two in [1, 256], got " +
                                  std::to_string(stripes.count));
    std::int64_t single_unit = 2;  // largest value with single-unit resolution: 2 * 10^d
    for (int i = 0; i < significant_digits; ++i) single_unit *= 10;
    sub_bucket_magnitude_ = static_cast<unsigned>(std::bit_width(static_cast<std::uint64_t>(single_unit - 1)));
    sub_bucket_half_magnitude_ = sub_bucket_magnitude_ - 1;
    sub_bucket_count_ = std::int64_t{1} << sub_bucket_magnitude_;
    sub_bucket_half_count_ = sub_bucket_count_ / 2;
    sub_bucket_mask_ = static_cast<std::uint64_t>(sub_bucket_count_ - 1);
    // buckets needed so that highest_trackable has a counter of its own
    unsigned buckets = 1;
    std::uint64_t smallest_untrackable = static_cast<std::uint64_t>(sub_bucket_count_);
    while (smallest_untrackable <= static_cast<std::uint64_t>(highest_trackable)) {
      smallest_untrackable <<= 1;
      ++buckets;
    }
    bucket_count_ = buckets;
    length_ = static_cast<std::size_t>(buckets + 1) * static_cast<std::size_t>(sub_bucket_half_count_);
    // stripes are kept a prefetched line pair apart
    stride_ = length_ + (stripes.count > 1 ? stripe_gap : 0);
    stripe_mask_ = stripes.count - 1;
    counts_ = std::make_unique<std::atomic<std::uint64_t>[]>(stride_ * stripes.count);
    reset();
  }

  /// The default range and precision in `stripes.count` sets of counters (see
  /// the constructor above).
  explicit latency_histogram(histogram_stripes stripes) : latency_histogram(one_hour_ns, 3, stripes) {}

  latency_histogram(const latency_histogram&) = delete;
  latency_histogram& operator=(const latency_histogram&) = delete;

  // ---- recording (lock-free) ------------------------------------------------

  /// Counts `value` once. O(1), lock-free (but see Thread safety for a
  /// thread's first record on a striped histogram), noexcept; out-of-range
  /// values are clamped and counted by clamped().
  void record(std::int64_t value) noexcept { record(value, 1); }

  /// record with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <detail::not_a_count C>
  void record(std::int64_t, const C&) noexcept {
    static_assert(detail::refused_count<C>,
                  "surge::latency_histogram::record: count must be an integer, not a bool, a character or a "
                  "floating-point number");
  }

  /// Counts `value` `count` times (count 0 records nothing). O(1), lock-free.
  /// A bool, a character or a floating-point count does not compile.
  void record(std::int64_t value, std::uint64_t count) noexcept {
    if (value < 0 || value > highest_) [[unlikely]] {
      value = value < 0 ? 0 : highest_;
      detail::count_add(value == 0 ? clamped_low_ : clamped_high_, count);
    }
    if (count == 0) return;
    detail::count_add(my_stripe()[index_of(value)], count);
    if (value < min_.load(std::memory_order_relaxed)) [[unlikely]]
      update_extreme(min_, value, [](std::int64_t a, std::int64_t b) { return a < b; });
    if (value > max_.load(std::memory_order_relaxed)) [[unlikely]]
      update_extreme(max_, value, [](std::int64_t a, std::int64_t b) { return a > b; });
  }

  // ---- observers (racing readers) -------------------------------------------

  /// Values recorded (saturating at 2^64 − 1). O(number of counters).
  [[nodiscard]] std::uint64_t count() const noexcept {
    std::uint64_t n = 0;  // every stripe in one sequential pass (the gaps between them hold 0)
    for (std::size_t i = 0; i < stride_ * stripes(); ++i)
      n = detail::count_add_sat(n, counts_[i].load(std::memory_order_relaxed));
    return n;
  }

  /// Values that were outside [0, highest_trackable] and were clamped.
  [[nodiscard]] std::uint64_t clamped() const noexcept {
    return detail::count_add_sat(clamped_low_.load(std::memory_order_relaxed),
                                 clamped_high_.load(std::memory_order_relaxed));
  }

  /// Exact smallest recorded (clamped) value; 0 when empty. O(1).
  [[nodiscard]] std::int64_t min() const noexcept {
    const std::int64_t m = min_.load(std::memory_order_relaxed);
    return m == empty_min ? 0 : m;
  }

  /// Exact largest recorded (clamped) value; 0 when empty. O(1).
  [[nodiscard]] std::int64_t max() const noexcept {
    const std::int64_t m = max_.load(std::memory_order_relaxed);
    return m == empty_max ? 0 : m;
  }

  /// The nearest-rank value at percentile p (see the class comment), within
  /// the relative precision; 0 when empty. p is clamped into [0, 100] (NaN
  /// reads as 0). The rank, ceil(p / 100 × count()), is exact for a p of at
  /// most six decimals (99.9 is read as 999/10, not as its double). O(number
  /// of counters).
  [[nodiscard]] std::int64_t value_at_percentile(double p) const noexcept {
    const std::uint64_t total = count();
    if (total == 0) return 0;
    const bool smallest = !(p > 0.0);  // percentile 0 is the exact minimum
    if (p >= 100.0) {                  // the exact maximum (whatever the counts sum to)
      for (std::size_t i = length_; i-- > 0;)
        if (load(i) != 0) return within_extremes(i, false);
    } else {
      const std::uint64_t rank = rank_at(p, total);
      std::uint64_t seen = 0;
      for (std::size_t i = 0; i < length_; ++i) {
        seen = detail::count_add_sat(seen, load(i));
        if (seen >= rank) return within_extremes(i, smallest);
      }
    }
    return max();  // counters moved under us
  }

  /// Arithmetic mean of the recorded values (bucket midpoints, see the class
  /// comment); 0 when empty. O(number of counters).
  [[nodiscard]] double mean() const noexcept { return moments().mean; }

  /// Population standard deviation of the recorded values (bucket midpoints),
  /// off by less than max() · 10^−d / 2 (see the class comment); 0 when
  /// empty. O(number of counters).
  [[nodiscard]] double stddev() const noexcept { return moments().stddev; }

  /// count, clamped, min, max, mean, stddev and the 50th, 90th, 99th and
  /// 99.9th percentiles. O(number of counters).
  [[nodiscard]] histogram_summary summary() const noexcept {
    histogram_summary s;
    s.count = count();
    s.clamped = clamped();
    s.min = min();
    s.max = max();
    const auto m = moments();
    s.mean = m.mean;
    s.stddev = m.stddev;
    s.p50 = value_at_percentile(50.0);
    s.p90 = value_at_percentile(90.0);
    s.p99 = value_at_percentile(99.0);
    s.p999 = value_at_percentile(99.9);
    return s;
  }

  // ---- combining and clearing ----------------------------------------------

  /// Adds every count of `other` into this histogram (HdrHistogram's add), as
  /// record() would: each of other's buckets is recorded here at its highest
  /// value (other's max for the bucket holding it), except for one count of
  /// the bucket holding other's min, recorded at that min (HdrHistogram
  /// records each at its lowest value, below the values it holds). So every
  /// value stands for one at least as large, and the percentile guarantee of
  /// the class comment holds with the precision of the coarser layout: x <=
  /// r <= x + x·10^−d for d the fewer significant digits of the two (and
  /// percentile 0 stays min()). A bucket starting above this histogram's
  /// highest_trackable is recorded as highest_trackable() and counted in
  /// clamped(). When both have the same counters and other's range does not
  /// reach past this one's, that is adding counters index by index.
  /// other's clamped() count and exact min/max (clamped to this range) carry
  /// over. merge(*this) doubles every count. Either may have any number of
  /// stripes. Thread-safe (each counter atomically); O(counters × stripes of
  /// both).
  void merge(const latency_histogram& other) noexcept {
    std::atomic<std::uint64_t>* const mine = my_stripe();
    const std::uint64_t other_high = other.clamped_high_.load(std::memory_order_relaxed);
    const std::size_t other_top = other.index_of(other.highest_);
    const std::int64_t omin = other.min_.load(std::memory_order_relaxed);
    const std::int64_t omax = other.max_.load(std::memory_order_relaxed);
    if (same_layout(other) && other.highest_ <= highest_) {  // every value of other fits here
      for (std::size_t i = 0; i < length_; ++i) {
        const std::uint64_t c = other.load(i);
        if (c != 0) detail::count_add(mine[i], c);
      }
    } else {
      for (std::size_t i = 0; i < other.length_; ++i) {
        const std::uint64_t c = other.load(i);
        if (c == 0) continue;
        const std::int64_t low = other.value_at_index(i);
        const std::int64_t high = low + (other.width_at_index(i) - 1);
        const std::int64_t top = std::min(omax >= low && omax <= high ? omax : high, highest_);
        if (omin >= low && omin <= high) {  // the min keeps its place; the bucket's other values are <= top
          detail::count_add(mine[index_of(std::min(omin, highest_))], 1);
          if (c > 1) detail::count_add(mine[index_of(top)], c - 1);
        } else {
          detail::count_add(mine[index_of(top)], c);
        }
        // other's own clamped values are in its top bucket, and counted below
        if (low > highest_)
          detail::count_add(clamped_high_, i == other_top ? c - std::min(c, other_high) : c);
      }
    }
    detail::count_add(clamped_low_, other.clamped_low_.load(std::memory_order_relaxed));
    detail::count_add(clamped_high_, other_high);
    if (omin != empty_min)
      update_extreme(min_, std::min(omin, highest_), [](std::int64_t a, std::int64_t b) { return a < b; });
    if (omax != empty_max)
      update_extreme(max_, std::min(omax, highest_), [](std::int64_t a, std::int64_t b) { return a > b; });
  }

  /// Sets every count to 0, and min/max/clamped back to empty. O(counters).
  /// Not atomic with respect to concurrent record() (see the class comment).
  void reset() noexcept {
    for (std::size_t i = 0; i < stride_ * stripes(); ++i) counts_[i].store(0, std::memory_order_relaxed);
    clamped_low_.store(0, std::memory_order_relaxed);
    clamped_high_.store(0, std::memory_order_relaxed);
    min_.store(empty_min, std::memory_order_relaxed);
    max_.store(empty_max, std::memory_order_relaxed);
  }

  // ---- layout ---------------------------------------------------------------

  /// The highest trackable value, as constructed (see the class comment for
  /// values outside [0, highest_trackable]).
  [[nodiscard]] std::int64_t highest_trackable() const noexcept { return highest_; }
  /// The precision, as constructed: decimal significant digits kept for
  /// every value.
  [[nodiscard]] int significant_digits() const noexcept { return digits_; }
  /// The number of stripes (sets of counters), as constructed.
  [[nodiscard]] std::size_t stripes() const noexcept { return stripe_mask_ + 1; }
  /// Bytes of counters allocated at construction (every stripe).
  [[nodiscard]] std::size_t memory_size() const noexcept {
    return stride_ * stripes() * sizeof(std::atomic<std::uint64_t>);
  }
  /// Number of counters (sub-buckets) in one stripe.
  [[nodiscard]] std::size_t counter_count() const noexcept { return length_; }

  /// The lowest value in v's bucket (v clamped into [0, highest_trackable]).
  [[nodiscard]] std::int64_t lowest_equivalent(std::int64_t v) const noexcept {
    return value_at_index(index_of(std::clamp<std::int64_t>(v, 0, highest_)));
  }
  /// The highest value in v's bucket (v clamped into [0, highest_trackable]).
  [[nodiscard]] std::int64_t highest_equivalent(std::int64_t v) const noexcept {
    const std::size_t i = index_of(std::clamp<std::int64_t>(v, 0, highest_));
    return value_at_index(i) + (width_at_index(i) - 1);
  }

  // ---- iteration over recorded buckets --------------------------------------

  /// Iterator over the buckets with a non-zero count, in increasing value
  /// order; dereferences to a `bucket` by value (a racing snapshot of that
  /// counter). A C++20 forward iterator (std::forward_iterator, ranges
  /// algorithms); to the older iterator requirements, which want a forward
  /// iterator's `*it` to be a reference, an input iterator.
  class const_iterator {
   public:
    /// An input iterator to the older requirements (`*it` is not a reference).
    using iterator_category = std::input_iterator_tag;
    /// A forward iterator to C++20's (multi-pass, equality-comparable).
    using iterator_concept = std::forward_iterator_tag;
    /// What it yields.
    using value_type = bucket;
    /// Iterator distance type.
    using difference_type = std::ptrdiff_t;
    /// No pointer: buckets are yielded by value.
    using pointer = void;
    /// Dereferencing yields a bucket by value.
    using reference = bucket;

    /// A singular iterator (compare or assign it only).
    const_iterator() = default;
    /// The current bucket (its count read now, a racing snapshot).
    bucket operator*() const noexcept {
      bucket b;
      b.lowest = h_->value_at_index(i_);
      b.highest = b.lowest + (h_->width_at_index(i_) - 1);
      b.count = h_->load(i_);
      return b;
    }
    /// Advances to the next bucket with a non-zero count (or end()).
    const_iterator& operator++() noexcept {
      i_ = h_->next_recorded(i_ + 1);
      return *this;
    }
    /// Advances; returns the iterator as it was.
    const_iterator operator++(int) noexcept {
      const_iterator t = *this;
      ++*this;
      return t;
    }
    /// True when both are at the same position (iterators of the same histogram).
    friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept { return a.i_ == b.i_; }

   private:
    friend class latency_histogram;
    const_iterator(const latency_histogram* h, std::size_t i) noexcept : h_(h), i_(i) {}
    const latency_histogram* h_ = nullptr;
    std::size_t i_ = 0;
  };

  /// The first recorded bucket. Iterating is O(number of counters) in total.
  [[nodiscard]] const_iterator begin() const noexcept { return const_iterator(this, next_recorded(0)); }
  /// Past the last recorded bucket.
  [[nodiscard]] const_iterator end() const noexcept { return const_iterator(this, length_); }

 private:
  /// The nearest rank of percentile p among total values, in [1, total]:
  /// ceil(p / 100 * total), exact (integer arithmetic) for a p with at most
  /// six decimals, as p = 99.9 is meant, though its double is not exactly
  /// that; any other p in long double.
  [[nodiscard]] static std::uint64_t rank_at(double p, std::uint64_t total) noexcept {
    if (!(p > 0.0)) return 1;  // NaN too
    if (p >= 100.0) return total;
    constexpr std::uint64_t scale = 100'000'000;  // 100 % in millionths of a percent
    const double millionths = p * 1e6;
    const double whole = std::nearbyint(millionths);
    std::uint64_t rank = 0;
    // p has six decimals when p * 1e6 is an integer up to the rounding of p
    // and of the product (a few ulps, relative): an absolute tolerance would
    // also take a p like 1e-12 for 0 and give it rank 1 at any count
    if (std::fabs(millionths - whole) <= whole * 0x1p-50) {
      // ceil(P * total / 10^8) as P·q + ceil(P·r / 10^8), total = q·10^8 + r;
      // P < 10^8, so neither product passes 2^64
      const auto pm = static_cast<std::uint64_t>(whole);
      const std::uint64_t q = total / scale, r = total % scale;
      rank = pm * q + (pm * r + scale - 1) / scale;
    } else {
      const long double want = std::ceil(static_cast<long double>(p) * static_cast<long double>(total) / 100.0L);
      rank = want >= static_cast<long double>(total) ? total : static_cast<std::uint64_t>(want);
    }
    return std::clamp<std::uint64_t>(rank, 1, total);
  }

  /// Bucket i's highest equivalent value (its lowest when `smallest`), capped
  /// to [min, max] when those overlap the bucket. A record in flight may have
  /// moved one of them and not yet the other, and one racing reset() may have
  /// cleared them after its count was kept: then the bucket's own bound.
  [[nodiscard]] std::int64_t within_extremes(std::size_t i, bool smallest) const noexcept {
    const std::int64_t low = value_at_index(i), v = highest_equivalent(low);
    const std::int64_t lo = min_.load(std::memory_order_relaxed), hi = max_.load(std::memory_order_relaxed);
    if (lo <= hi && low <= hi && v >= lo) return smallest ? std::max(lo, low) : std::clamp(v, lo, hi);
    return smallest ? low : v;
  }

  static constexpr std::int64_t empty_min = std::numeric_limits<std::int64_t>::max();
  static constexpr std::int64_t empty_max = std::numeric_limits<std::int64_t>::min();
  static constexpr std::size_t max_stripes = 256;
  static constexpr std::size_t stripe_gap = detail::destructive_interference_size / sizeof(std::atomic<std::uint64_t>);

  struct moments_type {
    double mean = 0.0;
    double stddev = 0.0;
  };

  template <class Better>
  static void update_extreme(std::atomic<std::int64_t>& e, std::int64_t v, Better better) noexcept {
    std::int64_t cur = e.load(std::memory_order_relaxed);
    while (better(v, cur) && !e.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
  }

  /// The counter of a value in [0, highest_]: HdrHistogram's
  /// countsArrayIndex(bucketIndex, subBucketIndex).
  std::size_t index_of(std::int64_t value) const noexcept {
    const auto v = static_cast<std::uint64_t>(value);
    // the power of two at or above v, at least sub_bucket_count
    const unsigned pow2ceiling = 64u - static_cast<unsigned>(std::countl_zero(v | sub_bucket_mask_));
    const unsigned bucket = pow2ceiling - (sub_bucket_half_magnitude_ + 1);
    const auto sub = static_cast<std::int64_t>(v >> bucket);
    const std::int64_t base = static_cast<std::int64_t>(bucket + 1) << sub_bucket_half_magnitude_;
    return static_cast<std::size_t>(base + (sub - sub_bucket_half_count_));
  }

  /// Bucket and sub-bucket of a counter.
  void split(std::size_t index, unsigned& bucket, std::int64_t& sub) const noexcept {
    const auto i = static_cast<std::int64_t>(index);
    std::int64_t b = (i >> sub_bucket_half_magnitude_) - 1;
    sub = (i & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
    if (b < 0) {
      sub -= sub_bucket_half_count_;
      b = 0;
    }
    bucket = static_cast<unsigned>(b);
  }

  /// The lowest value a counter stands for.
  std::int64_t value_at_index(std::size_t index) const noexcept {
    unsigned b = 0;
    std::int64_t sub = 0;
    split(index, b, sub);
    return sub << b;
  }

  /// How many values a counter stands for.
  std::int64_t width_at_index(std::size_t index) const noexcept {
    unsigned b = 0;
    std::int64_t sub = 0;
    split(index, b, sub);
    return std::int64_t{1} << b;
  }

  std::size_t next_recorded(std::size_t i) const noexcept {
    while (i < length_ && load(i) == 0) ++i;
    return i;
  }

  /// The calling thread's stripe.
  std::atomic<std::uint64_t>* my_stripe() noexcept {
    if (stripe_mask_ == 0) return counts_.get();
    return counts_.get() + (detail::thread_slot() & stripe_mask_) * stride_;
  }

  /// Counter i summed over the stripes (saturating).
  std::uint64_t load(std::size_t i) const noexcept {
    std::uint64_t n = counts_[i].load(std::memory_order_relaxed);
    for (std::size_t s = 1; s <= stripe_mask_; ++s)
      n = detail::count_add_sat(n, counts_[s * stride_ + i].load(std::memory_order_relaxed));
    return n;
  }

  /// Same counters (index i stands for the same values in both).
  bool same_layout(const latency_histogram& o) const noexcept {
    return o.sub_bucket_magnitude_ == sub_bucket_magnitude_ && o.length_ == length_;
  }

  moments_type moments() const noexcept {
    // two passes over the counters: mean first, then squared deviations (no
    // cancellation from sum-of-squares); long double keeps 2^64 counts exact enough
    long double n = 0, sum = 0;
    for (std::size_t i = 0; i < length_; ++i) {
      const std::uint64_t c = load(i);
      if (c == 0) continue;
      n += static_cast<long double>(c);
      sum += static_cast<long double>(c) * midpoint(i);
    }
    if (n == 0) return {};
    const long double mean = sum / n;
    long double sq = 0, n2 = 0;
    for (std::size_t i = 0; i < length_; ++i) {
      const std::uint64_t c = load(i);
      if (c == 0) continue;
      const long double d = midpoint(i) - mean;
      n2 += static_cast<long double>(c);
      sq += static_cast<long double>(c) * d * d;
    }
    return {static_cast<double>(mean), static_cast<double>(std::sqrt(sq / n2))};
  }

  /// The middle of a counter's range, capped at max(): HdrHistogram's
  /// medianEquivalentValue.
  long double midpoint(std::size_t i) const noexcept {
    const std::int64_t lo = value_at_index(i);
    const std::int64_t mid = lo + width_at_index(i) / 2;
    return static_cast<long double>(std::clamp(mid, lo, std::max(lo, max())));
  }

  std::int64_t highest_;
  int digits_;
  unsigned sub_bucket_magnitude_ = 0;
  unsigned sub_bucket_half_magnitude_ = 0;
  std::int64_t sub_bucket_count_ = 0;
  std::int64_t sub_bucket_half_count_ = 0;
  std::uint64_t sub_bucket_mask_ = 0;
  unsigned bucket_count_ = 0;
  std::size_t length_ = 0;       // counters in one stripe
  std::size_t stride_ = 0;       // from one stripe's counters to the next's
  std::size_t stripe_mask_ = 0;  // stripes - 1
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> clamped_low_{0};   // values below 0, recorded as 0
  std::atomic<std::uint64_t> clamped_high_{0};  // values above highest_, recorded as highest_
  std::atomic<std::int64_t> min_{empty_min};
  std::atomic<std::int64_t> max_{empty_max};
};

}  // namespace surge

#endif  // SURGE_METRICS_HISTOGRAM_HPP
