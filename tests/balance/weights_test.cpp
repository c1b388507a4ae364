// Tests of surge/balance/weights.hpp: a braced count means that many
// backends for every policy, and weights are only ever spelled as weights.
#include <surge/balance/weights.hpp>

#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/least_connections.hpp>
#include <surge/balance/maglev.hpp>
#include <surge/balance/power_of_two.hpp>
#include <surge/balance/random.hpp>
#include <surge/balance/rendezvous.hpp>
#include <surge/balance/weighted_round_robin.hpp>

#include "surge_test.hpp"

#include <array>
#include <initializer_list>
#include <span>
#include <type_traits>
#include <vector>

namespace {
// Every weighted policy: built from weights, never from a bare list.
template <class P>
constexpr bool weights_only =
    std::is_constructible_v<P, const surge::weights&> && !std::is_constructible_v<P, std::initializer_list<double>> &&
    !std::is_constructible_v<P, std::vector<double>> && !std::is_constructible_v<P, std::span<const double>>;
}  // namespace

static_assert(weights_only<surge::least_connections>);
static_assert(weights_only<surge::power_of_two_choices>);
static_assert(weights_only<surge::random_balancer>);
static_assert(weights_only<surge::consistent_hash_ring<>>);
static_assert(weights_only<surge::maglev<>>);
static_assert(weights_only<surge::rendezvous_hash<>>);
static_assert(weights_only<surge::weighted_round_robin>);
static_assert(weights_only<surge::stride_weighted_round_robin>);
static_assert(weights_only<surge::shared_weighted_round_robin>);
// A braced list does not become weights by itself.
static_assert(!std::is_convertible_v<std::initializer_list<double>, surge::weights>);
static_assert(!std::is_convertible_v<std::vector<double>, surge::weights>);
// random_balancer{5, 1} would read as five backends with seed 1: it does not compile.
static_assert(!std::is_constructible_v<surge::random_balancer, int, int>);

TEST_CASE("a braced count means that many backends, for every policy", "[balance][weights]") {
  surge::maglev<> mg{3};
  surge::least_connections lc{3};
  surge::power_of_two_choices p2c{3};
  surge::random_balancer rnd{3};
  surge::consistent_hash_ring<> ring{3};
  surge::rendezvous_hash<> hrw{3};
  surge::weighted_round_robin wrr{3};
  surge::stride_weighted_round_robin stride{3};
  surge::shared_weighted_round_robin shared{3};
  CHECK(mg.size() == 3);
  CHECK(lc.size() == 3);
  CHECK(p2c.size() == 3);
  CHECK(rnd.size() == 3);
  CHECK(ring.size() == 3);
  CHECK(hrw.size() == 3);
  CHECK(wrr.size() == 3);
  CHECK(stride.size() == 3);
  CHECK(shared.size() == 3);
  // weighted_round_robin(3): plain round robin.
  surge::weighted_round_robin plain(3);
  for (std::size_t k = 0; k < 9; ++k) CHECK(plain.pick() == k % 3);
  CHECK(plain.weight(2) == 1.0);
  CHECK_THROWS_AS(surge::weighted_round_robin(0), std::invalid_argument);
  CHECK_THROWS_AS(surge::stride_weighted_round_robin(0), std::invalid_argument);
}

TEST_CASE("weights are built from a list, a span or a vector", "[balance][weights]") {
  const surge::weights a{5, 1, 1};
  const std::array<double, 3> arr{5, 1, 1};
  const surge::weights b{std::span<const double>(arr)};
  std::vector<double> v{5, 1, 1};
  const double* data = v.data();
  const surge::weights c(std::move(v));
  CHECK(c.values().data() == data);  // moved in, not copied
  CHECK(a.size() == 3);
  CHECK(std::vector<double>(a.begin(), a.end()) == std::vector<double>(b.begin(), b.end()));
  CHECK(c[0] == 5);
  CHECK_FALSE(a.empty());
  surge::maglev<> one(surge::weights{3});  // spelled out: one backend of weight 3
  CHECK(one.size() == 1);
  CHECK_THROWS_AS(surge::least_connections(surge::weights{}), std::invalid_argument);
}
