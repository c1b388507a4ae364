/// @file surge/balance/detail/streams.hpp
/// Per-thread slots and random streams of the balancer policies: small
/// recycled thread ids (`thread_slot`), SplitMix64 streams one per slot
/// (`sharded_splitmix`), 64 random bits from any generator, and the
/// multiply-shift map of random bits onto [0, n).
#ifndef SURGE_BALANCE_DETAIL_STREAMS_HPP
#define SURGE_BALANCE_DETAIL_STREAMS_HPP

#include <surge/detail/cache_line.hpp>
#include <surge/detail/hash.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <type_traits>
#include <vector>

namespace surge::detail {

/// Reader / writer slots per policy instance: threads are spread over this
/// many cache-line-padded slots by `thread_slot()`.
inline constexpr std::size_t slot_count = 16;

/// Registers the calling thread and returns its small id: the smallest id no
/// live thread holds (ids are recycled when a thread exits), so while at most
/// `slot_count` threads are alive each owns its slot alone. After the thread's
/// registration is torn down (its thread_local destructors), `*cache` is set
/// to an id >= slot_count, i.e. a shared slot. Cold path: a mutex.
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
      *cache = slot_count + id + 1;  // any later use takes a shared slot
      std::lock_guard<std::mutex> lock(r->m);
      r->free.push_back(id);
    }
  };
  std::size_t id;
  {
    std::lock_guard<std::mutex> lock(r->m);
    if (r->free.empty()) {
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

/// The calling thread's small id (see register_thread): ids below
/// `slot_count` belong to one live thread only. O(1) after the first call.
inline std::size_t thread_slot() noexcept {
  thread_local std::size_t id_plus_one = 0;  // constant-initialised: no TLS guard on the hot path
  if (id_plus_one == 0) id_plus_one = register_thread(&id_plus_one) + 1;
  return id_plus_one - 1;
}

/// SplitMix64 streams, one per thread slot, each on its own cache lines:
/// `next()` advances the calling thread's slot with a relaxed load and store
/// (no read-modify-write, no shared line between the first 16 threads), then
/// applies the mix64 finaliser. Threads that share a slot (more than 16) may
/// occasionally draw the same number — harmless for balancing, and never a
/// data race. Deterministic: one thread (the first to use any slot-spread
/// structure gets slot 0) sees the same sequence on every run for a seed.
class sharded_splitmix {
 public:
  explicit sharded_splitmix(std::uint64_t seed) noexcept {
    for (std::size_t k = 0; k < slot_count; ++k)
      slots_[k].value.store(mix64(seed + k * 0xda942042e4dd58b5ULL), std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t next() noexcept {
    auto& s = slots_[thread_slot() % slot_count].value;
    const std::uint64_t x = s.load(std::memory_order_relaxed) + gamma;
    s.store(x, std::memory_order_relaxed);
    return mix64(x);
  }

 private:
  static constexpr std::uint64_t gamma = 0x9e3779b97f4a7c15ULL;
  padded<std::atomic<std::uint64_t>> slots_[slot_count];
};

/// 64 random bits from any UniformRandomBitGenerator (two draws when it gives
/// 32 bits or fewer).
template <class URBG>
[[nodiscard]] std::uint64_t random_bits(URBG& g) {
  using R = typename std::remove_reference_t<URBG>::result_type;
  if constexpr (std::remove_reference_t<URBG>::min() == 0 &&
                std::remove_reference_t<URBG>::max() == std::numeric_limits<std::uint64_t>::max()) {
    return static_cast<std::uint64_t>(g());
  } else {
    // Fold several draws; fine for a balancer (not a cryptographic use).
    std::uint64_t x = 0;
    for (int i = 0; i < 3; ++i) x = mix64(x ^ static_cast<std::uint64_t>(static_cast<R>(g())));
    return x;
  }
}

/// Maps 32 random bits (the high half of r) onto [0, n), n < 2^32, by a
/// multiply-shift (Lemire); bias at most n / 2^32.
[[nodiscard]] constexpr std::size_t bounded(std::uint64_t r, std::size_t n) noexcept {
  return static_cast<std::size_t>(((r >> 32) * static_cast<std::uint64_t>(n)) >> 32);
}

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_STREAMS_HPP
