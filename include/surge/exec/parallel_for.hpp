/// @file surge/exec/parallel_for.hpp
/// parallel_for over an integer range on a surge::thread_pool: recursive
/// halving so idle workers steal the big halves, the caller helps.
#ifndef SURGE_EXEC_PARALLEL_FOR_HPP
#define SURGE_EXEC_PARALLEL_FOR_HPP

#include <surge/detail/backoff.hpp>
#include <surge/exec/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace surge {

namespace detail {

template <class I, class Body>
struct parallel_for_job {
  parallel_for_job(thread_pool& p, Body& b, I g) noexcept : pool(&p), body(&b), grain(g) {}

  thread_pool* pool;
  Body* body;
  I grain;
  std::atomic<std::size_t> pending{1};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  // The last piece reports under the mutex, so the waiter (which owns this
  // job on its stack) cannot return while the reporter still touches it.
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;

  using U = std::make_unsigned_t<I>;
  static U distance(I lo, I hi) noexcept { return static_cast<U>(static_cast<U>(hi) - static_cast<U>(lo)); }

  void fail(std::exception_ptr e) noexcept {
    if (!failed.exchange(true, std::memory_order_acq_rel)) error = std::move(e);
  }

  // The loop in a function of its own, not inlined into run(): there g++ 12
  // kept the counter on the stack and stored and reloaded it on every
  // iteration of a body that clobbers memory (half TBB's speed on a cheap
  // body); here it stays in a register. One call per piece.
  [[gnu::noinline]] static void run_range(Body& b, I lo, I hi) {
    for (I i = lo; i < hi; ++i) b(i);
  }

  /// Runs [lo, hi): splits off the upper half as a task while it is larger
  /// than the grain (thieves take the oldest, i.e. the biggest, halves), then
  /// runs what is left. Never throws: body exceptions are recorded.
  void run(I lo, I hi) noexcept {
    while (distance(lo, hi) > static_cast<U>(grain) && !failed.load(std::memory_order_relaxed)) {
      const I mid = static_cast<I>(static_cast<U>(lo) + distance(lo, hi) / 2);
      pending.fetch_add(1, std::memory_order_relaxed);
      try {
        pool->post([this, mid, hi] { run(mid, hi); });
      } catch (...) {  // only from outside the pool after shutdown, or bad_alloc
        pending.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
      hi = mid;
    }
    if (!failed.load(std::memory_order_relaxed)) {
      try {
        run_range(*body, lo, hi);
      } catch (...) {
        fail(std::current_exception());
      }
    }
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(mutex);
      done = true;
      cv.notify_all();
    }
  }

  /// Waits for every piece, running pool tasks meanwhile. On a worker it
  /// never blocks (the pieces it waits for may sit in its own deque or need
  /// it); elsewhere it blocks once nothing is left to help with.
  void wait(bool on_worker) {
    backoff<64, 16> b;
    while (pending.load(std::memory_order_acquire) != 0) {
      if (pool->run_pending_task()) {
        b.reset();
      } else if (b.spinning() || on_worker) {
        b.pause();
      } else {
        break;
      }
    }
    std::unique_lock lock(mutex);
    cv.wait(lock, [this] { return done; });
  }
};

/// How long the caller runs a range alone before it splits the rest: about
/// what it costs to wake a sleeping worker and hand it a piece (a futex wake
/// and a context switch are microseconds), so a range cheaper than that is
/// not worth sharing.
inline constexpr std::chrono::nanoseconds parallel_for_serial_budget{5'000};

/// Runs the front of [lo, hi) on the calling thread in chunks of 1, 2, 4, ...
/// indices (never more than `grain`) until the range is done or the work so
/// far took parallel_for_serial_budget; returns where it stopped. A body
/// exception propagates (nothing else has started).
template <class I, class Body>
I run_serial_prefix(Body& body, I lo, I hi, I grain) {
  using job = parallel_for_job<I, Body>;
  using U = typename job::U;
  const auto start = std::chrono::steady_clock::now();
  U chunk = 1;
  while (lo < hi) {
    const U step = std::min({chunk, job::distance(lo, hi), static_cast<U>(grain)});
    const I end = static_cast<I>(static_cast<U>(lo) + step);
    job::run_range(body, lo, end);
    lo = end;
    if (std::chrono::steady_clock::now() - start >= parallel_for_serial_budget) break;
    if (chunk <= std::numeric_limits<U>::max() / 2) chunk *= 2;
  }
  return lo;
}

}  // namespace detail

/// Calls `body(i)` for every i in [first, last) on `pool`, and returns when
/// all calls have finished. The calling thread first runs the front of the
/// range alone, in growing chunks, for up to about 5 µs (what waking a worker
/// costs): a range cheaper than that never leaves the caller. The rest is
/// halved recursively down to pieces of at most `grain` indices; halves are
/// posted so idle workers steal them (uneven work balances itself). The
/// calling thread takes part: it runs the first piece and, while waiting,
/// other queued tasks of the pool — so a nested parallel_for from inside a
/// task never deadlocks.
///
/// Exceptions: the first exception thrown by `body` is rethrown to the caller
/// after every started piece has finished; pieces not yet started are skipped.
/// Throws std::invalid_argument if `grain` is 0 (or negative). An empty or
/// reversed range does nothing. Called from outside the pool after its
/// shutdown, nothing can be posted and the caller runs the whole range itself.
///
/// Complexity: O(n) body calls, O(n / grain) tasks. Thread-safe.
template <std::integral I, class Body>
requires std::invocable<Body&, I>
void parallel_for(thread_pool& pool, I first, std::type_identity_t<I> last, std::type_identity_t<I> grain,
                  Body&& body) {
  if (!(grain > 0)) throw std::invalid_argument("surge::parallel_for: grain must be at least 1");
  if (!(first < last)) return;
  using B = std::remove_reference_t<Body>;
  first = detail::run_serial_prefix<I, B>(body, first, last, grain);
  if (!(first < last)) return;
  detail::parallel_for_job<I, B> job(pool, body, grain);
  job.run(first, last);
  job.wait(pool.this_thread_index() != thread_pool::npos);
  if (job.error) std::rethrow_exception(job.error);
}

/// As above with an automatic grain: the range is cut into about 16 pieces
/// per worker (at least 1 index each).
template <std::integral I, class Body>
requires std::invocable<Body&, I>
void parallel_for(thread_pool& pool, I first, std::type_identity_t<I> last, Body&& body) {
  if (!(first < last)) return;
  using U = std::make_unsigned_t<I>;
  const auto n = static_cast<std::uint64_t>(static_cast<U>(static_cast<U>(last) - static_cast<U>(first)));
  std::uint64_t g = n / (static_cast<std::uint64_t>(pool.size()) * 16u);
  g = std::clamp<std::uint64_t>(g, 1, static_cast<std::uint64_t>(std::numeric_limits<I>::max()));
  parallel_for(pool, first, last, static_cast<I>(g), std::forward<Body>(body));
}

}  // namespace surge

#endif  // SURGE_EXEC_PARALLEL_FOR_HPP
