// Tests of surge/exec/executor.hpp and surge/exec/await_result.hpp: which
// types model the executor concepts, spawn on a hand-written executor, and
// what await_result_t names.
#include <surge/exec/await_result.hpp>
#include <surge/exec/executor.hpp>
#include <surge/exec/spawn.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/timer.hpp>

#include "surge_test.hpp"

#include <coroutine>
#include <cstddef>
#include <deque>
#include <functional>
#include <type_traits>
#include <utility>

namespace {

/// A single-threaded executor that runs what it was posted when told to.
struct queue_executor {
  std::deque<std::function<void()>> queued;
  std::size_t work = 0;
  void post(std::function<void()> f) { queued.push_back(std::move(f)); }
  void work_started() noexcept { ++work; }
  void work_finished() noexcept { --work; }
  void run() {
    while (!queued.empty()) {
      const auto f = std::move(queued.front());
      queued.pop_front();
      f();
    }
  }
};

struct post_only {
  void post(surge::resume_handle) {}
};
struct no_post {};

static_assert(surge::executor<surge::thread_pool> && surge::work_tracking_executor<surge::thread_pool>);
static_assert(surge::work_tracking_executor<queue_executor>);
static_assert(surge::executor<post_only> && !surge::work_tracking_executor<post_only>);
struct resume_only_counted : post_only {  // spawn also posts other callables
  void work_started() noexcept {}
  void work_finished() noexcept {}
};
static_assert(!surge::work_tracking_executor<resume_only_counted>);
static_assert(!surge::executor<no_post>);
static_assert(std::is_trivially_copyable_v<surge::resume_handle> && sizeof(surge::resume_handle) == sizeof(void*));

// a timer takes an executor, spawn a work-tracking one
static_assert(std::is_constructible_v<surge::timer<>, post_only&>);
static_assert(!std::is_constructible_v<surge::timer<>, no_post&>);

static_assert(std::is_same_v<surge::await_result_t<surge::task<int>>, int>);
static_assert(std::is_same_v<surge::await_result_t<surge::task<int&>>, int&>);
static_assert(std::is_same_v<surge::await_result_t<surge::task<void>>, void>);
static_assert(std::is_same_v<surge::await_result_t<std::suspend_never>, void>);

}  // namespace

TEST_CASE("spawn runs on any work-tracking executor", "[exec][executor]") {
  queue_executor ex;
  int ran = 0;
  auto body = [](int& r) -> surge::task<void> {
    ++r;
    co_return;
  };
  surge::spawn(ex, body(ran));
  CHECK(ex.work == 1);  // counted from spawn until the frame is gone
  CHECK(ran == 0);      // posted, not run
  ex.run();
  CHECK(ran == 1);
  CHECK(ex.work == 0);
}
