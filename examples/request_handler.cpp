// Request handlers written as coroutines on a surge::thread_pool: each request
// is one spawned task that waits for a concurrency permit (async_semaphore),
// calls two "backends" at once (when_all; each sleeps on a timer that resumes
// it on the pool), updates shared stats under an async_mutex, and sends its
// response into a channel read by a collector coroutine. A slow request is
// cancelled through a std::stop_token once the others are done. Exits 1
// unless every fast request got its 200 with its backends' results, the slow
// one its 503, and all of them were counted as served.
#include <surge/exec/async_mutex.hpp>
#include <surge/exec/async_semaphore.hpp>
#include <surge/exec/channel.hpp>
#include <surge/exec/spawn.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/timer.hpp>
#include <surge/exec/when_all.hpp>

#include <fmt/format.h>

#include "example_args.hpp"

#include <algorithm>
#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

using namespace std::chrono_literals;

struct request {
  int id;
  std::string path;
};
struct response {
  int id;
  int status;
  std::string body;
};

// Everything the handlers share. It outlives them: main() waits for the pool
// to be idle (which covers spawned coroutines) before destroying it.
struct services {
  services(surge::thread_pool& p, surge::timer<>& t) : pool(p), timer(t) {}
  surge::thread_pool& pool;
  surge::timer<>& timer;
  surge::async_semaphore in_flight{4};  // at most 4 requests inside the handler
  surge::async_mutex stats_mutex;
  long served = 0;  // guarded by stats_mutex
  surge::channel<response> responses{16};
  std::vector<response> received;  // by the collector
  std::stop_source shutdown;
};

surge::task<std::string> fetch_user(services& s, int id, std::stop_token stop) {
  co_await surge::sleep_for(s.timer, std::chrono::milliseconds(1 + id % 3), stop);
  co_return fmt::format("user{}", id);
}

surge::task<int> fetch_score(services& s, int id) {
  co_await surge::sleep_for(s.timer, 2ms);
  co_return id * 10;
}

// [snippet: request_handler]
// The request is taken by value: the coroutine frame owns its copy. `s` is a
// reference to something that outlives every handler (see services).
surge::task<void> handle(request req, services& s) {
  co_await s.in_flight.acquire();
  response out{req.id, 200, {}};
  try {
    const auto wait = req.path == "/slow" ? 1h : 0ms;  // never finishes unless cancelled
    co_await surge::sleep_for(s.timer, wait, s.shutdown.get_token());
    auto [user, score] =
        co_await surge::when_all(fetch_user(s, req.id, s.shutdown.get_token()), fetch_score(s, req.id));
    out.body = fmt::format("{} {} -> {}", req.path, user, score);
  } catch (const surge::operation_cancelled&) {
    out = {req.id, 503, "cancelled at shutdown"};
  }
  {
    auto lock = co_await s.stats_mutex.scoped_lock();
    ++s.served;
  }
  s.in_flight.release();
  (void)co_await s.responses.send(std::move(out));
}
// [/snippet]

surge::task<void> collect(services& s, int expected_fast, int total) {
  for (int got = 0; got < total; ++got) {
    auto r = co_await s.responses.recv();
    if (!r) break;
    fmt::print("  {:>2} {} {}\n", r->id, r->status, r->body);
    s.received.push_back(std::move(*r));
    if (got + 1 == expected_fast) s.shutdown.request_stop();  // the rest are slow: cancel them
  }
}

// True when requests 0 .. fast-1 each got one 200 with their backends'
// results, request `fast` (the slow one) one 503, and all were counted.
bool answered_as_printed(services& s, int fast) {
  std::sort(s.received.begin(), s.received.end(), [](const response& a, const response& b) { return a.id < b.id; });
  bool right = s.served == fast + 1 && s.received.size() == static_cast<std::size_t>(fast + 1);
  for (int i = 0; right && i <= fast; ++i) {
    const response& r = s.received[static_cast<std::size_t>(i)];
    right = r.id == i &&
            (i < fast ? r.status == 200 && r.body == fmt::format("/item user{} -> {}", i, i * 10) : r.status == 503);
  }
  return right;
}

// [snippet: request_handler]
int main(int argc, char** argv) {
  example_args(argc, argv, "request_handler", "", 0);  // takes none; -h prints the usage
  surge::thread_pool pool(2);
  surge::timer<> timer(pool);  // resumes sleepers on the pool
  services s{pool, timer};
  const int fast = 8;
  surge::spawn(pool, collect(s, fast, fast + 1));
  for (int i = 0; i < fast; ++i) surge::spawn(pool, handle({i, "/item"}, s));
  surge::spawn(pool, handle({fast, "/slow"}, s));
  pool.wait_idle();  // every spawned coroutine has finished and been destroyed
  fmt::print("served {} requests\n", s.served);
  return answered_as_printed(s, fast) ? 0 : 1;
}
// [/snippet]
