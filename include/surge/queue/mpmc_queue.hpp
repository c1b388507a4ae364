/// @file surge/queue/mpmc_queue.hpp
/// A bounded, lock-free, multi-producer multi-consumer FIFO queue with
/// non-blocking (`try_*`) and blocking (`push`/`emplace`/`pop`) operations.
#ifndef SURGE_QUEUE_MPMC_QUEUE_HPP
#define SURGE_QUEUE_MPMC_QUEUE_HPP

#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/queue/queue_closed.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace surge {

namespace detail {
/// Test hook of mpmc_queue, for surge's own tests only: the primary template
/// does nothing (its calls compile to nothing). A test specializes it for a
/// queue of a type of its own to act at a fixed point inside an operation
/// (e.g. to "stall" a pop and let the queue run on, deterministically); it is
/// a friend of mpmc_queue, so the specialization may also read and set the
/// queue's private state.
template <class Queue>
struct mpmc_queue_hooks {
  /// Called by a locked pop right after its first read of `head` (`h`),
  /// before it reads the head slot's word.
  static void head_read(Queue&, std::uint64_t) noexcept {}
};
}  // namespace detail

/// Bounded multi-producer multi-consumer FIFO queue of `T`.
///
/// **Design.** A ring of slots, each with a 32-bit sequence word (Vyukov's
/// bounded MPMC queue, rigtorp::MPMCQueue). Producers take tickets from
/// `tail`, consumers from `head`; ticket `t` owns slot `t mod N` in lap
/// `t / N`, and the slot's sequence word says whose turn it is (the producer or
/// the consumer of which lap). `N` is `capacity` rounded up to a power of two;
/// when the two differ, a producer also checks that ticket `t - capacity` has
/// been consumed, so the queue never holds more than `capacity()` items (one
/// extra cache-line read per push: power-of-two capacities are fastest).
/// Ticket order is spread over the ring (atomic_queue's index remapping) so that
/// consecutive tickets never share a cache line: a producer and a consumer a
/// few items apart do not falsely share.
///
/// **Operations and progress.**
/// - `try_push`/`try_emplace`/`try_pop` never wait. They claim a ticket with
///   one compare-and-swap when its slot is ready and return `false` (or an
///   empty optional) otherwise. A failed CAS means another thread's operation
///   succeeded, so the set of `try_*` calls is lock-free. They return `false`
///   when the queue is full (empty), and also in one further case: the
///   operation of the previous turn on the same slot has claimed its ticket but
///   not finished (a consumer still moving the item out, a producer still
///   constructing it; for a `T` whose move may throw, any pop still moving
///   its item out: see Exceptions). A thread descheduled inside such a window therefore
///   makes `try_*` calls on *that one slot* fail until it runs again, and the
///   blocking calls that reach that slot wait for it (as in rigtorp and folly:
///   no bounded queue with per-slot turns can do better). Other slots are not
///   affected, and no thread ever waits on a thread that is not mid-operation.
/// - `push`/`emplace`/`pop` take a ticket with one fetch-add and then wait
///   for their slot's turn (a `pop` whose ticket turns out to be a hole
///   takes another; locked pops take none: see Exceptions): they poll
///   briefly (128 reads with a `pause` between, a few microseconds), then
///   poll with `yield` between (32 times), then sleep in C++20
///   `std::atomic::wait`. A waiter sets a flag in the slot's sequence
///   word before sleeping, and the thread that hands the slot on swaps the word
///   atomically and calls `notify_all` only when that flag was set: no lost
///   wake-ups, and no notify system call when nobody sleeps. A `pop` on a
///   ring of 256 slots or more that finds its slot not filled yet, or whose
///   ticket starts a block of 64 (for a `T` of at most 4 bytes, whose slots
///   take 8: rings of 1024 slots or more, blocks of 256), first waits
///   (briefly) until the slot about
///   1024 tickets (at most a quarter of the ring) ahead is filled, so a
///   streaming consumer stays well behind its producers instead of reading
///   the lines they are filling (see `let_producers_ahead`; it turns itself
///   off for a while after a vain wait).
///
/// **Closing.** `close()` (idempotent, thread-safe, O(capacity)) ends the
/// queue's input: afterwards `try_push`/`try_emplace` return false and
/// `push`/`emplace` throw surge::queue_closed, enqueuing nothing. Consumers
/// keep draining: every item pushed before the close is still delivered,
/// and a blocking `pop()` throws surge::queue_closed only once the queue is
/// closed and empty -- also a `pop()` that was already waiting when `close()`
/// was called. `try_pop` on a closed, empty queue returns false/empty as on
/// any empty queue. A `push` that took its ticket before the close (one that
/// was waiting for room) is a push before the close: it completes once
/// consumers make room, and its item is delivered. The close takes effect at
/// one instant (the tail's atomic update), so "pushed before the close" is
/// exact. Shutdown of a pipeline: producers finish, then one thread calls
/// close(); each consumer loops on `pop()` until it throws queue_closed.
///
/// **Linearizability.** Every successful operation is linearizable (a push
/// takes effect at its ticket claim, a pop at its ticket claim), so the queue
/// is FIFO: items leave in the order their tickets were claimed. `try_*`
/// failures are linearizable as "full"/"empty" except in the mid-operation
/// window described above.
///
/// **Memory ordering.** The releasing store (an exchange) of a slot's sequence
/// word by the producer happens-before the consumer's acquiring load that sees
/// it, which makes the constructed item visible to the consumer; symmetrically
/// the consumer's release after destroying the item happens-before the next
/// producer's acquire, so the next construction never overlaps it. The ticket
/// counters carry no data and use relaxed atomics: their read-modify-writes
/// alone make each ticket unique (for locked pops, see lock_head). After
/// construction, **every write to a slot's word is a read-modify-write**
/// (exchange, compare-and-swap, fetch-or), never a plain store. Two
/// arguments rest on it. Wake-ups: a waiter sets the waiting bit with a CAS,
/// and whoever changes the word next swaps it and so *sees* the bit; a plain
/// store could overwrite a bit set a moment earlier and nobody would notify
/// the sleeper. Closing: close() runs a releasing RMW over every slot after
/// it records the close; since all later writes are RMWs they continue its
/// release sequence, so a waiter that reads any later word (acquire) also
/// sees the close, and a waiter whose word came earlier has its word changed
/// (and is notified) by that RMW. Either way no pop sleeps through a close.
///
/// **Exceptions** (basic guarantee, no item lost or duplicated by the queue):
/// - If constructing the item in its slot throws (`try_push`, `push`,
///   `emplace` ...), nothing is enqueued and the exception propagates. The
///   ticket was already claimed, so the slot is published as a *hole*: the
///   consumer that takes that ticket skips it and hands the slot on, so the slot
///   stays usable. Until skipped, a hole counts in `size()`.
/// - If taking the item out throws, the item **stays in the queue, at the
///   head, in its FIFO position**: the exception propagates, nothing was
///   removed, and the next pop by any thread (the same call retried, or
///   another consumer) gets that same item. To keep the item intact, pops
///   copy it out when `T`'s move may throw and `T` is copyable (as
///   `std::move_if_noexcept`, for `pop()`/`try_pop()`; copy assignment for
///   `try_pop(T&)` when move assignment may throw); a move-only `T` whose
///   move throws is left in whatever state its failed move left it. This
///   costs something only for such types: when `T`'s move constructor (and
///   move assignment, if any) is `noexcept`, pops work as described above.
///   Otherwise pops are *locked pops*: a pop sets a busy bit in the head
///   slot's word, moves the item out, and only then advances `head` and
///   releases the slot (on an exception it republishes the slot unchanged).
///   Pops of such a `T` therefore run one at a time, each waiting for the one
///   ahead of it to finish moving: a consumer descheduled during the move
///   makes every other pop fail (`try_pop`) or wait (`pop`) until it runs
///   again, and blocking pops are not FIFO among themselves. Pushes are
///   unaffected.
///
/// **Complexity.** Every `try_*` call is O(1) expected (a CAS retry only
/// follows another thread's success); blocking calls are O(1) plus the wait.
/// `size()`/`empty()` are O(1). No allocation after construction.
///
/// **Thread safety.** Thread-safe: any number of threads may call any member
/// concurrently, except construction and destruction. Lock-free `try_*`
/// (see above); `std::atomic<std::uint32_t>` and `<std::uint64_t>` must be
/// lock-free (checked at compile time).
///
/// **Bad input.** `capacity == 0` throws `std::invalid_argument`; a capacity
/// whose ring cannot be represented throws `std::length_error`; allocation
/// failure throws what the allocator throws. A bool, a character or a
/// floating-point capacity does not compile.
///
/// @tparam T value type: any object type with a non-throwing destructor;
///           move-only types work (copying overloads need a copyable `T`).
/// @tparam Allocator allocator for `T`; rebound to allocate the slot ring, and
///           used to construct and destroy items like the standard containers,
///           from every pushing and popping thread at once (with std::pmr,
///           give the queue a thread-safe memory resource).
template <class T, class Allocator = std::allocator<T>>
class mpmc_queue {
  static_assert(std::is_object_v<T> && !std::is_array_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T>,
                "mpmc_queue<T>: T must be a non-const, non-volatile object type that is not an array");
  static_assert(std::is_nothrow_destructible_v<T>, "mpmc_queue<T>: T's destructor must not throw");
  static_assert(std::is_same_v<typename std::allocator_traits<Allocator>::value_type, T>,
                "mpmc_queue<T, Allocator>: Allocator::value_type must be T");
  static_assert(std::atomic<std::uint32_t>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
                "mpmc_queue needs lock-free 32- and 64-bit atomics");

 public:
  using value_type = T;              ///< The element type.
  using allocator_type = Allocator;  ///< Allocates the ring of slots (once, at construction).
  using size_type = std::size_t;     ///< Capacities and sizes.

  /// A bool, a character or a floating-point number as the capacity does not
  /// compile (it would convert to size_type silently: 2.9 would be 2, '4' 52).
  template <detail::not_a_count C>
  explicit mpmc_queue(const C&, const Allocator& alloc = Allocator()) : mpmc_queue(size_type{1}, alloc) {
    static_assert(detail::refused_count<C>,
                  "surge::mpmc_queue: the capacity must be an integer, not a bool, a character or a floating-point "
                  "number");
  }
  /// Creates an empty queue holding at most `capacity` items; allocates the ring.
  /// Complexity: O(capacity). Throws `std::invalid_argument` when capacity is 0,
  /// `std::length_error` when it is too large, and what the allocator throws.
  explicit mpmc_queue(size_type capacity, const Allocator& alloc = Allocator()) : alloc_(alloc) {
    if (capacity == 0) throw std::invalid_argument("mpmc_queue: capacity must be at least 1");
    if (capacity > max_capacity) throw std::length_error("mpmc_queue: capacity is too large");
    const std::uint64_t ring = std::bit_ceil(static_cast<std::uint64_t>(capacity));
    if (ring > (std::numeric_limits<std::size_t>::max() - 2 * sizeof(block)) / sizeof(slot))
      throw std::length_error("mpmc_queue: capacity is too large");
    capacity_ = capacity;
    mask_ = ring - 1;
    shift_ = static_cast<std::uint32_t>(std::countr_zero(ring));
    exact_ = ring == capacity;
    // Remap so that the 2^bits slots sharing one destructive-interference unit
    // are 2^bits tickets apart; needs at least 2^(2 bits) slots.
    std::uint32_t bits = 0;
    while ((std::uint64_t{2} << bits) * sizeof(slot) <= detail::destructive_interference_size) ++bits;
    remap_bits_ = std::min(bits, shift_ / 2);
    remap_low_ = (std::uint64_t{1} << remap_bits_) - 1;
    // The look-ahead of blocking pops (let_producers_ahead): targets aligned to
    // the remap period, at most batch_lag tickets and a quarter of the ring ahead.
    lag_align_ = std::max<std::uint64_t>(64, std::uint64_t{1} << (2 * remap_bits_));
    lag_ = std::min(batch_lag, ring / 4) & ~(lag_align_ - 1);

    block_alloc blocks(alloc_);
    block_count_ = (static_cast<std::size_t>(ring) * sizeof(slot) + sizeof(block) - 1) / sizeof(block) + 2;
    blocks_ = block_traits::allocate(blocks, block_count_);
    // One block of padding on each side keeps the ring off its neighbours' lines.
    auto* base = reinterpret_cast<unsigned char*>(std::to_address(blocks_) + 1);
    for (std::uint64_t i = 0; i < ring; ++i) ::new (static_cast<void*>(base + i * sizeof(slot))) slot{};
    slots_ = std::launder(reinterpret_cast<slot*>(base));
    const std::uint64_t first = ring;  // tickets start at lap 1, so `t - capacity` never wraps
    for (std::uint64_t i = 0; i < ring; ++i) slots_[i].seq.store(empty_word(1), std::memory_order_relaxed);
    head_->store(first, std::memory_order_relaxed);
    tail_->store(first, std::memory_order_relaxed);
  }

  mpmc_queue(const mpmc_queue&) = delete;
  mpmc_queue& operator=(const mpmc_queue&) = delete;

  /// Destroys the items still in the queue (each exactly once) and frees the
  /// ring. O(capacity). No other thread may use the queue any more.
  ~mpmc_queue() {
    for (std::uint64_t i = 0; i <= mask_; ++i) {
      const std::uint32_t w = slots_[i].seq.load(std::memory_order_acquire);
      if ((w & full_bit) != 0 && (w & hole_bit) == 0) destroy(slots_[i]);
    }
    block_alloc blocks(alloc_);
    block_traits::deallocate(blocks, blocks_, block_count_);
  }

  // ---- non-blocking ------------------------------------------------------

  /// Copies `value` in if there is room; false when full or closed (or see
  /// the class comment: while the previous turn on the tail slot is
  /// mid-operation).
  /// O(1), lock-free. Throws what copying `value` into the slot throws: T's
  /// copy constructor, called through the allocator (nothing enqueued).
  [[nodiscard]] bool try_push(const T& value) noexcept(nothrow_construct<const T&>()) requires
      std::is_copy_constructible_v<T> {
    return try_emplace(value);
  }

  /// Moves `value` in if there is room and the queue is open (`value` is
  /// untouched on false).
  /// O(1), lock-free. Throws what T's move constructor, called through the
  /// allocator, throws (nothing enqueued).
  [[nodiscard]] bool try_push(T&& value) noexcept(nothrow_construct<T>()) requires std::is_move_constructible_v<T> {
    return try_emplace(std::move(value));
  }

  /// Constructs `T(args...)` in place if there is room and the queue is open;
  /// the arguments are not used on false. O(1), lock-free. Throws what the
  /// constructor, called through the allocator, throws (nothing enqueued).
  template <class... Args>
  requires std::is_constructible_v<T, Args...>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept(nothrow_construct<Args...>()) {
    std::uint64_t t = tail_->load(std::memory_order_relaxed);
    spot p = locate(t);
    prefetch_for_write(*p.s);
    for (;;) {
      // Closed: the tail carries closed_bit from then on, so this test (and
      // the CAS below, which fails once the bit is set) refuses the push.
      if ((t & closed_bit) != 0) [[unlikely]]
        return false;
      const std::uint32_t w = p.s->seq.load(std::memory_order_acquire);
      if ((w & ~flag_bits) == p.empty && (exact_ || consumed(t - capacity_))) {
        if (tail_->compare_exchange_weak(t, t + 1, std::memory_order_relaxed, std::memory_order_relaxed)) {
          construct_and_publish(p, std::forward<Args>(args)...);
          return true;
        }
      } else {
        const std::uint64_t seen = t;
        t = tail_->load(std::memory_order_relaxed);
        if (t == seen) return false;
      }
      p = locate(t);
    }
  }

  /// Moves the oldest item into `out` if there is one; false when empty (or
  /// while the push into the head slot is mid-operation). O(1), lock-free.
  /// Throws what T's move assignment (copy assignment, when the move may throw
  /// and T is copy-assignable) throws; the item then stays at the head.
  [[nodiscard]] bool try_pop(T& out) noexcept(
      std::is_nothrow_move_assignable_v<T>) requires std::is_move_assignable_v<T> {
    if constexpr (locked_pops) {
      for (;;) {
        std::uint64_t h = 0;
        std::uint32_t w = 0;
        if (!lock_head<false>(h, w)) return false;
        const head_guard guard{this, h, w};
        if ((w & hole_bit) != 0) continue;
        if constexpr (std::is_nothrow_move_assignable_v<T> || !std::is_copy_assignable_v<T>) {
          out = std::move(*guard.item());
        } else {
          out = *guard.item();  // like std::move_if_noexcept: the item stays intact if this throws
        }
        return true;
      }
    }
    for (;;) {
      spot p;
      std::uint32_t w = 0;
      if (!try_claim_pop(p, w)) return false;
      if ((w & hole_bit) != 0) {
        publish(*p.s, p.next());
        continue;
      }
      const release_on_exit release{this, p};
      out = std::move(*p.s->item());
      return true;
    }
  }

  /// The oldest item, or an empty optional when the queue is empty (or while
  /// the push into the head slot is mid-operation). O(1), lock-free. Throws
  /// what T's move (or copy, as for pop()) constructor throws; the item then
  /// stays at the head.
  [[nodiscard]] std::optional<T> try_pop() noexcept(
      std::is_nothrow_move_constructible_v<T>) requires std::is_move_constructible_v<T> {
    for (;;) {
      std::uint64_t h = 0;
      std::uint32_t w = 0;
      if constexpr (locked_pops) {
        if (!lock_head<false>(h, w)) return std::nullopt;
        const head_guard guard{this, h, w};
        if ((w & hole_bit) != 0) continue;
        return std::optional<T>(std::in_place, std::move_if_noexcept(*guard.item()));
      }
      spot p;
      if (!try_claim_pop(p, w)) return std::nullopt;
      if ((w & hole_bit) != 0) {
        publish(*p.s, p.next());
        continue;
      }
      const release_on_exit release{this, p};
      return std::optional<T>(std::in_place, std::move(*p.s->item()));
    }
  }

  // ---- blocking ----------------------------------------------------------

  /// Copies `value` in, waiting while the queue is full. O(1) plus the wait
  /// (spin, yield, then std::atomic::wait). Throws surge::queue_closed if the
  /// queue is closed, and what T's copy constructor throws (nothing enqueued).
  void push(const T& value) requires std::is_copy_constructible_v<T> { emplace(value); }

  /// Moves `value` in, waiting while the queue is full. Throws
  /// surge::queue_closed if the queue is closed (`value` untouched), and what
  /// T's move constructor throws.
  void push(T&& value) requires std::is_move_constructible_v<T> { emplace(std::move(value)); }

  /// Constructs `T(args...)` in place, waiting while the queue is full: the
  /// call takes the next tail ticket at once and waits for that slot's turn.
  /// Throws surge::queue_closed if the queue is closed (the arguments are not
  /// used), and what the constructor throws (nothing enqueued). A call that
  /// took its ticket before close() is a push before the close: it waits for
  /// room as usual and its item is delivered.
  template <class... Args>
  requires std::is_constructible_v<T, Args...>
  void emplace(Args&&... args) {
    const std::uint64_t t = tail_->fetch_add(1, std::memory_order_relaxed);
    if ((t & closed_bit) != 0) [[unlikely]] {
      tail_->fetch_sub(1, std::memory_order_relaxed);  // so size() stays meaningful
      throw queue_closed();
    }
    const spot p = locate(t);
    await(p.s->seq, [want = p.empty](std::uint32_t w) { return (w & ~flag_bits) == want; });
    if (!exact_) {
      const std::uint64_t u = t - capacity_;
      const std::uint32_t gone = empty_word(lap(u) + 1);
      await(slot_at(u).seq, [gone](std::uint32_t w) { return reached(w, gone); });
    }
    construct_and_publish(p, std::forward<Args>(args)...);
  }

  /// Removes and returns the oldest item, waiting while the queue is empty: the
  /// call takes the next head ticket at once and waits for that slot's item.
  /// Throws surge::queue_closed when the queue is closed and empty (also when
  /// it was already waiting at the close); nothing is removed then. Throws
  /// what T's move constructor (copy constructor, when the move may throw and
  /// T is copyable) throws; the item then stays at the head.
  [[nodiscard]] T pop() requires std::is_move_constructible_v<T> {
    if constexpr (locked_pops) {
      for (;;) {
        std::uint64_t h = 0;
        std::uint32_t w = 0;
        if (!lock_head<true>(h, w)) throw queue_closed();
        const head_guard guard{this, h, w};
        if ((w & hole_bit) != 0) continue;
        return T(std::move_if_noexcept(*guard.item()));
      }
    }
    for (;;) {
      const std::uint64_t h = head_->fetch_add(1, std::memory_order_relaxed);
      const spot p = locate(h);
      const std::uint32_t want = p.full();
      if ((h & (lag_align_ - 1)) == 0 || (p.s->seq.load(std::memory_order_relaxed) & ~flag_bits) != want) {
        // Ticket h was never pushed and never will be: closed and empty. (A
        // fast answer; a close that comes later is seen in await.)
        if (closed_before(h)) throw queue_closed();
        let_producers_ahead(h);
      }
      const std::optional<std::uint32_t> got = await(
          p.s->seq, [want](std::uint32_t v) { return (v & ~flag_bits) == want; },
          [this, h] { return closed_before(h); });
      if (!got) throw queue_closed();
      const std::uint32_t w = *got;
      if ((w & hole_bit) != 0) {
        publish(*p.s, p.next());
        continue;
      }
      const release_on_exit release{this, p};
      return T(std::move(*p.s->item()));
    }
  }

  // ---- observers ---------------------------------------------------------

  /// The capacity asked for at construction: the queue never holds more. O(1).
  [[nodiscard]] size_type capacity() const noexcept { return capacity_; }

  /// Number of items, approximate under concurrency: pushes minus pops by
  /// ticket, clamped to [0, capacity()]. Counts operations in flight (and
  /// not-yet-skipped holes) as done; exact when no other thread is operating.
  /// O(1), thread-safe, never blocks.
  [[nodiscard]] size_type size() const noexcept {
    const std::uint64_t h = head_->load(std::memory_order_acquire);
    const std::uint64_t t = tail_->load(std::memory_order_acquire) & ~closed_bit;
    const auto d = static_cast<std::int64_t>(t - h);
    if (d <= 0) return 0;
    return std::min(static_cast<size_type>(d), capacity_);
  }

  /// `size() == 0`, with the same caveat: approximate under concurrency. O(1).
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  // ---- closing -----------------------------------------------------------

  /// Closes the queue for input (see the class comment): afterwards try_push
  /// returns false and push throws surge::queue_closed; items already in the
  /// queue stay there for consumers, and blocking pops waiting on a closed,
  /// empty queue (now or later) throw surge::queue_closed. Idempotent;
  /// thread-safe (any thread, any number of times, concurrently with every
  /// other member). O(capacity): it visits every slot to wake waiting pops.
  /// Producers blocked in push on a full queue are not released (the pass
  /// wakes them, and they go back to sleep): their pushes precede the close
  /// and complete as consumers make room.
  void close() noexcept {
    const std::uint64_t t = tail_->fetch_or(closed_bit, std::memory_order_acq_rel);
    if ((t & closed_bit) != 0) return;  // already closed (the first close wakes the waiters)
    // Tickets below t were claimed by pushes before the close; no push will
    // ever claim another. A pop whose ticket is >= t has no item to wait for.
    closed_at_.store(t, std::memory_order_release);
    // Wake every pop that sleeps (or is about to) on any slot. The RMW on
    // each word continues the close's release sequence (see Memory ordering
    // in the class comment), and setting closed_mark changes the word for
    // good (until the slot's next hand-off replaces it with a new lap's), so
    // every sleeper on it returns from atomic::wait. (Clearing the waiting
    // bit instead would not do: the first waiter to wake sets it again, and
    // a sleeper woken later sees its old word and sleeps on.) Waiters that are
    // not closed out (pushes, pops of items that will still come) re-check,
    // set the waiting bit again and go back to sleep.
    for (std::uint64_t i = 0; i <= mask_; ++i) {
      if ((slots_[i].seq.fetch_or(closed_mark, std::memory_order_acq_rel) & waiting_bit) != 0)
        slots_[i].seq.notify_all();
    }
  }

  /// Whether close() has been called (a snapshot: true stays true). O(1),
  /// thread-safe, lock-free.
  [[nodiscard]] bool is_closed() const noexcept { return (tail_->load(std::memory_order_acquire) & closed_bit) != 0; }

  /// A copy of the allocator. O(1).
  [[nodiscard]] allocator_type get_allocator() const noexcept { return alloc_; }

 private:
  template <class Queue>
  friend struct detail::mpmc_queue_hooks;

  // Sequence word: bits 5.. hold the lap (it wraps every 2^27 laps), bit 4
  // is set by close() (only to change the word: see close), bit 3 says a pop
  // is moving the item out (locked pops only), bit 2 says full (the
  // consumer's turn) or empty (the producer's turn), bit 1 marks a hole (a
  // push whose construction threw), bit 0 says somebody sleeps in
  // atomic::wait on it.
  static constexpr std::uint32_t waiting_bit = 1;
  static constexpr std::uint32_t hole_bit = 2;
  static constexpr std::uint32_t full_bit = 4;
  static constexpr std::uint32_t busy_bit = 8;
  static constexpr std::uint32_t closed_mark = 16;
  static constexpr std::uint32_t lap_shift = 5;
  /// Set in the tail by close() (tickets never come near 2^63).
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  /// closed_at_ while the queue is open: above every ticket.
  static constexpr std::uint64_t open_marker = ~std::uint64_t{0};
  /// Pops whose move (or copy) out of the slot may throw hold the head slot
  /// while they move and advance `head` only once the move succeeded, so a
  /// failed move leaves the item where it was (see the class comment).
  static constexpr bool locked_pops = !std::is_nothrow_move_constructible_v<T> ||
                                      (std::is_move_assignable_v<T> && !std::is_nothrow_move_assignable_v<T>);
  static constexpr std::uint32_t flag_bits = waiting_bit | hole_bit | closed_mark;
  static constexpr std::uint32_t spin_polls = 128;  // with pause between: about 3 us on a 2023 x86
  static constexpr std::uint32_t yield_polls = 32;
  static constexpr std::uint64_t batch_lag = 1024;      // tickets; see let_producers_ahead
  static constexpr std::uint64_t batch_skip = 1024;     // tickets without look-ahead after a vain one (times 2^streak)
  static constexpr std::uint32_t batch_streak_max = 6;  // so at most 65536 tickets
  static constexpr size_type max_capacity = size_type{1} << (std::numeric_limits<size_type>::digits - 2);

  struct slot {
    std::atomic<std::uint32_t> seq{0};
    alignas(T) unsigned char storage[sizeof(T)];

    T* item() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  /// Where a ticket lives: its slot, and its lap's word for the empty phase.
  /// Computed once per operation (the members it reads cannot be kept in
  /// registers across the operation's atomic instructions).
  struct spot {
    slot* s = nullptr;
    std::uint32_t empty = 0;
    [[nodiscard]] std::uint32_t full() const noexcept { return empty | full_bit; }
    /// The empty word of the next lap (the word wraps like the lap does).
    [[nodiscard]] std::uint32_t next() const noexcept { return empty + (std::uint32_t{1} << lap_shift); }
  };

  static constexpr std::size_t block_size = std::max(detail::destructive_interference_size, alignof(slot));
  struct alignas(block_size) block {
    unsigned char bytes[block_size];
  };
  using alloc_traits = std::allocator_traits<Allocator>;
  using block_alloc = typename alloc_traits::template rebind_alloc<block>;
  using block_traits = std::allocator_traits<block_alloc>;

  /// Whether constructing an item from `Args` cannot throw. Items are
  /// constructed through the allocator, like the standard containers do: by
  /// its `construct` when it has one, which may do more than T's
  /// constructor (std::pmr's allocator passes itself to T, so moving a
  /// `std::pmr::vector` from another memory resource in copies and
  /// allocates, although T's move constructor is `noexcept`).
  template <class... Args>
  static constexpr bool nothrow_construct() noexcept {
    if constexpr (requires(Allocator& a, T* p, Args&&... args) { a.construct(p, std::forward<Args>(args)...); })
      return noexcept(std::declval<Allocator&>().construct(std::declval<T*>(), std::declval<Args>()...));
    else
      return std::is_nothrow_constructible_v<T, Args...>;
  }

  /// On scope exit (normal or by exception): destroy the taken item and hand
  /// the slot to the producer of the next lap.
  struct release_on_exit {
    mpmc_queue* queue;
    spot place;
    ~release_on_exit() {
      queue->destroy(*place.s);
      publish(*place.s, place.next());
    }
  };

  static constexpr std::uint32_t empty_word(std::uint64_t lap) noexcept {
    return static_cast<std::uint32_t>(lap << lap_shift);
  }
  static constexpr std::uint32_t full_word(std::uint64_t lap) noexcept { return empty_word(lap) | full_bit; }
  /// True when the (flag-free part of) word `w` is at or past `target` in the
  /// slot's phase order (modulo 2^27 laps).
  static constexpr bool reached(std::uint32_t w, std::uint32_t target) noexcept {
    return static_cast<std::int32_t>((w & ~flag_bits) - target) >= 0;
  }

  [[nodiscard]] std::uint64_t lap(std::uint64_t ticket) const noexcept { return ticket >> shift_; }

  [[nodiscard]] slot& slot_at(std::uint64_t ticket) const noexcept {
    const std::uint64_t i = ticket & mask_;
    const std::uint64_t m = ((i >> remap_bits_) ^ i) & remap_low_;
    return slots_[i ^ m ^ (m << remap_bits_)];
  }

  [[nodiscard]] spot locate(std::uint64_t ticket) const noexcept { return {&slot_at(ticket), empty_word(lap(ticket))}; }

  /// Whether the item of ticket `u` has been popped (or its hole skipped).
  [[nodiscard]] bool consumed(std::uint64_t u) const noexcept {
    return reached(slot_at(u).seq.load(std::memory_order_acquire), empty_word(lap(u) + 1));
  }

  /// Prefetches the slot's cache line for writing (detail::prefetch_for_write).
  /// The `try_*` calls read a slot's word and then, a few instructions later,
  /// write the slot: the hint starts the line's transfer at once, so it
  /// overlaps the read and the ticket's compare-and-swap. Measured in the
  /// non-blocking 1P1C, 2P2C and 4P4C scenarios with the default build's
  /// `prefetcht0` (docs/queue.md, "What we tried"); the blocking calls gained
  /// nothing from it and do not use it.
  static void prefetch_for_write(const slot& s) noexcept { detail::prefetch_for_write(&s); }

  /// Hands a slot on: swaps in the next word (release) and wakes sleepers
  /// only if one announced itself.
  static void publish(slot& s, std::uint32_t word) noexcept {
    if ((s.seq.exchange(word, std::memory_order_release) & waiting_bit) != 0) s.seq.notify_all();
  }

  struct never_closed {
    constexpr bool operator()() const noexcept { return false; }
  };

  /// Waits until `ready(word)`; returns that word (acquire), or nothing once
  /// `closed()` says the word will never be ready. Three phases:
  /// poll with a `pause` between reads (`spin_polls`, a few microseconds: the
  /// usual wait is one hand-off away, and waking a sleeper costs far more), then
  /// poll with `yield` between reads (lets the awaited thread
  /// run on an oversubscribed machine), then announce ourselves with the
  /// waiting bit and sleep in `atomic::wait` until the word changes.
  /// `closed()` is asked only in the last phase, right before each sleep,
  /// after the word was read with acquire (or the waiting bit set with an
  /// acquiring CAS): by the argument in the class comment, it then sees any
  /// close() whose pass over the slots came before that read, and a later
  /// pass changes the word and wakes us. The polling phases are bounded, so a
  /// closed wait ends within a few microseconds and 32 yields.
  template <class Ready, class Closed = never_closed>
  static std::optional<std::uint32_t> await(std::atomic<std::uint32_t>& seq, Ready ready, Closed closed = {}) noexcept {
    for (std::uint32_t i = 0; i < spin_polls; ++i) {
      const std::uint32_t w = seq.load(std::memory_order_acquire);
      if (ready(w)) return w;
      detail::cpu_relax();
    }
    detail::backoff<1, yield_polls> yielding;
    for (;;) {
      std::uint32_t w = seq.load(std::memory_order_acquire);
      if (ready(w)) return w;
      if (yielding.spinning()) {
        yielding.pause();
        continue;
      }
      if ((w & waiting_bit) == 0) {
        if (!seq.compare_exchange_weak(w, w | waiting_bit, std::memory_order_acquire, std::memory_order_relaxed))
          continue;
        w |= waiting_bit;
      }
      if (closed()) return std::nullopt;
      seq.wait(w, std::memory_order_acquire);
    }
  }

  /// Keeps a streaming consumer well behind its producers. A blocking pop
  /// whose slot is not filled yet (it caught up with the producers), and every
  /// blocking pop whose ticket starts a block of `lag_align_` tickets, first
  /// waits, for at most `lag_ / 2` polls, until the slot about `lag_` tickets
  /// ahead (`batch_lag`, 1024, or a quarter of the ring; aligned to a block
  /// start) has been filled, and only then takes its own item as usual.
  /// Why: a consumer that follows its producer closely reads the lines the
  /// producer is still filling, and every such read costs the producer a line
  /// transfer; the surest way we found to stop it was distance. In 1P1C the
  /// consumer is the faster side, so left alone it catches up and then polls
  /// the very slot being filled (one serialized transfer per item, measured
  /// as the bottleneck of 1P1C); with the look-ahead it stays 1,000 tickets
  /// (16 KB of 16-byte slots) behind, and both sides stream through lines the
  /// other is done with (docs/queue.md, Design: 1P1C blocking from 60 to
  /// 150 M/s). A pop whose producers are already far enough ahead pays one
  /// read per block. A wait that polls in vain (the producers are not
  /// streaming: a lone item, a slow producer) costs up to `lag_ / 2` pauses
  /// once and turns the look-ahead off for the next `batch_skip << k`
  /// tickets, where `k` counts the vain waits since the last successful one
  /// (at most `batch_streak_max`): isolated vain waits (a streaming pair whose
  /// producer hiccups now and then) keep the look-ahead on, repeated ones
  /// (sparse traffic) turn it off for longer and longer. Both hints are read
  /// on every look-ahead but written only when one fails, or succeeds after
  /// failing, so consumers do not keep stealing their line from each other.
  /// Correctness does not depend on any of it: this only reads another slot's
  /// word (relaxed; the caller still waits for its own slot with acquire) and
  /// writes `lag_skip_` and `lag_streak_`, hints no other decision depends on,
  /// so every ordering and wake-up argument of the queue is unchanged. Only
  /// for rings of at least 4 * `lag_align_` slots (256 for 16-byte slots),
  /// where the slot ahead is a later ticket of another slot rather than the
  /// caller's own slot in a later lap.
  void let_producers_ahead(std::uint64_t h) noexcept {
    if (lag_ == 0) return;
    if (static_cast<std::int64_t>(h - lag_skip_->load(std::memory_order_relaxed)) < 0) return;
    const std::uint64_t a = (h + lag_) & ~(lag_align_ - 1);
    const std::atomic<std::uint32_t>& ahead = slot_at(a).seq;
    const std::uint32_t filled = full_word(lap(a));
    for (std::uint64_t i = 0; i < lag_ / 2; ++i) {
      if (reached(ahead.load(std::memory_order_relaxed), filled)) {
        if (lag_streak_->load(std::memory_order_relaxed) != 0) lag_streak_->store(0, std::memory_order_relaxed);
        return;
      }
      detail::cpu_relax();
    }
    const std::uint32_t k = lag_streak_->load(std::memory_order_relaxed);
    lag_streak_->store(std::min(k + 1, batch_streak_max), std::memory_order_relaxed);
    lag_skip_->store(h + (batch_skip << k), std::memory_order_relaxed);
  }

  /// Locked pops: takes the head item by setting the busy bit in its slot's
  /// word (full, or a hole, for the lap of `head`). Returns false (Wait ==
  /// false) when the head slot is empty or another pop is moving its item;
  /// with Wait it waits instead, and returns false only once the queue is
  /// closed and empty.
  ///
  /// What makes ticket `h` unique here: `head` is not advanced by an RMW but
  /// stored by the one pop that holds the head slot's busy bit (head_guard,
  /// after a successful move). The busy bit is a lock: only one CAS can set
  /// it, and until its holder stores `head = h + 1` and hands the slot on, no
  /// other pop can lock the slot or see `head` move. But the CAS compares a
  /// 32-bit word, whose lap wraps every 2^27 laps: a pop that read `head`,
  /// stalled for 2^27 laps of traffic and then found the word of *its* stale
  /// lap (same bits, a later ticket's item) would lock the slot for the wrong
  /// ticket and then move `head` backwards. So after the CAS succeeds, `head`
  /// is read again: still `h` proves the slot holds ticket h's item (`head`
  /// only grows, reaches `h` only after ticket `h - 1` was taken, and passes
  /// `h` only after ticket `h` was taken -- by the busy holder, which is now
  /// us; and the acquiring CAS synchronizes with the publish that followed a
  /// later `head` store, so a moved `head` is seen). Otherwise the slot is
  /// released unchanged and the pop starts again from the current head.
  /// (surge's tests replay exactly that stall, deterministically, through
  /// detail::mpmc_queue_hooks::head_read.)
  template <bool Wait>
  bool lock_head(std::uint64_t& h, std::uint32_t& w) noexcept {
    h = head_->load(std::memory_order_relaxed);
    detail::mpmc_queue_hooks<mpmc_queue>::head_read(*this, h);  // nothing, except in a test
    for (;;) {
      slot& s = slot_at(h);
      w = s.seq.load(std::memory_order_acquire);
      if ((w & ~flag_bits) == full_word(lap(h))) {
        if (!s.seq.compare_exchange_weak(w, w | busy_bit, std::memory_order_acquire, std::memory_order_relaxed))
          continue;
        const std::uint64_t now = head_->load(std::memory_order_relaxed);
        if (now == h) return true;
        publish(s, w & ~waiting_bit);  // a stale head: unlock the slot as it was
        h = now;
        continue;
      }
      const std::uint64_t now = head_->load(std::memory_order_relaxed);
      if (now != h) {
        h = now;
        continue;
      }
      if constexpr (!Wait) {
        return false;
      } else {
        if (closed_before(h)) return false;
        const std::uint32_t seen = w & ~waiting_bit;
        if (!await(
                s.seq, [seen](std::uint32_t v) { return (v & ~waiting_bit) != seen; },
                [this, h] { return closed_before(h); }))
          return false;
        h = head_->load(std::memory_order_relaxed);
      }
    }
  }

  /// Whether ticket `h` lies at or past the tail at close(): no push ever
  /// took it, so a pop holding it will never get an item (closed and empty).
  [[nodiscard]] bool closed_before(std::uint64_t h) const noexcept {
    return h >= closed_at_.load(std::memory_order_acquire);
  }

  /// Locked pops: owns the head slot locked by lock_head. On a normal scope
  /// exit the pop is done: `head` moves on, the item (or hole) is destroyed and
  /// the slot handed to the next lap's producer. When the scope is left by an
  /// exception (the move out threw), the slot is republished exactly as it was:
  /// the item stays at the head of the queue for the next pop.
  struct head_guard {
    mpmc_queue* queue;
    std::uint64_t ticket;
    std::uint32_t word;
    spot place = queue->locate(ticket);
    int exceptions = std::uncaught_exceptions();

    [[nodiscard]] T* item() const noexcept { return place.s->item(); }
    ~head_guard() {
      if (std::uncaught_exceptions() > exceptions) {
        publish(*place.s, word & ~waiting_bit);
        return;
      }
      queue->head_->store(ticket + 1, std::memory_order_relaxed);
      if ((word & hole_bit) == 0) queue->destroy(*place.s);
      publish(*place.s, place.next());
    }
  };

  /// Claims the head ticket if its item is there: `p` is its place and `w`
  /// its slot's word.
  bool try_claim_pop(spot& p, std::uint32_t& w) noexcept {
    std::uint64_t h = head_->load(std::memory_order_relaxed);
    for (;;) {
      p = locate(h);
      w = p.s->seq.load(std::memory_order_acquire);
      if ((w & ~flag_bits) == p.full()) {
        prefetch_for_write(*p.s);  // only once the slot is ready: never pull a line a producer is filling
        if (head_->compare_exchange_weak(h, h + 1, std::memory_order_relaxed, std::memory_order_relaxed)) return true;
      } else {
        const std::uint64_t seen = h;
        h = head_->load(std::memory_order_relaxed);
        if (h == seen) return false;
      }
    }
  }

  template <class... Args>
  void construct_and_publish(spot p, Args&&... args) noexcept(nothrow_construct<Args...>()) {
    slot& s = *p.s;
    T* const where = reinterpret_cast<T*>(s.storage);
    if constexpr (nothrow_construct<Args...>()) {
      alloc_traits::construct(alloc_, where, std::forward<Args>(args)...);
    } else {
      try {
        alloc_traits::construct(alloc_, where, std::forward<Args>(args)...);
      } catch (...) {
        publish(s, p.full() | hole_bit);
        throw;
      }
    }
    publish(s, p.full());
  }

  void destroy(slot& s) noexcept { alloc_traits::destroy(alloc_, s.item()); }

  // Read-only after construction; on lines of their own (the tickets below are padded).
  slot* slots_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t remap_low_ = 0;
  std::uint64_t lag_ = 0;  // 0: no look-ahead (ring too small)
  std::uint64_t lag_align_ = 64;
  size_type capacity_ = 0;
  std::uint32_t shift_ = 0;
  std::uint32_t remap_bits_ = 0;
  bool exact_ = true;
  [[no_unique_address]] Allocator alloc_;
  typename block_traits::pointer blocks_{};
  std::size_t block_count_ = 0;
  // The tail when close() was called (open_marker while open): written once,
  // read only by pops that find their slot empty, so it may share this line.
  std::atomic<std::uint64_t> closed_at_{open_marker};
  detail::padded<std::atomic<std::uint64_t>> tail_;
  detail::padded<std::atomic<std::uint64_t>> head_;
  // Hints for blocking pops (let_producers_ahead): the first head ticket whose
  // pop may look ahead again, and the number of vain look-aheads in a row.
  detail::padded<std::atomic<std::uint64_t>> lag_skip_;
  detail::padded<std::atomic<std::uint32_t>> lag_streak_;
};

}  // namespace surge

#endif  // SURGE_QUEUE_MPMC_QUEUE_HPP
