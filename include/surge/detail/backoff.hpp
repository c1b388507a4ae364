/// @file surge/detail/backoff.hpp
/// Spin-then-yield backoff for short waits on a contended atomic.
#ifndef SURGE_DETAIL_BACKOFF_HPP
#define SURGE_DETAIL_BACKOFF_HPP

#include <cstdint>
#include <thread>

namespace surge::detail {

/// One CPU relax hint: `pause` on x86, `yield` on arm64, nothing elsewhere.
/// Tells the core (and its hyper-thread sibling) that this is a spin loop.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// Exponential spin, then yield. Each call to `pause()` waits about twice as
/// long as the previous one (1, 2, 4 ... relax hints, each count below
/// `SpinLimit`: up to 32 for the default 64); after those it yields the
/// thread instead, so a waiter on an oversubscribed
/// machine (more runnable threads than cores) lets the thread it waits for run.
/// `spinning()` tells a caller when to switch to a real wait (atomic::wait,
/// condition variable): spinning is only for waits expected to end within
/// about a microsecond.
///
/// Complexity: O(current step) per pause. Not thread-safe (one per waiting
/// thread, usually on the stack). No bad input: limits are template parameters.
template <std::uint32_t SpinLimit = 64, std::uint32_t YieldLimit = 8>
class backoff {
public:
  static_assert(SpinLimit >= 1, "SpinLimit must be at least 1");
  static_assert(SpinLimit <= (std::uint32_t{1} << 31), "SpinLimit must be at most 2^31 (the step doubles in 32 bits)");

  /// Wait one step: spin 2^k relax hints while under SpinLimit, else yield.
  void pause() noexcept {
    if (step_ < SpinLimit) {
      for (std::uint32_t i = 0; i < step_; ++i) cpu_relax();
      step_ *= 2;
    } else {
      std::this_thread::yield();
      ++yields_;
    }
  }

  /// True while the caller should keep spinning rather than block.
  [[nodiscard]] bool spinning() const noexcept { return step_ < SpinLimit || yields_ < YieldLimit; }

  /// Start over at the shortest wait.
  void reset() noexcept {
    step_ = 1;
    yields_ = 0;
  }

private:
  std::uint32_t step_ = 1;
  std::uint32_t yields_ = 0;
};

} // namespace surge::detail

#endif // SURGE_DETAIL_BACKOFF_HPP
