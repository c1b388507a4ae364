/// @file surge/balance/detail/key_position.hpp
/// Where a key lands on the table-based hashing policies (the ring, Maglev,
/// and the table_view of either).
#ifndef SURGE_BALANCE_DETAIL_KEY_POSITION_HPP
#define SURGE_BALANCE_DETAIL_KEY_POSITION_HPP

#include <surge/balance/key_hash.hpp>
#include <surge/detail/hash.hpp>

#include <cstdint>
#include <type_traits>

namespace surge::detail {

/// Where a key lands on a ring or a Maglev table: its hash, mixed
/// (SplitMix64's finaliser) unless the Hash is surge::key_hash, whose values
/// are mixed already, so that a Hash that does not mix (std::hash of an
/// integer is the identity in libstdc++) still spreads the keys, and the
/// default pays nothing for it.
template <class Hash, class K>
[[nodiscard]] std::uint64_t key_position(const Hash& hash, const K& key) noexcept(noexcept(hash(key))) {
  if constexpr (std::is_same_v<Hash, key_hash>) {
    return static_cast<std::uint64_t>(hash(key));
  } else {
    return mix64(static_cast<std::uint64_t>(hash(key)));
  }
}

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_KEY_POSITION_HPP
