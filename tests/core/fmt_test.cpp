#include <surge/fmt.hpp>

#include "surge_test.hpp"

TEST_CASE("fmt formats the version", "[fmt]") {
  CHECK(fmt::format("{}", surge::version) == SURGE_VERSION_STRING);
  CHECK(fmt::format("v{}", surge::version_info{1, 22, 333}) == "v1.22.333");
}

TEST_CASE("fmt formats circuit breaker states and metrics", "[fmt]") {
  CHECK(fmt::format("{}", surge::breaker_state::half_open) == "half_open");
  CHECK(fmt::format("[{:>9}]", surge::breaker_state::open) == "[     open]");
  surge::breaker_metrics m{.state = surge::breaker_state::open,
                           .failure_rate = 60.0,
                           .slow_call_rate = 0.0,
                           .buffered_calls = 5,
                           .failed_calls = 3,
                           .slow_calls = 0};
  CHECK(fmt::format("{}", m) == "open: failure rate 60.0 %, slow call rate 0.0 % (5 calls, 3 failed, 0 slow)");
  CHECK(fmt::format("{}", surge::breaker_metrics{}) ==
        "closed: failure rate n/a, slow call rate n/a (0 calls, 0 failed, 0 slow)");
}
