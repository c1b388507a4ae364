/// @file surge/balance/rendezvous.hpp
/// Rendezvous (highest random weight) hashing, weighted by the logarithmic
/// method.
#ifndef SURGE_BALANCE_RENDEZVOUS_HPP
#define SURGE_BALANCE_RENDEZVOUS_HPP

#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/balance/key_hash.hpp>
#include <surge/balance/weights.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/detail/hash.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace surge {

/// Rendezvous / HRW hashing: every (key, backend) pair gets a pseudo-random
/// score and the key goes to the usable backend with the highest. The score
/// hash is mix64(Hash(key) xor s_i) with s_i = mix64(seed + (i + 1)·φ) fixed per
/// backend index. Weighted (Schindelhauer & Schomaker's logarithmic method):
/// score_i = -w_i / ln(u_i) with u_i that hash's top 52 bits mapped to the
/// midpoint of their bin in (0, 1) — exact, never 0 or 1, so every score is
/// finite and a higher hash never scores lower — which gives backend i the
/// share w_i / sum(w) (up to that 2^-52 granularity); unweighted, the raw
/// hash is compared (same order, no logarithm). Changing one backend — adding one at
/// the end, marking one down or up — moves only the keys that go to or come
/// from that backend. All down: panic mode (all compete).
///
/// Complexity: `pick` O(n) (one mix and, weighted, one log per backend);
/// memory one weight and one seed per backend. Thread safety: lock-free;
/// every member from any threads. Bad input: n == 0 or bad weights (empty,
/// <= 0, not finite, or about 2^1000 times smaller than the largest, whose
/// share would be lost) throw std::invalid_argument; `set_healthy` out of
/// range returns false.
template <class Hash = key_hash>
class rendezvous_hash {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T>
  explicit rendezvous_hash(const T& n, Hash hash = Hash(), std::uint64_t seed = 0)
      : rendezvous_hash(detail::refuse_count(n), std::move(hash), seed) {}
  /// n equally weighted backends (`rendezvous_hash<>{3}` too: three).
  explicit rendezvous_hash(std::size_t n, Hash hash = Hash(), std::uint64_t seed = 0)
      : weight_(),
        seed_(seeds(detail::check_count(n, "rendezvous_hash: n"), seed)),
        health_(n),
        hash_(std::move(hash)) {}
  /// Weighted: `rendezvous_hash<>(surge::weights{5, 1, 1})`.
  explicit rendezvous_hash(const weights& w, Hash hash = Hash(), std::uint64_t seed = 0)
      : weight_(normalized(detail::check_weights(w.values(), "rendezvous_hash: weights"))),
        seed_(seeds(weight_.size(), seed)),
        health_(weight_.size()),
        hash_(std::move(hash)) {}

  template <class K>
  /// The up backend with the highest (weighted) score for `key`. O(n);
  /// lock-free.
  [[nodiscard]] std::size_t pick(const K& key) const noexcept(noexcept(std::declval<const Hash&>()(key))) {
    const std::uint64_t h = static_cast<std::uint64_t>(hash_(key));
    const bool check = !health_.all_up() && !health_.panic();
    if (weight_.empty()) return check ? best<false, true>(h) : best<false, false>(h);
    return check ? best<true, true>(h) : best<true, false>(h);
  }

  /// Marks backend i up or down; false when i is out of range. Lock-free.
  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  /// True when backend i is marked up (false when i is out of range). Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return seed_.size(); }

 private:
  // The usable backend with the highest score for key hash h. A scan of the
  // flags that finds none up (they went down after pick read the count)
  // answers as panic mode does.
  template <bool Weighted, bool CheckHealth>
  std::size_t best(std::uint64_t h) const noexcept {
    std::size_t top_i = 0;
    bool found = false;
    std::conditional_t<Weighted, double, std::uint64_t> top{};
    for (std::size_t i = 0; i < seed_.size(); ++i) {
      if constexpr (CheckHealth) {
        if (!health_.up(i)) continue;
      }
      const std::uint64_t x = detail::mix64(h ^ seed_[i]);
      if constexpr (Weighted) {
        // u in (0, 1): the midpoint of one of 2^52 equal bins, an odd
        // multiple of 2^-53 (exact: from 2^-53 to 1 - 2^-53, never 0 or 1).
        const double u = static_cast<double>(2 * (x >> 12) + 1) * 0x1.0p-53;
        const double s = -weight_[i] / std::log(u);
        if (!found || s > top) {
          top = s;
          top_i = i;
          found = true;
        }
      } else {
        if (!found || x > top) {
          top = x;
          top_i = i;
          found = true;
        }
      }
    }
    if constexpr (CheckHealth) {
      if (!found) return best<Weighted, false>(h);  // every flag went down meanwhile: panic
    }
    return top_i;
  }

  // Scaled by one power of two (exact) so the largest weight is below 1:
  // scores -w/ln(u) then stay finite (|ln u| >= 2^-54), and normal for
  // weights of at least 2^-1010 (|ln u| < 38), and only the ratios matter.
  static std::vector<double> normalized(std::vector<double> w) {
    detail::scale_below_one(w, "rendezvous_hash: weights", 0x1p-1010);
    return w;
  }

  static std::vector<std::uint64_t> seeds(std::size_t n, std::uint64_t seed) {
    std::vector<std::uint64_t> s(n);
    for (std::size_t i = 0; i < n; ++i) s[i] = detail::mix64(seed + (i + 1) * 0x9e3779b97f4a7c15ULL);
    return s;
  }

  std::vector<double> weight_;  // empty: all equal
  std::vector<std::uint64_t> seed_;
  detail::health_set health_;
  Hash hash_;
};

}  // namespace surge

#endif  // SURGE_BALANCE_RENDEZVOUS_HPP
