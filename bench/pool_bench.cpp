// surge::thread_pool and parallel_for against oneTBB (task_arena::enqueue for
// fire-and-forget, task_group for fork-join, parallel_for), asio::thread_pool
// (real libraries) and a hand-written mutex-queue pool with std::packaged_task,
// in the same process. Each pool has the machine's
// default thread count (surge: hardware_concurrency workers; TBB: its default
// arena; asio: hardware_concurrency threads). Runs alternate between
// implementations; medians are reported.
#include <surge/exec/parallel_for.hpp>
#include <surge/exec/thread_pool.hpp>

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench.hpp"

namespace {

using surge_bench::better;

std::size_t threads() { return surge::thread_pool::default_threads(); }

// ---- baseline: the pool a competent engineer writes first (hand-written) -----
// One mutex + condition variable around a deque of type-erased move-only jobs;
// submit wraps the callable in one std::packaged_task (no task nested in a
// task, no std::function copy requirement).
class mutex_pool {
 public:
  explicit mutex_pool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~mutex_pool() {
    {
      std::lock_guard l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  template <class F>
  auto submit(F f) -> std::future<decltype(f())> {
    using R = decltype(f());
    auto job = std::make_unique<job_of<std::packaged_task<R()>>>(std::packaged_task<R()>(std::move(f)));
    auto fut = job->fn.get_future();
    {
      std::lock_guard l(m_);
      q_.push_back(std::move(job));
    }
    cv_.notify_one();
    return fut;
  }

 private:
  struct job {
    virtual ~job() = default;
    virtual void run() = 0;
  };
  template <class F>
  struct job_of final : job {
    explicit job_of(F f) : fn(std::move(f)) {}
    void run() override { fn(); }
    F fn;
  };
  void loop() {
    for (;;) {
      std::unique_ptr<job> j;
      {
        std::unique_lock l(m_);
        cv_.wait(l, [this] { return stop_ || !q_.empty(); });
        if (q_.empty()) return;
        j = std::move(q_.front());
        q_.pop_front();
      }
      j->run();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<job>> q_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// ---- scenarios ------------------------------------------------------------------

// Wall time of f() divided by the n items it handles.
template <class F>
double ns_per_item(std::size_t n, F&& f) {
  return surge_bench::time_ns(std::forward<F>(f)) / static_cast<double>(n);
}

// Fire-and-forget: n tasks posted from an outside thread, each bumping one
// counter, timed until all have run. surge waits with wait_idle(); asio and TBB
// have no idle wait for posted work, so the timing thread watches the counter
// (asio's join() would also tear its threads down inside the timed region).
// The pools are built and their threads started before timing.
void wait_count(const std::atomic<std::size_t>& done, std::size_t n) {
  while (done.load(std::memory_order_acquire) < n) std::this_thread::yield();
}

// A task body of `steps` LCG steps (0: just the counter bump).
inline void work(std::uint64_t steps) {
  std::uint64_t x = steps;
  for (std::uint64_t k = 0; k < steps; ++k) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  surge_bench::do_not_optimize(x);
}

double post_surge(std::size_t n, std::uint64_t steps = 0) {
  surge::thread_pool pool(threads());
  std::atomic<std::size_t> done{0};
  return ns_per_item(n, [&] {
    for (std::size_t i = 0; i < n; ++i)
      pool.post([&done, steps] {
        work(steps);
        done.fetch_add(1, std::memory_order_relaxed);
      });
    pool.wait_idle();
  });
}

double post_bulk_surge(std::size_t n, std::uint64_t steps = 0) {
  surge::thread_pool pool(threads());
  std::atomic<std::size_t> done{0};
  return ns_per_item(n, [&] {
    pool.post_bulk(std::size_t{0}, n, [&done, steps](std::size_t) {
      work(steps);
      done.fetch_add(1, std::memory_order_relaxed);
    });
    pool.wait_idle();
  });
}

double post_asio(std::size_t n, std::uint64_t steps = 0) {
  asio::thread_pool pool(threads());
  std::atomic<std::size_t> done{0};
  const double ns = ns_per_item(n, [&] {
    for (std::size_t i = 0; i < n; ++i)
      asio::post(pool, [&done, steps] {
        work(steps);
        done.fetch_add(1, std::memory_order_release);
      });
    wait_count(done, n);
  });
  pool.join();
  return ns;
}

// TBB sizes its worker set for a master thread that joins the work; with
// fire-and-forget nobody joins, so TBB gets one more worker and an arena with no
// slot reserved for a master: the same threads() workers as the others.
double post_tbb(std::size_t n, std::uint64_t steps = 0) {
  tbb::global_control workers(tbb::global_control::max_allowed_parallelism, threads() + 1);
  tbb::task_arena arena(static_cast<int>(threads()), 0);
  arena.initialize();
  std::atomic<std::size_t> done{0};
  return ns_per_item(n, [&] {
    for (std::size_t i = 0; i < n; ++i)
      arena.enqueue([&done, steps] {
        work(steps);
        done.fetch_add(1, std::memory_order_release);
      });
    wait_count(done, n);
  });
}

// LCG steps that take about `ns` nanoseconds on one core of this machine.
std::uint64_t steps_for_ns(double ns) {
  constexpr std::uint64_t probe = 10'000'000;
  const double per_step = surge_bench::time_ns([] { work(probe); }) / static_cast<double>(probe);
  return static_cast<std::uint64_t>(ns / per_step);
}

// n futures from Pool::submit, then their results summed.
template <class Pool>
double submit_futures(std::size_t n) {
  Pool pool(threads());
  std::vector<std::future<std::size_t>> futs;
  futs.reserve(n);
  std::size_t sum = 0;
  const double ns = ns_per_item(n, [&] {
    for (std::size_t i = 0; i < n; ++i) futs.push_back(pool.submit([i] { return i; }));
    for (auto& f : futs) sum += f.get();
  });
  surge_bench::do_not_optimize(sum);
  return ns;
}

// Fork-join: fib(n) forks fib(n-1) as a task, computes fib(n-2) itself, joins.
constexpr int fib_cutoff = 12;

long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

struct fib_frame {
  surge::thread_pool* pool;
  int n;
  long result = 0;
  std::atomic<bool> done{false};
};

long fib_surge(surge::thread_pool& pool, int n) {
  if (n < fib_cutoff) return fib_serial(n);
  fib_frame child{&pool, n - 1};
  pool.post([f = &child] {
    f->result = fib_surge(*f->pool, f->n);
    f->done.store(true, std::memory_order_release);
  });
  const long b = fib_surge(pool, n - 2);
  while (!child.done.load(std::memory_order_acquire))
    if (!pool.run_pending_task()) surge::detail::cpu_relax();
  return child.result + b;
}

long fib_tbb(int n) {
  if (n < fib_cutoff) return fib_serial(n);
  long a = 0;
  tbb::task_group g;
  g.run([&] { a = fib_tbb(n - 1); });
  const long b = fib_tbb(n - 2);
  g.wait();
  return a + b;
}

double fib_surge_ms(surge::thread_pool& pool, int n) {
  long r = 0;
  const double ns = surge_bench::time_ns([&] {
    auto f = pool.submit([&] { return fib_surge(pool, n); });
    r = f.get();
  });
  surge_bench::do_not_optimize(r);
  return ns / 1e6;
}

double fib_tbb_ms(int n) {
  long r = 0;
  const double ns = surge_bench::time_ns([&] { r = fib_tbb(n); });
  surge_bench::do_not_optimize(r);
  return ns / 1e6;
}

// parallel_for, cheap body.
inline void cheap(std::int64_t i) { surge_bench::do_not_optimize(i * i); }

double pfor_cheap_surge(surge::thread_pool& pool, std::int64_t n) {
  return surge_bench::time_ns(
             [&] { surge::parallel_for(pool, std::int64_t{0}, n, [](std::int64_t i) { cheap(i); }); }) /
         1e6;
}

double pfor_cheap_tbb(std::int64_t n) {
  return surge_bench::time_ns([&] { tbb::parallel_for(std::int64_t{0}, n, [](std::int64_t i) { cheap(i); }); }) / 1e6;
}

// One repetition of a surge/TBB pair, alternating who runs first.
template <class S, class T>
void run_pair(int rep, std::vector<double>& s, std::vector<double>& t, S surge, T tbb) {
  if (rep % 2 == 1) t.push_back(tbb());
  s.push_back(surge());
  if (rep % 2 == 0) t.push_back(tbb());
}

// parallel_for, uneven body: iteration i costs i/4 steps of an LCG.
inline void uneven(std::int64_t i) {
  std::uint64_t x = static_cast<std::uint64_t>(i);
  for (std::int64_t k = 0; k < i / 4; ++k) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  surge_bench::do_not_optimize(x);
}

double pfor_uneven_surge(surge::thread_pool& pool, std::int64_t n) {
  return surge_bench::time_ns(
             [&] { surge::parallel_for(pool, std::int64_t{0}, n, [](std::int64_t i) { uneven(i); }); }) /
         1e6;
}

double pfor_uneven_tbb(std::int64_t n) {
  return surge_bench::time_ns([&] { tbb::parallel_for(std::int64_t{0}, n, [](std::int64_t i) { uneven(i); }); }) / 1e6;
}

// --sweep: fire-and-forget cost as the task grows from empty to 10 us, and
// parallel_for with a cheap body as the range grows from 10^3 to 10^8.
void sweep(const surge_bench::options& opts, surge_bench::report& rep) {
  for (const double task_ns : {0.0, 100.0, 1'000.0, 10'000.0}) {
    const std::uint64_t steps = task_ns == 0 ? 0 : steps_for_ns(task_ns);
    // about 0.2 s of work per run (1M tasks at most)
    const auto n = static_cast<std::size_t>(
        std::clamp(2e8 / std::max(task_ns, 200.0), 1'000.0, opts.quick ? 5'000.0 : 1'000'000.0));
    const std::string sc = fmt::format("post {} tasks of ~{} ns", n, task_ns);
    if (!surge_bench::selected(opts, sc)) continue;
    std::vector<double> s, a, t;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(post_surge(n, steps));
      a.push_back(post_asio(n, steps));
      t.push_back(post_tbb(n, steps));
    }
    rep.add({sc, "surge post", surge_bench::median(s), "ns/task", better::lower});
    rep.add({sc, "asio::thread_pool post", surge_bench::median(a), "ns/task", better::lower});
    rep.add({sc, "tbb::task_arena enqueue", surge_bench::median(t), "ns/task", better::lower});
  }
  surge::thread_pool pool(threads());
  for (std::int64_t n = 1'000; n <= (opts.quick ? 100'000 : 100'000'000); n *= 10) {
    const std::string sc = fmt::format("parallel_for {} cheap iterations", n);
    if (!surge_bench::selected(opts, sc)) continue;
    std::vector<double> s, t;
    for (int r = 0; r < opts.reps; ++r)
      run_pair(
          r, s, t, [&] { return pfor_cheap_surge(pool, n); }, [&] { return pfor_cheap_tbb(n); });
    rep.add(
        {sc, "surge parallel_for", surge_bench::median(s) * 1e6 / static_cast<double>(n), "ns/iter", better::lower});
    rep.add({sc, "tbb::parallel_for", surge_bench::median(t) * 1e6 / static_cast<double>(n), "ns/iter", better::lower});
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = surge_bench::parse_args(argc, argv);
  surge_bench::report rep("surge thread_pool / parallel_for vs oneTBB, asio::thread_pool, mutex+packaged_task pool");
  const std::size_t tasks = opts.quick ? 20'000 : 1'000'000;
  const int fib_n = opts.quick ? 22 : 30;
  const std::int64_t cheap_n = opts.quick ? 1'000'000 : 100'000'000;
  const std::int64_t uneven_n = opts.quick ? 2'000 : 20'000;
  const std::string note = std::to_string(threads()) + " threads";
  if (opts.sweep) {
    sweep(opts, rep);
    rep.print(opts);
    return 0;
  }

  const std::string post_sc = "post " + std::to_string(tasks) + " counting tasks from outside";
  if (surge_bench::selected(opts, post_sc)) {
    std::vector<double> s, b, a, t;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(post_surge(tasks));
      b.push_back(post_bulk_surge(tasks));
      a.push_back(post_asio(tasks));
      t.push_back(post_tbb(tasks));
    }
    rep.add({post_sc, "surge post", surge_bench::median(s), "ns/task", better::lower, note});
    rep.add({post_sc, "surge post_bulk", surge_bench::median(b), "ns/task", better::lower, "one call, one wake-up"});
    rep.add({post_sc, "asio::thread_pool post", surge_bench::median(a), "ns/task", better::lower});
    rep.add({post_sc, "tbb::task_arena enqueue", surge_bench::median(t), "ns/task", better::lower});
  }
  const std::string submit_sc = "submit " + std::to_string(tasks) + " tasks, get futures";
  if (surge_bench::selected(opts, submit_sc)) {
    std::vector<double> s, m;
    for (int r = 0; r < opts.reps; ++r) {
      s.push_back(submit_futures<surge::thread_pool>(tasks));
      m.push_back(submit_futures<mutex_pool>(tasks));
    }
    rep.add({submit_sc, "surge submit", surge_bench::median(s), "ns/task", better::lower});
    rep.add({submit_sc, "mutex queue + packaged_task", surge_bench::median(m), "ns/task", better::lower,
             "hand-written baseline"});
  }
  // One pool for the rows below, as TBB keeps one arena: a pool made per
  // repetition had its workers' first touches of their memory (page faults)
  // timed, which TBB's warm arena never pays; one untimed run warms both.
  surge::thread_pool pool(threads());
  const std::string fib_sc = "fork-join fib(" + std::to_string(fib_n) + "), serial below " + std::to_string(fib_cutoff);
  if (surge_bench::selected(opts, fib_sc)) {
    std::vector<double> s, t;
    fib_surge_ms(pool, fib_n);
    fib_tbb_ms(fib_n);
    for (int r = 0; r < opts.reps; ++r)
      run_pair(
          r, s, t, [&] { return fib_surge_ms(pool, fib_n); }, [&] { return fib_tbb_ms(fib_n); });
    rep.add({fib_sc, "surge post + help-while-join", surge_bench::median(s), "ms", better::lower});
    rep.add({fib_sc, "tbb::task_group", surge_bench::median(t), "ms", better::lower});
  }
  const std::string cheap_sc = "parallel_for " + std::to_string(cheap_n) + " cheap iterations";
  const std::string uneven_sc = "parallel_for " + std::to_string(uneven_n) + " uneven iterations (cost ~ i)";
  const bool cheap_on = surge_bench::selected(opts, cheap_sc), uneven_on = surge_bench::selected(opts, uneven_sc);
  if (cheap_on || uneven_on) {
    std::vector<double> s, t, su, tu;
    for (int r = 0; r < opts.reps; ++r) {
      if (cheap_on)
        run_pair(
            r, s, t, [&] { return pfor_cheap_surge(pool, cheap_n); }, [&] { return pfor_cheap_tbb(cheap_n); });
      if (uneven_on)
        run_pair(
            r, su, tu, [&] { return pfor_uneven_surge(pool, uneven_n); }, [&] { return pfor_uneven_tbb(uneven_n); });
    }
    if (cheap_on) {
      rep.add({cheap_sc, "surge parallel_for", surge_bench::median(s), "ms", better::lower});
      rep.add({cheap_sc, "tbb::parallel_for", surge_bench::median(t), "ms", better::lower});
    }
    if (uneven_on) {
      rep.add({uneven_sc, "surge parallel_for", surge_bench::median(su), "ms", better::lower});
      rep.add({uneven_sc, "tbb::parallel_for", surge_bench::median(tu), "ms", better::lower});
    }
  }
  rep.print(opts);
}
