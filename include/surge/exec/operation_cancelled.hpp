/// @file surge/exec/operation_cancelled.hpp
/// The exception a cancelled wait throws.
#ifndef SURGE_EXEC_OPERATION_CANCELLED_HPP
#define SURGE_EXEC_OPERATION_CANCELLED_HPP

#include <exception>

namespace surge {

/// Thrown from `co_await` of a wait (sleep_for/sleep_until, async_mutex lock,
/// async_semaphore acquire, channel send/recv) that was given a
/// `std::stop_token` on which stop was requested before the wait completed.
/// A cancelled wait has no effect: no lock held, no permit taken, no value
/// sent or received. `retry` and `retry_async` (surge/resilience/retry.hpp)
/// throw it too when stop is requested on their token before an attempt or
/// during a sleep. Thread safety: an immutable value type.
class operation_cancelled : public std::exception {
 public:
  /// The fixed message "surge: operation cancelled" (static storage; never null).
  [[nodiscard]] const char* what() const noexcept override { return "surge: operation cancelled"; }
};

}  // namespace surge

#endif  // SURGE_EXEC_OPERATION_CANCELLED_HPP
