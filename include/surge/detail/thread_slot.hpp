/// @file surge/detail/thread_slot.hpp
/// Small per-thread ids that are recycled when threads exit, so that a
/// structure with k slots gives each of up to k live threads a slot of its
/// own: what the balancers' per-thread random streams and the histogram's
/// stripes index by.
#ifndef SURGE_DETAIL_THREAD_SLOT_HPP
#define SURGE_DETAIL_THREAD_SLOT_HPP

#include <algorithm>
#include <cstddef>
#include <limits>
#include <mutex>
#include <vector>

namespace surge::detail {

/// Set in the id of a thread whose registration has been torn down (see
/// thread_slot): such an id is at least this large, so it is never below the
/// slot count of any structure, and its low bits are the id it held.
inline constexpr std::size_t retired_thread_slot = std::size_t{1} << (std::numeric_limits<std::size_t>::digits - 1);

/// Registers the calling thread and returns its id: the smallest id no live
/// thread holds. When the thread's thread_local objects are destroyed, its id
/// goes back to the pool and `*cache` becomes `retired_thread_slot | id`.
/// Cold path: a mutex, and for a new id room for it in the free list, so
/// that giving it back at thread exit never allocates (or throws).
inline std::size_t register_thread(std::size_t* cache) {
  struct registry {
    std::mutex m;
    std::vector<std::size_t> free;
    std::size_t next = 0;
  };
  static registry* r = new registry;  // never destroyed: threads may exit after static destruction
  struct registration {
    std::size_t id;
    std::size_t* cache;
    ~registration() {
      *cache = (retired_thread_slot | id) + 1;  // thread_slot() keeps id + 1
      std::lock_guard<std::mutex> lock(r->m);
      r->free.push_back(id);
    }
  };
  std::size_t id;
  {
    std::lock_guard<std::mutex> lock(r->m);
    if (r->free.empty()) {
      r->free.reserve(r->next + 1);  // may throw here, never in ~registration
      id = r->next++;
    } else {
      const auto it = std::min_element(r->free.begin(), r->free.end());
      id = *it;
      r->free.erase(it);
    }
  }
  thread_local registration reg{id, cache};
  return id;
}

/// The calling thread's id: the smallest id no other live thread holds when
/// the thread first asks, stable for the thread's life, so while at most k
/// threads are alive their ids are below k and distinct. Once the thread's
/// thread_local destructors have torn its registration down, calls from those
/// destructors get `retired_thread_slot | id` (the id may already belong to a
/// new thread). O(1) after the thread's first call, which takes a mutex and
/// may allocate a few bytes (std::terminate if that fails: it is noexcept);
/// thread-safe.
inline std::size_t thread_slot() noexcept {
  thread_local std::size_t id_plus_one = 0;  // constant-initialised: no TLS guard on the hot path
  if (id_plus_one == 0) [[unlikely]]
    id_plus_one = register_thread(&id_plus_one) + 1;
  return id_plus_one - 1;
}

}  // namespace surge::detail

#endif  // SURGE_DETAIL_THREAD_SLOT_HPP
