#include <surge/exec/async_mutex.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/when_all.hpp>

#include <atomic>
#include <stop_token>
#include <vector>

#include "exec_test_util.hpp"
#include "surge_test.hpp"

using surge::async_mutex;
using surge::task;

TEST_CASE("async_mutex try_lock, lock, scoped_lock", "[exec][async_mutex]") {
  async_mutex m;
  CHECK(m.try_lock());
  CHECK_FALSE(m.try_lock());
  CHECK(m.is_locked());
  m.unlock();
  CHECK_FALSE(m.is_locked());
  surge::sync_wait([](async_mutex& mx) -> task<void> {
    {
      auto guard = co_await mx.scoped_lock();
      CHECK(guard.owns_lock());
      CHECK(mx.is_locked());
    }
    CHECK_FALSE(mx.is_locked());
    co_await mx.lock();
    CHECK(mx.is_locked());
    mx.unlock();
  }(m));
  CHECK_FALSE(m.is_locked());
}

TEST_CASE("async_mutex hands the lock to waiters in FIFO order", "[exec][async_mutex]") {
  async_mutex m;
  REQUIRE(m.try_lock());
  std::vector<int> order;
  auto waiter = [](async_mutex& mx, std::vector<int>& out, int id) -> task<void> {
    auto guard = co_await mx.scoped_lock();
    out.push_back(id);
  };
  for (int i = 0; i < 5; ++i) exec_test::start(waiter(m, order, i));
  CHECK(order.empty());
  CHECK_FALSE(m.try_lock());  // no barging past the waiters
  m.unlock();                 // wakes 0, which wakes 1 ... on this thread, flat
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  CHECK_FALSE(m.is_locked());
}

TEST_CASE("async_mutex gives mutual exclusion under two workers", "[exec][async_mutex]") {
  surge::thread_pool ex(2);  // two workers
  async_mutex m;
  long counter = 0;  // deliberately not atomic: TSan checks the exclusion
  auto worker = [](surge::thread_pool& e, async_mutex& mx, long& c, int n) -> task<void> {
    for (int i = 0; i < n; ++i) {
      if (i % 16 == 0) co_await e.schedule();
      auto guard = co_await mx.scoped_lock();
      const long seen = c;
      if (i % 7 == 0) co_await e.schedule();  // hold the lock across a thread hop
      c = seen + 1;
    }
  };
  std::vector<task<void>> tasks;
  for (int k = 0; k < 64; ++k) tasks.push_back(worker(ex, m, counter, 300));
  surge::sync_wait(surge::when_all(std::move(tasks)));
  CHECK(counter == 64 * 300);
  CHECK_FALSE(m.is_locked());
}

TEST_CASE("async_mutex lock cancellation via stop_token", "[exec][async_mutex]") {
  async_mutex m;
  REQUIRE(m.try_lock());
  std::stop_source stop;
  int cancelled = 0, locked = 0;
  auto waiter = [](async_mutex& mx, std::stop_token t, int& cancel_count, int& lock_count) -> task<void> {
    try {
      auto guard = co_await mx.scoped_lock(t);
      ++lock_count;
    } catch (const surge::operation_cancelled&) {
      ++cancel_count;
    }
  };
  exec_test::start(waiter(m, stop.get_token(), cancelled, locked));
  exec_test::start(waiter(m, {}, cancelled, locked));
  stop.request_stop();  // resumes the first waiter on this thread
  CHECK(cancelled == 1);
  CHECK(locked == 0);
  exec_test::start(waiter(m, stop.get_token(), cancelled, locked));  // already stopped
  CHECK(cancelled == 2);
  m.unlock();  // the second waiter still gets the lock
  CHECK(locked == 1);
  CHECK_FALSE(m.is_locked());
}

TEST_CASE("async_mutex: cancellation racing with unlocks resumes each waiter once", "[exec][async_mutex]") {
  surge::thread_pool ex(2);  // two workers
  async_mutex m;
  std::atomic<int> cancelled{0}, locked{0};
  std::vector<std::stop_source> stops(200);
  auto waiter = [&](int i) -> task<void> {
    co_await ex.schedule();
    try {
      auto guard = co_await m.scoped_lock(stops[static_cast<std::size_t>(i)].get_token());
      locked.fetch_add(1);
      co_await ex.schedule();
    } catch (const surge::operation_cancelled&) {
      cancelled.fetch_add(1);
    }
  };
  std::vector<task<void>> tasks;
  for (int i = 0; i < 200; ++i) tasks.push_back(waiter(i));
  std::thread canceller([&] {
    for (std::size_t i = 0; i < stops.size(); i += 2) stops[i].request_stop();
  });
  surge::sync_wait(surge::when_all(std::move(tasks)));
  canceller.join();
  CHECK(cancelled.load() + locked.load() == 200);
  CHECK(locked.load() >= 100);
  CHECK_FALSE(m.is_locked());
}
