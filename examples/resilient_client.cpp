// A client in front of a flaky backend: a circuit breaker stops calling the
// backend while it keeps failing, and a retry budget (gRPC's retry throttling)
// keeps retries from multiplying the load during the outage. Time is
// simulated, so the example runs in a blink.
#include <surge/fmt.hpp>
#include <surge/resilience/circuit_breaker.hpp>
#include <surge/resilience/retry.hpp>

#include <fmt/format.h>
#include <chrono>
#include <exception>
#include <random>
#include <stdexcept>
#include <stop_token>

namespace {
struct sim_clock {  // simulated time: each request and each retry sleep moves it
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<sim_clock>;
  [[maybe_unused]] static constexpr bool is_steady = true;  // a Cpp17Clock member nothing here reads
  static inline time_point t{};
  static time_point now() noexcept { return t; }
};

struct flaky_backend {  // fails every call while down, one call in ten otherwise
  bool down = false;
  int calls = 0;
  std::minstd_rand rng{7};
  int handle(int request) {
    ++calls;
    if (down || rng() % 10 == 0) throw std::runtime_error("backend unavailable");
    return 2 * request;
  }
};
}  // namespace

int main() {
  using namespace std::chrono_literals;
  flaky_backend backend;
  // [snippet: core]
  surge::circuit_breaker<sim_clock> breaker({.window_size = 20,
                                             .minimum_calls = 10,
                                             .wait_in_open = 20ms,
                                             .half_open_calls = 3,
                                             .on_state_change = [](auto from, auto to) {
                                               fmt::print("  breaker {} -> {} at {}\n", from, to,
                                                          sim_clock::now().time_since_epoch() / 1ms);
                                             }});
  surge::retry_budget budget(10, 0.1);  // retries stop once the tokens fall to half
  const auto retryable = [](const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const surge::breaker_open&) {
      return false;  // the breaker already knows: do not retry
    } catch (...) {
      return true;
    }
  };
  const surge::retry_policy<surge::full_jitter_backoff, decltype(retryable)> policy{
      .max_attempts = 3, .backoff = {1ms, 10ms}, .retryable = retryable, .budget = &budget};
  // [/snippet]
  const auto sim_sleep = [](std::chrono::nanoseconds d, const std::stop_token&) {
    sim_clock::t += d;
    return true;
  };
  std::mt19937_64 rng(1);  // the retry jitter's engine
  int ok = 0, failed = 0;
  for (int i = 0; i < 300; ++i, sim_clock::t += 1ms) {
    backend.down = i >= 100 && i < 200;  // an outage of 100 ms in the middle
    try {
      // [snippet: core]
      surge::retry(
          policy, [&] { return breaker.call([&] { return backend.handle(i); }); }, sim_sleep, rng);
      // [/snippet]
      ++ok;
    } catch (const std::exception&) {
      ++failed;
    }
  }
  fmt::print("{} requests ok, {} failed; the backend saw {} calls\n", ok, failed, backend.calls);
  fmt::print("{}\nretry budget: {:.1f} tokens\n", breaker.metrics(), budget.tokens());
}
