// The code blocks of docs/limit.md, compiled and run as tests. The regions
// between "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the
// page (scripts/doc_snippets.py keeps them equal).
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/timer.hpp>
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/leaky_bucket.hpp>
#include <surge/limit/token_bucket.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "surge_test.hpp"

using namespace std::chrono_literals;

namespace {

int served = 0, delayed = 0, refused = 0, sent = 0;
void serve() { ++served; }
template <class Duration>
void serve_after(Duration) {
  ++delayed;
}
void reply_503() { ++refused; }
void reply_429() { ++refused; }
surge::task<void> send() {
  ++sent;
  co_return;
}

void token_bucket() {
  // [snippet: token_bucket]
  surge::token_bucket<> bucket(100.0, 10);          // 100/s, 10 at once; starts full
  if (bucket.try_acquire()) serve();                // x/time/rate AllowN
  auto r = bucket.reserve(3, 50ms);                 // ReserveN with a max wait
  if (r) serve_after(r.delay);                      // or bucket.cancel(r) to give the tokens back (once)
  auto wait = bucket.time_until_available(5);       // how long until 5 are there
  bucket.set_rate(200.0); bucket.set_burst(20);     // SetLimit / SetBurst: tokens present are kept
  auto free_for_all = surge::token_bucket<>::unlimited();  // rate.Inf
  // [/snippet]
  CHECK(served == 1);
  CHECK(r.ok());
  CHECK(wait == 0ns);  // 6 of 10 tokens left
  CHECK(free_for_all.try_acquire(1'000'000));
}

void meter_and_pacer() {
  served = delayed = refused = 0;
  // [snippet: leaky_bucket]
  surge::leaky_bucket<> meter(10.0, 20, 5);      // rate=10r/s burst=20 delay=5
  auto m = meter.admit();                        // {decision, delay}
  switch (m.decision) {
    case surge::meter_decision::admit:  serve(); break;
    case surge::meter_decision::delay:  serve_after(m.delay); break;
    case surge::meter_decision::reject: reply_503(); break;   // state unchanged
  }
  auto ng = surge::leaky_bucket<>::nginx(30, surge::nginx_rate_unit::per_minute, 5, surge::nodelay);

  surge::leaky_bucket_pacer<> pacer(100.0);       // slack 10 (uber's default); 0 = WithoutSlack
  std::this_thread::sleep_until(pacer.take());    // or co_await sleep_until(...)
  // [/snippet]
  CHECK(served == 1);
  CHECK(ng.nginx_mode());
}

void keyed() {
  refused = 0;
  const std::string client_ip = "192.0.2.1";
  // [snippet: keyed_limiter]
  surge::keyed_limiter<std::string, surge::token_bucket<>> per_ip(surge::token_bucket<>(5.0, 10), 1'000'000);
  if (!per_ip.try_acquire(client_ip)) reply_429();
  per_ip.purge_full();   // optional: drop every key that is back to full (free)

  surge::keyed_limiter<std::string, surge::leaky_bucket<>> zone(surge::leaky_bucket<>::nginx(1, surge::nginx_rate_unit::per_second, 5), 100'000);
  auto d = zone.admit(client_ip);                 // an nginx limit_req zone
  // [/snippet]
  CHECK(refused == 0);
  CHECK(d.admitted());
}

// [snippet: coroutine]
surge::task<void> call_partner(surge::timer<>& timer, surge::token_bucket<>& bucket) {
  auto r = bucket.reserve();                    // granted for n <= burst
  if (r.delay > 0ns) co_await surge::sleep_for(timer, r.delay);
  co_await send();
}
// [/snippet]

}  // namespace

TEST_CASE("limit.md snippets", "[docs]") {
  token_bucket();
  meter_and_pacer();
  keyed();
  surge::thread_pool pool(1);
  surge::timer<> timer(pool);
  surge::token_bucket<> bucket(1000.0, 1);
  sent = 0;
  surge::sync_wait(call_partner(timer, bucket));
  CHECK(sent == 1);
}
