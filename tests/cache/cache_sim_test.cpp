// The cache_sim example's shared pieces: Bélády's optimum against brute force
// on tiny traces, the trace reader, and the simulator's LRU column against the
// published reference numbers of the shipped traces (when the traces folder
// is present: its path comes from CMake as SURGE_TRACE_DIR).
#include <surge/cache/lru.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../../examples/cache_sim.hpp"
#include "surge_test.hpp"

namespace {

/// The most hits any sequence of decisions gets: on a miss, either skip the
/// key or cache it, evicting any one cached key when full. Exhaustive.
std::size_t brute_force(const std::vector<std::uint64_t>& keys, std::size_t size, std::size_t i,
                        std::set<std::uint64_t>& cached) {
  if (i == keys.size()) return 0;
  const std::uint64_t k = keys[i];
  if (cached.count(k)) return 1 + brute_force(keys, size, i + 1, cached);
  std::size_t best = brute_force(keys, size, i + 1, cached);  // bypass
  if (cached.size() < size) {
    cached.insert(k);
    best = std::max(best, brute_force(keys, size, i + 1, cached));
    cached.erase(k);
  } else {
    const std::vector<std::uint64_t> now(cached.begin(), cached.end());
    for (std::uint64_t v : now) {
      cached.erase(v);
      cached.insert(k);
      best = std::max(best, brute_force(keys, size, i + 1, cached));
      cached.erase(k);
      cached.insert(v);
    }
  }
  return best;
}

}  // namespace

TEST_CASE("belady_hits equals an exhaustive search on tiny traces", "[cache_sim]") {
  std::mt19937 rng(11);
  for (int t = 0; t < 300; ++t) {
    const std::size_t len = 1 + rng() % 12, universe = 1 + rng() % 5, size = 1 + rng() % 3;
    std::vector<std::uint64_t> keys(len);
    for (auto& k : keys) k = rng() % universe;
    std::set<std::uint64_t> cached;
    INFO("trace " << t);
    CHECK(cache_sim::belady_hits(keys, size) == brute_force(keys, size, 0, cached));
  }
  CHECK(cache_sim::belady_hits({}, 3) == 0);
  CHECK(cache_sim::belady_hits({1, 2, 1}, 0) == 0);
}

TEST_CASE("next_uses and replay", "[cache_sim]") {
  const std::vector<std::uint64_t> keys{5, 6, 5, 7, 6};
  CHECK(cache_sim::next_uses(keys) == std::vector<std::size_t>{2, 4, 5, 5, 5});
  surge::lru_cache<std::uint64_t, std::uint64_t> c(2);
  CHECK(cache_sim::replay(c, keys) == 1);  // 5 hits; 6 was evicted by 7
}

TEST_CASE("read_trace reads text and oracleGeneral binary", "[cache_sim]") {
  const std::string text = "cache_sim_test_trace.txt", bin = "cache_sim_test_trace.oracleGeneral.bin";
  std::ofstream(text) << "12\n7\n# comment\n12\n";
  CHECK(cache_sim::read_trace(text) == std::vector<std::uint64_t>{12, 7, 12});
  {
    std::ofstream out(bin, std::ios::binary);
    for (std::uint64_t id : {0x0102030405060708ULL, 42ULL}) {
      unsigned char rec[24] = {};
      for (int b = 0; b < 8; ++b) rec[4 + b] = static_cast<unsigned char>(id >> (8 * b));
      out.write(reinterpret_cast<const char*>(rec), sizeof rec);
    }
  }
  CHECK(cache_sim::read_trace(bin) == std::vector<std::uint64_t>{0x0102030405060708ULL, 42});
  std::remove(text.c_str());
  std::remove(bin.c_str());
  CHECK_THROWS_AS(cache_sim::read_trace("no/such/trace.txt"), std::runtime_error);
}

TEST_CASE("the simulator's LRU matches the reference LRU hit ratios of the shipped traces", "[cache_sim][traces]") {
#ifndef SURGE_TRACE_DIR
  WARN(
      "skipped: no traces folder found at configure time (../shared/traces beside the repository, or "
      "-DSURGE_TRACE_DIR)");
#else
  const std::string dir = SURGE_TRACE_DIR;
  std::ifstream readme(dir + "/README.md");
  if (!readme) {
    WARN("skipped: cannot read " << dir << "/README.md");
    return;
  }
  int checked = 0;
  for (std::string line; std::getline(readme, line);) {  // "| gli @ 500 | 0.95 | 33.22 (LIRS) | 34.26 |"
    const auto at = line.find('@');
    if (line.rfind("| ", 0) != 0 || at == std::string::npos || at + 2 >= line.size() ||
        !std::isdigit(static_cast<unsigned char>(line[at + 2])))
      continue;  // not a "| trace @ size |" row
    const std::string name = line.substr(2, at - 3);
    const std::size_t size = std::stoul(line.substr(at + 1));
    const auto bar = line.find('|', at);
    const double want = std::stod(line.substr(bar + 1));
    const auto keys = cache_sim::read_trace(dir + "/" + name + ".txt.gz");
    surge::lru_cache<std::uint64_t, std::uint32_t> c(size);
    const double got = 100.0 * static_cast<double>(cache_sim::replay(c, keys)) / static_cast<double>(keys.size());
    INFO(name << " @ " << size);
    CHECK(std::abs(got - want) < 0.005 + 1e-9);
    ++checked;
  }
  CHECK(checked >= 10);
#endif
}
