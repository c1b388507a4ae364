/// @file surge/exec/detail/frame_allocator.hpp
/// Recycler for coroutine frames (internal to surge/exec).
///
/// A `co_await` of a child task that completes at once costs little more than
/// a function call, except for the child's frame: a heap allocation and a free.
/// surge's coroutine promises allocate frames here instead, in 64-byte size
/// classes up to 1 KiB (larger frames go to the global allocator).
///
/// - Each thread keeps, per class, a free list of up to `frame_batch` frames
///   plus one spare full batch: allocation and release are a few loads and
///   stores, no atomics.
/// - Frames often die on another thread than the one that made them (a
///   spawned coroutine is created on the caller and finishes on a worker).
///   Full batches then move through a global depot (one mutex, taken once per
///   `frame_batch` frames, holding at most `frame_depot_batches` batches per
///   class): the freeing thread hands a batch in, the allocating thread takes
///   it out. Without the depot, such a producer/consumer pattern makes every
///   frame a cross-thread malloc/free, which contends on the allocator's lock.
/// - A thread's lists go back to the depot (or the allocator) when it exits.
///
/// Off under AddressSanitizer (so that a use of a destroyed frame is
/// reported), and when `SURGE_EXEC_NO_FRAME_CACHE` is defined. Define it, or
/// build with AddressSanitizer, in every translation unit of a program or in
/// none: the functions below then differ between translation units (a
/// violation of the one-definition rule), and a frame allocated where the
/// recycler is off (at its exact size) can be freed where it is on and
/// handed out again for a larger frame of its size class, a heap overflow.
#ifndef SURGE_EXEC_DETAIL_FRAME_ALLOCATOR_HPP
#define SURGE_EXEC_DETAIL_FRAME_ALLOCATOR_HPP

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>

#if !defined(SURGE_EXEC_NO_FRAME_CACHE)
#if defined(__SANITIZE_ADDRESS__)
#define SURGE_EXEC_NO_FRAME_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SURGE_EXEC_NO_FRAME_CACHE 1
#endif
#endif
#endif

namespace surge::detail {

inline constexpr std::size_t frame_granule = 64;          ///< size-class step, bytes
inline constexpr std::size_t frame_classes = 16;          ///< classes: 64, 128 ... 1024 bytes
inline constexpr std::uint32_t frame_batch = 32;          ///< frames per batch
inline constexpr std::uint32_t frame_depot_batches = 32;  ///< batches kept per class in the depot

// A free frame's first word links it to the next frame of its batch; the
// first frame of a batch in the depot uses its second word to link batches.
inline void*& frame_next(void* p) noexcept { return static_cast<void**>(p)[0]; }
inline void*& batch_next(void* p) noexcept { return static_cast<void**>(p)[1]; }

/// The global depot of full batches, per class.
struct frame_depot {
  std::mutex mutex_;
  void* batches_[frame_classes] = {};
  std::uint32_t count_[frame_classes] = {};

  /// Takes a full batch, or nullptr.
  void* take(std::size_t cls) noexcept {
    std::lock_guard lock(mutex_);
    void* b = batches_[cls];
    if (b) {
      batches_[cls] = batch_next(b);
      --count_[cls];
    }
    return b;
  }
  /// Stores a full batch; false if the depot is full for that class.
  bool give(std::size_t cls, void* b) noexcept {
    std::lock_guard lock(mutex_);
    if (count_[cls] >= frame_depot_batches) return false;
    batch_next(b) = batches_[cls];
    batches_[cls] = b;
    ++count_[cls];
    return true;
  }
};

inline constinit frame_depot global_frame_depot{};

inline void free_frame_list(void* p) noexcept {
  while (p) {
    void* next = frame_next(p);
    ::operator delete(p);
    p = next;
  }
}

/// One thread's lists. Trivially destructible, so it stays usable while
/// other thread_local objects are destroyed; `frame_cache_guard` empties it.
struct frame_cache_lists {
  void* head[frame_classes];  // current list
  std::uint32_t count[frame_classes];
  void* spare[frame_classes];  // a full batch, or nullptr
  bool registered;             // the guard below exists for this thread
  bool closed;                 // thread is exiting: recycle nothing more
};

inline thread_local constinit frame_cache_lists frame_cache{};

/// Returns the calling thread's cached frames when the thread exits.
struct frame_cache_guard {
  frame_cache_guard() = default;
  frame_cache_guard(const frame_cache_guard&) = delete;
  frame_cache_guard& operator=(const frame_cache_guard&) = delete;
  ~frame_cache_guard() {
    frame_cache_lists& c = frame_cache;
    c.closed = true;
    for (std::size_t i = 0; i < frame_classes; ++i) {
      if (c.spare[i] && !global_frame_depot.give(i, c.spare[i])) free_frame_list(c.spare[i]);
      if (c.count[i] == frame_batch && global_frame_depot.give(i, c.head[i])) c.head[i] = nullptr;
      free_frame_list(c.head[i]);
      c.spare[i] = c.head[i] = nullptr;
      c.count[i] = 0;
    }
  }
};

inline void register_frame_cache() {
  static thread_local frame_cache_guard guard;
  (void)guard;
  frame_cache.registered = true;
}

[[nodiscard]] inline void* frame_refill(frame_cache_lists& c, std::size_t cls) {
  if (c.closed) return ::operator new((cls + 1) * frame_granule);
  void* b = c.spare[cls];
  if (b) {
    c.spare[cls] = nullptr;
  } else {
    b = global_frame_depot.take(cls);
    if (!b) return ::operator new((cls + 1) * frame_granule);
    if (!c.registered) register_frame_cache();
  }
  c.head[cls] = frame_next(b);
  c.count[cls] = frame_batch - 1;
  return b;
}

inline void frame_spill(frame_cache_lists& c, std::size_t cls) noexcept {
  // the current list is a full batch: keep it as the spare, sending the old
  // spare (if any) to the depot, or to the allocator if the depot is full
  if (void* old = c.spare[cls]) {
    if (!global_frame_depot.give(cls, old)) free_frame_list(old);
  }
  c.spare[cls] = c.head[cls];
  c.head[cls] = nullptr;
  c.count[cls] = 0;
}

/// Allocates a coroutine frame of `size` bytes. Throws std::bad_alloc like new.
[[nodiscard]] inline void* frame_allocate(std::size_t size) {
#if !defined(SURGE_EXEC_NO_FRAME_CACHE)
  const std::size_t cls = (size - 1) / frame_granule;  // size > 0 for any frame
  if (cls < frame_classes) {
    frame_cache_lists& c = frame_cache;
    if (void* p = c.head[cls]) {
      c.head[cls] = frame_next(p);
      --c.count[cls];
      return p;
    }
    return frame_refill(c, cls);
  }
#endif
  return ::operator new(size);
}

/// Releases a frame obtained from frame_allocate(size).
inline void frame_deallocate(void* p, std::size_t size) noexcept {
#if !defined(SURGE_EXEC_NO_FRAME_CACHE)
  const std::size_t cls = (size - 1) / frame_granule;
  if (cls < frame_classes) {
    frame_cache_lists& c = frame_cache;
    if (!c.closed) {
      if (!c.registered) register_frame_cache();
      if (c.count[cls] == frame_batch) frame_spill(c, cls);
      frame_next(p) = c.head[cls];
      c.head[cls] = p;
      ++c.count[cls];
      return;
    }
  }
#else
  (void)size;
#endif
  ::operator delete(p);
}

/// Base for promise types whose frames come from the per-thread recycler.
struct recycled_frame {
  static void* operator new(std::size_t size) { return frame_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_deallocate(p, size); }
};

}  // namespace surge::detail

#endif  // SURGE_EXEC_DETAIL_FRAME_ALLOCATOR_HPP
