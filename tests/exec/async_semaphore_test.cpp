#include <surge/exec/async_mutex.hpp>
#include <surge/exec/async_semaphore.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/when_all.hpp>

#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include "exec_test_util.hpp"
#include "surge_test.hpp"

using surge::async_semaphore;
using surge::task;

TEST_CASE("async_semaphore counts permits, bad input throws", "[exec][async_semaphore]") {
  CHECK_THROWS_AS(async_semaphore(-1), std::invalid_argument);
  async_semaphore s(2);
  CHECK(s.try_acquire());
  CHECK(s.try_acquire());
  CHECK_FALSE(s.try_acquire());
  CHECK(s.available() == 0);
  s.release(3);
  CHECK(s.available() == 3);
  CHECK_THROWS_AS(s.release(-1), std::invalid_argument);
  surge::sync_wait([](async_semaphore& sem) -> task<void> { co_await sem.acquire(); }(s));
  CHECK(s.available() == 2);
}

TEST_CASE("async_semaphore wakes waiters FIFO, release(n) wakes n", "[exec][async_semaphore]") {
  async_semaphore s(0);
  std::vector<int> order;
  auto waiter = [](async_semaphore& sem, std::vector<int>& out, int id) -> task<void> {
    co_await sem.acquire();
    out.push_back(id);
  };
  for (int i = 0; i < 6; ++i) exec_test::start(waiter(s, order, i));
  s.release(2);
  CHECK(order == std::vector<int>{0, 1});
  CHECK_FALSE(s.try_acquire());  // no overtaking the remaining waiters
  s.release(5);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(s.available() == 1);
}

TEST_CASE("async_semaphore never admits more than its count", "[exec][async_semaphore]") {
  surge::thread_pool ex(2);  // two workers
  async_semaphore s(3);
  std::atomic<int> in_use{0}, peak{0};
  std::atomic<long> done{0};
  auto worker = [&](int n) -> task<void> {
    for (int i = 0; i < n; ++i) {
      co_await s.acquire();
      const int now = in_use.fetch_add(1) + 1;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      if (i % 3 == 0) co_await ex.schedule();
      in_use.fetch_sub(1);
      done.fetch_add(1);
      s.release();
    }
  };
  std::vector<task<void>> tasks;
  for (int k = 0; k < 50; ++k) tasks.push_back(worker(200));
  surge::sync_wait(surge::when_all(std::move(tasks)));
  CHECK(done.load() == 50 * 200);
  CHECK(peak.load() <= 3);
  CHECK(peak.load() >= 1);
  CHECK(s.available() == 3);
}

TEST_CASE("async_semaphore acquire cancellation", "[exec][async_semaphore]") {
  async_semaphore s(0);
  std::stop_source stop;
  int cancelled = 0, got = 0;
  auto waiter = [](async_semaphore& sem, std::stop_token t, int& c, int& g) -> task<void> {
    try {
      co_await sem.acquire(t);
      ++g;
    } catch (const surge::operation_cancelled&) {
      ++c;
    }
  };
  exec_test::start(waiter(s, stop.get_token(), cancelled, got));
  exec_test::start(waiter(s, {}, cancelled, got));
  stop.request_stop();
  CHECK(cancelled == 1);
  s.release();
  CHECK(got == 1);
  s.release();
  exec_test::start(waiter(s, stop.get_token(), cancelled, got));  // stopped before the call
  CHECK(cancelled == 2);
  CHECK(s.available() == 1);  // the cancelled acquire took nothing
}

TEST_CASE("async_semaphore::release refuses to raise the count past PTRDIFF_MAX", "[exec][async_semaphore]") {
  constexpr std::ptrdiff_t max = std::numeric_limits<std::ptrdiff_t>::max();
  async_semaphore s(max - 1);
  s.release(1);
  CHECK(s.available() == max);
  CHECK_THROWS_AS(s.release(1), std::invalid_argument);
  CHECK_THROWS_AS(s.release(max), std::invalid_argument);
  CHECK(s.available() == max);  // unchanged by the refused calls
  CHECK(s.try_acquire());
  CHECK(s.available() == max - 1);

  async_semaphore few(5);
  CHECK_THROWS_AS(few.release(max), std::invalid_argument);
  CHECK(few.available() == 5);
  few.release(max - 5);
  CHECK(few.available() == max);

  // With a waiter the count is 0: release(max) hands one permit to the
  // waiter and keeps the rest; nothing is refused, nothing overflows.
  async_semaphore zero(0);
  int woken = 0;
  auto waiter = [](async_semaphore& sem, int& n) -> task<void> {
    co_await sem.acquire();
    ++n;
  };
  exec_test::start(waiter(zero, woken));
  CHECK(woken == 0);
  zero.release(max);
  CHECK(woken == 1);
  CHECK(zero.available() == max - 1);
  CHECK_THROWS_AS(zero.release(2), std::invalid_argument);
  CHECK(zero.available() == max - 1);
}

TEST_CASE("async_semaphore::release(n) resumes all it woke before what they wake", "[exec][async_semaphore]") {
  // release(2) wakes a and b; a's unlock wakes c. FIFO by wake-up: a, b, c
  // (c used to run before b: each woken waiter's trampoline ran to the end
  // before the next waiter was queued).
  async_semaphore s(0);
  surge::async_mutex m;
  REQUIRE(m.try_lock());
  std::string order;
  auto unlocker = [](async_semaphore& sem, surge::async_mutex& mx, std::string& out) -> task<void> {
    co_await sem.acquire();
    out += 'a';
    mx.unlock();
  };
  auto acquirer = [](async_semaphore& sem, std::string& out) -> task<void> {
    co_await sem.acquire();
    out += 'b';
  };
  auto locker = [](surge::async_mutex& mx, std::string& out) -> task<void> {
    co_await mx.lock();
    out += 'c';
    mx.unlock();
  };
  exec_test::start(unlocker(s, m, order));
  exec_test::start(acquirer(s, order));
  exec_test::start(locker(m, order));
  s.release(2);
  CHECK(order == "abc");
  CHECK_FALSE(m.is_locked());
  CHECK(s.available() == 0);
}
