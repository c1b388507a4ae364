/// @file surge/detail/cache_line.hpp
/// Cache-line constants and a padded wrapper that keeps a value alone on its
/// cache lines. surge does not use std::hardware_destructive_interference_size:
/// g++ 12 warns when it is used in a header (its value may differ between
/// translation units compiled with different -mtune) and clang 14 lacks it.
#ifndef SURGE_DETAIL_CACHE_LINE_HPP
#define SURGE_DETAIL_CACHE_LINE_HPP

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace surge::detail {

/// Size of one cache line: 128 bytes on Apple arm64 and POWER, 64 elsewhere.
#if (defined(__APPLE__) && defined(__aarch64__)) || defined(__powerpc64__)
inline constexpr std::size_t cache_line_size = 128;
#else
inline constexpr std::size_t cache_line_size = 64;
#endif

/// Distance that keeps two hot variables from false sharing. On x86-64 and
/// arm64 the hardware's spatial prefetcher pulls pairs of 64-byte lines, so
/// two lines are kept apart (the choice of folly and crossbeam).
#if defined(__x86_64__) || defined(_M_X64) || defined(__aarch64__)
inline constexpr std::size_t destructive_interference_size = 2 * cache_line_size;
#else
inline constexpr std::size_t destructive_interference_size = cache_line_size;
#endif

/// Holds a T aligned to, and padded out to, destructive_interference_size, so
/// that neighbouring padded values (in an array or a struct) never share a
/// cache line or a prefetched line pair. Behaves like the T it holds: `*p`,
/// `p->`, `p.value`. Thread safety and exceptions are those of T.
template <class T>
struct alignas(destructive_interference_size) padded {
  T value{};

  constexpr padded() = default;
  template <class... Args>
    requires std::is_constructible_v<T, Args...>
  constexpr explicit padded(std::in_place_t, Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>)
      : value(std::forward<Args>(args)...) {}

  constexpr T& operator*() noexcept { return value; }
  constexpr const T& operator*() const noexcept { return value; }
  constexpr T* operator->() noexcept { return &value; }
  constexpr const T* operator->() const noexcept { return &value; }
};

/// Starts loading the cache line at `p` for a coming write, a hint with no
/// effect on correctness: `__builtin_prefetch(p, 1)`, which is x86
/// `prefetchw` (the line in exclusive state) when the target has it
/// (`-mprfchw`, or a `-march=` of an AMD64 CPU or an Intel one since
/// Broadwell) and a plain `prefetcht0` (a shared copy) in a default x86-64
/// build; nothing on compilers without the builtin. O(1), noexcept.
inline void prefetch_for_write([[maybe_unused]] const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 1, 3);
#endif
}

} // namespace surge::detail

#endif // SURGE_DETAIL_CACHE_LINE_HPP
