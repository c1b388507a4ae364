/// @file surge/cache/detail/single_flight.hpp
/// One in-progress load of a key for sharded_cache::get_or_load and
/// get_or_load_async: the caller that missed first (the leader) runs the
/// loader and publishes its value or exception here; the callers that missed
/// meanwhile (the followers) wait for it, blocking or suspended.
#ifndef SURGE_CACHE_DETAIL_SINGLE_FLIGHT_HPP
#define SURGE_CACHE_DETAIL_SINGLE_FLIGHT_HPP

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

namespace surge::detail {

/// A follower waiting without blocking (an awaiter in a suspended
/// coroutine's frame): `wake` is called once, after the result is published,
/// and may destroy the waiter.
struct flight_waiter {
  void (*wake)(flight_waiter&) noexcept = nullptr;
  flight_waiter* next = nullptr;
};

/// The result slot of one load. The leader writes the value (or exception)
/// once, then publishes; after publication the slot is immutable and any
/// number of threads read it. Shared by std::shared_ptr between the leader,
/// the cache's table of loads in progress and the followers.
template <class Value>
class flight {
 public:
  /// `leader` is the blocking leader's thread (a blocking follower on that
  /// thread would wait for itself), or a default id for a coroutine leader.
  explicit flight(std::thread::id leader = {}) noexcept : leader_(leader) {}
  flight(const flight&) = delete;
  flight& operator=(const flight&) = delete;

  /// The key was written (put, erase, clear) while this load ran: the value
  /// goes to the load's callers but is not stored. Read and written under
  /// the shard's lock.
  bool superseded = false;

  /// Leader: stores the value (not yet visible).
  template <class V>
  void set_value(V&& v) {
    value_.emplace(std::forward<V>(v));
  }
  /// Leader: stores the exception (not yet visible).
  void set_exception(std::exception_ptr e) noexcept { error_ = std::move(e); }
  /// Leader: the stored value (valid after set_value).
  [[nodiscard]] const Value& value() const noexcept { return *value_; }

  /// Leader: makes the stored result visible and wakes every follower (the
  /// blocked ones, then the suspended ones in arrival order, on this thread).
  void publish() noexcept {
    flight_waiter* list = nullptr;
    {
      std::lock_guard lock(mutex_);
      state_.store(value_ ? has_value : has_error, std::memory_order_release);
      list = waiters_;
      waiters_ = nullptr;
    }
    state_.notify_all();
    flight_waiter* fifo = nullptr;  // waiters_ is newest first
    while (list) {
      flight_waiter* next = list->next;
      list->next = fifo;
      fifo = list;
      list = next;
    }
    while (fifo) {
      flight_waiter* next = fifo->next;  // read first: wake may destroy *fifo
      fifo->wake(*fifo);
      fifo = next;
    }
  }

  [[nodiscard]] bool done() const noexcept { return state_.load(std::memory_order_acquire) != pending; }

  /// Suspending follower: registers `w` and returns true, or returns false
  /// when the result is already published (then `w` is not used).
  [[nodiscard]] bool add_waiter(flight_waiter& w) noexcept {
    std::lock_guard lock(mutex_);
    if (state_.load(std::memory_order_relaxed) != pending) return false;
    w.next = waiters_;
    waiters_ = &w;
    return true;
  }

  /// Suspending follower whose coroutine is destroyed while it waits: takes
  /// `w` off the list (nothing happens once publish() has taken the list).
  void remove_waiter(flight_waiter& w) noexcept {
    std::lock_guard lock(mutex_);
    for (flight_waiter** p = &waiters_; *p != nullptr; p = &(*p)->next) {
      if (*p == &w) {
        *p = w.next;
        return;
      }
    }
  }

  /// Blocking follower: waits for the result; returns a copy of the value or
  /// rethrows the exception. A wait on the blocking leader's own thread (its
  /// loader asked for its own key) throws std::logic_error instead of waiting
  /// forever.
  [[nodiscard]] Value wait() const {
    if (state_.load(std::memory_order_acquire) == pending && leader_ == std::this_thread::get_id())
      throw std::logic_error("surge::sharded_cache::get_or_load: the loader asked for the key it is loading");
    std::uint32_t s;
    while ((s = state_.load(std::memory_order_acquire)) == pending) state_.wait(pending, std::memory_order_acquire);
    return result();
  }

  /// After done(): a copy of the value, or the exception rethrown.
  [[nodiscard]] Value result() const {
    if (state_.load(std::memory_order_acquire) == has_error) std::rethrow_exception(error_);
    return *value_;
  }

 private:
  static constexpr std::uint32_t pending = 0, has_value = 1, has_error = 2;

  std::atomic<std::uint32_t> state_{pending};
  std::optional<Value> value_;
  std::exception_ptr error_;
  std::mutex mutex_;  // guards waiters_ and the publication against add_waiter
  flight_waiter* waiters_ = nullptr;
  std::thread::id leader_;
};

}  // namespace surge::detail

#endif  // SURGE_CACHE_DETAIL_SINGLE_FLIGHT_HPP
