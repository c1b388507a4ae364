// Cache basics: look up, fill on a miss, read the stats; an eviction listener;
// expiry (TTL) on an injected clock; and sharing a cache between threads.
// Exits 1 if a result differs from what its output and comments describe.
#include <surge/cache/cache.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/fmt.hpp>

#include <fmt/format.h>

#include "example_args.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// steady_clock's types, but time moves only when the program says so: expiry
// is shown without waiting.
struct manual_clock : std::chrono::steady_clock {
  static inline time_point t{};
  static time_point now() noexcept { return t; }
};

std::string fetch(int id) { return "user-" + std::to_string(id); }  // the slow source the cache fronts

int main(int argc, char** argv) {
  example_args(argc, argv, "cache_basics", "", 0);  // takes none; -h prints the usage
  // 1. The usual pattern: get; on a miss, fetch and put. Three slots, LRU order.
  std::vector<int> evicted;
  surge::lru_cache<int, std::string> lru(3, {.on_evict = [&evicted](int&& id, std::string&&) {
                                           fmt::print("  evicted {} (least recently used)\n", id);
                                           evicted.push_back(id);
                                         }});
  for (int id : {1, 2, 3, 1, 4, 1, 2}) {
    if (const std::string* v = lru.get(id)) {
      fmt::print("get({}) hit: {}\n", id, *v);
    } else {
      fmt::print("get({}) miss\n", id);
      lru.put(id, fetch(id));
    }
  }
  fmt::print("lru_cache: {}\n\n", lru.stats());
  bool held = lru.stats().hits == 2 && evicted == std::vector<int>{2, 3};  // every printed claim

  // 2. surge::cache (adaptive W-TinyLFU) has the same members; get_or_insert_with
  //    is the lookup-or-fill above in one call. Keys hot over time stay cached
  //    while a one-off scan passes through.
  surge::cache<int, std::string> cache(100);
  for (int round = 0; round < 20; ++round) {
    for (int hot = 0; hot < 50; ++hot) cache.get_or_insert_with(hot, [hot] { return fetch(hot); });
    for (int scan = 0; scan < 50; ++scan) cache.get_or_insert_with(1000 * (round + 1) + scan, [] { return "once"; });
  }
  fmt::print("surge::cache, 50 hot keys + a scan: {}\n\n", cache.stats());
  held = held && cache.stats().hits == 19 * 50;  // every hot key hit in every round after the first

  // 3. Expire-after-write on the injected clock.
  surge::lru_cache<int, std::string, std::hash<int>, std::equal_to<int>, manual_clock> sessions(100, {.ttl = 30s});
  sessions.put(7, "token-abc");
  manual_clock::t += 29s;
  const bool at_29s = sessions.get(7) != nullptr;
  fmt::print("after 29 s: session 7 {}\n", at_29s ? "present" : "expired");
  manual_clock::t += 1s;
  const bool at_30s = sessions.get(7) != nullptr;
  fmt::print("after 30 s: session 7 {}\n\n", at_30s ? "present" : "expired");
  held = held && at_29s && !at_30s;

  // 4. sharded_cache: thread-safe; get_or_load runs the loader once per key
  //    however many threads miss it at the same time (single flight).
  surge::sharded_cache<surge::lru_cache<std::uint64_t, std::string>> shared(1000);
  std::atomic<int> loads{0};
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (std::uint64_t k = 0; k < 200; ++k)
        (void)shared.get_or_load(k, [&] {
          loads.fetch_add(1);
          return fetch(static_cast<int>(k));
        });
    });
  threads.clear();  // joins
  fmt::print("4 threads x 200 keys through sharded_cache: {} loads (one per key)\n", loads.load());
  return held && loads.load() == 200 ? 0 : 1;
}
