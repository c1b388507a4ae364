// Helpers shared by the balance tests: key assignment, evenness, disruption.
#pragma once

#include "surge_test.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

namespace balance_test {

/// Backend chosen for keys 0 .. keys-1 by pick(key).
template <class Pick>
std::vector<std::uint32_t> assign(Pick&& pick, std::size_t keys) {
  std::vector<std::uint32_t> out(keys);
  for (std::size_t k = 0; k < keys; ++k) out[k] = static_cast<std::uint32_t>(pick(static_cast<std::uint64_t>(k)));
  return out;
}

/// Keys per backend.
inline std::vector<std::size_t> counts(const std::vector<std::uint32_t>& a, std::size_t backends) {
  std::vector<std::size_t> c(backends, 0);
  for (auto b : a) ++c.at(b);
  return c;
}

/// Largest count over the mean count.
inline double max_over_mean(const std::vector<std::size_t>& c) {
  const double mean =
      static_cast<double>(std::accumulate(c.begin(), c.end(), std::size_t{0})) / static_cast<double>(c.size());
  return static_cast<double>(*std::max_element(c.begin(), c.end())) / mean;
}

struct disruption {
  double moved_fraction = 0;
  bool only_to_new = true;    // every moved key went to `target`
  bool only_from_old = true;  // every moved key came from `target`
};

/// Compares two assignments of the same keys; `target` is the backend added
/// (or removed / marked down).
inline disruption compare(const std::vector<std::uint32_t>& before, const std::vector<std::uint32_t>& after,
                          std::uint32_t target) {
  disruption d;
  std::size_t moved = 0;
  for (std::size_t k = 0; k < before.size(); ++k) {
    if (before[k] == after[k]) continue;
    ++moved;
    if (after[k] != target) d.only_to_new = false;
    if (before[k] != target) d.only_from_old = false;
  }
  d.moved_fraction = static_cast<double>(moved) / static_cast<double>(before.size());
  return d;
}

/// For a hashing policy p over n backends: marking backend `down` down moves
/// only its keys (and leaves it none), marking it up restores the mapping,
/// and with every backend down (panic mode) the mapping is the all-up one.
/// Returns the assignment while `down` was down.
template <class Policy>
std::vector<std::uint32_t> check_health_moves_only_its_keys(Policy& p, std::size_t n, std::size_t down,
                                                            std::size_t keys) {
  auto pick = [&](std::uint64_t k) { return p.pick(k); };
  const auto before = assign(pick, keys);
  p.set_healthy(down, false);
  const auto during = assign(pick, keys);
  CHECK(compare(before, during, static_cast<std::uint32_t>(down)).only_from_old);
  CHECK(counts(during, n)[down] == 0);
  p.set_healthy(down, true);
  CHECK(assign(pick, keys) == before);
  for (std::size_t i = 0; i < n; ++i) p.set_healthy(i, false);
  CHECK(assign(pick, keys) == before);  // panic mode
  for (std::size_t i = 0; i < n; ++i) p.set_healthy(i, true);
  return during;
}

/// Evenness over 10 backends and minimal disruption going to 11, 1e6 keys:
/// max/mean <= 1.05, about 1/11 of the keys move (within 20 %), and when
/// `exactly_minimal` all of them move to the new backend.
template <class Ten, class Eleven>
void check_even_and_minimal(Ten&& ten, Eleven&& eleven, bool exactly_minimal) {
  const auto a = assign(ten, 1000000);
  const auto b = assign(eleven, 1000000);
  const double mm = max_over_mean(counts(a, 10));
  const auto d = compare(a, b, 10);
  INFO("max/mean " << mm << ", moved " << d.moved_fraction);
  CHECK(mm <= 1.05);
  CHECK(d.moved_fraction == Approx(1.0 / 11).epsilon(0.2));
  if (exactly_minimal) CHECK(d.only_to_new);
  CHECK(static_cast<double>(counts(b, 11)[10]) == Approx(1000000.0 / 11).epsilon(0.05));
}

/// Runs read_once() in a loop on another thread while rebuild() runs on this
/// one (started once the reader has made progress; a 60 s watchdog bounds
/// both). Checks the reader ran.
template <class Read, class Rebuild>
void read_while_rebuilding(Read&& read_once, Rebuild&& rebuild) {
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::thread reader([&] {
    for (std::uint64_t k = 0; !stop.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline;
         ++k) {
      read_once(k);
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (reads.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  rebuild();
  stop.store(true, std::memory_order_release);
  reader.join();
  CHECK(reads.load() > 0);
}

}  // namespace balance_test
