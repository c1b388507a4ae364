#include <surge/balance/jump_hash.hpp>

#include "balance_test_support.hpp"
#include "surge_test.hpp"

#include <cstddef>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>

namespace {
// The reference function as printed in Lamping & Veach (2014), figure 1,
// transcribed independently of the library's version.
std::int32_t paper_jump(std::uint64_t key, std::int32_t num_buckets) {
  std::int64_t b = -1, j = 0;
  while (j < num_buckets) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = (b + 1) * (double(1LL << 31) / double((key >> 33) + 1));
  }
  return b;
}
}  // namespace

TEST_CASE("jump_hash: known values of the paper's function", "[balance][jump]") {
  CHECK(surge::jump_hash(0, 1) == 0);
  CHECK(surge::jump_hash(1, 2) == 0);
  CHECK(surge::jump_hash(42, 57) == 43);
  CHECK(surge::jump_hash(0xdeadbeefULL, 1000) == 285);
  CHECK(surge::jump_hash(0xdead10ccULL, 666) == 361);
  CHECK(surge::jump_hash(256, 1024) == 520);
  CHECK(surge::jump_hash(123456789, 10) == 7);
  CHECK(surge::jump_hash(987654321, 11) == 2);
  CHECK(surge::jump_hash(0x0123456789abcdefULL, 65536) == 33301);
  CHECK(surge::jump_hash(~0ULL, 2147483647) == 699554662);
  static_assert(surge::jump_hash(42, 57) == 43, "usable at compile time");
}

TEST_CASE("jump_hash: a bucket count of another integer type is checked, not narrowed", "[balance][jump]") {
  CHECK(surge::jump_hash(12345, std::size_t{7}) == surge::jump_hash(12345, 7));
  CHECK(surge::jump_hash(12345, std::int64_t{1000}) == surge::jump_hash(12345, 1000));
  CHECK(surge::jump_hash(12345, std::uint16_t{3}) == surge::jump_hash(12345, 3));
  CHECK(surge::jump_hash(1, std::size_t{2147483647}) >= 0);
  for (const std::uint64_t bad : {std::uint64_t{0}, (std::uint64_t{1} << 32) + 5, std::uint64_t{1} << 31}) {
    INFO("buckets " << bad);
    try {
      (void)surge::jump_hash(12345, bad);
      FAIL("no throw");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("buckets") != std::string::npos);
    }
  }
  CHECK_THROWS_AS(surge::jump_hash(1, std::int64_t{-4}), std::invalid_argument);
}

TEST_CASE("jump_hash: bit-for-bit the reference over many (key, n)", "[balance][jump]") {
  std::mt19937_64 rng(2024);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t key = rng();
    const auto n = static_cast<std::int32_t>(1 + (i % 3 == 0 ? rng() % 0x7fffffff : rng() % 5000));
    REQUIRE(surge::jump_hash(key, n) == paper_jump(key, n));
  }
  CHECK_THROWS_AS(surge::jump_hash(1, 0), std::invalid_argument);
  CHECK_THROWS_AS(surge::jump_hash(1, -5), std::invalid_argument);
}

TEST_CASE("jump_hash: evenness and minimal disruption (10 -> 11 buckets, 1e6 keys)", "[balance][jump]") {
  surge::jump_hash_balancer<> ten(10), eleven(11);
  balance_test::check_even_and_minimal([&](std::uint64_t k) { return ten.pick(k); },
                                       [&](std::uint64_t k) { return eleven.pick(k); }, true);
}

TEST_CASE("jump_hash_balancer: health moves only the down backend's keys", "[balance][jump]") {
  surge::jump_hash_balancer<> j(10);
  const auto down = balance_test::check_health_moves_only_its_keys(j, 10, 4, 100000);
  CHECK(balance_test::max_over_mean(balance_test::counts(down, 10)) < 1.15);  // the moved keys spread
  CHECK_FALSE(j.set_healthy(10, true));
  CHECK_THROWS_AS(surge::jump_hash_balancer<>(0), std::invalid_argument);
}
