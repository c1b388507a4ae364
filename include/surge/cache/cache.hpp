/// @file surge/cache/cache.hpp
/// `surge::cache<K, V>`: the cache to use unless you know better.
#ifndef SURGE_CACHE_CACHE_HPP
#define SURGE_CACHE_CACHE_HPP

#include <chrono>
#include <functional>

#include <surge/cache/wtinylfu.hpp>

namespace surge {

/// The recommended single-threaded cache: adaptive W-TinyLFU
/// (wtinylfu_cache), the policy with the best hit ratio across surge's trace
/// table (database, search, storage, web and loop/scan workloads; see the
/// cache docs), close to LRU's speed. Every member, guarantee, complexity and
/// memory figure is wtinylfu_cache's (and so lru_cache's API). Not
/// thread-safe; wrap it in sharded_cache to share it. The alias may name a
/// better policy in a later version: code that depends on the exact eviction
/// order should name its policy.
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Clock = std::chrono::steady_clock>
using cache = wtinylfu_cache<Key, Value, Hash, KeyEqual, Clock>;

}  // namespace surge

#endif  // SURGE_CACHE_CACHE_HPP
