/// @file surge/balance/detail/validate.hpp
/// Argument checks shared by the balancer policies: backend counts, weight
/// lists (each weight, and their sum), and the exactness test of weights.
#ifndef SURGE_BALANCE_DETAIL_VALIDATE_HPP
#define SURGE_BALANCE_DETAIL_VALIDATE_HPP

#include <surge/detail/count_checks.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace surge::detail {

/// The most backends a policy accepts (indices are stored in 32 bits and the
/// bounded sampler multiplies 32-bit halves).
inline constexpr std::size_t max_backends = std::numeric_limits<std::uint32_t>::max();

/// For the constructors taking a not_a_count: fails to compile with one line.
template <class T>
std::size_t refuse_count(const T&) {
  static_assert(!not_a_count<T>,
                "surge balancer: the backend count must be an integer, not a bool, a character or a floating-point "
                "number");
  return 0;
}

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

/// For policies that use only the ratios of the weights: when `headroom`
/// times the sum of `w` (valid weights, as check_weights returns them) is not
/// finite — every weight finite, but together above DBL_MAX / headroom —
/// scales every weight by the same power of two 2^-k, the smallest k that
/// makes it finite, and returns k (0 when it was finite: nothing changed).
/// (Smooth WRR's running weights reach up to twice the sum: headroom 2.) Scaling by a power
/// of two is exact, so every ratio stays what it was; a weight it would not
/// keep exactly — one that the scaling makes subnormal (beside weights near
/// DBL_MAX: about 2^2000 times smaller than the largest) and whose low bits,
/// or all of them, it would drop — throws std::invalid_argument naming `what`
/// and the index (its share would otherwise silently change, or vanish).
inline int fit_sum(std::vector<double>& w, const char* what, double headroom = 1.0) {
  double sum = 0;
  for (double x : w) sum += x;
  if (std::isfinite(sum * headroom)) return 0;
  int k = 1;
  for (;; ++k) {
    double s = 0;
    for (double x : w) s += std::ldexp(x, -k);
    if (std::isfinite(s * headroom)) break;
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double given = w[i];
    w[i] = std::ldexp(given, -k);
    if (std::ldexp(w[i], k) != given)
      throw std::invalid_argument(std::string(what) + ": weight[" + std::to_string(i) +
                                  "] is too small beside the others (their sum is not finite, and scaling them "
                                  "down to a finite sum rounds it, or makes it 0)");
  }
  return k;
}

/// Scales `w` (valid weights) by one power of two, which is exact, so that
/// the largest is in [1/2, 1): then no product of a weight and a count, and no
/// weight divided by a number above 2^-54, overflows. Throws
/// std::invalid_argument naming `what` and the index when a weight would fall
/// below `lowest` (about 2^1000 times smaller than the largest, for the
/// policies' bounds): its share would lose precision, or vanish, in the
/// policy's arithmetic.
inline void scale_below_one(std::vector<double>& w, const char* what, double lowest) {
  int e = 0;
  (void)std::frexp(*std::max_element(w.begin(), w.end()), &e);
  for (std::size_t i = 0; i < w.size(); ++i) {
    w[i] = std::ldexp(w[i], -e);
    if (w[i] < lowest)
      throw std::invalid_argument(std::string(what) + ": weight[" + std::to_string(i) +
                                  "] is too small beside the largest (its share would be lost)");
  }
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

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_VALIDATE_HPP
