/// @file surge/exec/spawn.hpp
/// `spawn(pool, task)`: run a task detached on a thread pool.
#ifndef SURGE_EXEC_SPAWN_HPP
#define SURGE_EXEC_SPAWN_HPP

#include <surge/exec/detail/frame_allocator.hpp>
#include <surge/exec/detail/inline_resume.hpp>
#include <surge/exec/task.hpp>

#include <coroutine>
#include <exception>
#include <utility>

namespace surge {
namespace detail {

/// What spawn needs from a pool (surge::thread_pool has it all): post a
/// callable, and count outstanding work so that wait_idle() waits for it.
template <class Pool>
concept spawn_pool = requires(Pool& p, std::coroutine_handle<> h) {
  p.post(resume_handle{h});
  p.work_started();
  p.work_finished();
};

/// The detached coroutine around a spawned task. Its frame owns the task's
/// frame; both are destroyed at its final suspend point, after which the
/// pool's work count drops (so wait_idle() returns only after destruction).
template <class Pool>
class spawned {
public:
  struct promise_type : recycled_frame {
    Pool* pool_ = nullptr;

    spawned get_return_object() noexcept { return spawned{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct finish {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
          Pool* pool = h.promise().pool_;
          h.destroy();
          pool->work_finished();
        }
        void await_resume() const noexcept {}
      };
      return finish{};
    }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }  // body catches all
  };
  std::coroutine_handle<promise_type> handle_;
};

template <class Pool, class T>
spawned<Pool> make_spawned(Pool& pool, task<T> t) {
  std::exception_ptr error;
  try {
    co_await std::move(t);
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    // Report through the pool: an exception escaping a posted task goes to
    // the pool's exception handler. Posting can only fail after shutdown,
    // when there is no handler left to run it.
    try {
      pool.post([error] { std::rethrow_exception(error); });
    } catch (...) {
      std::terminate();
    }
  }
}

}  // namespace detail

/// Starts `t` on `pool` without waiting for it ("fire and forget").
///
/// - The task starts on a pool worker (posted), runs wherever its awaits
///   resume it, and its frame is destroyed when it finishes.
/// - An exception escaping the task goes to the pool's exception handler
///   (thread_pool::set_exception_handler; by default std::terminate), via a
///   posted task that rethrows it.
/// - `pool.wait_idle()` waits for spawned tasks too, including while they are
///   suspended outside the pool (on a timer, channel, mutex): spawn counts one
///   unit of work (`work_started`) until the frame is destroyed.
/// - Lifetime: the task must not refer to anything that dies before it
///   finishes — capture by value, or wait_idle() before destroying what it uses.
/// - Throws what `pool.post` throws (std::runtime_error after shutdown); the task
///   is then destroyed without running.
/// Complexity: O(1); two recycled frames (the task's and a wrapper's) and one
/// post. Thread-safe (as thread_pool::post).
template <class Pool, class T>
  requires detail::spawn_pool<Pool>
void spawn(Pool& pool, task<T> t) {
  detail::spawned<Pool> s = detail::make_spawned(pool, std::move(t));
  const auto h = s.handle_;
  h.promise().pool_ = &pool;
  pool.work_started();
  try {
    pool.post(detail::resume_handle{h});
  } catch (...) {
    h.destroy();
    pool.work_finished();
    throw;
  }
}

}  // namespace surge

#endif  // SURGE_EXEC_SPAWN_HPP
