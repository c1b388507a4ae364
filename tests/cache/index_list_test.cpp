// detail::index_list against std::list on random operations.
#include <surge/cache/detail/index_list.hpp>

#include <cstdint>
#include <iterator>
#include <list>
#include <random>
#include <vector>

#include "surge_test.hpp"

namespace {
std::vector<std::uint32_t> walk(const surge::detail::index_list& l,
                                const std::vector<surge::detail::index_links>& links) {
  std::vector<std::uint32_t> out;
  std::uint32_t prev = surge::detail::index_npos;
  for (std::uint32_t i = l.first; i != surge::detail::index_npos; i = links[i].next) {
    REQUIRE(links[i].prev == prev);  // back links agree with forward links
    prev = i;
    out.push_back(i);
  }
  REQUIRE(l.last == prev);
  return out;
}
}  // namespace

TEST_CASE("index_list matches std::list", "[detail][index_list]") {
  constexpr std::uint32_t n = 32;
  std::vector<surge::detail::index_links> links(n);
  auto at = [&](std::uint32_t i) -> surge::detail::index_links& { return links[i]; };
  surge::detail::index_list l;
  std::list<std::uint32_t> model;
  std::vector<bool> in(n, false);
  std::mt19937 rng(3);
  CHECK(l.empty());
  for (int step = 0; step < 20000; ++step) {
    const auto i = static_cast<std::uint32_t>(rng() % n);
    if (!in[i]) {
      switch (rng() % 3) {
        case 0:
          l.push_back(i, at), model.push_back(i);
          break;
        case 1:
          l.push_front(i, at), model.push_front(i);
          break;
        default:
          if (model.empty()) {
            l.push_back(i, at), model.push_back(i);
          } else {
            const auto pos = *std::next(model.begin(), static_cast<long>(rng() % model.size()));
            l.insert_after(pos, i, at);
            model.insert(std::next(std::find(model.begin(), model.end(), pos)), i);
          }
      }
      in[i] = true;
    } else if (rng() % 2) {
      l.unlink(i, at);
      model.remove(i);
      in[i] = false;
    } else {
      l.move_to_back(i, at);
      model.remove(i);
      model.push_back(i);
    }
    REQUIRE(walk(l, links) == std::vector<std::uint32_t>(model.begin(), model.end()));
  }
}
