// The surge tour: a short demonstration of each area, in the order a newcomer
// meets them. Run it with the README's first command. Each section is
// self-contained; read it top to bottom.
#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/exec/parallel_for.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/fmt.hpp>
#include <surge/surge.hpp>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

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

void tour_pool() {
  section("thread pool");
  surge::thread_pool pool(2);  // work-stealing; default: hardware_concurrency() workers
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) pool.post([&done] { done.fetch_add(1); });  // fire and forget
  std::future<int> answer = pool.submit([](int x) { return x * 2; }, 21);    // exceptions reach the future
  std::vector<long> squares(1000);
  surge::parallel_for(pool, 0, 1000, [&](int i) { squares[static_cast<std::size_t>(i)] = long{i} * i; });
  pool.wait_idle();  // every task above, and what they posted, has finished
  long sum = 0;
  for (long s : squares) sum += s;
  fmt::print("{} workers ran {} posted tasks; submit gave {}; parallel_for sum of squares {}\n", pool.size(),
             done.load(), answer.get(), sum);
}

void tour_coro() {
  section("coroutines");
  surge::thread_pool pool(2);
  surge::channel<int> results(8);
  // A coroutine's parameters live in its frame: take values, or references to
  // things that outlive it (here: the pool and the channel outlive wait_idle).
  auto square = [](surge::thread_pool& p, surge::channel<int>& out, int x) -> surge::task<void> {
    co_await p.schedule();  // continue on a pool worker
    (void)co_await out.send(x * x);
  };
  for (int x = 1; x <= 3; ++x) surge::spawn(pool, square(pool, results, x));
  pool.wait_idle();  // covers spawned coroutines
  results.close();
  const int sum = surge::sync_wait([](surge::channel<int>& in) -> surge::task<int> {
    int total = 0;
    while (auto v = co_await in.recv()) total += *v;  // nullopt once closed and drained
    co_return total;
  }(results));
  fmt::print("3 coroutines spawned on a 2-worker pool sent squares summing to {}\n", sum);
}

}  // namespace

int main() {
  fmt::print("surge tour\n");
  tour_basics();
  tour_pool();
  tour_coro();
  fmt::print("\ntour done\n");
}
