#include <surge/version.hpp>

#include <string>

#include "surge_test.hpp"

TEST_CASE("version macros, constant and string agree", "[version]") {
  STATIC_REQUIRE(surge::version == surge::version_info{SURGE_VERSION_MAJOR, SURGE_VERSION_MINOR, SURGE_VERSION_PATCH});
  STATIC_REQUIRE(SURGE_VERSION == SURGE_VERSION_MAJOR * 10000 + SURGE_VERSION_MINOR * 100 + SURGE_VERSION_PATCH);
  const std::string expected = std::to_string(SURGE_VERSION_MAJOR) + "." + std::to_string(SURGE_VERSION_MINOR) +
                               "." + std::to_string(SURGE_VERSION_PATCH);
  CHECK(expected == surge::version_string);
}

TEST_CASE("version matches the CMake project version", "[version]") {
  CHECK(std::string(SURGE_VERSION_STRING) == SURGE_TEST_CMAKE_VERSION);
}

TEST_CASE("versions compare lexicographically", "[version]") {
  STATIC_REQUIRE(surge::version_info{0, 9, 9} < surge::version_info{1, 0, 0});
  STATIC_REQUIRE(surge::version_info{1, 2, 3} > surge::version_info{1, 2, 2});
  STATIC_REQUIRE(surge::version_info{1, 2, 3} == surge::version_info{1, 2, 3});
}
