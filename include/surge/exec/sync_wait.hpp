/// @file surge/exec/sync_wait.hpp
/// `sync_wait(awaitable)`: run an awaitable to completion from ordinary code.
#ifndef SURGE_EXEC_SYNC_WAIT_HPP
#define SURGE_EXEC_SYNC_WAIT_HPP

#include <surge/exec/detail/awaitable_traits.hpp>
#include <surge/exec/detail/frame_allocator.hpp>
#include <surge/exec/detail/inline_resume.hpp>
#include <surge/exec/detail/unique_coroutine.hpp>

#include <condition_variable>
#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace surge {
namespace detail {

/// Where the waiting thread sleeps until the driver coroutine finishes.
struct sync_wait_event {
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;

  void set() noexcept {
    // notify under the lock: the waiter cannot return (and destroy this
    // event) before the notify is complete.
    std::lock_guard lock(mutex_);
    done_ = true;
    cv_.notify_one();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
  }
};

template <class R>
struct sync_wait_result {
  // References are kept as pointers, values in an optional.
  using stored = std::conditional_t<std::is_reference_v<R>, std::remove_reference_t<R>*, std::remove_cvref_t<R>>;
  std::optional<stored> value_;
  std::exception_ptr error_;

  template <class U>
  void set(U&& v) {
    if constexpr (std::is_reference_v<R>) {
      value_ = std::addressof(as_await_result<R>(v));
    } else {
      value_.emplace(as_await_result<R>(std::forward<U>(v)));
    }
  }
  R take() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (std::is_reference_v<R>) {
      return static_cast<R>(**value_);
    } else {
      return std::move(*value_);
    }
  }
};

template <>
struct sync_wait_result<void> {
  std::exception_ptr error_;
  void take() {
    if (error_) std::rethrow_exception(error_);
  }
};

/// The coroutine sync_wait drives: awaits the user's awaitable, stores the
/// outcome, and signals the event from its final suspend point.
class sync_wait_driver {
 public:
  struct promise_type : recycled_frame {
    sync_wait_event* event_ = nullptr;
    std::exception_ptr* error_ = nullptr;

    sync_wait_driver get_return_object() noexcept {
      return sync_wait_driver{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct signal {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) const noexcept { h.promise().event_->set(); }
        void await_resume() const noexcept {}
      };
      return signal{};
    }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { *error_ = std::current_exception(); }
  };

  void run(sync_wait_event& event, std::exception_ptr& error) {
    handle_.promise().event_ = &event;
    handle_.promise().error_ = &error;
    {
      const blocking_scope blocking;
      handle_.get().resume();
    }
    event.wait();
  }

 private:
  explicit sync_wait_driver(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  unique_coroutine<promise_type> handle_;
};

template <class A, class R>
sync_wait_driver make_sync_wait_driver(A&& awaitable, sync_wait_result<R>& out) {
  // An awaiter that cannot be moved is awaited by its name: g++ 12 copies an
  // operand of co_await that is not a plain lvalue into the frame, which such
  // a type refuses (sync_wait(ch.recv()) would not compile).
  constexpr bool pinned = !std::is_move_constructible_v<std::remove_cvref_t<A>>;
  if constexpr (std::is_void_v<R> && pinned) {
    co_await awaitable;
  } else if constexpr (std::is_void_v<R>) {
    co_await std::forward<A>(awaitable);
  } else if constexpr (pinned) {
    out.set(co_await awaitable);
  } else {
    out.set(co_await std::forward<A>(awaitable));
  }
}

}  // namespace detail

/// Runs `awaitable` (a task, when_all(...), any awaitable) on the calling
/// thread until it first suspends, then blocks the thread until it completes
/// wherever it resumes; returns its result (a value is moved out, an lvalue
/// reference stays a reference, an rvalue reference `T&&` gives a `T` moved
/// from what it names) or rethrows its exception.
///
/// The result type is surge::await_result_t<Awaitable>; where that names a
/// value and `co_await` yields one of another type (an awaitable with both a
/// member and a free `operator co_await`), the call does not compile rather
/// than convert it.
/// Blocking: waits on a condition variable. Never call it from a coroutine or
/// a pool worker that the awaitable needs in order to finish (deadlock).
/// Called from a coroutine that an unlock, release, send or close resumed
/// (which runs on this thread's trampoline), it first runs the coroutines
/// woken on this thread before the call, as a suspension would, and then
/// those its awaitable wakes on this thread as they are woken.
/// Complexity: one coroutine frame (recycled) plus what the awaitable does.
/// Thread-safe: may be called from any number of threads at once.
template <class Awaitable>
decltype(auto) sync_wait(Awaitable&& awaitable) {
  // What a T&& names may be owned by the awaiter, which dies before this
  // returns: it is moved into a T.
  using awaited_t = detail::await_result_t<Awaitable>;
  using result_t =
      std::conditional_t<std::is_rvalue_reference_v<awaited_t>, std::remove_cvref_t<awaited_t>, awaited_t>;
  detail::sync_wait_result<result_t> out;
  detail::sync_wait_event event;
  {
    auto driver = detail::make_sync_wait_driver<Awaitable, result_t>(std::forward<Awaitable>(awaitable), out);
    driver.run(event, out.error_);
  }
  if constexpr (std::is_void_v<result_t>) {
    out.take();
  } else if constexpr (std::is_reference_v<result_t>) {
    return out.take();
  } else {
    return static_cast<std::remove_cvref_t<result_t>>(out.take());
  }
}

}  // namespace surge

#endif  // SURGE_EXEC_SYNC_WAIT_HPP
