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

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "surge_test.hpp"

using namespace std::chrono_literals;

TEST_CASE("sharded_cache splits the capacity and rejects too small a one", "[sharded]") {
  using cache = surge::sharded_cache<surge::lru_cache<int, int>, 4>;
  CHECK_THROWS_AS(cache(3), std::invalid_argument);
  CHECK_THROWS_AS(cache(0), std::invalid_argument);
  cache c(10);  // shards of 3, 3, 2, 2
  CHECK(c.capacity() == 10);
  CHECK(c.empty());
  for (int k = 0; k < 1000; ++k) c.put(k, k);
  CHECK(c.size() == 10);
  const auto s = c.stats();
  CHECK(s.insertions == 1000);
  CHECK(s.evictions == 990);
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
