// Test support for the thread pool tests: a watchdog that aborts the test
// program (with a message) if a scope does not finish within its deadline, so
// a lost wake-up or a deadlock fails loudly instead of hanging CI; and the
// scale factor for sanitizer builds.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace pool_test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

/// `full` in normal builds, `full / divisor` under ASan/TSan (which slow
/// concurrent code 5-20x); keeps every suite within its time budget.
template <class T>
constexpr T scaled(T full, T divisor = 10) {
  return sanitized ? full / divisor : full;
}

/// Aborts the process if not destroyed within `limit`. The wait is a timed
/// wait on a condition variable signalled by the destructor (no sleeping).
class watchdog {
 public:
  explicit watchdog(const char* what, std::chrono::seconds limit = std::chrono::seconds(60))
      : thread_([this, what, limit] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: '%s' did not finish within %lld s (lost wake-up or deadlock)\n", what,
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

/// Busy work of roughly `n` steps (no sleeping): gives workers time to go idle.
inline unsigned spin_work(unsigned n) {
  volatile unsigned x = 0;
  for (unsigned i = 0; i < n; ++i) x = x + i;
  return x;
}

}  // namespace pool_test
