#include <surge/detail/hash.hpp>

#include <bit>
#include <cstdint>
#include <set>

#include "surge_test.hpp"

using surge::detail::mix64;

TEST_CASE("mix64 matches the SplitMix64 finaliser", "[detail][hash]") {
  // SplitMix64 outputs for seed 0: state advances by the golden gamma, then mixes.
  constexpr std::uint64_t gamma = 0x9e3779b97f4a7c15ULL;
  STATIC_REQUIRE(mix64(gamma) == 0xe220a8397b1dcdafULL);
  STATIC_REQUIRE(mix64(2 * gamma) == 0x6e789e6aa1b965f4ULL);
  STATIC_REQUIRE(mix64(0) == 0);
}

TEST_CASE("mix64 spreads consecutive integers", "[detail][hash]") {
  // low bits of consecutive keys must be well spread: 1024 keys into 16 shards
  int counts[16] = {};
  for (std::uint64_t k = 0; k < 1024; ++k) ++counts[mix64(k) & 15];
  for (int c : counts) {
    CHECK(c > 64 - 30);
    CHECK(c < 64 + 30);
  }
  // avalanche: flipping one input bit flips about half the output bits
  int total = 0;
  for (int bit = 0; bit < 64; ++bit) total += std::popcount(mix64(12345) ^ mix64(12345 ^ (1ULL << bit)));
  CHECK(total / 64.0 > 28.0);
  CHECK(total / 64.0 < 36.0);
  std::set<std::uint64_t> seen;
  for (std::uint64_t k = 0; k < 10000; ++k) seen.insert(mix64(k));
  CHECK(seen.size() == 10000);
}
