/// @file surge/exec/await_result.hpp
/// `surge::await_result_t<A>`: the type `co_await a` yields.
#ifndef SURGE_EXEC_AWAIT_RESULT_HPP
#define SURGE_EXEC_AWAIT_RESULT_HPP

#include <surge/exec/detail/awaitable_traits.hpp>

namespace surge {

/// The type `co_await a` yields for an expression `a` of type `A` (an
/// awaitable: surge::task<R> gives R, task<R&> gives R&, task<void> void):
/// what the awaiter's `await_resume()` returns, the awaiter being a member
/// `operator co_await` that accepts `a`, else a free one, else `a` itself.
/// The language instead picks between a member and a free `operator
/// co_await` by overload resolution: for a type with both, accepting the
/// same `a`, `co_await a` may use the free one where this names the
/// member's result (sync_wait, retry_async and get_or_load_async, which
/// name their result with this type, then do not compile), so give a type
/// only one. A compile-time trait: no cost at run time. A type that is not awaitable makes it ill-formed (a substitution
/// failure in a constraint).
template <class A>
using await_result_t = detail::await_result_t<A>;

}  // namespace surge

#endif  // SURGE_EXEC_AWAIT_RESULT_HPP
