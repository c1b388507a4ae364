/// @file surge/exec/detail/waiter_list.hpp
/// The FIFO of suspended coroutines behind async_mutex, async_semaphore and
/// channel, with std::stop_token cancellation (internal to surge/exec).
///
/// Protocol. Each primitive guards its state and its waiter lists with one
/// internal std::mutex. A waiter (an awaiter object living in the suspended
/// coroutine's frame) is linked into a list under that lock. Whoever completes
/// a wait (grant, hand-off, close, cancel) unlinks the waiter and sets its
/// status under the lock, drops the lock, and only then resumes the coroutine
/// (resume_inline). Since exactly one party can unlink a waiter, a waiter is
/// resumed exactly once; and no internal lock is held while user code runs.
///
/// Cancellation. When the wait has a stoppable token, the awaiter registers a
/// std::stop_callback before it links itself. The callback takes the lock: if
/// the waiter is linked it unlinks it (status cancelled) and resumes it; if it
/// is not linked yet it leaves `cancel_pending_` for the awaiter to see when it
/// tries to link; if it was already completed it does nothing. The awaiter
/// destroys the callback in await_resume, which waits for a callback running
/// on another thread to return, so the frame never outlives its callback.
#ifndef SURGE_EXEC_DETAIL_WAITER_LIST_HPP
#define SURGE_EXEC_DETAIL_WAITER_LIST_HPP

#include <surge/exec/detail/inline_resume.hpp>
#include <surge/exec/operation_cancelled.hpp>

#include <coroutine>
#include <mutex>
#include <optional>
#include <stop_token>

namespace surge::detail {

enum class wait_status : unsigned char { idle, linked, done, cancelled, closed };

/// A waiting coroutine: its handle, its place in a list, and its outcome.
class waiter_list;

struct waiter : resumable {
  waiter_list* list_ = nullptr;  // the list holding it while linked
  waiter* prev_ = nullptr;
  waiter* next_ = nullptr;
  wait_status status_ = wait_status::idle;
  bool cancel_pending_ = false;
};

/// Intrusive doubly linked FIFO of waiters. Not thread-safe (callers hold the
/// primitive's lock). O(1) every operation.
class waiter_list {
 public:
  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
  [[nodiscard]] waiter* front() const noexcept { return head_; }

  void push_back(waiter& w) noexcept {
    w.prev_ = tail_;
    w.next_ = nullptr;
    if (tail_) {
      tail_->next_ = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
    w.list_ = this;
    w.status_ = wait_status::linked;
  }

  /// Unlinks `w` (which must be linked here) and sets its status.
  void erase(waiter& w, wait_status status) noexcept {
    (w.prev_ ? w.prev_->next_ : head_) = w.next_;
    (w.next_ ? w.next_->prev_ : tail_) = w.prev_;
    w.prev_ = w.next_ = nullptr;
    w.status_ = status;
  }

  waiter* pop_front(wait_status status) noexcept {
    waiter* w = head_;
    if (w) erase(*w, status);
    return w;
  }

  /// Detaches the whole list (statuses unchanged); walk it with next_.
  waiter* take_all() noexcept {
    waiter* w = head_;
    head_ = tail_ = nullptr;
    return w;
  }

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

/// Resumes a chain of waiters (linked by next_, as take_all() leaves them),
/// whose statuses were set under the lock; call without holding it. All are
/// queued before the first runs, so what they wake runs after the last of
/// them (FIFO by wake-up).
inline void resume_chain(waiter* w) noexcept {
  for (; w; w = w->next_) trampoline_enqueue(*w);
  run_trampoline();
}

template <class Owner>
struct cancellable_waiter;

/// The stop callback of a cancellable wait: unlinks the waiter under the
/// owner's lock (`Owner::mutex_`; Owner befriends this) and resumes it if it
/// was still waiting.
template <class Owner>
struct cancel_wait {
  Owner* owner_;
  cancellable_waiter<Owner>* waiter_;
  void operator()() const noexcept {
    bool unlinked;
    {
      std::lock_guard lock(owner_->mutex_);
      unlinked = waiter_->cancel_locked();
    }
    if (unlinked) resume_inline(*waiter_);
  }
};

/// Common part of the awaiters: the stop token and its callback.
template <class Owner>
struct cancellable_waiter : waiter {
  std::stop_token token_;
  std::optional<std::stop_callback<cancel_wait<Owner>>> callback_;

  explicit cancellable_waiter(std::stop_token token) noexcept : token_(std::move(token)) {}
  cancellable_waiter(const cancellable_waiter&) = delete;
  cancellable_waiter& operator=(const cancellable_waiter&) = delete;

  /// Registers the stop callback (before linking; see the file comment).
  void arm(Owner& owner, std::coroutine_handle<> h) {
    handle_ = h;
    if (token_.stop_possible()) callback_.emplace(token_, cancel_wait<Owner>{&owner, this});
  }
  /// Destroys the callback, waiting for one running elsewhere to return.
  void disarm() noexcept { callback_.reset(); }

  /// await_ready prologue: true (status cancelled) if stop was already requested.
  [[nodiscard]] bool stopped_before_wait() noexcept {
    if (!token_.stop_requested()) return false;
    status_ = wait_status::cancelled;
    return true;
  }
  /// In await_suspend, under the owner's lock: true (status cancelled) if the
  /// stop callback ran before the waiter could link itself.
  [[nodiscard]] bool stopped_before_link() noexcept {
    if (!cancel_pending_) return false;
    status_ = wait_status::cancelled;
    return true;
  }
  /// await_resume prologue: drops the callback; throws operation_cancelled
  /// if the wait was cancelled.
  void end_wait() {
    disarm();
    if (status_ == wait_status::cancelled) throw operation_cancelled{};
  }

  /// Called under the owner's lock by cancel_wait.
  bool cancel_locked() noexcept {
    if (status_ == wait_status::linked) {
      list_->erase(*this, wait_status::cancelled);
      return true;
    }
    if (status_ == wait_status::idle) cancel_pending_ = true;
    return false;
  }
};

/// The awaiter of a wait for a grant (a lock, a permit). Owner provides, to
/// this class and to cancel_wait<Owner> (friends): `mutex_`, `waiters_`, and
/// `bool try_take_locked()` (take the grant if free; called under mutex_).
template <class Owner>
class grant_awaiter : cancellable_waiter<Owner> {
 public:
  grant_awaiter(Owner& owner, std::stop_token token) noexcept
      : cancellable_waiter<Owner>(std::move(token)), owner_(owner) {}

  [[nodiscard]] bool await_ready() noexcept {
    if (this->stopped_before_wait()) return true;
    std::lock_guard lock(owner_.mutex_);
    return take_locked();
  }
  bool await_suspend(std::coroutine_handle<> h) {
    this->arm(owner_, h);
    std::lock_guard lock(owner_.mutex_);
    if (this->stopped_before_link() || take_locked()) return false;
    owner_.waiters_.push_back(*this);
    return true;
  }
  void await_resume() { this->end_wait(); }

 protected:
  Owner& owner_;

 private:
  bool take_locked() noexcept {
    if (!owner_.try_take_locked()) return false;
    this->status_ = wait_status::done;
    return true;
  }
};

}  // namespace surge::detail

#endif  // SURGE_EXEC_DETAIL_WAITER_LIST_HPP
