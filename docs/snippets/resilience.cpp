// The code blocks of docs/resilience.md, compiled and run as tests. The regions
// between "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the
// page (scripts/doc_snippets.py keeps them equal). The composed client is
// quoted from examples/resilient_client.cpp.
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/timer.hpp>
#include <surge/resilience/circuit_breaker.hpp>
#include <surge/resilience/concurrency_limit.hpp>
#include <surge/resilience/retry.hpp>

#include <chrono>
#include <exception>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>

#include "surge_test.hpp"

using namespace std::chrono_literals;

namespace {

struct timeout : std::runtime_error {
  timeout() : std::runtime_error("timeout") {}
};

int transitions = 0, used = 0, rejected = 0;
void log(surge::breaker_state, surge::breaker_state) { ++transitions; }
void use(const std::string&) { ++used; }
bool send() { return true; }
void call_backend() {}
void reject_fast() { ++rejected; }

struct fake_backend {
  std::string get(const std::string& key) { return "value of " + key; }
};

int attempts = 0;
void maybe_fail() {  // attempts 2, 4, ... time out: only those retry (and sleep)
  if (++attempts % 2 == 0) throw timeout{};
}
int fetch() {
  maybe_fail();
  return 7;
}
surge::task<int> fetch_async() {
  maybe_fail();
  co_return 7;
}

void breaker() {
  fake_backend backend;
  const std::string key = "k";
  using clock = std::chrono::steady_clock;
  // [snippet: circuit_breaker]
  surge::circuit_breaker<> breaker({.failure_rate_threshold = 50,   // percent
                                    .window_size = 100,             // last 100 calls
                                    .minimum_calls = 20,
                                    .wait_in_open = 30s,
                                    .on_state_change = [](auto from, auto to) { log(from, to); }});

  auto result = breaker.call([&] { return backend.get(key); });  // throws surge::breaker_open when refused

  if (auto permit = breaker.try_acquire()) {    // RAII: times the call itself
    try { use(backend.get(key)); permit.success(); }
    catch (...) { permit.failure(); throw; }
  }                                             // a permit dropped without an outcome gives its probe back

  if (breaker.try_acquire_permission()) {      // resilience4j's low-level API
    const auto t0 = clock::now();
    bool ok = send();
    (ok ? breaker.on_success(clock::now() - t0) : breaker.on_failure(clock::now() - t0));
  }
  // [/snippet]
  CHECK(result == "value of k");
  CHECK(used == 1);
  CHECK(transitions == 0);
}

surge::task<int> fetch_with_retries(const auto& policy, surge::timer<>& timer);

void retries(surge::timer<>& timer) {
  // [snippet: retry_budget]
  surge::retry_budget budget(10, 0.1);   // max_tokens, token_ratio: one per client, shared
  // [/snippet]
  const auto sleeper = [](std::chrono::nanoseconds, const std::stop_token&) { return true; };
  std::mt19937_64 rng(1);
  std::stop_source stop;
  // [snippet: retry_async]
  const auto transient = [](const std::exception_ptr& e) {  // which failures to retry
    try { std::rethrow_exception(e); } catch (const timeout&) { return true; } catch (...) { return false; }
  };
  surge::retry_policy<surge::full_jitter_backoff, decltype(transient)> policy{
      .max_attempts = 4, .backoff = {10ms, 1s}, .retryable = transient, .budget = &budget};

  int value = surge::retry(policy, [&] { return fetch(); });                 // sleeps on this thread
  int again = surge::retry(policy, fetch, sleeper, rng, stop.get_token());   // injected sleep and engine
  // [/snippet]
  CHECK(value == 7);
  CHECK(again == 7);
  CHECK(attempts == 3);
  CHECK(surge::sync_wait(fetch_with_retries(policy, timer)) == 7);
  CHECK(attempts == 5);
}

// [snippet: retry_async]
surge::task<int> fetch_with_retries(const auto& policy, surge::timer<>& timer) {
  co_return co_await surge::retry_async(policy, timer, [] { return fetch_async(); });  // never blocks
}
// [/snippet]

void adaptive() {
  // [snippet: concurrency_limit]
  // Vegas, fed once per sampling window (see "Feed the delay-based ones per window")
  surge::concurrency_limiter<surge::windowed_limit<surge::vegas_limit>> limiter;
  if (auto token = limiter.try_acquire()) {                 // lock-free; empty when at the limit
    try {
      call_backend();
      token.success();                                      // RTT measured by the limiter's Clock
    } catch (const timeout&) {
      token.dropped();                                      // a drop sample: the limit backs off
    }
  }                                                         // unfinished token: released, no sample
  else reject_fast();                                       // 503 / shed
  // [/snippet]
  CHECK(rejected == 0);
}

}  // namespace

TEST_CASE("resilience.md snippets", "[docs]") {
  breaker();
  surge::thread_pool pool(1);
  surge::timer<> timer(pool);
  retries(timer);
  adaptive();
}
