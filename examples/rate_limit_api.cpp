// Rate limiting an API: one token bucket per client (keyed_limiter, bounded
// memory), then the two leaky-bucket forms side by side: a meter (polices:
// admit, delay or reject, like nginx limit_req) and a pacer (shapes: every
// call goes, at evenly spaced start times). Every limiter call takes the
// time as an argument, so this program runs on a made-up time axis, and
// exits 1 if a decision is not the one its output and comments describe.
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/leaky_bucket.hpp>
#include <surge/limit/token_bucket.hpp>

#include <fmt/format.h>

#include "example_args.hpp"

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

long long ms_since(clock_type::time_point t0, clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - t0).count();
}

int main(int argc, char** argv) {
  example_args(argc, argv, "rate_limit_api", "", 0);  // takes none; -h prints the usage
  const clock_type::time_point t0{};  // the start of the made-up time axis

  // Each client gets 2 requests/s with bursts of 4; at most 10,000 clients are tracked.
  surge::keyed_limiter<std::string, surge::token_bucket<>> per_client(surge::token_bucket<>(2.0, 4, t0), 10'000);
  fmt::print("per client: 2 requests/s, burst 4. alice sends 10/s, bob 1/s\n");
  fmt::print("{:>6}  {:>16}  {:>14}\n", "second", "alice ok/refused", "bob ok/refused");
  bool held = true;  // every printed claim
  for (int second = 0; second < 4; ++second) {
    int alice_ok = 0, alice_no = 0, bob_ok = 0, bob_no = 0;
    for (int tenth = 0; tenth < 10; ++tenth) {
      const auto now = t0 + std::chrono::seconds(second) + std::chrono::milliseconds(100 * tenth);
      (per_client.try_acquire("alice", 1, now) ? alice_ok : alice_no) += 1;
      if (tenth == 0) (per_client.try_acquire("bob", 1, now) ? bob_ok : bob_no) += 1;
    }
    fmt::print("{:>6}  {:>16}  {:>14}\n", second, fmt::format("{}/{}", alice_ok, alice_no),
               fmt::format("{}/{}", bob_ok, bob_no));
    held = held && bob_no == 0 && (second > 0 || alice_ok > 4);
  }
  fmt::print("alice's first second passes her burst of 4 plus refills; bob is never limited\n\n");

  // Seven calls arrive at once. The meter (nginx: rate=2r/s burst=3 delay=1) lets
  // 2 through now, delays 2, rejects the rest. The pacer (2/s, no slack) runs them all,
  // 500 ms apart.
  surge::leaky_bucket<> meter(2.0, 3, 1, t0);
  surge::leaky_bucket_pacer<> pacer(2.0, 0, t0);
  fmt::print("7 calls at t = 0: meter (2/s, burst 3, delay 1) vs pacer (2/s, no slack)\n");
  fmt::print("{:>5} {:>20} {:>18}\n", "call", "meter", "pacer: start at");
  for (int call = 0; call < 7; ++call) {
    const auto m = meter.admit(t0);
    const std::string verdict = m.decision == surge::meter_decision::admit   ? "admit"
                                : m.decision == surge::meter_decision::delay ? fmt::format("delay {} ms", m.delay / 1ms)
                                                                             : "reject";
    const long long start_ms = ms_since(t0, pacer.take(t0));
    fmt::print("{:>5} {:>20} {:>15} ms\n", call, verdict, start_ms);
    const auto expected = call < 2   ? surge::meter_decision::admit
                          : call < 4 ? surge::meter_decision::delay
                                     : surge::meter_decision::reject;
    held = held && m.decision == expected && start_ms == 500 * call;
  }
  fmt::print("use a meter at your door (refuse excess), a pacer in a client (never exceed a partner's rate)\n");
  return held ? 0 : 1;
}
