#include <surge/detail/thread_slot.hpp>

#include <cstddef>
#include <latch>
#include <set>
#include <thread>
#include <vector>

#include "failing_new.hpp"
#include "surge_test.hpp"

using surge::detail::retired_thread_slot;
using surge::detail::thread_slot;

TEST_CASE("thread slots are stable and recycled, so few live threads have small distinct ids",
          "[detail][thread_slot]") {
  const std::size_t mine = thread_slot();
  CHECK(mine == thread_slot());
  CHECK(mine < retired_thread_slot);
  std::set<std::size_t> one_at_a_time;
  for (int i = 0; i < 40; ++i) {
    std::size_t seen = 0;
    std::thread t([&] { seen = thread_slot(); });
    t.join();
    CHECK(seen != mine);
    one_at_a_time.insert(seen);
  }
  CHECK(one_at_a_time.size() == 1);  // each thread takes the id the last one gave back

  constexpr std::size_t n = 8;  // eight alive at once: eight distinct ids, below n + 1 with this thread's
  std::vector<std::size_t> ids(n);
  std::latch all_have_ids(n);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      ids[i] = thread_slot();
      all_have_ids.arrive_and_wait();
    });
  for (auto& t : threads) t.join();
  std::set<std::size_t> distinct(ids.begin(), ids.end());
  distinct.insert(mine);
  CHECK(distinct.size() == n + 1);
  CHECK(*distinct.rbegin() <= n);
}

namespace {
// Built before the thread's first thread_slot() call, so destroyed after its
// registration: what it asks then is a retired id.
struct ask_at_exit {
  std::size_t* out;
  ~ask_at_exit() { *out = thread_slot(); }
};
}  // namespace

TEST_CASE("a thread asking after its registration is torn down gets a retired id with its own low bits",
          "[detail][thread_slot]") {
  std::size_t live = 0, at_exit = 0;
  std::thread t([&] {
    thread_local ask_at_exit probe{&at_exit};
    live = thread_slot();
  });
  t.join();
  CHECK(live < retired_thread_slot);
  CHECK(at_exit == (retired_thread_slot | live));
  std::size_t next = 0;
  std::thread u([&] { next = thread_slot(); });
  u.join();
  CHECK(next == live);  // the id went back to the pool
}

TEST_CASE("a thread's exit gives its id back without allocating", "[detail][thread_slot]") {
  // Many threads alive at once take new ids; when they all exit, the free
  // list holds every one of them. Room for each was made at registration, so
  // the exit path (a thread_local destructor: it may not throw) allocates
  // nothing. Before, the free list grew there.
  constexpr std::size_t n = 64;
  std::latch all_have_ids(n);
  std::vector<std::thread> threads;
  const long before = surge_test::counted_allocations();
  for (std::size_t i = 0; i < n; ++i)
    threads.emplace_back([&] {
      (void)thread_slot();
      all_have_ids.arrive_and_wait();
      surge_test::count_allocations(true);  // what the thread's exit allocates from here
    });
  for (auto& t : threads) t.join();
  CHECK(surge_test::counted_allocations() == before);
}
