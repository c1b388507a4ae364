/// @file surge/balance/jump_hash.hpp
/// Lamping & Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent
/// Hash Algorithm", 2014), and a small balancer around it with health.
#ifndef SURGE_BALANCE_JUMP_HASH_HPP
#define SURGE_BALANCE_JUMP_HASH_HPP

#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/balance/key_hash.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/hash.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace surge {

/// Jump consistent hash: maps a 64-bit key to a bucket in [0, buckets),
/// bit-for-bit the paper's reference function (the same linear congruential
/// step and the same double-precision jump). Growing from n to n+1 buckets
/// moves exactly the keys that land in the new bucket, about 1/(n+1) of them;
/// buckets can only be added or removed at the end. The key is used as given:
/// hash non-uniform keys first (e.g. with `surge::key_hash`).
///
/// Complexity: O(ln buckets) expected, no memory. Thread safety: pure
/// function. Bad input: buckets <= 0 throws std::invalid_argument.
[[nodiscard]] constexpr std::int32_t jump_hash(std::uint64_t key, std::int32_t buckets) {
  if (buckets <= 0) throw std::invalid_argument("jump_hash: buckets must be positive");
  std::int64_t b = -1;
  std::int64_t j = 0;
  while (j < buckets) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(static_cast<double>(b + 1) *
                                  (static_cast<double>(std::int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<std::int32_t>(b);
}

/// jump_hash with a bucket count of any other integer type (a std::size_t,
/// say): throws std::invalid_argument naming `buckets` unless it is in
/// [1, 2^31 - 1], instead of narrowing it (2^32 + 5 buckets would be 5).
/// A bool, a character type (char, wchar_t, char8_t, char16_t, char32_t)
/// or a floating-point number is not a bucket count and does not compile (a
/// flag would read as one bucket, 'a' as 97, 2.9 as 2, and 1e10 does not
/// fit the int32_t it would be converted to).
template <class Int>
requires(std::is_arithmetic_v<Int> && !std::same_as<Int, std::int32_t>) [[nodiscard]] constexpr std::int32_t
    jump_hash(std::uint64_t key, Int buckets) {
  static_assert(!std::same_as<Int, bool>, "jump_hash: a bool is not a bucket count; pass the number of buckets");
  static_assert(!detail::is_char_v<Int>,
                "jump_hash: a character is not a bucket count; pass the number of buckets as an integer type");
  static_assert(!std::floating_point<Int>,
                "jump_hash: a floating-point number is not a bucket count; pass the number of buckets as an integer "
                "type");
  if constexpr (std::same_as<Int, bool> || detail::is_char_v<Int> || std::floating_point<Int>) {
    return 0;  // only after a failed assertion above: keeps it the one error
  } else {
    if (!std::in_range<std::int32_t>(buckets) || buckets <= 0)
      throw std::invalid_argument("jump_hash: buckets must be in [1, 2^31 - 1], got " + std::to_string(buckets));
    return jump_hash(key, static_cast<std::int32_t>(buckets));
  }
}

/// Jump hash over n backends with health: `pick(key)` is
/// jump_hash(Hash(key), n); when that backend is down the key is rehashed
/// (mix64 of the hash and the attempt number) and jumped again, up to 32
/// times, then the next up backend by index is taken. Only the keys of a
/// backend that goes down move, and they come back when it returns. All
/// down: panic mode (the plain jump result).
///
/// Complexity: `pick` O(ln n) expected. Thread safety: lock-free; every
/// member from any threads. Bad input: n == 0 or n > 2^31 - 1 throws
/// std::invalid_argument; `set_healthy` out of range returns false.
template <class Hash = key_hash>
class jump_hash_balancer {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T>
  explicit jump_hash_balancer(const T& n, Hash hash = Hash())
      : jump_hash_balancer(detail::refuse_count(n), std::move(hash)) {}
  /// n backends, all up; `hash` maps a key to 64 bits (see the class comment
  /// for the range of n).
  explicit jump_hash_balancer(std::size_t n, Hash hash = Hash())
      : n_(static_cast<std::int32_t>(check(n))), health_(n), hash_(std::move(hash)) {}

  template <class K>
  /// The backend for `key`: jump_hash of its hash over n, rehashed past down
  /// backends as the class comment describes. O(ln n) expected; lock-free.
  [[nodiscard]] std::size_t pick(const K& key) const noexcept(noexcept(std::declval<const Hash&>()(key))) {
    const std::uint64_t h = static_cast<std::uint64_t>(hash_(key));
    auto b = static_cast<std::size_t>(jump_hash(h, n_));
    if (health_.usable(b)) return b;
    for (std::uint64_t attempt = 1; attempt <= 32; ++attempt) {
      const auto c = static_cast<std::size_t>(jump_hash(detail::mix64(h + attempt * 0x9e3779b97f4a7c15ULL), n_));
      if (health_.usable(c)) return c;
    }
    for (std::size_t k = 1; k < health_.size(); ++k) {
      const std::size_t c = (b + k) % health_.size();
      if (health_.usable(c)) return c;
    }
    return b;
  }

  /// Marks backend i up or down; false when i is out of range. Lock-free.
  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  /// True when backend i is marked up (false when i is out of range). Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return health_.size(); }

 private:
  static std::size_t check(std::size_t n) {
    detail::check_count(n, "jump_hash_balancer: n");
    if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw std::invalid_argument("jump_hash_balancer: n must be < 2^31");
    return n;
  }
  std::int32_t n_;
  detail::health_set health_;
  Hash hash_;
};

}  // namespace surge

#endif  // SURGE_BALANCE_JUMP_HASH_HPP
