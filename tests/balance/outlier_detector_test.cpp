#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/outlier_detector.hpp>
#include <surge/balance/round_robin.hpp>

#include "surge_test.hpp"
#include "watchdog.hpp"

#include <atomic>
#include <chrono>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
struct od_clock_tag {};
using test_clock = surge_test::manual_clock<od_clock_tag>;
}  // namespace

TEST_CASE("outlier_detector ejects after consecutive failures, for growing times", "[balance][outlier]") {
  test_clock::reset();
  surge::round_robin rr(10);
  surge::outlier_detector<test_clock> od(
      10, {.consecutive_failures = 3, .base_ejection_time = 10s, .max_ejection_time = 25s, .max_ejection_percent = 20});
  CHECK(od.budget() == 2);
  CHECK_FALSE(od.record(rr, 4, false));
  CHECK_FALSE(od.record(rr, 4, false));
  CHECK_FALSE(od.record(rr, 4, true));  // a success resets the streak
  CHECK_FALSE(od.record(rr, 4, false));
  CHECK_FALSE(od.record(rr, 4, false));
  CHECK(od.record(rr, 4, false));  // third in a row
  CHECK(od.ejected(4));
  CHECK_FALSE(rr.healthy(4));
  for (int i = 0; i < 100; ++i) CHECK(rr.pick() != 4);
  test_clock::advance(9s);
  CHECK(od.release_expired(rr) == 0);
  test_clock::advance(1s);
  CHECK(od.release_expired(rr) == 1);
  CHECK(rr.healthy(4));
  CHECK_FALSE(od.ejected(4));
  // Second ejection: 2 x base = 20 s; third: capped at 25 s.
  for (int k = 0; k < 3; ++k) od.record(rr, 4, false);
  CHECK(od.times_ejected(4) == 2);
  test_clock::advance(19s);
  CHECK(od.release_expired(rr) == 0);
  test_clock::advance(1s);
  CHECK(od.release_expired(rr) == 1);
  for (int k = 0; k < 3; ++k) od.record(rr, 4, false);
  test_clock::advance(24s);
  CHECK(od.release_expired(rr) == 0);
  test_clock::advance(1s);
  CHECK(od.release_expired(rr) == 1);
}

TEST_CASE("outlier_detector: returns whose callback threw are made by the next release", "[balance][outlier]") {
  // release_expired un-ejects the expired backends, then calls on_return for
  // each. One that threw used to lose its backend and every one after it:
  // no longer ejected, never reported (with a policy: down there for good).
  test_clock::reset();
  surge::outlier_detector<test_clock> od(
      4, {.consecutive_failures = 1, .base_ejection_time = 1s, .max_ejection_percent = 100});
  CHECK(od.record(1, false));
  CHECK(od.record(2, false));
  CHECK(od.record(3, false));
  test_clock::advance(1s);
  std::vector<std::size_t> returned;
  int throws = 1;
  const auto on_return = [&](std::size_t i) {
    if (throws-- > 0) throw std::runtime_error("on_return");
    returned.push_back(i);
  };
  CHECK_THROWS_AS(od.release_expired(on_return), std::runtime_error);
  CHECK(od.ejected_count() == 0);
  CHECK(od.record(3, false));  // ejected again meanwhile: its own ejection runs (2 s)
  CHECK(od.release_expired(on_return) == 2);
  CHECK(returned == std::vector<std::size_t>{1, 2});
  CHECK(od.release_expired(on_return) == 0);
  test_clock::advance(2s);
  CHECK(od.release_expired(on_return) == 1);
  CHECK(returned == std::vector<std::size_t>{1, 2, 3});
  // the policy form: a policy whose set_healthy throws once
  struct flaky_policy {
    std::vector<bool> up = std::vector<bool>(4, true);
    int throws = 1;
    bool set_healthy(std::size_t i, bool u) {
      if (u && throws-- > 0) throw std::runtime_error("set_healthy");
      up[i] = u;
      return true;
    }
  } policy;
  CHECK(od.record(policy, 0, false));
  CHECK_FALSE(policy.up[0]);
  test_clock::advance(1s);
  CHECK_THROWS_AS(od.release_expired(policy), std::runtime_error);
  CHECK(od.release_expired(policy) == 1);
  CHECK(policy.up[0]);
}

TEST_CASE("outlier_detector: an ejection whose policy call threw is undone", "[balance][outlier]") {
  // record(policy, ...) ejected the backend, then the policy's set_healthy
  // threw: the backend stayed ejected in the detector (holding the budget)
  // while the policy kept sending it traffic for the whole ejection time.
  test_clock::reset();
  struct flaky_policy {
    std::vector<bool> up = std::vector<bool>(4, true);
    int throws = 1;
    bool set_healthy(std::size_t i, bool u) {
      if (!u && throws-- > 0) throw std::bad_alloc();
      up[i] = u;
      return true;
    }
  } policy;
  surge::outlier_detector<test_clock> od(4, {.consecutive_failures = 2, .base_ejection_time = 10s});
  CHECK(od.budget() == 1);
  CHECK_FALSE(od.record(policy, 1, false));
  CHECK_THROWS_AS(od.record(policy, 1, false), std::bad_alloc);
  CHECK(policy.up[1]);
  CHECK_FALSE(od.ejected(1));  // as the policy has it
  CHECK(od.ejected_count() == 0);
  CHECK(od.times_ejected(1) == 1);
  CHECK_FALSE(od.record(policy, 2, false));  // the budget is free for another backend
  CHECK(od.record(policy, 2, false));
  CHECK_FALSE(policy.up[2]);
  CHECK(od.release_expired(policy) == 1);  // backend 1's return, a no-op in the policy
  CHECK(policy.up[1]);
  CHECK_FALSE(policy.up[2]);
  test_clock::advance(10s);
  CHECK(od.release_expired(policy) == 1);
  CHECK(policy.up[2]);
  CHECK_FALSE(od.record(policy, 1, false));  // its failures started over
  CHECK(od.record(policy, 1, false));
  CHECK_FALSE(policy.up[1]);
}

TEST_CASE("outlier_detector: an ejection the policy refuses is undone", "[balance][outlier]") {
  // record(policy, ...) ignored a false from set_healthy (a ring backend
  // removed since): the backend stayed ejected in the detector, holding the
  // whole budget, so a failing backend the ring does have was never ejected.
  test_clock::reset();
  surge::consistent_hash_ring<> ring(4);
  REQUIRE(ring.remove_backend(3));
  surge::outlier_detector<test_clock> od(4, {.consecutive_failures = 1, .max_ejection_percent = 0});
  REQUIRE(od.budget() == 1);
  CHECK_FALSE(od.record(ring, 3, false));
  CHECK_FALSE(od.ejected(3));
  CHECK(od.ejected_count() == 0);
  CHECK(od.record(ring, 1, false));  // the budget is free for a backend the ring has
  CHECK_FALSE(ring.healthy(1));
  CHECK(od.ejected(1));
}

TEST_CASE("outlier_detector respects the ejection budget", "[balance][outlier]") {
  test_clock::reset();
  surge::outlier_detector<test_clock> od(10, {.consecutive_failures = 1, .max_ejection_percent = 20});
  CHECK(od.record(0, false));
  CHECK(od.record(1, false));
  CHECK_FALSE(od.record(2, false));  // 2 of 10 = 20 %: full
  CHECK(od.ejected_count() == 2);
  CHECK_FALSE(od.ejected(2));
  test_clock::advance(30s);
  std::vector<std::size_t> back;
  CHECK(od.release_expired([&](std::size_t i) { back.push_back(i); }) == 2);
  CHECK(back == std::vector<std::size_t>{0, 1});
  CHECK(od.record(2, false));
  surge::outlier_detector<test_clock> tiny(3, {.consecutive_failures = 1, .max_ejection_percent = 0});
  CHECK(tiny.budget() == 1);  // at least one, as in Envoy
  CHECK(tiny.record(0, false));
  CHECK_FALSE(tiny.record(1, false));
  CHECK_FALSE(tiny.record(7, false));  // out of range
}

TEST_CASE("outlier_detector: ejection times at the int64 limits saturate", "[balance][outlier]") {
  using tp = test_clock::time_point;
  constexpr auto forever = std::chrono::nanoseconds::max();  // max_ejection_time "no cap"
  {
    // base · 2 is beyond the int64 range: the second ejection lasts max.
    test_clock::reset();
    const auto base = forever / 2 + 1ns;
    surge::outlier_detector<test_clock> od(2, {.consecutive_failures = 1,
                                               .base_ejection_time = base,
                                               .max_ejection_time = forever,
                                               .max_ejection_percent = 100});
    CHECK(od.record(0, false));
    test_clock::set(base - 1ns);
    CHECK(od.release_expired([](std::size_t) {}) == 0);
    test_clock::set(base);
    CHECK(od.release_expired([](std::size_t) {}) == 1);
    CHECK(od.record(0, false));  // second ejection: until = now + max, saturated at time_point::max()
    CHECK(od.times_ejected(0) == 2);
    test_clock::set(tp::max().time_since_epoch() - 1ns);
    CHECK(od.release_expired([](std::size_t) {}) == 0);
    CHECK(od.ejected(0));
    test_clock::set(tp::max().time_since_epoch());
    CHECK(od.release_expired([](std::size_t) {}) == 1);
  }
  {
    // now + base past time_point::max(): saturated, not wrapped into the past.
    test_clock::set(1s);
    surge::outlier_detector<test_clock> od(2, {.consecutive_failures = 1,
                                               .base_ejection_time = forever,
                                               .max_ejection_time = forever,
                                               .max_ejection_percent = 100});
    CHECK(od.record(1, false));
    CHECK(od.release_expired([](std::size_t) {}) == 0);
    test_clock::set(tp::max().time_since_epoch() - 1ns);
    CHECK(od.release_expired([](std::size_t) {}) == 0);
    CHECK(od.ejected(1));
  }
  test_clock::reset();
}

TEST_CASE("outlier_detector: bad options", "[balance][outlier]") {
  CHECK_THROWS_AS(surge::outlier_detector<>(0), std::invalid_argument);
  CHECK_THROWS_AS(surge::outlier_detector<>(3, {.consecutive_failures = 0}), std::invalid_argument);
  CHECK_THROWS_AS(surge::outlier_detector<>(3, {.base_ejection_time = 10s, .max_ejection_time = 5s}),
                  std::invalid_argument);
  CHECK_THROWS_AS(surge::outlier_detector<>(3, {.max_ejection_percent = 150}), std::invalid_argument);
}

TEST_CASE("outlier_detector under threads ejects each failing backend once", "[balance][outlier]") {
  test_clock::reset();
  surge::round_robin rr(8);
  surge::outlier_detector<test_clock> od(8, {.consecutive_failures = 50, .max_ejection_percent = 50});
  std::atomic<int> ejections{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        const std::size_t b = static_cast<std::size_t>(i % 8);
        if (od.record(rr, b, b >= 2)) ejections.fetch_add(1);  // backends 0 and 1 always fail
      }
    });
  for (auto& t : ts) t.join();
  CHECK(ejections.load() == 2);
  CHECK(od.ejected(0));
  CHECK(od.ejected(1));
  CHECK_FALSE(rr.healthy(0));
  CHECK(od.ejected_count() == 2);
}

TEST_CASE("outlier_detector: a release racing an ejection leaves the policy agreeing with the detector",
          "[balance][outlier]") {
  // One thread ejects backend 0 (immediately expired: base_ejection_time 0)
  // while another releases expired backends. Before, record() marked the
  // policy down after a release had already returned the backend: down in
  // the policy, not ejected, and never returned (181 rounds of 200,000).
  test_clock::reset();
  surge::round_robin rr(4);
  surge::outlier_detector<test_clock> od(4, {.consecutive_failures = 1, .base_ejection_time = 0ns});
  const int rounds = surge_test::scaled(20'000);
  std::atomic<int> turn{0};  // even: the round's work may start; both workers bump it when done
  int disagreements = 0;
  std::thread releaser([&] {
    for (int r = 0; r < rounds; ++r) {
      while (turn.load() != 3 * r + 1) std::this_thread::yield();
      for (int k = 0; k < 3; ++k) (void)od.release_expired(rr);
      turn.fetch_add(1);
    }
  });
  for (int r = 0; r < rounds; ++r) {
    turn.fetch_add(1);  // 3r + 1: go
    (void)od.record(rr, 0, false);
    while (turn.load() != 3 * r + 2) std::this_thread::yield();
    (void)od.release_expired(rr);  // everything expired is back
    if (od.ejected(0) || !rr.healthy(0)) ++disagreements;
    rr.set_healthy(0, true);
    turn.fetch_add(1);  // 3r + 3
  }
  releaser.join();
  CHECK(disagreements == 0);
}
