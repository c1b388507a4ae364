/// @file surge/exec/parallel_for.hpp
/// parallel_for over an integer range on a surge::thread_pool: recursive
/// halving so idle workers steal the big halves, the caller helps.
#ifndef SURGE_EXEC_PARALLEL_FOR_HPP
#define SURGE_EXEC_PARALLEL_FOR_HPP

#include <surge/detail/backoff.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/exec/detail/inline_resume.hpp>
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

/// Decides when a parallel_for may hand work to other workers: only once the
/// loop has run for `delay`. Waking a sleeper costs the poster a futex call (a
/// few microseconds on a virtual machine, more than a small loop's whole work)
/// and the sleeper as long again to get going; even a worker already spinning
/// for work costs the line transfers of the posted piece and then a wait for
/// the slower half, more than it saves on a loop of a few microseconds. Such
/// a loop is done sooner by its caller alone.
///
/// Pieces show it their clock readings (`observe`); the first reading
/// `delay` past the start opens it, and it stays open. Thread-safe (relaxed
/// atomics).
template <class Clock>
class handoff_gate {
 public:
  handoff_gate(typename Clock::time_point start, typename Clock::duration delay) noexcept
      : start_(start), delay_(delay) {}

  /// Whether work may be handed to another worker now.
  [[nodiscard]] bool is_open() const noexcept { return open_.load(std::memory_order_relaxed); }

  /// Opens the gate if `now` is at least the delay past the start; returns
  /// whether it is open.
  bool observe(typename Clock::time_point now) noexcept {
    if (is_open()) return true;
    if (now - start_ < delay_) return false;
    open_.store(true, std::memory_order_relaxed);
    return true;
  }

 private:
  typename Clock::time_point start_;
  typename Clock::duration delay_;
  std::atomic<bool> open_{false};
};

/// How long a parallel_for runs before it hands work to other workers.
inline constexpr std::chrono::microseconds parallel_for_handoff_delay{5};
/// How long a piece of an automatic-grain loop aims to run between two looks
/// for demand: an idle worker waits one or two of these for work (less than
/// waking a sleeping worker takes on a virtual machine), and a piece pays one
/// clock reading and a few loads per look (about 0.2 %; at 2 µs they cost a
/// cheap body about 1 %).
inline constexpr std::chrono::microseconds parallel_for_look_interval{10};

/// The chunks one piece of an automatic-grain loop runs between looks for
/// demand. They start at 1 index and double; until the loop's gate opens the
/// clock is read after the 1st, 2nd, 4th, 8th ... chunk only (so a loop of a
/// few microseconds reads it O(log n) times) and shown to the gate; from then
/// on it is read after every chunk, and the chunk doubles while one runs
/// shorter than `interval`, halves when one runs longer than twice that. So
/// looks come about every `interval` whatever a body costs, and a body whose
/// cost changes along the range is followed. Chunks never exceed `max`
/// (at least 1). Not thread-safe: one per piece.
template <class Clock>
class chunk_pacer {
 public:
  chunk_pacer(std::uint64_t max, typename Clock::duration interval) noexcept
      : max_(std::max<std::uint64_t>(max, 1)), interval_(interval) {}

  /// Indices in the next chunk.
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

  /// Call after each chunk.
  void next(handoff_gate<Clock>& gate) noexcept {
    ++chunks_;
    const bool every = gate.is_open();
    if (!every && (chunks_ & (chunks_ - 1)) != 0) {  // not a power of two: the clock is not read
      timed_ = false;
      grow();
      return;
    }
    const auto now = Clock::now();
    gate.observe(now);
    if (!timed_ || now - last_ < interval_)
      grow();
    else if (now - last_ > 2 * interval_ && size_ > 1)
      size_ /= 2;
    timed_ = every;
    last_ = now;
  }

 private:
  void grow() noexcept { size_ = std::min(size_ * 2, max_); }

  std::uint64_t max_;
  typename Clock::duration interval_;
  std::uint64_t size_ = 1;
  std::uint64_t chunks_ = 0;
  bool timed_ = false;  // last_ was read right after the chunk before this one
  typename Clock::time_point last_{};
};

template <class I, class Body, class Clock = std::chrono::steady_clock>
struct parallel_for_job {
  parallel_for_job(thread_pool& p, Body& b, I g, typename Clock::time_point start = {}) noexcept
      : pool(&p), body(&b), grain(g), gate(start, parallel_for_handoff_delay) {}

  // The caller takes part in the loop and then waits for it: made inside a
  // coroutine this thread's trampoline runs, the coroutines it queued behind
  // that one run first, as a suspension would let them (the loop may need
  // them), and those woken meanwhile run at once (as sync_wait does).
  blocking_scope blocking;
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

  // Adaptive mode only: pieces posted but not yet started, the largest
  // number of indices run between two looks for demand, and the gate on
  // handing work to other workers.
  std::atomic<std::size_t> queued{0};
  std::uint64_t max_chunk = 1;
  handoff_gate<Clock> gate;
  // Threads in wait() with nothing to run (the caller; a worker waiting for a
  // nested loop): demand, as an idle worker is. A caller outside the pool is
  // invisible to the pool's counts, so without this a loop whose workers are
  // all busy would never give it work back once its own piece is done. A
  // piece posted while one waits sets `offered` (under the mutex) and wakes it.
  std::atomic<std::uint32_t> idle_helpers{0};
  bool offered = false;

  using U = std::make_unsigned_t<I>;
  static U distance(I lo, I hi) noexcept { return static_cast<U>(static_cast<U>(hi) - static_cast<U>(lo)); }
  static I midpoint(I lo, I hi) noexcept { return static_cast<I>(static_cast<U>(lo) + distance(lo, hi) / 2); }

  void fail(std::exception_ptr e) noexcept {
    if (!failed.exchange(true, std::memory_order_acq_rel)) error = std::move(e);
  }

  // The loop in a function of its own, not inlined into run(): there g++ 12
  // kept the counter on the stack and stored and reloaded it on every
  // iteration of a body that clobbers memory (half TBB's speed on a cheap
  // body); here it stays in a register. One call per chunk. Four indices per
  // round: a body of a cycle or two then pays one loop branch per four, and
  // its speed depends less on where the loop lands in the binary.
  [[gnu::noinline]] static void run_range(Body& b, I lo, I hi) {
    const auto at = [lo](U k) { return static_cast<I>(static_cast<U>(lo) + k); };
    const U n = distance(lo, hi);
    U k = 0;
    for (; n - k >= 4; k += 4) {
      b(at(k));
      b(at(k + 1));
      b(at(k + 2));
      b(at(k + 3));
    }
    for (; k < n; ++k) b(at(k));
  }

  /// Runs [lo, hi): splits off the upper half as a task while it is larger
  /// than the grain (thieves take the oldest, i.e. the biggest, halves), then
  /// runs what is left. Never throws: body exceptions are recorded.
  void run(I lo, I hi) noexcept {
    while (distance(lo, hi) > static_cast<U>(grain) && !failed.load(std::memory_order_relaxed)) {
      const I mid = midpoint(lo, hi);
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
    finish_piece();
  }

  void finish_piece() noexcept {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(mutex);
      done = true;
      cv.notify_all();
    }
  }

  /// Adaptive mode (the automatic grain): splits on demand, like TBB's
  /// auto_partitioner and rayon's adaptive splitter. A piece runs its range
  /// front to back in chunks of about parallel_for_look_interval each
  /// (chunk_pacer); between chunks it looks whether the loop has run long
  /// enough to be worth a hand-off (handoff_gate), whether someone wants work
  /// -- a worker spins looking for some, or sleeps, or a thread in wait() has
  /// run out (idle_helpers) -- and whether none of this loop's pieces is
  /// already waiting in a queue. Only then does it post the upper half of what
  /// it has left. So a loop on a busy pool is cut into a handful of pieces,
  /// one per worker that comes for work, instead of into a fixed number; a
  /// worker that runs out of work (and starts spinning) gets half of
  /// someone's remainder within one chunk; a loop shorter than the gate's
  /// delay runs on its caller alone.
  /// Never throws: body exceptions are recorded.
  void run_adaptive(I lo, I hi) noexcept {
    chunk_pacer<Clock> pace(max_chunk, parallel_for_look_interval);
    while (lo != hi && !failed.load(std::memory_order_relaxed)) {
      if (distance(lo, hi) >= 2 && queued.load(std::memory_order_relaxed) == 0 && wants_work() &&
          post_adaptive(midpoint(lo, hi), hi))
        hi = midpoint(lo, hi);
      const std::uint64_t chunk = pace.size();
      const I end = distance(lo, hi) > chunk ? static_cast<I>(static_cast<U>(lo) + static_cast<U>(chunk)) : hi;
      try {
        run_range(*body, lo, end);
      } catch (...) {
        fail(std::current_exception());
      }
      lo = end;
      pace.next(gate);
    }
    finish_piece();
  }

  bool wants_work() const noexcept {
    return gate.is_open() && (idle_helpers.load(std::memory_order_relaxed) != 0 ||
                              pool_access::searching(*pool) || pool_access::sleeping(*pool));
  }

  bool post_adaptive(I lo, I hi) noexcept {
    pending.fetch_add(1, std::memory_order_relaxed);
    queued.fetch_add(1, std::memory_order_relaxed);
    try {
      pool->post([this, lo, hi] {
        queued.fetch_sub(1, std::memory_order_relaxed);
        run_adaptive(lo, hi);
      });
    } catch (...) {  // only from outside the pool after shutdown, or bad_alloc
      queued.fetch_sub(1, std::memory_order_relaxed);
      pending.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    if (idle_helpers.load(std::memory_order_relaxed) != 0) {
      {
        std::lock_guard lock(mutex);
        offered = true;
      }
      cv.notify_all();
    }
    return true;
  }

  /// Waits for every piece, running pool tasks meanwhile; with nothing to
  /// run it counts as demand (idle_helpers), so the pieces still running
  /// hand it half of what they have left. On a worker it never blocks (the
  /// pieces it waits for may sit in its own deque or need it); elsewhere,
  /// after spinning a while, it blocks until the loop is done or a piece is
  /// offered to it.
  void wait(bool on_worker) {
    backoff<64, 16> b;
    bool idle = false;
    const auto set_idle = [&](bool now_idle) {
      if (now_idle == idle) return;
      if (now_idle)
        idle_helpers.fetch_add(1, std::memory_order_relaxed);
      else
        idle_helpers.fetch_sub(1, std::memory_order_relaxed);
      idle = now_idle;
    };
    while (pending.load(std::memory_order_acquire) != 0) {
      if (pool->run_pending_task()) {
        set_idle(false);
        b.reset();
        continue;
      }
      set_idle(true);
      if (b.spinning() || on_worker) {
        b.pause();
        continue;
      }
      std::unique_lock lock(mutex);
      cv.wait(lock, [this] { return done || offered; });
      offered = false;
      b.reset();
    }
    set_idle(false);
    std::unique_lock lock(mutex);
    cv.wait(lock, [this] { return done; });
  }
};

/// The index and grain types parallel_for takes: any integer type but bool
/// (character types included).
template <class T>
concept loop_integer = std::integral<T> && !std::same_as<std::remove_cv_t<T>, bool>;

/// The signed or unsigned integer type with the values of T: T itself, or
/// for a character type the one of its size and signedness
/// (std::cmp_less_equal and std::in_range refuse character types).
template <loop_integer T>
using standard_integer_t = std::conditional_t<std::is_signed_v<T>, std::make_signed_t<T>, std::make_unsigned_t<T>>;

/// The end of [first, last) as an index of type I, `last` being any integer
/// type but bool, compared by value (not converted first): `first` when the
/// range is empty (a `last` below I's minimum included), `last` itself when
/// I holds it. Throws std::invalid_argument when `last` is above I's maximum
/// and above `first`: the range's indices would not fit in I.
template <loop_integer I, class L>
I loop_end(I first, L last) {
  static_assert(loop_integer<L>,
                "surge::parallel_for: last must be an integer (not bool, not floating point), like first");
  if constexpr (loop_integer<L>) {
    const auto l = static_cast<standard_integer_t<L>>(last);
    if (std::cmp_less_equal(l, static_cast<standard_integer_t<I>>(first))) return first;
    if (!std::in_range<standard_integer_t<I>>(l))
      throw std::invalid_argument("surge::parallel_for: last is above the largest value of first's type");
    return static_cast<I>(l);
  } else {
    return first;
  }
}

/// The adaptive parallel_for, its hand-off gate on `Clock` (a test drives it
/// with a manual clock).
template <class Clock, class I, class Body>
void parallel_for_adaptive(thread_pool& pool, I first, I last, Body& body) {
  if (!(first < last)) return;
  parallel_for_job<I, Body, Clock> job(pool, body, I{1}, Clock::now());
  // Chunks between looks for demand: at most about 1/64 of each worker's
  // share (at least 64 indices), and in time about the look interval.
  const auto n = static_cast<std::uint64_t>(job.distance(first, last));
  job.max_chunk = std::max<std::uint64_t>(n / (static_cast<std::uint64_t>(pool.size()) * 64u), 64);
  job.run_adaptive(first, last);
  job.wait(pool.this_thread_index() != thread_pool::npos);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace detail

/// Calls `body(i)` for every i in [first, last) on `pool`, and returns when
/// all calls have finished. The range is halved recursively down to pieces of
/// at most `grain` indices; halves are posted so idle workers steal them
/// (uneven work balances itself). The calling thread takes part: it runs the
/// first piece and, while waiting, other queued tasks of the pool — so a
/// nested parallel_for from inside a task never deadlocks. Called from a
/// coroutine that an async_mutex unlock, a release, a send or a close resumed
/// on this thread, it first runs the coroutines those woke on this thread
/// before the call (as sync_wait does), which the loop may need.
///
/// Exceptions: the first exception thrown by `body` is rethrown to the caller
/// after every started piece has finished; pieces not yet started are skipped.
/// `first` and `last` are of any integer type but bool (character types
/// included), `grain` of any integer type but bool or a character type; a
/// bool index, a bool or character grain, or a floating-point `last`, does
/// not compile. The indices are of `first`'s type; `last` may be of another
/// integer type and is compared by value, not converted first: a `last`
/// at or below `first` (one below `first`'s type's minimum included) is an
/// empty range, and one above the largest value of `first`'s type throws
/// std::invalid_argument (`parallel_for(pool, 0, v.size(), ...)` with a size
/// above INT_MAX is refused, not wrapped). Throws std::invalid_argument if
/// `grain` is 0 or negative (judged in its own integer type, before any
/// conversion: -1 is refused for an unsigned index too); a grain above the
/// index type's maximum means one piece. An empty or reversed range does
/// nothing. Called from outside the pool after
/// its shutdown, nothing can be posted and the caller runs the whole range
/// itself.
///
/// Complexity: O(n) body calls, O(n / grain) tasks. Thread-safe.
template <std::integral I, class L, std::integral G, class Body>
requires std::invocable<Body&, I>
void parallel_for(thread_pool& pool, I first, L last, G grain, Body&& body) {
  static_assert(detail::loop_integer<I>, "surge::parallel_for: a bool is not a loop index; use an integer type");
  static_assert(!detail::not_a_count<G>,
                "surge::parallel_for: a bool or a character is not a grain; pass the number of indices per piece");
  if constexpr (detail::loop_integer<I> && !detail::not_a_count<G>) {  // else the assertion is the one error
    const auto n = static_cast<detail::standard_integer_t<G>>(grain);
    if (std::cmp_less_equal(n, 0)) throw std::invalid_argument("surge::parallel_for: grain must be at least 1");
    const I end = detail::loop_end(first, last);
    if (!(first < end)) return;
    const I g = std::in_range<detail::standard_integer_t<I>>(n) ? static_cast<I>(n) : std::numeric_limits<I>::max();
    using B = std::remove_reference_t<Body>;
    detail::parallel_for_job<I, B> job(pool, body, g);
    job.run(first, end);
    job.wait(pool.this_thread_index() != thread_pool::npos);
    if (job.error) std::rethrow_exception(job.error);
  }
}

/// As above, with the range split on demand instead of down to a fixed grain:
/// the caller starts on the whole range, and whoever runs a piece hands the
/// upper half of its remainder to the pool whenever a worker is idle (spinning
/// for work or asleep) or a thread waiting for this loop has nothing left to
/// run (the caller), no piece of this loop is already queued and the loop
/// has run for 5 µs (a shorter loop runs on the caller alone: a hand-off would
/// cost more than it saves). A piece looks for demand about every 10 µs of
/// work (it times its chunks of indices, so this holds for cheap and costly
/// bodies alike, and for a body whose cost changes along the range), so idle
/// workers get work within about 20 µs of asking. A loop on a busy pool is
/// cut into a few pieces; single indices can be split off, so a few very
/// costly indices still spread over the workers.
///
/// Complexity: O(n) body calls, O(workers · log n) tasks typically. Index
/// types, throws and thread safety as above.
template <std::integral I, class L, class Body>
requires std::invocable<Body&, I>
void parallel_for(thread_pool& pool, I first, L last, Body&& body) {
  static_assert(detail::loop_integer<I>, "surge::parallel_for: a bool is not a loop index; use an integer type");
  if constexpr (detail::loop_integer<I>)
    detail::parallel_for_adaptive<std::chrono::steady_clock>(pool, first, detail::loop_end(first, last), body);
}

}  // namespace surge

#endif  // SURGE_EXEC_PARALLEL_FOR_HPP
