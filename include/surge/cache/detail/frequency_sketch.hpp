/// @file surge/cache/detail/frequency_sketch.hpp
/// TinyLFU's popularity estimate: a count-min sketch of 4-bit counters, all
/// four of a key's counters in one 64-byte block, with periodic halving
/// (aging).
#ifndef SURGE_CACHE_DETAIL_FREQUENCY_SKETCH_HPP
#define SURGE_CACHE_DETAIL_FREQUENCY_SKETCH_HPP

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <surge/detail/cache_line.hpp>

namespace surge::detail {

/// Estimates how often each key (given by a 32-bit hash) was seen in the
/// recent past, in 0..15, for a cache of `capacity` entries (Einziger,
/// Friedman and Manes, "TinyLFU", 2017; the layout follows Caffeine's
/// FrequencySketch).
///
/// - Counters: one 64-bit word (sixteen 4-bit counters) per entry of
///   capacity, rounded up to a power of two (at least 8 words), grouped in
///   blocks of 8 words (64 bytes, one cache line, allocated 64-byte aligned:
///   unaligned, most blocks would straddle two lines). A key's hash picks one
///   block and, in it, 4 counters: counter i in word 2i or 2i + 1 of the
///   block, at a nibble chosen by the hash. Its estimate is the minimum of the
///   4 (count-min: never an underestimate between halvings). One sighting or
///   one estimate touches one cache line; a sighting adds to the four
///   counters without a branch (a saturated one gets 0).
/// - Aging: every sighting that raised at least one counter adds 1 to a
///   running size; when the size reaches `10 x capacity` (80 below a
///   capacity of 8, the table's minimum of 8 words) every counter is
///   halved (rounding down) and the size with it (less the halves lost to
///   rounding), so the estimate follows popularity as it changes and the
///   next halving comes after about 5 x capacity more sightings.
///
/// O(1) per call, noexcept, allocation only in the constructor. Not
/// thread-safe. The hash must already be well mixed in all 32 bits (the
/// caches pass index_hash, a 64-bit finaliser's top half): its low bits pick
/// the block, a multiplicative remix of all of them the counters. No random
/// seed: runs are reproducible.
class frequency_sketch {
 public:
  explicit frequency_sketch(std::size_t capacity)
      : words_(pow2_at_least(capacity < 8 ? 8 : capacity)),
        table_(std::make_unique<block[]>(words_ / block_words)),
        period_(10 * (capacity < 8 ? 8 : capacity)) {}

  /// Records one sighting of the key with hash `h`. True when all four of
  /// its counters are now saturated (15): until the next halving (a new
  /// epoch()), another sighting of the key would change nothing.
  [[gnu::always_inline]] bool increment(std::uint32_t h) noexcept {
    const place p = place_of(h);
    // The AND of the four old values: 15 when all were saturated (nothing
    // added); with bit 0 set, 15 when all are now (each was 14 or 15).
    const unsigned old = add<0>(p) & add<1>(p) & add<2>(p) & add<3>(p);
    if (old != 0xF && ++size_ >= period_) age();
    return (old | 1u) == 0xF;
  }

  /// Starts loading the cache line of the key with hash `h` for a coming
  /// increment() or frequency() (a hint: no effect on any count), so that
  /// its miss overlaps the caller's other work instead of stalling it. O(1).
  void prefetch(std::uint32_t h) const noexcept { prefetch_for_write(block_of(h)); }

  /// Changes at every halving and on clear() (1..65535, wrapping to 1, never
  /// 0): a counter's value can only have dropped since an epoch that differs
  /// from the current one.
  [[nodiscard]] std::uint16_t epoch() const noexcept { return epoch_; }

  /// The estimated recent count of the key with hash `h` (0..15).
  [[nodiscard]] unsigned frequency(std::uint32_t h) const noexcept {
    const place p = place_of(h);
    const unsigned a = count<0>(p), b = count<1>(p), c = count<2>(p), d = count<3>(p);
    const unsigned ab = a < b ? a : b, cd = c < d ? c : d;
    return ab < cd ? ab : cd;
  }

  /// Forgets everything.
  void clear() noexcept {
    for (std::size_t i = 0; i < words_; ++i) word_at(i) = 0;
    size_ = 0;
    next_epoch();
  }

  /// Counted sightings that trigger a halving.
  [[nodiscard]] std::size_t period() const noexcept { return period_; }

  /// Counted sightings since the last halving (halved with the counters).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  [[nodiscard]] std::size_t memory_bytes() const noexcept { return words_ * sizeof(std::uint64_t); }

 private:
  static std::size_t pow2_at_least(std::size_t n) noexcept {
    std::size_t p = 1;
    while (p < n) p *= 2;
    return p;
  }

  /// The key's block: the low bits of its hash (a mixed 32-bit hash, as the
  /// caches pass: index_hash). Capacities above 2^35 entries would leave
  /// blocks unused; the caches stop at 2^30.
  [[nodiscard]] std::uint64_t* block_of(std::uint32_t h) const noexcept {
    return table_[static_cast<std::size_t>(h) & (words_ / block_words - 1)].words;
  }
  [[nodiscard]] std::uint64_t& word_at(std::size_t i) const noexcept {
    return table_[i / block_words].words[i % block_words];
  }
  /// Where a key's four counters are: its block, and 32 more bits from all
  /// of the hash's bits (a multiplicative remix), so keys sharing a block
  /// spread over it. Byte i of them places counter i: bit 0 picks word 2i or
  /// 2i + 1 of the block (the 4 counters of a key never share a word), bits
  /// 1 to 4 the nibble.
  struct place {
    std::uint64_t* block;
    std::uint32_t bits;
  };
  [[nodiscard]] place place_of(std::uint32_t h) const noexcept {
    return {block_of(h), static_cast<std::uint32_t>((static_cast<std::uint64_t>(h) * 0x9E3779B97F4A7C15ULL) >> 32)};
  }
  template <unsigned I>
  [[nodiscard]] static std::uint64_t& word(const place& p) noexcept {
    return p.block[2 * I + ((p.bits >> (8 * I)) & 1u)];
  }
  /// The nibble's bit shift: 4 x bits 1 to 4 of byte I.
  template <unsigned I>
  [[nodiscard]] static unsigned shift(const place& p) noexcept {
    return ((p.bits >> (8 * I)) << 1) & 0x3Cu;
  }
  /// Adds 1 to counter I unless it is saturated (15), without a branch;
  /// returns its old value.
  template <unsigned I>
  static unsigned add(const place& p) noexcept {
    std::uint64_t& w = word<I>(p);
    const unsigned s = shift<I>(p);
    const auto c = static_cast<unsigned>(w >> s) & 0xFu;
    w += static_cast<std::uint64_t>(c != 0xFu) << s;
    return c;
  }
  template <unsigned I>
  [[nodiscard]] static unsigned count(const place& p) noexcept {
    return static_cast<unsigned>(word<I>(p) >> shift<I>(p)) & 0xFu;
  }

  [[gnu::noinline]] void age() noexcept {  // O(capacity), once per period: out of the hot path
    std::size_t odd = 0;
    for (std::size_t i = 0; i < words_; ++i) {
      std::uint64_t& w = word_at(i);
      odd += static_cast<std::size_t>(std::popcount(w & 0x1111'1111'1111'1111ULL));
      w = (w >> 1) & 0x7777'7777'7777'7777ULL;
    }
    // Each odd counter lost half a sighting to rounding; a sighting raised 4
    // counters, so odd / 4 sightings are gone before the size halves too.
    const std::size_t lost = odd / 4;
    size_ = (size_ > lost ? size_ - lost : 0) / 2;
    next_epoch();
  }

  void next_epoch() noexcept {
    if (++epoch_ == 0) epoch_ = 1;
  }

  /// 8 words, one cache line: aligned so that a key's counters are one line
  /// (an unaligned block would straddle two).
  static constexpr std::size_t block_words = 8;
  struct alignas(64) block {
    std::uint64_t words[block_words];
  };
  static_assert(sizeof(block) == 64);

  std::size_t words_;
  std::unique_ptr<block[]> table_;
  std::size_t period_;
  std::size_t size_ = 0;
  std::uint16_t epoch_ = 1;
};

}  // namespace surge::detail

#endif  // SURGE_CACHE_DETAIL_FREQUENCY_SKETCH_HPP
