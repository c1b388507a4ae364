// Concurrency stress for surge::mpmc_queue: P producers x C consumers, each
// producer pushing a tagged sequence; consumers check that nothing is lost,
// nothing is duplicated and each producer's items arrive in order. Bounded by
// item counts (scaled down under sanitizers) and guarded by a watchdog.
#include <surge/detail/backoff.hpp>
#include <surge/queue/mpmc_queue.hpp>
#include <surge/queue/queue_closed.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "surge_test.hpp"
#include "watchdog.hpp"

namespace {

enum class mode { try_only, blocking, mixed };

const char* name(mode m) {
  switch (m) {
    case mode::try_only:
      return "try_";
    case mode::blocking:
      return "blocking";
    default:
      return "mixed";
  }
}

// Retries a try_ call: brief spin, then yield (the machine may have fewer
// cores than threads; a pure spinner would starve the thread it waits for).
template <class Op>
void retry(Op op) {
  surge::detail::backoff<> b;
  while (!op()) {
    if (b.spinning()) {
      b.pause();
    } else {
      std::this_thread::yield();
    }
  }
}

constexpr int producer_shift = 40;

struct outcome {
  std::uint64_t popped = 0;
  std::uint64_t sum = 0;
  bool order_ok = true;
  bool tag_ok = true;
};

/// One zeroed delivery counter per item: seen[p * per_producer + i] counts
/// deliveries of producer p's i-th item.
std::unique_ptr<std::atomic<std::uint8_t>[]> delivery_counts(std::uint64_t total) {
  std::unique_ptr<std::atomic<std::uint8_t>[]> seen(new std::atomic<std::uint8_t>[total]);
  for (std::uint64_t i = 0; i < total; ++i) seen[i].store(0, std::memory_order_relaxed);
  return seen;
}

/// Checks and counts one popped item: its tag names a real producer and
/// index, and (FIFO) one consumer sees each producer's items in push order.
void record(outcome& r, std::vector<std::int64_t>& last, std::atomic<std::uint8_t>* seen, std::uint64_t item,
            int producers, std::uint64_t per_producer) {
  const std::uint64_t p = item >> producer_shift;
  const std::uint64_t i = item & ((std::uint64_t{1} << producer_shift) - 1);
  if (p >= static_cast<std::uint64_t>(producers) || i >= per_producer) {
    r.tag_ok = false;
    return;
  }
  if (static_cast<std::int64_t>(i) <= last[p]) r.order_ok = false;
  last[p] = static_cast<std::int64_t>(i);
  seen[p * per_producer + i].fetch_add(1, std::memory_order_relaxed);
  ++r.popped;
  r.sum += item;
}

void run_stress(int producers, int consumers, mode m, std::size_t capacity, std::uint64_t per_producer) {
  CAPTURE(producers, consumers, name(m), capacity, per_producer);
  const surge_test::watchdog dog("mpmc_queue stress", std::chrono::seconds(150));
  surge::mpmc_queue<std::uint64_t> q(capacity);
  const std::uint64_t total = per_producer * static_cast<std::uint64_t>(producers);
  const auto seen = delivery_counts(total);
  std::vector<outcome> results(static_cast<std::size_t>(consumers));
  std::atomic<bool> go{false};

  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const bool blocking = m == mode::blocking || (m == mode::mixed && p % 2 == 0);
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        const std::uint64_t item = (static_cast<std::uint64_t>(p) << producer_shift) | i;
        if (blocking) {
          q.push(item);
        } else if (i % 2 == 0) {
          retry([&] { return q.try_push(item); });
        } else {
          retry([&] { return q.try_emplace(item); });
        }
      }
    });
  }
  // Each consumer pops a fixed quota, so blocking pops always end.
  for (int c = 0; c < consumers; ++c) {
    const std::uint64_t quota = total / static_cast<std::uint64_t>(consumers) +
                                (static_cast<std::uint64_t>(c) < total % static_cast<std::uint64_t>(consumers) ? 1 : 0);
    threads.emplace_back([&, c, quota] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const bool blocking = m == mode::blocking || (m == mode::mixed && c % 2 == 1);
      outcome& r = results[static_cast<std::size_t>(c)];
      std::vector<std::int64_t> last(static_cast<std::size_t>(producers), -1);
      for (std::uint64_t n = 0; n < quota; ++n) {
        std::uint64_t item = 0;
        if (blocking) {
          item = q.pop();
        } else if (n % 2 == 0) {
          retry([&] { return q.try_pop(item); });
        } else {
          retry([&] {
            const auto v = q.try_pop();
            if (v) item = *v;
            return v.has_value();
          });
        }
        record(r, last, seen.get(), item, producers, per_producer);
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  std::uint64_t popped = 0, sum = 0, expected_sum = 0;
  bool order_ok = true, tag_ok = true;
  for (const auto& r : results) {
    popped += r.popped;
    sum += r.sum;
    order_ok = order_ok && r.order_ok;
    tag_ok = tag_ok && r.tag_ok;
  }
  std::uint64_t missing = 0, duplicated = 0;
  for (int p = 0; p < producers; ++p) {
    for (std::uint64_t i = 0; i < per_producer; ++i) {
      expected_sum += (static_cast<std::uint64_t>(p) << producer_shift) | i;
      const auto n = seen[static_cast<std::uint64_t>(p) * per_producer + i].load(std::memory_order_relaxed);
      if (n == 0) ++missing;
      if (n > 1) ++duplicated;
    }
  }
  CHECK(tag_ok);
  CHECK(order_ok);
  CHECK(missing == 0);
  CHECK(duplicated == 0);
  CHECK(popped == total);
  CHECK(sum == expected_sum);
  CHECK(q.empty());
  CHECK_FALSE(q.try_pop().has_value());
}

}  // namespace

TEST_CASE("mpmc_queue stress: no loss, no duplicate, per-producer order", "[stress][queue][mpmc_queue]") {
  const auto shape = GENERATE(std::pair{1, 1}, std::pair{2, 2}, std::pair{4, 4}, std::pair{8, 1}, std::pair{1, 8});
  const mode m = GENERATE(mode::try_only, mode::blocking, mode::mixed);
  // A small ring makes full and empty frequent; a non-power-of-two one also
  // exercises the exact-capacity check.
  const std::size_t capacity = GENERATE(std::size_t{3}, std::size_t{64});
  const std::uint64_t total = surge_test::scaled<std::uint64_t>(120'000, 4);
  run_stress(shape.first, shape.second, m, capacity, total / static_cast<std::uint64_t>(shape.first));
}

// Rings of at least 256 slots: blocking pops that catch up with the producers,
// or start a block of 64 tickets, first wait for a slot up to 1024 tickets (a
// quarter of the ring) ahead (let_producers_ahead: 64 tickets for 256 slots,
// 256 for 1024, 1024 for 8192), and a look-ahead that waits in vain turns
// itself off for a while. Both paths run here: the
// producers stream (look-ahead succeeds) and stop at the end of the run, and
// with 8 producers on 1 consumer or 1 on 8 the slot ahead is often not filled.
TEST_CASE("mpmc_queue stress: blocking pops with look-ahead (large rings)", "[stress][queue][mpmc_queue]") {
  const auto shape = GENERATE(std::pair{1, 1}, std::pair{4, 4}, std::pair{8, 1}, std::pair{1, 8});
  const mode m = GENERATE(mode::blocking, mode::mixed);
  const std::size_t capacity = GENERATE(std::size_t{256}, std::size_t{1000}, std::size_t{8192});
  const std::uint64_t total = surge_test::scaled<std::uint64_t>(120'000, 4);
  run_stress(shape.first, shape.second, m, capacity, total / static_cast<std::uint64_t>(shape.first));
}

TEST_CASE("mpmc_queue: 1e6 hand-offs through capacity 1 between two blocked threads lose no wake-up",
          "[stress][queue][mpmc_queue][blocking]") {
  const surge_test::watchdog dog("mpmc_queue 1e6 hand-offs", std::chrono::seconds(150));
  // 1e6 in normal builds; under a sanitizer 1e5 (__SANITIZE_THREAD__ /
  // __has_feature(thread_sanitizer)), which keeps the whole suite within CI's budget.
  const std::uint64_t n = surge_test::scaled<std::uint64_t>(1'000'000, 10);
  surge::mpmc_queue<std::uint64_t> q(1);
  std::uint64_t sum = 0;
  bool in_order = true;
  std::thread consumer([&] {
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t v = q.pop();
      in_order = in_order && v == i;
      sum += v;
    }
  });
  for (std::uint64_t i = 0; i < n; ++i) q.push(i);
  consumer.join();
  CHECK(in_order);
  CHECK(sum == n * (n - 1) / 2);
  CHECK(q.empty());
}

namespace {

/// A uint64_t whose move may throw (it never does): pops of it are locked pops.
struct locked_u64 {
  std::uint64_t v = 0;
  locked_u64() = default;
  explicit locked_u64(std::uint64_t x) noexcept : v(x) {}
  locked_u64(const locked_u64&) = default;
  locked_u64(locked_u64&& o) noexcept(false) : v(o.v) {}
  locked_u64& operator=(const locked_u64&) = default;
  locked_u64& operator=(locked_u64&& o) noexcept(false) {
    v = o.v;
    return *this;
  }
};
std::uint64_t raw(std::uint64_t x) { return x; }
std::uint64_t raw(const locked_u64& x) { return x.v; }

/// Producers push until the queue is closed under them (a closer thread calls
/// close() in the middle of the traffic); consumers pop until queue_closed.
/// Every push that succeeded is delivered exactly once, in per-producer
/// order; nothing else is.
template <class T>
void run_close_stress(int producers, int consumers, mode m, std::size_t capacity, std::uint64_t max_per_producer) {
  CAPTURE(producers, consumers, name(m), capacity, max_per_producer);
  const surge_test::watchdog dog("mpmc_queue close stress", std::chrono::seconds(150));
  surge::mpmc_queue<T> q(capacity);
  const std::uint64_t total = max_per_producer * static_cast<std::uint64_t>(producers);
  const auto seen = delivery_counts(total);
  std::vector<std::uint64_t> pushed(static_cast<std::size_t>(producers), 0);
  std::vector<outcome> results(static_cast<std::size_t>(consumers));
  std::atomic<std::uint64_t> pushed_so_far{0};
  std::atomic<int> producers_done{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const bool blocking = m == mode::blocking || (m == mode::mixed && p % 2 == 0);
      std::uint64_t i = 0;
      for (; i < max_per_producer; ++i) {
        const std::uint64_t item = (static_cast<std::uint64_t>(p) << producer_shift) | i;
        if (blocking) {
          try {
            q.push(T(item));
          } catch (const surge::queue_closed&) {
            break;
          }
        } else {
          bool ok = false;
          retry([&] {
            ok = q.try_push(T(item));
            return ok || q.is_closed();  // false and closed: refused for good
          });
          if (!ok) break;
        }
        pushed_so_far.fetch_add(1, std::memory_order_relaxed);
      }
      pushed[static_cast<std::size_t>(p)] = i;
      producers_done.fetch_add(1, std::memory_order_release);
    });
  }
  // The closer: close once about a third of the maximum went through (or
  // every producer stopped), with pushes, pops and waits in full flight.
  threads.emplace_back([&] {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    while (pushed_so_far.load(std::memory_order_relaxed) < total / 3 &&
           producers_done.load(std::memory_order_acquire) < producers)
      std::this_thread::yield();
    q.close();
  });
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const bool blocking = m == mode::blocking || (m == mode::mixed && c % 2 == 1);
      outcome& r = results[static_cast<std::size_t>(c)];
      std::vector<std::int64_t> last(static_cast<std::size_t>(producers), -1);
      bool draining = blocking;  // a try_ consumer switches to pop() once closed (the documented pattern)
      for (;;) {
        std::uint64_t item = 0;
        if (draining) {
          try {
            item = raw(q.pop());
          } catch (const surge::queue_closed&) {
            break;
          }
        } else {
          std::optional<T> v;
          retry([&] {
            v = q.try_pop();
            return v.has_value() || q.is_closed();
          });
          if (!v) {
            draining = true;
            continue;
          }
          item = raw(*v);
        }
        record(r, last, seen.get(), item, producers, max_per_producer);
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  std::uint64_t popped = 0, expected = 0, missing = 0, duplicated = 0, phantom = 0;
  bool order_ok = true, tag_ok = true;
  for (const auto& r : results) {
    popped += r.popped;
    order_ok = order_ok && r.order_ok;
    tag_ok = tag_ok && r.tag_ok;
  }
  for (int p = 0; p < producers; ++p) {
    const std::uint64_t n = pushed[static_cast<std::size_t>(p)];
    expected += n;
    for (std::uint64_t i = 0; i < max_per_producer; ++i) {
      const auto k = seen[static_cast<std::uint64_t>(p) * max_per_producer + i].load(std::memory_order_relaxed);
      if (i < n && k == 0) ++missing;
      if (k > 1) ++duplicated;
      if (i >= n && k != 0) ++phantom;  // a refused push must not be delivered
    }
  }
  CHECK(tag_ok);
  CHECK(order_ok);
  CHECK(missing == 0);
  CHECK(duplicated == 0);
  CHECK(phantom == 0);
  CHECK(popped == expected);
  CHECK(q.is_closed());
  CHECK(q.empty());
  CHECK_FALSE(q.try_pop().has_value());
}

}  // namespace

TEST_CASE("mpmc_queue stress: close() in the middle of traffic loses and invents nothing",
          "[stress][queue][mpmc_queue][close]") {
  const auto shape = GENERATE(std::pair{1, 1}, std::pair{2, 2}, std::pair{4, 4}, std::pair{3, 1}, std::pair{1, 3});
  const mode m = GENERATE(mode::try_only, mode::blocking, mode::mixed);
  const std::size_t capacity = GENERATE(std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{1024});
  const std::uint64_t per_producer =
      surge_test::scaled<std::uint64_t>(40'000, 8) / static_cast<std::uint64_t>(shape.first);
  run_close_stress<std::uint64_t>(shape.first, shape.second, m, capacity, per_producer);
  run_close_stress<locked_u64>(shape.first, shape.second, m, capacity, per_producer / 4);
}
