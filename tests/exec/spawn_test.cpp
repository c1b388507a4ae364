#include <surge/exec/async_semaphore.hpp>
#include <surge/exec/spawn.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include "exec_test_util.hpp"
#include "surge_test.hpp"

using surge::task;

TEST_CASE("1e5 spawned coroutines on the pool each complete exactly once", "[exec][spawn]") {
  constexpr int n = 100'000;
  auto hits = std::make_unique<std::atomic<int>[]>(n);
  const long before = exec_test::frame_probe::live.load();
  {
    surge::thread_pool pool(2);
    auto body = [](surge::thread_pool& p, std::atomic<int>& hit, exec_test::frame_probe) -> task<void> {
      co_await p.schedule();
      hit.fetch_add(1);
    };
    for (int i = 0; i < n; ++i) surge::spawn(pool, body(pool, hits[static_cast<std::size_t>(i)], {}));
    pool.wait_idle();
    int once = 0;
    for (int i = 0; i < n; ++i) once += hits[static_cast<std::size_t>(i)].load() == 1;
    CHECK(once == n);
    CHECK(exec_test::frame_probe::live.load() == before);  // frames destroyed before wait_idle returned
  }
}

TEST_CASE("exceptions from spawned coroutines go to the pool's handler", "[exec][spawn]") {
  surge::thread_pool pool(2);
  std::atomic<int> handled{0};
  pool.set_exception_handler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::runtime_error&) {
      handled.fetch_add(1);
    }
  });
  auto thrower = [](surge::thread_pool& p) -> task<int> {
    co_await p.schedule();
    throw std::runtime_error("spawned");
  };
  for (int i = 0; i < 10; ++i) surge::spawn(pool, thrower(pool));
  pool.wait_idle();
  CHECK(handled.load() == 10);
}

TEST_CASE("wait_idle waits for spawned coroutines suspended outside the pool", "[exec][spawn]") {
  surge::thread_pool pool(2);
  surge::async_semaphore sem(0);
  std::atomic<bool> started{false}, finished{false};
  auto waiter = [](surge::async_semaphore& s, std::atomic<bool>& st, std::atomic<bool>& fin) -> task<void> {
    st = true;
    co_await s.acquire();
    fin = true;
  };
  surge::spawn(pool, waiter(sem, started, finished));
  std::thread releaser([&] {
    exec_test::wait_until([&] { return started.load(); });
    std::this_thread::yield();
    sem.release();
  });
  pool.wait_idle();
  CHECK(finished.load());
  releaser.join();
}

TEST_CASE("spawn after shutdown throws and destroys the task", "[exec][spawn]") {
  const long before = exec_test::frame_probe::live.load();
  surge::thread_pool pool(1);
  pool.shutdown();
  auto body = [](exec_test::frame_probe) -> task<void> { co_return; };
  CHECK_THROWS_AS(surge::spawn(pool, body({})), std::runtime_error);
  CHECK(exec_test::frame_probe::live.load() == before);
}

TEST_CASE("spawn rejects empty and already-awaited tasks", "[exec][spawn]") {
  surge::thread_pool pool(1);
  CHECK_THROWS_AS(surge::spawn(pool, task<void>{}), std::logic_error);
  pool.wait_idle();
}
