// Shared by the limit tests: a deterministic way to hammer a limiter from
// several threads with a manual clock. The driver advances the clock, lets
// every thread run one phase at that reading, and waits (with a deadline) for
// all of them; each phase's total must equal what a single-threaded reference
// admits at the same reading, whatever the interleaving.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "surge_test.hpp"

namespace limit_test {

/// worker() runs in each of `threads` threads once per phase and returns how
/// many it admitted; reference(p) advances the clock for phase p and returns
/// how many the reference admits. Checks the running totals after each phase.
template <class Worker, class Reference>
void run_phases(unsigned threads, int phases, Worker worker, Reference reference) {
  std::atomic<int> phase{0};
  std::atomic<unsigned> done{0};
  std::atomic<long> admitted{0};
  std::vector<std::thread> pool;
  for (unsigned k = 0; k < threads; ++k)
    pool.emplace_back([&] {
      for (int p = 1; p <= phases; ++p) {
        while (phase.load(std::memory_order_acquire) < p) std::this_thread::yield();
        admitted.fetch_add(worker(), std::memory_order_relaxed);
        done.fetch_add(1, std::memory_order_acq_rel);
      }
    });
  long expected = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool ok = true;
  for (int p = 1; p <= phases && ok; ++p) {
    expected += reference(p);
    phase.store(p, std::memory_order_release);
    while (done.load(std::memory_order_acquire) < threads * static_cast<unsigned>(p)) {
      if (std::chrono::steady_clock::now() > deadline) {
        ok = false;  // watchdog: fail rather than hang (workers still finish their phases)
        break;
      }
      std::this_thread::yield();
    }
    if (ok) ok = admitted.load() == expected;
  }
  if (!ok) phase.store(phases, std::memory_order_release);  // release any waiting worker
  for (auto& t : pool) t.join();
  REQUIRE(ok);
  CHECK(admitted.load() == expected);
  CHECK(expected > 0);
}

}  // namespace limit_test
