#include <surge/exec/async_mutex.hpp>
#include <surge/exec/channel.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/when_all.hpp>

#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "exec_test_util.hpp"
#include "surge_test.hpp"
#include "watchdog.hpp"

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

namespace {
// A blocking call made from inside a coroutine: a receiver and a sender that
// meet on a channel, so the send wakes the receiver on this thread.
int rendezvous_blocking() {
  surge::channel<int> ch(1);
  auto receive = [](surge::channel<int>& c) -> task<int> {
    const auto v = co_await c.recv();
    co_return v.value_or(-1);
  };
  auto send = [](surge::channel<int>& c) -> task<void> { (void)co_await c.send(42); };
  return std::get<0>(sync_wait(surge::when_all(receive(ch), send(ch))));
}
}  // namespace

TEST_CASE("sync_wait inside a coroutine resumed by an unlock runs what it wakes", "[exec][sync_wait]") {
  // unlock() resumes the waiter on this thread's trampoline; the waiter's
  // sync_wait used to queue the receiver its send woke behind the waiter
  // itself, blocked in sync_wait: a deadlock on one thread.
  surge_test::watchdog dog("sync_wait inside a trampoline", std::chrono::seconds(30));
  surge::async_mutex m;
  REQUIRE(m.try_lock());
  int got = 0;
  exec_test::start([](surge::async_mutex& mx, int& out) -> task<void> {
    co_await mx.lock();
    out = rendezvous_blocking();
    mx.unlock();
  }(m, got));
  m.unlock();
  CHECK(got == 42);
  CHECK_FALSE(m.is_locked());
}

TEST_CASE("sync_wait inside a trampolined coroutine first runs what was woken before", "[exec][sync_wait]") {
  // The first waiter hands the lock to the second (queued on this thread's
  // trampoline), then sync_waits a lock of its own: it needs the second
  // waiter to run and unlock, which used to wait for the first: a deadlock.
  surge_test::watchdog dog("sync_wait after a hand-off", std::chrono::seconds(30));
  surge::async_mutex m;
  REQUIRE(m.try_lock());
  std::vector<int> order;
  auto first = [](surge::async_mutex& mx, std::vector<int>& log) -> task<void> {
    co_await mx.lock();
    log.push_back(1);
    mx.unlock();  // hands the lock to the second waiter, queued
    sync_wait([](surge::async_mutex& mx2, std::vector<int>& log2) -> task<void> {
      co_await mx2.lock();
      log2.push_back(3);
      mx2.unlock();
    }(mx, log));
    log.push_back(4);
  };
  auto second = [](surge::async_mutex& mx, std::vector<int>& log) -> task<void> {
    co_await mx.lock();
    log.push_back(2);
    mx.unlock();
  };
  exec_test::start(first(m, order));
  exec_test::start(second(m, order));
  m.unlock();
  CHECK(order == std::vector<int>{1, 2, 3, 4});
  CHECK_FALSE(m.is_locked());
}

namespace {
// An awaitable whose await_resume yields an rvalue reference to a value its
// awaiter owns: the awaiter (and the value) die inside sync_wait.
struct owned_value {
  std::string text;
  bool alive = true;
  ~owned_value() {
    alive = false;
    text = "destroyed";
  }
};
struct yields_rvalue_ref {
  struct awaiter {
    owned_value value{std::string(64, 'v')};
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    owned_value&& await_resume() noexcept { return std::move(value); }
  };
  awaiter operator co_await() const noexcept { return {}; }
};
}  // namespace

TEST_CASE("sync_wait of an awaitable yielding T&& returns a T, moved out", "[exec][sync_wait]") {
  CHECK(std::is_same_v<decltype(sync_wait(yields_rvalue_ref{})), owned_value>);
  const owned_value got = sync_wait(yields_rvalue_ref{});
  CHECK(got.alive);
  CHECK(got.text == std::string(64, 'v'));
}
