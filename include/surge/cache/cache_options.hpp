/// @file surge/cache/cache_options.hpp
/// `surge::cache_options`: the construction options every single-threaded
/// cache (lru_cache, lfu_cache, sieve_cache, s3fifo_cache, wtinylfu_cache)
/// and sharded_cache take as `options`.
#ifndef SURGE_CACHE_CACHE_OPTIONS_HPP
#define SURGE_CACHE_CACHE_OPTIONS_HPP

#include <functional>
#include <optional>

namespace surge {

/// Construction options of a cache, all optional; name them with designated
/// initialisers: `lru_cache<K, V>::options{.ttl = 30s, .on_evict = f}` (each
/// cache's `options` is this type with its Key, Value and Clock).
///
/// A plain aggregate: copying it copies the listener. Not thread-safe by
/// itself. Bad input is refused by the cache's constructor, not here: a zero,
/// negative or NaN `ttl` makes it throw std::invalid_argument naming `ttl`.
template <class Key, class Value, class Clock>
struct cache_options {
  /// Expire-after-write: an entry is expired once `Clock::now()` reaches its
  /// last write time (`put`, insertion) plus `ttl` (saturating: a huge ttl
  /// means "practically never", it never overflows; with a floating-point
  /// Clock, a ttl below its resolution at the write counts as one step of
  /// it, never as zero). Unset (the default):
  /// entries never expire and the clock is never read. Zero, negative or NaN
  /// (a floating-point Clock): the cache's constructor throws
  /// std::invalid_argument (leave it unset for "never").
  std::optional<typename Clock::duration> ttl = std::nullopt;

  /// Called with the key and value (as rvalues) of each entry the cache
  /// removes by itself: capacity evictions and expiries; never for `erase`,
  /// `clear`, an overwrite or the destructor. It runs inside the cache call
  /// that evicted, after the entry left the cache: it may read or move from
  /// its arguments and use other objects, but must not call this cache (not
  /// even a const member): the cache does not detect such a call, and its
  /// behaviour is undefined (what the evicting call returns may be gone by
  /// the time it returns; in a sharded_cache the listener holds its shard's
  /// lock, so a call into that shard deadlocks). If it throws, the exception
  /// propagates from that call; the entry is gone and the cache is valid.
  /// Empty (the default): no listener.
  std::function<void(Key&&, Value&&)> on_evict = {};
};

}  // namespace surge

#endif  // SURGE_CACHE_CACHE_OPTIONS_HPP
