/// @file surge/exec/async_mutex.hpp
/// `async_mutex`: a mutex whose lock is awaited, never blocking a thread.
#ifndef SURGE_EXEC_ASYNC_MUTEX_HPP
#define SURGE_EXEC_ASYNC_MUTEX_HPP

#include <surge/exec/detail/waiter_list.hpp>
#include <surge/exec/operation_cancelled.hpp>

#include <cassert>
#include <coroutine>
#include <mutex>
#include <stop_token>
#include <utility>

namespace surge {

class async_mutex;

/// Owns a lock on an async_mutex (from `co_await m.scoped_lock()`) and
/// unlocks it when destroyed or on unlock(). Move-only. Not thread-safe (one
/// owner), but it may be destroyed on another thread than the one that locked.
class [[nodiscard]] async_mutex_lock {
 public:
  /// Owns nothing; destroying it does nothing.
  async_mutex_lock() noexcept = default;
  /// Takes over the lock the caller already holds on `m` (from `co_await
  /// m.lock()` or a successful try_lock); `m` must outlive this object.
  explicit async_mutex_lock(async_mutex& m, std::adopt_lock_t) noexcept : mutex_(&m) {}
  /// Takes `o`'s lock; `o` then owns nothing.
  async_mutex_lock(async_mutex_lock&& o) noexcept : mutex_(std::exchange(o.mutex_, nullptr)) {}
  /// Unlocks what this object owned, then takes `o`'s lock (self-move: no-op).
  async_mutex_lock& operator=(async_mutex_lock&& o) noexcept {
    if (this != &o) {
      unlock();
      mutex_ = std::exchange(o.mutex_, nullptr);
    }
    return *this;
  }
  async_mutex_lock(const async_mutex_lock&) = delete;
  async_mutex_lock& operator=(const async_mutex_lock&) = delete;
  ~async_mutex_lock() { unlock(); }

  /// Releases the lock now (no-op if already released).
  inline void unlock() noexcept;
  /// True while this object holds the lock.
  [[nodiscard]] bool owns_lock() const noexcept { return mutex_ != nullptr; }

 private:
  async_mutex* mutex_ = nullptr;
};

/// A mutual-exclusion lock for coroutines: `co_await m.lock()` suspends the
/// coroutine (not the thread) until the lock is free.
///
/// - FIFO-fair: unlock() hands the lock directly to the longest-waiting
///   coroutine; try_lock() and new lockers never overtake a waiter.
/// - The woken coroutine is resumed inline on the thread calling unlock(),
///   after the internal lock is dropped (a per-thread trampoline keeps a chain
///   of hand-offs at constant stack depth). Wrap with `co_await pool.schedule()`
///   to continue elsewhere.
/// - Cancellation: `lock(token)` / `scoped_lock(token)` throw
///   surge::operation_cancelled from the co_await when stop is requested before
///   the lock was granted (also when already requested at the call); the lock
///   is then not held.
/// - Not recursive. unlock() of an unlocked mutex is a precondition violation
///   (assert in debug builds). unlock() by a coroutine that does not hold the
///   lock is one too, but is not detected: the mutex records no owner, so it
///   releases the holder's lock (or hands it to the first waiter). Destroying
///   the mutex while coroutines wait on it is undefined (assert).
/// Complexity: O(1) lock, try_lock, unlock (one short internal critical
/// section each). Thread-safe.
class async_mutex {
 public:
  async_mutex() noexcept = default;
  async_mutex(const async_mutex&) = delete;
  async_mutex& operator=(const async_mutex&) = delete;
  ~async_mutex() { assert(waiters_.empty() && "surge::async_mutex destroyed while coroutines wait on it"); }

  /// Takes the lock if it is free and no one waits; never suspends.
  [[nodiscard]] bool try_lock() noexcept {
    std::lock_guard guard(mutex_);
    return try_take_locked();
  }

  /// The awaiter lock() returns: `co_await` it once; it yields nothing and
  /// the caller then owns the lock (or it throws surge::operation_cancelled
  /// when the wait was cancelled, and nothing is held). Not copyable or
  /// movable: await it where lock() returned it.
  class lock_awaiter : public detail::grant_awaiter<async_mutex> {
   public:
    using grant_awaiter::grant_awaiter;
  };

  /// The awaiter of scoped_lock(): as lock_awaiter, yielding an
  /// async_mutex_lock that owns the lock. Obtained from scoped_lock() and
  /// awaited once.
  class scoped_lock_awaiter : public lock_awaiter {
   public:
    using lock_awaiter::await_ready;
    using lock_awaiter::await_suspend;
    using lock_awaiter::lock_awaiter;
    /// The lock, now held, as an owning guard; throws surge::operation_cancelled
    /// if the wait was cancelled (then nothing is held).
    [[nodiscard]] async_mutex_lock await_resume() {
      lock_awaiter::await_resume();
      return async_mutex_lock(owner_, std::adopt_lock);
    }
  };

  /// `co_await m.lock()`: suspends until the lock is held; the caller must
  /// unlock(). See the class comment for cancellation.
  [[nodiscard]] lock_awaiter lock(std::stop_token token = {}) noexcept { return {*this, std::move(token)}; }

  /// `auto guard = co_await m.scoped_lock();`: as lock(), yielding an
  /// async_mutex_lock that unlocks when destroyed.
  [[nodiscard]] scoped_lock_awaiter scoped_lock(std::stop_token token = {}) noexcept {
    return {*this, std::move(token)};
  }

  /// Releases the lock, handing it to the first waiter if any (resumed inline
  /// on this thread, after the internal lock is dropped).
  void unlock() noexcept {
    detail::waiter* next;
    {
      std::lock_guard guard(mutex_);
      assert(locked_ && "surge::async_mutex::unlock of an unlocked mutex");
      next = waiters_.pop_front(detail::wait_status::done);
      if (!next) locked_ = false;
    }
    if (next) detail::resume_inline(*next);
  }

  /// Racy snapshot: true if the lock is held right now.
  [[nodiscard]] bool is_locked() const noexcept {
    std::lock_guard guard(mutex_);
    return locked_;
  }

 private:
  template <class>
  friend struct detail::cancel_wait;
  friend class detail::grant_awaiter<async_mutex>;
  bool try_take_locked() noexcept {
    if (locked_) return false;
    locked_ = true;
    return true;
  }

  mutable std::mutex mutex_;
  bool locked_ = false;
  detail::waiter_list waiters_;
};

inline void async_mutex_lock::unlock() noexcept {
  if (mutex_) std::exchange(mutex_, nullptr)->unlock();
}

}  // namespace surge

#endif  // SURGE_EXEC_ASYNC_MUTEX_HPP
