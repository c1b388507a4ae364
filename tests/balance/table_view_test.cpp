// Tests of surge/balance/table_view.hpp: what snapshot() of the ring and of
// Maglev returns; a copy shares the table, which outlives its policy.
#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/maglev.hpp>
#include <surge/balance/table_view.hpp>

#include "surge_test.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

static_assert(
    std::is_same_v<decltype(std::declval<const surge::maglev<>&>().snapshot()), surge::table_view<surge::maglev<>>>);
static_assert(std::is_same_v<decltype(std::declval<const surge::consistent_hash_ring<>&>().snapshot()),
                             surge::table_view<surge::consistent_hash_ring<>>>);
// only the policy makes one
static_assert(!std::is_default_constructible_v<surge::table_view<surge::maglev<>>>);
static_assert(std::is_copy_constructible_v<surge::table_view<surge::maglev<>>>);

TEMPLATE_TEST_CASE("table_view outlives its policy and keeps picking", "[balance][table_view]", surge::maglev<>,
                   surge::consistent_hash_ring<>) {
  auto policy = std::make_unique<TestType>(7);
  std::vector<std::size_t> expected;
  for (std::uint64_t k = 0; k < 500; ++k) expected.push_back(policy->pick(k));
  const auto view = policy->snapshot();
  const auto copy = view;  // shares the table
  policy.reset();          // the policy is gone; the views keep the table alive
  for (std::uint64_t k = 0; k < 500; ++k) {
    CHECK(view.pick(k) == expected[k]);
    CHECK(copy.pick(k) == expected[k]);
  }
  CHECK(view.size() == 7);
  CHECK(view.pick(std::string("user-42")) < 7);  // any key the policy's Hash takes
}
