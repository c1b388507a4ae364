/// @file surge/exec/executor.hpp
/// What surge's coroutine tools need from an executor: `surge::executor`
/// (timer), `surge::work_tracking_executor` (spawn), and `resume_handle`,
/// the callable they post to it. surge::thread_pool models both concepts.
#ifndef SURGE_EXEC_EXECUTOR_HPP
#define SURGE_EXEC_EXECUTOR_HPP

#include <coroutine>

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

/// An executor that also counts outstanding work, so that its idle wait
/// covers detached tasks: `spawn` calls `work_started()` before it posts and
/// `work_finished()` once the task's frame is gone. surge::thread_pool is
/// one (its wait_idle() then waits for spawned tasks too).
template <class E>
concept work_tracking_executor = executor<E> && requires(E& e) {
  e.work_started();
  e.work_finished();
};

}  // namespace surge

#endif  // SURGE_EXEC_EXECUTOR_HPP
