#include <surge/balance/rendezvous.hpp>

#include "balance_test_support.hpp"
#include "surge_test.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

TEST_CASE("rendezvous: evenness and minimal disruption (10 -> 11, 1e6 keys)", "[balance][rendezvous]") {
  surge::rendezvous_hash<> ten(10), eleven(11);
  const auto a = balance_test::assign([&](std::uint64_t k) { return ten.pick(k); }, 1000000);
  const auto b = balance_test::assign([&](std::uint64_t k) { return eleven.pick(k); }, 1000000);
  CHECK(balance_test::max_over_mean(balance_test::counts(a, 10)) <= 1.05);
  const auto d = balance_test::compare(a, b, 10);
  CHECK(d.only_to_new);
  CHECK(d.moved_fraction == Approx(1.0 / 11).epsilon(0.2));
}

TEST_CASE("rendezvous: weighted shares follow the weights", "[balance][rendezvous]") {
  surge::rendezvous_hash<> r({1.0, 2.0, 3.0, 4.0});
  const auto a = balance_test::assign([&](std::uint64_t k) { return r.pick(k); }, 200000);
  const auto c = balance_test::counts(a, 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(static_cast<double>(c[i]) == Approx(20000.0 * (i + 1)).epsilon(0.03));
  // Adding a weighted backend moves only keys onto it.
  surge::rendezvous_hash<> r5({1.0, 2.0, 3.0, 4.0, 5.0});
  const auto b = balance_test::assign([&](std::uint64_t k) { return r5.pick(k); }, 200000);
  const auto d = balance_test::compare(a, b, 4);
  CHECK(d.only_to_new);
  CHECK(d.moved_fraction == Approx(5.0 / 15).epsilon(0.05));
}

TEST_CASE("rendezvous: health, determinism, other key types, bad input", "[balance][rendezvous]") {
  surge::rendezvous_hash<> r(8);
  const auto before = balance_test::assign([&](std::uint64_t k) { return r.pick(k); }, 50000);
  CHECK(before == balance_test::assign([&](std::uint64_t k) { return surge::rendezvous_hash<>(8).pick(k); }, 50000));
  r.set_healthy(2, false);
  const auto down = balance_test::assign([&](std::uint64_t k) { return r.pick(k); }, 50000);
  const auto d = balance_test::compare(before, down, 2);
  CHECK(d.only_from_old);
  CHECK(balance_test::counts(down, 8)[2] == 0);
  r.set_healthy(2, true);
  CHECK(balance_test::assign([&](std::uint64_t k) { return r.pick(k); }, 50000) == before);
  for (std::size_t i = 0; i < 8; ++i) r.set_healthy(i, false);
  CHECK(balance_test::assign([&](std::uint64_t k) { return r.pick(k); }, 50000) == before); // panic
  CHECK(r.pick(std::string("user-42")) == r.pick(std::string("user-42")));
  CHECK_THROWS_AS(surge::rendezvous_hash<>(0), std::invalid_argument);
  CHECK_THROWS_AS((surge::rendezvous_hash<>{1.0, 0.0}), std::invalid_argument);
}
