/// @file surge/balance/maglev.hpp
/// Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
/// Network Load Balancer", NSDI 2016), weighted as Envoy does.
#ifndef SURGE_BALANCE_MAGLEV_HPP
#define SURGE_BALANCE_MAGLEV_HPP

#include <surge/balance/detail/key_position.hpp>
#include <surge/balance/detail/snapshot.hpp>
#include <surge/balance/detail/streams.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/balance/key_hash.hpp>
#include <surge/balance/table_view.hpp>
#include <surge/balance/weights.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/hash.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace surge {

namespace detail {

/// The paper's population step (its Pseudocode 1), weighted the way Envoy
/// does it: backend i has the preference list permutation[i][j] = (offset_i +
/// j·skip_i) mod M; in turn, each backend takes its next preferred slot that
/// is still empty, until all M slots are full. With weights, in round r
/// backend i takes a turn only while its filled count is at most
/// (w_i / max w)·r, so it ends with about that share of the table; weight 0
/// (removed) takes no turn. Equal weights give exactly the paper's table.
/// M must exceed 0 and every skip must be in [1, M) with M prime (or coprime
/// to every skip) so each preference list is a permutation. O(M log M)
/// expected for equal weights.
inline std::vector<std::uint32_t> maglev_populate(std::size_t table_size, std::span<const std::uint64_t> offset,
                                                  std::span<const std::uint64_t> skip, std::span<const double> weight) {
  const std::size_t n = offset.size();
  const double top = weight.empty() ? 0.0 : *std::max_element(weight.begin(), weight.end());
  constexpr std::uint32_t empty = ~std::uint32_t{0};
  std::vector<std::uint32_t> entry(table_size, empty);
  if (!(top > 0)) return entry;
  std::vector<std::uint64_t> next(n, 0);
  std::vector<std::uint64_t> taken(n, 0);
  std::size_t filled = 0;
  for (std::uint64_t round = 0; filled < table_size; ++round) {
    for (std::size_t i = 0; i < n && filled < table_size; ++i) {
      if (!(weight[i] > 0)) continue;
      if ((weight[i] / top) * static_cast<double>(round) < static_cast<double>(taken[i])) continue;
      std::uint64_t c = (offset[i] + next[i] * skip[i]) % table_size;
      while (entry[c] != empty) {
        ++next[i];
        c = (offset[i] + next[i] * skip[i]) % table_size;
      }
      entry[c] = static_cast<std::uint32_t>(i);
      ++next[i];
      ++taken[i];
      ++filled;
    }
  }
  return entry;
}

/// True when m is prime (trial division; m up to a few million is instant;
/// O(sqrt m), and d <= m / d never overflows, whatever m).
constexpr bool is_prime(std::uint64_t m) noexcept {
  if (m < 2) return false;
  for (std::uint64_t d = 2; d <= m / d; ++d)
    if (m % d == 0) return false;
  return true;
}

}  // namespace detail

/// Options of `maglev`.
struct maglev_options {
  /// M, the lookup table size: a prime, larger than the number of backends,
  /// at most 2^32 − 1.
  /// 0 (the default) chooses it from the backends given to the constructor:
  /// the smallest prime >= max(65537, 100·n), as the paper asks for a 1 %
  /// spread of shares, or the largest prime <= `max_table_size` when that is
  /// smaller. M then stays fixed (changing it would move almost every key):
  /// a set that will grow far past its initial size should give M here.
  std::size_t table_size = 0;
  /// Upper bound on the automatic table size (entries of 4 bytes each; the
  /// default, 2^24, is 64 MiB and gives 100·n up to 167,772 backends).
  std::size_t max_table_size = std::size_t{1} << 24;
  /// Seed of the per-backend offset and skip.
  std::uint64_t seed = 0;
};

/// Maglev consistent hashing: a lookup table of M entries filled by the
/// paper's permutation/population algorithm, so `pick(key)` is one hash and
/// one table load. Backend i's offset and skip come from mix64 of its index
/// and the seed; weights scale each backend's share of the table (Envoy's
/// weighted Maglev). Adding, removing or re-weighting a backend rebuilds the
/// table (moving, as the paper shows, slightly more than the minimal share
/// of keys — measured in docs/balance.md). Health does not rebuild: a key whose
/// entry is down probes the following entries until an up backend, so only
/// the down backend's keys move, and come back when it is up. All down:
/// panic mode (health ignored).
///
/// Snapshots: the table is immutable and published RCU-style
/// (an atomic pointer with deferred reclamation); picks never block; a rebuild waits only for
/// picks already running.
///
/// Complexity: `pick` O(1) (expected O(n / up) probes with backends down);
/// rebuild O(M log M) expected with even weights, up to O(M·n) when one
/// weight dwarfs the rest, over every index ever issued (removed backends'
/// indices are not reused: at most M − 1 indices in a table's life), M·4
/// bytes (M chosen as in `maglev_options::table_size`: 65537 up to 655
/// backends, then about 100·n). Thread safety: `pick`, `healthy` lock-free
/// from any threads; `set_healthy` thread-safe, taking the writer's mutex
/// (it waits for a rebuild in progress); `add_backend`, `remove_backend`,
/// `set_weight` thread-safe (a mutex; they block no reader). Keys are placed
/// by their Hash's value, mixed (SplitMix64) for any Hash but
/// surge::key_hash, so a Hash that does not mix still spreads. Bad input: n == 0, bad weights, a table size above 2^32 − 1
/// (or, when it is 0, a max_table_size above that), a table size that is
/// not prime or not larger than the number of backends throw
/// std::invalid_argument naming it (the size check comes first, so no
/// primality test of a huge size runs), and so does a max_table_size under
/// which no prime exceeds the number of backends, when table_size is 0;
/// `add_backend` past the table size throws std::length_error; mutators on
/// an unknown or removed index return false.
template <class Hash = key_hash>
class maglev {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T>
  explicit maglev(const T& n, maglev_options options = {}, Hash hash = Hash())
      : maglev(detail::refuse_count(n), options, std::move(hash)) {}
  /// n equally weighted backends (`maglev<> m{3}` too: three backends).
  explicit maglev(std::size_t n, maglev_options options = {}, Hash hash = Hash())
      : maglev(std::vector<double>(check_count(n, options), 1.0), options, std::move(hash)) {}
  /// Weighted backends: `maglev<> m(surge::weights{5, 1, 1})`.
  explicit maglev(const weights& w, maglev_options options = {}, Hash hash = Hash())
      : maglev(std::vector<double>(w.begin(), w.end()), options, std::move(hash)) {}

  template <class K>
  /// The backend for `key`: its hash's entry of the lookup table, probing past
  /// down backends (see the class comment). O(1) expected; lock-free.
  [[nodiscard]] std::size_t pick(const K& key) const {
    const std::uint64_t h = detail::key_position(hash_, key);
    return tables_.read([h](const table& t) { return t.pick(h); });
  }

  /// Adds a backend; returns its index (never reused). Rebuilds the table.
  std::size_t add_backend(double weight = 1.0) { return tables_.add(weight, builder(), "maglev::add_backend: weight"); }
  /// Removes backend i (index retired; rebuild). False if unknown, removed,
  /// or the last one.
  bool remove_backend(std::size_t i) { return tables_.remove(i, builder()); }
  /// Changes backend i's weight (rebuild). Throws std::invalid_argument on a
  /// bad weight; false if i is unknown or removed.
  bool set_weight(std::size_t i, double weight) {
    return tables_.reweight(i, weight, builder(), "maglev::set_weight: weight");
  }
  /// Marks backend i up or down (no rebuild). False if unknown or removed.
  bool set_healthy(std::size_t i, bool up) { return tables_.set_healthy(i, up); }
  /// True when backend i is marked up (false for an index never issued).
  /// Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const { return tables_.healthy(i); }
  /// Indices issued so far (removed ones included).
  [[nodiscard]] std::size_t size() const { return tables_.size(); }
  /// M, the lookup table's entries: a prime, fixed at construction (chosen
  /// then when maglev_options::table_size was 0).
  [[nodiscard]] std::size_t table_size() const noexcept { return options_.table_size; }
  /// The current table, pinned: its `pick(key)` is one hash and one load,
  /// without the read section (see table_view). O(1); lock-free.
  [[nodiscard]] table_view<maglev> snapshot() const { return table_view<maglev>(tables_.snapshot(), hash_); }
  /// A copy of the current lookup table (entry -> backend index).
  [[nodiscard]] std::vector<std::uint32_t> entries() const {
    return tables_.read([](const table& t) { return t.entry; });
  }

 private:
  friend class table_view<maglev>;
  using hash_type = Hash;
  struct table : detail::weighted_table_base {
    std::vector<std::uint32_t> entry;

    using weighted_table_base::weighted_table_base;

    std::size_t pick(std::uint64_t h) const noexcept {
      const std::size_t m = entry.size();
      std::size_t at = detail::bounded(h, m);  // the hash's top 32 bits scaled to [0, M)
      const std::uint32_t first = entry[at];
      if (health.all_up() || health.panic()) return first;
      for (std::size_t k = 0; k < m; ++k, at = (at + 1 == m ? 0 : at + 1))
        if (health.up(entry[at])) return entry[at];
      return first;
    }
  };

  static maglev_options check(maglev_options o, std::size_t n) {
    if (o.table_size > detail::max_backends)  // first: the primality test is O(sqrt M)
      throw std::invalid_argument("maglev: table_size too large (at most 2^32 - 1)");
    if (o.table_size == 0) {
      if (o.max_table_size > detail::max_backends)
        throw std::invalid_argument("maglev: max_table_size too large (at most 2^32 - 1)");
      std::size_t m = std::max<std::size_t>(65537, n > detail::max_backends / 100 ? detail::max_backends : 100 * n);
      while (m <= o.max_table_size && !detail::is_prime(m)) ++m;
      if (m > o.max_table_size)
        for (m = o.max_table_size; m > 2 && !detail::is_prime(m);) --m;
      // The caller left table_size to us: a bound too small is theirs to fix.
      if (!detail::is_prime(m) || m <= n)
        throw std::invalid_argument("maglev: max_table_size (" + std::to_string(o.max_table_size) +
                                    ") holds no prime table size above the number of backends (" +
                                    std::to_string(n) + ")");
      o.table_size = m;
    }
    if (!detail::is_prime(o.table_size)) throw std::invalid_argument("maglev: table_size must be prime");
    if (o.table_size <= n) throw std::invalid_argument("maglev: table_size must exceed the number of backends");
    return o;
  }

  // The table size is checked against n before the n weights are allocated
  // (n may be 2^32 − 1).
  static std::size_t check_count(std::size_t n, const maglev_options& o) {
    check(o, detail::check_count(n, "maglev: n"));
    return n;
  }

  std::shared_ptr<const table> build(std::vector<double> w, const detail::health_set* old) const {
    if (w.size() >= options_.table_size)
      throw std::length_error("maglev: table_size must exceed the number of backends");
    auto t = std::make_shared<table>(std::move(w), old);
    const std::size_t n = t->weight.size();
    std::vector<std::uint64_t> offset(n), skip(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t h1 = detail::mix64(options_.seed + (i + 1) * 0x9e3779b97f4a7c15ULL);
      const std::uint64_t h2 = detail::mix64(h1 ^ 0xd1b54a32d192ed03ULL);
      offset[i] = h1 % options_.table_size;
      skip[i] = h2 % (options_.table_size - 1) + 1;
    }
    t->entry = detail::maglev_populate(options_.table_size, offset, skip, t->weight);
    return t;
  }
  auto builder() const {
    return [this](std::vector<double> w, const detail::health_set* old) { return build(std::move(w), old); };
  }

  maglev(std::vector<double> w, maglev_options options, Hash hash)
      : options_(check(options, w.size())),
        hash_(std::move(hash)),
        tables_(build(detail::check_weights(w, "maglev: weights"), nullptr)) {}

  maglev_options options_;
  Hash hash_;
  detail::table_publisher<table> tables_;
};

}  // namespace surge

#endif  // SURGE_BALANCE_MAGLEV_HPP
