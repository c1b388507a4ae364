// Tests of surge/cache/cache_base.hpp and surge/cache/cache_options.hpp: every
// cache has cache_base's members and options, under its own name.
#include <surge/cache/cache.hpp>
#include <surge/cache/cache_base.hpp>
#include <surge/cache/cache_options.hpp>
#include <surge/cache/lfu.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/s3fifo.hpp>
#include <surge/cache/sieve.hpp>
#include <surge/cache/wtinylfu.hpp>

#include "surge_test.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <ratio>
#include <vector>

namespace {

struct cache_base_clock_tag {};
using clock_type = surge_test::manual_clock<cache_base_clock_tag>;

template <class Cache, surge::eviction_policy P>
constexpr bool derives_from_base =
    std::is_base_of_v<surge::cache_base<typename Cache::key_type, typename Cache::mapped_type, typename Cache::hasher,
                                        typename Cache::key_equal, typename Cache::clock, P>,
                      Cache>;

static_assert(derives_from_base<surge::lru_cache<int, int>, surge::eviction_policy::lru>);
static_assert(derives_from_base<surge::lfu_cache<int, int>, surge::eviction_policy::lfu>);
static_assert(derives_from_base<surge::sieve_cache<int, int>, surge::eviction_policy::sieve>);
static_assert(derives_from_base<surge::s3fifo_cache<int, int>, surge::eviction_policy::s3fifo>);
static_assert(derives_from_base<surge::wtinylfu_cache<int, int>, surge::eviction_policy::wtinylfu>);
static_assert(derives_from_base<surge::cache<int, int>, surge::eviction_policy::wtinylfu>);

// each cache's options is cache_options with its Key, Value and Clock
static_assert(
    std::is_same_v<surge::lru_cache<int, std::string, std::hash<int>, std::equal_to<int>, clock_type>::options,
                   surge::cache_options<int, std::string, clock_type>>);
static_assert(std::is_same_v<surge::cache<int, int>::hasher, std::hash<int>>);
static_assert(std::is_same_v<surge::cache<int, int>::clock, std::chrono::steady_clock>);

// not copyable, and never destroyed through a cache_base
static_assert(!std::is_copy_constructible_v<surge::lru_cache<int, int>>);
static_assert(!std::is_destructible_v<surge::cache_base<int, int, std::hash<int>, std::equal_to<int>, clock_type,
                                                        surge::eviction_policy::lru>>);

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
static_assert(!surge::lru_cache<std::string, int>::heterogeneous_lookup);
static_assert(surge::lru_cache<std::string, int, string_hash, std::equal_to<>>::heterogeneous_lookup);

}  // namespace

TEMPLATE_TEST_CASE("every cache offers cache_base's members", "[cache_base]",
                   (surge::lru_cache<std::string, int, string_hash, std::equal_to<>, clock_type>),
                   (surge::lfu_cache<std::string, int, string_hash, std::equal_to<>, clock_type>),
                   (surge::sieve_cache<std::string, int, string_hash, std::equal_to<>, clock_type>),
                   (surge::s3fifo_cache<std::string, int, string_hash, std::equal_to<>, clock_type>),
                   (surge::wtinylfu_cache<std::string, int, string_hash, std::equal_to<>, clock_type>)) {
  clock_type::reset();
  int evicted = 0;
  typename TestType::options opts{.ttl = std::chrono::seconds(10),
                                  .on_evict = [&](std::string&&, int&&) { ++evicted; }};
  TestType c(2, opts, string_hash{}, std::equal_to<>{});
  CHECK(c.capacity() == 2);
  CHECK(c.ttl() == std::chrono::seconds(10));
  CHECK(c.put("a", 1));
  CHECK_FALSE(c.put(std::string("a"), 2));  // assigned
  CHECK(*c.get(std::string_view("a")) == 2);
  CHECK(c.get_or_insert_with("b", [] { return 3; }) == 3);
  CHECK(c.contains("b"));
  CHECK(*c.peek("b") == 3);
  int seen = 0;
  c.for_each([&](const std::string&, const int& v) { seen += v; });
  CHECK(seen == 5);
  clock_type::advance(std::chrono::seconds(10));  // both expire
  CHECK(c.purge_expired() == 2);
  CHECK(evicted == 2);
  CHECK(c.empty());
  CHECK(c.stats().hits == 1);
  c.reset_stats();
  CHECK(c.stats().lookups() == 0);
  c.set_eviction_listener({});
  CHECK(c.put("c", 4));
  CHECK(c.erase("c"));
  CHECK(c.size() == 0);
  CHECK(c.memory_bytes() > 0);
  c.clear();
  CHECK_THROWS_AS(TestType(0), std::invalid_argument);
}

TEMPLATE_TEST_CASE("every cache: a put nested in make replaces an expired key, the victim included", "[cache_base]",
                   (surge::lru_cache<int, int, std::hash<int>, std::equal_to<int>, clock_type>),
                   (surge::lfu_cache<int, int, std::hash<int>, std::equal_to<int>, clock_type>),
                   (surge::sieve_cache<int, int, std::hash<int>, std::equal_to<int>, clock_type>),
                   (surge::s3fifo_cache<int, int, std::hash<int>, std::equal_to<int>, clock_type>),
                   (surge::wtinylfu_cache<int, int, std::hash<int>, std::equal_to<int>, clock_type>)) {
  // make() holds the spare node, so the nested put evicts the victim to build
  // its entry; when that victim was the put's own expired key, the put used to
  // unlink a node no longer in the index and spin for ever
  for (const std::size_t capacity : {std::size_t{1}, std::size_t{3}}) {
    INFO("capacity " << capacity);
    clock_type::reset();
    std::vector<int> evicted;
    TestType c(capacity, {.ttl = std::chrono::seconds(5), .on_evict = [&](int&& k, int&&) { evicted.push_back(k); }});
    for (int k = 0; k < static_cast<int>(capacity); ++k) c.put(k, k);
    clock_type::advance(std::chrono::seconds(10));  // every key expired
    const int& v = c.get_or_insert_with(100, [&] {
      CHECK(c.put(0, 1));  // an expired key: inserted afresh
      return 20;
    });
    CHECK(v == 20);
    CHECK(c.size() <= capacity);
    CHECK(c.contains(100));
    if (capacity > 1) CHECK(*c.peek(0) == 1);
    CHECK(std::find(evicted.begin(), evicted.end(), 0) != evicted.end());  // the expired entry was reported
    std::size_t entries = 0;
    c.for_each([&](const int&, const int&) { ++entries; });
    CHECK(entries == c.size());
  }
}

TEMPLATE_TEST_CASE("every cache: an entry written at the clock's far end does not expire at once", "[cache_base]",
                   (surge::lru_cache<int, int, std::hash<int>, std::equal_to<int>, clock_type>),
                   (surge::wtinylfu_cache<int, int, std::hash<int>, std::equal_to<int>, clock_type>)) {
  // its expiry saturates at time_point::max(), which stands for "never"; it
  // read as expired as soon as the clock reached it
  TestType c(4, {.ttl = std::chrono::hours(1)});
  clock_type::set(clock_type::duration::max());
  CHECK(c.put(1, 1));
  CHECK(c.contains(1));
  CHECK(c.get(1) != nullptr);
  clock_type::set(clock_type::duration::max() - clock_type::duration(1));
  CHECK(c.put(2, 2));
  clock_type::set(clock_type::duration::max());
  CHECK(c.contains(2));
  CHECK(c.purge_expired() == 0);
  clock_type::reset();
}

namespace {
/// A settable clock counting seconds in a double, as a clock of seconds since
/// an epoch may: far from its epoch, a short ttl is below its resolution.
struct double_seconds_clock {
  using rep = double;
  using period = std::ratio<1>;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<double_seconds_clock>;
  [[maybe_unused]] static constexpr bool is_steady = false;
  static inline double now_s = 0;
  static time_point now() noexcept { return time_point{duration{now_s}}; }
};
}  // namespace

TEMPLATE_TEST_CASE("every cache: a ttl below a floating-point clock's resolution does not expire an entry at once",
                   "[cache_base]",
                   (surge::lru_cache<int, int, std::hash<int>, std::equal_to<int>, double_seconds_clock>),
                   (surge::lfu_cache<int, int, std::hash<int>, std::equal_to<int>, double_seconds_clock>),
                   (surge::sieve_cache<int, int, std::hash<int>, std::equal_to<int>, double_seconds_clock>),
                   (surge::s3fifo_cache<int, int, std::hash<int>, std::equal_to<int>, double_seconds_clock>),
                   (surge::wtinylfu_cache<int, int, std::hash<int>, std::equal_to<int>, double_seconds_clock>)) {
  // 2^50 s: one step of the clock is 0.25 s, so now + 1 ms rounds to now;
  // the entry read as expired the moment it was written
  double_seconds_clock::now_s = 1125899906842624.0;
  TestType c(4, {.ttl = double_seconds_clock::duration(0.001)});
  CHECK(c.put(1, 1));
  CHECK(c.contains(1));
  CHECK(c.get(1) != nullptr);
  CHECK(c.get_or_insert_with(2, [] { return 2; }) == 2);
  CHECK(c.contains(2));
  CHECK(c.purge_expired() == 0);
  CHECK(c.stats().evictions == 0);
  // it expires at the clock's next step
  double_seconds_clock::now_s = std::nextafter(double_seconds_clock::now_s, 2 * double_seconds_clock::now_s);
  CHECK(!c.contains(1));
  CHECK(c.purge_expired() == 2);
  double_seconds_clock::now_s = 0;
}

namespace {
/// A value whose unary operator& does not give its address (as some handle
/// and proxy types do).
struct address_hiding {
  int v;
  address_hiding* operator&() noexcept { return nullptr; }
  const address_hiding* operator&() const noexcept { return nullptr; }
};
}  // namespace

TEMPLATE_TEST_CASE("every cache: get and peek point at the value even when it overloads operator&", "[cache_base]",
                   (surge::lru_cache<int, address_hiding>), (surge::lfu_cache<int, address_hiding>),
                   (surge::sieve_cache<int, address_hiding>), (surge::s3fifo_cache<int, address_hiding>),
                   (surge::wtinylfu_cache<int, address_hiding>)) {
  // they returned &value, which called the value's operator& (nullptr here:
  // a hit read as a miss)
  TestType c(2);
  c.put(1, address_hiding{7});
  const address_hiding* peeked = c.peek(1);
  REQUIRE(peeked != nullptr);
  CHECK(peeked->v == 7);
  address_hiding* got = c.get(1);
  REQUIRE(got != nullptr);
  CHECK(got->v == 7);
  CHECK(got == std::addressof(c.get_or_insert_with(1, [] { return address_hiding{0}; })));
}
