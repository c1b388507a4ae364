#include <surge/balance/rendezvous.hpp>

#include "balance_test_support.hpp"
#include "surge_test.hpp"
#include "watchdog.hpp"

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("rendezvous: evenness and minimal disruption (10 -> 11, 1e6 keys)", "[balance][rendezvous]") {
  surge::rendezvous_hash<> ten(10), eleven(11);
  balance_test::check_even_and_minimal([&](std::uint64_t k) { return ten.pick(k); },
                                       [&](std::uint64_t k) { return eleven.pick(k); }, true);
}

TEST_CASE("rendezvous: weighted shares follow the weights", "[balance][rendezvous]") {
  surge::rendezvous_hash<> r(surge::weights{1.0, 2.0, 3.0, 4.0});
  const auto a = balance_test::assign([&](std::uint64_t k) { return r.pick(k); }, 200000);
  const auto c = balance_test::counts(a, 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(static_cast<double>(c[i]) == Approx(20000.0 * (i + 1)).epsilon(0.03));
  // Adding a weighted backend moves only keys onto it.
  surge::rendezvous_hash<> r5(surge::weights{1.0, 2.0, 3.0, 4.0, 5.0});
  const auto b = balance_test::assign([&](std::uint64_t k) { return r5.pick(k); }, 200000);
  const auto d = balance_test::compare(a, b, 4);
  CHECK(d.only_to_new);
  CHECK(d.moved_fraction == Approx(5.0 / 15).epsilon(0.05));
}

TEST_CASE("rendezvous: health, determinism, other key types, bad input", "[balance][rendezvous]") {
  surge::rendezvous_hash<> r(8), same(8);
  CHECK(balance_test::assign([&](std::uint64_t k) { return r.pick(k); }, 50000) ==
        balance_test::assign([&](std::uint64_t k) { return same.pick(k); }, 50000));
  balance_test::check_health_moves_only_its_keys(r, 8, 2, 50000);
  CHECK(r.pick(std::string("user-42")) == r.pick(std::string("user-42")));
  CHECK_THROWS_AS(surge::rendezvous_hash<>(0), std::invalid_argument);
  CHECK_THROWS_AS((surge::rendezvous_hash<>(surge::weights{1.0, 0.0})), std::invalid_argument);
}

namespace {

// The key's bits as its hash, so a test can choose the score hash exactly.
struct identity_hash {
  std::uint64_t operator()(std::uint64_t k) const noexcept { return k; }
};

// Inverse of surge::detail::mix64 (undo each xorshift and each odd multiply).
std::uint64_t unxorshift(std::uint64_t y, int s) {
  std::uint64_t x = y;
  for (int i = 0; i < 64 / s + 1; ++i) x = y ^ (x >> s);
  return x;
}
std::uint64_t inverse_odd(std::uint64_t a) {  // a · inverse_odd(a) == 1 mod 2^64 (Newton)
  std::uint64_t x = a;
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}
std::uint64_t unmix64(std::uint64_t y) {
  y = unxorshift(y, 31) * inverse_odd(0x94d049bb133111ebULL);
  y = unxorshift(y, 27) * inverse_odd(0xbf58476d1ce4e5b9ULL);
  return unxorshift(y, 30);
}

}  // namespace

TEST_CASE("rendezvous: the highest possible score hash wins (weighted too)", "[balance][rendezvous]") {
  // A key whose score hash on backend 0 is 2^64 - 1: its u must stay below 1
  // (u = 1 would give ln u = 0 and a score of -inf, the lowest).
  const std::uint64_t s0 = surge::detail::mix64(0 + 1 * 0x9e3779b97f4a7c15ULL);  // backend 0's s_i, seed 0
  const std::uint64_t key = unmix64(~std::uint64_t{0}) ^ s0;
  REQUIRE(surge::detail::mix64(key ^ s0) == ~std::uint64_t{0});
  CHECK(surge::rendezvous_hash<identity_hash>(2).pick(key) == 0);
  CHECK(surge::rendezvous_hash<identity_hash>(surge::weights{1, 1}).pick(key) == 0);
  CHECK(surge::rendezvous_hash<identity_hash>(surge::weights{1, 1e-9}).pick(key) == 0);
  CHECK(surge::rendezvous_hash<identity_hash>(surge::weights{1, 1, 1, 1}).pick(key) == 0);
}

TEST_CASE("rendezvous_hash: a weight about 2^1000 times smaller than the largest is refused", "[balance]") {
  // its share was clamped to the smallest subnormal and lost
  CHECK_THROWS_AS((surge::rendezvous_hash<>(surge::weights{1e300, 1e-300, 3e-300})), std::invalid_argument);
  CHECK_NOTHROW((surge::rendezvous_hash<>(surge::weights{1e300, 1e20})));
}

TEST_CASE("rendezvous: a pick racing the last up backends going down answers a state it saw", "[balance][rendezvous]") {
  // A pick that saw some backend up (so it checks the flags) and then found
  // every flag down returned 0: a backend down in every state, not the panic
  // winner. Backend 0 stays down; 1 and 2 flap; for keys whose panic winner
  // is not 0, 0 is never a right answer.
  surge_test::watchdog dog("rendezvous picks while backends flap");
  surge::rendezvous_hash<> r(3), all(3);
  REQUIRE(r.set_healthy(0, false));
  std::vector<std::uint64_t> keys;
  for (std::uint64_t k = 0; keys.size() < 64; ++k)
    if (all.pick(k) != 0) keys.push_back(k);
  std::atomic<bool> stop{false};
  std::atomic<long> flips{0};
  std::vector<std::thread> flappers;
  for (std::size_t b = 1; b <= 2; ++b)
    flappers.emplace_back([&, b] {
      while (!stop.load(std::memory_order_acquire)) {
        r.set_healthy(b, false);
        r.set_healthy(b, true);
        flips.fetch_add(1, std::memory_order_relaxed);
      }
    });
  while (flips.load() == 0) std::this_thread::yield();  // flappers running
  long zeros = 0;
  for (long i = 0; i < surge_test::scaled(20000L); ++i)
    for (std::uint64_t k : keys) zeros += r.pick(k) == 0 ? 1 : 0;
  stop.store(true, std::memory_order_release);
  for (auto& t : flappers) t.join();
  CHECK(zeros == 0);
}
