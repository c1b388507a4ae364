/// @file surge/detail/adaptive_mutex.hpp
/// A mutex for short critical sections: spins briefly (with backoff), then
/// sleeps in `std::atomic::wait` (a futex on Linux), so it is as cheap as a
/// spin lock when the holder is about to leave and as polite as std::mutex
/// when it is not (or when there are more threads than cores).
#ifndef SURGE_DETAIL_ADAPTIVE_MUTEX_HPP
#define SURGE_DETAIL_ADAPTIVE_MUTEX_HPP

#include <atomic>
#include <cstdint>

#include <surge/detail/backoff.hpp>

namespace surge::detail {

/// Meets the Lockable requirements (use with std::lock_guard). State: 0 free,
/// 1 held, 2 held and a thread may be sleeping (then unlock wakes one).
/// Complexity: O(1) uncontended (one CAS to lock, one exchange to unlock).
/// Thread-safe. Not recursive: locking it twice from one thread deadlocks,
/// and unlocking it when not held is undefined behaviour (as std::mutex).
/// Not fair: a spinning thread may overtake a sleeping one.
class adaptive_mutex {
 public:
  adaptive_mutex() noexcept = default;
  adaptive_mutex(const adaptive_mutex&) = delete;
  adaptive_mutex& operator=(const adaptive_mutex&) = delete;

  void lock() noexcept {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    backoff<> b;
    while (b.spinning()) {  // the holder is likely to leave soon: spin politely
      b.pause();
      expected = 0;
      if (state_.load(std::memory_order_relaxed) == 0 &&
          state_.compare_exchange_weak(expected, 1, std::memory_order_acquire, std::memory_order_relaxed))
        return;
    }
    // Sleep; whoever takes the lock from here marks it 2 (maybe waiters).
    while (state_.exchange(2, std::memory_order_acquire) != 0) state_.wait(2, std::memory_order_relaxed);
  }

  [[nodiscard]] bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) state_.notify_one();
  }

 private:
  std::atomic<std::uint32_t> state_{0};
};

}  // namespace surge::detail

#endif  // SURGE_DETAIL_ADAPTIVE_MUTEX_HPP
