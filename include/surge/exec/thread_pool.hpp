/// @file surge/exec/thread_pool.hpp
/// A work-stealing thread pool: per-worker Chase–Lev deques, a shared injection
/// queue for submissions from outside, futures, fire-and-forget tasks with an
/// exception handler, batch submission, wait_idle, and a coroutine awaitable.
#ifndef SURGE_EXEC_THREAD_POOL_HPP
#define SURGE_EXEC_THREAD_POOL_HPP

#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/exec/detail/inline_resume.hpp>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace surge {

class thread_pool;

namespace detail {

struct pool_access;

/// A type-erased, trivially copyable task record of four machine words: a
/// function pointer and 24 bytes of payload. A callable that is trivially
/// copyable, at most 24 bytes and at most 8-byte aligned (a lambda capturing a
/// few pointers or integers, a coroutine handle) is stored in the payload, so
/// posting it allocates nothing; any other callable is moved into a heap box
/// whose pointer is the payload. Records are copied bitwise between queues;
/// each is either run once or discarded once.
struct pool_task {
  using fn_type = void (*)(unsigned char* payload, bool run);
  static constexpr std::size_t payload_size = 3 * sizeof(void*);

  fn_type fn = nullptr;
  alignas(alignof(void*)) unsigned char payload[payload_size]{};

  template <class F>
  static constexpr bool stored_inline = std::is_trivially_copyable_v<F> && sizeof(F) <= payload_size &&
                                        alignof(F) <= alignof(void*);

  /// Wraps `f` (decay-copied). Throws what F's constructor or `new` throws.
  template <class Fn>
  static pool_task make(Fn&& f) {
    using F = std::decay_t<Fn>;
    pool_task t;
    if constexpr (stored_inline<F>) {
      ::new (static_cast<void*>(t.payload)) F(std::forward<Fn>(f));
      t.fn = [](unsigned char* p, bool run) {
        if (run) (*std::launder(reinterpret_cast<F*>(p)))();
      };
    } else {
      F* box = new F(std::forward<Fn>(f));
      std::memcpy(t.payload, &box, sizeof(box));
      t.fn = [](unsigned char* p, bool run) {
        F* raw = nullptr;
        std::memcpy(&raw, p, sizeof(raw));
        std::unique_ptr<F> owned(raw);
        if (run) (*owned)();
      };
    }
    return t;
  }

  /// Runs the task; exceptions from the callable propagate (the box is freed).
  void run() { fn(payload, true); }
  /// Destroys the task without running it.
  void discard() noexcept { fn(payload, false); }
};
static_assert(std::is_trivially_copyable_v<pool_task> && sizeof(pool_task) == 4 * sizeof(void*));

/// Chase–Lev work-stealing deque of pool_task records (Lê, Pop, Cohen and
/// Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak Memory
/// Models", PPoPP 2013). The owner pushes and pops at the bottom (LIFO);
/// any other thread steals from the top (FIFO). Unbounded: the ring doubles
/// when full; retired rings are kept until the deque dies, because a thief
/// may still read a slot of the ring it loaded (a slot it then fails to claim).
/// Slots are arrays of atomic words, so a thief's read of a slot the owner is
/// rewriting is not a data race (the thief then loses its CAS and discards it).
///
/// push/pop: owner thread only, amortised O(1), lock-free. steal: any thread,
/// O(1), lock-free (may fail spuriously with `lost` under contention).
class ws_deque {
 public:
  enum class steal_result { empty, lost, ok };

  explicit ws_deque(std::size_t capacity = 256) {
    rings_.push_back(std::make_unique<ring>(capacity));
    ring_.store(rings_.back().get(), std::memory_order_relaxed);
  }
  ws_deque(const ws_deque&) = delete;
  ws_deque& operator=(const ws_deque&) = delete;
  ~ws_deque() {
    pool_task t;
    while (pop(t)) t.discard();
  }

  /// Owner only. Throws std::bad_alloc if the ring must grow and cannot.
  void push(const pool_task& t) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    const std::int64_t top = top_.load(std::memory_order_acquire);
    ring* r = ring_.load(std::memory_order_relaxed);
    if (b - top > r->mask) r = grow(r, top, b, static_cast<std::size_t>(r->mask + 1) * 2);
    r->put(b, t);
    // seq_cst (not just release): the pool's wake-up check after a push is a
    // Dekker pair with a sleeping worker's final look at this deque.
    bottom_.store(b + 1, std::memory_order_seq_cst);
  }

  /// Owner only. Makes room for `n` more pushes, which then cannot throw.
  /// Throws std::bad_alloc (deque unchanged). O(size) if it grows.
  void reserve(std::size_t n) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    const std::int64_t top = top_.load(std::memory_order_acquire);  // thieves only raise it
    ring* r = ring_.load(std::memory_order_relaxed);
    const auto need = static_cast<std::size_t>(b - top) + n;
    auto capacity = static_cast<std::size_t>(r->mask + 1);
    if (need <= capacity) return;
    while (capacity < need) capacity *= 2;
    grow(r, top, b, capacity);
  }

  /// Owner only. Takes the most recently pushed task.
  bool pop(pool_task& out) noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    ring* r = ring_.load(std::memory_order_relaxed);
    // seq_cst store then seq_cst load (the paper's fence, expressed on the
    // accesses themselves: ThreadSanitizer does not model fences).
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t <= b) {
      r->get(b, out);
      if (t == b) {  // the last task: race the thieves for it
        const bool won = top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed);
        bottom_.store(b + 1, std::memory_order_release);
        return won;
      }
      return true;
    }
    bottom_.store(b + 1, std::memory_order_release);
    return false;
  }

  /// Any thread. Takes the oldest task.
  steal_result steal(pool_task& out) noexcept {
    // The C11 Chase-Lev deque (Le, Pop, Cohen, Zappa Nardelli, PPoPP 2013)
    // reads top (acquire), then issues a seq_cst fence, then reads bottom.
    // Here both loads are seq_cst instead. That is enough because every
    // access the fence must order against is seq_cst too: the owner's store
    // of bottom_ and load of top_ in pop(), and every CAS on top_. All of
    // them lie in the single total order S, consistent with each thread's
    // program order, so a thief and the owner racing for the last task cannot
    // both read the other's location before the other's write (the
    // store-load reordering the fence exists to forbid): at least one sees
    // the other, and when both go for the task they meet at the CAS on top_,
    // which only one wins. Written on the accesses, not as fences, because
    // ThreadSanitizer does not model fences.
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return steal_result::empty;
    ring* r = ring_.load(std::memory_order_acquire);
    r->get(t, out);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
      return steal_result::lost;
    return steal_result::ok;
  }

  /// Racy observer: true when the deque looked non-empty.
  [[nodiscard]] bool maybe_nonempty() const noexcept {
    return top_.load(std::memory_order_seq_cst) < bottom_.load(std::memory_order_seq_cst);
  }

 private:
  static constexpr std::size_t words = sizeof(pool_task) / sizeof(std::uintptr_t);
  struct slot {
    std::atomic<std::uintptr_t> w[words];
  };
  struct ring {
    explicit ring(std::size_t capacity) : mask(static_cast<std::int64_t>(capacity) - 1), slots(new slot[capacity]) {}
    std::int64_t mask;
    std::unique_ptr<slot[]> slots;
    void put(std::int64_t i, const pool_task& t) noexcept {
      std::uintptr_t v[words];
      std::memcpy(v, &t, sizeof(t));
      slot& s = slots[static_cast<std::size_t>(i & mask)];
      for (std::size_t k = 0; k < words; ++k) s.w[k].store(v[k], std::memory_order_relaxed);
    }
    void get(std::int64_t i, pool_task& t) const noexcept {
      std::uintptr_t v[words];
      const slot& s = slots[static_cast<std::size_t>(i & mask)];
      for (std::size_t k = 0; k < words; ++k) v[k] = s.w[k].load(std::memory_order_relaxed);
      std::memcpy(&t, v, sizeof(t));
    }
  };

  ring* grow(ring* old, std::int64_t top, std::int64_t bottom, std::size_t capacity) {
    auto bigger = std::make_unique<ring>(capacity);
    pool_task t;
    for (std::int64_t i = top; i < bottom; ++i) {
      old->get(i, t);
      bigger->put(i, t);
    }
    ring* r = bigger.get();
    rings_.push_back(std::move(bigger));
    ring_.store(r, std::memory_order_release);
    return r;
  }

  alignas(destructive_interference_size) std::atomic<std::int64_t> top_{0};
  alignas(destructive_interference_size) std::atomic<std::int64_t> bottom_{0};
  std::atomic<ring*> ring_{nullptr};
  std::vector<std::unique_ptr<ring>> rings_;  // owner only; the last is current
};

/// Unbounded FIFO of pool_task records; the caller serialises access (the
/// pool's injection lock). A power-of-two ring that doubles when full.
class task_ring {
 public:
  task_ring() : buf_(new pool_task[initial]), mask_(initial - 1) {}
  ~task_ring() {
    pool_task t;
    while (pop(t)) t.discard();
  }
  task_ring(const task_ring&) = delete;
  task_ring& operator=(const task_ring&) = delete;

  /// Makes room for n more records. Throws std::bad_alloc (ring unchanged).
  void reserve_more(std::size_t n) {
    if (size_ + n <= mask_ + 1) return;
    std::size_t cap = mask_ + 1;
    while (cap < size_ + n) cap *= 2;
    std::unique_ptr<pool_task[]> bigger(new pool_task[cap]);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = buf_[(head_ + i) & mask_];
    buf_ = std::move(bigger);
    mask_ = cap - 1;
    head_ = 0;
  }
  void push(const pool_task& t) {
    reserve_more(1);
    buf_[(head_ + size_) & mask_] = t;
    ++size_;
  }
  bool pop(pool_task& t) noexcept {
    if (size_ == 0) return false;
    t = buf_[head_];
    head_ = (head_ + 1) & mask_;
    --size_;
    return true;
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::size_t initial = 256;
  std::unique_ptr<pool_task[]> buf_;
  std::size_t mask_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

/// Test-and-test-and-set lock for critical sections of a few nanoseconds,
/// never held across user code. Two rare sections are longer: a queue that
/// grows under it (an allocation and a copy of what is queued, amortised
/// O(1) per task) and shutdown's wake_all (a futex wake per parked worker).
/// Spins with backoff, yielding when the holder is slow (e.g. preempted on
/// an oversubscribed machine).
class spin_lock {
 public:
  void lock() noexcept {
    backoff<32, 1> b;
    while (locked_.exchange(true, std::memory_order_acquire))
      while (locked_.load(std::memory_order_relaxed)) b.pause();
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

/// Test seam of thread_pool, for surge's own tests only: when set, called by
/// work_finished() between its count and its wake-up, the window in which a
/// wait_idle() elsewhere may already see the pool idle.
inline void (*work_finished_hook)() noexcept = nullptr;
/// Test seam of thread_pool, for surge's own tests only: when set, called by
/// a post from outside the pool between the injection lock's release and the
/// wake-up, the window in which a worker may already have run the task and a
/// wait_idle() elsewhere seen the pool idle.
inline void (*outside_post_hook)() noexcept = nullptr;
/// Test seam of thread_pool, for surge's own tests only: when set, called by
/// run_pending_task() on a thread outside the pool between the count of the
/// task it ran and its wake-up, the window in which a wait_idle() elsewhere
/// may already see the pool idle.
inline void (*helped_task_hook)() noexcept = nullptr;

/// One pool whose task the calling thread runs through run_pending_task,
/// and the one it ran that task inside, if any (a task of one pool may help
/// another: the thread is then inside both).
struct helping_frame {
  const thread_pool* pool = nullptr;
  const helping_frame* outer = nullptr;
};

/// The worker the calling thread is, if any (pool and index), and the pools
/// whose tasks it runs through run_pending_task, innermost first.
struct pool_thread_info {
  const thread_pool* pool = nullptr;
  std::size_t index = 0;
  const helping_frame* helping = nullptr;

  /// Whether the thread runs a task of `p` through run_pending_task, at any
  /// depth.
  [[nodiscard]] bool helps(const thread_pool* p) const noexcept {
    for (const helping_frame* f = helping; f != nullptr; f = f->outer)
      if (f->pool == p) return true;
    return false;
  }
};
inline thread_local pool_thread_info current_pool_thread{};

/// Adds one to a counter only its owner thread writes (no locked RMW).
inline void bump_owned(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_release);
}

}  // namespace detail

/// A fixed set of worker threads that run tasks, with work stealing.
///
/// Each worker owns a Chase–Lev deque: tasks posted from a worker go to its
/// own deque, which it runs newest-first (LIFO) while idle workers steal the
/// oldest (FIFO). Tasks posted from other threads go to a shared injection
/// queue that workers drain in batches. A worker that finds nothing spins
/// briefly, then sleeps on an atomic wait; every enqueue that might be missed
/// by a sleeping worker wakes one (no lost wake-ups: a task is never left
/// queued while every worker sleeps), and no syscall is made when none sleeps.
/// No order among tasks is guaranteed.
///
/// Small trivially copyable callables (up to three pointers' worth) are stored
/// in the queue itself, so `post` of such a task allocates nothing; larger or
/// non-trivially-copyable ones take one heap allocation.
///
/// Exceptions: an exception escaping a task given to `submit` is stored in its
/// future. One escaping a task given to `post` / `post_bulk` / `schedule`
/// goes to the exception handler (`set_exception_handler`), which by default
/// calls `std::terminate`. Every task given to the pool runs exactly once
/// (shutdown runs what is queued); a future is never left unresolved — it gets
/// the value, the task's exception, or `std::future_error(broken_promise)` if
/// its task was destroyed unrun (which only happens when enqueueing throws).
///
/// Shutdown: `shutdown()` and the destructor stop accepting tasks from
/// outside, run everything queued (including tasks those tasks post), then
/// join the workers. `post`/`submit` from a non-worker thread after shutdown
/// began throw `std::runtime_error`; tasks running on the pool may still post
/// (their tasks go to the worker's own deque and run before it exits).
///
/// Thread safety: every member is thread-safe, except that `shutdown()` and
/// the destructor must not be called from one of the pool's own workers
/// (`shutdown()` throws `std::logic_error` there).
class thread_pool {
 public:
  /// Returned by `this_thread_index()` on a thread that is not a worker.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// `std::thread::hardware_concurrency()`, or 1 when that is unknown.
  [[nodiscard]] static std::size_t default_threads() noexcept {
    return std::max<std::size_t>(1, std::thread::hardware_concurrency());
  }

  /// Starts `threads` workers. Throws std::invalid_argument if `threads` is 0,
  /// std::length_error naming it if no vector can hold that many,
  /// std::system_error if a thread cannot be started (the started ones are
  /// joined first). O(threads). A bool, a character or a floating-point
  /// thread count does not compile (see below).
  explicit thread_pool(std::size_t threads = default_threads()) : thread_pool(threads, nullptr) {}

  /// A bool, a character or a floating-point number as the thread count does
  /// not compile (it would convert to std::size_t silently: 2.9 would be 2,
  /// '4' 52 threads).
  template <detail::not_a_count N>
  explicit thread_pool(const N&, std::function<void(std::size_t)> on_worker_start = nullptr)
      : thread_pool(std::size_t{1}, std::move(on_worker_start)) {
    static_assert(detail::refused_count<N>,
                  "surge::thread_pool: the thread count must be an integer, not a bool, a character or a "
                  "floating-point number");
  }

  /// As above; `on_worker_start(i)` runs first on worker i (i in [0, threads)),
  /// before it takes any task: name the thread, pin it, set up thread-locals.
  /// An exception escaping it calls std::terminate.
  thread_pool(std::size_t threads, std::function<void(std::size_t)> on_worker_start)
      : on_start_(std::move(on_worker_start)) {
    if (threads == 0) throw std::invalid_argument("surge::thread_pool: threads must be at least 1");
    if (threads > workers_.max_size()) throw std::length_error("surge::thread_pool: threads is too large");
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) workers_.push_back(std::make_unique<worker>());
    idle_.reserve(threads);
    threads_.reserve(threads);
    try {
      for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this, i] { worker_main(i); });
    } catch (...) {
      stop_and_join();
      throw;
    }
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// Equivalent to `shutdown()`: runs everything queued, then joins. Must not
  /// run on one of this pool's workers.
  ~thread_pool() {
    stop_and_join();
    wait_unpinned();
  }

  /// Number of workers. O(1), noexcept.
  [[nodiscard]] std::size_t size() const noexcept { return workers_.size(); }

  /// The calling thread's worker index in [0, size()), or `npos` if it is not
  /// one of this pool's workers. O(1).
  [[nodiscard]] std::size_t this_thread_index() const noexcept {
    const auto& cur = detail::current_pool_thread;
    return cur.pool == this ? cur.index : npos;
  }

  /// Runs `f()` on a worker, fire and forget. From a worker: pushed on its own
  /// deque. From any other thread: appended to the injection queue; throws
  /// std::runtime_error after shutdown began. Anywhere, throws what copying
  /// (or moving) `f` into the task throws, or std::bad_alloc; nothing is
  /// enqueued then. An exception escaping `f` goes to the exception handler.
  /// Amortised O(1); no allocation for small trivially copyable callables.
  template <class F>
  requires std::invocable < std::decay_t<F>
  & > void post(F&& f) { enqueue(detail::pool_task::make(std::forward<F>(f))); }

  /// Runs `f(args...)` on a worker; returns its future. An exception thrown
  /// by the task is stored in the future. `f` and the arguments are
  /// decay-copied and passed as rvalues (like std::async). Throws
  /// like `post`. One allocation for the task plus the future's shared state.
  template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  [[nodiscard]] auto submit(F&& f, Args&&... args)
      -> std::future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
    using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
    struct job {
      std::promise<R> promise;
      std::decay_t<F> fn;
      std::tuple<std::decay_t<Args>...> args;
      void operator()() {
        try {
          if constexpr (std::is_void_v<R>) {
            std::apply(std::move(fn), std::move(args));
            promise.set_value();
          } else {
            promise.set_value(std::apply(std::move(fn), std::move(args)));
          }
        } catch (...) {
          promise.set_exception(std::current_exception());
        }
      }
    };
    auto* j =
        new job{std::promise<R>{}, std::forward<F>(f), std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)};
    std::future<R> fut;
    try {
      fut = j->promise.get_future();
    } catch (...) {
      delete j;
      throw;
    }
    detail::pool_task t;
    t.fn = [](unsigned char* p, bool run) {
      job* raw = nullptr;
      std::memcpy(&raw, p, sizeof(raw));
      std::unique_ptr<job> owned(raw);
      if (run) (*owned)();
    };
    std::memcpy(t.payload, &j, sizeof(j));
    enqueue(t);  // on throw, enqueue discards t: the promise breaks, nothing leaks
    return fut;
  }

  /// Posts one task per element: for an integer range [first, last) each task
  /// calls `f(i)` (any integer type but bool, which does not compile); for an
  /// iterator range each calls `f(value)` with a copy of the element. Each
  /// task calls its own copy of `f` as a non-const lvalue, as `post` does (a
  /// mutable lambda works). All are enqueued under one lock (or onto the
  /// worker's deque) with one wake-up. All or nothing: if copying `f` or an
  /// element throws, or an allocation does (std::bad_alloc), the tasks
  /// already built are discarded (none runs) and the exception propagates.
  /// A range of more elements than a std::vector can hold throws
  /// std::length_error (nothing is built). Throws like `post`. O(n).
  template <class It, class F>
  void post_bulk(It first, It last, const F& f) {
    using Fn = std::decay_t<F>;  // each task's own copy of f (a function: a pointer to it)
    std::vector<detail::pool_task> batch;
    if constexpr (std::is_same_v<It, bool>) {  // std::is_integral admits it; the assertion is the one error
      static_assert(!std::is_same_v<It, bool>, "post_bulk: a bool range is not an index range; use an integer type");
    } else if constexpr (std::is_integral_v<It>) {
      static_assert(std::invocable<Fn&, It&>, "post_bulk: f(i) must be callable");
      if (last <= first) return;
      // the count in the unsigned type: last - first overflows It for a range
      // wider than half its values (INT_MIN to INT_MAX); cast back, since a
      // type narrower than int is promoted to int and the difference of
      // short(1) and short(-1) read 1 - 65535
      using count_type = std::make_unsigned_t<It>;
      const auto count = static_cast<count_type>(static_cast<count_type>(last) - static_cast<count_type>(first));
      batch.reserve(static_cast<std::size_t>(count));
      try {
        for (It i = first; i != last; ++i) batch.push_back(detail::pool_task::make([f = Fn(f), i]() mutable { f(i); }));
      } catch (...) {
        for (auto& t : batch) t.discard();
        throw;
      }
    } else {
      using V = std::iter_value_t<It>;
      static_assert(std::invocable<Fn&, V&>, "post_bulk: f(element) must be callable");
      if constexpr (std::forward_iterator<It>) batch.reserve(static_cast<std::size_t>(std::distance(first, last)));
      try {
        for (; first != last; ++first) {
          detail::pool_task t = detail::pool_task::make([f = Fn(f), v = V(*first)]() mutable { f(v); });
          try {
            batch.push_back(t);
          } catch (...) {  // growing the batch threw: t is in no batch yet
            t.discard();
            throw;
          }
        }
      } catch (...) {
        for (auto& t : batch) t.discard();
        throw;
      }
    }
    enqueue_batch(batch);
  }

  /// Sets where exceptions escaping posted tasks go (called on the thread
  /// that ran the task, a worker or a caller of `run_pending_task`, with the
  /// exception). An empty function restores the default, std::terminate. The
  /// handler must not throw (if it does, std::terminate). Thread-safe; takes
  /// effect for exceptions caught after it.
  void set_exception_handler(std::function<void(std::exception_ptr)> handler) {
    std::lock_guard lock(handler_mutex_);
    handler_ = std::move(handler);
  }

  /// Blocks until the pool is idle: every task enqueued before the call, and
  /// every task those tasks posted, has finished, and the work count
  /// (`work_started` minus `work_finished`) is zero. Several threads may wait
  /// at once. Returns at once if the pool is idle. Once it has returned, the
  /// `work_finished()` calls, the posts from outside the pool and the
  /// `run_pending_task()` calls outside it whose work it saw done are done
  /// with the pool too (they may still have been running on their threads):
  /// the caller may destroy the pool.
  ///
  /// Called from inside one of this pool's tasks (on a worker, or on a
  /// thread running it through `run_pending_task`) it cannot wait for the
  /// task it is called from; instead it helps: it runs queued tasks (its own
  /// deque, the injection queue, steals) until it finds none queued anywhere,
  /// then returns. Tasks still running on other threads, and outstanding
  /// work counts, are not waited for in that case.
  ///
  /// Called from a coroutine that an async_mutex unlock, a release, a send or
  /// a close resumed on this thread, it first runs the coroutines those woke
  /// on this thread before the call (as sync_wait does), which may be the
  /// work it waits for.
  void wait_idle() {
    if (detail::current_pool_thread.pool == this) {
      worker& w = *workers_[detail::current_pool_thread.index];
      detail::pool_task t;
      while (find_task(w, t)) execute(w, t);
      return;
    }
    if (detail::current_pool_thread.helps(this)) {
      while (run_pending_task()) {
      }
      return;
    }
    const detail::blocking_scope blocking;
    idle_waiters_.fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      const std::uint32_t e = idle_epoch_.load(std::memory_order_acquire);
      if (all_done(true)) break;  // seq_cst loads: a Dekker pair with wake_idle_waiters()
      idle_epoch_.wait(e, std::memory_order_acquire);
    }
    idle_waiters_.fetch_sub(1, std::memory_order_relaxed);
    wait_unpinned();
  }

  /// Counts one unit of outstanding work that is not a queued or running task
  /// (a suspended coroutine that will be resumed onto the pool, an I/O
  /// operation in flight); `wait_idle` waits until every unit is finished.
  /// Pair each call with one `work_finished()`. O(1), lock-free.
  void work_started() noexcept { work_started_.fetch_add(1, std::memory_order_seq_cst); }

  /// Ends one unit counted by `work_started()`; wakes `wait_idle` callers
  /// when this makes the pool idle. A `wait_idle` that counts this call
  /// returns only after the call is done with the pool, so its caller may
  /// destroy the pool then. Calling it more often than work_started is
  /// undefined. O(1).
  void work_finished() noexcept {
    // Often called on a thread outside the pool (a spawned coroutine resumed
    // there), which still touches the pool after its count: a wait_idle that
    // sees the count may return, and its caller destroy the pool. So the
    // call holds a pin meanwhile, which wait_idle and the destructor wait for.
    finishing_.fetch_add(1, std::memory_order_seq_cst);
    work_finished_.fetch_add(1, std::memory_order_seq_cst);
    if (detail::work_finished_hook != nullptr) detail::work_finished_hook();
    wake_idle_waiters();
    finishing_.fetch_sub(1, std::memory_order_release);
  }

  /// Runs one queued task on the calling thread if one can be found (from
  /// any queue: the caller's own deque if it is a worker, the injection
  /// queue, or by stealing); returns whether it ran one. Lets a thread that
  /// waits for pool work help instead of blocking. Exceptions from the task
  /// are routed as for a worker (future or handler). While the task runs, the
  /// calling thread counts as inside the pool (and still inside any pool
  /// whose task it was called from): the task may post during shutdown, and
  /// its `wait_idle` helps rather than waits for itself. A
  /// `wait_idle` elsewhere that sees the task done returns only after this
  /// call is done with the pool.
  bool run_pending_task() {
    detail::pool_task t;
    auto& cur = detail::current_pool_thread;
    if (cur.pool == this) {
      worker& w = *workers_[cur.index];
      if (!find_task(w, t)) return false;
      execute(w, t);
      return true;
    }
    if (!take_injected(t) && !steal_any(0, t)) return false;
    const detail::helping_frame frame{this, cur.helping};
    cur.helping = &frame;
    run_guarded(t);
    cur.helping = frame.outer;
    // After its count this thread still reads the pool: pinned meanwhile,
    // as in work_finished().
    finishing_.fetch_add(1, std::memory_order_seq_cst);
    completed_outside_.fetch_add(1, std::memory_order_seq_cst);
    if (detail::helped_task_hook != nullptr) detail::helped_task_hook();
    wake_idle_waiters();
    // workers parked during shutdown wait for running tasks: this was one
    if (inject_.stopping.load(std::memory_order_seq_cst)) wake_all();
    finishing_.fetch_sub(1, std::memory_order_release);
    return true;
  }

  /// Stops accepting tasks from outside, runs everything queued (and what the
  /// tasks still running post), and joins the workers. Idempotent; concurrent
  /// callers all return after the join. Throws std::logic_error if called
  /// from inside one of this pool's tasks (it would wait for itself). Called
  /// from a coroutine that an async_mutex unlock, a release, a send or a
  /// close resumed on this thread, it first runs the coroutines those woke
  /// on this thread before the call (as wait_idle does), which a running
  /// task may wait for.
  void shutdown() {
    const auto& cur = detail::current_pool_thread;
    if (cur.pool == this || cur.helps(this))
      throw std::logic_error("surge::thread_pool::shutdown called from inside one of its own tasks");
    stop_and_join();
  }

  /// The awaitable returned by `schedule()`.
  class schedule_awaitable {
   public:
    /// An awaitable that resumes on `pool` (which must outlive the co_await).
    explicit schedule_awaitable(thread_pool& pool) noexcept : pool_(&pool) {}
    /// Always false: the coroutine always suspends and is resumed by a worker.
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    /// Posts the coroutine's resumption; throws like `post`.
    void await_suspend(std::coroutine_handle<> h) const {
      pool_->post([h] { h.resume(); });
    }
    /// Nothing to yield: the coroutine now runs on one of the pool's workers.
    void await_resume() const noexcept {}

   private:
    thread_pool* pool_;
  };

  /// `co_await pool.schedule();` suspends the coroutine and resumes it on one
  /// of the workers (always a fresh task, even when already on a worker).
  /// Throws from the co_await, like `post`, after shutdown. No allocation.
  [[nodiscard]] schedule_awaitable schedule() noexcept { return schedule_awaitable(*this); }

 private:
  friend struct detail::pool_access;

  struct alignas(detail::destructive_interference_size) worker {
    detail::ws_deque deque;
    alignas(detail::destructive_interference_size) std::atomic<std::uint64_t> spawned{0};
    std::atomic<std::uint64_t> completed{0};
    std::uint32_t tick = 0;
    std::uint32_t rng = 0;
    // 1 while on the idle list (asleep or about to be); set to 0, under the
    // sleep lock, by whoever takes it off. The worker blocks on it.
    alignas(detail::destructive_interference_size) std::atomic<std::uint32_t> parked{0};
  };

  // ---- enqueueing -------------------------------------------------------

  void enqueue(detail::pool_task t) {
    const auto& cur = detail::current_pool_thread;
    if (cur.pool == this) {
      worker& w = *workers_[cur.index];
      detail::bump_owned(w.spawned);  // counted before it can complete
      try {
        w.deque.push(t);
      } catch (...) {
        detail::bump_owned(w.completed);
        t.discard();
        throw;
      }
      notify_work();  // after the seq_cst push
      return;
    }
    inject_.lock.lock();
    if (inject_.stopping.load(std::memory_order_relaxed) && !cur.helps(this)) {
      inject_.lock.unlock();
      t.discard();
      throw std::runtime_error("surge::thread_pool: task submitted after shutdown");
    }
    try {
      inject_.ring.push(t);
    } catch (...) {
      inject_.lock.unlock();
      t.discard();
      throw;
    }
    inject_.submitted.store(inject_.submitted.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    // seq_cst store, then seq_cst load of sleepers_: pairs with a sleeping
    // worker's seq_cst increment of sleepers_ and load of the size (Dekker).
    inject_.size.store(inject_.ring.size(), std::memory_order_seq_cst);
    posting_.fetch_add(1, std::memory_order_relaxed);  // see finish_outside_post
    inject_.lock.unlock();
    finish_outside_post();
  }

  void enqueue_batch(std::vector<detail::pool_task>& batch) {
    if (batch.empty()) return;
    const auto& cur = detail::current_pool_thread;
    const auto n = batch.size();
    if (cur.pool == this) {
      worker& w = *workers_[cur.index];
      // all or nothing, as from outside: once some are pushed they may run
      try {
        w.deque.reserve(n);
      } catch (...) {
        for (auto& t : batch) t.discard();
        throw;
      }
      detail::bump_owned(w.spawned, n);
      for (const auto& t : batch) w.deque.push(t);
    } else {
      std::unique_lock lock(inject_.lock);
      const bool stopped = inject_.stopping.load(std::memory_order_relaxed) && !cur.helps(this);
      if (!stopped) {
        try {
          inject_.ring.reserve_more(n);
        } catch (...) {
          lock.unlock();
          for (auto& t : batch) t.discard();
          throw;
        }
        for (const auto& t : batch) inject_.ring.push(t);
        inject_.submitted.store(inject_.submitted.load(std::memory_order_relaxed) + n, std::memory_order_release);
        inject_.size.store(inject_.ring.size(), std::memory_order_seq_cst);
        posting_.fetch_add(1, std::memory_order_relaxed);  // see finish_outside_post
      }
      lock.unlock();
      if (stopped) {
        for (auto& t : batch) t.discard();
        throw std::runtime_error("surge::thread_pool: tasks submitted after shutdown");
      }
      finish_outside_post();
      return;
    }
    // After a seq_cst store (the deque's bottom). One wake-up: the woken
    // worker wakes the next once it has found work.
    notify_work();
  }

  /// The end of a post from outside, which has published its tasks and
  /// released the injection lock: wakes a worker if needed (one wake-up, as
  /// above), then leaves the pool. Between the two a worker may run the
  /// tasks, and a coroutine resumed by one finish, so a wait_idle() may see
  /// the pool idle while the poster still reads it (a coroutine resumed on
  /// an outside thread that does `co_await pool.schedule()` posts from
  /// there, unseen by its program); its caller may then destroy the pool.
  /// So the post holds a pin (`posting_`, taken under the lock)
  /// until here, which wait_idle() and the destructor wait for. Taken
  /// relaxed: the unlock's release orders it before any taking of the
  /// tasks, hence before any completion a wait_idle() counts.
  void finish_outside_post() noexcept {
    if (detail::outside_post_hook != nullptr) detail::outside_post_hook();  // nothing, except in a test
    notify_work();  // after the seq_cst store of the injection size
    posting_.fetch_sub(1, std::memory_order_release);
  }

  // ---- waking -------------------------------------------------------------
  //
  // The policy is the Go scheduler's "spinning threads", on our queues. A
  // worker that runs out of tasks becomes a *searcher* (counted in
  // searching_): it spins over the queues for a while before it sleeps. Who
  // publishes a task wakes a sleeper only when no worker is searching (a
  // searcher will find the task) and someone sleeps; the woken worker is
  // counted as a searcher from the moment it is chosen, so further tasks
  // published before it is up wake nobody else: at most one wake-up is in
  // flight, and a burst of posts costs one futex call, not one each. A
  // searcher that finds a task stops searching; if it was the last one and
  // work is still queued while someone sleeps, it wakes one more worker
  // before it runs the task. That chain spreads a burst of work (a
  // parallel_for's halves) over every worker, each wake-up paid by a worker
  // that has just found work rather than by the poster.
  //
  // No lost wake-up. Every publish is a seq_cst store followed by seq_cst
  // loads of sleepers_ and searching_; a poster skips the wake-up only when
  //  * sleepers_ read 0: a worker that goes to sleep later raises sleepers_
  //    (seq_cst) and then takes a last look at every queue, which sees the
  //    task (a Dekker pair);
  //  * searching_ read non-zero: the searcher whose unit it read ends its
  //    search later, either by giving up (it then lowers searching_ and takes
  //    the last look above) or by finding a task (it lowers searching_, and
  //    if it was the last searcher, looks at sleepers_ and every queue, and
  //    wakes a sleeper if a task is still visible) -- all after the publish;
  //  * the idle list was empty under the sleep lock: a worker that registers
  //    later does so after the lock, so its last look sees the task.
  // A sleeper is taken off the idle list, and handed its searcher unit,
  // under the sleep lock, so the unit always belongs to a worker that is
  // awake or about to be (a shared futex word could not say who was woken).

  /// Call after publishing a task with a seq_cst store.
  void notify_work() noexcept {
    if (sleepers_.load(std::memory_order_seq_cst) != 0 && searching_.load(std::memory_order_seq_cst) == 0) wake_one();
  }

  /// Wakes the most recently parked worker, counted as a searcher, unless
  /// someone already searches or nobody is parked.
  void wake_one() noexcept {
    sleep_lock_.lock();
    if (idle_.empty() || searching_.load(std::memory_order_seq_cst) != 0) {
      sleep_lock_.unlock();
      return;
    }
    worker& v = *workers_[idle_.back()];
    idle_.pop_back();
    searching_.fetch_add(1, std::memory_order_seq_cst);
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    v.parked.store(0, std::memory_order_release);
    sleep_lock_.unlock();
    v.parked.notify_one();  // workers live until the pool dies
  }

  /// Wakes every parked worker (shutdown only: it notifies under the lock).
  void wake_all() noexcept {
    std::lock_guard lock(sleep_lock_);
    for (; !idle_.empty(); idle_.pop_back()) {
      worker& v = *workers_[idle_.back()];
      searching_.fetch_add(1, std::memory_order_seq_cst);
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      v.parked.store(0, std::memory_order_release);
      v.parked.notify_one();
    }
  }

  /// A searcher found a task: stop searching; the last searcher keeps the
  /// chain going (see above). Before the task runs: it may block on work
  /// that is still queued.
  void end_search() noexcept {
    if (searching_.fetch_sub(1, std::memory_order_seq_cst) == 1 && sleepers_.load(std::memory_order_seq_cst) != 0 &&
        work_visible())
      wake_one();
  }

  enum class park_result { woken, work, stop };

  /// Registers on the idle list, takes a last look, and sleeps until taken
  /// off the list. `woken`: a waker took it off and made it a searcher.
  /// `stop`: shutdown began and every task has finished (a task still
  /// running may post more, and wait for it: whoever finishes one during
  /// shutdown parks here too, or wakes everyone from run_pending_task).
  park_result park(worker& w, std::size_t index) noexcept {
    sleep_lock_.lock();
    idle_.push_back(index);  // capacity reserved: never allocates
    w.parked.store(1, std::memory_order_relaxed);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    sleep_lock_.unlock();
    const bool visible = work_visible();  // seq_cst loads, after the seq_cst increment
    if (visible || (inject_.stopping.load(std::memory_order_seq_cst) && all_done(false))) {
      sleep_lock_.lock();
      if (w.parked.load(std::memory_order_relaxed) == 0) {  // a waker got here first
        sleep_lock_.unlock();
        return park_result::woken;
      }
      idle_.erase(std::find(idle_.begin(), idle_.end(), index));
      w.parked.store(0, std::memory_order_relaxed);
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      sleep_lock_.unlock();
      return visible ? park_result::work : park_result::stop;
    }
    w.parked.wait(1, std::memory_order_acquire);
    // A spurious return cannot happen: wait() returns only once the value
    // differs, and only a waker (under the sleep lock) clears it.
    return park_result::woken;
  }

  // ---- finding work -----------------------------------------------------

  bool take_injected(detail::pool_task& out) {
    if (inject_.size.load(std::memory_order_relaxed) == 0) return false;
    std::lock_guard lock(inject_.lock);
    const bool ok = inject_.ring.pop(out);
    inject_.size.store(inject_.ring.size(), std::memory_order_relaxed);
    return ok;
  }

  /// Takes one injected task to run and moves up to a batch more onto the
  /// worker's deque (where the others can steal them).
  bool take_injected(worker& w, detail::pool_task& out) {
    if (inject_.size.load(std::memory_order_relaxed) == 0) return false;
    inject_.lock.lock();
    if (!inject_.ring.pop(out)) {
      inject_.lock.unlock();
      return false;
    }
    const std::size_t extra = std::min<std::size_t>(inject_.ring.size() / workers_.size(), max_batch);
    std::size_t moved = 0;
    detail::pool_task t;
    // The moved tasks were counted when injected; they stay counted once.
    for (; moved < extra && inject_.ring.pop(t); ++moved) {
      try {
        w.deque.push(t);
      } catch (...) {
        inject_.ring.push(t);  // cannot fail: the ring just had room for it
        break;
      }
    }
    const std::size_t left = inject_.ring.size();
    inject_.size.store(left, std::memory_order_seq_cst);
    inject_.lock.unlock();
    // Moved tasks can now be stolen: let a sleeping worker come for them.
    if (moved != 0) notify_work();
    return true;
  }

  bool steal_any(std::size_t start, detail::pool_task& out) noexcept {
    const std::size_t n = workers_.size();
    for (int round = 0; round < 4; ++round) {
      bool lost = false;
      for (std::size_t k = 0; k < n; ++k) {
        auto r = workers_[(start + k) % n]->deque.steal(out);
        if (r == detail::ws_deque::steal_result::ok) return true;
        if (r == detail::ws_deque::steal_result::lost) lost = true;
      }
      if (!lost) return false;
    }
    return false;
  }

  bool find_task(worker& w, detail::pool_task& out) {
    // Every 61st look checks the injection queue first, so a worker busy with
    // its own deque cannot starve tasks from outside.
    if (++w.tick % 61 == 0 && take_injected(w, out)) return true;
    if (w.deque.pop(out)) return true;
    if (take_injected(w, out)) return true;
    w.rng = w.rng * 1664525u + 1013904223u;
    return steal_any(w.rng >> 8, out);
  }

  [[nodiscard]] bool work_visible() const noexcept {
    if (inject_.size.load(std::memory_order_seq_cst) != 0) return true;
    for (const auto& w : workers_)
      if (w->deque.maybe_nonempty()) return true;
    return false;
  }

  // ---- running ------------------------------------------------------------

  void run_guarded(detail::pool_task& t) noexcept {
    try {
      t.run();
    } catch (...) {
      handle_exception(std::current_exception());
    }
  }

  void execute(worker& w, detail::pool_task& t) noexcept {
    run_guarded(t);
    detail::bump_owned(w.completed);
  }

  void handle_exception(std::exception_ptr e) noexcept {
    std::function<void(std::exception_ptr)> h;
    {
      std::lock_guard lock(handler_mutex_);
      h = handler_;
    }
    if (!h) std::terminate();
    h(std::move(e));  // a throwing handler terminates (noexcept)
  }

  // ---- idleness -------------------------------------------------------------

  /// Completions are read before submissions; a completion is always counted
  /// after its submission (happens-before), so equal sums mean nothing counted
  /// is pending at a moment between the two reads.
  /// With `work_units`, the work counts too (wait_idle); without, tasks only
  /// (shutdown: a work unit's owner can no longer post from outside).
  [[nodiscard]] bool all_done(bool work_units) const noexcept {
    std::uint64_t done = completed_outside_.load(std::memory_order_seq_cst);
    for (const auto& w : workers_) done += w->completed.load(std::memory_order_seq_cst);
    if (work_units) done += work_finished_.load(std::memory_order_seq_cst);
    std::uint64_t submitted = inject_.submitted.load(std::memory_order_seq_cst);
    for (const auto& w : workers_) submitted += w->spawned.load(std::memory_order_seq_cst);
    if (work_units) submitted += work_started_.load(std::memory_order_seq_cst);
    return done == submitted;
  }

  /// Waits until no work_finished() call, no run_pending_task() call outside
  /// the pool, and no post from outside, is still inside the pool. A
  /// work_finished() or run_pending_task() pin is taken before its count
  /// (both seq_cst), so once a reader has seen the count, this seq_cst load
  /// sees the pin or its release; a post's pin comes before its tasks can be
  /// taken (finish_outside_post). Pins last nanoseconds unless their thread
  /// is preempted: yields meanwhile.
  void wait_unpinned() const noexcept {
    while (finishing_.load(std::memory_order_seq_cst) != 0 || posting_.load(std::memory_order_seq_cst) != 0)
      std::this_thread::yield();
  }

  /// Call after a seq_cst store or RMW that published the caller's last completion.
  void wake_idle_waiters() noexcept {
    if (idle_waiters_.load(std::memory_order_seq_cst) != 0) {
      idle_epoch_.fetch_add(1, std::memory_order_release);
      idle_epoch_.notify_all();
    }
  }

  // ---- workers ---------------------------------------------------------------

  void worker_main(std::size_t index) noexcept {
    detail::current_pool_thread = {this, index};
    worker& w = *workers_[index];
    w.rng = static_cast<std::uint32_t>(index * 2654435761u + 1);
    if (on_start_) on_start_(index);  // noexcept function: escaping exceptions terminate
    detail::pool_task t;
    bool searching = false;  // holds one unit of searching_
    for (;;) {
      if (find_task(w, t)) {
        if (searching) {
          searching = false;
          end_search();
        }
        execute(w, t);
        continue;
      }
      // Re-publish the completion count with a seq_cst store before looking
      // for idle waiters: a Dekker pair with wait_idle (which registers, then
      // reads the counts with seq_cst loads).
      w.completed.store(w.completed.load(std::memory_order_relaxed), std::memory_order_seq_cst);
      wake_idle_waiters();
      if (!searching) {
        searching_.fetch_add(1, std::memory_order_seq_cst);
        searching = true;
      }
      // Spin a little before sleeping: a task often arrives within microseconds.
      detail::backoff<64, spin_yields> spin;
      bool found = false;
      while (spin.spinning()) {
        spin.pause();
        if (find_task(w, t)) {
          found = true;
          break;
        }
      }
      if (found) {
        searching = false;
        end_search();
        execute(w, t);
        continue;
      }
      searching = false;
      searching_.fetch_sub(1, std::memory_order_seq_cst);
      const park_result r = park(w, index);
      if (r == park_result::stop) break;
      searching = r == park_result::woken;
    }
    // Wake the others, so they see inject_.stopping too (they may have slept through it).
    wake_all();
  }

  void stop_and_join() noexcept {
    // A blocking call: made in a coroutine a trampoline runs, what that
    // queued behind it runs first (a running task may wait for it).
    const detail::blocking_scope blocking;
    {
      std::lock_guard lock(inject_.lock);
      inject_.stopping.store(true, std::memory_order_seq_cst);
    }
    wake_all();
    std::lock_guard lock(join_mutex_);
    for (auto& th : threads_)
      if (th.joinable()) th.join();
  }

  static constexpr std::size_t max_batch = 32;
  static constexpr std::uint32_t spin_yields = 100;  // yields a searcher makes before it sleeps

  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<std::thread> threads_;
  std::function<void(std::size_t)> on_start_;

  // Everything a post from outside touches, on one cache line (but its pin,
  // posting_ below).
  struct alignas(detail::destructive_interference_size) injection {
    detail::spin_lock lock;
    std::atomic<bool> stopping{false};        // written under lock
    detail::task_ring ring;                   // under lock
    std::atomic<std::uint64_t> submitted{0};  // written under lock
    std::atomic<std::size_t> size{0};         // ring.size(), written under lock, read racily
  } inject_;
  // Posts from outside still inside (finish_outside_post): written only by
  // posting threads, on a line of its own, so that dropping the pin after the
  // wake-up does not pull back the injection line a worker has taken.
  alignas(detail::destructive_interference_size) std::atomic<std::uint32_t> posting_{0};
  // Read on every publish, written only when a worker starts or stops
  // searching or sleeping: mostly a shared, read-only line.
  alignas(detail::destructive_interference_size) std::atomic<std::uint32_t> sleepers_{0};
  std::atomic<std::uint32_t> searching_{0};  // workers spinning for work, or woken to
  alignas(detail::destructive_interference_size) detail::spin_lock sleep_lock_;
  std::vector<std::size_t> idle_;  // parked workers' indices, under sleep_lock_

  alignas(detail::destructive_interference_size) std::atomic<std::uint64_t> completed_outside_{0};
  std::atomic<std::uint64_t> work_started_{0};
  std::atomic<std::uint64_t> work_finished_{0};
  std::atomic<std::uint32_t> idle_waiters_{0};
  std::atomic<std::uint32_t> idle_epoch_{0};
  // work_finished() calls, and run_pending_task() calls outside the pool past
  // their count, still inside (wait_unpinned)
  std::atomic<std::uint32_t> finishing_{0};

  std::mutex handler_mutex_;
  std::function<void(std::exception_ptr)> handler_;
  std::mutex join_mutex_;
};

namespace detail {

/// What parallel_for reads of a pool's state (not part of the public API).
struct pool_access {
  // Racy hints: relaxed loads of lines that change only when a worker starts
  // or stops searching or sleeping.

  /// True when a worker is spinning for work (it takes a posted task without
  /// a wake-up).
  [[nodiscard]] static bool searching(const thread_pool& p) noexcept {
    return p.searching_.load(std::memory_order_relaxed) != 0;
  }
  /// True when a worker sleeps (posting a task may cost a wake-up).
  [[nodiscard]] static bool sleeping(const thread_pool& p) noexcept {
    return p.sleepers_.load(std::memory_order_relaxed) != 0;
  }
};

}  // namespace detail

}  // namespace surge

#endif  // SURGE_EXEC_THREAD_POOL_HPP
