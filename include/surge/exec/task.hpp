/// @file surge/exec/task.hpp
/// `task<T>`: a lazily started coroutine producing a T (or void, or T&).
#ifndef SURGE_EXEC_TASK_HPP
#define SURGE_EXEC_TASK_HPP

#include <surge/exec/detail/frame_allocator.hpp>
#include <surge/exec/detail/unique_coroutine.hpp>

#include <coroutine>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace surge {

template <class T = void>
class task;

namespace detail {

struct task_access;

/// The frame of the task being started inline by the innermost task awaiter
/// on this thread (see task_awaiter::await_suspend); a task completing while
/// it is still this frame clears it to say "finished synchronously".
inline thread_local constinit void* task_starting = nullptr;

struct task_promise_base : recycled_frame {
  std::coroutine_handle<> continuation_{};
  // Set by spawn(): a detached task calls this at its final suspend point
  // instead of resuming an awaiter; it destroys the frame.
  void (*detached_done_)(task_promise_base&) noexcept = nullptr;
  void* detached_context_ = nullptr;
  bool awaited_ = false;

  struct final_awaiter {
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      void*& starting = task_starting;
      if (starting == self.address()) {
        // Completed inside the awaiter's resume() call: the awaiter resumes
        // its coroutine by returning false from await_suspend, so the stack
        // unwinds here instead of growing (see task_awaiter).
        starting = nullptr;
        return std::noop_coroutine();
      }
      task_promise_base& promise = self.promise();
      if (promise.detached_done_) {
        promise.detached_done_(promise);  // destroys the frame
        return std::noop_coroutine();
      }
      return promise.continuation_;
    }
    void await_resume() const noexcept {}
  };

  [[nodiscard]] std::suspend_always initial_suspend() const noexcept { return {}; }
  [[nodiscard]] final_awaiter final_suspend() const noexcept { return {}; }
};

template <class T>
class task_promise final : public task_promise_base {
 public:
  task_promise() noexcept {}
  task_promise(const task_promise&) = delete;
  task_promise& operator=(const task_promise&) = delete;
  ~task_promise() {
    if (state_ == state::value) {
      value_.~T();
    } else if (state_ == state::error) {
      error_.~exception_ptr();
    }
  }

  task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept {
    // a local's destructor may throw after co_return stored the value
    if (state_ == state::value) value_.~T();
    ::new (static_cast<void*>(std::addressof(error_))) std::exception_ptr(std::current_exception());
    state_ = state::error;
  }
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    ::new (static_cast<void*>(std::addressof(value_))) T(std::forward<U>(v));
    state_ = state::value;
  }

  T result() {
    if (state_ == state::error) std::rethrow_exception(error_);
    return std::move(value_);
  }
  [[nodiscard]] std::exception_ptr error() const noexcept {
    return state_ == state::error ? error_ : std::exception_ptr();
  }

 private:
  enum class state : unsigned char { empty, value, error };
  union {
    T value_;
    std::exception_ptr error_;
  };
  state state_ = state::empty;
};

template <class T>
class task_promise<T&> final : public task_promise_base {
 public:
  task<T&> get_return_object() noexcept;
  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  void return_value(T& v) noexcept { value_ = std::addressof(v); }
  // A temporary (which `T&` binds when T is const) dies at the end of the
  // co_return statement, before the awaiter reads the reference; refused as
  // std::reference_wrapper refuses one.
  void return_value(std::remove_const_t<T>&&) = delete;
  T& result() {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  [[nodiscard]] std::exception_ptr error() const noexcept { return error_; }

 private:
  T* value_ = nullptr;
  std::exception_ptr error_;
};

template <>
class task_promise<void> final : public task_promise_base {
 public:
  task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  void return_void() const noexcept {}
  void result() {
    if (error_) std::rethrow_exception(error_);
  }
  [[nodiscard]] std::exception_ptr error() const noexcept { return error_; }

 private:
  std::exception_ptr error_;
};

/// Awaits a task: starts it on this thread and resumes the awaiting coroutine
/// when it finishes.
///
/// Why await_suspend returns bool rather than the child's handle: g++ 12
/// emits symmetric transfer as a real tail call only at -O2 and above without
/// sanitizers (GCC bug 100897). Elsewhere, a loop of child tasks that complete
/// at once would grow the stack by a frame or two per iteration (child final
/// suspend resumes the parent, which starts the next child...). Here the
/// child is started with an ordinary resume() call; if it completes before
/// that call returns (its final_awaiter sees itself in `task_starting`), it
/// does not resume the parent: await_suspend returns false and the parent
/// simply continues, one stack level up. Only a child that really suspended
/// resumes its parent, from its final_suspend, by symmetric transfer.
/// The thread-local handshake costs no atomic read-modify-write.
template <class T>
struct task_awaiter {
  std::coroutine_handle<task_promise<T>> handle_;

  [[nodiscard]] bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
    handle_.promise().continuation_ = awaiting;
    void*& starting = task_starting;
    void* const outer = starting;
    const std::coroutine_handle<> child = handle_;
    starting = child.address();
    child.resume();
    // From here on, `this` may be gone: if the child suspended, another thread
    // may already have completed it and resumed (even destroyed) the awaiter.
    const bool finished_inline = starting == nullptr;
    starting = outer;
    return !finished_inline;
  }
  decltype(auto) await_resume() { return handle_.promise().result(); }
};

}  // namespace detail

/// A lazily started coroutine that produces a `T` (`task<void>`: nothing;
/// `task<T&>`: a reference). The body runs only when the task is awaited
/// (`co_await t`, `sync_wait(t)`, `when_all`, `spawn`), on the awaiting
/// thread, and resumes the awaiter when it finishes: `co_await` yields its
/// value or rethrows its exception.
///
/// - `task<T&>` returns a reference to an object that outlives the task:
///   `co_return` of a temporary (which `const T&` would bind) does not compile.
/// - Move-only; single-await. Awaiting an empty (default-constructed or
///   moved-from) task, or awaiting a task a second time, throws
///   `std::logic_error` from the `co_await` expression (always, not only in
///   debug builds: the check is one byte).
/// - Destroying a task destroys its coroutine frame (and the arguments and
///   locals it holds), whether or not it ran. Do not destroy a task while it is
///   suspended inside an `co_await` that someone else will resume.
/// - Complexity: `co_await` of a task that completes without suspending is
///   O(1) with no atomic operations; its frame comes from a per-thread
///   recycler (no malloc in steady state). A loop of such awaits uses constant
///   stack in every build mode (symmetric transfer). Nested awaits
///   (a task awaiting a task awaiting ...) use stack like nested calls.
/// - Thread safety: a task object is not thread-safe; the coroutine may be
///   resumed on any thread by what it awaits.
template <class T>
class [[nodiscard]] task {
 public:
  /// @private
  /// The coroutine promise: what the compiler uses to run a coroutine that
  /// returns task<T> (an implementation type, not for direct use; left out
  /// of the reference).
  using promise_type = detail::task_promise<T>;
  /// What `co_await` of the task yields (void for task<void>).
  using value_type = T;

  /// An empty task (awaiting it throws std::logic_error). Moves leave the
  /// source empty; move assignment destroys the frame it replaces.
  task() noexcept = default;

  /// True if this task owns a coroutine (false when default-constructed or moved from).
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(handle_); }
  /// True once the coroutine ran to completion. Not synchronised: read it only
  /// from the thread that awaited the task after it resumed.
  [[nodiscard]] bool done() const noexcept { return handle_ && handle_.get().done(); }

  /// `co_await task` (lvalue or rvalue): runs the task; yields its result
  /// (moved out) or rethrows its exception. Throws std::logic_error when the
  /// task is empty or was already awaited.
  auto operator co_await() & { return make_awaiter(); }
  /// As the lvalue overload: `co_await make_task()` on a temporary task.
  auto operator co_await() && { return make_awaiter(); }

 private:
  friend promise_type;
  friend struct detail::task_access;
  explicit task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}

  detail::task_awaiter<T> make_awaiter() {
    if (!handle_) throw std::logic_error("surge::task: co_await on an empty (moved-from) task");
    if (handle_.promise().awaited_) throw std::logic_error("surge::task: co_await on a task that was already awaited");
    handle_.promise().awaited_ = true;
    return detail::task_awaiter<T>{handle_.get()};
  }

  detail::unique_coroutine<promise_type> handle_;
};

namespace detail {
/// Lets surge's own adaptors (spawn) take a task's coroutine out of it.
struct task_access {
  template <class T>
  static std::coroutine_handle<task_promise<T>> release(task<T>& t) noexcept {
    return t.handle_.release();
  }
};

template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise>::from_promise(*this)};
}
template <class T>
task<T&> task_promise<T&>::get_return_object() noexcept {
  return task<T&>{std::coroutine_handle<task_promise>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise>::from_promise(*this)};
}
}  // namespace detail

}  // namespace surge

#endif  // SURGE_EXEC_TASK_HPP
