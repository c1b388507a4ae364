/// @file surge/exec/async_semaphore.hpp
/// `async_semaphore`: a counting semaphore whose acquire is awaited.
#ifndef SURGE_EXEC_ASYNC_SEMAPHORE_HPP
#define SURGE_EXEC_ASYNC_SEMAPHORE_HPP

#include <surge/exec/detail/waiter_list.hpp>
#include <surge/exec/operation_cancelled.hpp>

#include <cassert>
#include <coroutine>
#include <cstddef>
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
///   std::invalid_argument. The count is not capped: releasing more than was
///   acquired raises it. Destroying it while coroutines wait is undefined (assert).
/// Complexity: O(1) acquire/try_acquire; O(k) release waking k waiters.
/// Thread-safe.
class async_semaphore {
public:
  explicit async_semaphore(std::ptrdiff_t initial) : count_(initial) {
    if (initial < 0) throw std::invalid_argument("surge::async_semaphore: initial count must be >= 0");
  }
  async_semaphore(const async_semaphore&) = delete;
  async_semaphore& operator=(const async_semaphore&) = delete;
  ~async_semaphore() { assert(waiters_.empty() && "surge::async_semaphore destroyed while coroutines wait on it"); }

  /// Takes a permit if one is free; never suspends.
  [[nodiscard]] bool try_acquire() noexcept {
    std::lock_guard guard(mutex_);
    if (count_ == 0) return false;
    --count_;
    return true;
  }

  class acquire_awaiter : detail::cancellable_waiter<async_semaphore> {
  public:
    acquire_awaiter(async_semaphore& s, std::stop_token token) noexcept
        : detail::cancellable_waiter<async_semaphore>(std::move(token)), sem_(s) {}
    [[nodiscard]] bool await_ready() noexcept {
      if (token_.stop_requested()) {
        status_ = detail::wait_status::cancelled;
        return true;
      }
      if (!sem_.try_acquire()) return false;
      status_ = detail::wait_status::done;
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      arm(sem_, h);
      std::lock_guard guard(sem_.mutex_);
      if (cancel_pending_) {
        status_ = detail::wait_status::cancelled;
        return false;
      }
      if (sem_.count_ > 0) {
        --sem_.count_;
        status_ = detail::wait_status::done;
        return false;
      }
      sem_.waiters_.push_back(*this);
      return true;
    }
    void await_resume() {
      disarm();
      if (status_ == detail::wait_status::cancelled) throw operation_cancelled{};
    }

  private:
    async_semaphore& sem_;
  };

  /// `co_await s.acquire()`: suspends until a permit is granted.
  [[nodiscard]] acquire_awaiter acquire(std::stop_token token = {}) noexcept { return {*this, std::move(token)}; }

  /// Returns `n` permits: wakes up to `n` waiters (FIFO), the rest raise the count.
  void release(std::ptrdiff_t n = 1) {
    if (n < 0) throw std::invalid_argument("surge::async_semaphore::release: n must be >= 0");
    detail::waiter* first = nullptr;
    detail::waiter* last = nullptr;
    {
      std::lock_guard guard(mutex_);
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

  /// Racy snapshot of the free permits.
  [[nodiscard]] std::ptrdiff_t available() const noexcept {
    std::lock_guard guard(mutex_);
    return count_;
  }

private:
  template <class>
  friend struct detail::cancel_wait;
  bool cancel_wait(detail::waiter& w) noexcept {
    std::lock_guard guard(mutex_);
    return static_cast<detail::cancellable_waiter<async_semaphore>&>(w).cancel_locked();
  }

  mutable std::mutex mutex_;
  std::ptrdiff_t count_;
  detail::waiter_list waiters_;
};

}  // namespace surge

#endif  // SURGE_EXEC_ASYNC_SEMAPHORE_HPP
