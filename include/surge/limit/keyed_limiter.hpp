/// @file surge/limit/keyed_limiter.hpp
/// One rate limiter per key (client, IP, API token) in bounded memory.
#ifndef SURGE_LIMIT_KEYED_LIMITER_HPP
#define SURGE_LIMIT_KEYED_LIMITER_HPP

#include <surge/cache/sieve.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/key_checks.hpp>
#include <surge/detail/sharded_locks.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace surge {

/// Counters of a keyed_limiter (sums over its shards).
struct keyed_limiter_stats {
  std::uint64_t inserted = 0;        ///< keys that got a state
  std::uint64_t dropped_full = 0;    ///< keys dropped while full (free: no effect on any decision)
  std::uint64_t evicted_active = 0;  ///< keys evicted by recency while not full (their debt forgotten)
};

/// One `Limiter` per key: every key is limited as if it had its own
/// `Limiter` built like `prototype`, in memory bounded by `max_keys`.
///
/// `Limiter` is `token_bucket<Clock>` (then `try_acquire(key, n)` and
/// `time_until_available(key, n)`) or `leaky_bucket<Clock>` (then
/// `admit(key)`), or any type with the same per-key state interface
/// (`state_type`, `initial_state()`, `full_state(state, now)` and the
/// `*_state` operations). Only the small per-key state is stored; the
/// configuration (rate, burst, delay) is the prototype's, fixed at
/// construction; each key's state keeps its own epoch (readings any distance
/// apart are fine).
///
/// **Bounded memory.** A key whose state is back to "full" decides every
/// later request exactly as a fresh key would, so dropping it is free:
/// `purge_full()` drops all of them, and a lookup of an absent key behaves as
/// a full one. Keys live in `Shards` (1 to 4096) sieve_caches of fixed total capacity
/// `max_keys` (every node allocated at construction; a max_keys below Shards
/// uses max_keys shards of one key each); a new key arriving in a
/// full shard evicts one of that shard's keys not used since SIEVE's hand
/// last passed it (a hit sets one bit instead of relinking an LRU list, so a
/// call touches no other key's memory) — for free when it
/// is full, otherwise its state (its debt) is forgotten and counted in
/// `stats().evicted_active`: size max_keys for the number of keys active
/// within one refill period (burst / rate) to keep that count at zero.
/// Memory per key (capacity): one cache node holding Key and the state
/// (token_bucket: 16 bytes; leaky_bucket: 24 bytes) plus 16 to 32 bytes of
/// index; `memory_bytes()` reports the total. Measured at 1M `std::uint64_t`
/// keys: 56.8 bytes per key of capacity with a token_bucket, 64.8 with a
/// leaky_bucket meter.
///
/// **Hash and KeyEqual objects** may be given to the constructor, as to
/// std::unordered_map's (a seeded hash against hash flooding: keys chosen by
/// clients to collide); otherwise they are default-constructed.
///
/// Complexity: every keyed operation is O(1) expected (one hash, one shard
/// lock); purge_full, size and stats are O(max_keys) / O(Shards).
/// Thread safety: thread-safe; each shard has its own mutex on its own
/// cache lines (not lock-free: the per-key map needs a lock, as
/// governor's keyed store and nginx's shared zone do).
/// Bad input: max_keys 0 or above `max_keys_limit` (Shards times
/// the caches' `max_capacity`) throws std::invalid_argument naming
/// keyed_limiter and max_keys; a bool, a character or a floating-point
/// max_keys does not compile. A Key that Hash cannot hash or KeyEqual cannot
/// compare, and a character pointer key with std::hash or std::equal_to (of
/// any pointer type, or the transparent std::equal_to<> or
/// std::ranges::equal_to: they would limit the address, not the text; use
/// std::string, and a transparent Hash and KeyEqual let string_view and C
/// strings look up std::string keys) fail to compile with a one-line message;
/// one with a Hash and KeyEqual of your own that read the text compiles.
/// Exceptions from Hash/KeyEqual or Key copies propagate; the limiter stays
/// valid (basic guarantee).
template <class Key, class Limiter, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          std::size_t Shards = 16>
class keyed_limiter {
  SURGE_DETAIL_CHECK_HASHED_KEY("surge::keyed_limiter", Key, Hash, KeyEqual);

 public:
  static_assert(Shards >= 1, "surge::keyed_limiter: Shards must be at least 1");
  static_assert(Shards <= 4096, "surge::keyed_limiter: Shards must be at most 4096");
  using key_type = Key;                             ///< The key type.
  using limiter_type = Limiter;                     ///< The prototype limiter's type.
  using clock_type = typename Limiter::clock_type;  ///< Limiter's clock.
  using duration = typename Limiter::duration;      ///< Limiter's duration.
  using time_point = typename Limiter::time_point;  ///< Limiter's time point.
  using state_type = typename Limiter::state_type;  ///< What is stored per key (Limiter's per-key state).

 private:
  // the engine of sieve_cache (not sieve_cache itself, whose key checks would
  // repeat keyed_limiter's in its own name)
  // (stand-in functors when the key is refused, so the static_assert above is
  // the only error)
  using hasher = detail::checked_key_functor<Hash, Key, Hash, KeyEqual>;
  using key_equal = detail::checked_key_functor<KeyEqual, Key, Hash, KeyEqual>;
  using cache_type = detail::basic_cache<Key, state_type, hasher, key_equal, clock_type, detail::sieve_policy>;
  // K looks keys up without a Key built first: Hash and KeyEqual are
  // transparent (so a Key can be built from K when the key is new)
  template <class K>
  static constexpr bool is_transparent = requires {
    typename hasher::is_transparent;
    typename key_equal::is_transparent;
  } && std::is_constructible_v<Key, const K&>;

 public:
  /// Largest max_keys: Shards times the caches' max_capacity.
  static constexpr std::size_t max_keys_limit = Shards * cache_type::max_capacity;

  /// A bool, a character or a floating-point number as max_keys does not
  /// compile (it would convert to std::size_t silently: 2.9 would be 2, '4' 52).
  template <detail::not_a_count N>
  keyed_limiter(const Limiter& prototype, const N&, const hasher& hash = hasher(), const key_equal& eq = key_equal())
      : keyed_limiter(prototype, std::size_t{1}, hash, eq) {
    static_assert(detail::refused_count<N>,
                  "surge::keyed_limiter: max_keys must be an integer, not a bool, a character or a floating-point "
                  "number");
  }
  /// Limits each key like `prototype`, holding at most `max_keys` keys, with
  /// a default-constructed Hash and KeyEqual.
  keyed_limiter(const Limiter& prototype, std::size_t max_keys)
      : keyed_limiter(prototype, max_keys, hasher(), key_equal()) {}
  /// As above, hashing keys with (copies of) `hash` and comparing them with
  /// `eq`, as std::unordered_map's constructor takes them: a Hash with state,
  /// such as a per-process random seed against hash flooding, is used as
  /// given, to pick the shard and within it.
  keyed_limiter(const Limiter& prototype, std::size_t max_keys, const hasher& hash, const key_equal& eq = key_equal())
      : limiter_(prototype),
        hash_(hash),
        shards_(
            std::min(
                detail::checked_total(max_keys, max_keys_limit, "surge::keyed_limiter: max_keys", "max_keys_limit"),
                Shards),
            [&](std::size_t i) {
              return shard(detail::share_of(max_keys, std::min(max_keys, Shards), i), limiter_, hash, eq);
            }) {}
  keyed_limiter(const keyed_limiter&) = delete;
  keyed_limiter& operator=(const keyed_limiter&) = delete;

  // ---- token_bucket keys ---------------------------------------------------

  /// Takes n tokens from `key`'s bucket if they are there (token_bucket
  /// semantics). An n the key can never have (n > burst) is refused, and
  /// n == 0 on an absent key (full) passes, without storing the key. A bool,
  /// a character or a floating-point count does not compile (2.5 would take
  /// 2 tokens, 0.5 none).
  template <class L = Limiter>
  requires requires(const L& l, typename L::state_type& s) { l.try_acquire_state(s, std::size_t{1}, time_point{}); }
  [[nodiscard]] bool try_acquire(const Key& key, std::size_t n = 1) { return try_acquire(key, n, clock_type::now()); }
  /// try_acquire() by any key type the transparent Hash and KeyEqual accept
  /// (a Key is built from it only when the key is new).
  template <class K, class L = Limiter>
  requires is_transparent<K> && requires(const L& l, typename L::state_type& s) {
    l.try_acquire_state(s, std::size_t{1}, time_point{});
  }
  [[nodiscard]] bool try_acquire(const K& key, std::size_t n = 1) { return try_acquire(key, n, clock_type::now()); }

  /// try_acquire at the given clock reading.
  template <class L = Limiter>
  requires requires(const L& l, typename L::state_type& s) { l.try_acquire_state(s, std::size_t{1}, time_point{}); }
  [[nodiscard]] bool try_acquire(const Key& key, std::size_t n, time_point now) {
    return try_acquire_impl(key, n, now);
  }
  /// try_acquire at the given clock reading, by a transparent key type.
  template <class K, class L = Limiter>
  requires is_transparent<K> && requires(const L& l, typename L::state_type& s) {
    l.try_acquire_state(s, std::size_t{1}, time_point{});
  }
  [[nodiscard]] bool try_acquire(const K& key, std::size_t n, time_point now) {
    return try_acquire_impl(key, n, now);
  }
  /// try_acquire with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <class K, detail::not_a_count N, class L = Limiter>
  requires requires(const L& l, typename L::state_type& s) { l.try_acquire_state(s, std::size_t{1}, time_point{}); }
  bool try_acquire(const K&, const N&, time_point = {}) {
    static_assert(detail::refused_count<N>,
                  "surge::keyed_limiter::try_acquire: n must be an integer, not a bool, a character or a "
                  "floating-point number");
    return false;
  }

  /// How long until `key` has n tokens (zero if now); does not store the key.
  /// A bool, a character or a floating-point count does not compile.
  template <class L = Limiter>
  requires requires(const L& l, const typename L::state_type& s) {
    l.time_until_available_state(s, std::size_t{1}, time_point{});
  }
  [[nodiscard]] duration time_until_available(const Key& key, std::size_t n = 1,
                                              time_point now = clock_type::now()) const {
    return time_until_available_impl(key, n, now);
  }
  /// time_until_available() by any key type the transparent Hash and KeyEqual accept.
  template <class K, class L = Limiter>
  requires is_transparent<K> && requires(const L& l, const typename L::state_type& s) {
    l.time_until_available_state(s, std::size_t{1}, time_point{});
  }
  [[nodiscard]] duration time_until_available(const K& key, std::size_t n = 1,
                                              time_point now = clock_type::now()) const {
    return time_until_available_impl(key, n, now);
  }
  /// time_until_available with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <class K, detail::not_a_count N, class L = Limiter>
  requires requires(const L& l, const typename L::state_type& s) {
    l.time_until_available_state(s, std::size_t{1}, time_point{});
  }
  duration time_until_available(const K&, const N&, time_point = {}) const {
    static_assert(detail::refused_count<N>,
                  "surge::keyed_limiter::time_until_available: n must be an integer, not a bool, a character or a "
                  "floating-point number");
    return {};
  }

  // ---- leaky_bucket (meter) keys ---------------------------------------------

  /// Decides one arrival for `key` (leaky_bucket meter semantics).
  template <class L = Limiter>
  requires requires(const L& l, typename L::state_type& s) { l.admit_state(s, time_point{}); }
  [[nodiscard]] auto admit(const Key& key, time_point now = clock_type::now()) { return admit_impl(key, now); }
  /// admit() by any key type the transparent Hash and KeyEqual accept (a Key
  /// is built from it only when the key is new).
  template <class K, class L = Limiter>
  requires is_transparent<K> && requires(const L& l, typename L::state_type& s) { l.admit_state(s, time_point{}); }
  [[nodiscard]] auto admit(const K& key, time_point now = clock_type::now()) { return admit_impl(key, now); }

  // ---- memory -----------------------------------------------------------------

  /// Drops every key that is full at `now` (free: they decide as fresh keys
  /// would). Returns how many. O(max_keys); locks one shard at a time.
  std::size_t purge_full(time_point now = clock_type::now()) {
    std::size_t dropped = 0;
    std::vector<Key> full;
    shards_.for_each([&](shard& s) {
      full.clear();
      s.cache.for_each([&](const Key& k, const state_type& st) {
        if (limiter_.full_state(st, now)) full.push_back(k);
      });
      for (const Key& k : full) s.cache.erase(k);
      s.dropped_full += full.size();
      dropped += full.size();
    });
    return dropped;
  }

  /// Keys currently stored (a sum over shards, not a snapshot).
  [[nodiscard]] std::size_t size() const {
    std::size_t n = 0;
    shards_.for_each([&](const shard& s) { n += s.cache.size(); });
    return n;
  }
  /// The key capacity, max_keys.
  [[nodiscard]] std::size_t max_keys() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < shards_.count(); ++i) n += shards_[i].value.cache.capacity();
    return n;
  }
  /// Bytes allocated for the keys' storage (fixed at construction).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    std::size_t n = sizeof(*this) - sizeof(shards_) + shards_.memory_bytes();
    for (std::size_t i = 0; i < shards_.count(); ++i) n += shards_[i].value.cache.memory_bytes();
    return n;
  }
  /// The counters summed over every shard (taken one shard after the other,
  /// so not a single snapshot under concurrent calls).
  [[nodiscard]] keyed_limiter_stats stats() const {
    keyed_limiter_stats r;
    shards_.for_each([&](const shard& s) {
      r.inserted += s.inserted;
      r.dropped_full += s.dropped_full;
      r.evicted_active += s.evicted_active;
    });
    return r;
  }
  /// The prototype every key is limited like.
  [[nodiscard]] const Limiter& prototype() const noexcept { return limiter_; }

 private:
  /// One shard's keys and counters (guarded by its mutex in sharded_locks).
  struct shard {
    shard(std::size_t capacity, const Limiter& lim, const hasher& hash, const key_equal& eq)
        : cache(capacity, {}, hash, eq) {
      cache.set_eviction_listener([this, &lim](Key&&, state_type&& st) {
        if (lim.full_state(st, now))
          ++dropped_full;
        else
          ++evicted_active;
      });
    }
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;
    template <class K>
    state_type& get(const K& key) {
      bool inserted_now = false;
      state_type& st = cache.get_or_insert_with(key, [&] {
        inserted_now = true;
        return Limiter::initial_state();
      });
      inserted += inserted_now ? 1 : 0;
      return st;
    }
    cache_type cache;
    time_point now{};
    std::uint64_t inserted = 0;
    std::uint64_t dropped_full = 0;
    std::uint64_t evicted_active = 0;
  };

  using shard_array = detail::sharded_locks<shard, Shards, std::mutex>;

  static std::size_t most_grantable(const Limiter& l) noexcept {
    if constexpr (requires(typename Limiter::state_type st) {
                    l.burst();
                    l.time_until_available_state(st, std::size_t{1}, time_point{});
                  }) {
      const std::size_t all = std::numeric_limits<std::size_t>::max();
      const bool unlimited =
          l.time_until_available_state(Limiter::initial_state(), all, time_point{}) != duration::max();
      return unlimited ? all : l.burst();
    } else {
      return std::numeric_limits<std::size_t>::max();  // a meter: admit_state decides
    }
  }

  template <class K>
  typename shard_array::shard& shard_for(const K& key) const {
    return shards_[shards_.index_of(static_cast<std::size_t>(hash_(key)))];
  }

  template <class K>
  bool try_acquire_impl(const K& key, std::size_t n, time_point now) {
    // never grantable (n > burst): refuse without storing the key
    if (n > most_grantable_) return false;
    auto& locked = shard_for(key);
    std::lock_guard lock(locked.mutex);
    shard& s = locked.value;
    // n == 0 takes nothing: an absent key (full) passes and stays absent, so
    // that it cannot evict another key's debt
    if (n == 0 && !s.cache.contains(key)) return true;
    s.now = now;
    return limiter_.try_acquire_state(s.get(key), n, now);
  }

  template <class K>
  duration time_until_available_impl(const K& key, std::size_t n, time_point now) const {
    const auto& locked = shard_for(key);
    std::lock_guard lock(locked.mutex);
    const state_type* st = locked.value.cache.peek(key);
    return limiter_.time_until_available_state(st ? *st : Limiter::initial_state(), n, now);
  }

  template <class K>
  auto admit_impl(const K& key, time_point now) {
    auto& locked = shard_for(key);
    std::lock_guard lock(locked.mutex);
    shard& s = locked.value;
    s.now = now;
    return limiter_.admit_state(s.get(key), now);
  }

  Limiter limiter_;
  // the largest n a key can ever be granted (the prototype is never
  // reconfigured: burst, or every n when the rate is unlimited)
  std::size_t most_grantable_ = most_grantable(limiter_);
  [[no_unique_address]] hasher hash_;
  shard_array shards_;
};

}  // namespace surge

#endif  // SURGE_LIMIT_KEYED_LIMITER_HPP
