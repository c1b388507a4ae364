/// @file surge/exec/detail/frame_allocator.hpp
/// Per-thread recycler for coroutine frames (internal to surge/exec).
///
/// A `co_await` of a child task that completes at once costs little more than
/// a function call, except for the child's frame: a heap allocation and a free.
/// surge's coroutine promises allocate frames here instead. Frames are rounded
/// up to 64-byte size classes (up to 1 KiB); a freed frame goes onto the
/// freeing thread's list for its class (at most `frame_cache_depth` frames per
/// class), and the next allocation of that class on that thread pops it. Larger
/// frames, and frames freed when the list is full, go to the global allocator.
/// A frame may be freed on another thread than the one that allocated it (it
/// then joins that thread's lists). Each thread's lists are released when the
/// thread exits.
///
/// The cache is off under AddressSanitizer (so that a use of a destroyed
/// frame is reported), and when `SURGE_EXEC_NO_FRAME_CACHE` is defined.
#ifndef SURGE_EXEC_DETAIL_FRAME_ALLOCATOR_HPP
#define SURGE_EXEC_DETAIL_FRAME_ALLOCATOR_HPP

#include <cstddef>
#include <cstdint>
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

inline constexpr std::size_t frame_granule = 64;      ///< size-class step, bytes
inline constexpr std::size_t frame_classes = 16;      ///< classes: 64, 128 ... 1024 bytes
inline constexpr std::uint32_t frame_cache_depth = 32;  ///< frames kept per class per thread

/// One thread's free lists. Trivially destructible, so it stays usable while
/// other thread_local objects are destroyed; `frame_cache_guard` empties it.
struct frame_cache_lists {
  void* head[frame_classes];
  std::uint32_t count[frame_classes];
  bool registered;  // the guard below exists for this thread
  bool closed;      // thread is exiting: recycle nothing more
};

inline thread_local constinit frame_cache_lists frame_cache{};

/// Frees the calling thread's cached frames when the thread exits.
struct frame_cache_guard {
  frame_cache_guard() = default;
  frame_cache_guard(const frame_cache_guard&) = delete;
  frame_cache_guard& operator=(const frame_cache_guard&) = delete;
  ~frame_cache_guard() {
    frame_cache_lists& c = frame_cache;
    c.closed = true;
    for (std::size_t i = 0; i < frame_classes; ++i) {
      while (void* p = c.head[i]) {
        c.head[i] = *static_cast<void**>(p);
        ::operator delete(p);
      }
      c.count[i] = 0;
    }
  }
};

inline void register_frame_cache() {
  static thread_local frame_cache_guard guard;
  (void)guard;
  frame_cache.registered = true;
}

/// Allocates a coroutine frame of `size` bytes. Throws std::bad_alloc like new.
[[nodiscard]] inline void* frame_allocate(std::size_t size) {
#if !defined(SURGE_EXEC_NO_FRAME_CACHE)
  const std::size_t cls = (size - 1) / frame_granule;  // size > 0 for any frame
  if (cls < frame_classes) {
    frame_cache_lists& c = frame_cache;
    if (void* p = c.head[cls]) {
      c.head[cls] = *static_cast<void**>(p);
      --c.count[cls];
      return p;
    }
    return ::operator new((cls + 1) * frame_granule);
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
    if (c.count[cls] < frame_cache_depth && !c.closed) {
      if (!c.registered) register_frame_cache();
      *static_cast<void**>(p) = c.head[cls];
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
