#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/when_all.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "exec_test_util.hpp"
#include "surge_test.hpp"

using surge::sync_wait;
using surge::task;
using surge::when_all;

namespace {
task<int> value(int v) { co_return v; }
task<int> hop(exec_test::thread_executor& ex, int v, std::atomic<int>& finished) {
  co_await ex.schedule();
  finished.fetch_add(1);
  co_return v;
}
task<int> hop_throw(exec_test::thread_executor& ex, std::string what, std::atomic<int>& finished) {
  co_await ex.schedule();
  finished.fetch_add(1);
  throw std::runtime_error(what);
}
}  // namespace

TEST_CASE("when_all (variadic) yields a tuple in argument order", "[exec][when_all]") {
  int x = 3;
  bool ran = false;
  auto [a, b, c, d] = sync_wait(when_all(
      value(1), []() -> task<std::string> { co_return "two"; }(), [](int& r) -> task<int&> { co_return r; }(x),
      [](bool& f) -> task<void> {
        f = true;
        co_return;
      }(ran)));
  CHECK(a == 1);
  CHECK(b == "two");
  CHECK(&c == &x);
  CHECK(d == std::monostate{});
  CHECK(ran);
  CHECK(sync_wait(when_all()) == std::tuple<>{});
}

TEST_CASE("when_all runs suspending tasks concurrently and keeps their order", "[exec][when_all]") {
  exec_test::thread_executor ex(2);
  std::atomic<int> finished{0};
  auto [a, b, c] = sync_wait(when_all(hop(ex, 1, finished), value(2), hop(ex, 3, finished)));
  CHECK(std::tie(a, b, c) == std::tuple{1, 2, 3});
  CHECK(finished.load() == 2);

  std::vector<task<int>> tasks;
  for (int i = 0; i < 1000; ++i) tasks.push_back(i % 3 ? hop(ex, i, finished) : value(i));
  const auto results = sync_wait(when_all(std::move(tasks)));
  REQUIRE(results.size() == 1000);
  for (int i = 0; i < 1000; ++i) CHECK(results[static_cast<std::size_t>(i)] == i);
  CHECK(sync_wait(when_all(std::vector<task<int>>{})).empty());
}

TEST_CASE("when_all rethrows the first exception in argument order after all finish", "[exec][when_all]") {
  exec_test::thread_executor ex(2);
  std::atomic<int> finished{0};
  try {
    (void)sync_wait(when_all(hop(ex, 1, finished), hop_throw(ex, "second", finished), hop_throw(ex, "third", finished),
                             hop(ex, 4, finished)));
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "second");
  }
  CHECK(finished.load() == 4);  // every task ran to the end before the rethrow

  finished = 0;
  std::vector<task<int>> tasks;
  for (int i = 0; i < 100; ++i)
    tasks.push_back(i == 70 || i == 30 ? hop_throw(ex, std::to_string(i), finished) : hop(ex, i, finished));
  CHECK_THROWS_WITH(sync_wait(when_all(std::move(tasks))), "30");
  CHECK(finished.load() == 100);
}

TEST_CASE("when_all of void and reference vectors, frames all destroyed", "[exec][when_all]") {
  const long before = exec_test::frame_probe::live.load();
  int hits = 0;
  std::vector<task<void>> voids;
  for (int i = 0; i < 10; ++i)
    voids.push_back([](int& h, exec_test::frame_probe) -> task<void> {
      ++h;
      co_return;
    }(hits, exec_test::frame_probe{}));
  CHECK(sync_wait(when_all(std::move(voids))).size() == 10);
  CHECK(hits == 10);
  int cells[3] = {0, 0, 0};
  std::vector<task<int&>> refs;
  for (int& c : cells) refs.push_back([](int& r) -> task<int&> { co_return r; }(c));
  auto got = sync_wait(when_all(std::move(refs)));
  got[1].get() = 7;
  CHECK(cells[1] == 7);
  // an empty task inside when_all is reported as that task's exception
  CHECK_THROWS_AS(sync_wait(when_all(value(1), task<int>{})), std::logic_error);
  CHECK(exec_test::frame_probe::live.load() == before);
}
