// Tests for surge/exec/parallel_for.hpp, against a sequential reference: each
// index is visited exactly once and sums match a plain loop, for even and
// uneven bodies, every grain, signed/unsigned/narrow index types; exceptions
// and nesting (which must not deadlock: watchdog).
#include <surge/exec/async_mutex.hpp>
#include <surge/exec/parallel_for.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>

#include "exec_test_util.hpp"
#include "pool_watchdog.hpp"
#include "surge_test.hpp"

#include <atomic>
#include <cstdint>
#include <future>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using pool_test::scaled;
using pool_test::watchdog;

namespace {
/// How many indices did not run exactly once; with `reset`, zeroes the counts.
std::size_t not_once(std::vector<std::atomic<int>>& hits, bool reset = false) {
  std::size_t wrong = 0;
  for (auto& h : hits) wrong += (reset ? h.exchange(0) : h.load()) != 1;
  return wrong;
}

/// Waits until one of the pool's workers sleeps: every look for demand then sees one.
void wait_until_a_worker_sleeps(const surge::thread_pool& pool) {
  while (!surge::detail::pool_access::sleeping(pool)) std::this_thread::yield();
}

template <class I, class G>
void check_each_index_once(surge::thread_pool& pool, I first, I last, G grain) {
  const auto n = static_cast<std::size_t>(static_cast<long long>(last) - static_cast<long long>(first));
  std::vector<std::atomic<int>> hits(n);
  auto body = [&](I i) {
    hits[static_cast<std::size_t>(static_cast<long long>(i) - static_cast<long long>(first))].fetch_add(1);
  };
  if (grain == 0)
    surge::parallel_for(pool, first, last, body);
  else
    surge::parallel_for(pool, first, last, grain, body);
  REQUIRE(not_once(hits) == 0);
}
}  // namespace

TEST_CASE("parallel_for: each index exactly once, any grain and index type", "[parallel_for]") {
  watchdog dog("parallel_for each index");
  surge::thread_pool pool(2);
  for (int grain : {0, 1, 3, 64, 1000, 100000}) {
    check_each_index_once<int>(pool, 0, 10'000, grain);
    check_each_index_once<int>(pool, -5'000, 5'001, grain);
    check_each_index_once<std::int64_t>(pool, 1, 2, grain);
    check_each_index_once<unsigned>(pool, 7u, 9'999u, static_cast<unsigned>(grain));
  }
  check_each_index_once<std::int8_t>(pool, -128, 127, 1);
  check_each_index_once<std::uint16_t>(pool, 0, 65535, 0);
}

TEST_CASE("parallel_for: empty and reversed ranges do nothing, grain 0 throws", "[parallel_for]") {
  surge::thread_pool pool(2);
  int calls = 0;
  surge::parallel_for(pool, 5, 5, [&](int) { ++calls; });
  surge::parallel_for(pool, 9, 3, [&](int) { ++calls; });
  surge::parallel_for(pool, 9, 3, 1, [&](int) { ++calls; });
  CHECK(calls == 0);
  CHECK_THROWS_AS(surge::parallel_for(pool, 0, 10, 0, [](int) {}), std::invalid_argument);
  CHECK_THROWS_AS(surge::parallel_for(pool, 0, 10, -1, [](int) {}), std::invalid_argument);
  // judged before conversion: -1 for an unsigned index was UINT_MAX (one piece)
  CHECK_THROWS_AS(surge::parallel_for(pool, 0u, 10u, -1, [](unsigned) {}), std::invalid_argument);
  // a grain wider than the index type: one piece
  std::atomic<int> wide_calls{0};
  surge::parallel_for(pool, std::int8_t{0}, std::int8_t{100}, 1'000'000, [&](std::int8_t) { wide_calls.fetch_add(1); });
  CHECK(wide_calls.load() == 100);
}

TEST_CASE("parallel_for: a last of another integer type is compared by value, not converted", "[parallel_for]") {
  // `last` was converted to first's type before the range was judged: -1 as
  // an unsigned end ran up to the type's maximum, and an end above first's
  // type wrapped to an empty or a shorter range, silently.
  watchdog dog("parallel_for last of another type");
  surge::thread_pool pool(2);
  std::atomic<int> calls{0};
  const auto count = [&](auto) { calls.fetch_add(1); };
  for (const bool with_grain : {false, true}) {
    const auto run = [&](auto first, auto last) {
      if (with_grain)
        surge::parallel_for(pool, first, last, 3, count);
      else
        surge::parallel_for(pool, first, last, count);
    };
    calls = 0;
    run(std::uint8_t{0}, -1);  // below the unsigned type's minimum: empty (was 255 calls)
    run(0u, std::int64_t{-5});
    run(std::int8_t{-128}, std::int64_t{-129});
    CHECK(calls.load() == 0);
    run(std::int8_t{-3}, 127);  // every value of the type fits
    run(std::uint8_t{250}, 255ULL);
    run(std::int16_t{10}, std::int8_t{20});
    CHECK(calls.load() == 130 + 5 + 10);
    calls = 0;
    // above first's type: refused (200 as int8_t was -56, an empty range)
    CHECK_THROWS_AS(run(std::int8_t{0}, 200), std::invalid_argument);
    CHECK_THROWS_AS(run(std::uint8_t{0}, 256), std::invalid_argument);
    CHECK_THROWS_AS(run(0, std::size_t{1} << 40), std::invalid_argument);  // was wrapped to 0: nothing ran
    CHECK(calls.load() == 0);
    // an empty range is empty whatever its end's type
    run(std::int8_t{5}, std::uint64_t{5});
    run(std::int8_t{5}, std::uint64_t{4});
    CHECK(calls.load() == 0);
  }
}

TEST_CASE("parallel_for: character index types, with or without a grain", "[parallel_for]") {
  // They are integer types for std::integral, but not for std::cmp_less_equal
  // and std::in_range, which the grain's checks used: a character index with
  // a grain did not compile. (A character grain does not compile on purpose.)
  watchdog dog("parallel_for character types");
  surge::thread_pool pool(2);
  for (int grain : {0, 1, 3, 127}) check_each_index_once<char>(pool, 'A', 'z', grain);
  check_each_index_once<wchar_t>(pool, L'\0', L'\x2000', 7);
  check_each_index_once<char8_t>(pool, u8'\0', char8_t{255}, 5);
  check_each_index_once<char16_t>(pool, u'\0', u'\xffff', 0x400);
  check_each_index_once<char32_t>(pool, U'\x10000', U'\x12000', 0);
  std::atomic<int> calls{0};
  // a grain above the index type's maximum: one piece
  surge::parallel_for(pool, std::int8_t{0}, std::int8_t{100}, 0x10000, [&](std::int8_t) { calls.fetch_add(1); });
  CHECK(calls.load() == 100);
}

TEST_CASE("parallel_for: uneven bodies sum like the sequential loop", "[parallel_for]") {
  watchdog dog("parallel_for uneven");
  surge::thread_pool pool(2);
  std::mt19937 rng(7);
  for (int round = 0; round < scaled(30, 3); ++round) {
    const int n = 1 + static_cast<int>(rng() % 5000);
    std::vector<unsigned> cost(static_cast<std::size_t>(n));
    for (auto& c : cost) c = rng() % 8 == 0 ? rng() % 20000 : rng() % 50;  // a few heavy indices
    auto value = [&](int i) {
      std::uint64_t x = static_cast<std::uint64_t>(i) + 1;
      for (unsigned k = 0; k < cost[static_cast<std::size_t>(i)]; ++k) x = x * 6364136223846793005ULL + 1;
      return x;
    };
    std::uint64_t expected = 0;
    for (int i = 0; i < n; ++i) expected += value(i);
    std::atomic<std::uint64_t> got{0};
    const int grain = static_cast<int>(rng() % 4 == 0 ? 0 : 1 + rng() % 100);
    if (grain == 0)
      surge::parallel_for(pool, 0, n, [&](int i) { got.fetch_add(value(i), std::memory_order_relaxed); });
    else
      surge::parallel_for(pool, 0, n, grain, [&](int i) { got.fetch_add(value(i), std::memory_order_relaxed); });
    REQUIRE(got.load() == expected);
  }
}

TEST_CASE("parallel_for: the first exception propagates, after every started piece ended", "[parallel_for]") {
  watchdog dog("parallel_for exceptions");
  surge::thread_pool pool(2);
  for (int round = 0; round < scaled(50, 5); ++round) {
    std::atomic<int> running{0}, after{0};
    try {
      surge::parallel_for(pool, 0, 10'000, 10, [&](int i) {
        running.fetch_add(1);
        if (i % 1000 == 999) {
          running.fetch_sub(1);
          throw std::runtime_error(std::to_string(i));
        }
        running.fetch_sub(1);
      });
      FAIL("no exception");
    } catch (const std::runtime_error& e) {
      const int i = std::stoi(e.what());
      CHECK(i % 1000 == 999);  // one of the thrown ones
      after.store(running.load());
    }
    CHECK(after.load() == 0);  // no body still running when the caller sees the exception
  }
  // the pool is fine afterwards
  std::atomic<int> n{0};
  surge::parallel_for(pool, 0, 100, [&](int) { n.fetch_add(1); });
  CHECK(n.load() == 100);
}

TEST_CASE("parallel_for: nested, and from inside tasks, does not deadlock", "[parallel_for]") {
  watchdog dog("nested parallel_for");
  for (std::size_t workers : {1u, 2u, 3u}) {
    surge::thread_pool pool(workers);
    std::atomic<long> sum{0};
    surge::parallel_for(pool, 0, 40, 1, [&](int i) {
      surge::parallel_for(pool, 0, 100, 7, [&](int j) { sum.fetch_add(i * 100 + j, std::memory_order_relaxed); });
    });
    CHECK(sum.load() == 3999L * 4000 / 2);
    // From tasks: every worker busy in its own parallel_for at once.
    std::vector<std::future<long>> futs;
    for (int t = 0; t < 8; ++t)
      futs.push_back(pool.submit([&pool] {
        std::atomic<long> s{0};
        surge::parallel_for(pool, 0, 1000, 3, [&](int j) {
          surge::parallel_for(pool, 0, 4, 1, [&](int k) { s.fetch_add(j * 4 + k, std::memory_order_relaxed); });
        });
        return s.load();
      }));
    for (auto& f : futs) CHECK(f.get() == 3999L * 4000 / 2);
  }
}

namespace {
// Takes `m` after the first waiter, logs 2, and lets it go.
surge::task<void> second_holder(surge::async_mutex& m, std::vector<int>& log) {
  co_await m.lock();
  log.push_back(2);
  m.unlock();
}
// Takes `m`, hands it to the next waiter (queued on this thread's
// trampoline), then runs a loop whose piece on the worker takes `m` with
// sync_wait; the caller's own piece waits until that one has started, so the
// worker is the one that needs the next waiter to have run.
surge::task<void> hand_off_then_loop(surge::thread_pool& pool, surge::async_mutex& m, std::vector<int>& log) {
  co_await m.lock();
  log.push_back(1);
  m.unlock();
  std::atomic<bool> upper_started{false};
  surge::parallel_for(pool, 0, 2, 1, [&](int i) {
    if (i == 0) {
      while (!upper_started.load()) std::this_thread::yield();
      return;
    }
    upper_started = true;
    surge::sync_wait([](surge::async_mutex& mx) -> surge::task<void> {
      co_await mx.lock();
      mx.unlock();
    }(m));
  });
  log.push_back(3);
}
}  // namespace

TEST_CASE("parallel_for: inside a trampolined coroutine, first runs what was woken before", "[parallel_for]") {
  // The first waiter runs on this thread's trampoline (the unlock below
  // resumed it) and hands the lock on to the second, queued behind it; its
  // loop's piece on the worker needs that lock, so the loop needs the second
  // waiter to run and unlock, which used to wait for the first: a deadlock.
  watchdog dog("parallel_for after a hand-off", std::chrono::seconds(30));
  surge::thread_pool pool(1);
  surge::async_mutex m;
  REQUIRE(m.try_lock());
  std::vector<int> order;
  exec_test::start(hand_off_then_loop(pool, m, order));
  exec_test::start(second_holder(m, order));
  m.unlock();
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK_FALSE(m.is_locked());
}

TEST_CASE("parallel_for: after shutdown the caller runs the range itself", "[parallel_for]") {
  surge::thread_pool pool(2);
  pool.shutdown();
  std::atomic<int> n{0};
  surge::parallel_for(pool, 0, 1000, 10, [&](int) { n.fetch_add(1); });
  CHECK(n.load() == 1000);
}

TEST_CASE("parallel_for: the hand-off gate opens at the first reading past its delay, and stays open",
          "[parallel_for]") {
  struct tag {};
  using mclock = surge_test::manual_clock<tag>;
  mclock::reset();
  const auto us = [](int n) { return mclock::time_point{std::chrono::microseconds(n)}; };
  surge::detail::handoff_gate<mclock> gate(us(0), std::chrono::microseconds(5));
  CHECK_FALSE(gate.is_open());
  CHECK_FALSE(gate.observe(us(4)));
  CHECK_FALSE(gate.is_open());
  CHECK(gate.observe(us(5)));
  CHECK(gate.is_open());
  CHECK(gate.observe(us(0)));  // once open, open whatever a reading says
  surge::detail::handoff_gate<mclock> zero(us(0), mclock::duration::zero());
  CHECK(zero.observe(us(0)));
}

TEST_CASE("parallel_for: chunks double up to their cap, then follow the time a chunk takes", "[parallel_for]") {
  struct tag {};
  using mclock = surge_test::manual_clock<tag>;
  using std::chrono::microseconds;
  mclock::reset();
  const microseconds interval(2);
  // each chunk advances the clock by `cost` per index, as a body of that cost would
  const auto run_chunks = [&](surge::detail::chunk_pacer<mclock>& pace, surge::detail::handoff_gate<mclock>& gate,
                              std::chrono::nanoseconds cost, int chunks) {
    std::vector<std::uint64_t> sizes;
    for (int k = 0; k < chunks; ++k) {
      sizes.push_back(pace.size());
      mclock::advance(cost * static_cast<long>(pace.size()));
      pace.next(gate);
    }
    return sizes;
  };

  SECTION("gate closed, clock frozen: 1, 2, 4 ... up to the cap") {
    surge::detail::handoff_gate<mclock> gate(mclock::now(), microseconds(5));
    surge::detail::chunk_pacer<mclock> pace(20, interval);
    CHECK(run_chunks(pace, gate, std::chrono::nanoseconds(0), 7) == std::vector<std::uint64_t>{1, 2, 4, 8, 16, 20, 20});
    CHECK_FALSE(gate.is_open());
  }
  SECTION("a reading past the delay opens the gate; while it is closed, chunks double whatever they cost") {
    surge::detail::handoff_gate<mclock> gate(mclock::now(), microseconds(5));
    surge::detail::chunk_pacer<mclock> pace(1u << 20, interval);
    // 1 us per index: the 3rd chunk ends at 7 us, but the clock is read after
    // the 1st, 2nd and 4th chunks only, so the 4th (ending at 15 us) opens it
    CHECK(run_chunks(pace, gate, microseconds(1), 3) == std::vector<std::uint64_t>{1, 2, 4});
    CHECK_FALSE(gate.is_open());
    CHECK(run_chunks(pace, gate, microseconds(1), 1) == std::vector<std::uint64_t>{8});
    CHECK(gate.is_open());
    // from then on every chunk is timed: 16 doubles (untimed: the clock was
    // not read right before it), then halving while a chunk takes over 4 us
    CHECK(run_chunks(pace, gate, microseconds(1), 6) == std::vector<std::uint64_t>{16, 32, 16, 8, 4, 4});
    CHECK(pace.size() == 4);  // 4 us per chunk: within [interval, 2 interval], kept
    CHECK(run_chunks(pace, gate, microseconds(1), 2) == std::vector<std::uint64_t>{4, 4});
  }
  SECTION("once timed, the chunk settles where it takes between one and two intervals, and follows the cost") {
    surge::detail::handoff_gate<mclock> gate(mclock::now(), microseconds(0));
    surge::detail::chunk_pacer<mclock> pace(1u << 30, interval);
    for (const auto cost : {std::chrono::nanoseconds(3), std::chrono::nanoseconds(700), std::chrono::nanoseconds(30)}) {
      (void)run_chunks(pace, gate, cost, 40);
      const auto took = cost * static_cast<long>(pace.size());
      CHECK(took >= interval);
      CHECK(took <= 2 * interval);
    }
    // a single index that takes longer than the interval: chunks of 1
    (void)run_chunks(pace, gate, microseconds(50), 40);
    CHECK(pace.size() == 1);
  }
  SECTION("a cap of 0 is taken as 1") {
    surge::detail::handoff_gate<mclock> gate(mclock::now(), microseconds(0));
    surge::detail::chunk_pacer<mclock> pace(0, interval);
    CHECK(run_chunks(pace, gate, std::chrono::nanoseconds(0), 3) == std::vector<std::uint64_t>{1, 1, 1});
  }
}

TEST_CASE("parallel_for: the automatic grain hands no work to idle workers before the delay, and does after it",
          "[parallel_for]") {
  watchdog dog("parallel_for hand-off delay");
  struct tag {};
  using mclock = surge_test::manual_clock<tag>;
  mclock::reset();
  surge::thread_pool pool(2);
  // a worker asleep: every look for demand sees one, so only the gate decides
  wait_until_a_worker_sleeps(pool);
  const auto caller = std::this_thread::get_id();
  constexpr int n = 1 << 20;
  std::vector<std::atomic<int>> hits(n);
  std::atomic<int> elsewhere{0};

  // The clock stands still: the loop never reaches the delay, so its caller
  // runs all of it although a worker sleeps (without the gate the first look
  // hands the upper half to that worker).
  auto frozen = [&](int i) {
    hits[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    if (std::this_thread::get_id() != caller) elsewhere.fetch_add(1, std::memory_order_relaxed);
  };
  surge::detail::parallel_for_adaptive<mclock>(pool, 0, n, frozen);
  CHECK(elsewhere.load() == 0);
  REQUIRE(not_once(hits, true) == 0);

  // The delay passes during the first index: the clock read after it opens
  // the gate, and the next look hands the upper half to the sleeper.
  // The caller then waits inside its own indices until a worker has run one
  // (the watchdog bounds the wait).
  wait_until_a_worker_sleeps(pool);
  auto moving = [&](int i) {
    hits[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    if (std::this_thread::get_id() != caller) {
      elsewhere.fetch_add(1, std::memory_order_relaxed);
    } else if (i == 0) {
      mclock::advance(surge::detail::parallel_for_handoff_delay);
    } else {
      while (elsewhere.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
    }
  };
  surge::detail::parallel_for_adaptive<mclock>(pool, 0, n, moving);
  CHECK(elsewhere.load() > 0);
  REQUIRE(not_once(hits) == 0);
}

TEST_CASE("parallel_for: a caller that has run out of work gets part of a busy worker's range (automatic grain)",
          "[parallel_for]") {
  watchdog dog("parallel_for idle caller");
  struct tag {};
  using mclock = surge_test::manual_clock<tag>;
  mclock::reset();
  surge::thread_pool pool(1);
  wait_until_a_worker_sleeps(pool);
  const auto caller = std::this_thread::get_id();
  constexpr int n = 256;
  std::vector<std::atomic<int>> hits(n);
  std::atomic<int> worker_first{-1};  // the first index the worker ran
  std::atomic<bool> caller_took_over{false};
  // The caller opens the gate at index 0 and hands the upper half to the
  // sleeping worker at its next look, then waits at index 1 until the worker
  // runs it; its own lower indices then end at once. The worker's indices
  // each wait (a bounded number of yields) for the caller to run one of the
  // worker's indices: the only worker is busy, so only the idle caller's
  // demand can make the worker hand half of its range back. Without that,
  // the caller never runs an index above the worker's first.
  auto body = [&](int i) {
    hits[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    if (std::this_thread::get_id() == caller) {
      if (i == 0) mclock::advance(surge::detail::parallel_for_handoff_delay);
      if (i == 1)
        while (worker_first.load() < 0) std::this_thread::yield();
      const int first = worker_first.load();
      if (first >= 0 && i > first) caller_took_over.store(true);
      return;
    }
    int expected = -1;
    worker_first.compare_exchange_strong(expected, i);
    for (int k = 0; k < 2000 && !caller_took_over.load(); ++k) std::this_thread::yield();
  };
  surge::detail::parallel_for_adaptive<mclock>(pool, 0, n, body);
  CHECK(caller_took_over.load());
  REQUIRE(not_once(hits) == 0);
}

TEST_CASE("parallel_for: automatic grain on pools of 1 to 4 workers, back to back and after idling", "[parallel_for]") {
  watchdog dog("parallel_for adaptive");
  for (std::size_t workers : {1u, 2u, 4u}) {
    surge::thread_pool pool(workers);
    for (int round = 0; round < scaled(200, 20); ++round) {
      const int n = (round % 7) * 997 + round % 3;
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      surge::parallel_for(pool, 0, n, [&](int i) { hits[static_cast<std::size_t>(i)].fetch_add(1); });
      REQUIRE(not_once(hits) == 0);
      if (round % 10 == 0) pool.wait_idle();
    }
  }
}
