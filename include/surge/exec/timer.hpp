/// @file surge/exec/timer.hpp
/// `timer<Clock>`: a timer service for coroutines (`co_await sleep_for(t, d)`).
#ifndef SURGE_EXEC_TIMER_HPP
#define SURGE_EXEC_TIMER_HPP

#include <surge/detail/saturate.hpp>
#include <surge/exec/detail/inline_resume.hpp>
#include <surge/exec/executor.hpp>
#include <surge/exec/operation_cancelled.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace surge {

/// Options for timer (designated initialisers: `{.own_thread = false}`).
struct timer_options {
  /// Start a thread that fires deadlines as the clock reaches them. Without
  /// it, someone must call run_due() (tests with a manual clock, or an
  /// application's own loop).
  bool own_thread = true;
};

namespace detail {

/// `d` in `To` units (truncated toward zero like duration_cast), saturated to
/// To's range instead of overflowing. Throws std::invalid_argument for a NaN `d`.
/// The range check is done in long double (no overflow in any unit). A value
/// that fits is std::chrono::duration_cast's (exact) when that cannot overflow
/// on the way (an integer count times the ratio's numerator), else the long
/// double value truncated: duration_cast would overflow, or round a double
/// just below the range up past it.
template <class To, class Rep, class Period>
constexpr To saturating_duration_cast(std::chrono::duration<Rep, Period> d) {
  if constexpr (std::chrono::treat_as_floating_point_v<Rep>) {
    if (!(d.count() == d.count())) throw std::invalid_argument("surge::timer: the duration d is NaN");
  }
  if constexpr (std::chrono::treat_as_floating_point_v<typename To::rep>) {
    return std::chrono::duration_cast<To>(d);
  } else {
    using wide = std::chrono::duration<long double, typename To::period>;
    const wide w = std::chrono::duration_cast<wide>(d);
    if (w >= wide(To::max())) return To::max();
    if (w <= wide(To::min())) return To::min();
    if (cast_fits<typename To::period>(d)) return std::chrono::duration_cast<To>(d);
    return To(static_cast<typename To::rep>(w.count()));
  }
}

}  // namespace detail

/// A timer service: coroutines `co_await sleep_for(timer, d)` or
/// `sleep_until(timer, t)` and are resumed once `Clock::now()` reaches their
/// deadline.
///
/// - Resumption: on the executor given at construction (anything with
///   `post(callable)`, e.g. surge::thread_pool: the sleeper resumes on a
///   worker); without one, inline on the thread that fires the timer (the
///   timer's own thread or the run_due() caller). A deadline already reached
///   when awaited completes at once, without suspending.
/// - Order: sleepers fire in deadline order; equal deadlines in the order
///   their waits began. (With an executor, resumption order on several workers
///   is up to the executor.) Without one, the sleepers fired together are
///   resumed one at a time: each runs until it suspends or ends, and so do
///   the coroutines it wakes on that thread (an unlock, a send), before the
///   next is resumed; fired from a coroutine that this thread's wake-ups
///   resume, they are queued behind it instead. Destroying the timer cancels
///   the pending sleepers in the same order.
/// - Time: `Clock` is injected (a Cpp17Clock). The own thread waits on a
///   condition variable for `deadline - now` of Clock time; with a clock that
///   does not follow real time (a manual clock), call wake() after moving it,
///   or drive the timer with run_due() instead.
/// - Cancellation: a wait given a `std::stop_token` throws
///   surge::operation_cancelled from the co_await when stop is requested before
///   the deadline fired (also when already requested at the call). Destroying
///   the timer cancels every pending sleep the same way. A sleep is resumed
///   exactly once, by whichever of firing, cancellation or destruction comes
///   first.
/// - Extremes: deadlines saturate. `sleep_for(t, d)` with a `d` so long that
///   `now + d` would pass the clock's range (`nanoseconds::max()`,
///   `hours::max()`: "sleep until cancelled") sleeps until
///   `time_point::max()`, which never fires; a `d` so negative that `now + d`
///   would fall below the range completes at once, like any past deadline.
///   `sleep_until(t, tp)` converts a deadline in another unit of Clock the
///   same way (`time_point<Clock, seconds>::max()` sleeps until cancelled). A
///   NaN floating-point duration or deadline throws std::invalid_argument. The
///   own thread never waits more than an hour at a time (one tick, for a clock
///   coarser than that; duration::max(), for a duration that cannot hold an
///   hour), whatever the deadline.
/// - A Clock::now() that throws: the exception propagates from sleep_for,
///   the co_await or run_due(), which then change nothing; on the own
///   thread it calls std::terminate (as any exception escaping a thread).
/// - Bad use: destroying the executor before the timer is undefined.
/// Complexity: a binary heap: sleep O(log n), cancel O(log n), firing k due
/// sleepers O(k log n); memory O(n) for n pending sleepers (tested with 1e5).
/// Thread-safe: sleeps, cancellations, run_due() and wake() may come from any
/// thread.
template <class Clock = std::chrono::steady_clock>
class timer {
 public:
  using clock = Clock;                            ///< The clock deadlines are read on.
  using duration = typename Clock::duration;      ///< Clock's duration.
  using time_point = typename Clock::time_point;  ///< Clock's time point (a deadline).

  /// Resumes sleepers inline on the firing thread.
  explicit timer(timer_options options = {}) { start(options); }

  /// Resumes sleepers on `executor` (any surge::executor, such as
  /// thread_pool) via `executor.post(resume_handle)`. The executor must
  /// outlive the timer.
  template <executor Executor>
  explicit timer(Executor& executor, timer_options options = {})
      : executor_(&executor),
        post_([](void* e, std::coroutine_handle<> h) { static_cast<Executor*>(e)->post(resume_handle{h}); }) {
    start(options);
  }

  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

  /// Stops the thread, then cancels every pending sleep (operation_cancelled).
  /// With the own thread, blocks until that thread is done resuming what it
  /// fired; called from a coroutine that an async_mutex unlock, a release, a
  /// send or a close resumed on this thread, it first runs the coroutines
  /// those woke on this thread before the call (as sync_wait does): a
  /// sleeper resumed inline on the timer's thread may wait for one of them.
  /// Destroying it on its own thread (in a sleeper resumed there, without an
  /// executor) calls std::terminate: that thread cannot join itself.
  ~timer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
      // A blocking call: made in a coroutine a trampoline runs, what that
      // queued behind it runs first (the thread may wait for it).
      const detail::blocking_scope blocking;
      thread_.join();
    }
    sleeper* chain = nullptr;
    {
      std::lock_guard lock(mutex_);
      take_locked(time_point::max(), status::cancelled, chain);
    }
    resume_all(chain, post_, executor_);
  }

  class sleep_awaiter;

  /// `co_await t.sleep_until(deadline[, token])`. A deadline of Clock in
  /// another unit (`time_point<Clock, seconds>`) is converted saturating,
  /// as sleep_for's duration: one past the clock's range is
  /// time_point::max() (`time_point<Clock, hours>::max()` sleeps until
  /// cancelled) or min() (at once). A NaN deadline (a floating-point rep)
  /// throws std::invalid_argument.
  template <class Duration = duration>
  [[nodiscard]] sleep_awaiter sleep_until(std::chrono::time_point<typename time_point::clock, Duration> deadline,
                                          std::stop_token token = {}) {
    return sleep_awaiter(*this, checked(deadline), std::move(token));
  }
  /// `co_await t.sleep_for(d[, token])`: deadline = Clock::now() + d, read at
  /// the call, saturated to the clock's range (see the class comment); `d` of
  /// any unit is converted to Clock's saturating (`hours::max()` sleeps until
  /// cancelled). A NaN `d` throws std::invalid_argument.
  template <class Rep, class Period>
  [[nodiscard]] sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d, std::stop_token token = {}) {
    return sleep_awaiter(*this, checked(deadline_after(Clock::now(), d)), std::move(token));
  }

  /// `now + d`, saturated to [time_point::min(), time_point::max()]; `d` of
  /// any unit is first converted to Clock's, saturating as sleep_for does
  /// (a NaN `d` throws std::invalid_argument). O(1).
  template <class Rep, class Period>
  [[nodiscard]] static constexpr time_point deadline_after(
      time_point now, std::chrono::duration<Rep, Period> in) noexcept(!std::chrono::treat_as_floating_point_v<Rep>) {
    const duration d = detail::saturating_duration_cast<duration>(in);
    const duration since = now.time_since_epoch();
    if (d > duration::zero() && since > duration::zero() && d > duration::max() - since) return time_point::max();
    if (d < duration::zero() && since < duration::zero() && d < duration::min() - since) return time_point::min();
    return now + d;
  }

  /// Fires every sleeper whose deadline is <= Clock::now(); returns how many.
  /// Sleepers are resumed (or posted) after the internal lock is dropped. One
  /// of them may destroy the timer (inline, or on the executor while this call
  /// posts the rest; not on the timer's own thread, see ~timer): the others
  /// it fired are still resumed as this timer would have (the call reads
  /// nothing of the timer once the first is delivered).
  std::size_t run_due() {
    std::size_t n = 0;
    sleeper* chain = nullptr;
    {
      std::lock_guard lock(mutex_);
      n = take_locked(Clock::now(), status::fired, chain);
    }
    resume_all(chain, post_, executor_);
    return n;
  }

  /// Makes the timer's thread re-read the clock now (after a manual clock moved).
  void wake() {
    {
      std::lock_guard lock(mutex_);
      ++wakes_;
    }
    cv_.notify_all();
  }

  /// Sleepers waiting now (a racing snapshot).
  [[nodiscard]] std::size_t pending() const {
    std::lock_guard lock(mutex_);
    return heap_.size();
  }
  /// The earliest pending deadline, or std::nullopt when no one sleeps (a
  /// racing snapshot).
  [[nodiscard]] std::optional<time_point> next_deadline() const {
    std::lock_guard lock(mutex_);
    if (heap_.empty()) return std::nullopt;
    return heap_.front()->deadline_;
  }

 private:
  enum class status : unsigned char { idle, queued, fired, cancelled };
  static constexpr std::size_t not_queued = static_cast<std::size_t>(-1);

  struct sleeper;
  struct canceller {
    timer* timer_;
    sleeper* sleeper_;
    void operator()() const noexcept { timer_->cancel(*sleeper_); }
  };
  struct sleeper : detail::resumable {
    time_point deadline_{};
    std::uint64_t seq_ = 0;
    std::size_t index_ = not_queued;
    status status_ = status::idle;
    bool cancel_pending_ = false;
    std::optional<std::stop_callback<canceller>> callback_;
  };
  using post_fn = void (*)(void*, std::coroutine_handle<>);

 public:
  /// The awaiter of sleep_for / sleep_until (lives in the sleeping coroutine's frame).
  class sleep_awaiter : sleeper {
   public:
    /// A sleep on `t` until `deadline`, cancelled by `token`; use sleep_until / sleep_for.
    sleep_awaiter(timer& t, time_point deadline, std::stop_token token) noexcept : timer_(t), token_(std::move(token)) {
      this->deadline_ = deadline;
    }
    sleep_awaiter(const sleep_awaiter&) = delete;
    sleep_awaiter& operator=(const sleep_awaiter&) = delete;

    /// True (no suspension) when stop was already requested or the deadline
    /// has passed (reads the clock once; what Clock::now() throws propagates
    /// from the co_await, and the sleep never began).
    [[nodiscard]] bool await_ready() {
      if (token_.stop_requested()) {
        this->status_ = status::cancelled;
        return true;
      }
      if (this->deadline_ <= Clock::now()) {
        this->status_ = status::fired;
        return true;
      }
      return false;
    }
    /// Queues the sleeper on the timer (false, resume now, when it was
    /// cancelled meanwhile or the timer is being destroyed).
    bool await_suspend(std::coroutine_handle<> h) {
      this->handle_ = h;
      if (token_.stop_possible()) this->callback_.emplace(token_, canceller{&timer_, this});
      // Once pushed, this awaiter belongs to the timer: a stop request on
      // another thread may cancel it, resume the coroutine and free its frame
      // (this object) as soon as the lock is dropped. So everything, the
      // notification included, happens under the lock, and nothing of `this`
      // is touched after it (the guard is a local; `return true` reads nothing).
      std::lock_guard lock(timer_.mutex_);
      if (this->cancel_pending_) {
        this->status_ = status::cancelled;
        return false;
      }
      if (timer_.stopping_) {  // being destroyed: nothing would fire
        this->status_ = status::cancelled;
        return false;
      }
      timer_.push_locked(*this);
      if (timer_.heap_.front() == this) timer_.cv_.notify_all();  // the earliest deadline moved
      return true;
    }
    /// Returns once the deadline passed; throws surge::operation_cancelled if
    /// the sleep was cancelled (or the timer destroyed before it fired).
    void await_resume() {
      this->callback_.reset();  // waits for a stop callback running elsewhere
      if (this->status_ == status::cancelled) throw operation_cancelled{};
    }

   private:
    timer& timer_;
    std::stop_token token_;
  };

 private:
  void start(timer_options options) {
    if (options.own_thread) thread_ = std::thread([this] { run_thread(); });
  }

  void run_thread() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (heap_.empty()) {
        const std::uint64_t seen = wakes_;
        cv_.wait(lock, [&] { return stopping_ || !heap_.empty() || wakes_ != seen; });
        continue;
      }
      const time_point now = Clock::now();
      const time_point next = heap_.front()->deadline_;
      if (next <= now) {
        lock.unlock();
        run_due();
        lock.lock();
        continue;
      }
      const std::uint64_t seen = wakes_;
      // The front is identified by its push stamp, unique per sleep, not by
      // its address: a cancelled front sleeper whose coroutine sleeps again
      // (a co_await in a loop) is a new sleeper at the same address.
      const std::uint64_t top = heap_.front()->seq_;
      cv_.wait_for(lock, wait_step(now, next),
                   [&] { return stopping_ || wakes_ != seen || heap_.empty() || heap_.front()->seq_ != top; });
      // re-read the clock on every pass: a timeout or a wake both land here
    }
  }

  /// The deadline in Clock's unit (converted saturating), refused when NaN
  /// (it would compare false with every other: it would never fire and
  /// would stop the sleepers behind it).
  template <class Duration>
  static time_point checked(std::chrono::time_point<typename time_point::clock, Duration> deadline) {
    const Duration since = deadline.time_since_epoch();
    if constexpr (std::chrono::treat_as_floating_point_v<typename Duration::rep>) {
      if (!(since.count() == since.count())) throw std::invalid_argument("surge::timer: the deadline is NaN");
    }
    if constexpr (std::is_same_v<Duration, duration>) {
      return deadline;
    } else {
      return time_point(detail::saturating_duration_cast<duration>(since));
    }
  }

  /// How long the own thread waits for a deadline `next` > `now`: the
  /// distance, computed without overflow, and at most an hour (the
  /// condition variable adds it to the steady clock's now(), which must not
  /// overflow either; a far deadline is simply waited for in steps).
  static duration wait_step(time_point now, time_point next) noexcept {
    // an hour (duration::max() if the duration cannot hold one), or one tick
    // of a clock coarser than that (never 0 or less: such a wait would spin
    // until the deadline)
    constexpr duration cap = std::max(detail::saturating_duration_cast<duration>(std::chrono::hours(1)), duration(1));
    const duration since = now.time_since_epoch();
    if (since < duration::zero() && next.time_since_epoch() > duration::max() + since) return cap;
    const duration d = next - now;
    return d < cap ? d : cap;
  }

  // Resumes fired or destroyed-timer sleepers (not on the cancellation path).
  // Each one's stop callback is removed first (waiting for one running on
  // another thread, which finds the sleeper no longer queued), so that a stop
  // request arriving later never reaches this timer, which may be gone by then:
  // a sleeper resumed here may destroy it, so nothing of the timer is read
  // once the first one runs (the executor is passed in).
  static void resume_all(sleeper* chain, post_fn post, void* executor) noexcept {
    while (chain) {
      sleeper* next = static_cast<sleeper*>(chain->next_ready_);
      chain->callback_.reset();
      deliver(*chain, post, executor);
      chain = next;
    }
  }

  static void deliver(sleeper& s, post_fn post, void* executor) noexcept {
    if (post) {
      try {
        post(executor, s.handle_);
        return;
      } catch (...) {
        // the executor refuses work (shut down): resume here rather than leak
      }
      const std::coroutine_handle<> h = s.handle_;
      h.resume();
      return;
    }
    detail::resume_inline(s);
  }

  // Runs inside the sleeper's stop callback.
  void cancel(sleeper& s) noexcept {
    post_fn post;
    void* executor;
    {
      std::lock_guard lock(mutex_);
      if (s.status_ != status::queued) {
        if (s.status_ == status::idle) s.cancel_pending_ = true;
        return;
      }
      erase_locked(s);
      s.status_ = status::cancelled;
      post = post_;
      executor = executor_;
    }
    deliver(s, post, executor);  // `this` may be destroyed from here on
  }

  // ---- the heap of sleepers (by deadline, then sequence) ------------------
  static bool earlier(const sleeper* a, const sleeper* b) noexcept {
    return a->deadline_ < b->deadline_ || (a->deadline_ == b->deadline_ && a->seq_ < b->seq_);
  }
  void place(std::size_t i, sleeper* s) noexcept {
    heap_[i] = s;
    s->index_ = i;
  }
  void sift_up(std::size_t i) noexcept {
    sleeper* s = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!earlier(s, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, s);
  }
  void sift_down(std::size_t i) noexcept {
    sleeper* s = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && earlier(heap_[child + 1], heap_[child])) ++child;
      if (!earlier(heap_[child], s)) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, s);
  }
  void push_locked(sleeper& s) {
    heap_.push_back(&s);  // first: if it throws, s is not marked queued
    s.seq_ = next_seq_++;
    s.status_ = status::queued;
    sift_up(heap_.size() - 1);
  }
  // Takes every sleeper whose deadline is <= `until` off the heap, marked
  // `st`, into `chain` in the order they fire; returns how many.
  std::size_t take_locked(time_point until, status st, sleeper*& chain) noexcept {
    std::size_t n = 0;
    sleeper* last = nullptr;
    while (!heap_.empty() && heap_.front()->deadline_ <= until) {
      sleeper* s = heap_.front();
      erase_locked(*s);
      s->status_ = st;
      s->next_ready_ = nullptr;
      if (last) {
        last->next_ready_ = s;
      } else {
        chain = s;
      }
      last = s;
      ++n;
    }
    return n;
  }
  void erase_locked(sleeper& s) noexcept {
    const std::size_t i = s.index_;
    sleeper* last = heap_.back();
    heap_.pop_back();
    s.index_ = not_queued;
    if (last != &s) {
      place(i, last);
      sift_down(i);
      sift_up(last->index_);
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<sleeper*> heap_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t wakes_ = 0;
  bool stopping_ = false;
  void* executor_ = nullptr;
  post_fn post_ = nullptr;
  std::thread thread_;
};


/// `co_await sleep_for(timer, d[, token])`: see timer. `d` of any unit is
/// converted to Clock's, saturating (`hours::max()` sleeps until cancelled);
/// a NaN `d` throws std::invalid_argument.
template <class Clock, class Rep, class Period>
[[nodiscard]] auto sleep_for(timer<Clock>& t, std::chrono::duration<Rep, Period> d, std::stop_token token = {}) {
  return t.sleep_for(d, std::move(token));
}

/// `co_await sleep_until(timer, deadline[, token])`: see timer::sleep_until
/// (a deadline in another unit of Clock is converted saturating).
template <class Clock, class Duration = typename Clock::duration>
[[nodiscard]] auto sleep_until(timer<Clock>& t,
                               std::chrono::time_point<typename Clock::time_point::clock, Duration> deadline,
                               std::stop_token token = {}) {
  return t.sleep_until(deadline, std::move(token));
}

}  // namespace surge

#endif  // SURGE_EXEC_TIMER_HPP
