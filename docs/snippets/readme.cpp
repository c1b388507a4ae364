// The C++ blocks of README.md, compiled and run as tests. The regions between
// "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the README
// (scripts/doc_snippets.py keeps them equal).
#include <surge/surge.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "surge_test.hpp"

using namespace std::chrono_literals;

namespace {

int used = 0, rejected = 0, calls = 0;
void use(const std::string&) { ++used; }
std::string fetch(const std::string& key) { return "value of " + key; }
struct blob {
  std::uint64_t id = 0;
};
blob load(std::uint64_t id) { return {id}; }
void reject() { ++rejected; }
void call() { ++calls; }

void caches() {
  const std::string key = "k";
  // [snippet: caches]
  surge::cache<std::string, std::string> cache(10'000, {.ttl = 30s});  // W-TinyLFU; leave ttl unset: no expiry
  if (auto* v = cache.get(key)) use(*v); else cache.put(key, fetch(key));
  surge::sharded_cache<surge::lru_cache<std::uint64_t, blob>> shared(1'000'000);  // thread-safe
  blob b = shared.get_or_load(42, [] { return load(42); });  // concurrent misses load once
  // [/snippet]
  CHECK(cache.contains(key));
  CHECK(b.id == 42);
}

void limiters() {
  // [snippet: limiters]
  surge::token_bucket<> bucket(100.0, 10);             // x/time/rate's Limiter, lock-free
  if (!bucket.try_acquire()) reject();                  // or: auto r = bucket.reserve(); wait r.delay
  surge::leaky_bucket<> meter(10.0, 20, 5);             // nginx limit_req rate=10r/s burst=20 delay=5
  surge::keyed_limiter<std::string, surge::token_bucket<>> per_ip(bucket, 1'000'000);
  // [/snippet]
  CHECK(rejected == 0);
  CHECK(meter.admit().admitted());
  CHECK(per_ip.try_acquire("192.0.2.1"));
}

void balancers() {
  // [snippet: balancers]
  surge::weighted_round_robin wrr(surge::weights{5, 1, 1});  // nginx's sequence: a a b a c a a
  surge::least_connections lc(8);                            // lc{8} means 8 backends too
  auto lease = lc.pick();                                    // lease.index(); released at scope end
  surge::maglev<> mg(10);                                    // pick(key): one hash, one table load
  std::size_t b = mg.pick("user-42");                        // text keys hash by their characters
  surge::slow_start<> warm(8, {.window = std::chrono::seconds(30)});
  warm.begin(3);                                             // backend 3 joined: weight ramps up over 30 s
  // [/snippet]
  CHECK(wrr.pick() == 0);
  CHECK(lease.index() < 8);
  CHECK(b < 10);
  CHECK(warm.factor(3) < 1.0);
}

void resilience_and_metrics() {
  // [snippet: resilience]
  surge::circuit_breaker<> breaker({.failure_rate_threshold = 50, .window_size = 100});
  if (auto permit = breaker.try_acquire()) {  // refused while open: fail fast
    try { call(); permit.success(); } catch (...) { permit.failure(); throw; }
  }
  surge::retry_budget budget(10, 0.1);        // gRPC retry throttling
  surge::latency_histogram latencies;         // record(ns) from any thread, lock-free
  latencies.record(1234);
  auto p99 = latencies.value_at_percentile(99);
  // [/snippet]
  CHECK(calls == 1);
  CHECK(budget.can_retry());
  CHECK(p99 == 1234);
}

struct request {
  int id = 0;
};

// [snippet: coroutines]
surge::task<int> handle(request r, surge::timer<>& t) {  // take values: the frame owns them
  co_await surge::sleep_for(t, 5ms);                     // resumes on the pool
  co_return r.id;
}
// [/snippet]

void coroutines() {
  surge::thread_pool pool(1);
  surge::timer<> timer(pool);
  const request req{7};
  // [snippet: coroutines]
  surge::spawn(pool, handle(req, timer));  // detached; pool.wait_idle() waits for it
  // [/snippet]
  pool.wait_idle();
  CHECK(surge::sync_wait(handle(req, timer)) == 7);
}

}  // namespace

TEST_CASE("top-level README.md snippets", "[docs]") {
  caches();
  limiters();
  balancers();
  resilience_and_metrics();
  coroutines();
}
