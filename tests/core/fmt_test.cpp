#include <surge/fmt.hpp>

#include "surge_test.hpp"

TEST_CASE("fmt formats the version", "[fmt]") {
  CHECK(fmt::format("{}", surge::version) == SURGE_VERSION_STRING);
  CHECK(fmt::format("v{}", surge::version_info{1, 22, 333}) == "v1.22.333");
  // the spec applies to the whole text (it was parsed and dropped)
  CHECK(fmt::format("[{:>7}]", surge::version_info{1, 2, 3}) == "[  1.2.3]");
  CHECK(fmt::format("[{:*<8}]", surge::version_info{1, 2, 3}) == "[1.2.3***]");
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

TEST_CASE("fmt formats histogram summaries and meter stats", "[fmt]") {
  surge::histogram_summary h;
  h.count = 10;
  h.clamped = 1;
  h.min = 1;
  h.max = 900;
  h.mean = 12.25;
  h.stddev = 3.5;
  h.p50 = 10;
  h.p90 = 20;
  h.p99 = 30;
  h.p999 = 40;
  CHECK(fmt::format("{}", h) ==
        "count 10 (clamped 1), min 1, p50 10, p90 20, p99 30, p99.9 40, max 900, mean 12.2, stddev 3.5");
  const surge::meter_stats m{5, 1.5, 2.25, 3.0, 4.0, 5.125};
  CHECK(fmt::format("{}", m) == "count 5, rate 1.50/s, mean 2.25/s, 1m 3.00/s, 5m 4.00/s, 15m 5.12/s");
}
