/// @file surge/detail/count_checks.hpp
/// What a count is not: shared by every constructor that takes a count — a
/// capacity, a number of backends, threads, keys, permits, connections. A
/// bool, a character or a floating-point number would convert to the
/// count's integer type silently (a flag would be 1, '4' would be 52, 2.9
/// would be 2 and 1e20 undefined), so each such constructor has a template
/// overload constrained on not_a_count whose static_assert, with the public
/// type's name in its message, is the one error the user reads.
#ifndef SURGE_DETAIL_COUNT_CHECKS_HPP
#define SURGE_DETAIL_COUNT_CHECKS_HPP

#include <concepts>
#include <type_traits>

namespace surge::detail {

/// The character types (a char is text or a byte, never a count). signed
/// char and unsigned char are std::int8_t and std::uint8_t: integers.
template <class C>
inline constexpr bool is_char_v = std::is_same_v<C, char> || std::is_same_v<C, wchar_t> || std::is_same_v<C, char8_t> ||
                                  std::is_same_v<C, char16_t> || std::is_same_v<C, char32_t>;

/// What a constructor refuses to take as a count: a bool, a character or a
/// floating-point number (cv-qualified or a reference to one). Integers and
/// enumerations are counts.
template <class T>
concept not_a_count = std::same_as<std::remove_cvref_t<T>, bool> || is_char_v<std::remove_cvref_t<T>> ||
                      std::floating_point<std::remove_cvref_t<T>>;

/// The condition of a refusing overload's static_assert: false, but only
/// once the overload is instantiated. (A condition false for every possible
/// argument, such as !not_a_count<T> in a template constrained on
/// not_a_count, would make the template ill-formed before any use, no
/// diagnostic required, whatever compilers happen to do.)
template <class... T>
inline constexpr bool refused_count = false;

}  // namespace surge::detail

#endif  // SURGE_DETAIL_COUNT_CHECKS_HPP
