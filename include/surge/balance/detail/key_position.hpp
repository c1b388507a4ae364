/// @file surge/balance/detail/key_position.hpp
/// Where a key lands on the table-based hashing policies (the ring, Maglev,
/// and the table_view of either).
#ifndef SURGE_BALANCE_DETAIL_KEY_POSITION_HPP
#define SURGE_BALANCE_DETAIL_KEY_POSITION_HPP

#include <surge/detail/hash.hpp>

#include <cstdint>

namespace surge::detail {

/// Where a key lands on a ring or a Maglev table: its hash, mixed
/// (SplitMix64's finaliser), so that a Hash that does not mix (std::hash of
/// an integer is the identity in libstdc++) still spreads the keys.
template <class Hash, class K>
[[nodiscard]] std::uint64_t key_position(const Hash& hash, const K& key) noexcept(noexcept(hash(key))) {
  return mix64(static_cast<std::uint64_t>(hash(key)));
}

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_KEY_POSITION_HPP
