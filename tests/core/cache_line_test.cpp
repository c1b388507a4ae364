#include <surge/detail/cache_line.hpp>

#include <array>
#include <cstdint>
#include <memory>

#include "surge_test.hpp"

using surge::detail::cache_line_size;
using surge::detail::destructive_interference_size;
using surge::detail::padded;

TEST_CASE("cache-line constants are sane powers of two", "[detail][cache_line]") {
  STATIC_REQUIRE((cache_line_size & (cache_line_size - 1)) == 0);
  STATIC_REQUIRE(cache_line_size >= 32);
  STATIC_REQUIRE(destructive_interference_size % cache_line_size == 0);
}

TEST_CASE("padded values never share a line", "[detail][cache_line]") {
  STATIC_REQUIRE(alignof(padded<char>) == destructive_interference_size);
  STATIC_REQUIRE(sizeof(padded<char>) == destructive_interference_size);
  STATIC_REQUIRE(sizeof(padded<std::array<char, 200>>) % destructive_interference_size == 0);

  std::array<padded<std::uint64_t>, 4> a{};
  for (std::size_t i = 1; i < a.size(); ++i) {
    const auto lo = reinterpret_cast<std::uintptr_t>(&a[i - 1].value);
    const auto hi = reinterpret_cast<std::uintptr_t>(&a[i].value);
    CHECK(hi - lo >= destructive_interference_size);
    CHECK(hi % destructive_interference_size == 0);
  }
  // over-aligned allocation through new honours the alignment (C++17 aligned new)
  auto heap = std::make_unique<padded<int>>();
  CHECK(reinterpret_cast<std::uintptr_t>(heap.get()) % destructive_interference_size == 0);
}

TEST_CASE("padded forwards to the value it holds", "[detail][cache_line]") {
  padded<std::array<int, 3>> p{std::in_place, std::array<int, 3>{1, 2, 3}};
  CHECK((*p)[1] == 2);
  CHECK(p->size() == 3);
  p.value[0] = 7;
  const auto& cp = p;
  CHECK((*cp)[0] == 7);
  padded<int> zero;
  CHECK(*zero == 0);
}
