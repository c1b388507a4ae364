// The surge tour: a short demonstration of each area, in the order a newcomer
// meets them. Run it with the README's first command. Each section is
// self-contained; read it top to bottom.
#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/fmt.hpp>
#include <surge/surge.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <thread>

namespace {

void section(const char* title) { fmt::print("\n== {} ==\n", title); }

void tour_basics() {
  section("basics");
  fmt::print("surge {} (header-only, C++20)\n", surge::version);
  // Hot counters written by different threads live on their own cache lines.
  struct counters {
    surge::detail::padded<std::atomic<long>> produced, consumed;
  } c;
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) c.produced->fetch_add(1, std::memory_order_relaxed);
  });
  std::thread consumer([&] {
    for (int i = 0; i < 1000; ++i) c.consumed->fetch_add(1, std::memory_order_relaxed);
  });
  producer.join();
  consumer.join();
  fmt::print("two counters {} bytes apart: produced {} consumed {}\n", sizeof(surge::detail::padded<std::atomic<long>>),
             c.produced->load(), c.consumed->load());
}

void tour_cache() {
  section("caches");
  // A skewed workload: key k is requested with probability about 1/k
  // (Zipf), over 10,000 keys, through caches that hold 1 % of them.
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto next_key = [&] { return static_cast<std::uint64_t>(std::exp(u(rng) * std::log(10'000.0))); };
  surge::lru_cache<std::uint64_t, std::string> lru(100);
  surge::lfu_cache<std::uint64_t, std::string> lfu(100);
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t k = next_key();
    if (lru.get(k) == nullptr) lru.put(k, "value " + std::to_string(k));  // miss: fetch and fill
    lfu.get_or_insert_with(k, [k] { return "value " + std::to_string(k); });
  }
  fmt::print("lru_cache: {}\n", lru.stats());
  fmt::print("lfu_cache: {}\n", lfu.stats());
  fmt::print("the hottest key, 1, is cached: {}; it was used {} times\n", *lru.peek(1), lfu.frequency(1));
}

}  // namespace

int main() {
  fmt::print("surge tour\n");
  tour_basics();
  tour_cache();
  fmt::print("\ntour done\n");
}
