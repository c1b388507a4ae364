// surge coroutines against asio's, in the same run:
//  1. co_await of a child task that completes at once (ns per await)
//     vs asio::awaitable co_await of a child awaitable;
//  2. 1M coroutines spawned on a 2-thread pool, each doing one
//     `co_await pool.schedule()` (ns per coroutine, including wait_idle)
//     vs asio::co_spawn(asio::thread_pool, awaitable, detached) + co_await asio::post;
//  3. round trip between two coroutines through two channel<int>(1), on a
//     2-worker pool, vs two threads through two mpmc_queue<int>(1) with
//     blocking push/pop (a mutex + condition-variable queue when
//     surge/queue/mpmc_queue.hpp is not available).
#include <surge/exec/channel.hpp>
#include <surge/exec/spawn.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>

// asio 1.22 detects co_await on clang only through the Coroutines TS
// (<experimental/coroutine>); clang 14 has C++20 coroutines with <coroutine>.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#if __has_include(<surge/queue/mpmc_queue.hpp>)
#include <surge/queue/mpmc_queue.hpp>
#define SURGE_BENCH_HAVE_MPMC_QUEUE 1
#endif

#include "bench.hpp"

namespace {

// ---- 1. immediately-completing child ---------------------------------------

surge::task<int> surge_child(int i) { co_return i; }
surge::task<long> surge_loop(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await surge_child(i);
  co_return sum;
}
double surge_await_ns(int n) {
  long sum = 0;
  const double ns = surge_bench::time_ns([&] { sum = surge::sync_wait(surge_loop(n)); });
  surge_bench::do_not_optimize(sum);
  return ns / n;
}

asio::awaitable<int> asio_child(int i) { co_return i; }
asio::awaitable<void> asio_loop(int n, long& sum) {
  for (int i = 0; i < n; ++i) sum += co_await asio_child(i);
}
double asio_await_ns(int n) {
  long sum = 0;
  asio::io_context ctx;
  asio::co_spawn(ctx, asio_loop(n, sum), asio::detached);
  const double ns = surge_bench::time_ns([&] { ctx.run(); });
  surge_bench::do_not_optimize(sum);
  return ns / n;
}

// ---- 2. spawn + one schedule ------------------------------------------------

surge::task<void> surge_hop(surge::thread_pool& pool) { co_await pool.schedule(); }
double surge_spawn_ns(int n) {
  surge::thread_pool pool(2);
  const double ns = surge_bench::time_ns([&] {
    for (int i = 0; i < n; ++i) surge::spawn(pool, surge_hop(pool));
    pool.wait_idle();
  });
  return ns / n;
}

asio::awaitable<void> asio_hop() {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
}
double asio_spawn_ns(int n) {
  asio::thread_pool pool(2);
  const double ns = surge_bench::time_ns([&] {
    for (int i = 0; i < n; ++i) asio::co_spawn(pool, asio_hop(), asio::detached);
    pool.join();  // returns once the pool has no outstanding work
  });
  return ns / n;
}

// ---- 3. ping-pong -------------------------------------------------------------

surge::task<void> ping(surge::thread_pool& pool, surge::channel<int>& out, surge::channel<int>& in, int n) {
  co_await pool.schedule();
  for (int i = 0; i < n; ++i) {
    (void)co_await out.send(i);
    (void)co_await in.recv();
  }
}
surge::task<void> pong(surge::thread_pool& pool, surge::channel<int>& in, surge::channel<int>& out, int n) {
  co_await pool.schedule();
  for (int i = 0; i < n; ++i) {
    auto v = co_await in.recv();
    (void)co_await out.send(*v);
  }
}
double surge_channel_ns(int n) {
  surge::thread_pool pool(2);
  surge::channel<int> a(1), b(1);
  const double ns = surge_bench::time_ns([&] {
    surge::spawn(pool, ping(pool, a, b, n));
    surge::spawn(pool, pong(pool, a, b, n));
    pool.wait_idle();
  });
  return ns / n;
}

#if defined(SURGE_BENCH_HAVE_MPMC_QUEUE)
using blocking_queue = surge::mpmc_queue<int>;
constexpr const char* queue_name = "surge mpmc_queue, 2 threads";
#else
class blocking_queue {  // the textbook baseline when mpmc_queue is absent
 public:
  explicit blocking_queue(std::size_t) {}
  void push(int v) {
    {
      std::lock_guard lock(m_);
      q_.push_back(v);
    }
    cv_.notify_one();
  }
  int pop() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return !q_.empty(); });
    const int v = q_.front();
    q_.pop_front();
    return v;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<int> q_;
};
constexpr const char* queue_name = "mutex+condvar queue, 2 threads";
#endif

double queue_pingpong_ns(int n) {
  blocking_queue a(1), b(1);
  std::thread other([&] {
    for (int i = 0; i < n; ++i) b.push(a.pop());
  });
  const double ns = surge_bench::time_ns([&] {
    for (int i = 0; i < n; ++i) {
      a.push(i);
      surge_bench::do_not_optimize(b.pop());
    }
  });
  other.join();
  return ns / n;
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = surge_bench::parse_args(argc, argv);
  const int awaits = opts.quick ? 100'000 : 10'000'000;
  const int spawns = opts.quick ? 20'000 : 1'000'000;
  const int trips = opts.quick ? 10'000 : 200'000;
  surge_bench::report rep("surge coroutines vs asio awaitables (2-thread pools)");
  using surge_bench::better;

  if (surge_bench::selected(opts, "await")) {
    std::vector<double> s, a;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(surge_await_ns(awaits));
      a.push_back(asio_await_ns(awaits));
    }
    rep.add({"await ready child", "surge task<int>", surge_bench::median(s), "ns/await", better::lower});
    rep.add({"await ready child", "asio awaitable<int>", surge_bench::median(a), "ns/await", better::lower});
  }
  if (surge_bench::selected(opts, "spawn")) {
    std::vector<double> s, a;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(surge_spawn_ns(spawns));
      a.push_back(asio_spawn_ns(spawns));
    }
    const auto note = fmt::format("{} coroutines", spawns);
    rep.add(
        {"spawn + schedule", "surge spawn + pool.schedule()", surge_bench::median(s), "ns/coro", better::lower, note});
    rep.add({"spawn + schedule", "asio co_spawn + post", surge_bench::median(a), "ns/coro", better::lower, note});
  }
  if (surge_bench::selected(opts, "ping")) {
    std::vector<double> s, q;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(surge_channel_ns(trips));
      q.push_back(queue_pingpong_ns(trips));
    }
    rep.add({"ping-pong round trip", "surge channel, 2 coroutines", surge_bench::median(s), "ns/trip", better::lower,
             "pool of 2 workers"});
    rep.add({"ping-pong round trip", queue_name, surge_bench::median(q), "ns/trip", better::lower, "blocking calls"});
  }
  rep.print(opts);
}
