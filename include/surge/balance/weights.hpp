/// @file surge/balance/weights.hpp
/// `surge::weights`, how the weighted balancer policies are given weights.
#ifndef SURGE_BALANCE_WEIGHTS_HPP
#define SURGE_BALANCE_WEIGHTS_HPP

#include <cstddef>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

namespace surge {

/// A list of backend weights, spelled as its own type so that a policy's two
/// constructors cannot be confused: `policy(n)` and `policy{n}` mean n
/// equally weighted backends, and weights are always written out —
/// `maglev<> m(surge::weights{5, 1, 1})`, `least_connections
/// lc{surge::weights(vec)}` (with parentheses, `lc(surge::weights(vec))`
/// declares a function). (With an `std::initializer_list<double>`
/// constructor beside the count, `maglev<> m{3}` meant one backend of weight
/// 3 — the `std::vector` trap.) Every constructor is explicit, so a braced
/// list alone, `policy({5, 1, 1})`, does not compile either.
///
/// Only holds the numbers: each policy checks them when it is built (a weight
/// that is zero, negative or not finite, or an empty list, throws
/// std::invalid_argument naming the policy and the index; see each policy for
/// what it does with weights whose sum is not finite). Copying the values is
/// O(n) and may throw std::bad_alloc; the rest is O(1) and noexcept. Not
/// thread-safe to modify (a value type).
class weights {
 public:
  /// Weights of backends 0, 1, ...: `surge::weights{5, 1, 1}`.
  explicit weights(std::initializer_list<double> w) : values_(w) {}
  /// A copy of w.
  explicit weights(std::span<const double> w) : values_(w.begin(), w.end()) {}
  /// Takes w over (no copy when moved in).
  explicit weights(std::vector<double> w) noexcept : values_(std::move(w)) {}

  /// The weights, in backend order.
  [[nodiscard]] std::span<const double> values() const noexcept { return values_; }
  /// How many weights (backends).
  [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
  /// True when there are no weights (every policy refuses that).
  [[nodiscard]] bool empty() const noexcept { return values_.empty(); }
  /// Backend i's weight; i must be < size() (unchecked).
  [[nodiscard]] double operator[](std::size_t i) const noexcept { return values_[i]; }
  /// Iterator to the first weight.
  [[nodiscard]] auto begin() const noexcept { return values_.begin(); }
  /// Iterator past the last weight.
  [[nodiscard]] auto end() const noexcept { return values_.end(); }

 private:
  std::vector<double> values_;
};

}  // namespace surge

#endif  // SURGE_BALANCE_WEIGHTS_HPP
