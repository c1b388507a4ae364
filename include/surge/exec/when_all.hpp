/// @file surge/exec/when_all.hpp
/// `when_all(tasks...)` and `when_all(std::vector<task<T>>)`: await several
/// tasks at once.
#ifndef SURGE_EXEC_WHEN_ALL_HPP
#define SURGE_EXEC_WHEN_ALL_HPP

#include <surge/exec/detail/frame_allocator.hpp>
#include <surge/exec/detail/unique_coroutine.hpp>
#include <surge/exec/task.hpp>

#include <array>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace surge {

/// What when_all yields for a task<T>: T itself (U& for task<U&>), and
/// std::monostate for task<void>, since a tuple or vector cannot hold void.
template <class T>
using when_all_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

namespace detail {

/// Counts the parts still running, plus one held by the awaiting coroutine
/// while it starts them; whoever brings it to zero resumes the awaiter.
struct when_all_latch {
  explicit when_all_latch(std::size_t parts) noexcept : count_(parts + 1) {}
  std::atomic<std::size_t> count_;
  std::coroutine_handle<> awaiting_{};
};

/// One task's outcome inside when_all. void results become std::monostate;
/// references are kept as pointers and given back as references.
template <class T>
struct when_all_slot {
  using value_type = when_all_value_t<T>;
  using stored = std::conditional_t<std::is_reference_v<T>, std::remove_reference_t<T>*, value_type>;
  std::optional<stored> value_;
  std::exception_ptr error_;

  value_type take() {
    if constexpr (std::is_reference_v<T>) {
      return **value_;
    } else {
      return std::move(*value_);
    }
  }
};

/// The coroutine wrapped around each awaited task: records the outcome and
/// counts the latch down from its final suspend point.
class when_all_part {
 public:
  struct promise_type : recycled_frame {
    when_all_latch* latch_ = nullptr;

    when_all_part get_return_object() noexcept {
      return when_all_part{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct count_down {
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
          when_all_latch& latch = *h.promise().latch_;
          // Read the awaiter first: once the count is down, the latch may be gone.
          const std::coroutine_handle<> awaiting = latch.awaiting_;
          if (latch.count_.fetch_sub(1, std::memory_order_acq_rel) == 1) return awaiting;
          return std::noop_coroutine();
        }
        void await_resume() const noexcept {}
      };
      return count_down{};
    }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }  // parts catch everything
  };

  void start(when_all_latch& latch) noexcept {
    handle_.promise().latch_ = &latch;
    handle_.get().resume();
  }

 private:
  explicit when_all_part(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  unique_coroutine<promise_type> handle_;
};

template <class T>
when_all_part make_when_all_part(task<T>& t, when_all_slot<T>& slot) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await t;
      slot.value_.emplace();
    } else if constexpr (std::is_reference_v<T>) {
      slot.value_.emplace(std::addressof(co_await t));
    } else {
      slot.value_.emplace(co_await t);
    }
  } catch (...) {
    slot.error_ = std::current_exception();
  }
}

/// Starts every part, then suspends until the last one finishes (or does not
/// suspend at all when they all finished while being started).
struct when_all_awaiter {
  when_all_latch& latch_;
  when_all_part* parts_;
  std::size_t count_;

  bool await_ready() const noexcept { return count_ == 0; }
  bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
    latch_.awaiting_ = awaiting;
    when_all_latch& latch = latch_;
    when_all_part* const parts = parts_;
    const std::size_t n = count_;
    for (std::size_t i = 0; i < n; ++i) parts[i].start(latch);
    return latch.count_.fetch_sub(1, std::memory_order_acq_rel) != 1;
  }
  void await_resume() const noexcept {}
};

}  // namespace detail

/// Awaits every task, concurrently where they suspend, and yields their
/// results as a tuple in argument order (`task<void>` gives std::monostate,
/// `task<U&>` gives U&).
///
/// Tasks are started one after another on the awaiting thread, each running
/// until it first suspends; the awaiter resumes on the thread that finishes the
/// last one. Exceptions: when_all waits for all tasks to finish, then rethrows
/// the exception of the first task **in argument order** that threw (the
/// others' exceptions and values are discarded).
/// Lazy like any task: nothing runs until the result is awaited.
/// Complexity: O(n) plus one recycled frame per task; one atomic decrement
/// per task. Thread-safe in the sense that the tasks may finish on any threads.
template <class... T>
task<std::tuple<when_all_value_t<T>...>> when_all(task<T>... tasks) {
  using result = std::tuple<when_all_value_t<T>...>;
  constexpr std::size_t n = sizeof...(T);
  if constexpr (n == 0) {
    co_return result{};
  } else {
    std::tuple<detail::when_all_slot<T>...> slots;
    {
      std::array<detail::when_all_part, n> parts = std::apply(
          [&](auto&... slot) {
            return std::array<detail::when_all_part, n>{detail::make_when_all_part(tasks, slot)...};
          },
          slots);
      detail::when_all_latch latch(n);
      co_await detail::when_all_awaiter{latch, parts.data(), n};
    }
    std::exception_ptr first;
    std::apply([&](auto&... slot) { ((first = first ? first : slot.error_), ...); }, slots);
    if (first) std::rethrow_exception(first);
    co_return std::apply([](auto&... slot) { return result{slot.take()...}; }, slots);
  }
}

/// Awaits every task of the vector (concurrently where they suspend) and
/// yields their results in the same order: `std::vector<T>` (for void:
/// std::vector<std::monostate>; for U&: std::vector<std::reference_wrapper<U>>).
/// Same start, resumption and exception rules as the variadic form: all
/// tasks finish, then the exception of the lowest-index task that threw is
/// rethrown. Complexity: O(n) time and memory, one recycled frame per task.
template <class T>
task<std::vector<std::conditional_t<std::is_reference_v<T>, std::reference_wrapper<std::remove_reference_t<T>>,
                                    when_all_value_t<T>>>>
when_all(std::vector<task<T>> tasks) {
  using value = std::conditional_t<std::is_reference_v<T>, std::reference_wrapper<std::remove_reference_t<T>>,
                                   when_all_value_t<T>>;
  const std::size_t n = tasks.size();
  std::vector<detail::when_all_slot<T>> slots(n);
  {
    std::vector<detail::when_all_part> parts;
    parts.reserve(n);
    for (std::size_t i = 0; i < n; ++i) parts.push_back(detail::make_when_all_part(tasks[i], slots[i]));
    detail::when_all_latch latch(n);
    co_await detail::when_all_awaiter{latch, parts.data(), n};
  }
  for (auto& slot : slots)
    if (slot.error_) std::rethrow_exception(slot.error_);
  std::vector<value> out;
  out.reserve(n);
  for (auto& slot : slots) out.push_back(slot.take());
  co_return out;
}

}  // namespace surge

#endif  // SURGE_EXEC_WHEN_ALL_HPP
