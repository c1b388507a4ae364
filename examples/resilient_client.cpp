// A client before a flaky backend, on simulated time: an adaptive concurrency limit
// (AIMD: +1 per call while busy, x0.9 on a failure or a call over 2 ms) sheds what the
// backend cannot take; a circuit breaker stops calling it during an outage; a retry
// budget (gRPC's retry throttling) keeps retries from multiplying the load meanwhile.
#include <surge/fmt.hpp>  // fmt, and formatters for surge's types
#include <surge/resilience/circuit_breaker.hpp>
#include <surge/resilience/concurrency_limit.hpp>
#include <surge/resilience/retry.hpp>

#include "example_args.hpp"

#include <chrono>
#include <cstddef>
#include <exception>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

struct sim_clock : std::chrono::steady_clock {  // simulated time: each tick and each retry sleep moves it
  static inline time_point t{};
  static time_point now() noexcept { return t; }
};

long long now_ms() { return sim_clock::now().time_since_epoch() / 1ms; }

int main(int argc, char** argv) {
  example_args(argc, argv, "resilient_client", "", 0);  // takes none; -h prints the usage
  int backend_calls = 0, backend_failures = 0;
  const auto backend = [&](int request) {  // down from 100 to 200 ms
    ++backend_calls;
    if (const auto t = sim_clock::now().time_since_epoch(); t >= 100ms && t < 200ms) {
      ++backend_failures;
      throw std::runtime_error("down");
    }
    return 2 * request;
  };
  // [snippet: core]
  surge::concurrency_limiter<surge::aimd_limit, sim_clock> limiter(
      surge::aimd_limit({.initial = 10, .min = 5, .timeout = 2ms}));
  surge::circuit_breaker<sim_clock> breaker({.window_size = 20,
                                             .minimum_calls = 10,
                                             .wait_in_open = 20ms,
                                             .half_open_calls = 3,
                                             .on_state_change = [](auto from, auto to) {
                                               fmt::print("  breaker {} -> {} at {} ms\n", from, to,
                                                          sim_clock::now().time_since_epoch() / 1ms);
                                             }});
  surge::retry_budget budget(10, 0.1);  // retries stop once the tokens fall to half
  // Retry while the breaker is closed; once it opens, it already knows: fail fast.
  const auto retryable = [&](const std::exception_ptr&) { return breaker.state() == surge::breaker_state::closed; };
  const surge::retry_policy<surge::full_jitter_backoff, decltype(retryable)> policy{
      .max_attempts = 3, .backoff = {1ms, 10ms}, .retryable = retryable, .budget = &budget};
  // [/snippet]
  // A retry's backoff passes at once in simulated time; true: slept the whole time (not stopped).
  int retries = 0, retries_not_closed = 0;
  const auto sim_sleep = [&](std::chrono::nanoseconds d, const std::stop_token&) {
    ++retries;
    retries_not_closed += breaker.state() != surge::breaker_state::closed;
    return (sim_clock::t += d, true);
  };
  // The breaker's states as seen after each request, with when (ms) and the backend failures by then.
  struct seen_state {
    surge::breaker_state state;
    long long ms;
    int failures;
  };
  std::vector<seen_state> states{{surge::breaker_state::closed, 0, 0}};
  std::mt19937_64 rng(1);  // the retry jitter's engine
  int ok = 0, failed = 0, refused = 0, shed = 0, request = 0;
  while (sim_clock::now().time_since_epoch() < 300ms) {
    std::vector<std::pair<decltype(limiter)::token, sim_clock::time_point>> calls;  // completing this millisecond
    for (int r = 0; r < 50; ++r, ++request) {  // 50 requests arrive each millisecond
      auto token = limiter.try_acquire();
      if (!token) {  // at the limit: shed at once rather than queue
        ++shed;
        continue;
      }
      try {
        // [snippet: core]
        surge::retry(
            policy, [&] { return breaker.call([&] { return backend(request); }); }, sim_sleep, rng);
        // [/snippet]
        const auto latency = calls.size() < 30 ? 1ms : 5ms;  // the backend has 30 workers; more calls queue
        calls.emplace_back(std::move(token), sim_clock::now() + latency);
        ++ok;
      } catch (const surge::breaker_open&) {
        ++refused;  // the token is released without a sample
      } catch (const std::exception&) {
        ++failed;
        token.dropped();
      }
      if (breaker.state() != states.back().state) states.push_back({breaker.state(), now_ms(), backend_failures});
    }
    sim_clock::t += 1ms;
    for (auto& [token, done] : calls) token.success(done);
  }
  fmt::print("{} ok, {} failed, {} refused by the breaker, {} shed at the limit (now {}); {} backend calls\n", ok,
             failed, refused, shed, limiter.limit(), backend_calls);
  fmt::print("{}\nretry budget: {:.1f} tokens\n", breaker.metrics(), budget.tokens());

  // Every printed claim, checked: the run is deterministic (simulated time, seeded jitter).
  fmt::print(
      "the limit shed calls; the breaker opened at 100 ms after 10 failed calls, went half-open 21 ms after "
      "each opening, closed at 205 ms with the backend back; {} retries, all before it opened (the budget "
      "allows 4)\n",
      retries);
  bool held = shed > 0 && states.size() >= 3 && states[1].state == surge::breaker_state::open && states[1].ms == 100 &&
              states[1].failures == 10 && states.back().state == surge::breaker_state::closed &&
              states.back().ms == 205 && retries_not_closed == 0 && retries <= 4;
  for (std::size_t i = 1; i + 1 < states.size(); ++i)
    if (states[i].state == surge::breaker_state::open)
      held = held && states[i + 1].state == surge::breaker_state::half_open && states[i + 1].ms == states[i].ms + 21;
  if (!held) fmt::print("NOT AS DESCRIBED: the line above\n");
  return held ? 0 : 1;
}
