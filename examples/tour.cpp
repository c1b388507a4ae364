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
#include <chrono>
#include <cmath>
#include <cstdint>
#include <future>
#include <random>
#include <string>
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

void tour_limit() {
  section("limit");
  // A token bucket: 10 requests per second, bursts of 3 (x/time/rate's semantics).
  // Every call takes an optional `now` (here one reading, so the output is exact).
  const auto now = std::chrono::steady_clock::now();
  surge::token_bucket<> bucket(10.0, 3, now);
  int passed = 0;
  for (int i = 0; i < 5; ++i) passed += bucket.try_acquire(1, now) ? 1 : 0;
  fmt::print("token_bucket(10/s, burst 3): {} of 5 back-to-back requests pass\n", passed);
  // Never sleeps inside: it says how long to wait (a thread sleeps, a coroutine awaits).
  const auto r = bucket.reserve(1, std::chrono::steady_clock::duration::max(), now);
  fmt::print("reserve(): granted, act in {} ms\n",
             std::chrono::duration_cast<std::chrono::milliseconds>(r.delay).count());
  // nginx `limit_req rate=1r/s burst=2 delay=1`, as a meter.
  surge::leaky_bucket<> meter(1.0, 2, 1, now);
  for (int i = 0; i < 4; ++i) {
    const auto m = meter.admit(now);
    fmt::print("  arrival {}: {}{}\n", i,
               m.decision == surge::meter_decision::admit   ? "admit"
               : m.decision == surge::meter_decision::delay ? "delay "
                                                            : "reject",
               m.decision == surge::meter_decision::delay
                   ? fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(m.delay).count())
                   : "");
  }
  // One limiter per client, in bounded memory.
  surge::keyed_limiter<std::string, surge::token_bucket<>> per_client(surge::token_bucket<>(5.0, 1), 10'000);
  const bool alice1 = per_client.try_acquire("alice", 1, now);
  const bool alice2 = per_client.try_acquire("alice", 1, now);
  const bool bob = per_client.try_acquire("bob", 1, now);
  fmt::print("per client (5/s, burst 1): alice {} then {}, bob {}\n", alice1, alice2, bob);
}

void tour_balance() {
  section("balance");
  // nginx's smooth weighted round robin: weights 5, 1, 1 give a a b a c a a.
  surge::weighted_round_robin wrr(surge::weights{5, 1, 1});
  std::string seq;
  for (int i = 0; i < 7; ++i) seq += static_cast<char>('a' + wrr.pick());
  fmt::print("smooth WRR {{5,1,1}}: {}\n", seq);
  // Least connections: a pick is a lease; the backend's count drops when it ends.
  surge::least_connections lc(3);
  {
    auto first = lc.pick(), second = lc.pick();
    fmt::print("least_connections: leases on {} and {}, active on 0: {}\n", first.index(), second.index(),
               lc.active(0));
  }
  fmt::print("after the leases end, active on 0: {}\n", lc.active(0));
  // Consistent hashing: a key sticks to its backend; a down backend loses only its own keys.
  surge::maglev<> mg(4);
  const std::size_t home = mg.pick("user-42");  // text keys hash their characters
  mg.set_healthy(home, false);
  fmt::print("maglev: user-42 -> {}; with {} down -> {}; jump_hash(42, 57) = {}\n", home, home, mg.pick("user-42"),
             surge::jump_hash(42, 57));
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
  tour_cache();
  tour_limit();
  tour_balance();
  tour_pool();
  tour_queue();
  tour_coro();
  fmt::print("\ntour done\n");
}
