/// @file surge/redis/detail/breaker.hpp
/// The breaker surge::redis::token_bucket puts around its connection, behind
/// the small interface it needs (try_acquire_permission, on_success,
/// on_failure, release_permission): consecutive failures open it for a
/// while, then one probe at a time decides whether it closes again.
#ifndef SURGE_REDIS_DETAIL_BREAKER_HPP
#define SURGE_REDIS_DETAIL_BREAKER_HPP

#include <chrono>
#include <cstdint>
#include <mutex>

namespace surge::redis::detail {

template <class Clock>
class connection_breaker {
 public:
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;

  connection_breaker(std::uint32_t failure_threshold, duration open_for) noexcept
      : threshold_(failure_threshold), open_for_(open_for) {}

  /// True when a call may go to Redis: closed, or open long enough that this
  /// caller becomes the one probe.
  bool try_acquire_permission(time_point now) {
    std::lock_guard lock(mutex_);
    if (threshold_ == 0 || failures_ < threshold_) return true;
    if (probing_ || now < reopen_at_) return false;
    probing_ = true;
    return true;
  }
  void on_success(duration, time_point) {
    std::lock_guard lock(mutex_);
    failures_ = 0;
    probing_ = false;
  }
  void on_failure(duration, time_point now) {
    std::lock_guard lock(mutex_);
    if (failures_ < threshold_) ++failures_;
    if (threshold_ != 0 && failures_ >= threshold_) reopen_at_ = now + open_for_;
    probing_ = false;
  }
  /// Gives back a permission that ended neither in success nor failure.
  void release_permission() {
    std::lock_guard lock(mutex_);
    probing_ = false;
  }
  bool is_open() const {
    std::lock_guard lock(mutex_);
    return threshold_ != 0 && failures_ >= threshold_;
  }

 private:
  mutable std::mutex mutex_;
  std::uint32_t threshold_;
  duration open_for_;
  std::uint32_t failures_ = 0;
  bool probing_ = false;
  time_point reopen_at_{};
};

}  // namespace surge::redis::detail

#endif  // SURGE_REDIS_DETAIL_BREAKER_HPP
