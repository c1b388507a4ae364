// lru_cache against a reference model, plus the behaviour lru_cache and
// lfu_cache share (one engine): listener, TTL, stats, heterogeneous lookup,
// move-only values and exception safety, run for every cache policy.
#include <surge/cache/lfu.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/s3fifo.hpp>
#include <surge/cache/sieve.hpp>
#include <surge/cache/wtinylfu.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <ratio>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "failing_new.hpp"
#include "reference_model.hpp"
#include "still_clock.hpp"
#include "surge_test.hpp"
#include "throwing_clock.hpp"

using namespace std::chrono_literals;

TEST_CASE("lru_cache matches the reference LRU model on random operations", "[lru]") {
  cache_model::run_all_configurations<surge::lru_cache<int, int>>(cache_model::policy::lru);
}

TEST_CASE("lru_cache evicts the least recently used entry", "[lru]") {
  std::vector<int> evicted;
  surge::lru_cache<int, int> c(3, {.on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});
  CHECK(c.put(1, 10));
  CHECK(c.put(2, 20));
  CHECK(c.put(3, 30));
  REQUIRE(c.get(1) != nullptr);  // order now 2 3 1
  CHECK(c.peek(2) != nullptr);   // peek does not touch
  CHECK(c.contains(2));
  CHECK(!c.put(3, 31));  // order now 2 1 3
  CHECK(c.put(4, 40));   // evicts 2
  CHECK(evicted == std::vector<int>{2});
  CHECK(c.put(5, 50));  // evicts 1
  CHECK(evicted == std::vector<int>{2, 1});
  CHECK(*c.peek(3) == 31);
  CHECK(c.size() == 3);
  CHECK(c.capacity() == 3);
  // The footprint is fixed at construction: capacity + 1 nodes (20 bytes for
  // int -> int: key, value, two links, hash) and 8 index slots of 8 bytes.
  CHECK(c.memory_bytes() == 4 * 20 + 8 * 8);
  CHECK(surge::lru_cache<std::uint64_t, std::uint64_t>(1000).memory_bytes() == 1001 * 32 + 2048 * 8);
}

// ---- shared behaviour, run for both caches ---------------------------------

struct lru_kind {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>, class C = std::chrono::steady_clock>
  using cache = surge::lru_cache<K, V, H, E, C>;
};
struct lfu_kind {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>, class C = std::chrono::steady_clock>
  using cache = surge::lfu_cache<K, V, H, E, C>;
};
struct sieve_kind {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>, class C = std::chrono::steady_clock>
  using cache = surge::sieve_cache<K, V, H, E, C>;
};
struct s3fifo_kind {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>, class C = std::chrono::steady_clock>
  using cache = surge::s3fifo_cache<K, V, H, E, C>;
};
struct wtinylfu_kind {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>, class C = std::chrono::steady_clock>
  using cache = surge::wtinylfu_cache<K, V, H, E, C>;
};

/// A Cpp17Clock with a floating-point rep, whose durations can be NaN.
using double_clock = surge_test::still_clock<double, std::ratio<1>>;

TEMPLATE_TEST_CASE("caches reject a zero capacity and a zero, negative or NaN ttl", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  using cache = typename TestType::template cache<int, int>;
  CHECK_THROWS_AS(cache(0), std::invalid_argument);
  CHECK_THROWS_AS(cache(1, {.ttl = -1s}), std::invalid_argument);
  // a ttl of 0 used to mean "never expire": it is refused, and the message names it
  CHECK_THROWS_AS(cache(1, {.ttl = 0s}), std::invalid_argument);
  try {
    cache c(1, {.ttl = std::chrono::nanoseconds(0)});
    FAIL("ttl 0 accepted");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string_view(e.what()).find("ttl") != std::string_view::npos);
  }
  CHECK_THROWS_AS(cache(1, {.ttl = std::chrono::nanoseconds::min()}), std::invalid_argument);
  using float_cache = typename TestType::template cache<int, int, std::hash<int>, std::equal_to<int>, double_clock>;
  surge_test::check_names([] { float_cache(1, {.ttl = double_clock::duration(std::nan(""))}); }, "ttl");
  CHECK_THROWS_AS(float_cache(1, {.ttl = double_clock::duration(-0.0)}), std::invalid_argument);
  CHECK(float_cache(1, {.ttl = double_clock::duration(0.5)}).ttl() == double_clock::duration(0.5));
  CHECK(cache(1, {.ttl = 1ns}).ttl() == 1ns);
  CHECK(cache(1).ttl() == std::nullopt);  // no ttl: the absence of one
  CHECK_THROWS_AS(cache(cache::max_capacity + 1), std::invalid_argument);
  cache c(1);
  CHECK(c.empty());
  CHECK(c.capacity() == 1);
}

TEMPLATE_TEST_CASE("caches refuse a bad ttl before allocating", "[lru][lfu]", lru_kind, lfu_kind, sieve_kind,
                   s3fifo_kind, wtinylfu_kind) {
  // the index and the policy were allocated first: with a large capacity, a
  // bad ttl gave std::bad_alloc (or the memory's worth of page faults)
  // instead of std::invalid_argument. A refused ttl now allocates what a
  // refused capacity does: the exception's message.
  using cache = typename TestType::template cache<int, int>;
  const auto allocations_refusing = [](auto construct) {
    const long before = surge_test::counted_allocations();
    surge_test::count_allocations(true);
    try {
      construct();
    } catch (const std::invalid_argument&) {
    }
    surge_test::count_allocations(false);
    return surge_test::counted_allocations() - before;
  };
  const long capacity_refused = allocations_refusing([] { cache c(0); });
  CHECK(allocations_refusing([] { cache c(100000, {.ttl = 0s}); }) == capacity_refused);
}

TEMPLATE_TEST_CASE("stats count hits, misses, insertions and evictions", "[lru][lfu]", lru_kind, lfu_kind, sieve_kind,
                   s3fifo_kind, wtinylfu_kind) {
  typename TestType::template cache<int, int> c(2);
  CHECK(c.stats() == surge::cache_stats{});
  CHECK(c.stats().hit_ratio() == 0.0);
  c.put(1, 1);
  c.put(1, 2);  // overwrite: not an insertion
  CHECK(c.get(1) != nullptr);
  CHECK(c.get(2) == nullptr);
  CHECK(c.get_or_insert_with(2, [] { return 5; }) == 5);
  CHECK(c.get_or_insert_with(2, [] { return 6; }) == 5);
  (void)c.peek(7);
  (void)c.contains(7);
  c.put(3, 3);  // evicts one
  CHECK(c.erase(3));
  c.clear();
  auto s = c.stats();
  CHECK(s.hits == 2);
  CHECK(s.misses == 2);
  CHECK(s.insertions == 3);
  CHECK(s.evictions == 1);
  CHECK(s.hit_ratio() == 0.5);
  CHECK(c.empty());
  c.reset_stats();
  CHECK(c.stats() == surge::cache_stats{});
}

TEMPLATE_TEST_CASE("the listener sees evictions, never erase, clear or overwrite", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  std::vector<std::pair<int, std::string>> seen;
  typename TestType::template cache<int, std::string> c(
      2, {.on_evict = [&](int&& k, std::string&& v) { seen.emplace_back(k, std::move(v)); }});
  c.put(1, "one");
  c.put(2, "two");
  c.put(2, "deux");  // overwrite
  CHECK(c.erase(1));
  c.put(3, "three");
  CHECK(seen.empty());
  c.put(4, "four");  // evicts one: 2 for LRU (least recent), 3 for LFU (count 1 < 2)
  REQUIRE(seen.size() == 1);
  c.clear();
  c.put(5, "five");
  CHECK(seen.size() == 1);
  c.set_eviction_listener({});
  c.put(6, "six");
  c.put(7, "seven");
  CHECK(seen.size() == 1);
  CHECK(c.stats().evictions == 2);
}

TEMPLATE_TEST_CASE("a throwing listener leaves the cache valid", "[lru][lfu]", lru_kind, lfu_kind, sieve_kind,
                   s3fifo_kind, wtinylfu_kind) {
  typename TestType::template cache<int, std::string> c(
      1, {.on_evict = [](int&&, std::string&&) { throw std::runtime_error("listener"); }});
  c.put(1, "one");
  CHECK_THROWS_AS(c.put(2, "two"), std::runtime_error);
  CHECK(c.size() == 1);
  CHECK(c.contains(2));  // the new entry went in; the victim is gone
  CHECK(!c.contains(1));
  c.put(2, "deux");
  CHECK(*c.peek(2) == "deux");
}

namespace {
template <int N>
struct clock_tag {};
}  // namespace

TEMPLATE_TEST_CASE("ttl: expire after write with an injected clock", "[lru][lfu]", lru_kind, lfu_kind, sieve_kind,
                   s3fifo_kind, wtinylfu_kind) {
  using clock = surge_test::manual_clock<std::pair<TestType, clock_tag<1>>>;
  clock::reset();
  std::vector<int> expired;
  typename TestType::template cache<int, int, std::hash<int>, std::equal_to<int>, clock> c(
      4, {.ttl = 10s, .on_evict = [&](int&& k, int&&) { expired.push_back(k); }});
  CHECK(c.ttl() == 10s);
  c.put(1, 1);
  clock::advance(5s);
  c.put(2, 2);
  CHECK(c.get(1) != nullptr);  // a read does not extend the life
  clock::advance(5s);          // 1 reaches its ttl: expired
  CHECK(!c.contains(1));
  CHECK(c.peek(1) == nullptr);
  CHECK(c.size() == 2);  // still held: const calls do not remove
  CHECK(c.get(1) == nullptr);
  CHECK(expired == std::vector<int>{1});
  CHECK(c.size() == 1);
  CHECK(c.stats().misses == 1);
  CHECK(c.stats().evictions == 1);

  c.put(2, 22);  // overwrite restarts 2's life
  clock::advance(9s);
  CHECK(c.contains(2));
  c.put(3, 3);
  c.put(4, 4);
  clock::advance(1s);  // 2 expires, 3 and 4 have 9s left
  CHECK(!c.erase(2));  // removed as an expiry, erase says absent
  CHECK(expired == std::vector<int>{1, 2});
  clock::advance(9s);   // 3 and 4 expire
  CHECK(c.put(3, 33));  // expired counts as absent: new again
  CHECK(expired == std::vector<int>{1, 2, 3});
  CHECK(c.get_or_insert_with(5, [] { return 5; }) == 5);
  CHECK(c.size() == 3);
  CHECK(c.purge_expired() == 1);  // 4
  CHECK(expired == std::vector<int>{1, 2, 3, 4});
  CHECK(c.size() == 2);
  clock::advance(10s);
  CHECK(c.purge_expired() == 2);
  CHECK(c.empty());
  CHECK(c.stats().evictions == 6);
}

TEMPLATE_TEST_CASE("purge_expired removes exactly the expired entries of a large cache", "[lru][lfu]", lru_kind,
                   lfu_kind, sieve_kind, s3fifo_kind, wtinylfu_kind) {
  using clock = surge_test::manual_clock<std::pair<TestType, clock_tag<2>>>;
  clock::reset();
  typename TestType::template cache<int, int, std::hash<int>, std::equal_to<int>, clock> c(1000, {.ttl = 100s});
  for (int i = 0; i < 1000; ++i) {
    c.put(i, i);
    clock::advance(1s);
  }
  // now = 1000s; entry i was written at i s and expires at i + 100 s
  clock::set(1500s);
  CHECK(c.purge_expired() == 1000);
  CHECK(c.empty());
  for (int i = 0; i < 1000; ++i) c.put(i, i);
  clock::advance(50s);
  for (int i = 0; i < 1000; i += 2) c.put(i, -i);  // even keys refreshed
  clock::advance(50s);
  CHECK(c.purge_expired() == 500);
  CHECK(c.size() == 500);
  for (int i = 0; i < 1000; ++i) CHECK(c.contains(i) == (i % 2 == 0));
  c.purge_expired();
  CHECK(c.size() == 500);
}

TEMPLATE_TEST_CASE("a ttl of duration::max() saturates instead of overflowing", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  using clock = surge_test::manual_clock<std::pair<TestType, clock_tag<4>>>;
  clock::set(1000h);
  typename TestType::template cache<int, int, std::hash<int>, std::equal_to<int>, clock> c(
      2, {.ttl = clock::duration::max()});
  c.put(1, 1);
  clock::advance(100000h);
  CHECK(c.contains(1));
  CHECK(c.purge_expired() == 0);
}

TEMPLATE_TEST_CASE("no ttl: the clock is never consulted and nothing expires", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  using clock = surge_test::manual_clock<std::pair<TestType, clock_tag<3>>>;
  clock::reset();
  typename TestType::template cache<int, int, std::hash<int>, std::equal_to<int>, clock> c(4);
  c.put(1, 1);
  clock::advance(1000000s);
  CHECK(c.contains(1));
  CHECK(c.purge_expired() == 0);
}

TEMPLATE_TEST_CASE("a throwing listener on an expired entry does not lose the new value", "[lru][lfu]", lru_kind,
                   lfu_kind) {
  using clock = surge_test::manual_clock<std::pair<TestType, clock_tag<5>>>;
  clock::reset();
  std::vector<int> told;
  typename TestType::template cache<int, std::string, std::hash<int>, std::equal_to<int>, clock> c(
      2, {.ttl = 10s, .on_evict = [&](int&& k, std::string&&) {
            told.push_back(k);
            throw std::runtime_error("listener");
          }});
  c.put(1, "old");
  c.put(2, "two");
  clock::advance(10s);  // both expired
  // put of an expired key: the listener runs for the old entry and throws;
  // the new entry is already in (as documented)
  CHECK_THROWS_AS(c.put(1, "new"), std::runtime_error);
  CHECK(told == std::vector<int>{1});
  REQUIRE(c.peek(1) != nullptr);
  CHECK(*c.peek(1) == "new");
  CHECK(c.size() == 2);  // the new 1 and the expired 2
  // the same for get_or_insert_with
  CHECK_THROWS_AS(c.get_or_insert_with(2, [] { return std::string("made"); }), std::runtime_error);
  CHECK(told == std::vector<int>{1, 2});
  REQUIRE(c.peek(2) != nullptr);
  CHECK(*c.peek(2) == "made");
  const auto s = c.stats();
  CHECK(s.insertions == 4);
  CHECK(s.evictions == 2);
  CHECK(c.size() == 2);
  // a make that throws on an expired key changes nothing: the expired entry
  // stays (and no listener runs)
  clock::advance(10s);
  CHECK_THROWS_AS(c.get_or_insert_with(2, []() -> std::string { throw std::logic_error("make"); }), std::logic_error);
  CHECK(told == std::vector<int>{1, 2});
  CHECK(c.size() == 2);
  c.set_eviction_listener({});
  CHECK(c.purge_expired() == 2);
}

namespace {
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct counted_string : std::string {
  static inline int constructed = 0;
  counted_string(const char* s) : std::string(s) { ++constructed; }
  counted_string(std::string_view s) : std::string(s) { ++constructed; }
  counted_string(const counted_string& o) : std::string(o) { ++constructed; }
  counted_string(counted_string&&) noexcept = default;
  counted_string& operator=(const counted_string&) = default;
  counted_string& operator=(counted_string&&) noexcept = default;
};
}  // namespace

TEMPLATE_TEST_CASE("heterogeneous lookup with transparent hash and equality", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  typename TestType::template cache<std::string, int, string_hash, std::equal_to<>> c(4);
  c.put("alpha", 1);
  c.put(std::string("beta"), 2);
  const std::string_view sv = "alpha";
  REQUIRE(c.get(sv) != nullptr);
  CHECK(*c.get(sv) == 1);
  CHECK(*c.get("beta") == 2);
  CHECK(c.contains(std::string_view("beta")));
  CHECK(*c.peek("alpha") == 1);
  CHECK(c.get_or_insert_with(std::string_view("gamma"), [] { return 3; }) == 3);
  CHECK(c.contains("gamma"));
  CHECK(c.erase(std::string_view("alpha")));
  CHECK(!c.contains("alpha"));

  // No temporary key is made for a lookup.
  using hetero = typename TestType::template cache<counted_string, int, string_hash, std::equal_to<>>;
  hetero h(4);
  h.put(counted_string("key"), 1);
  const int before = counted_string::constructed;
  CHECK(h.get(std::string_view("key")) != nullptr);
  CHECK(h.get("nope") == nullptr);
  CHECK(h.contains(std::string_view("key")));
  CHECK(h.erase("nope") == false);
  CHECK(h.get_or_insert_with(std::string_view("key"), [] { return 9; }) == 1);
  CHECK(counted_string::constructed == before);
  CHECK(h.get_or_insert_with(std::string_view("new"), [] { return 9; }) == 9);
  CHECK(counted_string::constructed == before + 1);
}

TEMPLATE_TEST_CASE("move-only values work in every non-copying operation", "[lru][lfu]", lru_kind, lfu_kind, sieve_kind,
                   s3fifo_kind, wtinylfu_kind) {
  std::vector<int> evicted;
  typename TestType::template cache<int, std::unique_ptr<int>> c(
      2, {.on_evict = [&](int&&, std::unique_ptr<int>&& v) { evicted.push_back(*v); }});
  CHECK(c.put(1, std::make_unique<int>(1)));
  CHECK(!c.put(1, std::make_unique<int>(11)));
  CHECK(**c.get(1) == 11);
  auto& made = c.get_or_insert_with(2, [] { return std::make_unique<int>(2); });
  CHECK(*made == 2);
  CHECK(**c.peek(2) == 2);
  CHECK(c.put(3, std::make_unique<int>(3)));
  CHECK(evicted.size() == 1);
  CHECK(c.erase(3));
  c.clear();
  CHECK(c.empty());
}

TEMPLATE_TEST_CASE("immovable values work through get_or_insert_with", "[lru][lfu]", lru_kind, lfu_kind, sieve_kind,
                   s3fifo_kind, wtinylfu_kind) {
  int evicted = 0;
  typename TestType::template cache<int, std::atomic<int>> c(
      2, {.on_evict = [&](int&&, std::atomic<int>&& v) { evicted += v.load(); }});
  for (int k = 0; k < 4; ++k) c.get_or_insert_with(k, [k] { return std::atomic<int>(k + 1); }).fetch_add(10);
  int gone = 0, kept = -1;  // which two the policy evicted is its business; their values reached the listener
  for (int k = 0; k < 4; ++k) {
    if (!c.contains(k)) {
      gone += k + 11;
    } else if (k != 3) {
      kept = k;
    }
  }
  CHECK(evicted == gone);
  CHECK(c.get(3)->load() == 14);  // the newest entry is present under every policy
  REQUIRE(kept >= 0);
  CHECK(c.erase(kept));
  CHECK(c.size() == 1);
}

/// Every key the cache holds maps to the value `expected` gives it, there
/// are at most capacity of them, and all capacity + 1 nodes are usable again
/// (filling the cache with fresh keys evicts only once it is full).
template <class Cache, class Expected>
void check_sound(Cache& c, Expected expected) {
  std::size_t held = 0;
  c.for_each([&](const int& k, const long& v) {
    CHECK(v == expected(k));
    ++held;
  });
  CHECK(held == c.size());
  CHECK(c.size() <= c.capacity());
  c.clear();
  const auto evictions = c.stats().evictions;
  for (std::size_t k = 0; k < c.capacity(); ++k) c.put(1000 + static_cast<int>(k), 0);
  CHECK(c.size() == c.capacity());
  CHECK(c.stats().evictions == evictions);
  c.put(-1, 0);
  CHECK(c.size() == c.capacity());
  CHECK(c.stats().evictions == evictions + 1);
}

TEMPLATE_TEST_CASE("get_or_insert_with: make may call the same cache (memoised recursion)", "[lru][lfu]", lru_kind,
                   lfu_kind, sieve_kind, s3fifo_kind, wtinylfu_kind) {
  using cache = typename TestType::template cache<int, long>;
  const auto exact = [](int n) {
    long a = 0, b = 1;
    for (int i = 0; i < n; ++i) b = std::exchange(a, b) + b;
    return a;
  };
  for (const std::size_t capacity : {std::size_t{100}, std::size_t{40}, std::size_t{31}}) {
    cache memo(capacity);
    std::function<long(int)> fib = [&](int n) -> long {
      return n < 2 ? n : memo.get_or_insert_with(n, [&, n] { return fib(n - 1) + fib(n - 2); });
    };
    CHECK(fib(30) == exact(30));  // 29 calls nested at the deepest: fewer than capacity + 1
    CHECK(fib(40) == exact(40));
    check_sound(memo, exact);
  }
  // Nested deeper than capacity + 1: std::length_error, and the cache stays sound.
  cache small(4);
  std::function<long(int)> fib = [&](int n) -> long {
    return n < 2 ? n : small.get_or_insert_with(n, [&, n] { return fib(n - 1) + fib(n - 2); });
  };
  CHECK_THROWS_AS(fib(30), std::length_error);
  check_sound(small, exact);
  CHECK(fib(5) == exact(5));  // 4 nested calls: within capacity + 1
}

TEMPLATE_TEST_CASE("get_or_insert_with: an entry make inserts for the same key wins", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  typename TestType::template cache<int, long> c(2);
  c.put(5, 5);
  c.put(6, 6);
  CHECK(c.get_or_insert_with(1, [&] {
    c.put(1, 10);
    return 20L;
  }) == 10);
  CHECK(*c.peek(1) == 10);
  CHECK(c.size() == 2);
  // make clears the cache: the outer entry is still built and linked
  CHECK(c.get_or_insert_with(2, [&] {
    c.clear();
    return 2L;
  }) == 2);
  CHECK(c.size() == 1);
  check_sound(c, [](int k) { return k == 1 ? 10L : static_cast<long>(k); });
}

TEMPLATE_TEST_CASE("get_or_insert_with: make changing what the key argument refers to", "[lru][lfu]", lru_kind,
                   lfu_kind, sieve_kind, s3fifo_kind, wtinylfu_kind) {
  // the key was looked up again by the argument after make, which make may
  // have changed: when make had inserted the key, a second entry for it was
  // linked (two entries for one key, the documented "make's entry wins" lost)
  typename TestType::template cache<int, int> c(4);
  int key = 1;
  CHECK(c.get_or_insert_with(key, [&] {
    c.put(1, 10);
    key = 2;
    return 20;
  }) == 10);
  CHECK(c.size() == 1);
  CHECK(*c.peek(1) == 10);
  CHECK(!c.contains(2));
  // the same with a key read from this cache's own values, whose entry make
  // erases (its node is reused for make's entry)
  c.clear();
  c.put(7, 30);
  const int& from_cache = *c.get(7);
  CHECK(c.get_or_insert_with(from_cache, [&] {
    c.erase(7);
    c.put(30, 40);
    return 50;
  }) == 40);
  CHECK(c.size() == 1);
  CHECK(*c.peek(30) == 40);
  std::size_t entries = 0;
  c.for_each([&](const int&, const int&) { ++entries; });
  CHECK(entries == 1);
}

TEMPLATE_TEST_CASE("get_or_insert_with: make may remove the key's expired entry", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  using clock = surge_test::manual_clock<std::pair<TestType, clock_tag<6>>>;
  clock::reset();
  std::vector<int> gone;
  typename TestType::template cache<int, long, std::hash<int>, std::equal_to<int>, clock> c(
      2, {.ttl = 10s, .on_evict = [&](int&& k, long&&) { gone.push_back(k); }});
  c.put(1, 1);
  c.put(2, 2);
  clock::advance(10s);  // both expired
  // make erases key 1's expired entry (an expiry) and fills the cache; the
  // outer insertion then evicts a victim instead of replacing that entry
  CHECK(c.get_or_insert_with(1, [&] {
    CHECK(!c.erase(1));
    c.put(3, 3);
    return 11L;
  }) == 11);
  CHECK(*c.peek(1) == 11);
  CHECK(c.size() == 2);
  CHECK(gone.size() == 2);  // 1 (erased as expired), then 2 (evicted: expired, or the victim)
  CHECK(c.stats().evictions == 2);
}

namespace {
/// An int that knows which objects of its type are alive: copying or moving
/// from a destroyed one throws instead of reading freed memory.
struct alive_int {
  static inline std::set<const alive_int*> alive;
  int v;
  explicit alive_int(int x) : v(x) { alive.insert(this); }
  alive_int(const alive_int& o) : v(read(o)) { alive.insert(this); }
  alive_int(alive_int&& o) noexcept(false) : v(read(o)) { alive.insert(this); }
  alive_int& operator=(const alive_int& o) {
    v = read(o);
    return *this;
  }
  ~alive_int() { alive.erase(this); }
  friend bool operator==(const alive_int& a, const alive_int& b) { return read(a) == read(b); }
  static int read(const alive_int& o) {
    if (alive.count(&o) == 0) throw std::logic_error("alive_int: read after destruction");
    return o.v;
  }
};
struct alive_int_hash {
  std::size_t operator()(const alive_int& k) const { return std::hash<int>{}(alive_int::read(k)); }
};
}  // namespace

TEMPLATE_TEST_CASE("get_or_insert_with: a nested insertion whose key refers to its own victim", "[lru][lfu]", lru_kind,
                   lfu_kind, sieve_kind, s3fifo_kind, wtinylfu_kind) {
  // While make holds the spare node, a nested insertion evicts its victim
  // before building its entry; its key argument may be a reference get or
  // peek returned into that very victim (valid when the call began). The key
  // was copied only after the eviction had destroyed it.
  std::vector<int> gone;
  typename TestType::template cache<alive_int, alive_int, alive_int_hash> c(
      1, {.on_evict = [&](alive_int&& k, alive_int&&) { gone.push_back(k.v); }});
  c.put(alive_int(1), alive_int(2));  // capacity 1: entry 1 is every policy's victim
  CHECK(c.get_or_insert_with(alive_int(3), [&] {
           c.put(*c.peek(alive_int(1)), alive_int(20));  // the key is entry 1's value
           return alive_int(30);
         }).v == 30);
  CHECK(gone == std::vector<int>{1, 2});
  CHECK(c.contains(alive_int(3)));
  // the same through a nested get_or_insert_with
  c.clear();
  gone.clear();
  c.put(alive_int(1), alive_int(2));
  CHECK(c.get_or_insert_with(alive_int(3), [&] {
           CHECK(c.get_or_insert_with(*c.get(alive_int(1)), [] { return alive_int(20); }).v == 20);
           return alive_int(30);
         }).v == 30);
  CHECK(gone == std::vector<int>{1, 2});
  CHECK(c.contains(alive_int(3)));
  c.clear();
  CHECK(alive_int::alive.empty());
}

TEMPLATE_TEST_CASE("get_or_insert_with: a nested insertion whose listener throws inserts nothing", "[lru][lfu]",
                   lru_kind, lfu_kind, sieve_kind, s3fifo_kind, wtinylfu_kind) {
  // unlike a call at the top level, which links the new entry before the
  // listener runs, a nested one evicts first: the listener's exception
  // leaves its entry out
  typename TestType::template cache<int, int> c(1, {.on_evict = [](int&& k, int&&) {
                                                  if (k == 1) throw std::runtime_error("listener");
                                                }});
  c.put(1, 1);
  CHECK(c.get_or_insert_with(3, [&] {
    CHECK_THROWS_AS(c.put(2, 2), std::runtime_error);
    CHECK(c.empty());
    return 3;
  }) == 3);
  CHECK(c.size() == 1);
  CHECK(*c.peek(3) == 3);
}

// ---- exception safety ------------------------------------------------------

namespace {
/// Throws from hash, equality, copy or move when the shared countdown hits 0.
struct faults {
  static inline int countdown = -1;  // < 0: never
  static inline int live = 0;
  static void maybe_throw() {
    if (countdown < 0) return;
    if (countdown-- == 0) throw std::runtime_error("injected");
  }
};

struct fragile {
  int v = 0;
  explicit fragile(int x) : v(x) { ++faults::live; }
  fragile(const fragile& o) : v(o.v) {
    faults::maybe_throw();
    ++faults::live;
  }
  fragile(fragile&& o) : v(o.v) {
    faults::maybe_throw();
    ++faults::live;
  }
  fragile& operator=(const fragile& o) {
    faults::maybe_throw();
    v = o.v;
    return *this;
  }
  fragile& operator=(fragile&& o) {
    faults::maybe_throw();
    v = o.v;
    return *this;
  }
  ~fragile() { --faults::live; }
  friend bool operator==(const fragile& a, const fragile& b) {
    faults::maybe_throw();
    return a.v == b.v;
  }
};

struct fragile_hash {
  std::size_t operator()(const fragile& f) const {
    faults::maybe_throw();
    return std::hash<int>{}(f.v % 16);  // collisions on purpose
  }
};

// The keys for_each lists, checked against size() and the capacity.
template <class Cache>
std::vector<int> listed_keys(Cache& c) {
  REQUIRE(c.size() <= c.capacity());
  std::vector<int> keys;
  c.for_each([&](const fragile& key, const fragile&) { keys.push_back(key.v); });
  REQUIRE(keys.size() == c.size());
  return keys;
}
}  // namespace

TEMPLATE_TEST_CASE("throwing hash, equality, copy and move leave the cache valid", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  using cache = typename TestType::template cache<fragile, fragile, fragile_hash>;
  std::mt19937 rng(7);
  int thrown = 0;
  {
    cache c(8);
    for (int i = 0; i < 20000; ++i) {
      faults::countdown = static_cast<int>(rng() % 6);
      const int k = static_cast<int>(rng() % 24);
      try {
        switch (rng() % 5) {
          case 0:
            c.put(fragile(k), fragile(i));
            break;
          case 1:
            (void)c.get(fragile(k));
            break;
          case 2:
            (void)c.get_or_insert_with(fragile(k), [i] { return fragile(i); });
            break;
          case 3:
            (void)c.erase(fragile(k));
            break;
          default: {
            const fragile key(k);
            c.put(key, fragile(i));
          }
        }
      } catch (const std::runtime_error&) {
        ++thrown;
      }
      faults::countdown = -1;
      // Invariants: size within capacity, every entry reachable by its key.
      const std::vector<int> keys = listed_keys(c);
      for (int key : keys) REQUIRE(c.contains(fragile(key)));
      REQUIRE(faults::live == static_cast<int>(2 * c.size()));
    }
  }
  CHECK(thrown > 1000);
  CHECK(faults::live == 0);  // nothing leaked, nothing destroyed twice
}

TEMPLATE_TEST_CASE("a failed lookup or insertion changes nothing", "[lru][lfu]", lru_kind, lfu_kind, sieve_kind,
                   s3fifo_kind, wtinylfu_kind) {
  using cache = typename TestType::template cache<fragile, fragile, fragile_hash>;
  cache c(2);
  c.put(fragile(1), fragile(1));
  c.put(fragile(2), fragile(2));
  const auto before = c.stats();
  const fragile k3(3), v3(3);
  faults::countdown = 0;  // the hash throws
  CHECK_THROWS(c.put(k3, v3));
  faults::countdown = 2;  // hash, equality vs nothing... then the key copy throws
  CHECK_THROWS(c.put(k3, v3));
  faults::countdown = -1;
  CHECK(c.size() == 2);
  CHECK(c.contains(fragile(1)));
  CHECK(c.contains(fragile(2)));
  CHECK(!c.contains(fragile(3)));
  CHECK(c.stats() == before);
  CHECK_THROWS(c.get_or_insert_with(fragile(3), []() -> fragile { throw std::runtime_error("make"); }));
  CHECK(c.stats().misses == before.misses + 1);  // the lookup happened and missed
  CHECK(c.stats().insertions == before.insertions);
  CHECK(c.size() == 2);
  CHECK(c.contains(fragile(1)));
  CHECK(c.contains(fragile(2)));
}

namespace {
using throwing_clock = surge_test::throwing_clock<struct lru_throwing_tag, std::ratio<1>>;
}  // namespace

TEMPLATE_TEST_CASE("a throwing clock leaves the cache valid", "[lru][lfu]", lru_kind, lfu_kind, sieve_kind, s3fifo_kind,
                   wtinylfu_kind) {
  using cache =
      typename TestType::template cache<fragile, fragile, fragile_hash, std::equal_to<fragile>, throwing_clock>;
  std::mt19937 rng(11);
  throwing_clock::ticks = 0;
  int thrown = 0;
  {
    cache c(4, {.ttl = throwing_clock::duration(5)});
    for (int i = 0; i < 5000; ++i) {
      throwing_clock::ticks += static_cast<throwing_clock::rep>(rng() % 3);
      throwing_clock::countdown = static_cast<int>(rng() % 3);
      const int k = static_cast<int>(rng() % 12);
      try {
        switch (rng() % 4) {
          case 0:
            c.put(fragile(k), fragile(i));
            break;
          case 1:
            (void)c.get_or_insert_with(fragile(k), [i] { return fragile(i); });
            break;
          case 2:
            (void)c.get(fragile(k));
            break;
          default:
            (void)c.erase(fragile(k));
        }
      } catch (const std::runtime_error&) {
        ++thrown;
      }
      throwing_clock::countdown = -1;
      const std::vector<int> keys = listed_keys(c);
      // every entry reachable by its key (turning the clock back before
      // every write: no entry is expired then)
      const auto now = std::exchange(throwing_clock::ticks, -1000000);
      for (int key : keys) REQUIRE(c.contains(fragile(key)));
      throwing_clock::ticks = now;
      REQUIRE(faults::live == static_cast<int>(2 * c.size()));
    }
  }
  CHECK(thrown > 500);
  CHECK(faults::live == 0);
}

namespace {
using overwrite_clock = surge_test::throwing_clock<struct lru_overwrite_clock_tag, std::ratio<1>>;
}  // namespace

TEMPLATE_TEST_CASE("put over a live entry changes nothing when the clock throws", "[lru][lfu]", lru_kind, lfu_kind,
                   sieve_kind, s3fifo_kind, wtinylfu_kind) {
  using clock = overwrite_clock;
  using cache = typename TestType::template cache<int, int, std::hash<int>, std::equal_to<int>, clock>;
  clock::ticks = 0;
  cache c(4, {.ttl = clock::duration(5)});
  c.put(1, 10);
  clock::ticks = 3;
  clock::countdown = 1;  // the lookup reads the clock; the new expiry's reading throws
  CHECK_THROWS_AS(c.put(1, 11), std::runtime_error);
  clock::countdown = -1;
  // put threw, yet the value was replaced (and kept its first write's expiry)
  REQUIRE(c.peek(1) != nullptr);
  CHECK(*c.peek(1) == 10);
  clock::ticks = 5;  // expiry of the first write: still that one's
  CHECK_FALSE(c.contains(1));
}
