// sharded_cache::get_or_load_async: coroutine followers suspend (no thread is
// held) while one loader runs; exceptions reach every follower; loaders may
// await other keys; a destroyed leader fails its followers; and threads of a
// pool sharing one key run its loader once (run under ThreadSanitizer in CI).
#include <surge/cache/async_load.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/when_all.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "surge_test.hpp"

using namespace std::chrono_literals;

namespace {

using int_cache = surge::sharded_cache<surge::lru_cache<int, int>, 2>;

/// `co_await g.wait()` suspends until the test calls `g.open()`
/// (single-threaded). The awaiter is a separate object holding a pointer: g++
/// 12 may copy an lvalue awaitable into the frame.
struct gate {
  std::coroutine_handle<> waiting;
  struct awaiter {
    gate* g;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const noexcept { g->waiting = h; }
    void await_resume() const noexcept {}
  };
  awaiter wait() noexcept { return {this}; }
  void open() {
    auto h = std::exchange(waiting, {});
    h.resume();
  }
};

/// A coroutine that starts at once and is never awaited; the test owns its
/// frame (to destroy it while suspended).
struct eager {
  struct promise_type {
    eager get_return_object() { return eager{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

/// Resumes the gate once `misses` callers have missed: the last task of a
/// when_all, so every other task is suspended by then.
surge::task<int> open_when(int_cache& c, gate& g, std::uint64_t misses) {
  if (c.stats().misses != misses) throw std::logic_error("followers did not all miss");
  g.open();
  co_return 0;
}

}  // namespace

TEST_CASE("get_or_load_async: a hit, a miss, and a loader given as a task", "[sharded][get_or_load_async]") {
  int_cache c(8);
  int loads = 0;
  auto loader = [&]() -> surge::task<int> {
    ++loads;
    co_return 5;
  };
  CHECK(surge::sync_wait(c.get_or_load_async(1, loader)) == 5);
  CHECK(surge::sync_wait(c.get_or_load_async(1, loader)) == 5);  // hit: no load
  CHECK(loads == 1);
  CHECK(c.get(1) == std::optional<int>(5));
  CHECK(surge::sync_wait(c.get_or_load_async(2, loader())) == 5);  // an awaitable, not a callable
  CHECK(loads == 2);
  const auto s = c.stats();
  CHECK(s.hits == 2);  // the second call, and get(1)
  CHECK(s.misses == 2);
}

TEST_CASE("get_or_load_async: followers suspend while one loader runs", "[sharded][get_or_load_async]") {
  constexpr int followers = 7;
  int_cache c(8);
  gate g;
  int loads = 0;
  std::vector<surge::task<int>> tasks;
  for (int i = 0; i <= followers; ++i) {
    tasks.push_back(c.get_or_load_async(7, [&]() -> surge::task<int> {
      ++loads;
      co_await g.wait();  // the first caller's loader waits here; the others must suspend, not block
      co_return 42;
    }));
  }
  tasks.push_back(open_when(c, g, followers + 1));
  // one thread: a follower that blocked instead of suspending would never let
  // the last task open the gate
  const std::vector<int> got = surge::sync_wait(surge::when_all(std::move(tasks)));
  CHECK(loads == 1);
  for (int i = 0; i <= followers; ++i) CHECK(got[static_cast<std::size_t>(i)] == 42);
  CHECK(c.stats().insertions == 1);
  CHECK(c.get(7) == std::optional<int>(42));
}

TEST_CASE("get_or_load_async: a throwing loader stores nothing; every follower gets the exception",
          "[sharded][get_or_load_async]") {
  int_cache c(8);
  gate g;
  int loads = 0;
  std::vector<surge::task<int>> tasks;
  std::atomic<int> caught{0};
  for (int i = 0; i < 4; ++i) {
    tasks.push_back([](int_cache& c, gate& g, int& loads, std::atomic<int>& caught) -> surge::task<int> {
      try {
        co_return co_await c.get_or_load_async(3, [&]() -> surge::task<int> {
          ++loads;
          co_await g.wait();
          throw std::runtime_error("backend down");
        });
      } catch (const std::runtime_error&) {
        ++caught;
      }
      co_return -1;
    }(c, g, loads, caught));
  }
  tasks.push_back(open_when(c, g, 4));
  (void)surge::sync_wait(surge::when_all(std::move(tasks)));
  CHECK(loads == 1);
  CHECK(caught == 4);
  CHECK(!c.contains(3));
  CHECK(surge::sync_wait(c.get_or_load_async(3, []() -> surge::task<int> { co_return 33; })) == 33);
}

TEST_CASE("get_or_load_async: a loader may await loads of other keys", "[sharded][get_or_load_async]") {
  surge::sharded_cache<surge::lru_cache<int, int>, 1> c(8);  // one shard for every key
  auto leaf = [](int v) { return [v]() -> surge::task<int> { co_return v; }; };
  const int v = surge::sync_wait(c.get_or_load_async(1, [&]() -> surge::task<int> {
    const int a = co_await c.get_or_load_async(2, leaf(20));
    const int b = co_await c.get_or_load_async(3, [&]() -> surge::task<int> {
      co_return c.get_or_load(4, [] { return 4; }) + 1;  // the blocking form inside, for another key
    });
    co_return a + b;
  }));
  CHECK(v == 25);
  CHECK(c.get(1) == std::optional<int>(25));
  CHECK(c.get(3) == std::optional<int>(5));
  CHECK(c.size() == 4);
}

TEST_CASE("get_or_load_async: a leader destroyed mid-load fails its followers", "[sharded][get_or_load_async]") {
  int_cache c(8);
  gate g;
  std::optional<int> leader_result;
  auto leader = [](int_cache& c, gate& g, std::optional<int>& out) -> eager {
    out = co_await c.get_or_load_async(9, [&]() -> surge::task<int> {
      co_await g.wait();
      co_return 9;
    });
  }(c, g, leader_result);
  REQUIRE(g.waiting);  // the leader is suspended in its loader
  std::string follower_error;
  auto follower = [](int_cache& c, std::string& error) -> eager {
    try {
      (void)co_await c.get_or_load_async(9, []() -> surge::task<int> { co_return -9; });
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
  }(c, follower_error);
  CHECK(follower_error.empty());   // suspended
  leader.handle.destroy();         // destroys the leader's frames, loader included
  CHECK(!follower_error.empty());  // resumed with the failure
  CHECK(follower.handle.done());
  follower.handle.destroy();
  CHECK(!leader_result);
  CHECK(!c.contains(9));
  CHECK(surge::sync_wait(c.get_or_load_async(9, []() -> surge::task<int> { co_return 99; })) == 99);
}

TEST_CASE("get_or_load_async: a follower destroyed while it waits is taken off the load",
          "[sharded][get_or_load_async]") {
  // A leader whose loader awaits another key's load is destroyed: the nested
  // follower in its frame goes with it. Before, it stayed on key 2's list
  // and the publication of key 2 resumed freed memory.
  int_cache c(8);
  gate g;
  int second = 0;
  auto loads_two = [](int_cache& c, gate& g, int& out) -> eager {
    out = co_await c.get_or_load_async(2, [&]() -> surge::task<int> {
      co_await g.wait();
      co_return 2;
    });
  }(c, g, second);
  auto loads_one = [](int_cache& c) -> eager {
    (void)co_await c.get_or_load_async(1, [&c]() -> surge::task<int> {
      co_return co_await c.get_or_load_async(2, []() -> surge::task<int> { co_return -2; }) + 1;
    });
  }(c);
  REQUIRE_FALSE(loads_one.handle.done());  // waits on key 2's load
  loads_one.handle.destroy();
  g.open();  // key 2's load finishes and wakes its followers: none left
  CHECK(loads_two.handle.done());
  CHECK(second == 2);
  loads_two.handle.destroy();
  CHECK(c.get(2) == std::optional<int>(2));
  CHECK_FALSE(c.contains(1));  // key 1's destroyed leader stored nothing
}

TEST_CASE("get_or_load_async: pool threads on one key run the loader once", "[sharded][get_or_load_async]") {
  constexpr int callers = 8;
  surge::thread_pool pool(2);
  surge::sharded_cache<surge::lru_cache<int, std::string>, 4> c(16);
  std::atomic<int> loads{0};
  std::atomic<bool> timed_out{false};
  auto caller = [&]() -> surge::task<std::string> {
    co_await pool.schedule();
    co_return co_await c.get_or_load_async(5, [&]() -> surge::task<std::string> {
      ++loads;
      // hold the load (hopping between workers, blocking none) until every caller missed
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (c.stats().misses != callers) {
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          break;
        }
        co_await pool.schedule();
      }
      co_return std::string("five");
    });
  };
  std::vector<surge::task<std::string>> tasks;
  for (int i = 0; i < callers; ++i) tasks.push_back(caller());
  const auto got = surge::sync_wait(surge::when_all(std::move(tasks)));
  CHECK(!timed_out);
  CHECK(loads == 1);
  for (const auto& v : got) CHECK(v == "five");
  CHECK(c.stats().insertions == 1);
}
