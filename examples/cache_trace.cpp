// Replays a cache trace (one integer key per line; object-count cache) through
// surge's lru_cache and lfu_cache and prints their hit ratios: a check that
// lru_cache is an exact LRU (its figures must equal any other exact LRU's,
// e.g. libCacheSim's) and a way to compare policies on real workloads.
//
//   surge_example_cache_trace TRACE[.gz] SIZE...
//   surge_example_cache_trace gli.txt.gz 500 1000 2000
//
// A `.gz` trace is read through `gzip -dc`. Without arguments it replays a
// small built-in synthetic trace (a looping scan mixed with a hot set).
#include <surge/cache/lfu.hpp>
#include <surge/cache/lru.hpp>
#include <surge/fmt.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::uint64_t> read_trace(const std::string& path) {
  std::vector<std::uint64_t> keys;
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  std::FILE* f = gz ? popen(("gzip -dc '" + path + "'").c_str(), "r") : std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    fmt::print(stderr, "cannot open {}\n", path);
    std::exit(1);
  }
  unsigned long long k = 0;
  while (std::fscanf(f, "%llu", &k) == 1) keys.push_back(k);
  if (gz) {
    pclose(f);
  } else {
    std::fclose(f);
  }
  return keys;
}

std::vector<std::uint64_t> synthetic_trace() {
  std::vector<std::uint64_t> keys;
  for (std::uint64_t round = 0; round < 50; ++round) {
    for (std::uint64_t i = 0; i < 300; ++i) {
      keys.push_back(1000 + i);                                // a scan of 300 keys, over and over
      keys.push_back(i % 40);                                  // a hot set of 40 keys
      if (i % 3 == 0) keys.push_back(5000 + round * 300 + i);  // one-hit wonders
    }
  }
  return keys;
}

template <class Cache>
double hit_ratio(const std::vector<std::uint64_t>& keys, std::size_t size) {
  Cache c(size);
  for (std::uint64_t k : keys) {
    if (c.get(k) == nullptr) c.put(k, 0);
  }
  return 100.0 * c.stats().hit_ratio();
}

}  // namespace

int main(int argc, char** argv) {
  const bool builtin = argc < 3;
  const auto keys = builtin ? synthetic_trace() : read_trace(argv[1]);
  std::vector<std::size_t> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  if (builtin) sizes = {50, 100, 400};
  fmt::print("trace {}: {} requests\n", builtin ? "built-in synthetic" : argv[1], keys.size());
  fmt::print("{:>8}  {:>8}  {:>8}\n", "size", "LRU %", "LFU %");
  for (std::size_t size : sizes) {
    if (size == 0) continue;
    fmt::print("{:>8}  {:>8.2f}  {:>8.2f}\n", size, hit_ratio<surge::lru_cache<std::uint64_t, char>>(keys, size),
               hit_ratio<surge::lfu_cache<std::uint64_t, char>>(keys, size));
  }
}
