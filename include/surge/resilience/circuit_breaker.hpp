/// @file surge/resilience/circuit_breaker.hpp
/// `circuit_breaker<Clock>`: resilience4j's circuit breaker state machine
/// (closed / open / half-open, plus disabled and forced-open) over a count- or
/// time-based sliding window, with a lock-free closed path.
#ifndef SURGE_RESILIENCE_CIRCUIT_BREAKER_HPP
#define SURGE_RESILIENCE_CIRCUIT_BREAKER_HPP

#include <surge/detail/cache_line.hpp>
#include <surge/detail/saturate.hpp>

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace surge {

/// The five states of resilience4j's CircuitBreaker (METRICS_ONLY aside).
enum class breaker_state : std::uint8_t {
  closed,      ///< calls pass; outcomes fill the sliding window
  open,        ///< calls are refused until `wait_in_open` has passed
  half_open,   ///< exactly `half_open_calls` probes pass; their outcomes decide
  disabled,    ///< calls pass, nothing is recorded (only a manual transition leaves it)
  forced_open  ///< calls are refused (only a manual transition leaves it)
};

/// "closed", "open", "half_open", "disabled", "forced_open".
[[nodiscard]] constexpr std::string_view to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
    case breaker_state::disabled:
      return "disabled";
    case breaker_state::forced_open:
      return "forced_open";
  }
  return "unknown";
}

/// How the closed state's sliding window is measured.
enum class window_type : std::uint8_t {
  count_based,  ///< the last `window_size` outcomes
  time_based    ///< the outcomes of the last `window_size` seconds
};

/// Thrown by circuit_breaker::call when the breaker refuses the call
/// (resilience4j's CallNotPermittedException). An immutable value type.
class breaker_open : public std::runtime_error {
 public:
  /// The refusal by a breaker in state `s` (named in what()).
  explicit breaker_open(breaker_state s)
      : std::runtime_error("surge::circuit_breaker: call not permitted (state " + std::string(to_string(s)) + ")"),
        state_(s) {}
  /// The state that refused the call (open, half_open with no probe left, or forced_open).
  [[nodiscard]] breaker_state state() const noexcept { return state_; }

 private:
  breaker_state state_;
};

/// A snapshot of a breaker's current window (resilience4j's Metrics).
struct breaker_metrics {
  /// The breaker's state when the snapshot was taken.
  breaker_state state = breaker_state::closed;
  double failure_rate = -1.0;    ///< percent; -1 while fewer than the minimum calls are buffered
  double slow_call_rate = -1.0;  ///< percent; -1 likewise
  /// Outcomes in the window (in HALF_OPEN: the probes' outcomes).
  std::uint64_t buffered_calls = 0;
  std::uint64_t failed_calls = 0;  ///< including slow failures
  std::uint64_t slow_calls = 0;    ///< slow successes and slow failures
};

/// circuit_breaker's configuration (designated initialisers), with
/// resilience4j's names (in snake case) and defaults.
struct circuit_breaker_options {
  /// Open when the failure rate (percent) of the window is >= this. (0, 100].
  double failure_rate_threshold = 50.0;
  /// Open when the rate (percent) of slow calls is >= this. (0, 100].
  double slow_call_rate_threshold = 100.0;
  /// A call that took longer than this is slow. > 0.
  std::chrono::nanoseconds slow_call_duration = std::chrono::seconds(60);
  /// count_based: the last `window_size` calls; time_based: the last `window_size` seconds.
  window_type window = window_type::count_based;
  /// Calls (count-based, [1, 2^20 - 1]) or seconds (time-based, [1, 86400]).
  std::size_t window_size = 100;
  /// No decision before this many outcomes are in the window (>= 1). For a
  /// count-based window the effective value is min(minimum_calls, window_size).
  std::size_t minimum_calls = 100;
  /// How long the breaker stays open before the next permission request moves
  /// it to half-open. >= 0.
  std::chrono::nanoseconds wait_in_open = std::chrono::seconds(60);
  /// Probes admitted in half-open, and the size of the window that decides. [1, 2^31].
  std::size_t half_open_calls = 10;
  /// 0: off. Otherwise a half-open breaker that has not decided within this
  /// long goes back to open (resilience4j's maxWaitDurationInHalfOpenState).
  std::chrono::nanoseconds max_wait_in_half_open = std::chrono::nanoseconds::zero();
  /// Called with (old, new) after each state change, outside any lock, in the
  /// order the changes happened. Must not throw (a throw terminates).
  std::function<void(breaker_state, breaker_state)> on_state_change{};
};

namespace detail {

/// Test seam of circuit_breaker, for surge's own tests only: the primary
/// template does nothing (its call compiles to nothing). It is a friend of
/// circuit_breaker and of breaker_count_window, so a test that specializes it
/// for a breaker on a clock of its own may act at a fixed point inside a call
/// (to "stall" it deterministically) and read and set the breaker's private
/// state (e.g. to move the transition count near a wrap without making the
/// transitions).
template <class Breaker>
struct circuit_breaker_hooks {
  /// Called by a count window's publisher right after its fetch_add took its
  /// tickets, before it reads the ring or stores its outcomes there.
  static void tickets_taken(Breaker&) noexcept {}
};

/// Which breaker stripe the calling thread counts deferred successes on, the
/// same for every breaker in the process. Each of the `owned_stripes` owned
/// stripes is held by at most one live thread, claimed on the thread's first
/// deferred success and given back when the thread exits (the next owner's
/// claim, an acquire, sees the last owner's counts); once all are held, a
/// thread counts on the shared stripe, index `owned_stripes`, with fetch_add.
/// Thread-safe.
class breaker_stripe_owner {
 public:
  static constexpr std::size_t owned_stripes = 16;

  [[nodiscard]] static std::size_t index() noexcept {
    std::size_t& mine = slot();
    if (mine == unclaimed) [[unlikely]]
      mine = claim();
    return mine;
  }

 private:
  static constexpr std::size_t unclaimed = ~std::size_t{0};

  // trivially destructible, so it stays readable while other thread_local
  // destructors run after the releaser below has given the stripe back
  static std::size_t& slot() noexcept {
    thread_local std::size_t mine = unclaimed;
    return mine;
  }

  static std::atomic<std::uint32_t>& held() noexcept {
    static std::atomic<std::uint32_t> mask{0};
    return mask;
  }

  struct releaser {
    ~releaser() {
      std::size_t& mine = slot();
      if (mine >= owned_stripes) return;
      const auto bit = std::uint32_t{1} << mine;
      mine = owned_stripes;  // anything this thread still counts goes to the shared stripe
      held().fetch_and(~bit, std::memory_order_release);
    }
  };

  static std::size_t claim() noexcept {
    std::atomic<std::uint32_t>& mask = held();
    std::uint32_t m = mask.load(std::memory_order_relaxed);
    constexpr std::uint32_t all = (std::uint32_t{1} << owned_stripes) - 1;
    while (m != all) {
      const auto i = static_cast<std::size_t>(std::countr_one(m));
      if (mask.compare_exchange_weak(m, m | (std::uint32_t{1} << i), std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        thread_local releaser r;  // gives the stripe back when this thread exits
        static_cast<void>(r);
        return i;
      }
    }
    return owned_stripes;
  }
};

/// Count-based sliding window, lock-free. The whole history is one 64-bit
/// word W, the modular sum of one increment per outcome:
///   1 + failed * 2^c + slow * 2^(c + f),
/// where f = bit_width(n) bits are enough for a window's failed (or slow)
/// count and the low c = 64 - 2f bits count outcomes (c is 24 for the largest
/// window, 2^20 - 1 calls, 50 for the default 100, 58 for 5). A window of n
/// consecutive outcomes is the difference of two readings of W; that
/// difference is < 2^64 and its three fields cannot overlap, so it decodes
/// exactly however often W has wrapped. Outcomes are published with one
/// fetch_add, which gives them consecutive tickets (the low c bits of W
/// before it); the publisher stores W after each of its outcomes in ring slot
/// `ticket`, so the window ending at ticket t is W_after(t) - W_after(t - n),
/// read from slot t - n, whose low c bits (the ticket + 1) prove which
/// outcome wrote it. A slot holding any other outcome's W (a publisher of
/// t - n not done yet, or a publisher of an earlier ticket of that slot that
/// stalled between its fetch_add and its store and stored late) is refused,
/// and the decision waits for the next outcome. The stamp tells tickets
/// apart modulo 2^c only, which is why c takes every bit the two fields
/// leave: a W stored late passes for a later outcome's only if its publisher
/// stalled between its fetch_add and its store while at least 2^c - ring
/// further outcomes were published (2^50 - 128 with the default window,
/// 2^24 - 2^20 with the largest). While fewer than n outcomes followed the
/// last reset (W then: `base`), the window is W - base; once it has held n,
/// it is read from the ring for good, even when the c-bit count of outcomes
/// since base wraps back below n.
///
/// Plain successes (not slow) reported while the window is full cannot open
/// the breaker (they add no failure and no slow call, and the window keeps n
/// calls), so they are not published one by one: each is counted on the
/// caller's stripe and published in a batch when that stripe holds
/// min(32, n / 4), and every stripe's are published before the next failure
/// or slow call, by whichever thread reports it (windows under 8 calls
/// publish every outcome). A stripe is two counters on a cache line of its
/// own: `count`, the successes ever deferred there, and `taken`, how many of
/// them have been published (advanced by CAS, so each is published once).
/// Each of the first `owned_stripes` stripes belongs to at most one live
/// thread at a time (breaker_stripe_owner), its only writer of `count`, so a
/// deferred success is a plain load and store, not a read-modify-write;
/// threads beyond those share the last stripe and fetch_add it. Observers
/// count the unpublished successes as the most recent outcomes, which they
/// are. Batching only moves a
/// success later among successes, never past a failure or slow call, so the
/// window's counts are those of the last n outcomes: exactly on one thread,
/// and across threads up to the order of calls that raced.
class breaker_count_window {
 public:
  static constexpr std::size_t max_size = (std::size_t{1} << 20) - 1;
  // the ring (at most 2^20 slots) divides 2^c, so a ticket's slot survives the wrap of its c bits
  static_assert(64 - 2 * static_cast<unsigned>(std::bit_width(max_size)) >
                static_cast<unsigned>(std::bit_width(max_size)));
  static constexpr std::size_t stripe_count = breaker_stripe_owner::owned_stripes + 1;
  static constexpr std::uint64_t max_batch = 32;

  struct counts {
    std::uint64_t calls = 0, failed = 0, slow = 0;
  };

  /// The hook of a breaker without a test seam: nothing.
  struct no_hook {
    void operator()() const noexcept {}
  };

  /// A window of n outcomes, 1 <= n <= max_size.
  explicit breaker_count_window(std::size_t n)
      : n_(n),
        flush_at_(std::min<std::uint64_t>(max_batch, n / 4)),
        failed_shift_(64 - 2 * static_cast<unsigned>(std::bit_width(n))),
        slow_shift_(64 - static_cast<unsigned>(std::bit_width(n))),
        call_mask_((std::uint64_t{1} << failed_shift_) - 1),
        field_mask_((std::uint64_t{1} << std::bit_width(n)) - 1),
        mask_(std::max<std::size_t>(64, std::bit_ceil(n + 1)) - 1),
        slots_(new std::atomic<std::uint64_t>[mask_ + 1]()),
        stripes_(new stripe[stripe_count]) {}

  /// W now: the base of a fresh window.
  [[nodiscard]] std::uint64_t word() const noexcept { return w_.load(std::memory_order_acquire); }

  /// Counts a plain success on the caller's stripe when the window is full;
  /// false (nothing done) while it is still filling: then record() it.
  /// `hook()` runs right after a publication's fetch_add (a test seam).
  template <class Hook = no_hook>
  bool try_defer_success(std::uint64_t base, Hook hook = {}) noexcept {
    if (flush_at_ < 2) return false;  // a window under 8 calls: publish each outcome
    // full_base_ == base: this window is known to be full; checked without
    // reading W, whose cache line every publication writes
    if (full_base_.load(std::memory_order_relaxed) != base) {
      if (((w_.load(std::memory_order_acquire) - base) & call_mask_) < n_) return false;
      full_base_.store(base, std::memory_order_release);
    }
    const std::size_t i = breaker_stripe_owner::index();
    stripe& s = stripes_[i];
    std::uint64_t c;
    if (i < breaker_stripe_owner::owned_stripes) [[likely]] {  // this thread is the only writer
      c = s.count.load(std::memory_order_relaxed) + 1;
      s.count.store(c, std::memory_order_relaxed);
    } else {
      c = s.count.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    // on the shared stripe another thread's later successes may already be
    // taken (taken > c): the difference wraps, and take() finds nothing
    if (c - s.taken.load(std::memory_order_acquire) >= flush_at_) {
      counts unused;
      publish(take(s), 0, base, unused, hook);
    }
    return true;
  }

  /// Publishes every stripe's deferred successes and then one outcome;
  /// returns false when the window ending at it cannot be read (its
  /// predecessor n outcomes back is still being published), else the
  /// window's counts in `out`. `base` is W when the window was last reset.
  template <class Hook = no_hook>
  bool record(bool failed, bool slow, std::uint64_t base, counts& out, Hook hook = {}) noexcept {
    const std::uint64_t inc = 1 + (std::uint64_t{failed} << failed_shift_) + (std::uint64_t{slow} << slow_shift_);
    std::uint64_t deferred = 0;
    for (std::size_t i = 0; i < stripe_count; ++i) deferred += take(stripes_[i]);
    return publish(deferred, inc, base, out, hook);
  }

  /// A fresh window from `base` on (the caller publishes base afterwards):
  /// forgets every deferred success.
  void reset(std::uint64_t base) noexcept {
    full_base_.store(~base, std::memory_order_relaxed);
    for (std::size_t i = 0; i < stripe_count; ++i) static_cast<void>(take(stripes_[i]));
  }

  /// The window as of now, deferred successes last (a racing observer);
  /// false if unreadable. With `or_earlier`, a window that stays unreadable
  /// (an outcome at its start still being published) gives way to the
  /// latest readable one of the `lookback` that end before it: the window as
  /// it was a few outcomes ago.
  bool snapshot(std::uint64_t base, counts& out, bool or_earlier = false) const noexcept {
    constexpr int attempts = 64;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      std::uint64_t deferred = 0;
      for (std::size_t i = 0; i < stripe_count; ++i) deferred += waiting(stripes_[i]);
      const std::uint64_t w = w_.load(std::memory_order_acquire);
      if (deferred >= n_) {
        out = counts{n_, 0, 0};
        return true;
      }
      out = counts{};
      const bool ok = (((w - base) & call_mask_) == 0 && !seen_full(base)) ||
                      window_ending((w - 1) & call_mask_, w, base, n_ - deferred, out);
      if (ok || (or_earlier && attempt == attempts - 1 && window_before(w, base, n_ - deferred, out))) {
        out.calls += deferred;
        return true;
      }
    }
    return false;
  }

 private:
  template <class>
  friend struct circuit_breaker_hooks;

  struct alignas(cache_line_size) stripe {
    std::atomic<std::uint64_t> count{0};  // successes deferred here, ever
    std::atomic<std::uint64_t> taken{0};  // of those, published (<= count)
  };

  // taken is loaded (acquire) before count: whoever advanced taken to some
  // value of count read that value first, so count is seen at least as far.

  /// Takes every success waiting on `s` for publication; returns how many.
  static std::uint64_t take(stripe& s) noexcept {
    std::uint64_t t = s.taken.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t c = s.count.load(std::memory_order_relaxed);
      if (c <= t) return 0;
      if (s.taken.compare_exchange_weak(t, c, std::memory_order_acq_rel, std::memory_order_acquire)) return c - t;
    }
  }

  /// How many successes wait on `s` (a racing reading).
  static std::uint64_t waiting(const stripe& s) noexcept {
    const std::uint64_t t = s.taken.load(std::memory_order_acquire);
    const std::uint64_t c = s.count.load(std::memory_order_relaxed);
    return c > t ? c - t : 0;
  }

  /// Publishes k successes then (inc != 0) one outcome of increment inc.
  template <class Hook>
  bool publish(std::uint64_t k, std::uint64_t inc, std::uint64_t base, counts& out, Hook& hook) noexcept {
    const std::uint64_t tickets = k + (inc != 0 ? 1 : 0);
    if (tickets == 0) return false;
    const std::uint64_t prev = w_.fetch_add(k + inc, std::memory_order_acq_rel);
    hook();  // nothing, except in a test
    const std::uint64_t t0 = prev & call_mask_;
    const std::uint64_t t = (t0 + tickets - 1) & call_mask_;  // the last of them
    if (((t - base) & call_mask_) + 1 > n_ && !seen_full(base)) full_base_.store(base, std::memory_order_release);
    bool ok = false;
    if (inc != 0) {
      const std::uint64_t first_back = t0 + tickets - 1 - n_;  // the ticket just before the window, unmasked
      if (tickets > n_) {  // the window lies within this batch: successes, then the outcome
        const std::uint64_t d = (k + inc) - (first_back - t0 + 1);
        ok = decode(d, n_, out);
      } else {
        ok = window_ending(t, prev + k + inc, base, n_, out);
      }
    }
    for (std::uint64_t i = 0; i < k; ++i) slot(t0 + i).store(prev + i + 1, std::memory_order_release);
    if (inc != 0) slot(t).store(prev + k + inc, std::memory_order_release);
    return ok;
  }

  /// Outcomes an observer looks back over for a readable window: enough to
  /// get past the tickets of a publisher stalled between its fetch_add and
  /// its stores (a batch at most), both where windows end at them and where
  /// windows start right after them.
  static constexpr std::uint64_t lookback = 4 * (max_batch + 1);

  /// The latest readable window of the last min(n, outcomes since base)
  /// outcomes ending 1 to `lookback` outcomes before W = `w`, never reaching
  /// back past `base`; false if none.
  bool window_before(std::uint64_t w, std::uint64_t base, std::uint64_t n, counts& out) const noexcept {
    const std::uint64_t since = (w - base) & call_mask_;  // outcomes since base (unless it wrapped)
    const bool full = seen_full(base);
    for (std::uint64_t k = 1; k <= lookback; ++k) {
      // a filling window ends at or after base; a full one starts there
      if (full ? since >= n && since - k < n : k >= since) return false;
      const std::uint64_t t = (w - 1 - k) & call_mask_;
      const std::uint64_t after = slot(t).load(std::memory_order_acquire);
      if ((after & call_mask_) != ((t + 1) & call_mask_)) continue;  // being published: not W after t
      out = counts{};
      if (window_ending(t, after, base, n, out)) return true;
    }
    return false;
  }

  /// True once the window from `base` has held n outcomes (full_base_ is set
  /// by the first publication past n, before 2^c - n more could wrap the
  /// ticket count back below n).
  bool seen_full(std::uint64_t base) const noexcept { return full_base_.load(std::memory_order_acquire) == base; }

  /// The window of the last min(n, outcomes since base) outcomes ending with
  /// ticket t, whose W after it is `after`.
  bool window_ending(std::uint64_t t, std::uint64_t after, std::uint64_t base, std::uint64_t n,
                     counts& out) const noexcept {
    // outcomes since base, this one included, modulo 2^c: a small count is a
    // window still filling only if the window has never been full
    const std::uint64_t since = ((t - base) & call_mask_) + 1;
    if (since <= n && !seen_full(base)) return decode(after - base, since, out);
    const std::uint64_t first = (t - n) & call_mask_;  // the ticket just before the window
    const std::uint64_t old = slot(first).load(std::memory_order_acquire);
    if ((old & call_mask_) != ((first + 1) & call_mask_)) return false;
    return decode(after - old, n, out);
  }

  bool decode(std::uint64_t d, std::uint64_t expect_calls, counts& out) const noexcept {
    out.calls = d & call_mask_;
    out.failed = (d >> failed_shift_) & field_mask_;
    out.slow = d >> slow_shift_;
    return out.calls == expect_calls && out.failed <= out.calls && out.slow <= out.calls;
  }

  std::atomic<std::uint64_t>& slot(std::uint64_t t) const noexcept {
    return slots_[static_cast<std::size_t>(t) & mask_];
  }

  alignas(cache_line_size) std::atomic<std::uint64_t> w_{0};
  alignas(cache_line_size) const std::uint64_t n_;
  const std::uint64_t flush_at_;    // deferred successes per stripe: min(32, n / 4); below 2, none
  const unsigned failed_shift_;     // c = 64 - 2 bit_width(n): the ticket's bits
  const unsigned slow_shift_;       // c + bit_width(n)
  const std::uint64_t call_mask_;   // 2^c - 1
  const std::uint64_t field_mask_;  // 2^bit_width(n) - 1
  // the base of the window last seen full (read on every deferred success,
  // written once per window; after it, a ticket count since base that wrapped
  // past 2^c is not taken for a filling window); starts as, and is reset
  // to, a value that is not the current base
  std::atomic<std::uint64_t> full_base_{~std::uint64_t{0}};
  const std::size_t mask_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
  std::unique_ptr<stripe[]> stripes_;
};

/// Time-based sliding window: one bucket per second (resilience4j's
/// SlidingTimeWindowMetrics). Not thread-safe: the breaker guards it.
class breaker_time_window {
 public:
  using counts = breaker_count_window::counts;

  explicit breaker_time_window(std::size_t seconds) : buckets_(seconds) {}

  void record(std::int64_t sec, bool failed, bool slow) noexcept {
    advance(sec);
    bucket& b = buckets_[index(sec < head_ ? head_ : sec)];
    ++b.c.calls;
    b.c.failed += failed ? 1 : 0;
    b.c.slow += slow ? 1 : 0;
    ++total_.calls;
    total_.failed += failed ? 1 : 0;
    total_.slow += slow ? 1 : 0;
  }

  counts snapshot(std::int64_t sec) noexcept {
    advance(sec);
    return total_;
  }

  void reset() noexcept {
    for (bucket& b : buckets_) b = bucket{};
    total_ = counts{};
    started_ = false;
  }

 private:
  struct bucket {
    counts c;
  };

  std::size_t index(std::int64_t sec) const noexcept {
    const auto n = static_cast<std::int64_t>(buckets_.size());
    return static_cast<std::size_t>(((sec % n) + n) % n);
  }

  /// Moves the window's end to `sec` (any int64, INT64_MIN and INT64_MAX
  /// included): buckets of seconds that left it are emptied. Walks back from
  /// `sec` over the seconds after the old end, so no second outside
  /// (head_, sec] is ever formed.
  void advance(std::int64_t sec) noexcept {
    if (started_ && sec <= head_) return;
    const std::uint64_t n = buckets_.size();
    // seconds since the old end, exactly (modular, sec > head_); a whole window when none
    const std::uint64_t gap = started_ ? static_cast<std::uint64_t>(sec) - static_cast<std::uint64_t>(head_) : n;
    started_ = true;
    head_ = sec;
    if (gap >= n) {
      for (bucket& b : buckets_) b = bucket{};
      total_ = counts{};
      return;
    }
    for (std::uint64_t i = 0; i < gap; ++i) {  // sec - i > old head_: no overflow
      bucket& b = buckets_[index(sec - static_cast<std::int64_t>(i))];
      total_.calls -= b.c.calls;
      total_.failed -= b.c.failed;
      total_.slow -= b.c.slow;
      b = bucket{};
    }
  }

  std::vector<bucket> buckets_;
  counts total_;
  std::int64_t head_ = 0;  // the window's newest second, once started_
  bool started_ = false;
};

}  // namespace detail

/// A circuit breaker with resilience4j's CircuitBreakerStateMachine semantics.
///
/// **States.** CLOSED: every call is permitted and its outcome recorded in the
/// sliding window; once at least `minimum_calls` outcomes are in the window
/// and the failure rate >= `failure_rate_threshold` or the slow-call rate >=
/// `slow_call_rate_threshold`, the breaker opens. OPEN: calls are refused;
/// the first permission request strictly after `wait_in_open` has passed
/// moves it to HALF_OPEN. HALF_OPEN: exactly `half_open_calls` probes are
/// permitted; their outcomes fill a fresh count window of that size, which
/// decides once full (both rates below their thresholds: CLOSED with a fresh
/// window; else OPEN). With `max_wait_in_half_open` > 0, a half-open breaker
/// that has not decided when that much time has passed goes back to OPEN, on
/// the next call that looks (there is no timer thread). DISABLED and
/// FORCED_OPEN permit everything / nothing and record nothing; only
/// transition_to() leaves them. Rates are `failed * 100.0 / calls` (in
/// double, as failure_rate() reports them: the breaker compares those very
/// values with the thresholds, so equal ratios decide alike); a call is
/// slow when its elapsed time is strictly greater than `slow_call_duration`
/// (a slow failure counts as failed and as slow).
///
/// **Outcomes land in the current state**, as in resilience4j: an outcome
/// reported while OPEN is recorded in the window that opened the breaker
/// without a decision; one reported while HALF_OPEN fills the probe window
/// (whichever state permitted the call).
///
/// **Lock-free closed path.** try_acquire_permission in CLOSED is one atomic
/// load, and never reads the clock. With a count-based window, a plain
/// success reported while the window is full (it cannot open the breaker) is
/// a plain load and store on the caller's own stripe (a fetch_add for threads
/// beyond the first 16 alive at once); every other outcome is one fetch_add,
/// one load and a store per outcome published, after it has published every
/// stripe's waiting successes. So the window holds the last `window_size`
/// outcomes: exactly on one thread, and across threads in the order of their
/// publication, a success moved later only among successes (never past a
/// failure or slow call); observers count the successes still waiting as the
/// newest. A recorder whose predecessor `window_size` outcomes back is still
/// being published defers the decision to the next outcome, whatever it is (a
/// plain success too, which then decides on the window before joining it).
/// The time-based window, the half-open probe window and every state
/// transition use a mutex; an OPEN breaker refuses without it (one load and a
/// clock read).
///
/// **Probes under concurrency.** The state, a generation and the half-open
/// permit count share one atomic word: a probe is a CAS that decrements the
/// count, so however many threads race through the open -> half-open
/// transition, at most `half_open_calls` probes pass per half-open period.
///
/// **Listener.** `on_state_change(old, new)` runs after the transition, with
/// no lock held, once per transition, in transition order (a thread that
/// finds another thread delivering events leaves its event to that thread, so
/// the call that caused a transition may return before its event is
/// delivered). The listener may call into the breaker. Manual transitions to
/// the current state reset it without an event (resilience4j's internal
/// transitions). Queuing an event may allocate: should that throw
/// std::bad_alloc, the transition does not happen and the call throws; a
/// half-open outcome then records nothing, and a CLOSED outcome's decision
/// to open is taken again by the next outcome.
///
/// Complexity: every operation O(1) (time-based: O(window_size) when the clock
/// jumps by a whole window). Memory: a count window keeps 8 bytes per slot,
/// max(64, bit_ceil(window_size + 1)) slots, and 17 stripes of one cache line
/// each; a time window 24 bytes per second.
/// Thread safety: thread-safe; every member may be called from any thread.
/// Observers (state(), failure_rate(), metrics()) are racing snapshots.
/// Bad input: options out of the ranges documented at each field throw
/// std::invalid_argument naming the field. A negative elapsed time counts as
/// zero; a permit's elapsed time (now - started()) saturates at the range of
/// `duration` (0 for a reading before started(), whatever the rep).
/// transition_to a value that is not a breaker_state throws
/// std::invalid_argument. Any clock reading is valid, time_point::min() and max()
/// included. `Clock` must have an integral `rep` (static_assert).
template <class Clock = std::chrono::steady_clock>
class circuit_breaker {
  static_assert(std::is_integral_v<typename Clock::rep>, "surge::circuit_breaker: Clock::rep must be an integral type");

 public:
  /// The clock the breaker reads (open periods, call durations, time windows).
  using clock_type = Clock;
  /// Clock's duration (call durations).
  using duration = typename Clock::duration;
  /// Clock's time point.
  using time_point = typename Clock::time_point;
  /// The configuration type.
  using options = circuit_breaker_options;
  class permit;

  /// Validates `o` (std::invalid_argument naming the bad field); CLOSED.
  explicit circuit_breaker(options o = {}) : o_(std::move(o)) {
    check(o_);
    slow_ns_ = o_.slow_call_duration.count();
    // OPEN refuses readings up to opened + wait_in_open, a tick count rounded
    // down; the watchdog fires once max_wait_in_half_open has passed, rounded up
    wait_open_ = ticks_of(o_.wait_in_open, false);
    max_half_open_ = ticks_of(o_.max_wait_in_half_open, true);
    if (o_.window == window_type::count_based) {
      min_calls_ = std::min(o_.minimum_calls, o_.window_size);
      count_ = std::make_unique<detail::breaker_count_window>(o_.window_size);
    } else {
      min_calls_ = o_.minimum_calls;
      time_ = std::make_unique<detail::breaker_time_window>(o_.window_size);
    }
  }

  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  // ---- low-level API (resilience4j's) -------------------------------------

  /// True when a call may proceed now; a HALF_OPEN permit must be followed by
  /// on_success, on_failure or release_permission. May transition OPEN ->
  /// HALF_OPEN or (watchdog) HALF_OPEN -> OPEN. Reads the clock only when
  /// OPEN or (with the watchdog on) HALF_OPEN. O(1); lock-free when CLOSED or
  /// when refusing in OPEN.
  [[nodiscard]] bool try_acquire_permission() {
    return acquire([] { return Clock::now(); }).ok;
  }
  /// try_acquire_permission at the given clock reading.
  [[nodiscard]] bool try_acquire_permission(time_point now) {
    return acquire([now] { return now; }).ok;
  }

  /// A permitted call that ended without an outcome: in HALF_OPEN, gives the
  /// probe back (never above `half_open_calls`); otherwise nothing. Lock-free.
  void release_permission() noexcept { release(0, 0, false); }

  /// Records a successful call that took `elapsed` (slow when > slow_call_duration).
  void on_success(duration elapsed) {
    record(false, elapsed, [] { return Clock::now(); });
  }
  /// on_success at the given clock reading.
  void on_success(duration elapsed, time_point now) {
    record(false, elapsed, [now] { return now; });
  }
  /// Records a failed call that took `elapsed`.
  void on_failure(duration elapsed) {
    record(true, elapsed, [] { return Clock::now(); });
  }
  /// on_failure at the given clock reading.
  void on_failure(duration elapsed, time_point now) {
    record(true, elapsed, [now] { return now; });
  }

  // ---- RAII form ----------------------------------------------------------

  /// A permission that records its call's outcome: `success()` / `failure()`
  /// time the call from acquisition; a permit dropped without either gives
  /// its probe back (release_permission, only into the half-open period that
  /// granted it). success() or failure() that throws (std::bad_alloc queuing
  /// the listener's event) leaves the permit holding its permission: a
  /// half-open outcome then recorded nothing, so report again or drop the
  /// permit to give the probe back (a CLOSED outcome is in the window
  /// already: just drop it). Move-only; an empty (refused, finished or
  /// moved-from) permit converts to false, and success()/failure() on it
  /// throw std::logic_error.
  class permit {
   public:
    permit() noexcept = default;
    /// Takes over `o`'s permission; `o` is left empty.
    permit(permit&& o) noexcept
        : breaker_(std::exchange(o.breaker_, nullptr)), start_(o.start_), word_(o.word_), period_(o.period_) {}
    /// Gives back this permit's permission (as release()), then takes over
    /// `o`'s; `o` is left empty. Self-assignment does nothing.
    permit& operator=(permit&& o) noexcept {
      if (this != &o) {
        drop();
        breaker_ = std::exchange(o.breaker_, nullptr);
        start_ = o.start_;
        word_ = o.word_;
        period_ = o.period_;
      }
      return *this;
    }
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() { drop(); }

    /// True when the call may proceed (and no outcome was recorded yet).
    explicit operator bool() const noexcept { return breaker_ != nullptr; }
    /// When the permission was granted.
    [[nodiscard]] time_point started() const noexcept { return start_; }

    /// Records success, elapsed = now - started() (saturating).
    void success() { success(Clock::now()); }
    /// Records success at the given clock reading (elapsed = now - started(), saturating).
    void success(time_point now) { finish(false, now); }
    /// Records failure, elapsed = now - started() (saturating).
    void failure() { failure(Clock::now()); }
    /// Records failure at the given clock reading (elapsed = now - started(), saturating).
    void failure(time_point now) { finish(true, now); }
    /// Gives the permission back without an outcome (what the destructor does).
    void release() noexcept { drop(); }

   private:
    friend class circuit_breaker;
    permit(circuit_breaker* b, time_point start, std::uint64_t word, std::uint64_t period) noexcept
        : breaker_(b), start_(start), word_(word), period_(period) {}
    void finish(bool failed, time_point now) {
      if (!breaker_) throw std::logic_error("surge::circuit_breaker::permit: no permission to record an outcome for");
      // a half-open outcome that throws records nothing: the permit keeps its
      // probe until its outcome is in (or it is dropped and gives it back)
      breaker_->record(failed, detail::elapsed_sat(start_, now), [now] { return now; });
      breaker_ = nullptr;
    }
    void drop() noexcept {
      if (circuit_breaker* b = std::exchange(breaker_, nullptr)) b->release(word_, period_, true);
    }

    circuit_breaker* breaker_ = nullptr;
    time_point start_{};
    std::uint64_t word_ = 0;    // the state word it was granted under
    std::uint64_t period_ = 0;  // and that word's full period (half-open permits)
  };

  /// A permit if a call may proceed now (reads the clock once, for its start).
  [[nodiscard]] permit try_acquire() { return try_acquire(Clock::now()); }
  /// try_acquire at the given clock reading (also the permit's start).
  [[nodiscard]] permit try_acquire(time_point now) {
    const grant g = acquire([now] { return now; });
    return g.ok ? permit(this, now, g.word, g.period) : permit();
  }

  /// Runs `f()` if permitted: records success, or records a thrown exception
  /// as a failure and rethrows it; returns f's result. Throws
  /// surge::breaker_open (without calling f) when refused, naming the state
  /// that refused (not the state read afterwards, which a racing transition
  /// may have changed).
  template <class F>
  std::invoke_result_t<F&> call(F&& f) {
    using result = std::invoke_result_t<F&>;
    const time_point start = Clock::now();
    const grant g = acquire([start] { return start; });
    if (!g.ok) throw breaker_open(state_of(g.word));
    permit p(this, start, g.word, g.period);
    if constexpr (std::is_void_v<result>) {
      try {
        std::invoke(f);
      } catch (...) {
        p.failure();
        throw;
      }
      p.success();
    } else {
      result r = [&]() -> result {
        try {
          return std::invoke(f);
        } catch (...) {
          p.failure();
          throw;
        }
      }();
      p.success();
      return r;
    }
  }

  // ---- manual transitions -------------------------------------------------

  /// Moves to `to` now (resilience4j's transitionTo*State): a fresh window,
  /// probe count or open period. To the current state: a reset without event.
  /// Throws std::invalid_argument naming `to` when it is not one of the five
  /// states (a cast from a bad integer).
  void transition_to(breaker_state to) { transition_to(to, Clock::now()); }
  /// transition_to at the given clock reading.
  void transition_to(breaker_state to, time_point now) {
    if (to_string(to) == "unknown")
      throw std::invalid_argument("surge::circuit_breaker: transition_to: to is not a breaker_state (value " +
                                  std::to_string(static_cast<unsigned>(to)) + ")");
    {
      std::lock_guard lock(mutex_);
      const std::uint64_t w = word_.load(std::memory_order_acquire);
      transition_locked(w, to, now);
    }
    dispatch();
  }
  /// CLOSED with an empty window (resilience4j's reset()).
  void reset() { transition_to(breaker_state::closed); }

  // ---- observers ----------------------------------------------------------

  /// The current state.
  [[nodiscard]] breaker_state state() const noexcept { return state_of(word_.load(std::memory_order_acquire)); }
  /// Failure rate (percent) of the current window; -1 while fewer than the
  /// minimum calls are in it (and always in DISABLED / FORCED_OPEN).
  [[nodiscard]] double failure_rate() { return metrics().failure_rate; }
  /// failure_rate at the given clock reading (time-based windows slide to it).
  [[nodiscard]] double failure_rate(time_point now) { return metrics(now).failure_rate; }
  /// Slow-call rate (percent) of the current window; -1 likewise.
  [[nodiscard]] double slow_call_rate() { return metrics().slow_call_rate; }
  /// slow_call_rate at the given clock reading.
  [[nodiscard]] double slow_call_rate(time_point now) { return metrics(now).slow_call_rate; }
  /// Probes still available in HALF_OPEN (0 in every other state).
  [[nodiscard]] std::size_t available_probes() const noexcept {
    const std::uint64_t w = word_.load(std::memory_order_acquire);
    return state_of(w) == breaker_state::half_open ? static_cast<std::size_t>(permits_of(w)) : 0;
  }
  /// The current window's counts and rates (a racing snapshot; with a count
  /// window whose outcome `window_size` back is still being published by
  /// another thread, the latest window that can be read, a few outcomes
  /// older).
  [[nodiscard]] breaker_metrics metrics() { return time_ ? metrics(Clock::now()) : metrics(time_point{}); }
  /// metrics at the given clock reading (time-based windows slide to it).
  [[nodiscard]] breaker_metrics metrics(time_point now) {
    const std::uint64_t w = word_.load(std::memory_order_acquire);
    breaker_metrics m;
    m.state = state_of(w);
    counts c;
    std::uint64_t min_calls = min_calls_;
    if (m.state == breaker_state::disabled || m.state == breaker_state::forced_open) return m;
    if (m.state == breaker_state::half_open) {
      std::lock_guard lock(mutex_);
      c = half_;
      min_calls = o_.half_open_calls;
    } else if (time_) {
      std::lock_guard lock(mutex_);
      c = time_->snapshot(seconds_of(now));
    } else if (!count_->snapshot(base_.load(std::memory_order_acquire), c, true)) {
      return m;
    }
    m.buffered_calls = c.calls;
    m.failed_calls = c.failed;
    m.slow_calls = c.slow;
    if (c.calls >= min_calls && c.calls > 0) {
      m.failure_rate = rate(c.failed, c.calls);
      m.slow_call_rate = rate(c.slow, c.calls);
    }
    return m;
  }
  /// The options it was built with.
  [[nodiscard]] const options& config() const noexcept { return o_; }

 private:
  using counts = detail::breaker_count_window::counts;

  friend struct detail::circuit_breaker_hooks<circuit_breaker>;

  // The state word: bits 0-2 state, 3-34 half-open permits, 35-63 generation.
  static constexpr unsigned permit_shift = 3;
  static constexpr unsigned gen_shift = 35;
  static constexpr std::uint64_t permit_mask = (std::uint64_t{1} << 32) - 1;
  static constexpr std::uint64_t gen_mask = (std::uint64_t{1} << 29) - 1;
  static breaker_state state_of(std::uint64_t w) noexcept { return static_cast<breaker_state>(w & 7u); }
  static std::uint64_t permits_of(std::uint64_t w) noexcept { return (w >> permit_shift) & permit_mask; }
  static std::uint64_t gen_of(std::uint64_t w) noexcept { return w >> gen_shift; }
  static std::uint64_t make_word(breaker_state s, std::uint64_t permits, std::uint64_t gen) noexcept {
    return static_cast<std::uint64_t>(s) | (permits << permit_shift) | (gen << gen_shift);
  }

  static void check(const options& o) {
    const auto bad = [](const char* what) {
      throw std::invalid_argument(std::string("surge::circuit_breaker: ") + what);
    };
    if (!(o.failure_rate_threshold > 0.0 && o.failure_rate_threshold <= 100.0))
      bad("failure_rate_threshold must be in (0, 100]");
    if (!(o.slow_call_rate_threshold > 0.0 && o.slow_call_rate_threshold <= 100.0))
      bad("slow_call_rate_threshold must be in (0, 100]");
    if (o.slow_call_duration <= std::chrono::nanoseconds::zero()) bad("slow_call_duration must be > 0");
    if (o.window != window_type::count_based && o.window != window_type::time_based)
      bad("window must be window_type::count_based or window_type::time_based");
    if (o.window_size == 0) bad("window_size must be >= 1");
    if (o.window == window_type::count_based && o.window_size > detail::breaker_count_window::max_size)
      bad("window_size must be <= 2^20 - 1 calls for a count-based window");
    if (o.window == window_type::time_based && o.window_size > 86400)
      bad("window_size must be <= 86400 seconds for a time-based window");
    if (o.minimum_calls == 0) bad("minimum_calls must be >= 1");
    if (o.wait_in_open < std::chrono::nanoseconds::zero()) bad("wait_in_open must be >= 0");
    if (o.half_open_calls == 0 || o.half_open_calls > (std::size_t{1} << 31))
      bad("half_open_calls must be in [1, 2^31]");
    if (o.max_wait_in_half_open < std::chrono::nanoseconds::zero()) bad("max_wait_in_half_open must be >= 0");
  }

  using rep = typename Clock::rep;
  static constexpr rep rep_max = std::numeric_limits<rep>::max();

  /// nanoseconds -> Clock ticks, rounded up (`up`) or down, saturating.
  static rep ticks_of(std::chrono::nanoseconds d, bool up) noexcept {
    using ratio = std::ratio_divide<std::nano, typename Clock::period>;  // ticks per ns
    const long double t = static_cast<long double>(d.count()) * ratio::num / ratio::den;
    if (t >= static_cast<long double>(rep_max)) return rep_max;
    const auto r = static_cast<rep>(t);
    return up && static_cast<long double>(r) < t ? r + 1 : r;
  }
  static rep sat_add(rep a, rep b) noexcept { return (b > 0 && a > rep_max - b) ? rep_max : a + b; }
  /// The second `t` falls in (rounded down), saturated to the int64 range.
  static std::int64_t seconds_of(time_point t) noexcept {
    using per_tick = std::ratio_divide<typename Clock::period, std::ratio<1>>;  // seconds per tick
    if constexpr (per_tick::num != 1) {
      // chrono multiplies the count by per_tick::num first: beyond 9.2e18 (< 2^63) do it in long double
      const long double wide = static_cast<long double>(t.time_since_epoch().count()) * per_tick::num;
      if (!(wide < 9.2e18L && wide > -9.2e18L)) {
        const long double sec = std::floor(wide / per_tick::den);
        if (sec >= 9.2e18L) return std::numeric_limits<std::int64_t>::max();
        if (sec <= -9.2e18L) return std::numeric_limits<std::int64_t>::min();
        return static_cast<std::int64_t>(sec);
      }
    }
    return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  }
  bool slow(duration elapsed) const noexcept {
    if (elapsed <= duration::zero()) return false;
    using ratio = std::ratio_divide<typename Clock::period, std::nano>;  // ns per tick
    const long double ns = static_cast<long double>(elapsed.count()) * ratio::num / ratio::den;
    return ns > static_cast<long double>(slow_ns_);
  }

  /// The rate (percent) of k outcomes among calls > 0, as metrics() reports it.
  static double rate(std::uint64_t k, std::uint64_t calls) noexcept {
    return static_cast<double>(k) * 100.0 / static_cast<double>(calls);
  }

  /// True when a window of c.calls > 0 outcomes is at or above a threshold:
  /// the rates metrics() reports, compared with the thresholds. (A product,
  /// k * 100 >= threshold * calls, rounds threshold * calls: with a threshold
  /// of 100.0 / 3 it took 1 failure in 3 for the threshold and 5 in 15 not.)
  bool above(const counts& c) const noexcept {
    return rate(c.failed, c.calls) >= o_.failure_rate_threshold || rate(c.slow, c.calls) >= o_.slow_call_rate_threshold;
  }

  /// What acquire() decided, and the state word it was granted or refused under.
  struct grant {
    bool ok = false;
    std::uint64_t word = 0;
    std::uint64_t period = 0;  // the full count of transitions behind `word` (half-open grants)
  };

  /// The permission decision.
  template <class Now>
  grant acquire(Now now_fn) {
    std::uint64_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      switch (state_of(w)) {
        case breaker_state::closed:
        case breaker_state::disabled:
          return {true, w};
        case breaker_state::forced_open:
          return {false, w};
        case breaker_state::open: {
          const time_point now = now_fn();
          if (now.time_since_epoch().count() <= open_until_.load(std::memory_order_acquire)) return {false, w};
          transition_if(w, period_of(w), breaker_state::half_open, now);
          w = word_.load(std::memory_order_acquire);
          continue;
        }
        case breaker_state::half_open: {
          if (max_half_open_ > 0) {
            const time_point now = now_fn();
            if (now.time_since_epoch().count() >= half_open_until_.load(std::memory_order_acquire)) {
              transition_if(w, period_of(w), breaker_state::open, now);
              // decided in the state it is in now: open (refused), or moved on
              // since (a fresh half-open period, a manual transition)
              w = word_.load(std::memory_order_acquire);
              continue;
            }
          }
          if (permits_of(w) == 0) {
            const std::uint64_t again = word_.load(std::memory_order_acquire);
            if (again == w) return {false, w};
            w = again;
            continue;
          }
          if (word_.compare_exchange_weak(w, w - (std::uint64_t{1} << permit_shift), std::memory_order_acq_rel,
                                          std::memory_order_acquire))
            return {true, w, period_of(w)};
          continue;
        }
      }
      return {false, w};
    }
  }

  /// The full count of transitions behind word `w` (its generation holds the
  /// low 29 bits): exact while fewer than 2^29 transitions separate `w` from
  /// the latest, so a permit or a decision held across 2^29 transitions is
  /// never taken for one of the current period.
  [[nodiscard]] std::uint64_t period_of(std::uint64_t w) const noexcept {
    const std::uint64_t p = period_.load(std::memory_order_acquire);  // at least w's: stored before the word
    return p - ((p - gen_of(w)) & gen_mask);
  }

  /// Gives a probe back. `word` and `period` are the word a permit was
  /// granted under and its period; with `same_period`, only into that
  /// half-open period.
  void release(std::uint64_t word, std::uint64_t period, bool same_period) noexcept {
    std::uint64_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      if (state_of(w) != breaker_state::half_open) return;
      if (same_period && (state_of(word) != breaker_state::half_open || period_of(w) != period)) return;
      if (permits_of(w) >= o_.half_open_calls) return;
      if (word_.compare_exchange_weak(w, w + (std::uint64_t{1} << permit_shift), std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return;
    }
  }

  template <class Now>
  void record(bool failed, duration elapsed, Now now_fn) {
    const bool is_slow = slow(elapsed);
    for (;;) {
      const std::uint64_t w = word_.load(std::memory_order_acquire);
      const breaker_state s = state_of(w);
      if (s == breaker_state::disabled || s == breaker_state::forced_open) return;
      if (s == breaker_state::closed || s == breaker_state::open) {
        record_window(w, period_of(w), failed, is_slow, now_fn);
        return;
      }
      // half-open: the probe window, under the mutex
      {
        std::unique_lock lock(mutex_);
        const std::uint64_t w2 = word_.load(std::memory_order_acquire);
        if (state_of(w2) != breaker_state::half_open) continue;
        // Nothing is counted before everything that may throw (the clock,
        // the transition's event): a throw then records nothing, instead of
        // counting the last probe without its decision (which left the
        // breaker half-open with no probe left, for good).
        const time_point now = now_fn();
        if (max_half_open_ > 0 && now.time_since_epoch().count() >= half_open_until_.load(std::memory_order_acquire)) {
          transition_locked(w2, breaker_state::open, now);
          lock.unlock();
          dispatch();
          continue;  // recorded in the open state's window
        }
        counts next = half_;
        ++next.calls;
        next.failed += failed ? 1 : 0;
        next.slow += is_slow ? 1 : 0;
        if (next.calls >= o_.half_open_calls)
          transition_locked(w2, above(next) ? breaker_state::open : breaker_state::closed, now);
        else
          half_ = next;
      }
      dispatch();
      return;
    }
  }

  /// Records into the closed state's window; decides only when CLOSED.
  template <class Now>
  void record_window(std::uint64_t w, std::uint64_t period, bool failed, bool is_slow, Now now_fn) {
    const auto hook = [this]() noexcept { detail::circuit_breaker_hooks<circuit_breaker>::tickets_taken(*this); };
    const std::uint64_t base = count_ ? base_.load(std::memory_order_acquire) : 0;
    if (const std::uint64_t lost = undecided_.load(std::memory_order_acquire); lost != 0) [[unlikely]]
      decide_again(w, period, base, lost, now_fn);
    if (count_ && !failed && !is_slow && count_->try_defer_success(base, hook)) return;  // cannot open a full window
    // A clock that may throw is read before the outcome is recorded, so that
    // a throw records nothing (rather than an outcome whose decision to open
    // is lost); a noexcept clock, only when the count window opens the
    // breaker (a reading per failure would cost more than the rest of the call).
    std::optional<time_point> now;
    if (!count_ || !noexcept(Clock::now())) now = now_fn();
    counts c;
    if (count_) {
      if (!count_->record(failed, is_slow, base, c, hook)) {  // unreadable: the next outcome decides
        if (state_of(w) == breaker_state::closed) leave_undecided(period);
        return;
      }
    } else {
      std::lock_guard lock(mutex_);
      time_->record(seconds_of(*now), failed, is_slow);
      c = time_->snapshot(seconds_of(*now));
    }
    if (state_of(w) != breaker_state::closed || c.calls < min_calls_ || !above(c)) return;
    transition_if(w, period, breaker_state::open, now ? *now : now_fn());
  }

  /// Takes a decision left to the next outcome (stamped `lost` in undecided_:
  /// its window could not be read, or its transition threw) on the window as
  /// it is, before the calling outcome joins it: opens, or clears the stamp
  /// when the window is below both thresholds (a decision left after the
  /// snapshot has another stamp and stays).
  template <class Now>
  void decide_again(std::uint64_t w, std::uint64_t period, std::uint64_t base, std::uint64_t lost, Now now_fn) {
    if (state_of(w) != breaker_state::closed) return;
    const time_point now = now_fn();
    counts c;
    if (count_ && !count_->snapshot(base, c)) return;  // unreadable now: the next outcome tries again
    {
      std::lock_guard lock(mutex_);
      if (time_) c = time_->snapshot(seconds_of(now));
      if (c.calls < min_calls_ || !above(c)) {
        undecided_.compare_exchange_strong(lost, 0, std::memory_order_relaxed);
        return;
      }
    }
    transition_if(w, period, breaker_state::open, now);
  }

  /// Leaves a decision of the CLOSED period `period` to the next outcome
  /// (decide_again), stamped in undecided_.
  void leave_undecided(std::uint64_t period) {
    std::lock_guard lock(mutex_);
    if (period_.load(std::memory_order_relaxed) != period) return;
    undecided_.store(++decisions_, std::memory_order_release);
  }

  /// Moves from the state of word `w` (of period `period`) to `to` if the
  /// breaker is still in that period. A CLOSED breaker's decision to open
  /// whose transition throws (std::bad_alloc queuing the listener's event)
  /// stays stamped in undecided_, and the next outcome takes it again.
  void transition_if(std::uint64_t w, std::uint64_t period, breaker_state to, time_point now) {
    {
      std::lock_guard lock(mutex_);
      const std::uint64_t cur = word_.load(std::memory_order_acquire);
      if (period_.load(std::memory_order_relaxed) != period || state_of(cur) != state_of(w)) return;
      if (state_of(cur) == breaker_state::closed && to == breaker_state::open)
        undecided_.store(++decisions_, std::memory_order_release);  // cleared by the transition
      transition_locked(cur, to, now);
    }
    dispatch();
  }

  void transition_locked(std::uint64_t cur, breaker_state to, time_point now) {
    const breaker_state from = state_of(cur);
    // first, as the only step that may throw (std::bad_alloc): a transition
    // that throws changes nothing
    if (from != to && o_.on_state_change) events_.emplace_back(from, to);
    std::uint64_t permits = 0;
    switch (to) {
      case breaker_state::closed:
        if (count_) {
          const std::uint64_t base = count_->word();
          count_->reset(base);
          base_.store(base, std::memory_order_release);
        }
        if (time_) time_->reset();
        break;
      case breaker_state::open:
        open_until_.store(sat_add(now.time_since_epoch().count(), wait_open_), std::memory_order_release);
        break;
      case breaker_state::half_open:
        half_ = counts{};
        permits = o_.half_open_calls;
        half_open_until_.store(max_half_open_ > 0 ? sat_add(now.time_since_epoch().count(), max_half_open_) : rep_max,
                               std::memory_order_release);
        break;
      case breaker_state::disabled:
      case breaker_state::forced_open:
        break;
    }
    const std::uint64_t period = period_.load(std::memory_order_relaxed) + 1;  // under mutex_
    period_.store(period, std::memory_order_release);                        // before the word: see period_of
    word_.store(make_word(to, permits, period & gen_mask), std::memory_order_release);
    undecided_.store(0, std::memory_order_relaxed);  // a pending decision to open is moot in the new period
  }

  /// Delivers queued state-change events, in order, with no lock held, on one
  /// thread at a time.
  void dispatch() noexcept {
    std::unique_lock lock(mutex_);
    if (dispatching_ || events_.empty()) return;
    dispatching_ = true;
    while (!events_.empty()) {
      const auto [from, to] = events_.front();
      events_.pop_front();
      lock.unlock();
      o_.on_state_change(from, to);  // noexcept context: a throw terminates
      lock.lock();
    }
    dispatching_ = false;
  }

  // read on every call: its own cache line
  alignas(detail::cache_line_size) std::atomic<std::uint64_t> word_{make_word(breaker_state::closed, 0, 0)};
  std::atomic<std::uint64_t> period_{0};  // transitions so far; the word's generation is its low 29 bits
  std::atomic<std::uint64_t> base_{0};
  std::atomic<rep> open_until_{0};
  std::atomic<rep> half_open_until_{rep_max};
  std::atomic<std::uint64_t> undecided_{0};  // non-zero: a decision left to the next outcome (its stamp)
  options o_;
  std::int64_t slow_ns_ = 0;
  rep wait_open_ = 0;
  rep max_half_open_ = 0;
  std::uint64_t min_calls_ = 0;
  std::unique_ptr<detail::breaker_count_window> count_;
  std::unique_ptr<detail::breaker_time_window> time_;
  alignas(detail::cache_line_size) std::mutex mutex_;
  counts half_;                  // guarded by mutex_
  std::uint64_t decisions_ = 0;  // guarded by mutex_: stamps of decisions to open
  std::deque<std::pair<breaker_state, breaker_state>> events_;
  bool dispatching_ = false;
};

}  // namespace surge

#endif  // SURGE_RESILIENCE_CIRCUIT_BREAKER_HPP
