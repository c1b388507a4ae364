/// @file surge/exec/channel.hpp
/// `channel<T>`: a bounded, closable multi-producer multi-consumer channel
/// between coroutines.
#ifndef SURGE_EXEC_CHANNEL_HPP
#define SURGE_EXEC_CHANNEL_HPP

#include <surge/detail/count_checks.hpp>
#include <surge/exec/detail/waiter_list.hpp>
#include <surge/exec/operation_cancelled.hpp>

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

namespace surge {

/// A bounded FIFO channel: `co_await ch.send(v)` suspends while the buffer is
/// full, `co_await ch.recv()` suspends while it is empty.
///
/// - `send(v)` yields `true` once `v` is in the channel (buffered or handed to a
///   receiver), `false` if the channel is closed (then `v` was not sent; the
///   awaiter dropped it).
/// - `recv()` yields the next value, or `std::nullopt` once the channel is
///   closed **and** drained: values buffered before close() are still received.
/// - `close()`: idempotent; wakes every waiting receiver (nullopt; the buffer
///   is then empty) and every waiting sender (false).
/// - FIFO-fair among waiters on each side: values leave in the order their
///   send completed, blocked senders complete in arrival order, blocked
///   receivers are served in arrival order; no one overtakes a waiter.
/// - Woken coroutines are resumed inline on the thread that made progress
///   possible (the peer's send/recv, or close), after the internal lock is
///   dropped (per-thread trampoline, FIFO).
/// - Cancellation: `send(v, token)` / `recv(token)` throw
///   surge::operation_cancelled when stop is requested before the operation
///   completed (also when already requested at the call): nothing was sent or
///   received.
/// - Requirements: T is move-constructible without throwing (values are moved
///   under the internal lock). Bad input: capacity 0 throws std::invalid_argument;
///   a bool, a character or a floating-point capacity does not compile.
///   Destroying a channel with waiters is undefined (assert); close it first
///   and let them finish.
/// Complexity: O(1) per send, recv, try_send and try_recv; close() O(waiters).
/// The buffer is allocated once (capacity slots). Thread-safe.
template <class T>
class channel {
  static_assert(std::is_nothrow_move_constructible_v<T>, "surge::channel<T>: T must be nothrow move-constructible");
  static_assert(!std::is_reference_v<T> && !std::is_const_v<T>, "surge::channel<T>: T must be a non-const object type");

 public:
  /// An open, empty channel buffering up to `capacity` values (allocated
  /// now); throws std::invalid_argument when `capacity` is 0 and
  /// std::length_error naming it when no buffer can be that long.
  explicit channel(std::size_t capacity) : slots_(checked(capacity)) {}
  /// A bool, a character or a floating-point number as the capacity does not
  /// compile (it would convert to std::size_t silently: 2.9 would be 2, '4' 52).
  template <detail::not_a_count C>
  explicit channel(const C&) : channel(std::size_t{1}) {
    static_assert(detail::refused_count<C>,
                  "surge::channel: the capacity must be an integer, not a bool, a character or a floating-point "
                  "number");
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;
  ~channel() {
    assert(senders_.empty() && receivers_.empty() && "surge::channel destroyed while coroutines wait on it");
    while (size_ > 0) pop_locked();
  }

  /// The awaiter send() returns: holds the value until it is sent; awaited
  /// once (co_await calls its members). Not copyable or movable.
  class send_awaiter : detail::cancellable_waiter<channel> {
    using base = detail::cancellable_waiter<channel>;
    using base::arm;
    using base::end_wait;
    using base::status_;
    using base::stopped_before_link;
    using base::stopped_before_wait;

   public:
    /// A send of `value` (moved in) on `ch`, cancelled by `token`; use send().
    send_awaiter(channel& ch, T&& value, std::stop_token token) noexcept
        : detail::cancellable_waiter<channel>(std::move(token)), channel_(ch), value_(std::move(value)) {}
    /// True (no suspension; await_resume throws) when stop was already requested.
    [[nodiscard]] bool await_ready() noexcept { return stopped_before_wait(); }
    /// Hands the value to a waiting receiver or the buffer, or queues the
    /// sender while the buffer is full; false (resume now) unless queued.
    bool await_suspend(std::coroutine_handle<> h) {
      arm(channel_, h);
      detail::waiter* wake = nullptr;
      {
        std::lock_guard guard(channel_.mutex_);
        if (stopped_before_link()) return false;
        if (channel_.closed_) {
          status_ = detail::wait_status::closed;
          return false;
        }
        if (auto* r = static_cast<recv_awaiter*>(channel_.receivers_.pop_front(detail::wait_status::done))) {
          r->value_.emplace(std::move(value_));  // buffer is empty while receivers wait
          wake = r;
        } else if (channel_.size_ < channel_.slots_.size()) {
          channel_.push_locked(std::move(value_));
        } else {
          channel_.senders_.push_back(*this);
          return true;
        }
        status_ = detail::wait_status::done;
      }
      if (wake) detail::resume_inline(*wake);
      return false;
    }
    /// True when the value was sent, false when the channel was closed;
    /// throws surge::operation_cancelled if the send was cancelled.
    [[nodiscard]] bool await_resume() {
      end_wait();
      return status_ == detail::wait_status::done;
    }

   private:
    friend class channel;
    channel& channel_;
    T value_;
  };

  /// The awaiter recv() returns; awaited once (co_await calls its members).
  /// Not copyable or movable.
  class recv_awaiter : detail::cancellable_waiter<channel> {
    using base = detail::cancellable_waiter<channel>;
    using base::arm;
    using base::end_wait;
    using base::status_;
    using base::stopped_before_link;
    using base::stopped_before_wait;

   public:
    /// A receive on `ch`, cancelled by `token`; use recv().
    recv_awaiter(channel& ch, std::stop_token token) noexcept
        : detail::cancellable_waiter<channel>(std::move(token)), channel_(ch) {}
    /// True (no suspension; await_resume throws) when stop was already requested.
    [[nodiscard]] bool await_ready() noexcept { return stopped_before_wait(); }
    /// Takes a buffered value (refilling the slot from a blocked sender), or
    /// queues the receiver while the channel is empty and open; false (resume
    /// now) unless queued.
    bool await_suspend(std::coroutine_handle<> h) {
      arm(channel_, h);
      detail::waiter* wake = nullptr;
      {
        std::lock_guard guard(channel_.mutex_);
        if (stopped_before_link()) return false;
        if (channel_.size_ > 0) {
          value_.emplace(channel_.pop_locked());
          // a blocked sender's value takes the freed slot
          if (auto* s = static_cast<send_awaiter*>(channel_.senders_.pop_front(detail::wait_status::done))) {
            channel_.push_locked(std::move(s->value_));
            wake = s;
          }
          status_ = detail::wait_status::done;
        } else if (channel_.closed_) {
          status_ = detail::wait_status::closed;
          return false;
        } else {
          channel_.receivers_.push_back(*this);
          return true;
        }
      }
      if (wake) detail::resume_inline(*wake);
      return false;
    }
    /// The value received, or std::nullopt when the channel was closed and
    /// drained; throws surge::operation_cancelled if the receive was cancelled.
    [[nodiscard]] std::optional<T> await_resume() {
      end_wait();
      return std::move(value_);
    }

   private:
    friend class channel;
    channel& channel_;
    std::optional<T> value_;
  };

  /// `co_await ch.send(v)` -> bool: true once sent, false if closed. The value
  /// is moved into the awaiter when send() is called.
  [[nodiscard]] send_awaiter send(T value,
                                  std::stop_token token = {}) noexcept(std::is_nothrow_move_constructible_v<T>) {
    return {*this, std::move(value), std::move(token)};
  }

  /// `co_await ch.recv()` -> std::optional<T>: the next value, or nullopt when
  /// closed and drained.
  [[nodiscard]] recv_awaiter recv(std::stop_token token = {}) noexcept { return {*this, std::move(token)}; }

  /// Non-suspending send: false if full or closed (then `value` is untouched).
  [[nodiscard]] bool try_send(T& value) noexcept {
    detail::waiter* wake = nullptr;
    {
      std::lock_guard guard(mutex_);
      if (closed_) return false;
      if (auto* r = static_cast<recv_awaiter*>(receivers_.pop_front(detail::wait_status::done))) {
        r->value_.emplace(std::move(value));
        wake = r;
      } else if (size_ < slots_.size()) {
        push_locked(std::move(value));
      } else {
        return false;
      }
    }
    if (wake) detail::resume_inline(*wake);
    return true;
  }

  /// Non-suspending receive: a value if one is buffered, else nullopt.
  [[nodiscard]] std::optional<T> try_recv() noexcept {
    std::optional<T> out;
    detail::waiter* wake = nullptr;
    {
      std::lock_guard guard(mutex_);
      if (size_ == 0) return out;
      out.emplace(pop_locked());
      if (auto* s = static_cast<send_awaiter*>(senders_.pop_front(detail::wait_status::done))) {
        push_locked(std::move(s->value_));
        wake = s;
      }
    }
    if (wake) detail::resume_inline(*wake);
    return out;
  }

  /// Closes the channel (idempotent) and wakes all waiters; see the class comment.
  void close() noexcept {
    detail::waiter* receivers;
    detail::waiter* senders;
    {
      std::lock_guard guard(mutex_);
      if (closed_) return;
      closed_ = true;
      receivers = mark_all(receivers_);
      senders = mark_all(senders_);
    }
    detail::resume_chain(receivers);
    detail::resume_chain(senders);
  }

  /// True once close() was called (a racing snapshot).
  [[nodiscard]] bool is_closed() const noexcept {
    std::lock_guard guard(mutex_);
    return closed_;
  }
  /// Values buffered now (a racing snapshot; blocked senders' values not counted).
  [[nodiscard]] std::size_t size() const noexcept {
    std::lock_guard guard(mutex_);
    return size_;
  }
  /// The buffer's size, as constructed.
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }

 private:
  template <class>
  friend struct detail::cancel_wait;
  static std::size_t checked(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("surge::channel: capacity must be > 0");
    if (capacity > std::vector<slot>().max_size()) throw std::length_error("surge::channel: capacity is too large");
    return capacity;
  }
  static detail::waiter* mark_all(detail::waiter_list& list) noexcept {
    detail::waiter* first = list.take_all();
    for (detail::waiter* w = first; w; w = w->next_) w->status_ = detail::wait_status::closed;
    return first;
  }

  struct slot {
    alignas(T) unsigned char bytes[sizeof(T)];
  };
  void push_locked(T&& v) noexcept {
    std::size_t i = head_ + size_;
    if (i >= slots_.size()) i -= slots_.size();
    ::new (static_cast<void*>(slots_[i].bytes)) T(std::move(v));
    ++size_;
  }
  T pop_locked() noexcept {
    T* p = std::launder(reinterpret_cast<T*>(slots_[head_].bytes));
    T out(std::move(*p));
    p->~T();
    if (++head_ == slots_.size()) head_ = 0;
    --size_;
    return out;
  }

  mutable std::mutex mutex_;
  std::vector<slot> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  bool closed_ = false;
  detail::waiter_list senders_;
  detail::waiter_list receivers_;
};

}  // namespace surge

#endif  // SURGE_EXEC_CHANNEL_HPP
