/// @file surge/balance/backend_lease.hpp
/// `surge::backend_lease`, the claim on one backend that the load-tracking
/// policies return (`least_connections`, `power_of_two_choices`, the ring's
/// `pick_bounded`).
#ifndef SURGE_BALANCE_BACKEND_LEASE_HPP
#define SURGE_BALANCE_BACKEND_LEASE_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

namespace surge {

namespace detail {

/// How a lease gives back a unit that is not one plain counter: the issuing
/// policy's own routine (least_connections' level index). The policy derives
/// from lease_hook and `give_back` casts back to it.
struct lease_hook {
  void (*give_back)(lease_hook* self, std::size_t index) noexcept;
};

/// The heap block holding what a policy's leases touch on release, so that
/// the block outlives the policy while leases are live.
///
/// Each lease holds `amount` units of one of the block's *lifetime counters*
/// (a per-backend in-flight count, or a total): the counters' sum is the
/// units of live leases, and a lease's last act on release is its
/// `fetch_sub` on that counter. The owning policy's destructor calls
/// `orphan`, which exchanges every lifetime counter for `closed` (a large
/// negative mark) and adds what they held to `owed_`. A release that then
/// finds its counter closed (the value it took from is negative — open
/// counters never are) takes its units off `owed_` instead; whoever brings
/// `owed_` to zero deletes the block — the destructor itself when no lease
/// is live. Why exactly once: `owed_` only decreases until the destructor's
/// single add, so it can reach zero only at or after that add, and it ends
/// at zero (the units added are exactly those the later releases take off).
/// The release path costs nothing extra while the policy lives: the same
/// `fetch_sub` as before, its result tested for a sign.
class lease_block {
 public:
  /// What a closed lifetime counter holds (minus what was released since).
  static constexpr std::int64_t closed = std::numeric_limits<std::int64_t>::min() / 2;

  lease_block() = default;
  lease_block(const lease_block&) = delete;
  lease_block& operator=(const lease_block&) = delete;
  virtual ~lease_block() = default;

  /// Called once by the owning policy's destructor instead of deleting the
  /// block: closes counters [first, first + n) and deletes the block now,
  /// or leaves that to the release of the last live lease.
  static void orphan(lease_block* b, std::atomic<std::int64_t>* first, std::size_t n) noexcept {
    std::int64_t held = 0;
    for (std::size_t i = 0; i < n; ++i) held += first[i].exchange(closed, std::memory_order_acq_rel);
    if (b->owed_.fetch_add(held, std::memory_order_acq_rel) + held == 0) delete b;
  }

  /// A release that found its counter closed.
  void orphaned_release(std::int64_t amount) noexcept {
    if (owed_.fetch_sub(amount, std::memory_order_acq_rel) == amount) delete this;
  }

 private:
  std::atomic<std::int64_t> owed_{0};
};

struct lease_factory;

/// Deleter of a policy's `std::unique_ptr` to its block: calls the block's
/// `close()`, which orphans it (see lease_block) instead of deleting it.
struct lease_block_closer {
  template <class Block>
  void operator()(Block* b) const noexcept {
    b->close();
  }
};

}  // namespace detail

/// A claim on one backend, returned by the load-tracking policies
/// (`least_connections`, `power_of_two_choices`, the ring's bounded-load
/// mode): it holds the backend index and one unit of that backend's
/// in-flight count, and gives the unit back on destruction or `release()`.
/// Move-only. Only those policies make a non-empty lease; a default-made one
/// is empty.
///
/// Lifetime: a lease may outlive the policy that issued it. The counters it
/// gives back to live in a block the policy shares with its live leases:
/// destroying the policy while leases are out leaves the block to the last of
/// them, which frees it on release (nothing leaks, nothing dangles). A lease
/// released after its policy is gone changes nothing anyone can observe.
/// Thread safety: one lease is used by one thread at a time; leases of one
/// policy may be released concurrently from any threads, also while the
/// policy is being destroyed (lock-free). Complexity: `release()` O(1) except
/// where the issuing policy documents otherwise (least_connections' index).
class backend_lease {
  // Only the policies make non-empty leases (through detail::lease_factory).
  friend struct detail::lease_factory;

  // Takes over `amount` units already added to the lifetime counter `*life`
  // of `block`, plus one unit already added to `*load` when not null, plus
  // one unit `hook->give_back(hook, index)` returns when `hook` is not null.
  // On release those are given back in the order hook, load, life.
  backend_lease(std::size_t index, detail::lease_block* block, std::atomic<std::int64_t>* life, std::int64_t amount,
                std::atomic<std::int64_t>* load, detail::lease_hook* hook) noexcept
      : index_(index), amount_(amount), life_(life), load_(load), hook_(hook), block_(block) {}

 public:
  /// An empty lease (holds nothing; `index()` is `npos`).
  backend_lease() noexcept = default;

  backend_lease(const backend_lease&) = delete;
  backend_lease& operator=(const backend_lease&) = delete;
  /// Takes over `other`'s lease; `other` is left empty.
  backend_lease(backend_lease&& other) noexcept
      : index_(std::exchange(other.index_, npos)),
        amount_(other.amount_),
        life_(std::exchange(other.life_, nullptr)),
        load_(std::exchange(other.load_, nullptr)),
        hook_(std::exchange(other.hook_, nullptr)),
        block_(std::exchange(other.block_, nullptr)) {}
  /// Releases this lease (if any), then takes over `other`'s; `other` is left
  /// empty. Self-assignment does nothing.
  backend_lease& operator=(backend_lease&& other) noexcept {
    if (this != &other) {
      release();
      index_ = std::exchange(other.index_, npos);
      amount_ = other.amount_;
      life_ = std::exchange(other.life_, nullptr);
      load_ = std::exchange(other.load_, nullptr);
      hook_ = std::exchange(other.hook_, nullptr);
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  ~backend_lease() { release(); }

  /// The index() of an empty lease.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// The backend this lease is for (`npos` when empty). Stays valid after
  /// `release()` so the caller can still log it.
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  /// Same as `index()`: a lease reads like the index it carries. Only from a
  /// lease that lives on: `std::size_t b = lc.pick();` would convert a
  /// temporary that gives its load back at the `;` (use `index()` if that is
  /// what you mean), so it does not compile.
  [[nodiscard]] operator std::size_t() const& noexcept { return index_; }
  operator std::size_t() const&& = delete;
  /// True while the lease still holds its unit of load.
  [[nodiscard]] bool active() const noexcept { return life_ != nullptr; }

  /// Gives the unit of load back now (idempotent). Lock-free; O(1) except
  /// where the issuing policy documents otherwise (least_connections).
  void release() noexcept {
    if (!life_) return;
    if (hook_) hook_->give_back(hook_, index_);
    if (load_) load_->fetch_sub(1, std::memory_order_release);
    // Last: after it the policy's destructor may free the block (see lease_block).
    if (life_->fetch_sub(amount_, std::memory_order_acq_rel) < 0) [[unlikely]]
      block_->orphaned_release(amount_);
    life_ = nullptr;
    load_ = nullptr;
    hook_ = nullptr;
    block_ = nullptr;
  }

 private:
  std::size_t index_ = npos;
  std::int64_t amount_ = 1;
  std::atomic<std::int64_t>* life_ = nullptr;
  std::atomic<std::int64_t>* load_ = nullptr;
  detail::lease_hook* hook_ = nullptr;
  detail::lease_block* block_ = nullptr;
};

namespace detail {

/// How a policy makes a non-empty backend_lease (its constructor is private):
/// see that constructor for the arguments.
struct lease_factory {
  [[nodiscard]] static backend_lease make(std::size_t index, lease_block* block, std::atomic<std::int64_t>* life,
                                          std::int64_t amount = 1, std::atomic<std::int64_t>* load = nullptr,
                                          lease_hook* hook = nullptr) noexcept {
    return backend_lease(index, block, life, amount, load, hook);
  }
};

}  // namespace detail

}  // namespace surge

#endif  // SURGE_BALANCE_BACKEND_LEASE_HPP
