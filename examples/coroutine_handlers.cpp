// Request handlers as coroutines on a 2-worker pool: all run at once (when_all);
// each calls a backend with a 100 ms deadline (a watchdog requests stop, the
// call's wait throws operation_cancelled) and reports through a channel.
// Exits 1 unless exactly the requests whose backend hangs timed out.
#include <surge/exec/channel.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/timer.hpp>
#include <surge/exec/when_all.hpp>

#include <fmt/format.h>

#include "example_args.hpp"

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

// Requests stop on `work` after `limit`, unless `done` is stopped first.
surge::task<void> watchdog(surge::timer<>& t, ms limit, std::stop_source work, std::stop_token done) {
  try {
    co_await surge::sleep_for(t, limit, done);
    work.request_stop();
  } catch (const surge::operation_cancelled&) {  // the call finished in time
  }
}

// The backend call: I/O that takes `latency` (a timer sleep stands in for it),
// cancellable through `work`. Parameters by value: the coroutine frame owns them.
surge::task<std::string> call_backend(surge::timer<>& t, std::size_t id, ms latency, std::stop_source work,
                                      std::stop_source done) {
  std::string reply = "timed out";
  try {
    co_await surge::sleep_for(t, latency, work.get_token());  // throws surge::operation_cancelled on stop
    reply = fmt::format("reply {}", id);
  } catch (const surge::operation_cancelled&) {
  }
  done.request_stop();  // release the watchdog
  co_return reply;
}

surge::task<std::string> handle(surge::timer<>& t, surge::channel<bool>& outcomes, std::size_t id, ms latency) {
  std::stop_source work, done;
  auto [reply, _] =
      co_await surge::when_all(call_backend(t, id, latency, work, done), watchdog(t, 100ms, work, done.get_token()));
  (void)co_await outcomes.send(reply == "timed out");  // waits while the channel is full
  co_return reply;
}

surge::task<std::vector<std::string>> serve_all(surge::timer<>& t, surge::channel<bool>& outcomes,
                                                std::vector<ms> latencies) {
  std::vector<surge::task<std::string>> calls;
  for (std::size_t i = 0; i < latencies.size(); ++i) calls.push_back(handle(t, outcomes, i, latencies[i]));
  auto replies = co_await surge::when_all(std::move(calls));  // concurrently; results in order
  outcomes.close();                                           // ends count_timeouts' loop
  co_return replies;
}

surge::task<int> count_timeouts(surge::channel<bool>& outcomes) {
  int timeouts = 0;
  while (auto timed_out = co_await outcomes.recv()) timeouts += *timed_out ? 1 : 0;  // nullopt: closed and drained
  co_return timeouts;
}

int main(int argc, char** argv) {
  example_args(argc, argv, "coroutine_handlers", "", 0);  // takes none; -h prints the usage
  surge::thread_pool pool(2);
  surge::timer<> timer(pool);  // sleepers resume on the pool; destroyed before it
  surge::channel<bool> outcomes(2);
  const std::vector<ms> latencies{5ms, 20ms, 1h, 10ms, 1h, 5ms};  // two backends hang
  const auto t0 = std::chrono::steady_clock::now();
  auto [replies, timeouts] =
      surge::sync_wait(surge::when_all(serve_all(timer, outcomes, latencies), count_timeouts(outcomes)));
  const auto elapsed = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - t0);
  bool right = timeouts == 2;  // the two that hang
  for (std::size_t i = 0; i < replies.size(); ++i) {
    fmt::print("request {} (backend takes {:>7} ms): {}\n", i, latencies[i].count(), replies[i]);
    right = right && replies[i] == (latencies[i] > 100ms ? std::string("timed out") : fmt::format("reply {}", i));
  }
  fmt::print("{} requests, {} timed out at the 100 ms deadline; all done in {} ms: they ran concurrently\n",
             replies.size(), timeouts, elapsed.count());
  return right ? 0 : 1;
}
