// Test support for concurrency tests: a watchdog that aborts the test program
// (with a message) if a test runs past its deadline instead of hanging CI, and
// a flag telling whether a sanitizer slows the build down (tests scale their
// item counts with it; no test asserts on timing).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace surge_test {

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

/// `full` in a normal build, `full / divisor` under a sanitizer (at least 1).
template <class N>
constexpr N scaled(N full, N divisor = 10) {
  return sanitized ? (full / divisor > 0 ? full / divisor : N{1}) : full;
}

/// Aborts the process if not destroyed within `limit`: a hung concurrency test
/// fails loudly instead of stalling CI. Waits on a condition variable (never
/// sleeps); the deadline is a safety net, not a timing assertion.
class watchdog {
 public:
  explicit watchdog(const char* what, std::chrono::seconds limit = std::chrono::seconds(120))
      : thread_([this, what, limit] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: '%s' still running after %llds: aborting\n", what,
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}

  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  ~watchdog() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace surge_test
