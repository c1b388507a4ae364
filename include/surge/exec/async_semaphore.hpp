/// @file surge/exec/async_semaphore.hpp
/// `async_semaphore`: a counting semaphore whose acquire is awaited.
#ifndef SURGE_EXEC_ASYNC_SEMAPHORE_HPP
#define SURGE_EXEC_ASYNC_SEMAPHORE_HPP

#include <surge/detail/count_checks.hpp>
#include <surge/exec/detail/waiter_list.hpp>
#include <surge/exec/operation_cancelled.hpp>

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <utility>

namespace surge {

/// A counting semaphore for coroutines: `co_await s.acquire()` takes one
/// permit, suspending the coroutine (not the thread) while none is free;
/// `release(n)` returns permits.
///
/// - FIFO-fair: release() hands permits directly to the longest-waiting
///   coroutines; try_acquire() and new acquirers never overtake a waiter.
/// - Woken coroutines are resumed inline on the thread calling release(),
///   after the internal lock is dropped, in FIFO order (per-thread trampoline).
/// - Cancellation: `acquire(token)` throws surge::operation_cancelled from the
///   co_await when stop is requested before a permit was granted (also when
///   already requested at the call); no permit is then taken.
/// - Bad input: a negative initial count or release(n < 0) throws
///   std::invalid_argument; a bool, a character or a floating-point initial
///   count does not compile. The count is not capped by the initial count:
///   releasing more than was acquired raises it, up to PTRDIFF_MAX; a
///   release(n) that would raise it past PTRDIFF_MAX throws
///   std::invalid_argument and changes nothing (no waiter is woken).
///   Destroying it while coroutines wait is undefined (assert).
/// Complexity: O(1) acquire/try_acquire; O(k) release waking k waiters.
/// Thread-safe.
class async_semaphore {
 public:
  /// A semaphore with `initial` permits; throws std::invalid_argument when
  /// `initial` is negative.
  explicit async_semaphore(std::ptrdiff_t initial) : count_(initial) {
    if (initial < 0) throw std::invalid_argument("surge::async_semaphore: initial count must be >= 0");
  }
  /// A bool, a character or a floating-point number as the initial count does
  /// not compile (it would convert to std::ptrdiff_t silently: 2.9 would be 2).
  template <detail::not_a_count N>
  explicit async_semaphore(const N&) : async_semaphore(std::ptrdiff_t{0}) {
    static_assert(detail::refused_count<N>,
                  "surge::async_semaphore: the initial count must be an integer, not a bool, a character or a "
                  "floating-point number");
  }
  async_semaphore(const async_semaphore&) = delete;
  async_semaphore& operator=(const async_semaphore&) = delete;
  ~async_semaphore() { assert(waiters_.empty() && "surge::async_semaphore destroyed while coroutines wait on it"); }

  /// Takes a permit if one is free; never suspends.
  [[nodiscard]] bool try_acquire() noexcept {
    std::lock_guard guard(mutex_);
    return try_take_locked();
  }

  /// The awaiter acquire() returns: `co_await` it once; it yields nothing
  /// and the caller then holds a permit (or it throws
  /// surge::operation_cancelled when the wait was cancelled, and no permit is
  /// held). Not copyable or movable: await it where acquire() returned it.
  class acquire_awaiter : public detail::grant_awaiter<async_semaphore> {
   public:
    using grant_awaiter::grant_awaiter;
  };

  /// `co_await s.acquire()`: suspends until a permit is granted.
  [[nodiscard]] acquire_awaiter acquire(std::stop_token token = {}) noexcept { return {*this, std::move(token)}; }

  /// Returns `n` permits: wakes up to `n` waiters (FIFO), the rest raise the
  /// count. Throws std::invalid_argument, changing nothing, when n < 0 or when
  /// the count would pass PTRDIFF_MAX. A bool, a character or a
  /// floating-point count does not compile (2.5 would return 2 permits).
  void release(std::ptrdiff_t n = 1) {
    if (n < 0) throw std::invalid_argument("surge::async_semaphore::release: n must be >= 0");
    detail::waiter* first = nullptr;
    detail::waiter* last = nullptr;
    {
      std::lock_guard guard(mutex_);
      // Waiters exist only while the count is 0, so checking before waking
      // anyone is exact: permits handed to waiters never reach the count.
      if (n > std::numeric_limits<std::ptrdiff_t>::max() - count_)
        throw std::invalid_argument("surge::async_semaphore::release: n would raise the count past PTRDIFF_MAX");
      for (; n > 0; --n) {
        detail::waiter* w = waiters_.pop_front(detail::wait_status::done);
        if (!w) break;
        (last ? last->next_ : first) = w;
        last = w;
      }
      count_ += n;
    }
    detail::resume_chain(first);
  }
  /// release with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <detail::not_a_count N>
  void release(const N&) {
    static_assert(detail::refused_count<N>,
                  "surge::async_semaphore::release: n must be an integer, not a bool, a character or a "
                  "floating-point number");
  }

  /// Racy snapshot of the free permits.
  [[nodiscard]] std::ptrdiff_t available() const noexcept {
    std::lock_guard guard(mutex_);
    return count_;
  }

 private:
  template <class>
  friend struct detail::cancel_wait;
  friend class detail::grant_awaiter<async_semaphore>;
  bool try_take_locked() noexcept {
    if (count_ == 0) return false;
    --count_;
    return true;
  }

  mutable std::mutex mutex_;
  std::ptrdiff_t count_;
  detail::waiter_list waiters_;
};

}  // namespace surge

#endif  // SURGE_EXEC_ASYNC_SEMAPHORE_HPP
