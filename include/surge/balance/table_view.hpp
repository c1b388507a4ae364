/// @file surge/balance/table_view.hpp
/// `surge::table_view`: the pinned lookup table that `snapshot()` of
/// `consistent_hash_ring` and `maglev` returns, for picking many keys in a
/// row without entering the policy's read section for each.
#ifndef SURGE_BALANCE_TABLE_VIEW_HPP
#define SURGE_BALANCE_TABLE_VIEW_HPP

#include <surge/balance/detail/key_position.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace surge {

/// A pinned table of a rebuildable keyed policy (`Policy` is
/// consistent_hash_ring<Hash> or maglev<Hash>; only that policy's
/// `snapshot()` makes one): `pick(key)` on it is the bare table lookup, with
/// no read section, for loops that pick many keys (one `snapshot()` per
/// batch). It keeps its table alive however long it is held, also after the
/// policy is gone; it sees health changes made until the policy's next
/// rebuild (add, remove, re-weight) and none after: take a new snapshot then.
///
/// Complexity: `pick` as the policy's `pick` (O(1) expected); copying shares
/// the table (one reference count increment). Thread safety: `pick` and
/// `size` from any threads at once (the table is immutable apart from the
/// atomic health flags); one table_view object is assigned by one thread at
/// a time. A moved-from view holds no table and may only be assigned to or
/// destroyed (its `pick` and `size` would read through a null pointer).
/// Bad input: none; a key the policy's Hash cannot hash fails to compile, as
/// for the policy's `pick`.
template <class Policy>
class table_view {
 public:
  /// The backend index for `key` on this table: what the policy's
  /// `pick(key)` returns until its next rebuild. O(1) expected; lock-free.
  template <class K>
  [[nodiscard]] std::size_t pick(const K& key) const {
    return table_->pick(detail::key_position(hash_, key));
  }
  /// Indices issued when the table was built (removed ones included). O(1).
  [[nodiscard]] std::size_t size() const noexcept { return table_->weight.size(); }

 private:
  friend Policy;
  using table = typename Policy::table;
  using hash = typename Policy::hash_type;

  table_view(std::shared_ptr<const table> t, hash h) : table_(std::move(t)), hash_(std::move(h)) {}

  std::shared_ptr<const table> table_;
  hash hash_;
};

}  // namespace surge

#endif  // SURGE_BALANCE_TABLE_VIEW_HPP
