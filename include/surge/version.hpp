/// @file surge/version.hpp
/// surge's version, as macros (for `#if`) and as a constexpr value. Kept equal to
/// the CMake project version (a test checks it).
#ifndef SURGE_VERSION_HPP
#define SURGE_VERSION_HPP

/// Major version: incremented for changes that break the public API.
#define SURGE_VERSION_MAJOR 0
/// Minor version: incremented for additions that keep the API compatible.
#define SURGE_VERSION_MINOR 1
/// Patch version: incremented for fixes.
#define SURGE_VERSION_PATCH 0
/// Single comparable number: major * 10000 + minor * 100 + patch.
#define SURGE_VERSION (SURGE_VERSION_MAJOR * 10000 + SURGE_VERSION_MINOR * 100 + SURGE_VERSION_PATCH)
/// The version as a string literal, "major.minor.patch".
#define SURGE_VERSION_STRING "0.1.0"

#include <compare>

namespace surge {

/// The library's semantic version. Trivial constexpr value; comparisons are
/// lexicographic on (major, minor, patch).
struct version_info {
  int major;  ///< SURGE_VERSION_MAJOR: breaking changes.
  int minor;  ///< SURGE_VERSION_MINOR: compatible additions.
  int patch;  ///< SURGE_VERSION_PATCH: fixes.
  /// True when all three numbers are equal.
  friend constexpr bool operator==(const version_info&, const version_info&) = default;
  /// Orders by major, then minor, then patch.
  friend constexpr auto operator<=>(const version_info&, const version_info&) = default;
};

/// The version of the headers being compiled.
inline constexpr version_info version{SURGE_VERSION_MAJOR, SURGE_VERSION_MINOR, SURGE_VERSION_PATCH};
/// The same as text, e.g. "0.1.0".
inline constexpr const char* version_string = SURGE_VERSION_STRING;

}  // namespace surge

#endif  // SURGE_VERSION_HPP
