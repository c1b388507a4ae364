// Resilience: ns per call of a circuit breaker's closed path (permission, then
// the outcome recorded in a count-based window of 100 calls with a threshold
// check), 1 and 2 threads on one breaker: surge::circuit_breaker against a
// hand-written baseline, a breaker whose permission is an atomic load (as in
// resilience4j's closed state) and whose count window (ring of outcomes plus
// running counts, thresholds checked after each outcome) sits behind one
// std::mutex (resilience4j's FixedSizeSlidingWindowMetrics is synchronized).
// Every 16th outcome is a failure (6.25 %: the breaker stays closed). The
// floor printed beside: one uncontended atomic fetch_add measured in the same
// run. All rows of a scenario alternate, medians reported.
#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/resilience/circuit_breaker.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench.hpp"

namespace {

/// The baseline (hand-written): permission is an atomic load of the state;
/// each outcome updates a ring of the last `size` outcomes and the running
/// counts under a mutex, then checks the thresholds.
class mutex_count_breaker {
 public:
  explicit mutex_count_breaker(std::size_t size) : ring_(size, 0), min_calls_(size) {}
  bool try_acquire_permission() noexcept { return !open_.load(std::memory_order_acquire); }
  void on_success(std::chrono::nanoseconds elapsed) { record(false, elapsed); }
  void on_failure(std::chrono::nanoseconds elapsed) { record(true, elapsed); }

 private:
  void record(bool failed, std::chrono::nanoseconds elapsed) {
    const bool slow = elapsed > std::chrono::seconds(60);
    const std::uint8_t outcome = static_cast<std::uint8_t>(1 | (failed ? 2 : 0) | (slow ? 4 : 0));
    std::lock_guard lock(m_);
    const std::uint8_t old = ring_[head_];
    ring_[head_] = outcome;
    head_ = head_ + 1 == ring_.size() ? 0 : head_ + 1;
    calls_ += 1 - (old & 1);
    failed_ += (failed ? 1 : 0) - ((old >> 1) & 1);
    slow_ += (slow ? 1 : 0) - ((old >> 2) & 1);
    if (calls_ >= min_calls_ &&
        (failed_ * 100.0 / static_cast<double>(calls_) >= 50.0 || slow_ * 100.0 / static_cast<double>(calls_) >= 100.0))
      open_.store(true, std::memory_order_release);
  }

  alignas(surge::detail::cache_line_size) std::atomic<bool> open_{false};
  alignas(surge::detail::cache_line_size) std::mutex m_;
  std::vector<std::uint8_t> ring_;
  std::size_t head_ = 0;
  std::size_t calls_ = 0, failed_ = 0, slow_ = 0;
  std::size_t min_calls_;
};

/// ns per call (wall time / all calls) with `threads` threads calling
/// permission + outcome on `b`; adds the calls refused permission to `refused`
/// (none while the breaker stays closed, as it should here).
template <class B>
double closed_path_ns(B& b, unsigned threads, std::uint64_t ops_per_thread, std::atomic<std::uint64_t>& refused) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (unsigned k = 0; k < threads; ++k)
    pool.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) surge::detail::cpu_relax();
      std::uint64_t refused_here = 0;
      for (std::uint64_t i = 0; i < ops_per_thread; ++i) {
        if (!b.try_acquire_permission()) {
          ++refused_here;
          continue;
        }
        if (i % 16 == 15) {
          b.on_failure(std::chrono::milliseconds(1));
        } else {
          b.on_success(std::chrono::milliseconds(1));
        }
      }
      refused.fetch_add(refused_here, std::memory_order_relaxed);
    });
  while (ready.load() < threads) std::this_thread::yield();
  const double ns = surge_bench::time_ns([&] {
    go.store(true, std::memory_order_release);
    for (auto& t : pool) t.join();
  });
  return ns / static_cast<double>(threads * ops_per_thread);
}

/// One uncontended atomic fetch_add (the machine's floor for a write to shared state).
double atomic_rmw_ns(std::uint64_t ops) {
  alignas(surge::detail::cache_line_size) std::atomic<std::uint64_t> x{0};
  const double ns = surge_bench::time_ns([&] {
    for (std::uint64_t i = 0; i < ops; ++i) x.fetch_add(1, std::memory_order_acq_rel);
  });
  surge_bench::do_not_optimize(x.load());
  return ns / static_cast<double>(ops);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = surge_bench::parse_args(argc, argv);
  using surge_bench::better;
  const std::uint64_t ops = opts.quick ? 100'000 : 4'000'000;
  surge_bench::report rep(
      "surge resilience: circuit_breaker closed path (permission + outcome, count window 100) vs a "
      "mutex-guarded count window (hand-written baseline)");
  const surge::circuit_breaker_options o{.window_size = 100, .minimum_calls = 100};
  for (unsigned threads : {1u, 2u}) {
    const std::string sc = "permission + outcome, " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : "");
    if (!surge_bench::selected(opts, sc)) continue;
    std::vector<double> s, m, floor;
    std::atomic<std::uint64_t> s_refused{0}, m_refused{0};
    for (int r = 0; r < opts.reps; ++r) {
      {
        surge::circuit_breaker<> b(o);
        s.push_back(closed_path_ns(b, threads, ops / threads, s_refused));
      }
      {
        mutex_count_breaker b(100);
        m.push_back(closed_path_ns(b, threads, ops / threads, m_refused));
      }
      floor.push_back(atomic_rmw_ns(ops));
    }
    const double sv = surge_bench::median(s), mv = surge_bench::median(m);
    const double goal = threads > 1 ? 3.0 : 1.5;
    // a refused call skips the outcome: the rows would no longer do the same work
    const std::uint64_t refused = s_refused.load() + m_refused.load();
    rep.add({sc, "surge circuit_breaker", sv, "ns/call", better::lower,
             refused > 0 ? fmt::format("not comparable: {} calls refused by surge, {} by the baseline (a breaker "
                                       "opened)",
                                       s_refused.load(), m_refused.load())
                         : fmt::format("{}{:.2f}x the baseline (goal >= {:.1f}x: {})",
                                       threads > 1 ? "wall time / all calls; " : "", mv / sv, goal,
                                       mv / sv >= goal ? "met" : "MISSED")});
    rep.add({sc, "mutex count window (hand-written)", mv, "ns/call", better::lower,
             mv < sv && refused == 0
                 ? "hand-written baseline; peer wins: its closed path is one atomic load and one uncontended "
                   "mutex, where surge adds the stripe and window bookkeeping"
                 : "hand-written baseline: resilience4j's design, permission an atomic load, window behind a mutex"});
    rep.add({sc, "floor: one atomic fetch_add", surge_bench::median(floor), "ns", better::lower,
             "uncontended, measured beside the rows"});
  }
  rep.print(opts);
}
