/// @file surge/detail/key_checks.hpp
/// Compile-time checks on the key type of surge's hashed containers (caches,
/// sharded_cache, keyed_limiter): the key must be hashable and comparable by
/// the given functors, and a character pointer must not be used as a key with
/// std::hash / std::equal_to, which would hash and compare the address, not
/// the text. Each public type states the checks in a static_assert of its own,
/// so the error names it in one line.
#ifndef SURGE_DETAIL_KEY_CHECKS_HPP
#define SURGE_DETAIL_KEY_CHECKS_HPP

#include <concepts>
#include <cstddef>
#include <functional>
#include <type_traits>

namespace surge::detail {

template <class T>
inline constexpr bool is_character_v = false;
template <>
inline constexpr bool is_character_v<char> = true;
template <>
inline constexpr bool is_character_v<signed char> = true;
template <>
inline constexpr bool is_character_v<unsigned char> = true;
template <>
inline constexpr bool is_character_v<wchar_t> = true;
template <>
inline constexpr bool is_character_v<char8_t> = true;
template <>
inline constexpr bool is_character_v<char16_t> = true;
template <>
inline constexpr bool is_character_v<char32_t> = true;

/// True for `char*`, `const char*` and the other character pointer types.
template <class T>
inline constexpr bool is_character_pointer_v = std::is_pointer_v<std::remove_cv_t<T>>&&
    is_character_v<std::remove_cv_t<std::remove_pointer_t<std::remove_cv_t<T>>>>;

/// `Hash` can hash a `const Key&` (as a const functor) into a std::size_t.
template <class Key, class Hash>
inline constexpr bool hashes_key_v = std::is_invocable_r_v<std::size_t, const Hash&, const Key&>;

/// `KeyEqual` can compare two `const Key&` into something convertible to bool.
/// (std::equal_to<Key>'s call operator is unconstrained, so for it the
/// `==` it would use is checked instead.)
template <class Key, class KeyEqual>
inline constexpr bool compares_key_v = std::is_invocable_r_v<bool, const KeyEqual&, const Key&, const Key&>;
template <class Key>
inline constexpr bool compares_key_v<Key, std::equal_to<Key>> = requires(const Key& a, const Key& b) {
  { a == b } -> std::convertible_to<bool>;
};

/// The standard functors that hash or compare pointers by address: std::hash
/// and std::equal_to of any pointer type (not only of the key's: a `char*`
/// key with std::hash<const char*> is hashed by address too), the
/// transparent std::equal_to<> and std::ranges::equal_to.
template <class F>
inline constexpr bool uses_address_v = false;
template <class P>
inline constexpr bool uses_address_v<std::hash<P>> = std::is_pointer_v<P>;
template <class P>
inline constexpr bool uses_address_v<std::equal_to<P>> = std::is_pointer_v<P>;
template <>
inline constexpr bool uses_address_v<std::equal_to<>> = true;
template <>
inline constexpr bool uses_address_v<std::ranges::equal_to> = true;

/// A character pointer key with a standard hash or equality (see
/// uses_address_v): the text would be ignored (two buffers holding "user-42"
/// are different keys).
template <class Key, class Hash, class KeyEqual>
inline constexpr bool keys_text_by_address_v =
    is_character_pointer_v<Key> && (uses_address_v<Hash> || uses_address_v<KeyEqual>);

/// All the checks at once (a refused key type gets stand-in functors, so the
/// public type's static_assert is the only error).
template <class Key, class Hash, class KeyEqual>
inline constexpr bool valid_hashed_key_v =
    hashes_key_v<Key, Hash>&& compares_key_v<Key, KeyEqual> && !keys_text_by_address_v<Key, Hash, KeyEqual>;

/// What an engine is given instead of a refused Hash or KeyEqual (any
/// arguments, result 0 / false), so that it still compiles and the public
/// type's static_assert is the one error the user reads.
struct refused_key_functor {
  template <class... Args>
  constexpr std::size_t operator()(const Args&...) const noexcept {
    return 0;
  }
};

/// `Functor` when the key passes the checks, refused_key_functor otherwise.
template <class Functor, class Key, class Hash, class KeyEqual>
using checked_key_functor = std::conditional_t<valid_hashed_key_v<Key, Hash, KeyEqual>, Functor, refused_key_functor>;

}  // namespace surge::detail

/// The static_asserts each public hashed type states, with its name in the
/// message. A macro so the messages name the type (static_assert needs a
/// string literal).
#define SURGE_DETAIL_CHECK_HASHED_KEY(type_name, Key, Hash, KeyEqual)                                           \
  static_assert(::surge::detail::hashes_key_v<Key, Hash>,                                                       \
                type_name ": Hash cannot hash Key (no std::hash specialisation for Key? pass a Hash functor)"); \
  static_assert(::surge::detail::compares_key_v<Key, KeyEqual>,                                                 \
                type_name ": KeyEqual cannot compare two Keys (no operator==? pass a KeyEqual functor)");       \
  static_assert(!::surge::detail::keys_text_by_address_v<Key, Hash, KeyEqual>, type_name                        \
                ": a character pointer key is hashed and compared by address, not by its text; use "            \
                "std::string (and std::string_view lookups with a transparent hash)")

#endif  // SURGE_DETAIL_KEY_CHECKS_HPP
