// surge coroutines against asio's, in the same run:
//  1. co_await of a child task that completes at once (ns per await)
//     vs asio::awaitable co_await of a child awaitable;
//  2. 1M coroutines spawned on a 2-thread pool, each doing one
//     `co_await pool.schedule()` and counting itself (ns per coroutine, timed
//     until every one has run) vs asio::co_spawn(asio::thread_pool, awaitable,
//     detached) + co_await asio::post, timed the same way (the pool's join(),
//     which also tears its threads down, runs after the timing);
//  3. round trip between two coroutines through two channels of capacity 1, on
//     a 2-thread pool: surge channel<int> vs asio's
//     experimental::concurrent_channel (real library), and two threads through
//     two mpmc_queue<int>(1) with blocking push/pop as the thread-based floor.
// All rows are real libraries (surge, asio); none is hand-written.
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
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
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

void wait_count(const std::atomic<int>& done, int n) {
  while (done.load(std::memory_order_acquire) < n) std::this_thread::yield();
}

surge::task<void> surge_hop(surge::thread_pool& pool, std::atomic<int>& done) {
  co_await pool.schedule();
  done.fetch_add(1, std::memory_order_release);
}
double surge_spawn_ns(int n) {
  surge::thread_pool pool(2);
  std::atomic<int> done{0};
  const double ns = surge_bench::time_ns([&] {
    for (int i = 0; i < n; ++i) surge::spawn(pool, surge_hop(pool, done));
    wait_count(done, n);
  });
  pool.wait_idle();
  return ns / n;
}

asio::awaitable<void> asio_hop(std::atomic<int>& done) {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
  done.fetch_add(1, std::memory_order_release);
}
double asio_spawn_ns(int n) {
  asio::thread_pool pool(2);
  std::atomic<int> done{0};
  const double ns = surge_bench::time_ns([&] {
    for (int i = 0; i < n; ++i) asio::co_spawn(pool, asio_hop(done), asio::detached);
    wait_count(done, n);
  });
  pool.join();
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

using asio_channel = asio::experimental::concurrent_channel<void(asio::error_code, int)>;

asio::awaitable<void> asio_ping(asio_channel& out, asio_channel& in, int n) {
  for (int i = 0; i < n; ++i) {
    co_await out.async_send(asio::error_code{}, i, asio::use_awaitable);
    (void)co_await in.async_receive(asio::use_awaitable);
  }
}
asio::awaitable<void> asio_pong(asio_channel& in, asio_channel& out, int n) {
  for (int i = 0; i < n; ++i) {
    const int v = co_await in.async_receive(asio::use_awaitable);
    co_await out.async_send(asio::error_code{}, v, asio::use_awaitable);
  }
}
double asio_channel_ns(int n) {
  asio::thread_pool pool(2);
  asio_channel a(pool, 1), b(pool, 1);
  std::atomic<int> done{0};
  auto count = [&done](std::exception_ptr) { done.fetch_add(1, std::memory_order_release); };
  const double ns = surge_bench::time_ns([&] {
    asio::co_spawn(pool, asio_ping(a, b, n), count);
    asio::co_spawn(pool, asio_pong(a, b, n), count);
    wait_count(done, 2);
  });
  pool.join();
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

  const std::string await_sc = "await ready child", spawn_sc = "spawn + schedule", trip_sc = "ping-pong round trip";
  if (surge_bench::selected(opts, await_sc)) {
    std::vector<double> s, a;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(surge_await_ns(awaits));
      a.push_back(asio_await_ns(awaits));
    }
    rep.add({await_sc, "surge task<int>", surge_bench::median(s), "ns/await", better::lower});
    rep.add({await_sc, "asio awaitable<int>", surge_bench::median(a), "ns/await", better::lower});
  }
  if (surge_bench::selected(opts, spawn_sc)) {
    std::vector<double> s, a;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(surge_spawn_ns(spawns));
      a.push_back(asio_spawn_ns(spawns));
    }
    const auto note = fmt::format("{} coroutines", spawns);
    rep.add({spawn_sc, "surge spawn + pool.schedule()", surge_bench::median(s), "ns/coro", better::lower, note});
    rep.add({spawn_sc, "asio co_spawn + post", surge_bench::median(a), "ns/coro", better::lower, note});
  }
  if (surge_bench::selected(opts, trip_sc)) {
    std::vector<double> s, c, q;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(surge_channel_ns(trips));
      c.push_back(asio_channel_ns(trips));
      q.push_back(queue_pingpong_ns(trips));
    }
    rep.add({trip_sc, "surge channel, 2 coroutines", surge_bench::median(s), "ns/trip", better::lower,
             "pool of 2 workers"});
    rep.add({trip_sc, "asio concurrent_channel, 2 coroutines", surge_bench::median(c), "ns/trip", better::lower,
             "asio::thread_pool(2)"});
    rep.add({trip_sc, queue_name, surge_bench::median(q), "ns/trip", better::lower, "blocking calls"});
  }
  rep.print(opts);
}
