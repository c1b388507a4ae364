/// @file surge/balance/detail/snapshot.hpp
/// RCU-like publication of immutable tables (`snapshot_cell`), and what the
/// rebuildable policies (ring, Maglev) build on it: the table base with
/// weights and health, the publisher that rebuilds on add / remove /
/// re-weight (the pinned view `snapshot()` returns is surge::table_view).
#ifndef SURGE_BALANCE_DETAIL_SNAPSHOT_HPP
#define SURGE_BALANCE_DETAIL_SNAPSHOT_HPP

#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/detail/read_sections.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace surge::detail {

/// RCU-like publication of an immutable T. Readers enter a read section
/// (detail::read_section: two plain stores to their thread's own counter, no
/// read-modify-write), load the current pointer, and never block or retry;
/// `publish` swaps in a new value and then waits for a grace period
/// (detail::read_sections::quiesce: one process-wide barrier, then a wait
/// for every thread still inside a section that began before it) before the
/// old value is dropped.
///
/// Why not `std::atomic<std::shared_ptr<const T>>`: libstdc++ 12 implements its
/// load with a lock bit (a reader spins while another thread loads or
/// stores), and every load also bumps the shared reference count, one
/// contended line for all readers.
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
  /// not call `publish` on any cell, nor enter another read section (they do
  /// not nest).
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
    read_sections::quiesce([] {});
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
  template <class F>
  decltype(auto) read_node(F&& f) const {
    read_section section;
    return std::forward<F>(f)(*current_.load(std::memory_order_acquire));
  }

  std::atomic<const node*> current_;
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

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_SNAPSHOT_HPP
