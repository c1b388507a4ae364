// surge::redis::token_bucket against a real redis-server (the CTest fixture's),
// and against scripted fake connections for replies Redis would never send.
#include <surge/limit/token_bucket.hpp>
#include <surge/redis/hiredis.hpp>
#include <surge/redis/token_bucket.hpp>

#include "redis_server.hpp"
#include "surge_test.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace surge_redis_test;
using surge::redis::hiredis_connection;

namespace {

using bucket = surge::redis::token_bucket<hiredis_connection>;

/// A prefix of this process's own, so reruns and parallel runs never share keys.
std::string prefix(const std::string& test) { return "surge-test:" + std::to_string(::getpid()) + ":" + test + ":"; }

surge::redis::reply run1(hiredis_connection& c, surge::redis::command cmd) {
  auto r = c.pipeline(std::span<const surge::redis::command>(&cmd, 1), 1s);
  REQUIRE(r.status == fault::none);
  return r.replies.at(0);
}

}  // namespace

TEST_CASE("redis token_bucket: bad arguments name the argument", "[redis]") {
  scripted_connection c;
  using fb = surge::redis::token_bucket<scripted_connection>;
  const auto throws = [&](auto make, const char* what) {
    try {
      make();
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  throws([&] { fb b(c, "p:", 0.0, 1); }, "rate_per_second");
  throws([&] { fb b(c, "p:", -1.0, 1); }, "rate_per_second");
  throws([&] { fb b(c, "p:", std::nan(""), 1); }, "rate_per_second");
  throws([&] { fb b(c, "p:", 1e300, 1); }, "rate_per_second");
  throws([&] { fb b(c, "p:", 10.0, 0); }, "burst");
  throws([&] { fb b(c, "p:", 10.0, (std::size_t{1} << 40) + 1); }, "burst");
  throws([&] { fb b(c, "p:", 1e-9, std::size_t{1} << 30); }, "burst");
  throws([&] { fb b(c, "p{x}:", 10.0, 1); }, "key_prefix");
  throws([&] { fb b(c, "p:", 10.0, 1, {.timeout = 0us}); }, "timeout");
  throws([&] { fb b(c, "p:", 10.0, 1, {.instances = 0}); }, "instances");
  throws([&] { fb b(c, "p:", 10.0, 1, {.lease_hold = 0us}); }, "lease_hold");
  // durations whose deadlines overflowed (now + microseconds::max() in ns)
  throws([&] { fb b(c, "p:", 10.0, 1, {.timeout = us::max()}); }, "timeout");
  throws([&] { fb b(c, "p:", 10.0, 1, {.lease_hold = us::max()}); }, "lease_hold");
  throws([&] { fb b(c, "p:", 10.0, 1, {.breaker_open_for = us::max()}); }, "breaker_open_for");
  throws([&] { fb b(c, "p:", 10.0, 1, {.breaker_open_for = -1us}); }, "breaker_open_for");  // it named wait_in_open
  throws([&] { fb b(c, "p:", 10.0, 1, {.breaker_failures = 1u << 20}); }, "breaker_failures");  // it named window_size
  throws([&] { fb b(c, "p:", 10.0, 1, {.local_max_keys = 0}); }, "local_max_keys");
  // a local share below surge::token_bucket's least rate threw from the first fault
  throws([&] { fb b(c, "p:", 10.0, 1, {.instances = std::numeric_limits<std::size_t>::max()}); }, "instances");
  fb ok(c, "p:", 10.0, 1, {.timeout = std::chrono::hours(24 * 365), .breaker_open_for = 0us});
  throws([&] { (void)ok.lease("k", 0); }, "k must be");
  throws([] { hiredis_connection h("", 1); }, "host");
  throws([] { hiredis_connection h("127.0.0.1", 70000); }, "port");
  throws([] { surge::redis::hiredis_pool p("127.0.0.1", 1, 0); }, "size");
}

TEST_CASE("redis token_bucket: rates become exact fractions of tokens per microsecond", "[redis]") {
  scripted_connection c;
  using fb = surge::redis::token_bucket<scripted_connection>;
  CHECK(fb(c, "", 10.0, 10).script_rate() == std::pair<std::int64_t, std::int64_t>{1, 100'000});
  CHECK(fb(c, "", 3.0, 10).script_rate() == std::pair<std::int64_t, std::int64_t>{3, 1'000'000});
  CHECK(fb(c, "", 0.1, 10).script_rate() == std::pair<std::int64_t, std::int64_t>{1, 10'000'000});
  CHECK(fb(c, "", 1.0 / 3, 10).script_rate() == std::pair<std::int64_t, std::int64_t>{1, 3'000'000});
  CHECK(fb(c, "", 2.5e6, 10).script_rate() == std::pair<std::int64_t, std::int64_t>{5, 2});
  CHECK(fb(c, "", 1e12, 1).script_rate() == std::pair<std::int64_t, std::int64_t>{1'000'000, 1});
  // an irrational-looking rate: the closest fraction at or below it that fits
  fb odd(c, "", 3.14159265358979, 1000);
  const auto [a, b] = odd.script_rate();
  CHECK(static_cast<double>(a) * 1e6 / static_cast<double>(b) <= 3.14159265358979);
  CHECK(static_cast<double>(a) * 1e6 / static_cast<double>(b) > 3.1415926);
  // 3/2 per second needs b = 2e6, past 2^52 / (burst + 1) for a burst of 3e9:
  // the closest fraction that fits was 1/1 (1.0/s, a third slow); refused
  for (const double r : {1.5, 1.999}) {
    try {
      fb big(c, "", r, 3'000'000'000);
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("rate_per_second and burst") != std::string::npos);
    }
  }
}

TEST_CASE("redis token_bucket: a lease taken at the clock's far end keeps its hold", "[redis]") {
  // any clock reading is valid (as for the breaker and surge::token_bucket);
  // fail_open grants without Redis
  using clk = surge_test::manual_clock<struct far_lease_clock>;
  scripted_connection c;
  surge::redis::token_bucket<scripted_connection, clk> b(
      c, "p:", 10.0, 4, {.on_fault = fault_policy::fail_open, .lease_hold = 1s, .breaker_failures = 0});
  const auto late = clk::time_point::max() - 10ms;
  auto l = b.lease("k", 3, late);
  REQUIRE(l.granted() == 3);
  // before: late + lease_hold overflowed into the past, so the lease was spent from the start
  CHECK(l.try_acquire(1, late));
  CHECK(l.try_acquire(1, late + 5ms));
}

TEST_CASE("redis token_bucket: a lease moved from is empty", "[redis]") {
  scripted_connection c;  // fail_open grants without Redis
  surge::redis::token_bucket<scripted_connection> b(c, "p:", 10.0, 4,
                                                    {.on_fault = fault_policy::fail_open, .breaker_failures = 0});
  auto from = b.lease("k", 3);
  REQUIRE(from.granted() == 3);
  REQUIRE(from.result().allowed);
  const auto check_empty = [](const auto& l) {
    // before: granted() and result() still told of the tokens it no longer had
    CHECK(l.granted() == 0);
    CHECK(l.remaining() == 0);
    CHECK(!l.result().allowed);
  };
  auto to = std::move(from);
  CHECK(to.granted() == 3);
  CHECK(to.remaining() == 3);
  check_empty(from);
  auto other = b.lease("k", 2);
  to = std::move(other);
  CHECK(to.granted() == 2);
  check_empty(other);
}

TEST_CASE("redis token_bucket: the SHA-1 and Cluster slots are Redis's", "[redis]") {
  CHECK(surge::redis::detail::sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(surge::redis::detail::sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  // CLUSTER KEYSLOT values from the Redis documentation
  CHECK(bucket::cluster_slot("somekey") == 11058);
  CHECK(bucket::cluster_slot("foo") == 12182);
  CHECK(bucket::cluster_slot("{user1000}.following") == bucket::cluster_slot("user1000"));
  scripted_connection c;
  surge::redis::token_bucket<scripted_connection> b(c, "rl:", 10.0, 10);
  CHECK(b.full_key("user:{42}") == "rl:user:{42}");
  CHECK(b.cluster_slot(b.full_key("user:{42}")) == b.cluster_slot("42"));
}

TEST_CASE("redis token_bucket: the server computes our SHA-1 of the script, EVAL after SCRIPT FLUSH", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  bucket b(c, prefix("sha"), 1.0, 5);
  run1(c, {"SCRIPT", "FLUSH"});
  const auto d = b.try_acquire("k");  // NOSCRIPT, then EVAL
  CHECK(d.allowed);
  CHECK(d.source == decision_source::redis);
  CHECK(d.remaining == 4);
  const auto loaded = run1(c, {"SCRIPT", "LOAD", std::string(bucket::script())});
  CHECK(loaded.str == b.script_sha());
  CHECK(b.try_acquire("k").remaining == 3);
}

TEST_CASE("redis token_bucket: redis_rate's rate_test.go table, for our burst and exact times", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  bucket l(c, prefix("rate_test"), 10.0, 10);  // redis_rate.PerSecond(10): 10/s, burst 10
  constexpr std::int64_t T = 100'000;          // microseconds per token
  std::int64_t tat = 0;                        // the model: microseconds since the epoch
  const auto expect = [&](const surge::redis::decision& d, std::size_t n, bool allowed) {
    const std::int64_t now = d.server_time.count();
    const std::int64_t base = std::max(tat, now);
    CHECK(d.allowed == allowed);
    if (allowed) tat = base + static_cast<std::int64_t>(n) * T;
    const std::int64_t debt = std::max<std::int64_t>(0, tat - now);
    CHECK(d.reset_after.count() == debt);
    CHECK(static_cast<std::int64_t>(d.remaining) == (10 * T - debt) / T);
    if (allowed) CHECK(d.retry_after == 0us);
  };
  expect(l.try_acquire("test_id"), 1, true);  // remaining 9, reset_after 100 ms
  REQUIRE(l.reset("test_id") == fault::none);
  tat = 0;
  auto d = l.try_acquire("test_id");
  expect(d, 1, true);
  CHECK(d.remaining == 9);
  CHECK(d.reset_after == 100ms);
  expect(l.try_acquire("test_id", 2), 2, true);
  expect(l.try_acquire("test_id", 7), 7, true);  // remaining 0 (unless a token came back meanwhile)
  // n > burst: redis_rate answers RetryAfter ~ 99 s; it can never pass: max
  d = l.try_acquire("test_id", 1000);
  expect(d, 1000, false);
  CHECK(d.retry_after == us::max());
  // TestAllowN_IncrementZero: n = 0 peeks
  REQUIRE(l.reset("zero") == fault::none);
  d = l.try_acquire("zero", 0);
  CHECK(d.allowed);  // x/time/rate: AllowN(t, 0) is true (redis_rate says Allowed 0)
  CHECK(d.remaining == 10);
  CHECK(d.reset_after == 0us);
  CHECK(run1(c, {"EXISTS", l.full_key("zero")}).integer == 0);
  // TestAllowAtMost: leases take up to k
  REQUIRE(l.reset("most") == fault::none);
  tat = 0;
  expect(l.try_acquire("most"), 1, true);
  auto two = l.lease("most", 2);
  CHECK(two.granted() == 2);
  expect(two.result(), 2, true);
  d = l.peek("most", 0);
  expect(d, 0, true);
  auto rest = l.lease("most", 10);  // 7, plus whatever refilled meanwhile
  CHECK(rest.granted() >= 7);
  expect(rest.result(), rest.granted(), true);
  CHECK(rest.result().remaining == 0);
  auto none = l.lease("most", 1000);
  CHECK(none.granted() == 0);
  CHECK(!none.result().allowed);
  CHECK(none.result().retry_after > 0us);
  CHECK(none.result().retry_after <= us(T));
  // TestRetryAfter: 1 per millisecond, burst 1: retry_after never above one interval
  bucket ms(c, prefix("retry"), 1000.0, 1);
  for (int i = 0; i < 200; ++i) {
    const auto r = ms.try_acquire("test_id");
    if (!r.allowed) {
      CHECK(r.retry_after > 0us);
      CHECK(r.retry_after <= 1ms);
    }
  }
  two = {};
  rest = {};
}

TEST_CASE("redis token_bucket: same decisions as surge::token_bucket at the server's timestamps", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  using clk = surge_test::manual_clock<struct equivalence_clock>;
  hiredis_connection c("127.0.0.1", port);
  std::mt19937_64 rng(20261204);
  // rates whose tokens-per-microsecond numerator is at most 1000 (docs/redis.md: exact agreement)
  const double rates[] = {333.0, 2000.0, 3000.0, 7000.0, 20000.0, 0.5e5};
  int steps = 0, refused = 0;
  for (const double rate : rates) {
    const std::size_t burst = 1 + rng() % 8;
    bucket remote(c, prefix("equiv"), rate, burst);
    const std::string key = "k" + std::to_string(static_cast<long long>(rate));
    REQUIRE(remote.reset(key) == fault::none);
    std::optional<surge::token_bucket<clk>> local;
    for (int i = 0; i < 150; ++i) {
      std::size_t n = rng() % (burst + 1);
      if (rng() % 20 == 0) n = burst + 1 + rng() % 3;
      const auto d = remote.try_acquire(key, n);
      REQUIRE(d.source == decision_source::redis);
      const clk::time_point t{std::chrono::duration_cast<clk::duration>(d.server_time)};
      if (!local) local.emplace(rate, burst, t);
      const auto wait = local->time_until_available(n, t);
      const bool ok = local->try_acquire(n, t);
      INFO("rate " << rate << " burst " << burst << " n " << n << " step " << i);
      REQUIRE(d.allowed == ok);
      if (!ok) {
        ++refused;
        if (wait == clk::duration::max()) {
          CHECK(d.retry_after == us::max());
        } else {
          CHECK(d.retry_after == std::chrono::ceil<us>(wait));
        }
      }
      ++steps;
    }
  }
  CHECK(refused > steps / 10);  // the schedules did exercise refusals
}

TEST_CASE("redis token_bucket: key TTL is the time until full, refusals write nothing, expiry and reset", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  {
    bucket slow(c, prefix("ttl-slow"), 1.0, 20);  // one token per second
    auto d = slow.try_acquire("k", 20);
    REQUIRE(d.allowed);
    CHECK(d.reset_after == 20s);
    const std::string sk = slow.full_key("k");
    const auto pttl = run1(c, {"PTTL", sk}).integer;
    CHECK(pttl > 19'000);
    CHECK(pttl <= 20'000);
    const auto before = run1(c, {"GET", sk}).str;
    // the state: the TAT as "microseconds:remainder" (remainder in 1/a microsecond; a = 1 here)
    CHECK(before == std::to_string(d.server_time.count() + 20'000'000) + ":0");
    d = slow.try_acquire("k", 15);
    CHECK(!d.allowed);
    CHECK(run1(c, {"GET", sk}).str == before);  // a refusal wrote nothing
    CHECK(run1(c, {"PTTL", sk}).integer <= pttl);
  }
  {
    bucket third(c, prefix("ttl-third"), 3.0, 2);  // 3 / 1'000'000 tokens per microsecond: a = 3, b = 1'000'000
    const auto d = third.try_acquire("k");
    REQUIRE(d.allowed);
    CHECK(run1(c, {"GET", third.full_key("k")}).str == std::to_string(d.server_time.count() + 333'333) + ":1");
    CHECK(d.reset_after == 333'334us);
    // a state written by hand (or by an earlier surge, same format) is read as such
    const auto later = d.server_time.count() + 600'000;  // 1.8 of 2 tokens owed
    run1(c, {"SET", third.full_key("k"), std::to_string(later) + ":2", "PX", "20000"});
    const auto r = third.try_acquire("k");
    CHECK(!r.allowed);
    CHECK(r.remaining == 0);
    CHECK(r.reset_after.count() == later - r.server_time.count() + 1);
    CHECK(r.retry_after.count() == later - r.server_time.count() + 1 - 333'333);
  }
  bucket b(c, prefix("ttl"), 1000.0, 20);  // one token per millisecond
  const std::string k = b.full_key("k");
  auto d = b.try_acquire("k", 20);
  REQUIRE(d.allowed);
  CHECK(d.reset_after == 20ms);
  // the key expires when the bucket is full again; then a fresh answer
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (run1(c, {"EXISTS", k}).integer == 1 && std::chrono::steady_clock::now() < until) {
  }
  REQUIRE(run1(c, {"EXISTS", k}).integer == 0);
  d = b.try_acquire("k", 20);
  CHECK(d.allowed);
  CHECK(d.remaining == 0);
  // refused unless a whole refill (20 ms at 1000/s) passed on the server's
  // clock in between: a stalled test process (a loaded machine) may let it pass
  const auto again = b.try_acquire("k", 20);
  if (again.server_time - d.server_time < 20ms) CHECK(!again.allowed);
  REQUIRE(b.reset("k") == fault::none);
  d = b.try_acquire("k", 20);
  CHECK(d.allowed);
  // peek takes nothing
  REQUIRE(b.reset("k") == fault::none);
  CHECK(b.peek("k", 20).allowed);
  CHECK(b.peek("k", 20).allowed);
  CHECK(run1(c, {"EXISTS", k}).integer == 0);
}

TEST_CASE("redis token_bucket: a reset that Redis refuses is a clear error", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  // a user the server's ACL denies DEL (a misconfiguration, like a MOVED from a Cluster node)
  hiredis_connection admin("127.0.0.1", port), c("127.0.0.1", port);
  const std::string user = "surge-test-" + std::to_string(::getpid()) + "-nodel";
  run1(admin, {"ACL", "SETUSER", user, "on", ">secret", "~*", "+@all", "-del"});
  REQUIRE(run1(c, {"AUTH", user, "secret"}).str == "OK");
  bucket b(c, prefix("reset-denied"), 1.0, 5, {.on_fault = fault_policy::fail_open});
  const bool taken = b.try_acquire("k").remaining == 4;
  std::string what = "no exception";
  try {
    (void)b.reset("k");  // before: fault::none, as if the key were gone
  } catch (const surge::redis::reply_error& e) {
    what = e.what();
  }
  const bool kept = run1(admin, {"EXISTS", b.full_key("k")}).integer == 1;
  run1(admin, {"ACL", "DELUSER", user});
  CHECK(taken);
  CHECK(kept);
  CHECK(what.find("NOPERM") != std::string::npos);
  CHECK(what.find(b.full_key("k")) != std::string::npos);
}

TEST_CASE("redis token_bucket: try_acquire_many decides many keys in one round trip", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  bucket b(c, prefix("many"), 1.0, 3);
  std::vector<std::string> keys = {"a", "b", "a", "c", "a", "a"};
  run1(c, {"SCRIPT", "FLUSH"});  // the fallback to EVAL works for a batch too
  const auto ds = b.try_acquire_many(keys);
  REQUIRE(ds.size() == keys.size());
  CHECK(ds[0].allowed);
  CHECK(ds[1].allowed);
  CHECK(ds[2].allowed);
  CHECK(ds[3].allowed);
  CHECK(ds[4].allowed);
  CHECK(!ds[5].allowed);  // "a" a fourth time within the same millisecond-ish: burst 3
  CHECK(ds[4].remaining == 0);
  const auto again = b.try_acquire_many(std::vector<std::string_view>{"b", "c"}, 2);
  CHECK(again[0].allowed);
  CHECK(again[0].remaining == 0);
}

TEST_CASE("redis token_bucket: leases give back what they do not use and never exceed the limit", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  {
    bucket slow(c, prefix("lease"), 0.001, 10);  // no refill during the test
    auto l = slow.lease("k", 10);
    CHECK(l.granted() == 10);
    CHECK(l.try_acquire(3));
    CHECK(l.remaining() == 7);
    CHECK(!l.try_acquire(8));
    CHECK(!slow.try_acquire("k").allowed);
    l.release();  // 7 go back
    CHECK(slow.peek("k", 7).allowed);
    CHECK(!slow.peek("k", 8).allowed);
    CHECK(slow.try_acquire("k", 7).remaining == 0);
    CHECK(slow.lease("k", 5).granted() == 0);
    // a lease cannot be spent after lease_hold
    using clk = surge_test::manual_clock<struct lease_clock>;
    surge::redis::token_bucket<hiredis_connection, clk> held(c, prefix("lease-hold"), 0.001, 4, {.lease_hold = 10ms});
    auto h = held.lease("k", 4, clk::now());
    CHECK(h.try_acquire(1, clk::now()));
    clk::advance(10ms);
    CHECK(!h.try_acquire(1, clk::now()));
  }
  // several threads leasing from one key: tokens spent <= tokens the bucket allowed
  surge::redis::hiredis_pool pool("127.0.0.1", port, 3);
  surge::redis::token_bucket<surge::redis::hiredis_pool> shared(pool, prefix("lease-mt"), 2000.0, 50);
  std::atomic<long> spent{0};
  std::atomic<std::int64_t> first{INT64_MAX}, last{0};
  const auto stop = std::chrono::steady_clock::now() + 600ms;
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&] {
      while (std::chrono::steady_clock::now() < stop) {
        auto l = shared.lease("k", 10);
        const std::int64_t at = l.result().server_time.count();
        std::int64_t f = first.load();
        while (at < f && !first.compare_exchange_weak(f, at)) {
        }
        std::int64_t z = last.load();
        while (at > z && !last.compare_exchange_weak(z, at)) {
        }
        // use a random part of the lease; the rest goes back
        const std::size_t use = l.granted() / 2 + 1;
        for (std::size_t i = 0; i < use; ++i)
          if (l.try_acquire()) spent.fetch_add(1);
      }
    });
  for (auto& t : ts) t.join();
  const double bound = 50 + 2000.0 * static_cast<double>(last.load() - first.load()) / 1e6;
  CHECK(static_cast<double>(spent.load()) <= bound);
  CHECK(spent.load() > 50);
}

namespace {

/// 4 threads hammering one key for `run_for`; returns {admitted, first, last}
/// with first/last the server times of the first request and last admission.
struct tally {
  long admitted = 0;
  std::int64_t first = INT64_MAX;
  std::int64_t last = 0;
};

tally hammer(int port, const std::string& pfx, std::chrono::milliseconds run_for) {
  surge::redis::hiredis_pool pool("127.0.0.1", port, 4);
  surge::redis::token_bucket<surge::redis::hiredis_pool> b(pool, pfx, 1000.0, 20, {.timeout = 2s});
  std::atomic<long> admitted{0};
  std::atomic<std::int64_t> first{INT64_MAX}, last{0};
  const auto stop = std::chrono::steady_clock::now() + run_for;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      while (std::chrono::steady_clock::now() < stop) {
        const auto d = b.try_acquire("shared");
        const std::int64_t at = d.server_time.count();
        std::int64_t f = first.load();
        while (at < f && !first.compare_exchange_weak(f, at)) {
        }
        if (!d.allowed) continue;
        admitted.fetch_add(1);
        std::int64_t z = last.load();
        while (at > z && !last.compare_exchange_weak(z, at)) {
        }
      }
    });
  for (auto& t : ts) t.join();
  return {admitted.load(), first.load(), last.load()};
}

}  // namespace

// Run by the test below in a second process.
TEST_CASE("redis token_bucket: worker process", "[.redis_worker]") {
  const char* out = std::getenv("SURGE_REDIS_WORKER_OUT");
  const char* pfx = std::getenv("SURGE_REDIS_WORKER_PREFIX");
  REQUIRE(out != nullptr);
  REQUIRE(pfx != nullptr);
  const tally t = hammer(surge_redis_test::shared_port(), pfx, 1500ms);
  std::ofstream(out) << t.admitted << ' ' << t.first << ' ' << t.last << '\n';
}

TEST_CASE("redis token_bucket: 4 threads x 2 processes share one key within rate x T + burst", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  const std::string pfx = prefix("fleet");
  const std::string out = std::string(SURGE_REDIS_WORK_DIR) + "/worker-" + std::to_string(::getpid()) + ".txt";
  std::remove(out.c_str());
  const std::string cmd = "SURGE_REDIS_WORKER_OUT='" + out + "' SURGE_REDIS_WORKER_PREFIX='" + pfx + "' /proc/" +
                          std::to_string(::getpid()) + "/exe '[.redis_worker]' > /dev/null 2>&1";
  int status = 0;
  std::thread child([&] { status = std::system(cmd.c_str()); });
  const tally mine = hammer(port, pfx, 1500ms);
  child.join();
  REQUIRE(status == 0);
  tally other;
  std::ifstream(out) >> other.admitted >> other.first >> other.last;
  REQUIRE(other.admitted > 0);
  const long admitted = mine.admitted + other.admitted;
  const std::int64_t first = std::min(mine.first, other.first);
  const std::int64_t last = std::max(mine.last, other.last);
  const double limit = 20 + 1000.0 * static_cast<double>(last - first) / 1e6;
  INFO("admitted " << admitted << " over " << (last - first) << " us; limit " << limit);
  CHECK(static_cast<double>(admitted) <= limit);
  CHECK(static_cast<double>(admitted) >= limit * 0.9 - 5);
}
