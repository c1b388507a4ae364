/// @file surge/balance/rendezvous.hpp
/// Rendezvous (highest random weight) hashing, weighted by the logarithmic
/// method.
#ifndef SURGE_BALANCE_RENDEZVOUS_HPP
#define SURGE_BALANCE_RENDEZVOUS_HPP

#include <surge/balance/detail/common.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

namespace surge {

/// Rendezvous / HRW hashing: every (key, backend) pair gets a pseudo-random
/// score and the key goes to the usable backend with the highest. The score
/// hash is mix64(Hash(key) xor s_i) with s_i = mix64(seed + i·φ) fixed per
/// backend index. Weighted (Schindelhauer & Schomaker's logarithmic method):
/// score_i = -w_i / ln(u_i) with u_i that hash mapped into (0, 1), which gives
/// backend i exactly the share w_i / sum(w); unweighted, the raw hash is
/// compared (same order, no logarithm). Changing one backend — adding one at
/// the end, marking one down or up — moves only the keys that go to or come
/// from that backend. All down: panic mode (all compete).
///
/// Complexity: `pick` O(n) (one mix and, weighted, one log per backend);
/// memory one weight and one seed per backend. Thread safety: lock-free;
/// every member from any threads. Bad input: n == 0 or bad weights (empty,
/// <= 0, not finite) throw std::invalid_argument; `set_healthy` out of range
/// returns false.
template <class Hash = key_hash>
class rendezvous_hash {
public:
  explicit rendezvous_hash(std::size_t n, Hash hash = Hash(), std::uint64_t seed = 0)
      : weight_(), seed_(seeds(detail::check_count(n, "rendezvous_hash: n"), seed)), health_(n),
        hash_(std::move(hash)) {}
  explicit rendezvous_hash(std::span<const double> weights, Hash hash = Hash(), std::uint64_t seed = 0)
      : weight_(detail::check_weights(weights, "rendezvous_hash: weights")), seed_(seeds(weight_.size(), seed)),
        health_(weight_.size()), hash_(std::move(hash)) {}
  rendezvous_hash(std::initializer_list<double> weights, Hash hash = Hash(), std::uint64_t seed = 0)
      : rendezvous_hash(std::span<const double>(weights.begin(), weights.size()), std::move(hash), seed) {}

  template <class K>
  [[nodiscard]] std::size_t pick(const K& key) const noexcept(noexcept(std::declval<const Hash&>()(key))) {
    const std::uint64_t h = static_cast<std::uint64_t>(hash_(key));
    const bool panic = health_.panic();
    const std::size_t n = seed_.size();
    std::size_t best = 0;
    bool found = false;
    if (weight_.empty()) {
      std::uint64_t top = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!panic && !health_.up(i)) continue;
        const std::uint64_t s = detail::mix64(h ^ seed_[i]);
        if (!found || s > top) {
          top = s;
          best = i;
          found = true;
        }
      }
    } else {
      double top = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!panic && !health_.up(i)) continue;
        // u in (0, 1): 53 bits plus one half step, never 0 or 1.
        const double u = (static_cast<double>(detail::mix64(h ^ seed_[i]) >> 11) + 0.5) * 0x1.0p-53;
        const double s = -weight_[i] / std::log(u);
        if (!found || s > top) {
          top = s;
          best = i;
          found = true;
        }
      }
    }
    return best;
  }

  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  [[nodiscard]] std::size_t size() const noexcept { return seed_.size(); }

private:
  static std::vector<std::uint64_t> seeds(std::size_t n, std::uint64_t seed) {
    std::vector<std::uint64_t> s(n);
    for (std::size_t i = 0; i < n; ++i) s[i] = detail::mix64(seed + (i + 1) * 0x9e3779b97f4a7c15ULL);
    return s;
  }

  std::vector<double> weight_; // empty: all equal
  std::vector<std::uint64_t> seed_;
  detail::health_set health_;
  Hash hash_;
};

} // namespace surge

#endif // SURGE_BALANCE_RENDEZVOUS_HPP
