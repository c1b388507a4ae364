/// @file surge/exec/detail/awaitable_traits.hpp
/// What `co_await x` yields, for any awaitable (internal to surge/exec).
#ifndef SURGE_EXEC_DETAIL_AWAITABLE_TRAITS_HPP
#define SURGE_EXEC_DETAIL_AWAITABLE_TRAITS_HPP

#include <coroutine>
#include <type_traits>
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

/// Passes on `v`, the value a `co_await` yielded where await_result_t named
/// `R`; refuses at compile time a value of another type. await_result_t
/// prefers a member operator co_await to a free one, where co_await itself
/// picks by overload resolution: for a type with both, the value would
/// otherwise be converted silently.
template <class R, class U>
constexpr U&& as_await_result(U&& v) noexcept {
  static_assert(std::is_same_v<std::remove_cvref_t<U>, std::remove_cvref_t<R>>,
                "surge: co_await of this awaitable yields another type than surge::await_result_t names "
                "(it has both a member and a free operator co_await): give it only one");
  return std::forward<U>(v);
}

}  // namespace surge::detail

#endif  // SURGE_EXEC_DETAIL_AWAITABLE_TRAITS_HPP
