#include <surge/queue/mpmc_queue.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "surge_test.hpp"
#include "watchdog.hpp"

namespace {

using surge::mpmc_queue;

// ---- a value type that counts its lives and can be told to throw ----------

struct tracked_stats {
  long live = 0;
  long constructions = 0;
  long throw_on = -1;  // throw on this construction (1-based count from arming), -1: never
  bool double_destroy = false;
};
tracked_stats stats;  // single-threaded tests only

struct tracked {
  static constexpr std::uint32_t alive_tag = 0xA11CE;
  static constexpr std::uint32_t dead_tag = 0xDEAD;
  int value = 0;
  std::uint32_t tag = alive_tag;

  static void count_construction() {
    ++stats.constructions;
    if (stats.throw_on > 0 && --stats.throw_on == 0) {
      stats.throw_on = -1;
      throw std::runtime_error("tracked: injected construction failure");
    }
    ++stats.live;
  }
  explicit tracked(int v) : value(v) { count_construction(); }
  tracked(const tracked& o) : value(o.value) { count_construction(); }
  tracked(tracked&& o) : value(o.value) { count_construction(); }  // may throw: not noexcept
  tracked& operator=(const tracked& o) {
    value = o.value;
    return *this;
  }
  tracked& operator=(tracked&& o) {
    if (stats.throw_on > 0 && --stats.throw_on == 0) {
      stats.throw_on = -1;
      throw std::runtime_error("tracked: injected assignment failure");
    }
    value = o.value;
    return *this;
  }
  ~tracked() {
    if (tag != alive_tag) stats.double_destroy = true;
    tag = dead_tag;
    --stats.live;
  }
};

void reset_stats() { stats = tracked_stats{}; }

}  // namespace

TEST_CASE("mpmc_queue rejects capacity 0 and reports the capacity asked for", "[queue][mpmc_queue]") {
  CHECK_THROWS_AS(mpmc_queue<int>(0), std::invalid_argument);
  CHECK_THROWS_WITH(mpmc_queue<int>(0), Catch::Contains("capacity"));
  // a ring whose size in bytes cannot be represented: refused before allocating
  CHECK_THROWS_AS(mpmc_queue<int>(std::numeric_limits<std::size_t>::max()), std::length_error);
  CHECK_THROWS_AS(mpmc_queue<int>(std::size_t{1} << 61), std::length_error);
  CHECK_THROWS_AS(mpmc_queue<std::uint64_t>(std::size_t{1} << 60), std::length_error);
  for (std::size_t cap : {1u, 2u, 3u, 5u, 8u, 1000u, 1024u}) {
    mpmc_queue<int> q(cap);
    CHECK(q.capacity() == cap);
    CHECK(q.size() == 0);
    CHECK(q.empty());
  }
}

TEST_CASE("mpmc_queue full and empty edges, FIFO, wrap-around", "[queue][mpmc_queue]") {
  const std::size_t cap = GENERATE(1u, 2u, 3u, 1000u);
  CAPTURE(cap);
  mpmc_queue<std::uint64_t> q(cap);
  std::uint64_t next_in = 0, next_out = 0;
  // Many laps: fill completely, drain completely, and half-fill/half-drain so
  // the tickets wrap around the ring at every offset.
  const int rounds = cap >= 1000 ? 20 : 300;
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < cap; ++i) {
      REQUIRE(q.try_push(next_in++));
      CHECK(q.size() == i + 1);
    }
    CHECK_FALSE(q.try_push(std::uint64_t{999999}));
    CHECK_FALSE(q.try_emplace(std::uint64_t{999999}));
    CHECK(q.size() == cap);
    CHECK_FALSE(q.empty());
    const std::size_t drain = round % 2 == 0 ? cap : (cap + 1) / 2;
    for (std::size_t i = 0; i < drain; ++i) {
      const auto v = q.try_pop();
      REQUIRE(v.has_value());
      CHECK(*v == next_out++);
    }
    // refill what was drained, then drain everything
    while (q.try_push(next_in)) ++next_in;
    CHECK(q.size() == cap);
    std::uint64_t out = 0;
    while (q.try_pop(out)) CHECK(out == next_out++);
    CHECK(q.empty());
    CHECK_FALSE(q.try_pop().has_value());
    CHECK_FALSE(q.try_pop(out));
  }
  CHECK(next_in == next_out);
}

TEST_CASE("mpmc_queue matches a bounded deque under random operations", "[queue][mpmc_queue]") {
  const std::size_t cap = GENERATE(1u, 2u, 3u, 5u, 7u, 8u, 64u, 100u, 1000u);
  CAPTURE(cap);
  mpmc_queue<int> q(cap);
  std::deque<int> model;
  std::mt19937 rng(static_cast<std::uint32_t>(cap) * 7919u);
  int next = 0;
  for (int step = 0; step < 20000; ++step) {
    // bias towards pushing or popping in long phases so both edges are hit
    const bool push_phase = (step / 97) % 2 == 0;
    const int op = static_cast<int>(rng() % 10);
    if ((op < 6) == push_phase) {
      const int v = next++;
      bool pushed = false;
      switch (rng() % 4) {
        case 0:
          pushed = q.try_push(v);
          break;
        case 1: {
          const int copy = v;
          pushed = q.try_push(copy);
          break;
        }
        case 2:
          pushed = q.try_emplace(v);
          break;
        default:
          if (model.size() < cap) {  // blocking push only when it cannot block
            q.push(v);
            pushed = true;
          } else {
            pushed = q.try_push(v);
          }
      }
      REQUIRE(pushed == (model.size() < cap));
      if (pushed) model.push_back(v);
    } else {
      std::optional<int> got;
      switch (rng() % 3) {
        case 0:
          got = q.try_pop();
          break;
        case 1: {
          int out = -1;
          if (q.try_pop(out)) got = out;
          break;
        }
        default:
          if (!model.empty())
            got = q.pop();
          else
            got = q.try_pop();
      }
      REQUIRE(got.has_value() == !model.empty());
      if (got) {
        REQUIRE(*got == model.front());
        model.pop_front();
      }
    }
    REQUIRE(q.size() == model.size());
    REQUIRE(q.empty() == model.empty());
  }
}

TEST_CASE("mpmc_queue holds move-only values", "[queue][mpmc_queue]") {
  mpmc_queue<std::unique_ptr<int>> q(3);
  REQUIRE(q.try_push(std::make_unique<int>(1)));
  REQUIRE(q.try_emplace(new int(2)));
  q.push(std::make_unique<int>(3));
  auto refused = std::make_unique<int>(4);
  CHECK_FALSE(q.try_push(std::move(refused)));
  REQUIRE(refused);  // untouched on failure
  CHECK(*q.pop() == 1);
  std::unique_ptr<int> out;
  REQUIRE(q.try_pop(out));
  CHECK(*out == 2);
  auto third = q.try_pop();
  REQUIRE(third.has_value());
  CHECK(**third == 3);
  q.emplace(std::move(refused));
  // destroyed with the queue below: no leak (ASan would report one)
}

TEST_CASE("mpmc_queue destroys every item exactly once", "[queue][mpmc_queue]") {
  reset_stats();
  {
    mpmc_queue<tracked> q(5);
    for (int i = 0; i < 4; ++i) REQUIRE(q.try_emplace(i));
    CHECK(stats.live == 4);
    {
      auto v = q.try_pop();
      REQUIRE(v);
      CHECK(v->value == 0);
    }
    tracked out(-1);
    REQUIRE(q.try_pop(out));
    CHECK(out.value == 1);
    CHECK(stats.live == 3);  // two left in the queue + out
    // wrap around so the survivors sit at arbitrary ring positions
    for (int i = 4; i < 7; ++i) q.push(tracked(i));
    CHECK(q.pop().value == 2);
  }
  CHECK(stats.live == 0);
  CHECK_FALSE(stats.double_destroy);
}

TEST_CASE("mpmc_queue: a push whose construction throws enqueues nothing and leaves the slot usable",
          "[queue][mpmc_queue]") {
  const std::size_t cap = GENERATE(1u, 2u, 3u, 4u, 7u);
  const int fail_at = GENERATE(1, 2, 3, 5);
  CAPTURE(cap, fail_at);
  reset_stats();
  {
    mpmc_queue<tracked> q(cap);
    std::deque<int> model;
    int next = 0;
    int throws = 0;
    // Many laps of: push until full (one push throws on the fail_at-th construction
    // of each lap), then pop everything, checking FIFO order against the model.
    for (int lap = 0; lap < 50; ++lap) {
      stats.throw_on = 1 + (fail_at - 1) % static_cast<int>(cap);  // within this lap's pushes
      for (;;) {
        const int v = next++;
        try {
          // blocking only when it cannot block: size() is exact here and counts holes
          const bool blocking = lap % 2 == 1 && q.size() < cap;
          bool pushed = true;
          if (blocking) {
            q.emplace(v);
          } else {
            pushed = q.try_emplace(v);
          }
          if (!pushed) break;
          model.push_back(v);
        } catch (const std::runtime_error&) {
          ++throws;
        }
      }
      stats.throw_on = -1;
      while (!model.empty()) {
        const bool blocking = lap % 3 == 0;
        const int got = blocking ? q.pop().value : q.try_pop()->value;
        REQUIRE(got == model.front());
        model.pop_front();
      }
      REQUIRE_FALSE(q.try_pop().has_value());  // holes were skipped, nothing else left
      REQUIRE(q.size() == 0);
    }
    CHECK(throws > 0);
    CHECK(stats.live == 0);
  }
  CHECK(stats.live == 0);
  CHECK_FALSE(stats.double_destroy);
}

TEST_CASE("mpmc_queue: a pop whose move throws propagates, destroys the item, keeps the queue usable",
          "[queue][mpmc_queue]") {
  reset_stats();
  {
    mpmc_queue<tracked> q(3);
    for (int lap = 0; lap < 10; ++lap) {
      const int base = lap * 10;
      for (int i = 0; i < 3; ++i) REQUIRE(q.try_emplace(base + i));
      tracked out(0);
      stats.throw_on = 1;  // the next construction (or move assignment) throws
      switch (lap % 3) {
        case 0:
          CHECK_THROWS_AS(q.pop(), std::runtime_error);
          break;
        case 1:
          CHECK_THROWS_AS(q.try_pop(), std::runtime_error);
          break;
        default:
          CHECK_THROWS_AS(q.try_pop(out), std::runtime_error);
      }
      CHECK(out.value == 0);
      // item base+0 was taken by the failed call; the rest arrive in order
      CHECK(q.size() == 2);
      CHECK(q.pop().value == base + 1);
      CHECK(q.try_pop()->value == base + 2);
      CHECK(q.empty());
      CHECK(stats.live == 1);  // just `out`
    }
  }
  CHECK(stats.live == 0);
  CHECK_FALSE(stats.double_destroy);
}

TEST_CASE("mpmc_queue: a consumer blocked on an empty queue wakes on push", "[queue][mpmc_queue][blocking]") {
  const surge_test::watchdog dog("blocked consumer wakes");
  const std::size_t cap = GENERATE(1u, 3u, 64u);
  mpmc_queue<int> q(cap);
  std::atomic<bool> started{false};
  std::atomic<int> got{-1};
  std::thread consumer([&] {
    started.store(true);
    got.store(q.pop());
  });
  while (!started.load()) std::this_thread::yield();
  // Give the consumer ample chance to go through its spin phase into atomic::wait.
  for (int i = 0; i < 2000 && got.load() == -1; ++i) std::this_thread::yield();
  CHECK(got.load() == -1);
  REQUIRE(q.try_push(42));
  consumer.join();
  CHECK(got.load() == 42);
  CHECK(q.empty());
}

TEST_CASE("mpmc_queue: a producer blocked on a full queue wakes on pop", "[queue][mpmc_queue][blocking]") {
  const surge_test::watchdog dog("blocked producer wakes");
  const std::size_t cap = GENERATE(1u, 3u, 64u);
  CAPTURE(cap);
  mpmc_queue<int> q(cap);
  for (std::size_t i = 0; i < cap; ++i) REQUIRE(q.try_push(static_cast<int>(i)));
  std::atomic<bool> started{false}, done{false};
  std::thread producer([&] {
    started.store(true);
    q.push(-7);
    done.store(true);
  });
  while (!started.load()) std::this_thread::yield();
  for (int i = 0; i < 2000 && !done.load(); ++i) std::this_thread::yield();
  CHECK_FALSE(done.load());
  int out = 0;
  REQUIRE(q.try_pop(out));
  CHECK(out == 0);
  producer.join();
  CHECK(q.size() == cap);
  for (std::size_t i = 1; i < cap; ++i) CHECK(q.pop() == static_cast<int>(i));
  CHECK(q.pop() == -7);
}

namespace {

struct allocation_counts {
  long allocations = 0, deallocations = 0;
};
allocation_counts alloc_counts;

template <class U>
struct counting_allocator {
  using value_type = U;
  counting_allocator() = default;
  template <class V>
  counting_allocator(const counting_allocator<V>&) noexcept {}
  U* allocate(std::size_t n) {
    ++alloc_counts.allocations;
    return std::allocator<U>().allocate(n);
  }
  void deallocate(U* p, std::size_t n) noexcept {
    ++alloc_counts.deallocations;
    std::allocator<U>().deallocate(p, n);
  }
  template <class V>
  bool operator==(const counting_allocator<V>&) const noexcept {
    return true;
  }
};

}  // namespace

TEST_CASE("mpmc_queue allocates once, through its allocator", "[queue][mpmc_queue]") {
  alloc_counts = {};
  {
    mpmc_queue<int, counting_allocator<int>> q(10);
    CHECK(alloc_counts.allocations == 1);
    for (int i = 0; i < 100; ++i) {
      REQUIRE(q.try_push(i));
      CHECK(q.pop() == i);
    }
    CHECK(alloc_counts.allocations == 1);  // nothing allocated after construction
  }
  CHECK(alloc_counts.deallocations == 1);
}
