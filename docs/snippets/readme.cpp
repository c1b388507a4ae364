// The C++ block of README.md, compiled and run as a test. The region between
// "// [snippet: name]" and "// [/snippet]" is quoted verbatim by the README
// (scripts/doc_snippets.py keeps them equal).
#include <surge/surge.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include "surge_test.hpp"

using namespace std::chrono_literals;

namespace {

// a backend that fails every 10th call
std::optional<std::string> call_backend(std::size_t, const std::string& path) {
  static std::atomic<int> n{0};
  if (++n % 10 == 0) return std::nullopt;
  return "body of " + path;
}

struct reply {
  int status = 0;
  std::string body;
};

// [snippet: composed]
surge::concurrency_limiter<surge::windowed_limit<surge::vegas_limit>> inflight;  // follows latency
surge::keyed_limiter<std::string, surge::token_bucket<>> per_client(surge::token_bucket<>(50.0, 10), 100'000);
surge::sharded_cache<surge::cache<std::string, std::string>> responses(10'000, {.ttl = 5s});
surge::power_of_two_choices backends(4);  // the less loaded of two random backends
std::array<surge::circuit_breaker<>, 4> breakers;
surge::latency_histogram latency;  // every object here is thread-safe

reply serve(const std::string& client, const std::string& path) {
  auto token = inflight.try_acquire();
  if (!token) return {503, "shedding load"};
  if (!per_client.try_acquire(client)) return {429, "slow down"};
  if (auto hit = responses.get(path)) return {200, *hit};
  auto lease = backends.pick();  // counts the call in flight until it returns
  auto permit = breakers[lease.index()].try_acquire();
  if (!permit) return {503, "backend failing"};  // fail fast while its breaker is open
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::string> body = call_backend(lease.index(), path);
  latency.record((std::chrono::steady_clock::now() - start).count());
  if (!body) { permit.failure(); token.dropped(); return {502, "bad gateway"}; }
  permit.success(); token.success();
  responses.put(path, *body);
  return {200, *body};
}
// [/snippet]

}  // namespace

TEST_CASE("README.md's composed example: every outcome it names", "[docs]") {
  int ok = 0, failed = 0, limited = 0;
  for (int i = 0; i < 200; ++i) {
    const reply r = serve("client-" + std::to_string(i % 20), "/item/" + std::to_string(i % 50));
    ok += r.status == 200;
    failed += r.status == 502 || r.status == 503;
    limited += r.status == 429;
  }
  CHECK(ok + failed + limited == 200);
  CHECK(ok > 100);    // most calls are served, many from the cache
  CHECK(failed > 0);  // the backend fails every 10th call
  CHECK(latency.count() > 0);
  CHECK(responses.stats().hits > 0);
}
