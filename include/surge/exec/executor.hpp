/// @file surge/exec/executor.hpp
/// What surge's coroutine tools need from an executor: `surge::executor`
/// (timer), `surge::work_tracking_executor` (spawn), and `resume_handle`,
/// the callable they post to it. surge::thread_pool models both concepts.
#ifndef SURGE_EXEC_EXECUTOR_HPP
#define SURGE_EXEC_EXECUTOR_HPP

#include <coroutine>
#include <functional>
#include <utility>

namespace surge {

/// The callable surge posts to an executor to resume a suspended coroutine:
/// `f()` resumes `handle` on the calling thread. Trivially copyable and the
/// size of a pointer, so an executor can store it without allocating.
/// Calling it once is the contract (a coroutine is resumed once per
/// suspension); calling it twice, or on an empty handle, is undefined, as
/// for `std::coroutine_handle::resume`. Thread safety: a plain value.
struct resume_handle {
  std::coroutine_handle<> handle;  ///< The coroutine to resume.
  /// Resumes `handle`. O(1) plus whatever the coroutine runs until its next
  /// suspension.
  void operator()() const { handle.resume(); }
};

/// An executor a timer can resume sleepers on: `e.post(f)` accepts a
/// resume_handle and runs it later, once, on one of its threads (it may
/// throw if it cannot, e.g. after shutdown). surge::thread_pool is one.
template <class E>
concept executor = requires(E& e, std::coroutine_handle<> h) {
  e.post(resume_handle{h});
};

/// An executor that also takes any callable and counts outstanding work, so
/// that its idle wait covers detached tasks: `spawn` calls `work_started()`
/// before it posts the task and `work_finished()` once the task's frame is
/// gone, and reports an exception that escaped the task by posting a small
/// callable that rethrows it (so `post` must accept any `void()` callable,
/// checked here with a std::function). surge::thread_pool is one (its
/// wait_idle() then waits for spawned tasks too).
template <class E>
concept work_tracking_executor = executor<E> && requires(E& e, std::function<void()> f) {
  e.post(std::move(f));
  e.work_started();
  e.work_finished();
};

}  // namespace surge

#endif  // SURGE_EXEC_EXECUTOR_HPP
