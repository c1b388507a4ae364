// Tests of surge/balance/backend_lease.hpp: move-only, releases once, and
// safe to release after the policy that issued it is gone (run under ASan
// and TSan: before, these were heap-use-after-free).
#include <surge/balance/backend_lease.hpp>

#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/least_connections.hpp>
#include <surge/balance/power_of_two.hpp>

#include "surge_test.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

namespace {
// A block whose deletion is observable.
struct counted_block final : surge::detail::lease_block {
  std::atomic<std::int64_t> life[2] = {0, 0};
  std::atomic<int>* deleted;
  explicit counted_block(std::atomic<int>* d) : deleted(d) {}
  ~counted_block() override { deleted->fetch_add(1); }
  void close() noexcept { orphan(this, life, 2); }
};
}  // namespace

// A lease converts to its index only while it lives on: `std::size_t b =
// lc.pick();` converted a temporary whose load was given back at the `;`,
// turning least connections into rotation without a word.
static_assert(std::is_convertible_v<surge::backend_lease&, std::size_t>);
static_assert(std::is_convertible_v<const surge::backend_lease&, std::size_t>);
static_assert(!std::is_convertible_v<surge::backend_lease&&, std::size_t>);
static_assert(!std::is_convertible_v<surge::backend_lease, std::size_t>);

TEST_CASE("backend_lease is move-only and releases once", "[balance][backend_lease]") {
  std::atomic<int> deleted{0};
  auto* block = new counted_block(&deleted);
  std::atomic<std::int64_t> load{2};
  block->life[0].store(2);
  {
    auto a = surge::detail::lease_factory::make(3, block, &block->life[0], 1, &load);
    auto b = surge::detail::lease_factory::make(3, block, &block->life[0], 1, &load);
    surge::backend_lease c;
    CHECK(c.index() == surge::backend_lease::npos);
    CHECK_FALSE(c.active());
    c = std::move(a);
    CHECK(std::size_t(c) == 3);
    CHECK(c.active());
    b = std::move(c);  // b's own unit released
    CHECK(load.load() == 1);
    CHECK(block->life[0].load() == 1);
    b.release();
    b.release();  // idempotent
    CHECK(b.index() == 3);
  }
  CHECK(load.load() == 0);
  CHECK(block->life[0].load() == 0);
  block->close();  // no lease live: deleted at once
  CHECK(deleted.load() == 1);
  static_assert(!std::is_copy_constructible_v<surge::backend_lease>);
}

TEST_CASE("a lease_block outlives its owner until the last lease is released", "[balance][backend_lease]") {
  std::atomic<int> deleted{0};
  auto* block = new counted_block(&deleted);
  std::vector<surge::backend_lease> leases;
  for (int k = 0; k < 5; ++k) {
    block->life[k % 2].fetch_add(3);
    leases.push_back(
        surge::detail::lease_factory::make(static_cast<std::size_t>(k % 2), block, &block->life[k % 2], 3));
  }
  leases[0].release();  // before the owner goes
  block->close();
  CHECK(deleted.load() == 0);
  leases[1].release();
  leases[2].release();
  leases[3].release();
  CHECK(deleted.load() == 0);
  leases[4].release();  // the last one frees it
  CHECK(deleted.load() == 1);
}

TEST_CASE("leases outlive every policy that issues them", "[balance][backend_lease]") {
  std::vector<surge::backend_lease> kept;
  {
    surge::least_connections counters(4);                      // counter scan
    surge::least_connections levels(100);                      // level index
    surge::least_connections keyed(surge::weights{1, 2, 3});   // exact integer keys
    surge::least_connections cross(surge::weights{0.3, 0.7});  // cross-multiplied
    surge::power_of_two_choices p2c(8);
    surge::consistent_hash_ring<> ring(8);
    for (int k = 0; k < 70; ++k) {  // > 64: the level index overflows into extra_
      kept.push_back(counters.pick());
      kept.push_back(levels.pick());
      kept.push_back(keyed.pick());
      kept.push_back(cross.pick());
      kept.push_back(p2c.pick());
      kept.push_back(ring.pick_bounded(k));
    }
    surge::least_connections unused(3);  // nothing live: freed by its destructor
  }
  for (auto& l : kept) {
    CHECK(l.active());
    l.release();
    CHECK_FALSE(l.active());
  }
  kept.clear();
  // A policy rebuilt on a config change while requests hold leases.
  std::optional<surge::least_connections> lc(std::in_place, 40);
  std::vector<surge::backend_lease> in_flight;
  for (int k = 0; k < 100; ++k) in_flight.push_back(lc->pick());
  lc.emplace(40);  // the old one is destroyed here
  for (int k = 0; k < 50; ++k) in_flight[static_cast<std::size_t>(k)].release();
  CHECK(lc->active(0) == 0);  // the new policy does not see the old leases
  in_flight.clear();
}

TEST_CASE("leases released on other threads while the policy is destroyed", "[balance][backend_lease]") {
  for (int round = 0; round < 20; ++round) {
    auto lc = std::make_unique<surge::least_connections>(round % 2 ? 4 : 40);
    auto p2c = std::make_unique<surge::power_of_two_choices>(4);
    std::vector<surge::backend_lease> a, b;
    for (int k = 0; k < 200; ++k) {
      (k % 2 ? a : b).push_back(lc->pick());
      (k % 2 ? a : b).push_back(p2c->pick());
    }
    std::atomic<bool> go{false};
    std::atomic<std::size_t> released{0};
    std::thread t1([&] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (auto& l : a) {
        l.release();
        released.fetch_add(1);
      }
    });
    std::thread t2([&] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (auto& l : b) {
        l.release();
        released.fetch_add(1);
      }
    });
    go.store(true, std::memory_order_release);
    lc.reset();  // races the releases
    p2c.reset();
    t1.join();
    t2.join();
    CHECK(released.load() == 400);
  }
}
