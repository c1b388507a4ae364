// Helpers shared by the tests in tests/exec/ (not a test file itself).
#pragma once

#include <surge/exec/async_mutex.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace exec_test {

/// Counts live instances; put one in a coroutine's frame to see it destroyed.
struct frame_probe {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> made{0};
  frame_probe() noexcept {
    live.fetch_add(1);
    made.fetch_add(1);
  }
  frame_probe(const frame_probe&) noexcept : frame_probe() {}
  frame_probe& operator=(const frame_probe&) = default;
  ~frame_probe() { live.fetch_sub(1); }
};

/// A tiny executor: `threads` plain threads draining a FIFO of callables.
/// Enough to resume coroutines on other threads without the thread pool.
class thread_executor {
 public:
  explicit thread_executor(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~thread_executor() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void post(std::function<void()> f) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(f));
    }
    cv_.notify_one();
  }
  /// `co_await ex.schedule()` continues on one of the executor's threads.
  auto schedule() {
    struct awaiter {
      thread_executor* ex;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) {
        ex->post([h] { h.resume(); });
      }
      void await_resume() const noexcept {}
    };
    return awaiter{this};
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        f = std::move(queue_.front());
        queue_.pop_front();
      }
      f();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

/// Blocks until `pred()` holds or `limit` passes (a watchdog, not a timing):
/// returns pred()'s final value.
template <class Pred>
bool wait_until(Pred pred, std::chrono::steady_clock::duration limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::yield();
  }
  return true;
}

}  // namespace exec_test

namespace exec_test {

/// Starts a coroutine eagerly on the calling thread and lets it run to the
/// end wherever it resumes; its frame destroys itself. For tests only.
struct detached {
  struct promise_type {
    detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
};

/// Waits for `lock`; once it has it, sets `released` and unlocks it.
inline detached releasing_locker(surge::async_mutex& lock, std::atomic<bool>& released) {
  co_await lock.lock();
  released = true;
  lock.unlock();
}

/// The scene of the tests of blocking calls made on a trampoline: waits for
/// `gate` (the test's unlock of it then resumes this coroutine inline, on the
/// test's thread), hands `handed` to its waiter, which is thereby queued
/// behind this coroutine on that thread's trampoline, and calls `blocking()`,
/// which must run that waiter first; then sets `returned` and unlocks `gate`.
template <class F>
detached hand_off_then(surge::async_mutex& gate, surge::async_mutex& handed, bool& returned, F blocking) {
  co_await gate.lock();
  handed.unlock();
  blocking();
  returned = true;
  gate.unlock();
}

/// Runs `t` eagerly (until it first suspends) without waiting for it.
template <class Task>
detached start(Task t) {
  co_await std::move(t);
}

}  // namespace exec_test
