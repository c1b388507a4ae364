// The code blocks of docs/redis.md, compiled and run as tests (built only when
// hiredis is found, like surge::redis). The regions between
// "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the page
// (scripts/doc_snippets.py keeps them equal).
// [snippet: fleet]
#include <surge/redis/hiredis.hpp>
#include <surge/redis/token_bucket.hpp>
// [/snippet]
#include <surge/redis/connection.hpp>

#include <chrono>
#include <span>
#include <string>

#include "surge_test.hpp"

namespace {

int refused = 0;
void reply_429(std::chrono::microseconds) { ++refused; }

void fleet() {
  // Nothing listens on port 1 of this machine: every call is a fault, which
  // fault_policy::local answers with a local bucket.
  const std::string redis_host = "127.0.0.1";
  const int redis_port = 1;
  const std::string key = "k";
  // [snippet: fleet]
  surge::redis::hiredis_pool redis(redis_host, redis_port, 4);      // 4 connections, any thread
  surge::redis::token_bucket<surge::redis::hiredis_pool> limit(
      redis, "rl:", 100.0, 20,                                     // 100/s, 20 at once, per key
      {.timeout = std::chrono::milliseconds(20), .on_fault = surge::redis::fault_policy::local,
       .instances = 8});

  auto d = limit.try_acquire("api-key:" + key);                    // one round trip
  if (!d.allowed) reply_429(d.retry_after);                        // never too early
  // [/snippet]
  CHECK(d.allowed);
  CHECK(refused == 0);
}

struct my_client {
  // [snippet: connection]
  surge::redis::pipeline_result pipeline(std::span<const surge::redis::command>, std::chrono::microseconds timeout);
  // [/snippet]
};
static_assert(surge::redis::connection<my_client>);

}  // namespace

TEST_CASE("redis.md snippets", "[docs]") { fleet(); }
