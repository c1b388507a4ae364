/// @file surge/exec/spawn.hpp
/// `spawn(pool, task)`: run a task detached on a thread pool.
#ifndef SURGE_EXEC_SPAWN_HPP
#define SURGE_EXEC_SPAWN_HPP

#include <surge/exec/executor.hpp>
#include <surge/exec/task.hpp>

#include <coroutine>
#include <exception>
#include <stdexcept>
#include <utility>

namespace surge {
namespace detail {

/// Runs at the final suspend point of a spawned task (no wrapper coroutine:
/// the task's own frame is the only one). Reports an exception through the
/// pool (an exception escaping a posted task goes to the pool's handler),
/// destroys the frame, then drops the pool's work count, so wait_idle()
/// returns only after the frame and everything it held are gone.
template <class Pool, class T>
void finish_spawned(task_promise_base& base) noexcept {
  auto& promise = static_cast<task_promise<T>&>(base);
  Pool* const pool = static_cast<Pool*>(base.detached_context_);
  std::exception_ptr error = promise.error();
  std::coroutine_handle<task_promise<T>>::from_promise(promise).destroy();
  if (error) {
    try {
      pool->post([error] { std::rethrow_exception(error); });
    } catch (...) {
      std::terminate();  // the pool is shut down: no handler can run any more
    }
  }
  pool->work_finished();
}

}  // namespace detail

/// Starts `t` on `pool` without waiting for it ("fire and forget"). `pool`
/// is a surge::thread_pool or any other work_tracking_executor.
///
/// - The task starts on a pool worker (posted), runs wherever its awaits
///   resume it, and its frame is destroyed when it finishes.
/// - An exception escaping the task goes to the pool's exception handler
///   (thread_pool::set_exception_handler; by default std::terminate), via a
///   posted task that rethrows it. If the pool cannot take that task (it is
///   already shut down by then, or posting it throws std::bad_alloc),
///   std::terminate.
/// - `pool.wait_idle()` waits for spawned tasks too, including while they are
///   suspended outside the pool (on a timer, channel, mutex): spawn counts one
///   unit of work (`work_started`) until the frame is destroyed.
/// - Lifetime: the task must not refer to anything that dies before it
///   finishes — pass arguments by value, or wait_idle() before destroying
///   what it uses (see docs/exec.md, "lifetime rules").
/// - Bad input: an empty or already-awaited task throws std::logic_error.
///   Throws what `pool.post` throws (std::runtime_error after shutdown); the
///   task is then destroyed without running.
/// Complexity: O(1): one post, no allocation beyond the task's (recycled)
/// frame. Thread-safe (as thread_pool::post).
template <class Pool, class T>
requires work_tracking_executor<Pool>
void spawn(Pool& pool, task<T> t) {
  const auto h = detail::task_access::release(t);
  if (!h) throw std::logic_error("surge::spawn: empty (moved-from) task");
  auto& promise = h.promise();
  if (promise.awaited_) {
    h.destroy();
    throw std::logic_error("surge::spawn: task was already awaited");
  }
  promise.awaited_ = true;
  promise.detached_done_ = &detail::finish_spawned<Pool, T>;
  promise.detached_context_ = &pool;
  pool.work_started();
  try {
    pool.post(resume_handle{h});
  } catch (...) {
    h.destroy();
    pool.work_finished();
    throw;
  }
}

}  // namespace surge

#endif  // SURGE_EXEC_SPAWN_HPP
