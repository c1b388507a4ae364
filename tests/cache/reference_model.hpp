// Naive reference models of LRU and LFU replacement, and the random-operation
// driver that holds surge's caches to them. Shared by lru_test.cpp and
// lfu_test.cpp (a header, so it is not a test file of its own).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "surge_test.hpp"

namespace cache_model {

enum class policy { lru, lfu };

/// The obvious implementation: a map of entries and an ordered set of
/// (rank, last use, key), where rank is 0 for LRU and the use count for LFU;
/// the victim is the smallest element.
class model {
 public:
  model(policy p, std::size_t capacity) : policy_(p), capacity_(capacity) {}

  std::optional<int> get(int k) {
    auto it = entries_.find(k);
    if (it == entries_.end()) {
      ++misses;
      return std::nullopt;
    }
    ++hits;
    touch(it);
    return it->second.value;
  }

  std::optional<int> peek(int k) const {
    auto it = entries_.find(k);
    if (it == entries_.end()) return std::nullopt;
    return it->second.value;
  }

  /// Returns whether k was new; appends an eviction to `evicted`.
  bool put(int k, int v) {
    auto it = entries_.find(k);
    if (it != entries_.end()) {
      it->second.value = v;
      touch(it);
      return false;
    }
    insert(k, v);
    return true;
  }

  int get_or_insert(int k, int v) {
    auto it = entries_.find(k);
    if (it != entries_.end()) {
      ++hits;
      touch(it);
      return it->second.value;
    }
    ++misses;
    insert(k, v);
    return v;
  }

  bool erase(int k) {
    auto it = entries_.find(k);
    if (it == entries_.end()) return false;
    order_.erase(key_of(it));
    entries_.erase(it);
    return true;
  }

  void clear() {
    entries_.clear();
    order_.clear();
  }

  std::size_t size() const { return entries_.size(); }
  std::map<int, int> contents() const {
    std::map<int, int> out;
    for (const auto& [k, e] : entries_) out[k] = e.value;
    return out;
  }

  std::vector<std::pair<int, int>> evicted;
  std::uint64_t hits = 0, misses = 0, insertions = 0;

 private:
  struct entry {
    int value;
    std::uint64_t count;
    std::uint64_t last;
  };
  using order_key = std::tuple<std::uint64_t, std::uint64_t, int>;

  order_key key_of(std::map<int, entry>::iterator it) const {
    return {policy_ == policy::lfu ? it->second.count : 0, it->second.last, it->first};
  }

  void touch(std::map<int, entry>::iterator it) {
    order_.erase(key_of(it));
    ++it->second.count;
    it->second.last = ++tick_;
    order_.insert(key_of(it));
  }

  void insert(int k, int v) {
    if (entries_.size() == capacity_) {
      const int victim = std::get<2>(*order_.begin());
      order_.erase(order_.begin());
      auto vit = entries_.find(victim);
      evicted.emplace_back(victim, vit->second.value);
      entries_.erase(vit);
    }
    auto [it, ok] = entries_.emplace(k, entry{v, 1, ++tick_});
    order_.insert(key_of(it));
    ++insertions;
  }

  policy policy_;
  std::size_t capacity_;
  std::uint64_t tick_ = 0;
  std::map<int, entry> entries_;
  std::set<order_key> order_;
};

/// Runs `ops` random operations on a fresh Cache (int -> int) and a model
/// (any type with model's members), comparing every return value, every
/// eviction, the stats and the final contents.
template <class Cache, class Model>
void run_with_model(Model m, std::size_t capacity, int universe, int ops, std::uint64_t seed) {
  INFO("capacity " << capacity << " universe " << universe << " seed " << seed);
  std::vector<std::pair<int, int>> evicted;
  Cache cache(capacity, {.on_evict = [&](int&& k, int&& v) { evicted.emplace_back(k, v); }});
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> key(0, universe - 1), op(0, 99);
  for (int i = 0; i < ops; ++i) {
    const int k = key(rng);
    const int o = op(rng);
    const int v = i;
    if (o < 35) {
      const int* got = cache.get(k);
      const auto want = m.get(k);
      REQUIRE((got != nullptr) == want.has_value());
      if (got) REQUIRE(*got == *want);
    } else if (o < 65) {
      REQUIRE(cache.put(k, v) == m.put(k, v));
    } else if (o < 75) {
      const int* got = cache.peek(k);
      const auto want = m.peek(k);
      REQUIRE((got != nullptr) == want.has_value());
      if (got) REQUIRE(*got == *want);
      REQUIRE(cache.contains(k) == want.has_value());
    } else if (o < 92) {
      REQUIRE(cache.get_or_insert_with(k, [v] { return v; }) == m.get_or_insert(k, v));
    } else if (o == 99 && i % 7 == 0) {  // about one op in 700: start over
      cache.clear();
      m.clear();
    } else {
      REQUIRE(cache.erase(k) == m.erase(k));
    }
    REQUIRE(evicted.size() == m.evicted.size());
    if (!evicted.empty()) REQUIRE(evicted.back() == m.evicted.back());
    REQUIRE(cache.size() == m.size());
  }
  REQUIRE(evicted == m.evicted);
  std::map<int, int> got;
  cache.for_each([&](int k, int v) { REQUIRE(got.emplace(k, v).second); });
  REQUIRE(got == m.contents());
  const auto s = cache.stats();
  CHECK(s.hits == m.hits);
  CHECK(s.misses == m.misses);
  CHECK(s.insertions == m.insertions);
  CHECK(s.evictions == m.evicted.size());
}

/// run_with_model with the naive LRU or LFU model.
template <class Cache>
void run_against_model(policy p, std::size_t capacity, int universe, int ops, std::uint64_t seed) {
  run_with_model<Cache>(model(p, capacity), capacity, universe, ops, seed);
}

/// The configurations the issue asks for: capacities 1, 2, 7, 64, 1000, each
/// with a key universe smaller than, about twice, and ten times the capacity;
/// at least 100k operations each.
/// `make_model(capacity)` builds the model of each run.
template <class Cache, class MakeModel>
void run_all_configurations_with(MakeModel make_model, int ops = 100'000) {
  std::uint64_t seed = 1;
  for (std::size_t cap : {1, 2, 7, 64, 1000}) {
    const int c = static_cast<int>(cap);
    for (int universe : {c / 2 + 1, 2 * c + 1, 10 * c + 3}) {
      run_with_model<Cache>(make_model(cap), cap, universe, ops, seed++);
    }
  }
}
template <class Cache>
void run_all_configurations(policy p) {
  run_all_configurations_with<Cache>([p](std::size_t cap) { return model(p, cap); });
}

}  // namespace cache_model
