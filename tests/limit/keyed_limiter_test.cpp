#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/leaky_bucket.hpp>
#include <surge/limit/token_bucket.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "phase_driver.hpp"
#include "surge_test.hpp"

using namespace std::chrono_literals;
using cl = surge_test::manual_clock<struct keyed_tag>;
using bucket = surge::token_bucket<cl>;
using meter = surge::leaky_bucket<cl>;
using tp = cl::time_point;

TEST_CASE("keyed_limiter: max_keys errors name the limiter; no hidden minimum", "[limit][keyed_limiter]") {
  using K = surge::keyed_limiter<int, bucket>;
  CHECK_THROWS_AS(K(bucket(1.0, 1, tp{}), 0), std::invalid_argument);
  CHECK(K::max_keys_limit == 16 * surge::sieve_cache<int, std::int64_t>::max_capacity);
  for (const std::size_t bad : {std::size_t{1} << 40, K::max_keys_limit + 1}) {
    try {
      K k(bucket(1.0, 1, tp{}), bad);
      FAIL("max_keys too large accepted");
    } catch (const std::invalid_argument& e) {  // not "surge cache: capacity is too large"
      const std::string_view what = e.what();
      CHECK(what.find("keyed_limiter") != std::string_view::npos);
      CHECK(what.find("max_keys") != std::string_view::npos);
    }
  }
  // fewer keys than the 16 shards: that many shards of one key each
  K small(bucket(1.0, 1, tp{}), 3);
  CHECK(small.max_keys() == 3);
  for (int key = 0; key < 50; ++key) CHECK(small.try_acquire(key, 1, tp{}));
  CHECK(small.size() == 3);
  CHECK_FALSE(small.try_acquire(49, 1, tp{}));  // the most recent key is still held, in debt
  K one(bucket(1.0, 1, tp{}), 1);
  CHECK(one.try_acquire(1, 1, tp{}));
  CHECK_FALSE(one.try_acquire(1, 1, tp{}));
  CHECK(one.size() == 1);
}

// Key types refused at compile time (each public hashed type asserts these
// with its own name; a test cannot compile the failing declarations).
static_assert(!surge::detail::valid_hashed_key_v<const char*, std::hash<const char*>, std::equal_to<const char*>>);
static_assert(!surge::detail::valid_hashed_key_v<char*, std::hash<char*>, std::equal_to<char*>>);
static_assert(!surge::detail::valid_hashed_key_v<const wchar_t*, std::hash<const wchar_t*>, std::equal_to<>>);
static_assert(surge::detail::valid_hashed_key_v<std::string, std::hash<std::string>, std::equal_to<std::string>>);
static_assert(surge::detail::valid_hashed_key_v<const int*, std::hash<const int*>, std::equal_to<const int*>>);
namespace {
struct no_hash_key {
  int v;
  bool operator==(const no_hash_key&) const = default;
};
struct text_hash {  // hashes the characters: a C string key is then the user's explicit choice
  std::size_t operator()(const char* s) const noexcept { return std::hash<std::string_view>{}(s); }
};
struct text_equal {
  bool operator()(const char* a, const char* b) const noexcept { return std::string_view(a) == b; }
};
}  // namespace
static_assert(!surge::detail::valid_hashed_key_v<no_hash_key, std::hash<no_hash_key>, std::equal_to<no_hash_key>>);
static_assert(surge::detail::valid_hashed_key_v<const char*, text_hash, text_equal>);

TEST_CASE("keyed_limiter limits each key like its own token_bucket", "[limit][keyed_limiter]") {
  // reference: one token_bucket per key, unbounded
  surge::keyed_limiter<std::uint64_t, bucket> keyed(bucket(100.0, 5, tp{}), 1024);
  std::unordered_map<std::uint64_t, bucket> ref;
  std::mt19937_64 rng(11);
  std::int64_t now = 0;
  for (int i = 0; i < 50000; ++i) {
    now += static_cast<std::int64_t>(rng() % 200'000);
    const tp at = tp{} + std::chrono::nanoseconds(now);
    const std::uint64_t key = rng() % 300;  // fewer keys than capacity: no eviction
    const std::size_t n = 1 + rng() % 6;
    auto it = ref.try_emplace(key, 100.0, 5, tp{}).first;
    const bool want = it->second.try_acquire(n, at);
    REQUIRE(keyed.try_acquire(key, n, at) == want);
    if (i % 97 == 0) {
      REQUIRE(keyed.time_until_available(key, 1, at) == it->second.time_until_available(1, at));
      keyed.purge_full(at);  // dropping full keys changes no decision
    }
  }
  CHECK(keyed.stats().evicted_active == 0);
  CHECK(keyed.stats().dropped_full > 0);
  const std::size_t before = keyed.size();
  CHECK_FALSE(keyed.try_acquire(999'999, 6, tp{} + std::chrono::nanoseconds(now)));  // n > burst
  CHECK(keyed.size() == before);  // ... refused without storing the key
}

namespace {
// A Hash and a KeyEqual with state, as a seeded hash has: keys are equal
// modulo `mod`, and the hash counts its calls.
struct modulo_hash {
  int mod = 1'000'000;
  std::atomic<int>* calls = nullptr;
  std::size_t operator()(int k) const noexcept {
    if (calls) ++*calls;
    return std::hash<int>{}(k % mod);
  }
};
struct modulo_equal {
  int mod = 1'000'000;
  bool operator()(int a, int b) const noexcept { return a % mod == b % mod; }
};
}  // namespace

TEST_CASE("keyed_limiter: the Hash and KeyEqual objects given to the constructor are the ones used",
          "[limit][keyed_limiter]") {
  // only default-constructed ones could be used: a seeded hash (against
  // hash flooding) could not be given at all
  std::atomic<int> calls{0};
  surge::keyed_limiter<int, bucket, modulo_hash, modulo_equal> keyed(bucket(1.0, 1, tp{}), 64,
                                                                     modulo_hash{10, &calls}, modulo_equal{10});
  CHECK(keyed.try_acquire(3, 1, tp{}));
  CHECK(calls.load() > 0);
  CHECK_FALSE(keyed.try_acquire(13, 1, tp{}));  // the same key modulo 10: its token is gone
  CHECK(keyed.time_until_available(23, 1, tp{}) == 1s);
  CHECK(keyed.try_acquire(4, 1, tp{}));
  CHECK(keyed.size() == 2);
  // a Hash given alone: KeyEqual default-constructed
  surge::keyed_limiter<int, bucket, modulo_hash, modulo_equal> hash_only(bucket(1.0, 1, tp{}), 64,
                                                                        modulo_hash{10, &calls});
  CHECK(hash_only.try_acquire(3, 1, tp{}));
  CHECK(hash_only.try_acquire(13, 1, tp{}));  // equal only modulo 1'000'000: another key
}

TEST_CASE("keyed_limiter: full keys are dropped for free, the cap evicts keys not reused (SIEVE)", "[limit][keyed_limiter]") {
  surge::keyed_limiter<int, bucket, std::hash<int>, std::equal_to<int>, 1> keyed(bucket(10.0, 2, tp{}), 4);
  for (int k = 0; k < 4; ++k) CHECK(keyed.try_acquire(k, 2, tp{}));
  CHECK(keyed.size() == 4);
  CHECK_FALSE(keyed.try_acquire(0, 1, tp{}));
  // a fifth key evicts the first key the hand finds unvisited (key 1: key 0 was
  // used again), while in debt
  CHECK(keyed.try_acquire(4, 1, tp{}));
  CHECK(keyed.stats().evicted_active == 1);
  CHECK(keyed.try_acquire(1, 2, tp{}));  // forgotten: fresh again (documented cost of the cap)
  // after a full refill (200 ms) every key is full: purge drops them all, for free
  CHECK(keyed.purge_full(tp{} + 200ms) == 4);
  CHECK(keyed.size() == 0);
  CHECK(keyed.try_acquire(0, 2, tp{} + 200ms));
  CHECK(keyed.memory_bytes() > 4 * sizeof(std::int64_t));
  // eviction of a full key is free
  for (int k = 10; k < 14; ++k) CHECK(keyed.try_acquire(k, 1, tp{} + 200ms));
  const auto active = keyed.stats().evicted_active;
  CHECK(keyed.try_acquire(20, 1, tp{} + 10s));
  CHECK(keyed.stats().evicted_active == active);
}

TEST_CASE("keyed_limiter: n = 0 on an absent key passes without storing it (no eviction of a key in debt)",
          "[limit][keyed_limiter]") {
  surge::keyed_limiter<int, bucket, std::hash<int>, std::equal_to<int>, 1> keyed(bucket(1.0, 2, tp{}), 2);
  CHECK(keyed.try_acquire(1, 2, tp{}));  // keys 1 and 2 in debt: the cap is reached
  CHECK(keyed.try_acquire(2, 2, tp{}));
  for (int key = 3; key < 10; ++key) CHECK(keyed.try_acquire(key, 0, tp{}));  // take nothing
  CHECK(keyed.size() == 2);
  CHECK(keyed.stats().evicted_active == 0);
  CHECK_FALSE(keyed.try_acquire(1, 1, tp{}));  // still in debt, not forgotten
  CHECK_FALSE(keyed.try_acquire(2, 1, tp{}));
  CHECK(keyed.try_acquire(2, 0, tp{}));  // a present key: passes unless deeper in debt than the burst
}

TEST_CASE("keyed_limiter: an unlimited prototype grants any n; a limited one never more than burst",
          "[limit][keyed_limiter]") {
  surge::keyed_limiter<int, bucket> open(bucket::unlimited(), 8);
  CHECK(open.try_acquire(1, std::size_t{1} << 40, tp{}));
  CHECK(open.try_acquire(1, std::numeric_limits<std::size_t>::max(), tp{}));
  surge::keyed_limiter<int, bucket> limited(bucket(1.0, 3, tp{}), 8);
  CHECK_FALSE(limited.try_acquire(1, 4, tp{}));
  CHECK(limited.size() == 0);
  CHECK(limited.try_acquire(1, 3, tp{}));
  CHECK(limited.size() == 1);
}

TEST_CASE("keyed_limiter with the nginx meter, string keys", "[limit][keyed_limiter]") {
  surge::keyed_limiter<std::string, meter> zone(meter::nginx(1, surge::nginx_rate_unit::per_second, 1, surge::nodelay),
                                                64);
  const tp t0 = tp{} + 5s;
  CHECK(zone.admit("10.0.0.1", t0).admitted());
  CHECK(zone.admit("10.0.0.1", t0).admitted());  // burst 1: B + 1 at one instant
  CHECK_FALSE(zone.admit("10.0.0.1", t0).admitted());
  CHECK(zone.admit("10.0.0.2", t0).admitted());  // another key, its own limit
  CHECK(zone.admit("10.0.0.1", t0 + 1s).admitted());
  CHECK(zone.purge_full(t0 + 10s) == 2);
}

TEST_CASE("keyed_limiter: threads on shared keys admit what one thread would", "[limit][keyed_limiter][concurrency]") {
  using hc = surge_test::manual_clock<struct keyed_hammer_tag>;
  hc::reset();
  using hb = surge::token_bucket<hc>;
  constexpr int keys = 16;
  surge::keyed_limiter<int, hb> keyed(hb(1000.0, 10, hc::time_point{}), 256);
  std::vector<hb> ref;  // reference: each key's own bucket
  for (int key = 0; key < keys; ++key) ref.emplace_back(1000.0, 10, hc::time_point{});
  limit_test::run_phases(
      4, 50,
      [&] {
        long mine = 0;
        for (int key = 0; key < keys; ++key)
          while (keyed.try_acquire(key)) ++mine;
        return mine;
      },
      [&](int p) {
        hc::advance(std::chrono::microseconds(p * 397 % 20'000));
        long n = 0;
        for (auto& b : ref)
          while (b.try_acquire()) ++n;
        return n;
      });
}

TEST_CASE("keyed_limiter: a fresh key is full at any reading before the prototype's construction",
          "[limit][keyed_limiter]") {
  const tp built = tp{} + std::chrono::hours(24 * 365 * 50);
  const tp at = built - std::chrono::hours(24 * 300);  // past 2^54 units (~208 days at 1/s) before it
  surge::keyed_limiter<int, bucket> kl(bucket(1.0, 10, built), 100);
  CHECK(kl.time_until_available(8, 10, at) == cl::duration::zero());  // an absent key behaves as a full one
  CHECK(kl.try_acquire(7, 10, at));
  CHECK_FALSE(kl.try_acquire(7, 1, at));
  CHECK(kl.purge_full(at) == 0);
  CHECK(kl.purge_full(at + 10s) == 1);  // refilled: as fresh as a key never seen
}

namespace {
struct text_view_hash {  // transparent: std::string, string_view and C strings hash alike
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
}  // namespace

TEST_CASE("keyed_limiter: a transparent Hash and KeyEqual look std::string keys up by string_view and C string",
          "[limit][keyed_limiter]") {
  surge::keyed_limiter<std::string, bucket, text_view_hash, std::equal_to<>> per_ip(bucket(1.0, 2, tp{}), 64);
  const std::string_view ip = "10.0.0.1";
  CHECK(per_ip.try_acquire(ip, 1, tp{}));
  CHECK(per_ip.try_acquire("10.0.0.1", 1, tp{}));
  CHECK_FALSE(per_ip.try_acquire(std::string(ip), 1, tp{}));  // the same key: its burst of 2 is spent
  CHECK(per_ip.size() == 1);
  CHECK(per_ip.time_until_available(ip, 1, tp{}) == 1s);
  CHECK(per_ip.time_until_available(std::string_view("10.0.0.2"), 2, tp{}) == 0s);  // absent: full
  CHECK(per_ip.try_acquire(ip, 1, tp{} + 1s));
  surge::keyed_limiter<std::string, meter, text_view_hash, std::equal_to<>> zone(meter(1.0, 0, 0, tp{}), 8);
  CHECK(zone.admit(ip, tp{}).admitted());
  CHECK_FALSE(zone.admit(ip, tp{}).admitted());  // burst 0: one per second
  CHECK_FALSE(zone.admit(std::string(ip), tp{}).admitted());
  CHECK(zone.admit(ip, tp{} + 1s).admitted());
  CHECK(zone.size() == 1);
}
