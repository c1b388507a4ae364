#include <surge/exec/spawn.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stop_token>
#include <vector>

#include "exec_test_util.hpp"
#include "surge_test.hpp"

using namespace std::chrono_literals;
using surge::task;

namespace {

template <class Timer>
task<void> sleeper(Timer& t, typename Timer::duration d, std::vector<int>& log, int id, std::stop_token token = {}) {
  try {
    co_await surge::sleep_for(t, d, token);
    log.push_back(id);
  } catch (const surge::operation_cancelled&) {
    log.push_back(-1 - id);
  }
}

}  // namespace

TEST_CASE("timer fires sleepers in deadline order, ties in arrival order", "[exec][timer]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  surge::timer<clock> t({.own_thread = false});
  std::vector<int> log;
  exec_test::start(sleeper(t, 30ms, log, 0));
  exec_test::start(sleeper(t, 10ms, log, 1));
  exec_test::start(sleeper(t, 20ms, log, 2));
  exec_test::start(sleeper(t, 10ms, log, 3));
  exec_test::start(sleeper(t, 0ms, log, 4));  // already due: completes at once
  CHECK(log == std::vector<int>{4});
  CHECK(t.pending() == 4);
  CHECK(t.next_deadline() == clock::time_point{10ms});
  CHECK(t.run_due() == 0);
  clock::advance(9ms);
  CHECK(t.run_due() == 0);
  clock::advance(1ms);
  CHECK(t.run_due() == 2);
  CHECK(log == std::vector<int>{4, 1, 3});
  clock::advance(100ms);
  CHECK(t.run_due() == 2);
  CHECK(log == std::vector<int>{4, 1, 3, 2, 0});
  CHECK(t.pending() == 0);
  CHECK_FALSE(t.next_deadline().has_value());
  // sleep_until
  auto until = [](surge::timer<clock>& tm, std::vector<int>& out) -> task<void> {
    co_await surge::sleep_until(tm, clock::now() + 5ms);
    out.push_back(9);
  };
  exec_test::start(until(t, log));
  clock::advance(5ms);
  CHECK(t.run_due() == 1);
  CHECK(log.back() == 9);
}

TEST_CASE("timer cancellation and destruction resume sleepers with operation_cancelled", "[exec][timer]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  std::vector<int> log;
  {
    surge::timer<clock> t({.own_thread = false});
    std::stop_source a, b;
    exec_test::start(sleeper(t, 10ms, log, 0, a.get_token()));
    exec_test::start(sleeper(t, 10ms, log, 1, b.get_token()));
    exec_test::start(sleeper(t, 50ms, log, 2));
    a.request_stop();
    CHECK(log == std::vector<int>{-1});
    CHECK(t.pending() == 2);
    clock::advance(10ms);
    CHECK(t.run_due() == 1);
    b.request_stop();  // after firing: no effect, no double resume
    CHECK(log == std::vector<int>{-1, 1});
    exec_test::start(sleeper(t, 10ms, log, 3, a.get_token()));  // stopped before the call
    CHECK(log == std::vector<int>{-1, 1, -4});
  }  // the timer dies with sleeper 2 pending: cancelled
  CHECK(log == std::vector<int>{-1, 1, -4, -3});
}

TEST_CASE("timer against a reference model: random deadlines and cancellations", "[exec][timer]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  std::mt19937 rng(7);
  surge::timer<clock> t({.own_thread = false});
  constexpr int n = 300;
  std::vector<int> log;
  std::vector<int> deadline(n);
  std::vector<std::stop_source> stops(n);
  for (int i = 0; i < n; ++i) {
    deadline[static_cast<std::size_t>(i)] = 1 + static_cast<int>(rng() % 60);
    exec_test::start(sleeper(t, std::chrono::milliseconds(deadline[static_cast<std::size_t>(i)]), log, i,
                             stops[static_cast<std::size_t>(i)].get_token()));
  }
  std::vector<bool> cancelled(n, false);
  std::vector<int> expected;
  for (int now = 1; now <= 61; ++now) {
    // cancel a few pending ones at random
    for (int k = 0; k < 3; ++k) {
      const auto i = static_cast<std::size_t>(rng() % n);
      if (!cancelled[i] && deadline[i] >= now) {
        cancelled[i] = true;
        stops[i].request_stop();
        expected.push_back(-1 - static_cast<int>(i));
      }
    }
    clock::set(std::chrono::milliseconds(now));
    t.run_due();
    for (int i = 0; i < n; ++i)  // reference: by deadline, then by start order
      if (deadline[static_cast<std::size_t>(i)] == now && !cancelled[static_cast<std::size_t>(i)])
        expected.push_back(i);
    REQUIRE(log == expected);
  }
  CHECK(t.pending() == 0);
}

TEST_CASE("timer with its own thread resumes 1e5 sleepers on the pool exactly once", "[exec][timer]") {
  struct tag {};
  using clock = surge_test::manual_clock<tag>;
  clock::reset();
  constexpr int n = 100'000;
  auto hits = std::make_unique<std::atomic<int>[]>(n);
  std::atomic<int> wrong_thread{0};
  {
    surge::thread_pool pool(2);
    surge::timer<clock> t(pool);
    auto body = [](surge::thread_pool& p, surge::timer<clock>& tm, std::atomic<int>& hit, std::atomic<int>& off_pool,
                   int i) -> task<void> {
      co_await surge::sleep_for(tm, std::chrono::milliseconds(1 + i % 1000));
      if (p.this_thread_index() == surge::thread_pool::npos) off_pool.fetch_add(1);
      hit.fetch_add(1);
    };
    for (int i = 0; i < n; ++i) surge::spawn(pool, body(pool, t, hits[static_cast<std::size_t>(i)], wrong_thread, i));
    REQUIRE(exec_test::wait_until([&] { return t.pending() == static_cast<std::size_t>(n); }));
    clock::advance(500ms);
    t.wake();
    REQUIRE(exec_test::wait_until([&] { return t.pending() < static_cast<std::size_t>(n / 2 + 1); }));
    clock::advance(600ms);
    t.wake();
    pool.wait_idle();  // covers the spawned sleepers
    CHECK(t.pending() == 0);
  }
  int once = 0;
  for (int i = 0; i < n; ++i) once += hits[static_cast<std::size_t>(i)].load() == 1;
  CHECK(once == n);
  CHECK(wrong_thread.load() == 0);
}
