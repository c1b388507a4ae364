// surge::redis from a consumer: a limiter whose Redis is unreachable falls
// back to its fault policy within the timeout.
#include <surge/redis/hiredis.hpp>
#include <surge/redis/token_bucket.hpp>

#include <chrono>

int main() {
  surge::redis::hiredis_connection redis("127.0.0.1", 1, std::chrono::milliseconds(50));
  surge::redis::token_bucket<surge::redis::hiredis_connection> limit(
      redis, "consumer:", 10.0, 5,
      {.timeout = std::chrono::milliseconds(50), .on_fault = surge::redis::fault_policy::fail_open});
  const auto d = limit.try_acquire("k");
  return d.allowed && d.source == surge::redis::decision_source::fail_open ? 0 : 1;
}
