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

/// Sets this thread's trampoline aside for its lifetime and starts an empty
/// one. For a call that blocks its thread until coroutines finish
/// (sync_wait): made inside a coroutine the trampoline runs, the coroutines it
/// wakes on this thread would otherwise only be queued behind that coroutine,
/// which never suspends while it blocks. Those queued before stay queued and
/// run when the outer trampoline continues.
class fresh_trampoline {
 public:
  fresh_trampoline() noexcept : saved_(trampoline) { trampoline = trampoline_state{}; }
  fresh_trampoline(const fresh_trampoline&) = delete;
  fresh_trampoline& operator=(const fresh_trampoline&) = delete;
  // the nested trampoline has drained: every resume_inline made meanwhile returned
  ~fresh_trampoline() { trampoline = saved_; }

 private:
  trampoline_state saved_;
};

}  // namespace surge::detail

#endif  // SURGE_EXEC_DETAIL_INLINE_RESUME_HPP
