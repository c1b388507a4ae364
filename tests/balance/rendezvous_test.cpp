#include <surge/balance/rendezvous.hpp>

#include "balance_test_support.hpp"
#include "surge_test.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

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
