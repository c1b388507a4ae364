/// @file surge/balance/detail/streams.hpp
/// Random streams of the balancer policies: SplitMix64 streams one per
/// thread slot (`sharded_splitmix`), 64 random bits from any generator, and
/// the multiply-shift map of random bits onto [0, n).
#ifndef SURGE_BALANCE_DETAIL_STREAMS_HPP
#define SURGE_BALANCE_DETAIL_STREAMS_HPP

#include <surge/detail/cache_line.hpp>
#include <surge/detail/hash.hpp>
#include <surge/detail/thread_slot.hpp>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace surge::detail {

/// Reader / writer slots per policy instance: threads are spread over this
/// many cache-line-padded slots by their `thread_slot()` id.
inline constexpr std::size_t slot_count = 16;

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

/// 64 random bits from any UniformRandomBitGenerator: the draw itself when
/// it gives 64 bits, otherwise enough draws to hold 64 bits between them
/// (⌈64 / b⌉ for a generator of b whole bits a draw: two for 32 bits, 64 for
/// one bit), folded through mix64 (fine for a balancer, not for cryptography).
template <class URBG>
[[nodiscard]] std::uint64_t random_bits(URBG& g) {
  using G = std::remove_reference_t<URBG>;
  // values a draw can take, minus one (at least 1: a generator's min < max)
  constexpr std::uint64_t span = static_cast<std::uint64_t>(G::max()) - static_cast<std::uint64_t>(G::min());
  if constexpr (span == std::numeric_limits<std::uint64_t>::max()) {
    return static_cast<std::uint64_t>(g()) - static_cast<std::uint64_t>(G::min());
  } else {
    constexpr int bits = static_cast<int>(std::bit_width(span + 1)) - 1;  // whole bits of one draw
    constexpr int draws = (64 + bits - 1) / bits;
    std::uint64_t x = 0;
    for (int i = 0; i < draws; ++i)
      x = mix64(x ^ (static_cast<std::uint64_t>(g()) - static_cast<std::uint64_t>(G::min())));
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
