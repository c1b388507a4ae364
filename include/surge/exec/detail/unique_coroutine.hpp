/// @file surge/exec/detail/unique_coroutine.hpp
/// Owning handle to a coroutine frame (internal to surge/exec).
#ifndef SURGE_EXEC_DETAIL_UNIQUE_COROUTINE_HPP
#define SURGE_EXEC_DETAIL_UNIQUE_COROUTINE_HPP

#include <coroutine>
#include <utility>

namespace surge::detail {

/// Like unique_ptr for a coroutine frame: move-only, destroys the frame
/// (suspended at any point) when it goes. Not thread-safe.
template <class Promise>
class unique_coroutine {
 public:
  unique_coroutine() noexcept = default;
  explicit unique_coroutine(std::coroutine_handle<Promise> h) noexcept : handle_(h) {}
  unique_coroutine(unique_coroutine&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  unique_coroutine& operator=(unique_coroutine&& o) noexcept {
    if (this != &o) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(o.handle_, {});
    }
    return *this;
  }
  unique_coroutine(const unique_coroutine&) = delete;
  unique_coroutine& operator=(const unique_coroutine&) = delete;
  ~unique_coroutine() {
    if (handle_) handle_.destroy();
  }

  [[nodiscard]] std::coroutine_handle<Promise> get() const noexcept { return handle_; }
  [[nodiscard]] std::coroutine_handle<Promise> release() noexcept { return std::exchange(handle_, {}); }
  [[nodiscard]] Promise& promise() const noexcept { return handle_.promise(); }
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

 private:
  std::coroutine_handle<Promise> handle_{};
};

}  // namespace surge::detail

#endif  // SURGE_EXEC_DETAIL_UNIQUE_COROUTINE_HPP
