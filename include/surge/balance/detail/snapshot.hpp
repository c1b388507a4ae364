/// @file surge/balance/detail/snapshot.hpp
/// RCU-like publication of immutable tables (`snapshot_cell`), and what the
/// rebuildable policies (ring, Maglev) build on it: the table base with
/// weights and health, the publisher that rebuilds on add / remove /
/// re-weight (the pinned view `snapshot()` returns is surge::table_view).
#ifndef SURGE_BALANCE_DETAIL_SNAPSHOT_HPP
#define SURGE_BALANCE_DETAIL_SNAPSHOT_HPP

#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/streams.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/detail/cache_line.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace surge::detail {

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

}  // namespace surge::detail

#endif  // SURGE_BALANCE_DETAIL_SNAPSHOT_HPP
