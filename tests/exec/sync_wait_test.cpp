#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>

#include <coroutine>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "exec_test_util.hpp"
#include "surge_test.hpp"

using surge::sync_wait;
using surge::task;

TEST_CASE("sync_wait returns values, references and void, or rethrows", "[exec][sync_wait]") {
  CHECK(sync_wait([]() -> task<std::string> { co_return "hi"; }()) == "hi");
  int x = 1;
  int& r = sync_wait([](int& v) -> task<int&> { co_return v; }(x));
  CHECK(&r == &x);
  bool ran = false;
  sync_wait([](bool& b) -> task<void> {
    b = true;
    co_return;
  }(ran));
  CHECK(ran);
  CHECK_THROWS_AS(sync_wait([]() -> task<int> {
                    throw std::out_of_range("x");
                    co_return 1;
                  }()),
                  std::out_of_range);
  // a plain awaitable works too
  sync_wait(std::suspend_never{});
}

TEST_CASE("sync_wait blocks until a coroutine finishing on another thread is done", "[exec][sync_wait]") {
  exec_test::thread_executor ex(1);
  auto t = [](exec_test::thread_executor& e) -> task<std::thread::id> {
    co_await e.schedule();
    co_return std::this_thread::get_id();
  };
  CHECK(sync_wait(t(ex)) != std::this_thread::get_id());
  // several threads calling sync_wait at once
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 200; ++k)
        if (sync_wait(t(ex)) != std::this_thread::get_id()) ok.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  CHECK(ok.load() == 800);
}

namespace {
// An awaiter that can be neither copied nor moved, like the ones a channel's
// recv(), an async_mutex's lock() and an async_semaphore's acquire() return.
struct pinned_awaiter {
  int value;
  explicit pinned_awaiter(int v) : value(v) {}
  pinned_awaiter(const pinned_awaiter&) = delete;
  pinned_awaiter& operator=(const pinned_awaiter&) = delete;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  int await_resume() const noexcept { return value; }
};
}  // namespace

TEST_CASE("sync_wait takes an awaiter that can be neither copied nor moved", "[exec][sync_wait]") {
  // g++ 12 copied an xvalue operand of co_await into the frame: sync_wait of
  // such a temporary (sync_wait(ch.recv())) did not compile there
  CHECK(sync_wait(pinned_awaiter(42)) == 42);
  pinned_awaiter named(7);
  CHECK(sync_wait(named) == 7);
}
