/// @file surge/limit/detail/epoch_word.hpp
/// One lock-free word holding a limiter's state in token units relative to an
/// epoch that moves with the clock, so that clock readings any distance apart
/// stay within the units' range (see rate_units.hpp).
///
/// The word packs an 8-bit generation and a 56-bit signed value. The epoch of
/// generation g sits in slot g % 2 and is written before the word moves to g,
/// so a call that loaded the word reads its generation's epoch; another slot
/// write happens only two re-bases later, by which time the word's generation
/// has changed (a CAS against the loaded word fails, and a decision made from
/// a load without a store is confirmed with `same_generation`). Re-bases
/// serialise among themselves on a spin flag; the other calls never wait on it.
/// The generation repeats every 256 re-bases: a call preempted across 256 of
/// them (each 2^53 units of clock readings apart) could be confused, which a
/// real clock never produces.
#ifndef SURGE_LIMIT_DETAIL_EPOCH_WORD_HPP
#define SURGE_LIMIT_DETAIL_EPOCH_WORD_HPP

#include <surge/detail/backoff.hpp>

#include <array>
#include <atomic>
#include <cstdint>

namespace surge::detail {

class epoch_word {
 public:
  /// Values lie in [-2^55, 2^55); this one marks "no state" (a fresh limiter).
  static constexpr std::int64_t empty = -(std::int64_t{1} << 55);

  /// What one load saw: the word, its value and its generation's epoch (ns).
  struct view {
    std::uint64_t word = 0;
    std::int64_t value = empty;
    std::int64_t epoch = 0;
    std::uint32_t spins = 16;  ///< The pause after the next lost CAS (see store).
  };

  /// A word holding `value` relative to `epoch_ns`.
  explicit epoch_word(std::int64_t epoch_ns, std::int64_t value = empty) noexcept : word_(pack(0, value)) {
    epochs_[0].store(epoch_ns, std::memory_order_relaxed);
  }
  /// A word holding what `v` saw (a copy's state).
  explicit epoch_word(const view& v) noexcept : epoch_word(v.epoch, v.value) {}
  epoch_word(const epoch_word&) = delete;
  epoch_word& operator=(const epoch_word&) = delete;

  /// The word and its epoch.
  [[nodiscard]] view load() const noexcept { return view_of(word_.load(std::memory_order_acquire)); }

  /// Stores `value` in `v`'s generation if the word is still `v.word`;
  /// otherwise stays off the word's cache line for a while (`v.spins` relax
  /// hints, doubling from 16 to 256 per lost CAS, as token_bucket does, so the
  /// winner completes a streak of calls with the line in its own cache), then
  /// reloads `v` and returns false.
  bool store(view& v, std::int64_t value) noexcept {
    if (word_.compare_exchange_weak(v.word, pack(generation(v.word), value), std::memory_order_acq_rel,
                                    std::memory_order_acquire))
      return true;
    for (std::uint32_t i = 0; i < v.spins; ++i) cpu_relax();
    if (v.spins < 256) v.spins *= 2;
    const std::uint32_t spins = v.spins;
    v = load();
    v.spins = spins;
    return false;
  }

  /// True when no re-base happened since `v` was loaded (so a decision made
  /// from `v` without storing used the right epoch).
  [[nodiscard]] bool same_generation(const view& v) const noexcept {
    return generation(word_.load(std::memory_order_acquire)) == generation(v.word);
  }

  /// Moves the epoch to `epoch_ns`, storing reexpress(value) for the value the
  /// word holds then, if needed(value) still says so (a store since `seen`
  /// may have made the move unneeded, e.g. a backward move decided on an
  /// empty state); does nothing if another call re-based since `seen` was
  /// loaded. The caller reloads afterwards. (When needed() says no after the
  /// slot of the next generation was written, nothing reads that slot: the
  /// word stays in its generation, whose epoch is in the other slot.)
  template <class Needed, class F>
  void rebase(const view& seen, std::int64_t epoch_ns, Needed&& needed, F&& reexpress) noexcept {
    backoff<> bo;
    while (rebasing_.exchange(true, std::memory_order_acquire)) bo.pause();
    std::uint64_t w = word_.load(std::memory_order_acquire);
    if (generation(w) == generation(seen.word)) {
      const std::uint64_t next = (generation(w) + 1) & 0xffu;
      epochs_[next & 1u].store(epoch_ns, std::memory_order_release);
      // only the value changes under us (re-bases hold the flag)
      while (needed(value_of(w)) &&
             !word_.compare_exchange_weak(w, pack(next, reexpress(value_of(w))), std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
      }
    }
    rebasing_.store(false, std::memory_order_release);
  }

 private:
  static constexpr unsigned value_bits = 56;
  static constexpr std::uint64_t value_mask = (std::uint64_t{1} << value_bits) - 1;

  static std::uint64_t pack(std::uint64_t gen, std::int64_t value) noexcept {
    return (gen << value_bits) | (static_cast<std::uint64_t>(value) & value_mask);
  }
  static std::uint64_t generation(std::uint64_t w) noexcept { return w >> value_bits; }
  static std::int64_t value_of(std::uint64_t w) noexcept {
    const std::uint64_t v = w & value_mask;  // sign-extend the 56-bit field
    const std::uint64_t sign = std::uint64_t{1} << (value_bits - 1);
    return static_cast<std::int64_t>((v ^ sign) - sign);
  }
  view view_of(std::uint64_t w) const noexcept {
    return view{w, value_of(w), epochs_[generation(w) & 1u].load(std::memory_order_acquire)};
  }

  std::atomic<std::uint64_t> word_;
  std::array<std::atomic<std::int64_t>, 2> epochs_{};
  std::atomic<bool> rebasing_{false};
};

}  // namespace surge::detail

#endif  // SURGE_LIMIT_DETAIL_EPOCH_WORD_HPP
