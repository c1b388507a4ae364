/// @file surge/cache/detail/frequency_sketch.hpp
/// TinyLFU's popularity estimate: a count-min sketch of 4-bit counters with
/// periodic halving (aging), fronted by a one-bit-per-slot doorkeeper.
#ifndef SURGE_CACHE_DETAIL_FREQUENCY_SKETCH_HPP
#define SURGE_CACHE_DETAIL_FREQUENCY_SKETCH_HPP

#include <cstddef>
#include <cstdint>
#include <memory>

#include <surge/detail/hash.hpp>

namespace surge::detail {

/// Estimates how often each key (given by a 32-bit hash) was seen in the
/// recent past, in 0..16, for a cache of `capacity` entries (Einziger,
/// Friedman and Manes, "TinyLFU", 2017; the layout follows Caffeine's
/// FrequencySketch).
///
/// - Sketch: one 64-bit word (sixteen 4-bit counters) per entry of capacity,
///   rounded up to a power of two. A key has 4 counters, one in each of 4
///   words picked by independently seeded hashes, each at a nibble chosen by
///   the hash; its count is the minimum of the 4 (count-min: never an
///   underestimate between resets).
/// - Doorkeeper: a Bloom filter (2 probes into 8 bits per entry of capacity).
///   A key's first sighting in a period only sets its doorkeeper bits; later
///   sightings increment the counters; the estimate adds 1 for a doorkeeper
///   hit. Keys seen once, the bulk of most traces, never touch the counters.
/// - Aging: after `10 x capacity` recorded sightings every counter is halved
///   and the doorkeeper cleared, so the estimate follows popularity as it
///   changes.
///
/// O(1) per call, noexcept, allocation only in the constructor. Not
/// thread-safe. Hashes are remixed with a seed, so the caller's hash may be
/// weak; the seed is fixed (runs are reproducible).
class frequency_sketch {
 public:
  explicit frequency_sketch(std::size_t capacity)
      : words_(pow2_at_least(capacity < 8 ? 8 : capacity)),
        door_words_(pow2_at_least((capacity < 8 ? 8 : capacity) / 8)),
        table_(std::make_unique<std::uint64_t[]>(words_)),
        door_(std::make_unique<std::uint64_t[]>(door_words_)),
        period_(10 * (capacity < 8 ? 8 : capacity)) {}

  /// Records one sighting of the key with hash `h`.
  void increment(std::uint32_t h) noexcept {
    const std::uint64_t x = spread(h);
    if (door_add(x)) {
      const std::uint32_t nibbles = static_cast<std::uint32_t>(x >> 48);
      for (unsigned i = 0; i < 4; ++i) {
        std::uint64_t& w = table_[word(x, i)];
        const unsigned shift = nibble(nibbles, i);
        if (((w >> shift) & 0xF) != 0xF) w += std::uint64_t{1} << shift;
      }
    }
    if (++sightings_ >= period_) age();
  }

  /// The estimated recent count of the key with hash `h` (0..16).
  [[nodiscard]] unsigned frequency(std::uint32_t h) const noexcept {
    const std::uint64_t x = spread(h);
    const std::uint32_t nibbles = static_cast<std::uint32_t>(x >> 48);
    unsigned f = 15;
    for (unsigned i = 0; i < 4; ++i) {
      const unsigned c = static_cast<unsigned>((table_[word(x, i)] >> nibble(nibbles, i)) & 0xF);
      if (c < f) f = c;
    }
    return f + (door_contains(x) ? 1u : 0u);
  }

  /// Forgets everything.
  void clear() noexcept {
    for (std::size_t i = 0; i < words_; ++i) table_[i] = 0;
    for (std::size_t i = 0; i < door_words_; ++i) door_[i] = 0;
    sightings_ = 0;
  }

  /// Sightings between two halvings.
  [[nodiscard]] std::size_t period() const noexcept { return period_; }

  [[nodiscard]] std::size_t memory_bytes() const noexcept { return (words_ + door_words_) * sizeof(std::uint64_t); }

 private:
  static constexpr std::uint64_t seed_ = 0x9E3779B97F4A7C15ULL;

  static std::size_t pow2_at_least(std::size_t n) noexcept {
    std::size_t p = 1;
    while (p < n) p *= 2;
    return p;
  }

  [[nodiscard]] static std::uint64_t spread(std::uint32_t h) noexcept {
    return mix64(static_cast<std::uint64_t>(h) * seed_ + seed_);
  }
  /// Word of counter i: a different 16-bit slice of x, remixed, per counter.
  [[nodiscard]] std::size_t word(std::uint64_t x, unsigned i) const noexcept {
    const std::uint64_t y = (x + seed_ * (i + 1)) * 0xD6E8FEB86659FD93ULL;
    return static_cast<std::size_t>(y >> 32) & (words_ - 1);
  }
  /// Counter i of a key sits in nibble 4*j + i of its word, j from 2 hash bits:
  /// the 4 counters of a key never share a nibble position.
  [[nodiscard]] static unsigned nibble(std::uint32_t bits, unsigned i) noexcept {
    return (((bits >> (2 * i)) & 3u) * 4u + i) * 4u;
  }

  /// Sets the key's doorkeeper bits; true when they were all set already.
  bool door_add(std::uint64_t x) noexcept {
    bool all = true;
    for (unsigned k = 0; k < 2; ++k) {
      const std::uint64_t b = door_bit(x, k);
      std::uint64_t& w = door_[(b >> 6) & (door_words_ - 1)];
      const std::uint64_t m = std::uint64_t{1} << (b & 63);
      all = all && (w & m) != 0;
      w |= m;
    }
    return all;
  }
  [[nodiscard]] bool door_contains(std::uint64_t x) const noexcept {
    for (unsigned k = 0; k < 2; ++k) {
      const std::uint64_t b = door_bit(x, k);
      if ((door_[(b >> 6) & (door_words_ - 1)] & (std::uint64_t{1} << (b & 63))) == 0) return false;
    }
    return true;
  }
  [[nodiscard]] static std::uint64_t door_bit(std::uint64_t x, unsigned k) noexcept {
    return k == 0 ? x : (x >> 24) ^ (x << 17);
  }

  void age() noexcept {
    for (std::size_t i = 0; i < words_; ++i) table_[i] = (table_[i] >> 1) & 0x7777'7777'7777'7777ULL;
    for (std::size_t i = 0; i < door_words_; ++i) door_[i] = 0;
    sightings_ = 0;
  }

  std::size_t words_;
  std::size_t door_words_;
  std::unique_ptr<std::uint64_t[]> table_;
  std::unique_ptr<std::uint64_t[]> door_;
  std::size_t period_;
  std::size_t sightings_ = 0;
};

}  // namespace surge::detail

#endif  // SURGE_CACHE_DETAIL_FREQUENCY_SKETCH_HPP
