// An awaiter that is always ready with a value of type R: the shared piece of
// the "two operator co_await" cases.
#ifndef SURGE_COMPILE_FAIL_READY_AWAITER_HPP
#define SURGE_COMPILE_FAIL_READY_AWAITER_HPP

#include <coroutine>

template <class R>
struct ready {
  R value;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  R await_resume() const noexcept { return value; }
};

#endif
