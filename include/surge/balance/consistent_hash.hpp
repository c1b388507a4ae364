/// @file surge/balance/consistent_hash.hpp
/// A consistent-hash ring with virtual nodes (ketama style), weights, health,
/// and an optional bounded-load mode (consistent hashing with bounded loads,
/// Mirrokni, Thorup & Zadimoghaddam; HAProxy's `hash-balance-factor`).
#ifndef SURGE_BALANCE_CONSISTENT_HASH_HPP
#define SURGE_BALANCE_CONSISTENT_HASH_HPP

#include <surge/balance/backend_lease.hpp>
#include <surge/balance/detail/key_position.hpp>
#include <surge/balance/detail/snapshot.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/balance/key_hash.hpp>
#include <surge/balance/table_view.hpp>
#include <surge/balance/weights.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/hash.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace surge {

/// Options of `consistent_hash_ring` (designated initialisers).
struct consistent_hash_options {
  /// Virtual nodes (ring points) per unit of weight; ketama uses 160. More
  /// points, more even: measured max/mean over 10 backends is in
  /// docs/balance.md.
  std::size_t vnodes_per_weight = 160;
  /// ε of the bounded-load mode: `pick_bounded` caps every backend at
  /// ceil(average in-flight · (1 + ε)). 0 disables `pick_bounded`.
  double load_factor = 0.25;
  /// Seed of the point positions.
  std::uint64_t seed = 0;
  /// Most ring points in total (the sum over backends of max(1, round(weight
  /// · vnodes_per_weight))), at most 2^32 − 1; a construction, add_backend or
  /// set_weight that needs more throws std::invalid_argument naming it. The
  /// default, 2^24 points, is about 220 MB of table.
  std::size_t max_points = std::size_t{1} << 24;
};

/// Consistent-hash ring. Backend i with weight w owns max(1, round(w ·
/// vnodes_per_weight)) points at positions mix64(b_i + r·c), r = 0, 1, ...,
/// with b_i = mix64(seed + (i + 1)·φ) and c = 0xd1b54a32d192ed03; `pick(key)` hashes the key with Hash and returns the
/// owner of the first point clockwise (at or after the key's position,
/// wrapping), walking further past backends marked down. So adding a backend
/// moves only keys onto it, removing or marking one down moves only its own
/// keys, and marking it up again brings them back. All down: panic mode
/// (health ignored).
///
/// Bounded load (`pick_bounded`): the key walks clockwise past backends whose
/// in-flight count has reached the capacity ceil((in-flight total + 1) ·
/// (1 + ε) / backends up) and leases the first one below it; the lease holds
/// the unit of load until released. No backend ever exceeds the capacity
/// computed at the time of its pick. A capacity of 2^63 or more (a huge ε)
/// saturates at INT64_MAX: no cap.
///
/// Snapshots: the sorted points live in an immutable table; `add_backend` /
/// `remove_backend` build a new one and publish it RCU-style
/// (an atomic pointer with deferred reclamation): picks never block, never see a half-built
/// table, and a writer waits only for picks already running.
///
/// Complexity: `pick` O(1) expected for P points (a radix index on the top
/// bits, then a binary search over about four points) (+ the walk past down
/// backends); `pick_bounded` the same plus the walk past full backends;
/// `add_backend`/`remove_backend`/`set_weight` O(N + P log P), N the indices
/// issued (removed ones are not reused). Memory about 13 bytes per point
/// (position, owner, and a radix index over the top bits of the positions)
/// plus about 25 bytes per index issued (weight, health flag, in-flight
/// count and its address).
/// Thread safety: `pick`, `pick_bounded`, lease release, `healthy`, `load`
/// are lock-free from any threads; `set_healthy` is thread-safe but takes
/// the writer's mutex, so it waits for a rebuild in progress; `add_backend`,
/// `remove_backend` are thread-safe (serialised by a mutex; they block no
/// reader). Keys are placed by their Hash's value, mixed (SplitMix64) for
/// any Hash but surge::key_hash, so a Hash that does not mix, such as
/// std::hash of an integer, still spreads. Leases may outlive the ring (see `backend_lease`).
/// Bad input: n == 0, bad weights (empty, <= 0, not finite),
/// vnodes_per_weight == 0, max_points 0 or above 2^32 − 1, a negative /
/// non-finite load_factor, or weights that need more than max_points points
/// (e.g. weight 10^6 at 160 vnodes: 1.6·10^8 points) throw
/// std::invalid_argument, before anything is allocated; `set_healthy` / `remove_backend` on an unknown or
/// removed index return false; `pick_bounded` with load_factor 0 falls back to
/// an unbounded lease.
template <class Hash = key_hash>
class consistent_hash_ring {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T>
  explicit consistent_hash_ring(const T& n, consistent_hash_options options = {}, Hash hash = Hash())
      : consistent_hash_ring(detail::refuse_count(n), options, std::move(hash)) {}
  /// n backends of weight 1 (`consistent_hash_ring<> r{3}` too: three).
  explicit consistent_hash_ring(std::size_t n, consistent_hash_options options = {}, Hash hash = Hash())
      : consistent_hash_ring(std::vector<double>(check_count(n, options), 1.0), options, std::move(hash)) {}
  /// Weighted: `consistent_hash_ring<> r(surge::weights{5, 1, 1})`.
  explicit consistent_hash_ring(const weights& w, consistent_hash_options options = {}, Hash hash = Hash())
      : consistent_hash_ring(std::vector<double>(w.begin(), w.end()), options, std::move(hash)) {}
  consistent_hash_ring(const consistent_hash_ring&) = delete;
  consistent_hash_ring& operator=(const consistent_hash_ring&) = delete;
  /// Live bounded-mode leases stay valid (see `backend_lease`).
  ~consistent_hash_ring() = default;

  /// The owner of the first usable point clockwise of the key.
  template <class K>
  [[nodiscard]] std::size_t pick(const K& key) const {
    const std::uint64_t h = detail::key_position(hash_, key);
    return tables_.read([h](const table& t) { return t.pick(h); });
  }

  /// A lease on the first usable backend clockwise of the key whose load is
  /// below the bounded-load capacity.
  template <class K>
  [[nodiscard]] backend_lease pick_bounded(const K& key) {
    const std::uint64_t h = detail::key_position(hash_, key);
    return tables_.read([&](const table& t) { return t.pick_bounded(h, options_.load_factor, *loads_); });
  }

  /// Adds a backend with the given weight; returns its index (indices are
  /// never reused). Throws std::invalid_argument on a bad weight.
  std::size_t add_backend(double weight = 1.0) {
    return tables_.add(weight, builder(), "consistent_hash_ring::add_backend: weight");
  }
  /// Removes backend i (its points go; its index stays retired). False if i
  /// is unknown, already removed, or the last backend left.
  bool remove_backend(std::size_t i) { return tables_.remove(i, builder()); }
  /// Changes backend i's weight (its points are regenerated; keys move only
  /// between it and the others). Throws std::invalid_argument on a bad weight;
  /// false if i is unknown or removed.
  bool set_weight(std::size_t i, double weight) {
    return tables_.reweight(i, weight, builder(), "consistent_hash_ring::set_weight: weight");
  }
  /// Marks backend i up or down (no rebuild). False if unknown or removed.
  bool set_healthy(std::size_t i, bool up) { return tables_.set_healthy(i, up); }
  /// True when backend i is marked up (false for an index never issued).
  /// Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const { return tables_.healthy(i); }
  /// Indices issued so far (removed ones included).
  [[nodiscard]] std::size_t size() const { return tables_.size(); }
  /// Backends present (not removed).
  [[nodiscard]] std::size_t live() const { return tables_.live(); }
  /// Ring points in the current table.
  [[nodiscard]] std::size_t points() const {
    return tables_.read([](const table& t) { return t.point.size(); });
  }
  /// In-flight bounded-mode leases on backend i.
  [[nodiscard]] std::int64_t load(std::size_t i) const {
    return tables_.read([i](const table& t) {
      return i < t.load.size() ? t.load[i]->load(std::memory_order_acquire) : std::int64_t{0};
    });
  }
  /// The bounded-load capacity the next `pick_bounded` would apply
  /// (saturated at INT64_MAX; INT64_MAX, no cap, with load_factor 0).
  [[nodiscard]] std::int64_t capacity() const {
    return tables_.read([this](const table& t) {
      return t.capacity(loads_->total.load(std::memory_order_acquire), options_.load_factor);
    });
  }
  /// The options given at construction.
  [[nodiscard]] const consistent_hash_options& options() const noexcept { return options_; }
  /// The current table, pinned: its `pick(key)` skips the read section
  /// (see table_view). O(1); lock-free.
  [[nodiscard]] table_view<consistent_hash_ring> snapshot() const {
    return table_view<consistent_hash_ring>(tables_.snapshot(), hash_);
  }

 private:
  friend class table_view<consistent_hash_ring>;
  using hash_type = Hash;
  // The in-flight counts, shared with the live leases (see backend_lease):
  // `total` is the lifetime counter, `load` per backend (stable addresses;
  // grows under the publisher's mutex).
  struct loads_block final : detail::lease_block {
    std::deque<std::atomic<std::int64_t>> load;
    alignas(detail::destructive_interference_size) std::atomic<std::int64_t> total{0};
    void close() noexcept { orphan(this, &total, 1); }
  };

  struct point_t {
    std::uint64_t hash;
    std::uint32_t owner;
  };
  struct table : detail::weighted_table_base {
    std::vector<std::uint64_t> point;  // sorted positions
    std::vector<std::uint32_t> owner;  // owner[k] owns point[k]
    std::vector<std::atomic<std::int64_t>*> load;

    using weighted_table_base::weighted_table_base;

    std::vector<std::uint32_t> index;  // index[j]: first point >= j << shift; index.back() = points
    unsigned shift = 63;

    // The first point at or clockwise after h: a radix step on the top bits
    // narrows the search to about four points, halved without a branch (a
    // conditional move: the mispredicted jumps of std::lower_bound cost more
    // than the rest of the pick).
    std::size_t first(std::uint64_t h) const noexcept {
      const std::size_t b = static_cast<std::size_t>(h >> shift);
      std::size_t at = index[b], len = index[b + 1] - at;
      const std::uint64_t* p = point.data();
      while (len > 1) {
        const std::size_t half = len / 2;
        at = p[at + half - 1] < h ? at + half : at;
        len -= half;
      }
      at += (len == 1 && p[at] < h) ? 1 : 0;
      return at == point.size() ? 0 : at;
    }
    std::size_t pick(std::uint64_t h) const noexcept {
      const std::size_t start = first(h);
      if (health.all_up() || health.panic()) return owner[start];
      const std::size_t p = point.size();
      for (std::size_t k = 0, at = start; k < p; ++k, at = (at + 1 == p ? 0 : at + 1))
        if (health.up(owner[at])) return owner[at];
      return owner[start];
    }
    std::int64_t capacity(std::int64_t total, double eps) const noexcept {
      if (eps <= 0) return std::numeric_limits<std::int64_t>::max();  // load_factor 0: pick_bounded has no cap
      const std::size_t counted = health.up_count();  // read once: a racing set_healthy may reach 0
      const std::size_t up = counted == 0 ? live : std::min(live, counted);
      const double avg = static_cast<double>(total + 1) / static_cast<double>(up);
      const double cap = std::ceil(avg * (1.0 + eps));
      // Saturated: 2^63 and beyond (a huge eps) is no cap at all.
      return cap < 0x1p63 ? static_cast<std::int64_t>(cap) : std::numeric_limits<std::int64_t>::max();
    }
    backend_lease pick_bounded(std::uint64_t h, double eps, loads_block& block) const noexcept {
      std::atomic<std::int64_t>& total = block.total;
      const std::size_t start = first(h);
      const std::size_t p = point.size();
      if (eps <= 0) {
        const std::size_t o = pick(h);
        load[o]->fetch_add(1, std::memory_order_acq_rel);
        total.fetch_add(1, std::memory_order_acq_rel);
        return detail::lease_factory::make(o, &block, &total, 1, load[o]);
      }
      for (;;) {
        // read each pass: the last up backend may go down mid-pick
        const bool panic = health.panic();
        const std::int64_t cap = capacity(total.load(std::memory_order_acquire), eps);
        for (std::size_t k = 0, at = start; k < p; ++k, at = (at + 1 == p ? 0 : at + 1)) {
          const std::uint32_t o = owner[at];
          if (!panic && !health.up(o)) continue;
          std::int64_t cur = load[o]->load(std::memory_order_acquire);
          while (cur < cap) {
            if (load[o]->compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) {
              total.fetch_add(1, std::memory_order_acq_rel);
              return detail::lease_factory::make(o, &block, &total, 1, load[o]);
            }
          }
        }
        // Every usable backend was full under a racing update: recompute.
      }
    }
  };

  static consistent_hash_options check(consistent_hash_options o) {
    if (o.vnodes_per_weight == 0) throw std::invalid_argument("consistent_hash_ring: vnodes_per_weight must be > 0");
    if (o.max_points == 0 || o.max_points > detail::max_backends)
      throw std::invalid_argument("consistent_hash_ring: max_points must be in [1, 2^32 - 1]");
    if (!(o.load_factor >= 0) || !std::isfinite(o.load_factor))
      throw std::invalid_argument("consistent_hash_ring: load_factor must be finite and >= 0");
    return o;
  }

  // n backends of weight 1 own n · vnodes_per_weight points: refused beyond
  // max_points before the n weights are allocated (n may be 2^32 − 1).
  static std::size_t check_count(std::size_t n, const consistent_hash_options& o) {
    detail::check_count(n, "consistent_hash_ring: n");
    if (n > check(o).max_points / o.vnodes_per_weight)
      throw std::invalid_argument("consistent_hash_ring: n = " + std::to_string(n) + " backends of " +
                                  std::to_string(o.vnodes_per_weight) +
                                  " points (vnodes_per_weight) are above max_points (" + std::to_string(o.max_points) +
                                  " points)");
    return n;
  }

  // Builds the table for weights w (0 = removed); runs under the
  // publisher's mutex (or in the constructor). `old` supplies health flags.
  std::shared_ptr<const table> build(std::vector<double> w, const detail::health_set* old) {
    if (w.size() > detail::max_backends) throw std::length_error("consistent_hash_ring: too many backends");
    // Points per backend, refused beyond max_points before anything is
    // allocated (and before llround could overflow).
    std::vector<std::size_t> count(w.size(), 0);
    std::size_t total_points = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (w[i] == 0) continue;
      const double want = w[i] * static_cast<double>(options_.vnodes_per_weight);
      if (!(want < static_cast<double>(options_.max_points) + 0.5)) throw_too_many_points(i, w[i]);
      count[i] = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(want)));
      total_points += count[i];
      if (total_points > options_.max_points) throw_too_many_points(i, w[i]);
    }
    auto t = std::make_shared<table>(std::move(w), old);
    while (loads_->load.size() < t->weight.size()) loads_->load.emplace_back(0);
    std::vector<point_t> pts;
    pts.reserve(total_points);
    for (std::size_t i = 0; i < t->weight.size(); ++i) {
      t->load.push_back(&loads_->load[i]);
      if (t->weight[i] == 0) continue;
      const std::uint64_t base = detail::mix64(options_.seed + (i + 1) * 0x9e3779b97f4a7c15ULL);
      for (std::size_t r = 0; r < count[i]; ++r)
        pts.push_back({detail::mix64(base + r * 0xd1b54a32d192ed03ULL), static_cast<std::uint32_t>(i)});
    }
    std::sort(pts.begin(), pts.end(), [](const point_t& a, const point_t& b) {
      return a.hash != b.hash ? a.hash < b.hash : a.owner < b.owner;
    });
    t->point.reserve(pts.size());
    t->owner.reserve(pts.size());
    for (const auto& pt : pts) {
      t->point.push_back(pt.hash);
      t->owner.push_back(pt.owner);
    }
    unsigned bits = 1;
    while (bits < 24 && (std::size_t{1} << (bits + 2)) < t->point.size()) ++bits;
    t->shift = 64 - bits;
    t->index.resize((std::size_t{1} << bits) + 1);
    std::size_t at = 0;
    for (std::size_t j = 0; j < (std::size_t{1} << bits); ++j) {
      const std::uint64_t lower = static_cast<std::uint64_t>(j) << t->shift;
      while (at < t->point.size() && t->point[at] < lower) ++at;
      t->index[j] = static_cast<std::uint32_t>(at);
    }
    t->index.back() = static_cast<std::uint32_t>(t->point.size());
    return t;
  }
  [[noreturn]] void throw_too_many_points(std::size_t i, double weight) const {
    throw std::invalid_argument(
        "consistent_hash_ring: weights: weight[" + std::to_string(i) + "] = " + std::to_string(weight) +
        " brings the ring above max_points (" + std::to_string(options_.max_points) +
        " points, summed weight · vnodes_per_weight = " + std::to_string(options_.vnodes_per_weight) + " per unit)");
  }
  auto builder() {
    return [this](std::vector<double> w, const detail::health_set* old) { return build(std::move(w), old); };
  }

  consistent_hash_ring(std::vector<double> w, consistent_hash_options options, Hash hash)
      : options_(check(options)),
        hash_(std::move(hash)),
        loads_(new loads_block),
        tables_(build(detail::check_weights(w, "consistent_hash_ring: weights"), nullptr)) {}

  consistent_hash_options options_;
  Hash hash_;
  std::unique_ptr<loads_block, detail::lease_block_closer> loads_;
  detail::table_publisher<table> tables_;
};

}  // namespace surge

#endif  // SURGE_BALANCE_CONSISTENT_HASH_HPP
