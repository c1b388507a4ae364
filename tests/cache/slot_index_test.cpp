// detail::slot_index against std::unordered_map, with colliding hashes so
// probe runs wrap around the table and backward-shift deletion is exercised.
#include <surge/cache/detail/slot_index.hpp>

#include <cstdint>
#include <random>
#include <unordered_map>

#include "surge_test.hpp"

TEST_CASE("slot_index sizes its table for the maximum entries", "[detail][slot_index]") {
  using surge::detail::slot_index;
  CHECK(slot_index::table_size(1) == 8);
  CHECK(slot_index::table_size(4) == 8);
  CHECK(slot_index::table_size(5) == 16);
  CHECK(slot_index::table_size(8) == 16);
  CHECK(slot_index::table_size(9) == 32);
  CHECK(slot_index::table_size(10'001) == 32'768);  // load at most 0.5
  CHECK(slot_index::table_size(65537) == 262144);
  CHECK(slot_index::table_size(1'000'001) == 2'097'152);
  CHECK(slot_index::table_size(std::size_t{1} << 30) == std::size_t{1} << 31);  // max_supported
  slot_index idx(100);
  CHECK(idx.slot_count() == 256);
  CHECK(idx.memory_bytes() == 256 * 8);
}

TEST_CASE("slot_index matches a map under random inserts and erases", "[detail][slot_index]") {
  using surge::detail::index_npos;
  for (std::uint32_t max : {1u, 6u, 50u, 400u}) {
    surge::detail::slot_index idx(max);
    std::unordered_map<std::uint32_t, std::uint32_t> model;  // node -> hash
    std::mt19937 rng(max);
    // Few distinct hashes, many near the end of the table: long, wrapping runs.
    auto hash_of = [&](std::uint32_t node) {
      return static_cast<std::uint32_t>(idx.slot_count() - 1 - node % 5) + (node % 3) * 0x1000'0000u;
    };
    const std::uint32_t universe = max * 2;
    for (int step = 0; step < 20000; ++step) {
      const auto node = static_cast<std::uint32_t>(rng() % universe);
      const std::uint32_t h = hash_of(node);
      const auto found = idx.find(h, [&](std::uint32_t n) { return n == node; });
      REQUIRE((found != index_npos) == (model.count(node) == 1));
      if (found != index_npos) {
        idx.erase(h, node);
        model.erase(node);
      } else if (model.size() < max) {
        idx.insert(h, node);
        model.emplace(node, h);
      }
      if (step % 97 == 0) {
        std::size_t occupied = 0;
        for (std::size_t s = 0; s < idx.slot_count(); ++s) {
          const auto n = idx.node_at(s);
          if (n == index_npos) continue;
          ++occupied;
          REQUIRE(model.count(n) == 1);
          REQUIRE(idx.hash_at(s) == model[n]);
        }
        REQUIRE(occupied == model.size());
        for (const auto& e : model) {
          const std::uint32_t n = e.first;
          REQUIRE(idx.find(e.second, [n](std::uint32_t x) { return x == n; }) == n);
        }
      }
    }
    idx.clear();
    for (const auto& e : model) {
      const std::uint32_t n = e.first;
      REQUIRE(idx.find(e.second, [n](std::uint32_t x) { return x == n; }) == index_npos);
    }
  }
}
