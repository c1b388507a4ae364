/// @file surge/detail/hash.hpp
/// 64-bit mixing for hashes of poor quality (std::hash<integer> is the identity
/// on libstdc++), used wherever surge turns a hash into a shard, slot or ring
/// position.
#ifndef SURGE_DETAIL_HASH_HPP
#define SURGE_DETAIL_HASH_HPP

#include <cstdint>

namespace surge::detail {

/// The SplitMix64 / Stafford "mix13" finaliser: a bijection on 64-bit values in
/// which every input bit affects every output bit with probability close to
/// 1/2. O(1), constexpr, noexcept; any input is valid.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

} // namespace surge::detail

#endif // SURGE_DETAIL_HASH_HPP
