/// @file surge/queue/queue_closed.hpp
/// The exception a closed queue's blocking calls throw.
#ifndef SURGE_QUEUE_QUEUE_CLOSED_HPP
#define SURGE_QUEUE_QUEUE_CLOSED_HPP

#include <exception>

namespace surge {

/// Thrown by `mpmc_queue::push`/`emplace` called after `close()`, and by a
/// blocking `mpmc_queue::pop` once the queue is closed and every item pushed
/// before the close has been taken (including a `pop` that was already
/// waiting when `close()` was called). Nothing is enqueued or removed by the
/// call that throws it. Thread safety: an immutable value type.
class queue_closed : public std::exception {
 public:
  /// The fixed message "surge: queue closed" (static storage; never null).
  [[nodiscard]] const char* what() const noexcept override { return "surge: queue closed"; }
};

}  // namespace surge

#endif  // SURGE_QUEUE_QUEUE_CLOSED_HPP
