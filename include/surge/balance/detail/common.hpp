/// @file surge/balance/detail/common.hpp
/// What every balancer policy shares, kept in one place: the default key hash
/// (`surge::key_hash`), the lease returned by load-tracking policies
/// (`surge::backend_lease`), and the internals — weight and count validation,
/// the health set with Envoy-style panic mode, per-thread-slot SplitMix64 streams,
/// bounded uniform sampling, and `snapshot_cell`, the RCU-like publication of
/// immutable tables that the ring and Maglev read without ever blocking.
#ifndef SURGE_BALANCE_DETAIL_COMMON_HPP
#define SURGE_BALANCE_DETAIL_COMMON_HPP

#include <surge/detail/cache_line.hpp>
#include <surge/detail/hash.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace surge {

namespace detail {
/// How a lease gives back a unit that is not one plain counter: the issuing
/// policy's own routine (least_connections' level index). The policy derives
/// from lease_hook and `give_back` casts back to it.
struct lease_hook {
  void (*give_back)(lease_hook* self, std::size_t index) noexcept;
};
}  // namespace detail

/// The default key hash of the hashing balancers: integers (and enums) go
/// through `detail::mix64` (the SplitMix64 finaliser, a 64-bit bijection with
/// full avalanche); any other key is hashed with `std::hash<K>` and the result
/// mixed the same way, so libstdc++'s identity hash of integers and weak
/// string hashes still spread over the whole 64-bit ring. Deterministic across
/// runs and processes for integers; for other keys as deterministic as
/// `std::hash<K>` (libstdc++'s string hash is). O(1) for integers; noexcept
/// when `std::hash<K>` is.
struct key_hash {
  template <class K>
  [[nodiscard]] constexpr std::uint64_t operator()(const K& key) const
      noexcept(std::is_integral_v<K> || std::is_enum_v<K> || noexcept(std::hash<K>{}(key))) {
    if constexpr (std::is_integral_v<K> || std::is_enum_v<K>) {
      return detail::mix64(static_cast<std::uint64_t>(key));
    } else {
      return detail::mix64(static_cast<std::uint64_t>(std::hash<K>{}(key)));
    }
  }
};

/// A claim on one backend, returned by the load-tracking policies
/// (`least_connections`, `power_of_two_choices`, the ring's bounded-load
/// mode): it holds the backend index and one unit of that backend's
/// in-flight count, and gives the unit back on destruction or `release()`.
/// Move-only. A lease must not outlive the balancer that issued it.
/// Thread safety: one lease is used by one thread at a time; leases of one
/// balancer may be released concurrently from any threads (lock-free).
class backend_lease {
 public:
  /// An empty lease (holds nothing; `index()` is `npos`).
  backend_lease() noexcept = default;

  /// Internal: takes over one unit already added to `*load` (and `*total`).
  backend_lease(std::size_t index, std::atomic<std::int64_t>* load, std::atomic<std::int64_t>* total = nullptr) noexcept
      : index_(index), load_(load), total_(total) {}
  /// Internal: takes over one unit that `hook->give_back(hook, index)` returns.
  backend_lease(std::size_t index, detail::lease_hook* hook) noexcept : index_(index), hook_(hook) {}

  backend_lease(const backend_lease&) = delete;
  backend_lease& operator=(const backend_lease&) = delete;
  backend_lease(backend_lease&& other) noexcept
      : index_(std::exchange(other.index_, npos)),
        load_(std::exchange(other.load_, nullptr)),
        total_(std::exchange(other.total_, nullptr)),
        hook_(std::exchange(other.hook_, nullptr)) {}
  backend_lease& operator=(backend_lease&& other) noexcept {
    if (this != &other) {
      release();
      index_ = std::exchange(other.index_, npos);
      load_ = std::exchange(other.load_, nullptr);
      total_ = std::exchange(other.total_, nullptr);
      hook_ = std::exchange(other.hook_, nullptr);
    }
    return *this;
  }
  ~backend_lease() { release(); }

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// The backend this lease is for (`npos` when empty). Stays valid after
  /// `release()` so the caller can still log it.
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  /// Same as `index()`: a lease reads like the index it carries.
  [[nodiscard]] operator std::size_t() const noexcept { return index_; }
  /// True while the lease still holds its unit of load.
  [[nodiscard]] bool active() const noexcept { return load_ != nullptr || hook_ != nullptr; }

  /// Gives the unit of load back now (idempotent). Lock-free; O(1) except
  /// where the issuing policy documents otherwise (least_connections).
  void release() noexcept {
    if (load_) load_->fetch_sub(1, std::memory_order_release);
    if (total_) total_->fetch_sub(1, std::memory_order_release);
    if (hook_) hook_->give_back(hook_, index_);
    load_ = nullptr;
    total_ = nullptr;
    hook_ = nullptr;
  }

 private:
  std::size_t index_ = npos;
  std::atomic<std::int64_t>* load_ = nullptr;
  std::atomic<std::int64_t>* total_ = nullptr;
  detail::lease_hook* hook_ = nullptr;
};

}  // namespace surge

namespace surge::detail {

/// The most backends a policy accepts (indices are stored in 32 bits and the
/// bounded sampler multiplies 32-bit halves).
inline constexpr std::size_t max_backends = std::numeric_limits<std::uint32_t>::max();

/// Throws std::invalid_argument naming `what` unless 1 <= n <= max_backends.
inline std::size_t check_count(std::size_t n, const char* what) {
  if (n == 0) throw std::invalid_argument(std::string(what) + ": the backend set must not be empty");
  if (n > max_backends) throw std::invalid_argument(std::string(what) + ": too many backends (max 2^32 - 1)");
  return n;
}

/// Validated copy of a weight list: non-empty, every weight finite and > 0.
/// Throws std::invalid_argument naming `what` and the offending index.
inline std::vector<double> check_weights(std::span<const double> weights, const char* what) {
  check_count(weights.size(), what);
  std::vector<double> out(weights.begin(), weights.end());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!(out[i] > 0) || !std::isfinite(out[i]))
      throw std::invalid_argument(std::string(what) + ": weight[" + std::to_string(i) +
                                  "] must be positive and finite");
  }
  return out;
}

/// Throws std::invalid_argument naming `what` unless w is finite and > 0.
inline double check_weight(double w, const char* what) {
  if (!(w > 0) || !std::isfinite(w))
    throw std::invalid_argument(std::string(what) + ": weight must be positive and finite");
  return w;
}

/// Smallest k in [0, 52] such that every w·2^k is an integer (the weights
/// are multiples of 2^-k: integers, 2.5, 0.75, ...); -1 if there is none.
/// Scaled by 2^k such weights compare and add exactly as integers, which is
/// what double arithmetic on them gives while the results stay below 2^53.
[[nodiscard]] inline int dyadic_shift(std::span<const double> weights) noexcept {
  int k = 0;
  for (double w : weights) {
    while (k <= 52 && std::ldexp(w, k) != std::floor(std::ldexp(w, k))) ++k;
    if (k > 52) return -1;
  }
  return k;
}

/// Up/down flags of a fixed number of backends plus the count of those up.
/// A backend is *usable* when it is up, or when none is up: that is Envoy's
/// panic mode, shared by every policy (when everything is down, balancing
/// ignores health rather than failing). Lock-free: flags are relaxed atomics,
/// so a pick racing a `set` sees either state.
class health_set {
 public:
  explicit health_set(std::size_t n) : flags_(new std::atomic<std::uint8_t>[n]), size_(n), up_(n) {
    for (std::size_t i = 0; i < n; ++i) flags_[i].store(1, std::memory_order_relaxed);
  }
  /// A copy of `other` grown to `n` backends (the new ones up). Not
  /// thread-safe against concurrent `set` on `other` (callers hold their
  /// writer lock).
  health_set(const health_set& other, std::size_t n) : flags_(new std::atomic<std::uint8_t>[n]), size_(n), up_(0) {
    std::size_t up = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t f = i < other.size_ ? other.flags_[i].load(std::memory_order_relaxed) : 1;
      flags_[i].store(f, std::memory_order_relaxed);
      up += f;
    }
    up_.store(up, std::memory_order_relaxed);
  }

  /// Marks backend i up or down; false when i is out of range. Concurrent
  /// `set` calls for the same index are serialised by an exchange.
  bool set(std::size_t i, bool up) noexcept {
    if (i >= size_) return false;
    const std::uint8_t was = flags_[i].exchange(up ? 1 : 0, std::memory_order_acq_rel);
    if (was && !up) up_.fetch_sub(1, std::memory_order_acq_rel);
    if (!was && up) up_.fetch_add(1, std::memory_order_acq_rel);
    return true;
  }
  [[nodiscard]] bool up(std::size_t i) const noexcept {
    return i < size_ && flags_[i].load(std::memory_order_relaxed) != 0;
  }
  [[nodiscard]] std::size_t up_count() const noexcept { return up_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool all_up() const noexcept { return up_count() == size_; }
  [[nodiscard]] bool panic() const noexcept { return up_count() == 0; }
  /// Up, or everything is down (panic mode).
  [[nodiscard]] bool usable(std::size_t i) const noexcept { return up(i) || panic(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  std::unique_ptr<std::atomic<std::uint8_t>[]> flags_;
  std::size_t size_;
  std::atomic<std::size_t> up_;
};

/// Reader / writer slots per policy instance: threads are spread over this
/// many cache-line-padded slots by `thread_slot()`.
inline constexpr std::size_t slot_count = 16;

/// Registers the calling thread and returns its small id: the smallest id no
/// live thread holds (ids are recycled when a thread exits), so while at most
/// `slot_count` threads are alive each owns its slot alone. After the thread's
/// registration is torn down (its thread_local destructors), `*cache` is set
/// to an id >= slot_count, i.e. a shared slot. Cold path: a mutex.
inline std::size_t register_thread(std::size_t* cache) {
  struct registry {
    std::mutex m;
    std::vector<std::size_t> free;
    std::size_t next = 0;
  };
  static registry* r = new registry;  // never destroyed: threads may exit after static destruction
  struct registration {
    std::size_t id;
    std::size_t* cache;
    ~registration() {
      *cache = slot_count + id + 1;  // any later use takes a shared slot
      std::lock_guard<std::mutex> lock(r->m);
      r->free.push_back(id);
    }
  };
  std::size_t id;
  {
    std::lock_guard<std::mutex> lock(r->m);
    if (r->free.empty()) {
      id = r->next++;
    } else {
      const auto it = std::min_element(r->free.begin(), r->free.end());
      id = *it;
      r->free.erase(it);
    }
  }
  thread_local registration reg{id, cache};
  return id;
}

/// The calling thread's small id (see register_thread): ids below
/// `slot_count` belong to one live thread only. O(1) after the first call.
inline std::size_t thread_slot() noexcept {
  thread_local std::size_t id_plus_one = 0;  // constant-initialised: no TLS guard on the hot path
  if (id_plus_one == 0) id_plus_one = register_thread(&id_plus_one) + 1;
  return id_plus_one - 1;
}

/// SplitMix64 streams, one per thread slot, each on its own cache lines:
/// `next()` advances the calling thread's slot with a relaxed load and store
/// (no read-modify-write, no shared line between the first 16 threads), then
/// applies the mix64 finaliser. Threads that share a slot (more than 16) may
/// occasionally draw the same number — harmless for balancing, and never a
/// data race. Deterministic: one thread (the first to use any slot-spread
/// structure gets slot 0) sees the same sequence on every run for a seed.
class sharded_splitmix {
 public:
  explicit sharded_splitmix(std::uint64_t seed) noexcept {
    for (std::size_t k = 0; k < slot_count; ++k)
      slots_[k].value.store(mix64(seed + k * 0xda942042e4dd58b5ULL), std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t next() noexcept {
    auto& s = slots_[thread_slot() % slot_count].value;
    const std::uint64_t x = s.load(std::memory_order_relaxed) + gamma;
    s.store(x, std::memory_order_relaxed);
    return mix64(x);
  }

 private:
  static constexpr std::uint64_t gamma = 0x9e3779b97f4a7c15ULL;
  padded<std::atomic<std::uint64_t>> slots_[slot_count];
};

/// 64 random bits from any UniformRandomBitGenerator (two draws when it gives
/// 32 bits or fewer).
template <class URBG>
[[nodiscard]] std::uint64_t random_bits(URBG& g) {
  using R = typename std::remove_reference_t<URBG>::result_type;
  if constexpr (std::remove_reference_t<URBG>::min() == 0 &&
                std::remove_reference_t<URBG>::max() == std::numeric_limits<std::uint64_t>::max()) {
    return static_cast<std::uint64_t>(g());
  } else {
    // Fold several draws; fine for a balancer (not a cryptographic use).
    std::uint64_t x = 0;
    for (int i = 0; i < 3; ++i) x = mix64(x ^ static_cast<std::uint64_t>(static_cast<R>(g())));
    return x;
  }
}

/// Maps 32 random bits (the high half of r) onto [0, n), n < 2^32, by a
/// multiply-shift (Lemire); bias at most n / 2^32.
[[nodiscard]] constexpr std::size_t bounded(std::uint64_t r, std::size_t n) noexcept {
  return static_cast<std::size_t>(((r >> 32) * static_cast<std::uint64_t>(n)) >> 32);
}

/// Draws a uniformly random *usable* backend: rejection sampling (up to 16
/// tries), then a uniform pick among the usable ones by one linear scan, so
/// the result is exactly uniform over the backends that are up (over all of
/// them in panic mode). `draw()` returns 64 random bits.
template <class Draw>
[[nodiscard]] std::size_t sample_usable(const health_set& health, Draw&& draw) {
  const std::size_t n = health.size();
  if (health.all_up() || health.panic()) return bounded(draw(), n);
  for (int t = 0; t < 16; ++t) {
    const std::size_t i = bounded(draw(), n);
    if (health.up(i)) return i;
  }
  const std::size_t up = health.up_count();
  if (up == 0) return bounded(draw(), n);  // everything went down meanwhile: panic
  std::size_t k = bounded(draw(), up);
  for (std::size_t i = 0; i < n; ++i) {
    if (health.up(i) && k-- == 0) return i;
  }
  return bounded(draw(), n);  // flags changed under us: any answer is acceptable
}

/// RCU-like publication of an immutable T. Readers enter a read section (one
/// atomic increment of a per-thread-slot counter under the current phase,
/// then one load of the current pointer; a decrement on exit) and never
/// block or retry; `publish` swaps in a new value
/// and then waits for a grace period — two phase flips, each waiting until the
/// readers counted under the old phase have left — before the old value is
/// dropped. Each of the first 16 live threads owns a cache-line-padded
/// counter slot (its exit is a plain store); further threads share 16 more
/// slots with read-modify-writes.
///
/// Why not `std::atomic<std::shared_ptr<const T>>`: libstdc++ 12 implements its
/// load with a lock bit (a reader spins while another thread loads or
/// stores), and every load also bumps the shared reference count, one
/// contended line for all readers; `bench/balance_bench.cpp` measures both.
///
/// Thread safety: `read`/`load` lock-free, from any threads; `publish` is
/// thread-safe (writers serialise on a mutex) and blocks only the writer.
/// `load()` hands out a `std::shared_ptr` that keeps a snapshot alive past
/// the next publish.
template <class T>
class snapshot_cell {
 public:
  explicit snapshot_cell(std::shared_ptr<const T> initial) : current_(make_node(std::move(initial))) {}
  snapshot_cell(const snapshot_cell&) = delete;
  snapshot_cell& operator=(const snapshot_cell&) = delete;
  ~snapshot_cell() { delete current_.load(std::memory_order_relaxed); }

  /// Calls f(const T&) inside a read section and returns its result. f must
  /// not call `publish` on this cell.
  template <class F>
  decltype(auto) read(F&& f) const {
    return read_node([&f](const node& n) -> decltype(auto) { return std::forward<F>(f)(*n.raw); });
  }

  /// The current value, kept alive by the returned pointer.
  [[nodiscard]] std::shared_ptr<const T> load() const {
    return read_node([](const node& n) { return n.value; });
  }

  /// Replaces the value; returns after no reader can still see the old one.
  void publish(std::shared_ptr<const T> next) {
    std::lock_guard<std::mutex> lock(writer_);
    const node* old = current_.exchange(make_node(std::move(next)), std::memory_order_seq_cst);
    for (int round = 0; round < 2; ++round) {
      const unsigned phase = phase_.fetch_xor(1U, std::memory_order_seq_cst) & 1U;
      for (std::size_t s = 0; s < 2 * slot_count; ++s) {
        for (unsigned spins = 0; slots_[s].readers[phase].load(std::memory_order_seq_cst) != 0; ++spins) {
          if (spins > 64) std::this_thread::yield();
        }
      }
    }
    delete old;
  }

 private:
  struct node {
    std::shared_ptr<const T> value;
    const T* raw;  // value.get(), one load closer
  };
  static node* make_node(std::shared_ptr<const T> v) {
    const T* raw = v.get();
    return new node{std::move(v), raw};
  }
  // Slots [0, slot_count) belong to one live thread each (thread_slot ids
  // are recycled), so their exit is a plain release store; threads beyond
  // that share slots [slot_count, 2·slot_count) with read-modify-writes.
  template <class F>
  decltype(auto) read_node(F&& f) const {
    const std::size_t id = thread_slot();
    const bool own = id < slot_count;
    auto& slot = slots_[own ? id : slot_count + id % slot_count];
    const unsigned phase = phase_.load(std::memory_order_seq_cst) & 1U;
    std::atomic<std::uint32_t>& c = slot.readers[phase];
    c.fetch_add(1, std::memory_order_seq_cst);
    struct exit_guard {
      std::atomic<std::uint32_t>& c;
      bool own;
      ~exit_guard() {
        if (own) {
          c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_release);
        } else {
          c.fetch_sub(1, std::memory_order_release);
        }
      }
    } guard{c, own};
    return std::forward<F>(f)(*current_.load(std::memory_order_seq_cst));
  }

  struct alignas(destructive_interference_size) reader_slot {
    std::atomic<std::uint32_t> readers[2] = {0, 0};
  };

  std::atomic<const node*> current_;
  alignas(destructive_interference_size) std::atomic<unsigned> phase_{0};
  mutable reader_slot slots_[2 * slot_count];
  std::mutex writer_;
};

/// What every rebuildable table (ring, Maglev) carries besides its lookup
/// structure: the weights it was built from (0 = a removed backend), their
/// health flags and the count of backends not removed. Health flags change in
/// place (atomics); everything else is immutable once published.
struct weighted_table_base {
  std::vector<double> weight;
  mutable health_set health;
  std::size_t live = 0;

  /// Flags carried over from `old` (if any), removed backends marked down so
  /// they never count as up.
  weighted_table_base(std::vector<double> w, const health_set* old)
      : weight(std::move(w)), health(old ? health_set(*old, weight.size()) : health_set(weight.size())) {
    for (std::size_t i = 0; i < weight.size(); ++i) {
      if (weight[i] == 0) {
        health.set(i, false);
      } else {
        ++live;
      }
    }
  }
};

/// The mutable face of a rebuildable policy: the published snapshot, the
/// writer's view of it, and add / remove / re-weight / health operations that
/// rebuild through `build(weights, old_health*) -> std::shared_ptr<const
/// Table>` (Table derives from weighted_table_base) and publish the result.
/// Mutators are serialised by a mutex and give the strong guarantee (a build
/// that throws changes nothing); readers go through `read` and never block.
template <class Table>
class table_publisher {
 public:
  explicit table_publisher(std::shared_ptr<const Table> initial) : cell_(initial), current_(std::move(initial)) {}

  template <class F>
  decltype(auto) read(F&& f) const {
    return cell_.read(std::forward<F>(f));
  }

  template <class Build>
  std::size_t add(double weight, Build&& build, const char* what) {
    check_weight(weight, what);
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<double> w = current_->weight;
    w.push_back(weight);
    republish(std::move(w), build);
    return current_->weight.size() - 1;
  }
  template <class Build>
  bool remove(std::size_t i, Build&& build) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!present(i) || current_->live == 1) return false;
    std::vector<double> w = current_->weight;
    w[i] = 0;
    republish(std::move(w), build);
    return true;
  }
  template <class Build>
  bool reweight(std::size_t i, double weight, Build&& build, const char* what) {
    check_weight(weight, what);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!present(i)) return false;
    std::vector<double> w = current_->weight;
    w[i] = weight;
    republish(std::move(w), build);
    return true;
  }
  bool set_healthy(std::size_t i, bool up) {
    std::lock_guard<std::mutex> lock(mutex_);
    return present(i) && current_->health.set(i, up);
  }
  [[nodiscard]] bool healthy(std::size_t i) const {
    return read([i](const Table& t) { return t.health.up(i); });
  }
  [[nodiscard]] std::size_t size() const {
    return read([](const Table& t) { return t.weight.size(); });
  }
  [[nodiscard]] std::size_t live() const {
    return read([](const Table& t) { return t.live; });
  }
  [[nodiscard]] std::shared_ptr<const Table> snapshot() const { return cell_.load(); }

 private:
  bool present(std::size_t i) const noexcept { return i < current_->weight.size() && current_->weight[i] != 0; }
  template <class Build>
  void republish(std::vector<double> w, Build& build) {
    std::shared_ptr<const Table> next = build(std::move(w), &current_->health);
    cell_.publish(next);
    current_ = std::move(next);
  }

  snapshot_cell<Table> cell_;
  std::shared_ptr<const Table> current_;
  std::mutex mutex_;
};

/// A pinned table of a rebuildable policy (ring, Maglev): `pick(key)` on it
/// is the bare table lookup — no read section — for loops that pick many keys
/// (one `snapshot()` per batch). It keeps its table alive; it sees health
/// changes made until the policy's next rebuild and none after (take a new
/// snapshot then). Thread safety: immutable apart from health flags; `pick`
/// from any threads.
template <class Table, class Hash>
class table_view {
 public:
  table_view(std::shared_ptr<const Table> table, Hash hash) : table_(std::move(table)), hash_(std::move(hash)) {}
  template <class K>
  [[nodiscard]] std::size_t pick(const K& key) const {
    return table_->pick(static_cast<std::uint64_t>(hash_(key)));
  }
  /// Indices issued when the table was built (removed ones included).
  [[nodiscard]] std::size_t size() const noexcept { return table_->weight.size(); }

 private:
  std::shared_ptr<const Table> table_;
  Hash hash_;
};

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_COMMON_HPP
