#include <surge/fmt.hpp>

#include "surge_test.hpp"

TEST_CASE("fmt formats the version", "[fmt]") {
  CHECK(fmt::format("{}", surge::version) == SURGE_VERSION_STRING);
  CHECK(fmt::format("v{}", surge::version_info{1, 22, 333}) == "v1.22.333");
}
