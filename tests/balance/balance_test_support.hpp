// Helpers shared by the balance tests: key assignment, evenness, disruption.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
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
  const double mean = static_cast<double>(std::accumulate(c.begin(), c.end(), std::size_t{0})) /
                      static_cast<double>(c.size());
  return static_cast<double>(*std::max_element(c.begin(), c.end())) / mean;
}

struct disruption {
  double moved_fraction = 0;
  bool only_to_new = true;   // every moved key went to `target`
  bool only_from_old = true; // every moved key came from `target`
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

} // namespace balance_test
