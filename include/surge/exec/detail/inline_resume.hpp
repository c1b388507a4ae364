/// @file surge/exec/detail/inline_resume.hpp
/// A per-thread trampoline for resuming waiters inline (internal to surge/exec).
///
/// When an unlock, release, send or close wakes a waiting coroutine, surge
/// resumes it on the calling thread after dropping its internal lock. Done
/// naively (a plain `resume()` call) a chain of hand-offs nests: the woken
/// coroutine unlocks and wakes the next one from inside the first resume, and
/// 1e5 waiters would need 1e5 stack frames. `resume_inline` instead runs at
/// most one trampoline per thread: the outermost call resumes its waiter and
/// then, in FIFO order, every waiter that was woken meanwhile on this thread;
/// nested calls only append to the queue. The stack stays flat and wake-up
/// order is preserved.
#ifndef SURGE_EXEC_DETAIL_INLINE_RESUME_HPP
#define SURGE_EXEC_DETAIL_INLINE_RESUME_HPP

#include <coroutine>

namespace surge::detail {

/// A suspended coroutine that can be queued on the trampoline without
/// allocating; lives inside the waiting coroutine's awaiter.
struct resumable {
  std::coroutine_handle<> handle_{};
  resumable* next_ready_ = nullptr;
};

struct trampoline_state {
  bool active;
  resumable* head;
  resumable* tail;
};

inline thread_local constinit trampoline_state trampoline{};

/// Appends `r` to this thread's trampoline queue; run_trampoline() resumes it.
inline void trampoline_enqueue(resumable& r) noexcept {
  trampoline_state& t = trampoline;
  r.next_ready_ = nullptr;
  if (t.tail) {
    t.tail->next_ready_ = &r;
  } else {
    t.head = &r;
  }
  t.tail = &r;
}

/// Resumes the queued coroutines in FIFO order, and those they queue in
/// turn, unless this thread is already running the trampoline (whose loop
/// will then reach them). Each may destroy its `resumable`.
inline void run_trampoline() noexcept {
  trampoline_state& t = trampoline;
  if (t.active) return;
  t.active = true;
  // `t` is this thread's state: a coroutine may have migrated, but this call
  // did not (resume() returns on the thread that called it).
  while (resumable* n = t.head) {
    t.head = n->next_ready_;
    if (!t.head) t.tail = nullptr;
    const std::coroutine_handle<> h = n->handle_;
    h.resume();
  }
  t.active = false;
}

/// Resumes `r.handle_` on this thread, or queues it if this thread is already
/// running the trampoline. `r` may be destroyed by the resumed coroutine.
inline void resume_inline(resumable& r) noexcept {
  trampoline_enqueue(r);
  run_trampoline();
}

/// Marks a call that blocks its thread until coroutines finish (sync_wait).
/// Made inside a coroutine this thread's trampoline runs, the coroutines the
/// trampoline queued, and those woken during the call, would wait behind
/// that coroutine, which does not suspend while it blocks; if the call needs
/// them, forever. So the queue runs now, as if the coroutine had suspended,
/// and until the scope ends wake-ups on this thread run at once (on a
/// trampoline of their own); then the outer loop continues.
class blocking_scope {
 public:
  blocking_scope() noexcept : outer_active_(trampoline.active) {
    trampoline.active = false;
    run_trampoline();
  }
  blocking_scope(const blocking_scope&) = delete;
  blocking_scope& operator=(const blocking_scope&) = delete;
  // the queue is empty: every run_trampoline() made meanwhile drained it
  ~blocking_scope() { trampoline.active = outer_active_; }

 private:
  bool outer_active_;
};

}  // namespace surge::detail

#endif  // SURGE_EXEC_DETAIL_INLINE_RESUME_HPP
