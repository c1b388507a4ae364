/// @file surge/exec/detail/awaitable_traits.hpp
/// What `co_await x` yields, for any awaitable (internal to surge/exec).
#ifndef SURGE_EXEC_DETAIL_AWAITABLE_TRAITS_HPP
#define SURGE_EXEC_DETAIL_AWAITABLE_TRAITS_HPP

#include <coroutine>
#include <utility>

namespace surge::detail {

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else if constexpr (requires { operator co_await(std::forward<A>(a)); }) {
    return operator co_await(std::forward<A>(a));
  } else {
    return std::forward<A>(a);
  }
}

/// The type of `co_await std::declval<A>()`.
template <class A>
using await_result_t = decltype(std::declval<decltype(get_awaiter(std::declval<A>()))&>().await_resume());

}  // namespace surge::detail

#endif  // SURGE_EXEC_DETAIL_AWAITABLE_TRAITS_HPP
