/// @file surge/balance/key_hash.hpp
/// `surge::key_hash`, the default key hash of the hashing balancers
/// (`maglev`, `consistent_hash_ring`, `rendezvous_hash`, `jump_hash_balancer`).
#ifndef SURGE_BALANCE_KEY_HASH_HPP
#define SURGE_BALANCE_KEY_HASH_HPP

#include <surge/detail/count_checks.hpp>
#include <surge/detail/hash.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>

namespace surge {

namespace detail {

/// The character type of a key that is text — a pointer to characters, an
/// array of them, a std::basic_string or a std::basic_string_view, of one of
/// the character types std::hash hashes strings of, with the standard
/// traits — else void (std::hash has none of a string of unsigned char, nor
/// of one whose traits compare other than by the characters: two such keys
/// may be equal with different characters).
template <class K>
struct text_char {
  using type = void;
};
template <class C>
requires is_char_v<std::remove_cv_t<C>>
struct text_char<C*> {
  using type = std::remove_cv_t<C>;
};
template <class C, std::size_t N>
requires is_char_v<std::remove_cv_t<C>>
struct text_char<C[N]> {
  using type = std::remove_cv_t<C>;
};
template <class C, class Alloc>
requires is_char_v<C>
struct text_char<std::basic_string<C, std::char_traits<C>, Alloc>> {
  using type = C;
};
template <class C>
requires is_char_v<C>
struct text_char<std::basic_string_view<C>> {
  using type = C;
};
template <class K>
using text_char_t = typename text_char<std::remove_cv_t<K>>::type;

template <class K>
inline constexpr bool is_smart_pointer_v = false;
template <class T, class D>
inline constexpr bool is_smart_pointer_v<std::unique_ptr<T, D>> = true;
template <class T>
inline constexpr bool is_smart_pointer_v<std::shared_ptr<T>> = true;

/// True for a key whose std::hash hashes an address: a pointer, a member
/// pointer, a smart pointer, nullptr_t, a coroutine handle, an error code or
/// condition (hashed by the address of its category object), or an optional
/// or variant holding one.
template <class K>
inline constexpr bool hashes_address_v = std::is_pointer_v<K> || std::is_member_pointer_v<K> ||
                                         is_smart_pointer_v<K> || std::is_null_pointer_v<K> ||
                                         std::is_same_v<K, std::error_code> || std::is_same_v<K, std::error_condition>;
template <class P>
inline constexpr bool hashes_address_v<std::coroutine_handle<P>> = true;
template <class T>
inline constexpr bool hashes_address_v<std::optional<T>> = hashes_address_v<std::remove_cv_t<T>>;
template <class... Ts>
inline constexpr bool hashes_address_v<std::variant<Ts...>> = (hashes_address_v<std::remove_cv_t<Ts>> || ...);

/// The characters of a text key: up to the first NUL for pointers (a null
/// pointer is the empty text) and arrays (all N when there is none), the
/// contents for strings and views.
template <class K, class C = text_char_t<K>>
[[nodiscard]] constexpr std::basic_string_view<C> key_text(const K& key) noexcept {
  if constexpr (std::is_pointer_v<K>) {
    return key == nullptr ? std::basic_string_view<C>() : std::basic_string_view<C>(key);
  } else if constexpr (std::is_array_v<K>) {
    std::size_t len = 0;
    while (len < std::extent_v<K> && key[len] != C()) ++len;
    return std::basic_string_view<C>(key, len);
  } else {
    return std::basic_string_view<C>(key.data(), key.size());
  }
}

}  // namespace detail

/// The default key hash of the hashing balancers.
///
/// - Integers and enums: a mix of the value (the SplitMix64
///   finaliser, a 64-bit bijection with full avalanche): deterministic across
///   runs, processes and platforms. A 128-bit integer (`__int128` under GNU
///   extensions) hashes both halves; a value that fits in 64 bits hashes as
///   in a 64-bit type.
/// - Text: `const char*`, `char*`, character arrays (string literals),
///   `std::string` and `std::string_view` — and the same for `wchar_t`,
///   `char8_t`, `char16_t` and `char32_t` — hash their *characters*, all to
///   the same value for the same text: `mix64(std::hash<std::basic_string_view<C>>)`,
///   which for `std::string` is what this hash always gave. Pointers and
///   arrays are read as C strings, up to the first NUL (a null pointer is
///   the empty string; an array without NUL is all of it). Nothing is
///   allocated. As deterministic as the standard library's string hash
///   (libstdc++'s is the same in every process). Strings with other traits
///   than `std::char_traits` (a case-insensitive string, whose equal keys
///   may differ in their characters) have no `std::hash` and are refused
///   like any such type.
/// - Any other pointer (and `std::unique_ptr` / `std::shared_ptr`,
///   `std::nullptr_t`, and a `std::optional` or `std::variant` that may hold
///   one of them) does not compile: its address differs between processes and between two copies
///   of the same object, so routing by it silently sends equal keys to
///   different backends. Hash what identifies the object instead (an id, a
///   name), or pass `reinterpret_cast<std::uintptr_t>(p)` if the address
///   really is the identity.
/// - Any other type: `mix64(std::hash<K>)`, so libstdc++'s identity hash of
///   integers and weak hashes still spread over the whole 64-bit ring; a type
///   without `std::hash` fails with a static_assert naming the fix.
///
/// Transparent (`is_transparent`): one instance hashes every key type, and a
/// lookup by `std::string_view` or `const char*` finds a `std::string` key.
/// O(1) for integers, O(length) for text; noexcept except where
/// `std::hash<K>` may throw.
struct key_hash {
  /// Marks the hash transparent: lookups may use any key type it hashes.
  using is_transparent = void;

  template <class K>
  /// The 64-bit hash of `key` (see the struct comment for each kind of key).
  [[nodiscard]] constexpr std::uint64_t operator()(const K& key) const noexcept(noexcept_for<K>()) {
    using C = detail::text_char_t<K>;
    if constexpr (std::is_integral_v<K> || std::is_enum_v<K>) {
      return integer(key);
    } else if constexpr (!std::is_void_v<C>) {
      return detail::mix64(static_cast<std::uint64_t>(std::hash<std::basic_string_view<C>>{}(detail::key_text(key))));
    } else {
      static_assert(!detail::hashes_address_v<K>,
                    "surge::key_hash refuses pointer keys (and keys whose std::hash hashes an address: coroutine "
                    "handles, error codes): an address differs between processes and between equal "
                    "objects, so equal keys would go to different backends. Hash an id of the object, or pass "
                    "reinterpret_cast<std::uintptr_t>(p) if the address is the identity you mean.");
      static_assert(std::is_default_constructible_v<std::hash<K>>,
                    "surge::key_hash: this key type has no std::hash; specialise std::hash for it or give the "
                    "policy its own Hash");
      if constexpr (std::is_default_constructible_v<std::hash<K>>) {
        return detail::mix64(static_cast<std::uint64_t>(std::hash<K>{}(key)));
      } else {
        return 0;
      }
    }
  }

 private:
  /// mix64 of the value; a type wider than 64 bits (`__int128` under GNU
  /// extensions) folds its high half in, unless the value fits in 64 bits
  /// (then it hashes as in a 64-bit type): cut to its low half, keys that
  /// differ only above bit 63 (IPv6 prefixes) would all hash alike.
  template <class K>
  static constexpr std::uint64_t integer(K key) noexcept {
    if constexpr (sizeof(K) > sizeof(std::uint64_t)) {
      const auto u = static_cast<std::make_unsigned_t<K>>(key);
      const auto low = static_cast<std::uint64_t>(u);
      const auto high = static_cast<std::uint64_t>(u >> 64);
      const bool fits = high == 0 || (std::is_signed_v<K> && high == ~std::uint64_t{0} && (low >> 63) != 0);
      return detail::mix64(fits ? low : low ^ detail::mix64(high));
    } else {
      return detail::mix64(static_cast<std::uint64_t>(key));
    }
  }

  template <class K>
  static constexpr bool noexcept_for() noexcept {
    if constexpr (std::is_integral_v<K> || std::is_enum_v<K> || !std::is_void_v<detail::text_char_t<K>>) {
      return true;
    } else if constexpr (std::is_default_constructible_v<std::hash<K>>) {
      return noexcept(std::hash<K>{}(std::declval<const K&>()));
    } else {
      return true;
    }
  }
};

}  // namespace surge

#endif  // SURGE_BALANCE_KEY_HASH_HPP
