// sharded_cache: capacity split, shard choice, forwarding of options and
// stats, and a multi-threaded stress run whose every insertion, erase and
// eviction is accounted for (run under ThreadSanitizer in CI).
#include <surge/cache/cache.hpp>
#include <surge/cache/lfu.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/s3fifo.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/cache/sieve.hpp>
#include <surge/cache/wtinylfu.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "surge_test.hpp"

using namespace std::chrono_literals;

TEST_CASE("sharded_cache splits the capacity and rejects a zero or too large one", "[sharded]") {
  using cache = surge::sharded_cache<surge::lru_cache<int, int>, 4>;
  CHECK_THROWS_AS(cache(0), std::invalid_argument);
  CHECK(cache::max_capacity == 4 * surge::lru_cache<int, int>::max_capacity);
  try {
    cache c(cache::max_capacity + 1);
    FAIL("too large a capacity accepted");
  } catch (const std::invalid_argument& e) {  // names the type and the argument, not the engine
    CHECK(std::string_view(e.what()).find("sharded_cache: capacity") != std::string_view::npos);
  }
  {
    cache small(3);  // fewer entries than shards: three shards of one
    CHECK(small.capacity() == 3);
    for (int k = 0; k < 100; ++k) {
      small.put(k, k);
      CHECK(small.shard_index(k) < 3);
    }
    CHECK(small.size() == 3);
    cache one(1);
    one.put(1, 1);
    one.put(2, 2);
    CHECK(one.size() == 1);
    CHECK(one.get(2) == std::optional<int>(2));
  }
  cache c(10);  // shards of 3, 3, 2, 2
  CHECK(c.capacity() == 10);
  CHECK(c.empty());
  for (int k = 0; k < 1000; ++k) c.put(k, k);
  CHECK(c.size() == 10);
  const auto s = c.stats();
  CHECK(s.insertions == 1000);
  CHECK(s.evictions == 990);
}

TEST_CASE("sharded_cache is neither copyable nor movable, like the caches it holds", "[sharded]") {
  // it was movable by accident: the moved-from cache kept its shard count but
  // no shards, so its next call (size(), get ...) dereferenced a null pointer
  using cache = surge::sharded_cache<surge::lru_cache<int, int>, 4>;
  CHECK_FALSE(std::is_move_constructible_v<cache>);
  CHECK_FALSE(std::is_move_assignable_v<cache>);
  CHECK_FALSE(std::is_copy_constructible_v<cache>);
  CHECK_FALSE(std::is_copy_assignable_v<cache>);
}

TEST_CASE("sharded_cache forwards get, peek, put, erase and get_or_insert_with", "[sharded]") {
  surge::sharded_cache<surge::lfu_cache<int, std::string>, 8> c(64);
  CHECK(c.put(1, "one"));
  CHECK(!c.put(1, "uno"));
  CHECK(c.get(1) == std::optional<std::string>("uno"));
  CHECK(c.get(2) == std::nullopt);
  CHECK(c.peek(1) == std::optional<std::string>("uno"));
  CHECK(c.contains(1));
  CHECK(c.get_or_insert_with(2, [] { return std::string("two"); }) == "two");
  CHECK(c.get_or_insert_with(2, [] { return std::string("deux"); }) == "two");
  bool visited = c.visit(2, [](std::string& v) { v += "!"; });
  CHECK(visited);
  CHECK(!c.visit(3, [](std::string&) {}));
  CHECK(c.peek(2) == std::optional<std::string>("two!"));
  CHECK(c.erase(1));
  CHECK(!c.erase(1));
  const auto s = c.stats();
  CHECK(s.hits == 3);    // get(1), get_or_insert(2) second, visit(2)
  CHECK(s.misses == 3);  // get(2), get_or_insert(2) first, visit(3)
  CHECK(s.insertions == 2);
  c.reset_stats();
  CHECK(c.stats() == surge::cache_stats{});
  c.clear();
  CHECK(c.empty());
}

TEST_CASE("sharded_cache spreads integer keys evenly over its shards", "[sharded]") {
  surge::sharded_cache<surge::lru_cache<std::uint64_t, int>, 16> c(16);
  std::vector<int> per_shard(16);
  for (std::uint64_t k = 0; k < 16000; ++k) {
    const auto i = c.shard_index(k);
    REQUIRE(i < 16);
    ++per_shard[i];
  }
  for (int n : per_shard) {
    CHECK(n > 800);
    CHECK(n < 1200);
  }
}

namespace {
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
struct ttl_tag {};
}  // namespace

TEST_CASE("sharded_cache: heterogeneous lookup, ttl and listener are forwarded", "[sharded]") {
  using clock = surge_test::manual_clock<ttl_tag>;
  clock::reset();
  std::atomic<int> evicted{0};
  using inner = surge::lru_cache<std::string, int, string_hash, std::equal_to<>, clock>;
  surge::sharded_cache<inner, 4> c(8, {.ttl = 5s, .on_evict = [&](std::string&&, int&&) { ++evicted; }});
  c.put("a", 1);
  c.put("b", 2);
  CHECK(c.get(std::string_view("a")) == std::optional<int>(1));
  CHECK(c.contains("b"));
  CHECK(c.shard_index(std::string("a")) == c.shard_index(std::string_view("a")));
  clock::advance(5s);
  CHECK(!c.contains("a"));
  CHECK(c.purge_expired() == 2);
  CHECK(evicted == 2);
  CHECK(c.empty());
  CHECK(!c.erase("a"));
}

TEMPLATE_TEST_CASE("sharded_cache stress: threads mixing get, put and erase, every policy", "[sharded][stress]",
                   (surge::lru_cache<int, std::uint64_t>), (surge::lfu_cache<int, std::uint64_t>),
                   (surge::sieve_cache<int, std::uint64_t>), (surge::s3fifo_cache<int, std::uint64_t>),
                   (surge::wtinylfu_cache<int, std::uint64_t>), (surge::cache<int, std::uint64_t>)) {
  constexpr int threads = 4;
  constexpr int ops = 40'000;
  constexpr int universe = 3000;
  std::atomic<std::uint64_t> evicted{0};
  // 128 entries over 8 shards: constant eviction traffic.
  surge::sharded_cache<TestType, 8> c(128, {.on_evict = [&](int&& k, std::uint64_t&& v) {
                                        if (v % universe != static_cast<std::uint64_t>(k))
                                          std::abort();  // a value always matches its key
                                        evicted.fetch_add(1, std::memory_order_relaxed);
                                      }});
  std::atomic<std::uint64_t> inserted{0}, erased{0}, hits{0}, misses{0}, bad{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 1));
      std::uint64_t my_inserted = 0, my_erased = 0, my_hits = 0, my_misses = 0, my_bad = 0;
      for (int i = 0; i < ops; ++i) {
        const int k = static_cast<int>(rng() % universe);
        const std::uint64_t v = static_cast<std::uint64_t>(i) * universe + static_cast<std::uint64_t>(k);
        switch (rng() % 8) {
          case 0:
          case 1:
          case 2: {
            const auto got = c.get(k);
            if (got) {
              ++my_hits;
              if (*got % universe != static_cast<std::uint64_t>(k)) ++my_bad;
            } else {
              ++my_misses;
            }
            break;
          }
          case 3:
          case 4:
            if (c.put(k, v)) ++my_inserted;
            break;
          case 5:
            if (c.erase(k)) ++my_erased;
            break;
          case 6: {
            bool made = false;
            const auto got = c.get_or_insert_with(k, [&] {
              made = true;
              return v;
            });
            if (got % universe != static_cast<std::uint64_t>(k)) ++my_bad;
            if (made) {
              ++my_inserted;
              ++my_misses;
            } else {
              ++my_hits;
            }
            break;
          }
          default: {  // no stats; another thread may erase between the two calls
            const bool had = c.contains(k);
            const auto peeked = c.peek(k);
            if (had && peeked && *peeked % universe != static_cast<std::uint64_t>(k)) ++my_bad;
            break;
          }
        }
      }
      inserted += my_inserted;
      erased += my_erased;
      hits += my_hits;
      misses += my_misses;
      bad += my_bad;
    });
  }
  for (auto& th : pool) th.join();
  CHECK(bad == 0);
  const auto s = c.stats();
  CHECK(s.insertions == inserted);
  CHECK(s.hits == hits);
  CHECK(s.misses == misses);
  CHECK(s.evictions == evicted);
  CHECK(inserted - erased - evicted == c.size());
  CHECK(c.size() <= 128);
  std::uint64_t present = 0;
  for (int k = 0; k < universe; ++k) present += c.contains(k) ? 1 : 0;
  CHECK(present == c.size());
}

// ---- get_or_load: single flight ---------------------------------------------

namespace {
/// Spins (yielding) until pred() or 20 s pass; false on timeout, so a broken
/// single flight fails the test instead of hanging it.
template <class Pred>
bool spin_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}
}  // namespace

TEST_CASE("get_or_load: 8 threads missing one key run the loader once", "[sharded][get_or_load]") {
  constexpr int threads = 8;
  surge::sharded_cache<surge::lru_cache<int, std::string>, 4> c(64);
  std::atomic<int> loads{0};
  std::atomic<bool> timed_out{false};
  std::vector<std::string> got(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      got[t] = c.get_or_load(7, [&] {
        ++loads;
        // hold the load until every thread has missed (each miss is counted
        // before its caller waits), so all of them overlap this one run
        if (!spin_until([&] { return c.stats().misses == threads; })) timed_out = true;
        return std::string("seven");
      });
    });
  }
  for (auto& th : pool) th.join();
  CHECK(!timed_out);
  CHECK(loads == 1);
  for (const auto& v : got) CHECK(v == "seven");
  const auto s = c.stats();
  CHECK(s.misses == threads);
  CHECK(s.insertions == 1);
  CHECK(c.get(7) == std::optional<std::string>("seven"));
  CHECK(c.get_or_load(7, [&] { return std::string("again"); }) == "seven");  // a hit
  CHECK(loads == 1);
}

TEST_CASE("get_or_load: a throwing loader caches nothing and every waiter sees its exception",
          "[sharded][get_or_load]") {
  constexpr int threads = 8;
  surge::sharded_cache<surge::lru_cache<int, int>, 2> c(16);
  std::atomic<int> loads{0}, caught{0};
  std::atomic<bool> timed_out{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      try {
        (void)c.get_or_load(1, [&]() -> int {
          ++loads;
          if (!spin_until([&] { return c.stats().misses == threads; })) timed_out = true;
          throw std::runtime_error("backend down");
        });
      } catch (const std::runtime_error& e) {
        if (std::string_view(e.what()) == "backend down") ++caught;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(!timed_out);
  CHECK(loads == 1);
  CHECK(caught == threads);
  CHECK(!c.contains(1));
  CHECK(c.stats().insertions == 0);
  // the next miss loads again
  CHECK(c.get_or_load(1, [&] { return ++loads; }) == 2);
  CHECK(c.get(1) == std::optional<int>(2));
}

TEST_CASE("get_or_load: many keys at once, each loaded exactly once", "[sharded][get_or_load]") {
  constexpr int threads = 4;
  constexpr int keys = 2000;
  surge::sharded_cache<surge::lru_cache<int, std::uint64_t>, 8> c(8 * keys);  // each shard holds all: no eviction
  std::vector<std::atomic<int>> loads(keys);
  std::atomic<std::uint64_t> bad{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 100));
      std::vector<int> order(keys);
      for (int k = 0; k < keys; ++k) order[k] = k;
      std::shuffle(order.begin(), order.end(), rng);
      for (int k : order) {
        const std::uint64_t v = c.get_or_load(k, [&] {
          loads[k].fetch_add(1, std::memory_order_relaxed);
          return static_cast<std::uint64_t>(k) * 3 + 1;
        });
        if (v != static_cast<std::uint64_t>(k) * 3 + 1) ++bad;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(bad == 0);
  int not_once = 0;
  for (auto& n : loads) not_once += n.load() == 1 ? 0 : 1;
  CHECK(not_once == 0);
  const auto s = c.stats();
  CHECK(s.insertions == keys);
  CHECK(s.hits + s.misses == std::uint64_t{threads} * keys);
  CHECK(c.size() == keys);
}

TEST_CASE("get_or_load: a loader may use the cache for other keys, even in its own shard", "[sharded][get_or_load]") {
  surge::sharded_cache<surge::lru_cache<int, int>, 1> c(8);  // one shard: every key shares its lock
  c.put(10, 100);
  const int v = c.get_or_load(1, [&] {
    // reads, writes and nested loads while key 1 is loading
    const int a = c.get(10).value_or(0);
    c.put(11, 5);
    const int b = c.get_or_load(2, [&] { return c.get_or_load(3, [] { return 3; }) * 10; });
    return a + b + c.get(11).value_or(0);
  });
  CHECK(v == 135);
  CHECK(c.get(1) == std::optional<int>(135));
  CHECK(c.get(2) == std::optional<int>(30));
  CHECK(c.get(3) == std::optional<int>(3));
  // asking for the key being loaded would wait for itself: refused
  CHECK_THROWS_AS(c.get_or_load(4, [&] { return c.get_or_load(4, [] { return 4; }); }), std::logic_error);
  CHECK(!c.contains(4));
  CHECK(c.get_or_load(4, [] { return 44; }) == 44);
}

TEST_CASE("get_or_load: a write of the key while it loads wins over the loaded value", "[sharded][get_or_load]") {
  // (the writes come from the loader itself here, so the order is fixed;
  // from another thread they take the same shard lock)
  surge::sharded_cache<surge::lru_cache<int, int>, 4> c(16);
  CHECK(c.get_or_load(1, [&] {
    c.put(1, 200);  // a newer value written meanwhile
    return 100;
  }) == 100);
  CHECK(c.get(1) == std::optional<int>(200));  // before: 100, the stale load
  c.put(2, 1);
  c.erase(2);
  CHECK(c.get_or_load(2, [&] {
    c.put(2, 7);
    c.erase(2);  // an invalidation meanwhile
    return 100;
  }) == 100);
  CHECK_FALSE(c.contains(2));  // before: the load brought it back
  CHECK(c.get_or_load(3, [&] {
    c.clear();
    return 300;
  }) == 300);
  CHECK_FALSE(c.contains(3));
  CHECK(c.get_or_load(4, [&] {
    (void)c.get_or_insert_with(4, [] { return 40; });
    return 400;
  }) == 400);
  CHECK(c.get(4) == std::optional<int>(40));
  // writes of other keys do not count, and the next load stores again
  CHECK(c.get_or_load(5, [&] {
    c.put(6, 6);
    c.erase(7);
    return 500;
  }) == 500);
  CHECK(c.get(5) == std::optional<int>(500));
  c.erase(1);
  CHECK(c.get_or_load(1, [] { return 101; }) == 101);
  CHECK(c.get(1) == std::optional<int>(101));
}

namespace {
/// An int whose copies and moves throw while `fragile::armed` is set.
struct fragile {
  static inline bool armed = false;
  int v = 0;
  explicit fragile(int x) noexcept : v(x) {}
  fragile(const fragile& o) : v(o.v) { check(); }
  fragile(fragile&& o) : v(o.v) { check(); }
  fragile& operator=(const fragile& o) {
    check();
    v = o.v;
    return *this;
  }
  fragile& operator=(fragile&& o) {
    check();
    v = o.v;
    return *this;
  }
  ~fragile() = default;
  static void check() {
    if (armed) throw std::runtime_error("fragile copy");
  }
};
}  // namespace

TEST_CASE("get_or_load: a write of the key that throws before storing does not drop the loaded value",
          "[sharded][get_or_load]") {
  // the write marked the load overwritten before it ran, so a put or
  // get_or_insert_with that stored nothing still kept the loaded value out
  // (the next call loaded again)
  surge::sharded_cache<surge::lru_cache<int, fragile>, 1> c(2);
  auto load_with = [&](int key, auto&& failed_write) {
    return c
        .get_or_load(key,
                     [&] {
                       fragile::armed = true;
                       CHECK_THROWS_AS(failed_write(), std::runtime_error);
                       fragile::armed = false;
                       return fragile(key * 100);
                     })
        .v;
  };
  CHECK(load_with(1, [&] { c.put(1, fragile(7)); }) == 100);  // moving the value in throws
  CHECK(c.peek(1).value_or(fragile(0)).v == 100);             // before: nothing stored
  CHECK(load_with(2, [&] { (void)c.get_or_insert_with(2, []() -> fragile { throw std::runtime_error("make"); }); }) ==
        200);
  CHECK(c.peek(2).value_or(fragile(0)).v == 200);
  CHECK(c.stats().insertions == 2);
  // a write that stored before it threw (here the copy it returns) still wins
  CHECK(load_with(3, [&] { (void)c.get_or_insert_with(3, [] { return fragile(30); }); }) == 300);
  CHECK(c.peek(3).value_or(fragile(0)).v == 30);
}

TEST_CASE("get_or_load: a loader on another thread may load the key's shard neighbours", "[sharded][get_or_load]") {
  // Two threads, one shard: each loader waits for the other's key to be
  // loading, then loads a third key. Deadlocks if a loader held the lock.
  surge::sharded_cache<surge::lru_cache<int, int>, 1> c(8);
  std::atomic<int> started{0};
  std::atomic<bool> timed_out{false};
  auto work = [&](int key) {
    return c.get_or_load(key, [&, key] {
      ++started;
      if (!spin_until([&] { return started == 2; })) timed_out = true;
      return c.get_or_load(key + 100, [key] { return key; }) + 1;
    });
  };
  int r1 = 0, r2 = 0;
  std::thread t1([&] { r1 = work(1); });
  std::thread t2([&] { r2 = work(2); });
  t1.join();
  t2.join();
  CHECK(!timed_out);
  CHECK(r1 == 2);
  CHECK(r2 == 3);
  CHECK(c.size() == 4);
}

TEST_CASE("get_or_load: if storing the value throws, waiters get it and the loader's caller the error",
          "[sharded][get_or_load]") {
  std::atomic<bool> throw_on_evict{false};
  surge::sharded_cache<surge::lru_cache<int, int>, 1> c(1, {.on_evict = [&](int&&, int&&) {
                                                          if (throw_on_evict) throw std::runtime_error("listener");
                                                        }});
  c.put(0, 0);
  throw_on_evict = true;
  CHECK_THROWS_AS(c.get_or_load(1, [] { return 1; }), std::runtime_error);  // evicting 0 threw
  CHECK(c.get(1) == std::optional<int>(1));                                 // but 1 is in
  throw_on_evict = false;
  CHECK(c.get_or_load(2, [] { return 2; }) == 2);
}
