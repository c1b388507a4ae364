// The surge tour: a short demonstration of each area, in the order a newcomer
// meets them. Run it with the README's first command. Each section is
// self-contained; read it top to bottom.
#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/fmt.hpp>
#include <surge/surge.hpp>

#include <atomic>
#include <cstdint>
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
  fmt::print("two counters {} bytes apart: produced {} consumed {}\n",
             sizeof(surge::detail::padded<std::atomic<long>>), c.produced->load(), c.consumed->load());
}

void tour_queue() {
  section("queue");
  // A bounded lock-free MPMC queue: try_ calls never wait, push/pop block.
  surge::mpmc_queue<int> q(3);
  while (q.try_push(static_cast<int>(q.size()))) {
  }
  fmt::print("capacity {}: try_push refused at size {}\n", q.capacity(), q.size());
  while (auto v = q.try_pop()) fmt::print("try_pop -> {}\n", *v);

  // Two producers and a consumer; push waits while the queue is full.
  std::int64_t sum = 0;
  std::thread consumer([&] {
    for (int i = 0; i < 2000; ++i) sum += q.pop();
  });
  std::thread p1([&] {
    for (int i = 1; i <= 1000; ++i) q.push(i);
  });
  std::thread p2([&] {
    for (int i = 1; i <= 1000; ++i) q.push(-i);
  });
  p1.join();
  p2.join();
  consumer.join();
  fmt::print("2000 items through 3 slots, sum {} (expected 0), empty: {}\n", sum, q.empty());
}

} // namespace

int main() {
  fmt::print("surge tour\n");
  tour_basics();
  tour_queue();
  fmt::print("\ntour done\n");
}
